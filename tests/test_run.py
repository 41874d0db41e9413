"""nanorec run: an experiment file reruns to the same table, records what it ran on, pins its data
by hash, never lets a search or a fit see the test part, pairs rows and users correctly, and says
what is wrong with a bad file in one line."""

import functools
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import threadpoolctl

from nanorec import cli
from nanorec.cli.common import REGISTRY
from nanorec.cli.run import load_class
from nanorec.data import datasets
from nanorec.data.interactions import Interactions
from nanorec.evaluation import tune
from nanorec.evaluation.experiment import (
    data_sha256,
    parse_experiment,
    read_experiment,
    run_experiment,
)
from nanorec.models import BiasedMF, ItemKNN

EXPERIMENTS = Path(__file__).resolve().parents[1] / "benchmarks" / "experiments"
QUICK = EXPERIMENTS / "synthetic-quick.toml"


def run(capsys, *argv):
    """(exit code, stdout, stderr) of ``nanorec argv...`` in this process."""
    code = cli.main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(err, *fragments):
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nanorec: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


# ---------------------------------------------------------------------- the round trip
def test_the_shipped_quick_experiment_reruns_to_the_same_table_and_records_it(capsys, tmp_path):
    outputs = []
    for name in ("first.json", "second.json"):
        code, out, err = run(capsys, "run", QUICK, "--out", tmp_path / name)
        assert code == 0, err
        outputs.append(out)
    assert outputs[0] == outputs[1]  # every figure, interval and searched setting
    record = json.loads((tmp_path / "first.json").read_text())
    text = QUICK.read_text(encoding="utf-8")
    assert record["experiment"]["text"] == text
    assert record["experiment"]["sha256"] == hashlib.sha256(QUICK.read_bytes()).hexdigest()
    assert record["data"]["sha256"] in text  # the file pins the data it was written for
    assert record["data"]["sha256"] in outputs[0]
    assert {"python", "numpy", "numba", "nanorec", "cpu", "cores"} <= set(record["environment"])
    results = record["results"]
    assert results["table"] in outputs[0]
    models = {model["label"]: model for model in results["models"]}
    searched = models["BPRMF (lr searched)"]
    assert searched["params"][0]["lr"] == searched["search"][0]["best"]["lr"] in (0.01, 0.05)
    assert searched["params"][0]["n_factors"] == 16  # the file's fixed arguments, resolved
    assert len(searched["search"][0]["trials"]) == 2
    assert searched["seeds"] == [0, 1, 2] and models["Popularity"]["seeds"] == [None]
    baseline = models["Popularity"]
    for label in ("ItemKNN (k=20)", "BPRMF (lr searched)", "MatrixFactorization"):
        model = models[label]
        assert np.std(model["per_seed"]["hr@10"]) == pytest.approx(model["std"]["hr@10"])
        for key in ("hr@10", "ndcg@10", "mrr", "coverage@10"):
            # one split: the paired difference over the users is the difference of the means
            difference = model["difference_from_baseline"][key]["difference"]
            assert difference == pytest.approx(model["mean"][key] - baseline["mean"][key],
                                               abs=1e-12)
        interval = model["difference_from_baseline"]["hr@10"]
        assert interval["low"] <= interval["difference"] <= interval["high"]


@pytest.mark.parametrize("path", sorted(EXPERIMENTS.glob("*.toml")), ids=lambda path: path.name)
def test_every_shipped_experiment_names_real_models_and_arguments(path):
    experiment = read_experiment(path)  # the MovieLens files cannot run here: no data in tests
    for spec in experiment.models:
        if spec.model_class is not None:  # a peer: its class loads whether or not its library
            make_model = load_class(spec, path).cls  # is installed (it imports it in fit)
        else:
            model_class = REGISTRY[spec.name]
            make_model = functools.partial(model_class, **model_class.cli_defaults)
        tune.check_candidates(make_model, [spec.params])
        if spec.search is not None:
            tune.check_candidates(functools.partial(make_model, **spec.params),
                                  spec.search.candidates)


# ---------------------------------------------------------------------- the data's hash
def write_csv(path, data):
    users, items = data.user_ids[data.user_index], data.item_ids[data.item_index]
    rows = zip(users, items, data.ratings, data.timestamps)
    path.write_text("user,item,rating,timestamp\n"
                    + "".join(f"{u},{i},{r:g},{t}\n" for u, i, r, t in rows))
    return path


SMALL = """
data = "{data}"
{pin}
metrics = ["hr@5"]
baseline = "Popularity"
[split]
protocol = "loo"
[[models]]
name = "popularity"
label = "Popularity"
[[models]]
name = "item-knn"
params = {{ k = 5 }}
"""


