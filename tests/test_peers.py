"""The peers of benchmarks/peers.py and the PyTorch twins as Recommenders: Surprise's adapters
predict what Surprise predicts, the bench scripts and nanorec run use the same classes, and a
missing library is one line naming its pip package. Each test that fits a peer skips without it."""

import importlib.machinery
import importlib.util
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # the scripts import their helpers as ``_common``

import _common  # noqa: E402
import bench_explicit  # noqa: E402
import peers  # noqa: E402

from nanorec import cli  # noqa: E402
from nanorec.cli import run as run_command  # noqa: E402
from nanorec.data.datasets import load  # noqa: E402
from nanorec.data.split import holdout  # noqa: E402

EXPERIMENTS = BENCHMARKS / "experiments"


@pytest.fixture(scope="module")
def ratings():
    """(train, test) of a small rated log; some test items have no train rows."""
    data = load("synthetic", n_users=60, n_items=50, n_interactions=1200, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return holdout(data, test_size=0.2, seed=0)


def surprise_predictions(algorithm, train, test):
    """Surprise alone: ``algorithm`` fitted on train's rows by raw id, its estimates of test's."""
    surprise = pytest.importorskip("surprise")
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({"user": train.user_ids[train.user_index],
                              "item": train.item_ids[train.item_index],
                              "rating": train.ratings.astype(np.float64)})
    reader = surprise.Reader(rating_scale=(float(train.ratings.min()), float(train.ratings.max())))
    algorithm.fit(surprise.Dataset.load_from_df(frame, reader).build_full_trainset())
    users, items = test.user_ids[test.user_index].tolist(), test.item_ids[test.item_index].tolist()
    return np.array([prediction.est for prediction in
                     algorithm.test(list(zip(users, items, test.ratings.tolist())))])


@pytest.mark.parametrize("adapter, algorithm", [
    (lambda: peers.SurpriseSVD(n_epochs=3, random_state=2),
     lambda s: s.SVD(n_epochs=3, random_state=2)),
    (lambda: peers.SurpriseSVDpp(n_epochs=2, random_state=1),
     lambda s: s.SVDpp(n_epochs=2, random_state=1)),
    (lambda: peers.SurpriseKNNBaseline(k=5), lambda s: s.KNNBaseline(k=5, verbose=False)),
    (peers.SurpriseBaselineOnly, lambda s: s.BaselineOnly(verbose=False)),
])
def test_a_surprise_adapter_predicts_what_surprise_predicts(ratings, adapter, algorithm):
    surprise = pytest.importorskip("surprise")
    train, test = ratings
    expected = surprise_predictions(algorithm(surprise), train, test)
    model = adapter().fit(train)
    users, items = test.user_ids[test.user_index], test.item_ids[test.item_index]
    np.testing.assert_allclose(model.predict(users, items), expected, rtol=0, atol=1e-12)
    scores = model.score_items(np.array([0, 3]))
    assert scores.shape == (2, train.n_items)
    np.testing.assert_allclose(scores[1, :4], model.score_pairs(np.full(4, 3), np.arange(4)))


def test_bench_explicit_runs_the_surprise_rows_through_the_adapters(ratings):
    train, test = ratings
    (svd,) = [runner for runner in bench_explicit.make_runners(full=False)
              if runner.name == "Surprise SVD"]
    if importlib.util.find_spec("surprise") is None:
        with pytest.raises(_common.Skipped, match=r"pip install scikit-surprise"):
            bench_explicit.run_fold(svd, train, test)
        return
    row = bench_explicit.run_fold(svd, train, test)
    assert isinstance(svd.model, peers.SurpriseSVD) and np.isfinite(row["rmse"])
    names = [runner.name for runner in bench_explicit.make_runners(full=True)]
    assert {"Surprise SVD++", "Surprise KNNBaseline", "Surprise NMF"} <= set(names)


# ---------------------------------------------------------------------- nanorec run
@pytest.mark.parametrize("experiment, missing, package", [
    ("ml100k-ranking-peers.toml", "implicit", "pip install implicit"),
    ("ml100k-ranking-peers.toml", "torch", "pip install torch"),
    ("ml100k-rating-peers.toml", "surprise", "pip install scikit-surprise"),
])
def test_a_shipped_peer_file_without_its_library_is_one_line_naming_the_package(
        capsys, monkeypatch, tmp_path, experiment, missing, package):
    find_spec = importlib.util.find_spec
    peers = {"implicit", "torch", "surprise"}

    def without(name, *args):  # the other peers present (installed or not), ``missing`` absent
        top = name.partition(".")[0]
        if top in peers:
            return None if top == missing else importlib.machinery.ModuleSpec(top, None)
        return find_spec(name, *args)

    monkeypatch.setattr(run_command.importlib.util, "find_spec", without)
    code = cli.main(["run", str(EXPERIMENTS / experiment), "--out", str(tmp_path / "out.json")])
    _, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"nanorec: error: {EXPERIMENTS / experiment}: model ")
    assert f"needs the module {missing}, which is not installed: {package}" in lines[0]


PEER_RUN = """
data = "{data}"
metrics = ["{metric}"]
seeds = [0]
baseline = "Popularity"
[split]
protocol = "{protocol}"
[[models]]
name = "popularity"
label = "Popularity"
[[models]]
class = "{path}:{name}"
label = "peer"
params = {params}
"""


@pytest.mark.filterwarnings("ignore:OpenBLAS is configured")  # implicit's advice on BLAS threads
@pytest.mark.parametrize("library, file, name, params, protocol", [
    ("implicit", "peers.py", "ImplicitBPR", "{ n_factors = 8, n_epochs = 5 }", "loo"),
    ("implicit", "peers.py", "ImplicitALS", "{ n_factors = 8, n_iterations = 3 }", "loo"),
    ("surprise", "peers.py", "SurpriseSVD", "{ n_factors = 8, n_epochs = 3 }", "holdout"),
    ("torch", "_torch_twins.py", "TorchMF", "{ n_factors = 4, n_epochs = 1 }", "loo"),
    ("torch", "_torch_deep_twins.py", "TorchAutoRec", "{ n_hidden = 8, n_epochs = 2 }", "holdout"),
])
def test_a_peer_runs_from_an_experiment_file(capsys, monkeypatch, tmp_path, library, file, name,
                                             params, protocol):
    pytest.importorskip(library)
    monkeypatch.setattr(sys, "path", list(sys.path))
    metric = "hr@5" if protocol == "loo" else "rmse"
    path = tmp_path / "peer.toml"
    path.write_text(PEER_RUN.format(data="synthetic:50x40x800", metric=metric,
                                    protocol=protocol, path=BENCHMARKS / file, name=name,
                                    params=params))
    code = cli.main(["run", str(path), "--out", str(tmp_path / "out.json")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "| peer | " in out
    record = json.loads((tmp_path / "out.json").read_text())
    assert record["classes"]["peer"]["file"] == str(BENCHMARKS / file)
    (peer,) = [model for model in record["results"]["models"] if model["label"] == "peer"]
    assert np.isfinite(peer["mean"][metric])


def test_a_deep_twin_takes_its_nanorec_models_arguments():
    torch_deep_twins = pytest.importorskip("_torch_deep_twins")
    twin = torch_deep_twins.TorchAutoRec(num_threads=1, n_hidden=20)
    params = twin.get_params()
    assert params["n_hidden"] == 20 and params["num_threads"] == 1
    assert params["random_state"] == torch_deep_twins.AutoRec().random_state
    assert type(twin)(**params).get_params() == params
