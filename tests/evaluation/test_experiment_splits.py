"""The [split] options of experiment files beyond one fixed split: seed = "per-seed" (each model
seed draws its own split, as bench_implicit.py does) and the cold-start protocols cold-users and
cold-items (evaluated by evaluate_cold, as bench_coldstart.py does): parsed and checked, run to
the same table again, and paired over the right units."""

import functools
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from nanorec import cli
from nanorec.data import datasets
from nanorec.data.split import ColdStartWarning, cold_start_split, holdout
from nanorec.evaluation.cold import evaluate_cold
from nanorec.evaluation.experiment import parse_experiment, read_experiment, run_experiment
from nanorec.models import ContentBased, ItemKNN, Popularity
from nanorec.models.base import ColdStartError
from nanorec.models.mf import BPRMF, BiasedMF
from nanorec.privacy.dp import noise_multiplier_for_epsilon

pytestmark = pytest.mark.filterwarnings("ignore::nanorec.data.split.ColdStartWarning")

PER_SEED = """
data = "synthetic:40x30x600"
metrics = ["ndcg@5", "hr@5"]
seeds = [0, 1, 2]
baseline = "Popularity"
[split]
protocol = "holdout"
test_size = 0.25
seed = "per-seed"
[[models]]
name = "popularity"
label = "Popularity"
[[models]]
name = "bpr"
label = "BPRMF"
params = { n_factors = 4, n_epochs = 3 }
"""


def small_data():
    return datasets.load("synthetic", n_users=40, n_items=30, n_interactions=600, seed=0)


class SpyBPR(BPRMF):
    """BPRMF that records the random_state and (user, item) pairs of every fit."""

    fits = []

    def fit(self, train, valid=None):
        SpyBPR.fits.append((self.random_state,
                            set(zip(train.user_index.tolist(), train.item_index.tolist()))))
        return super().fit(train, valid)


# ---------------------------------------------------------------------- seed = "per-seed"
def test_each_seed_fits_on_its_own_holdout_drawn_with_that_seed():
    experiment = parse_experiment(PER_SEED)
    data = small_data()
    SpyBPR.fits = []
    models = {"Popularity": Popularity, "BPRMF": functools.partial(SpyBPR, verbose=False)}
    result = run_experiment(experiment, data, models)
    assert [seed for seed, _ in SpyBPR.fits] == [0, 1, 2]
    trains = []
    for seed, pairs in SpyBPR.fits:
        train, _ = holdout(data, test_size=0.25, seed=seed)
        assert pairs == set(zip(train.user_index.tolist(), train.item_index.tolist()))
        trains.append(pairs)
    assert trains[0] != trains[1] != trains[2] != trains[0]  # not one fixed split
    for label in ("Popularity", "BPRMF"):  # one value per seed, each its split's own
        runs = result.runs[label]
        assert [split["split_seed"] for split in runs] == [0, 1, 2]
        assert result.values[label]["ndcg@5"] == [split["seeds"][0]["metrics"]["ndcg@5"]
                                                  for split in runs]
    assert [split["seeds"][0]["seed"] for split in result.runs["Popularity"]] == [None] * 3
    assert [split["seeds"][0]["seed"] for split in result.runs["BPRMF"]] == [0, 1, 2]
    record = result.to_dict()
    assert record["split"] == {"protocol": "holdout", "seed": "per-seed", "test_size": 0.25}
    bpr = next(model for model in record["models"] if model["label"] == "BPRMF")
    assert bpr["split_seeds"] == [0, 1, 2] and bpr["seeds"] == [0, 1, 2]


def test_per_seed_pairs_each_user_once_averaged_over_the_seeds_that_tested_it():
    experiment = parse_experiment(PER_SEED)
    models = {"Popularity": Popularity, "BPRMF": functools.partial(BPRMF, verbose=False)}
    result = run_experiment(experiment, small_data(), models)
    sums, counts = {}, {}  # user -> (BPRMF - Popularity) summed over the seeds that tested it
    for ours, theirs in zip(result.runs["BPRMF"], result.runs["Popularity"]):
        ours, theirs = ours["seeds"][0], theirs["seeds"][0]
        assert np.array_equal(ours["users"], theirs["users"])
        for user, a, b in zip(ours["users"].tolist(), ours["units"]["ndcg@5"][1],
                              theirs["units"]["ndcg@5"][1]):
            sums[user] = sums.get(user, 0.0) + a - b
            counts[user] = counts.get(user, 0) + 1
    assert max(counts.values()) > 1  # users tested under several seeds count once
    assert result.n_units["ndcg@5"] == len(sums)
    expected = np.mean([sums[user] / counts[user] for user in sums])
    assert result.differences["BPRMF"]["ndcg@5"].difference == pytest.approx(expected, abs=1e-12)
    assert "each seed on its own split" in result.to_markdown()