def test_a_changed_data_file_is_refused_by_the_hash_the_experiment_pins(capsys, tmp_path):
    data = datasets.load("synthetic", n_users=30, n_items=20, n_interactions=300, seed=3)
    write_csv(tmp_path / "ratings.csv", data)
    experiment = tmp_path / "experiment.toml"
    experiment.write_text(SMALL.format(data="ratings.csv", pin=""))  # read beside the file
    code, _, err = run(capsys, "run", experiment, "--out", tmp_path / "a.json")
    assert code == 0, err
    sha256 = json.loads((tmp_path / "a.json").read_text())["data"]["sha256"]
    rows = (data.user_ids[data.user_index], data.item_ids[data.item_index], data.ratings,
            data.timestamps)
    assert sha256 == data_sha256(Interactions.from_arrays(*rows))  # the rows, however stored
    experiment.write_text(SMALL.format(data="ratings.csv", pin=f'data_sha256 = "{sha256}"'))
    assert run(capsys, "run", experiment, "--out", tmp_path / "b.json")[0] == 0

    code, _, err = run(capsys, "run", experiment, "--data", "synthetic:30x20x300",
                       "--out", tmp_path / "d.json")
    assert code == 1  # --data replaces the data, not the pin
    assert_one_error_line(err, "the data has sha256", f"data_sha256 is {sha256}")

    lines = (tmp_path / "ratings.csv").read_text().splitlines()
    user, item, rating, timestamp = lines[5].split(",")
    lines[5] = ",".join([user, item, str(6 - float(rating)), timestamp])  # one rating changed
    (tmp_path / "ratings.csv").write_text("\n".join(lines) + "\n")
    code, _, err = run(capsys, "run", experiment, "--out", tmp_path / "c.json")
    assert code == 1
    assert_one_error_line(err, "the data has sha256", f"data_sha256 is {sha256}")
    assert not (tmp_path / "c.json").exists()


def test_the_data_hash_follows_the_content_not_the_storage():
    users, items = np.array([1, 1, 2, 3]), np.array([10, 11, 10, 12])
    ratings, times = np.array([4.0, 3.0, 5.0, 1.0]), np.array([5, 6, 7, 8])
    reference = data_sha256(Interactions.from_arrays(users, items, ratings, times))
    same = Interactions.from_arrays(users, items, ratings.astype(np.float32), times,
                                    item_ids=np.array([12, 11, 10]))  # another index order
    assert data_sha256(same) == reference
    changes = [
        (users, items, ratings, times + np.array([0, 0, 0, 1])),
        (users, items, np.array([4.0, 3.0, 5.0, 2.0]), times),
        (np.array([1, 1, 2, 4]), items, ratings, times),
        (users, items, None, times),
        (users.astype(str), items, ratings, times),
    ]
    for changed in changes:
        assert data_sha256(Interactions.from_arrays(*changed)) != reference


# ---------------------------------------------------------------------- what a fit sees
class SpyKNN(ItemKNN):
    """ItemKNN that records the (user, item) pairs of every fit."""

    fits = []

    def fit(self, train, valid=None):
        SpyKNN.fits.append(set(zip(train.user_index.tolist(), train.item_index.tolist())))
        return super().fit(train, valid)


@pytest.mark.parametrize("split", ['protocol = "loo"', 'protocol = "kfold"\nn_splits = 3'])
def test_no_search_and_no_fit_ever_sees_a_test_row(split):
    experiment = parse_experiment(f"""
        data = "synthetic"
        metrics = ["ndcg@5"]
        [split]
        {split}
        [[models]]
        name = "item-knn"
        [models.search]
        space = {{ k = [3, 10] }}
        validation = "holdout"
    """)
    data = datasets.load("synthetic", n_users=40, n_items=25, n_interactions=500, seed=2)
    SpyKNN.fits = []
    run_experiment(experiment, data, {"item-knn": SpyKNN})
    splits = experiment.split.apply(data)
    assert len(SpyKNN.fits) == 3 * len(splits)  # per split: 2 candidates, then the chosen k
    for j, (train, test) in enumerate(splits):
        test_pairs = set(zip(test.user_index.tolist(), test.item_index.tolist()))
        train_pairs = set(zip(train.user_index.tolist(), train.item_index.tolist()))
        search_fits, final_fit = SpyKNN.fits[3 * j:3 * j + 2], SpyKNN.fits[3 * j + 2]
        for pairs in search_fits:
            assert pairs < train_pairs and not pairs & test_pairs  # validation carved from train
        assert final_fit == train_pairs