def test_per_seed_rating_rows_tested_under_several_seeds_count_once():
    header = PER_SEED[:PER_SEED.index("[[models]]")]  # the same data, seeds and split
    experiment = parse_experiment(header.replace('["ndcg@5", "hr@5"]', '["rmse", "mae"]')
                                  .replace('"Popularity"', '"small"') + """
        [[models]]
        name = "biased-mf"
        label = "small"
        params = { n_factors = 2, n_epochs = 3 }
        [[models]]
        name = "biased-mf"
        label = "large"
        params = { n_factors = 8, n_epochs = 5 }
    """)
    data = small_data()
    builder = functools.partial(BiasedMF, verbose=False)
    result = run_experiment(experiment, data, {"small": builder, "large": builder})
    rows, n_tested = set(), 0
    for seed in (0, 1, 2):
        _, test = holdout(data, test_size=0.25, seed=seed)
        rows |= set(zip(test.user_index.tolist(), test.item_index.tolist()))
        n_tested += len(test)
    assert len(rows) < n_tested  # some rows were tested under two seeds
    assert result.n_units == {"rmse": len(rows), "mae": len(rows)}


# ---------------------------------------------------------------------- cold protocols
COLD = """
data = "synthetic:60x40x900"
metrics = ["hr@5", "ndcg@5", "auc"]
seeds = [0, 1]
baseline = "Popularity"
[split]
protocol = "{protocol}"
user_fraction = 0.2
item_fraction = 0.2
seed = 3
[[models]]
name = "popularity"
label = "Popularity"
[[models]]
name = "content"
label = "ContentBased"
params = {{ n_epochs = 2, hidden = [8] }}
"""


@pytest.mark.parametrize("kind", ["users", "items"])
def test_a_cold_protocol_evaluates_as_evaluate_cold_on_cold_start_split(kind):
    experiment = parse_experiment(COLD.format(protocol=f"cold-{kind}"))
    data = datasets.load("synthetic", n_users=60, n_items=40, n_interactions=900, seed=0)
    content = functools.partial(ContentBased, verbose=False)
    result = run_experiment(experiment, data, {"Popularity": Popularity, "ContentBased": content})
    parts = cold_start_split(data, 0.2, 0.2, seed=3)
    test = parts.user_test if kind == "users" else parts.item_test
    for seed in (0, 1):
        model = ContentBased(n_epochs=2, hidden=(8,), random_state=seed,
                             verbose=False).fit(parts.train)
        expected = evaluate_cold(model, test, kind, ("hr@5", "ndcg@5", "auc"))
        assert result.values["ContentBased"]["auc"][seed] == expected["auc"]
    popularity = evaluate_cold(Popularity().fit(parts.train), test, kind, ("auc",))["auc"]
    assert result.mean["Popularity"]["auc"] == popularity
    if kind == "items":
        assert popularity == 0.5  # every cold item scores 0: a tie
    cold = np.setdiff1d(np.unique(test.user_index if kind == "users" else test.item_index),
                        parts.train.user_index if kind == "users" else parts.train.item_index)
    assert len(cold) > 0
    assert f"cold {kind}" in experiment.split.describe()
    assert result.n_units["auc"] == result.runs["Popularity"][0]["seeds"][0]["users"].size


@pytest.mark.parametrize("text, split", [
    (COLD.format(protocol="cold-items").replace("seeds = [0, 1]", "seeds = [0]"),
     {"protocol": "cold-items", "seed": 3, "user_fraction": 0.2, "item_fraction": 0.2}),
    (PER_SEED, {"protocol": "holdout", "seed": "per-seed", "test_size": 0.25}),
], ids=["cold-items", "per-seed holdout"])
def test_an_experiment_reruns_to_the_same_table_and_records_its_split(capsys, tmp_path, text,
                                                                      split):
    path = tmp_path / "experiment.toml"
    path.write_text(text)
    outputs = []
    for name in ("a.json", "b.json"):
        code = cli.main(["run", str(path), "--out", str(tmp_path / name)])
        out, err = capsys.readouterr()
        assert code == 0, err
        outputs.append(out)
    assert outputs[0] == outputs[1]  # every figure and interval
    assert parse_experiment(text).split.describe() in outputs[0]
    record = json.loads((tmp_path / "a.json").read_text())
    assert record["results"]["split"] == split
    assert record["results"]["n_splits"] == (3 if split["seed"] == "per-seed" else 1)


# ---------------------------------------------------------------------- bad [split] tables
@pytest.mark.parametrize("split, fragments", [
    ('protocol = "holdout"\nseed = "each"',
     ['split: seed must be an integer >= 0 or "per-seed"', "got 'each'"]),
    ('protocol = "holdout"\nseed = -1', ["seed must be an integer >= 0", "got -1"]),
    ('protocol = "kfold"\nseed = true', ["seed must be an integer", "got True"]),
    ('protocol = "loo"\nseed = "per-seed"', ["unknown key 'seed' in split (protocol loo)"]),
    ('protocol = "cold-users"\ntest_size = 0.2',
     ["unknown key 'test_size' in split (protocol cold-users)", "user_fraction"]),
    ('protocol = "cold-items"\nitem_fraction = 1.0', ["item_fraction must be", "got 1.0"]),
    ('protocol = "cold-users"\nuser_fraction = "10%"', ["user_fraction must be"]),
    ('protocol = "cold-users"\nuser_fraction = 0.0', ["cold-users tests cold users",
                                                      "user_fraction = 0 holds none out"]),
    ('protocol = "cold"', ["split.protocol must be one of", "cold-users, cold-items"]),
])
def test_a_bad_split_option_is_named(split, fragments):
    text = ('data = "synthetic"\nmetrics = ["hr@5"]\n[split]\n' + split
            + '\n[[models]]\nname = "popularity"\n')
    with pytest.raises(ValueError) as error:
        parse_experiment(text, source="bad.toml")
    message = str(error.value)
    assert message.startswith("bad.toml: ")
    for fragment in fragments:
        assert fragment in message, (fragment, message)


@pytest.mark.parametrize("protocol", ["holdout", "kfold", "cold-users", "cold-items"])
def test_per_seed_is_accepted_by_every_seeded_protocol(protocol):
    text = (f'data = "synthetic"\nmetrics = ["hr@5"]\n[split]\nprotocol = "{protocol}"\n'
            'seed = "per-seed"\n[[models]]\nname = "popularity"\n')
    split = parse_experiment(text).split
    assert split.per_seed and split.to_dict()["seed"] == "per-seed"
    data = small_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ColdStartWarning)
        first, again, other = split.apply(data, 5), split.apply(data, 5), split.apply(data, 6)
    assert np.array_equal(first[0][1].user_index, again[0][1].user_index)
    assert not (np.array_equal(first[0][1].user_index, other[0][1].user_index)
                and np.array_equal(first[0][1].item_index, other[0][1].item_index))
    with pytest.raises(ValueError, match="per-seed"):
        split.apply(data)


def test_a_cold_protocol_refuses_metrics_evaluate_cold_lacks_and_searches():
    base = COLD.format(protocol="cold-users")
    with pytest.raises(ValueError, match=r"metrics \(split protocol cold-users\): evaluate_cold "
                                         r"does not compute \['coverage@5'\]"):
        parse_experiment(base.replace('"auc"]', '"auc", "coverage@5"]'))
    with pytest.raises(ValueError, match="model 'ContentBased': no search with split protocol "
                                         "cold-users"):
        parse_experiment(base + "[models.search]\nspace = { lr = [0.01, 0.1] }\n")


def test_item_knn_is_refused_on_cold_users_by_evaluate_cold():
    experiment = parse_experiment(COLD.format(protocol="cold-users").replace(
        'name = "content"', 'name = "item-knn"').replace("params = { n_epochs = 2, hidden = [8] }",
                                                        "params = { k = 5 }"))
    data = datasets.load("synthetic", n_users=60, n_items=40, n_interactions=900, seed=0)
    with pytest.raises(ColdStartError, match="cannot score users without training rows"):
        run_experiment(experiment, data, {"Popularity": Popularity, "ContentBased": ItemKNN})


def test_the_shipped_movielens_files_pin_one_data_and_use_these_splits():
    experiments = {path.name: read_experiment(path)
                   for path in (Path(__file__).resolve().parents[2] / "benchmarks"
                                / "experiments").glob("ml100k-*.toml")}
    # one data; a file with [features] pins it with the side-table columns it reads
    assert len({experiment.data_sha256 for experiment in experiments.values()
                if experiment.features is None}) == 1
    assert experiments["ml100k-ranking-holdout.toml"].split.per_seed  # as bench_implicit.py
    assert experiments["ml100k-coldstart-users.toml"].split.cold == "users"
    assert experiments["ml100k-coldstart-items.toml"].split.cold == "items"
    text = experiments["ml100k-coldstart-items-text.toml"]  # bench_coldstart's [pipeline] rows
    assert text.split == experiments["ml100k-coldstart-items.toml"].split
    assert text.data_sha256 is not None
    assert {block["column"]: block["kind"] for block in text.features.blocks["items"]} == {
        "genres": "categorical", "year": "numeric", "title": "tfidf"}
    privacy = experiments["ml100k-privacy.toml"]
    assert {spec.name for spec in privacy.models} == {"biased-mf", "federated-mf", "dp-biased-mf"}
    for spec in privacy.models:  # each noise multiplier is the accountant's for its epsilon
        if spec.name == "dp-biased-mf":
            epsilon = float(spec.label.rpartition("epsilon ")[2].rstrip(")"))
            n_train, params = 80_000, spec.params  # 80% of MovieLens-100K's 100,000 ratings
            steps = params["n_epochs"] * round(n_train / params["batch_size"])
            sigma = noise_multiplier_for_epsilon(epsilon, params["batch_size"] / n_train, steps,
                                                 1e-5)
            assert params["noise_multiplier"] == pytest.approx(sigma, rel=1e-12)