@pytest.mark.parametrize("unknown", ["skip", "baseline"])
def test_rating_differences_pair_the_same_rows_as_evaluate_scores(unknown):
    experiment = parse_experiment(f"""
        data = "synthetic"
        metrics = ["rmse", "mae"]
        unknown = "{unknown}"
        seeds = [4]
        baseline = "small"
        [split]
        protocol = "holdout"
        seed = 1
        [[models]]
        name = "biased-mf"
        label = "small"
        params = {{ n_factors = 2, n_epochs = 3 }}
        [[models]]
        name = "biased-mf"
        label = "large"
        params = {{ n_factors = 8, n_epochs = 10 }}
    """)
    # sparse enough that the test part has a cold user (1 row) and cold items (8 rows)
    data = datasets.load("synthetic", n_users=60, n_items=120, n_interactions=500, seed=5)
    builder = functools.partial(BiasedMF, verbose=False)
    result = run_experiment(experiment, data, {"small": builder, "large": builder})
    train, test = experiment.split.apply(data)[0]
    scored = np.isin(test.user_index, train.user_index) if unknown == "skip" else slice(None)
    test_rows = len(test.user_index[scored])
    assert result.n_units == {"rmse": test_rows, "mae": test_rows}
    for key in ("rmse", "mae"):  # per-row errors from predict reproduce evaluate's figures
        interval = result.differences["large"][key]
        expected = result.mean["large"][key] - result.mean["small"][key]
        assert interval.difference == pytest.approx(expected, rel=1e-6)  # float32 scores
        assert interval.low <= interval.difference <= interval.high
    assert result.runs["large"][0]["seeds"][0]["seed"] == 4
    assert result.runs["large"][0]["params"]["n_factors"] == 8
    assert "large | " in result.to_markdown() and "small (baseline)" in result.to_markdown()


class BlasSpyKNN(ItemKNN):
    """ItemKNN that records the BLAS thread counts it was fitted under."""

    threads = []

    def fit(self, train, valid=None):
        info = threadpoolctl.threadpool_info()
        BlasSpyKNN.threads.append({pool["num_threads"] for pool in info
                                   if pool["user_api"] == "blas"})
        return super().fit(train, valid)


def test_blas_threads_holds_blas_to_its_count_during_the_fits_and_is_recorded():
    text = """
        data = "synthetic"
        metrics = ["hr@5"]
        blas_threads = 1
        [split]
        protocol = "loo"
        [[models]]
        name = "item-knn"
    """
    data = datasets.load("synthetic", n_users=30, n_items=20, n_interactions=300, seed=2)
    BlasSpyKNN.threads = []
    result = run_experiment(parse_experiment(text), data, {"item-knn": BlasSpyKNN})
    assert BlasSpyKNN.threads == [{1}]  # NumPy's BLAS (one pool) held to one thread
    assert result.to_dict()["blas_threads"] == 1
    BlasSpyKNN.threads = []
    run_experiment(parse_experiment(text.replace("blas_threads = 1", "")), data,
                   {"item-knn": BlasSpyKNN})
    before = {pool["num_threads"] for pool in threadpoolctl.threadpool_info()
              if pool["user_api"] == "blas"}
    assert BlasSpyKNN.threads == [before]  # without the key: as the process started


def test_blas_threads_without_threadpoolctl_is_one_line_before_the_data_is_read(capsys, tmp_path,
                                                                              monkeypatch):
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # as if not installed
    path = tmp_path / "threads.toml"
    path.write_text(VALID.replace("seeds = [0]", "seeds = [0]\nblas_threads = 1"))
    code, out, err = run(capsys, "run", path, "--out", tmp_path / "out.json")
    assert code == 1 and out == ""
    assert_one_error_line(err, "blas_threads needs threadpoolctl", 'nanorec[experiments]')


# ---------------------------------------------------------------------- bad files
VALID = """
data = "synthetic:30x20x300"
metrics = ["hr@5"]
seeds = [0]
baseline = "Popularity"

[split]
protocol = "loo"

[[models]]
name = "popularity"
label = "Popularity"

[[models]]
name = "bpr"
params = { n_factors = 4, n_epochs = 2 }
"""


@pytest.mark.parametrize("old, new, fragments", [
    ('metrics = ["hr@5"]', "metrics = [hr@5]", ["invalid TOML", "line 3"]),
    ("seeds = [0]", "seeds = [0]\nmodles = 1", ["unknown key 'modles' in the top level"]),
    ('name = "bpr"', 'name = "bpr"\nparms = 1', ["unknown key 'parms' in models[2]", "params"]),
    ('name = "bpr"', 'name = "bprr"', ["unknown model 'bprr'", "biased-mf"]),
    ("n_factors = 4", "n_factor = 4", ["model 'bpr'", "unknown parameter 'n_factor' for BPRMF"]),
    ("params = { n_factors = 4, n_epochs = 2 }",
     "[models.search]\nspace = { rate = [0.1, 0.2] }", ["search", "unknown parameter 'rate'"]),
    ("params = { n_factors = 4, n_epochs = 2 }",
     "[models.search]\nspace = { lr = { low = 0.01, high = 0.1 } }", ["trials = N"]),
    ('baseline = "Popularity"', "", ["missing key 'baseline'", "Popularity, bpr"]),
    ('baseline = "Popularity"', 'baseline = "popularity"', ["'popularity' is not the label"]),
    ('"hr@5"', '"hr@0"', ["metrics: unknown metric 'hr@0'"]),
    ('protocol = "loo"', 'protocol = "loo"\ntest_size = 0.1',
     ["unknown key 'test_size' in split (protocol loo)"]),
    ('protocol = "loo"', 'protocol = "random"', ["split.protocol must be one of"]),
    ("seeds = [0]", 'seeds = [0]\nunknown = "drop"', ["unknown must be one of 'skip', 'baseline'"]),
    ('name = "bpr"', 'name = "popularity"\nlabel = "Popularity"', ["two models have the label"]),
    ("seeds = [0]", "seeds = [0, 0]", ["seeds must be a non-empty list of distinct integers"]),
    ("n_factors = 4", "random_state = 4", ["params cannot set random_state: the seeds set it"]),
    ("seeds = [0]", "seeds = [0]\nblas_threads = 0", ["blas_threads", ">= 1"]),
    ("seeds = [0]", 'seeds = [0]\nblas_threads = "one"', ["blas_threads"]),
    ('data = "synthetic:30x20x300"', 'data_sha256 = "abc"\ndata = "synthetic:30x20x300"',
     ["data_sha256 must be 64 hexadecimal digits"]),
])
def test_a_bad_experiment_file_is_one_line_naming_the_problem(capsys, tmp_path, old, new,
                                                              fragments):
    assert old in VALID
    path = tmp_path / "bad.toml"
    path.write_text(VALID.replace(old, new, 1))
    code, _, err = run(capsys, "run", path, "--out", tmp_path / "out.json")
    assert code == 1
    assert_one_error_line(err, str(path), *fragments)
    assert not (tmp_path / "out.json").exists()


def test_the_valid_file_of_the_bad_file_cases_runs(capsys, tmp_path):
    (tmp_path / "good.toml").write_text(VALID)
    code, out, err = run(capsys, "run", tmp_path / "good.toml", "--out", tmp_path / "out.json")
    assert code == 0, err
    assert "| bpr | " in out and (tmp_path / "out.json").exists()


def test_a_missing_file_and_a_non_utf8_file_are_one_line(capsys, tmp_path):
    code, _, err = run(capsys, "run", tmp_path / "none.toml")
    assert code == 1
    assert_one_error_line(err, "none.toml")
    (tmp_path / "latin.toml").write_bytes('title = "caf\xe9"\n'.encode("latin-1"))
    code, _, err = run(capsys, "run", tmp_path / "latin.toml")
    assert code == 1
    assert_one_error_line(err, "latin.toml: not UTF-8 text")


def test_a_relative_path_in_name_colon_path_is_read_beside_the_experiment(capsys, tmp_path,
                                                                          monkeypatch):
    folder = tmp_path / "experiments"
    folder.mkdir()
    rows = [f"u{u}\ti{(u * 7 + j) % 15}\t{1 + j % 5}\t{100 * u + j}"
            for u in range(20) for j in range(6)]
    (folder / "log.inter").write_text("user_id:token\titem_id:token\trating:float\t"
                                      "timestamp:float\n" + "\n".join(rows) + "\n")
    (folder / "experiment.toml").write_text('data = "recbole:log.inter"\nmetrics = ["hr@5"]\n'
                                            '[split]\nprotocol = "loo"\n'
                                            '[[models]]\nname = "popularity"\n')
    monkeypatch.chdir(tmp_path)  # not the experiment's folder
    code, out, err = run(capsys, "run", "experiments/experiment.toml", "--out", "out.json")
    assert code == 0, err
    assert "20 users, 15 items, 120 rows" in out and "| popularity | " in out
    record = json.loads((tmp_path / "out.json").read_text())
    assert record["data"]["spec"] == f"recbole:{folder / 'log.inter'}"
