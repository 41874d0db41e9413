"""Hyperparameter search (nanorec.evaluation.tune) and ``nanorec tune``: candidates, validation
folds carved from train only, the best by the metric, successive halving, the same table serially
and on a Dask cluster, and the command line end to end."""

import functools
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanorec import cli
from nanorec.data.datasets import load
from nanorec.data.split import ColdStartWarning, leave_last_out
from nanorec.evaluation import tune
from nanorec.models.baselines import Popularity
from nanorec.models.base import Recommender
from nanorec.models.mf import BPRMF, BiasedMF

METRICS = ("hr@10", "ndcg@10")


@pytest.fixture(autouse=True)
def quiet_cold_start():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ColdStartWarning)
        yield


@functools.lru_cache(maxsize=None)
def tiny_log(n_users=50, n_items=30, n_rows=700):
    return load("synthetic", n_users=n_users, n_items=n_items, n_interactions=n_rows, seed=0)


def pairs(data):
    """The (user, item) pairs of an Interactions, as raw ids (a pair occurs once in a log)."""
    users, items = data.user_ids[data.user_index], data.item_ids[data.item_index]
    return set(zip(users.tolist(), items.tolist()))


def table(result):
    """What must not depend on where the trials ran: parameters, metrics, rung, error."""
    return [(trial.params, trial.metrics, trial.rung, trial.error) for trial in result.trials]


# ---------------------------------------------------------------------- candidates
grids = st.dictionaries(st.sampled_from(["a", "b", "c"]),
                        st.lists(st.integers(0, 9), min_size=1, max_size=3), max_size=3)


@settings(max_examples=30, deadline=None)
@given(grid=grids)
def test_the_grid_is_every_combination_once(grid):
    candidates = tune.parameter_grid(grid)
    assert len(candidates) == math.prod(len(values) for values in grid.values())
    assert all(set(candidate) == set(grid) for candidate in candidates)
    for name, values in grid.items():
        assert {candidate[name] for candidate in candidates} == set(values)
    if all(len(set(values)) == len(values) for values in grid.values()):
        assert len({tuple(c.items()) for c in candidates}) == len(candidates)


def test_a_list_of_grids_gives_each_grid_in_turn():
    grid = [{"distribution": ["uniform"]}, {"popularity_exponent": [0.25, 0.5], "reg": [0.0]}]
    assert tune.parameter_grid(grid) == [
        {"distribution": "uniform"},
        {"popularity_exponent": 0.25, "reg": 0.0}, {"popularity_exponent": 0.5, "reg": 0.0},
    ]
    assert tune.parameter_grid({"a": [1, 2], "b": [3, 4]})[:2] == [{"a": 1, "b": 3},
                                                                  {"a": 1, "b": 4}]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), low=st.floats(1e-4, 1.0), span=st.floats(1.0, 1e3),
       int_low=st.integers(-5, 5), int_span=st.integers(0, 50))
def test_random_draws_stay_in_their_ranges_and_repeat_with_the_seed(seed, low, span, int_low,
                                                                     int_span):
    space = {"lr": {"low": low, "high": low * span, "log": True},
             "reg": {"low": 0.0, "high": low},
             "n_factors": {"low": int_low, "high": int_low + int_span},
             "k": {"low": 1, "high": 1 + int_span, "log": True},
             "distribution": ["uniform", "popularity"]}
    candidates = tune.sample_parameters(space, 8, seed=seed)
    assert candidates == tune.sample_parameters(space, 8, seed=seed)
    for candidate in candidates:
        assert low <= candidate["lr"] <= low * span and 0.0 <= candidate["reg"] <= low
        assert type(candidate["n_factors"]) is int and type(candidate["k"]) is int
        assert int_low <= candidate["n_factors"] <= int_low + int_span
        assert 1 <= candidate["k"] <= 1 + int_span
        assert candidate["distribution"] in ("uniform", "popularity")


def test_a_log_range_draws_evenly_in_log_space():
    draws = [c["lr"] for c in tune.sample_parameters({"lr": {"low": 1e-4, "high": 1.0,
                                                             "log": True}}, 4000, seed=1)]
    share_below_1e_2 = np.mean(np.array(draws) < 1e-2)  # half of the log range
    assert share_below_1e_2 == pytest.approx(0.5, abs=0.03)


@pytest.mark.parametrize("space, message", [
    ({"lr": []}, "list of values of 'lr' is empty"),
    ({"lr": 0.1}, "'lr' must be a list of values or a range"),
    ({"lr": {"low": 0.1}}, "'lr' must be a list of values or a range"),
    ({"lr": {"low": 0.1, "high": 0.01}}, "high must be"),
    ({"lr": {"low": 0.0, "high": 1.0, "log": True}}, "a log range needs low > 0"),
    ({"1lr": [1]}, "'1lr' is not a parameter name"),
])
def test_bad_random_spaces_are_refused(space, message):
    with pytest.raises(ValueError, match=message):
        tune.sample_parameters(space, 3)


@pytest.mark.parametrize("grid, message", [
    ({"lr": []}, "values of 'lr' must be a non-empty list"),
    ({"lr": 0.1}, "values of 'lr' must be a non-empty list"),
    ([], "the list of grids is empty"),
    ("lr=0.1", "expected a dict"),
])
def test_bad_grids_are_refused(grid, message):
    with pytest.raises(ValueError, match=message):
        tune.parameter_grid(grid)


@pytest.mark.parametrize("candidates, halving, message", [
    ([{"n_factor": 8}], False, "unknown parameter 'n_factor' for BPRMF; its parameters: n_factors"),
    ([{"random_state": 1}], False, "random_state cannot be searched"),
    ([{"n_epochs": 3}], True, "n_epochs cannot be searched: successive halving sets it"),
    ([], False, "no candidates"),
])
def test_bad_candidates_fail_before_any_fit(candidates, halving, message):
    with pytest.raises(ValueError, match=message):
        tune.check_candidates(BPRMF, candidates, epochs_searched=halving)
    with pytest.raises(ValueError, match="Popularity is not trained in epochs"):
        tune.check_candidates(Popularity, [{}], epochs_searched=True)


def test_search_options_are_checked_before_fitting():
    data = tiny_log()
    with pytest.raises(ValueError, match="metric 'mrr' is not among the metrics computed"):
        tune.search(Popularity, [{}], data, metrics=METRICS, metric="mrr")
    with pytest.raises(ValueError, match="eta must be an integer >= 2"):
        tune.successive_halving(BPRMF, [{}], data, eta=1)
    with pytest.raises(ValueError, match="validation must be one of"):
        tune.search(Popularity, [{}], data, validation="temporal")


# ---------------------------------------------------------------------- validation folds
def test_loo_folds_step_back_in_time_on_train_only():
    train, _ = leave_last_out(tiny_log())
    splits = tune.validation_splits(train, "loo", n_splits=3)
    sizes = [len(fit_part) for fit_part, _ in splits]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] < len(train)
    for fit_part, held_out in splits:  # one held-out row per user, later than its fit rows
        assert len(np.unique(held_out.user_index)) == len(held_out)
        latest = np.zeros(train.n_users)
        np.maximum.at(latest, fit_part.user_index, fit_part.timestamps)
        assert np.all(held_out.timestamps >= latest[held_out.user_index])
        assert pairs(fit_part) | pairs(held_out) <= pairs(train)
        assert not pairs(fit_part) & pairs(held_out)


@pytest.mark.parametrize("validation, n_splits", [("holdout", 2), ("kfold", 3)])
def test_random_folds_partition_train(validation, n_splits):
    train, _ = leave_last_out(tiny_log())
    splits = tune.validation_splits(train, validation, n_splits, seed=4)
    assert len(splits) == n_splits
    for fit_part, held_out in splits:
        assert pairs(fit_part) | pairs(held_out) == pairs(train)
        assert not pairs(fit_part) & pairs(held_out)
    if validation == "kfold":  # each train row is held out once
        assert sum(len(held_out) for _, held_out in splits) == len(train)


class RecordingPopularity(Popularity):
    """Popularity that records the (user, item) pairs of every fit."""

    fitted_on = []

    def fit(self, train, valid=None, privacy=None):
        RecordingPopularity.fitted_on.append(pairs(train))
        return super().fit(train, valid, privacy)


@pytest.mark.parametrize("validation", ["loo", "holdout", "kfold"])
def test_no_trial_sees_a_test_row(validation, monkeypatch):
    train, test = leave_last_out(tiny_log())
    evaluated_on = []
    real_evaluate = tune.evaluate

    def recording_evaluate(model, valid, train=None, **options):
        evaluated_on.append(pairs(valid))
        return real_evaluate(model, valid, train=train, **options)

    monkeypatch.setattr(tune, "evaluate", recording_evaluate)
    RecordingPopularity.fitted_on = []
    result = tune.search(RecordingPopularity, [{}], train, validation=validation, n_splits=2,
                         metrics=METRICS)
    fits, refit = RecordingPopularity.fitted_on[:-1], RecordingPopularity.fitted_on[-1]
    assert len(fits) == len(evaluated_on) == 2
    for seen in fits + evaluated_on:
        assert seen <= pairs(train) and not seen & pairs(test)
    for fit_rows, valid_rows in zip(fits, evaluated_on):
        assert not fit_rows & valid_rows
    assert refit == pairs(train)  # the best settings are refitted on all of train
    assert isinstance(result.best_model, RecordingPopularity)


# ---------------------------------------------------------------------- the searches
def bpr(**fixed):
    return functools.partial(BPRMF, n_epochs=1, n_factors=4, **fixed)


def test_the_best_trial_is_the_best_by_the_metric_and_the_table_lists_every_trial():
    train, _ = leave_last_out(tiny_log())
    grid = {"lr": [0.001, 0.05], "distribution": ["uniform", "popularity"]}
    result = tune.search(bpr(), tune.parameter_grid(grid), train, validation="loo",
                         metrics=METRICS, metric="ndcg@10", n_seeds=2)
    values = [trial.metrics["ndcg@10"] for trial in result.trials]
    assert result.best_index == int(np.argmax(values))
    assert [trial.params for trial in result.trials] == tune.parameter_grid(grid)
    assert result.best_model.get_params()["lr"] == result.best_params["lr"]
    assert result.best_model.random_state == 0
    text = result.to_markdown()
    assert "2 seeds" not in text and "model seeds 0..1" in text
    assert text.count("| best |") == 1 and len(text.splitlines()) == 2 + 2 + len(values)
    assert table(result) == table(tune.search(bpr(), tune.parameter_grid(grid), train,
                                              validation="loo", metrics=METRICS,
                                              metric="ndcg@10", n_seeds=2))


def test_a_rating_metric_is_best_when_smallest():
    data = tiny_log()
    result = tune.search(functools.partial(BiasedMF, n_epochs=2, n_factors=2),
                         [{"lr": 0.0001}, {"lr": 0.02}], data, metrics=("rmse",), refit=False)
    rmse = [trial.metrics["rmse"] for trial in result.trials]
    assert not result.higher_is_better and rmse[1] < rmse[0] and result.best_index == 1
    assert result.best_model is None


class Diverging(Popularity):
    """Popularity whose fit diverges when asked to (a stand-in for a learning rate too large)."""

    def __init__(self, diverge=False):
        self.diverge = diverge

    def _fit(self, train, valid):
        if self.diverge:
            raise FloatingPointError("the loss is NaN at epoch 1")
        super()._fit(train, valid)


def test_a_diverging_trial_fails_alone_and_is_never_the_best():
    data = tiny_log()
    result = tune.search(Diverging, [{"diverge": True}, {"diverge": False}], data,
                         metrics=METRICS)
    failed, fine = result.trials
    assert failed.error == "failed: the loss is NaN at epoch 1"
    assert math.isnan(failed.metrics["hr@10"]) and result.best_index == 1 and fine.error is None
    assert "failed: the loss is NaN" in result.to_markdown()
    with pytest.raises(FloatingPointError, match="every trial failed"):
        tune.search(Diverging, [{"diverge": True}], data, metrics=METRICS)


@pytest.mark.parametrize("n_candidates, eta, max_epochs, rungs", [
    (9, 3, None, [(9, 1), (3, 3), (1, 9)]),
    (5, 2, None, [(5, 1), (3, 2), (2, 4), (1, 8)]),
    (5, 2, 3, [(5, 1), (3, 2), (2, 3)]),
    (1, 3, 4, [(1, 1)]),
])
def test_halving_keeps_the_best_ceil_n_over_eta_and_multiplies_the_epochs(
        n_candidates, eta, max_epochs, rungs, monkeypatch):
    # a fake fit-and-score: a candidate's score is its 'reg', whatever the epochs
    def fake_fit_and_score(make_model, params, fit_part, valid_part, options):
        return {"hr@10": params["reg"] + 0.001 * params["n_epochs"]}, 0.0, None

    monkeypatch.setattr(tune, "_fit_and_score", fake_fit_and_score)
    regs = np.random.default_rng(n_candidates).permutation(n_candidates) / 10
    candidates = [{"reg": float(reg)} for reg in regs]
    result = tune.successive_halving(BPRMF, candidates, tiny_log(), eta=eta,
                                     max_epochs=max_epochs, metrics=("hr@10",), refit=False)
    by_rung = [[t for t in result.trials if t.rung == r] for r in range(len(rungs))]
    assert [(len(trials), trials[0].params["n_epochs"]) for trials in by_rung] == rungs
    assert len(result.trials) == sum(n for n, _ in rungs)
    for before, after in zip(by_rung, by_rung[1:]):
        best = sorted((t.params["reg"] for t in before), reverse=True)[:len(after)]
        assert sorted(t.params["reg"] for t in after) == sorted(best)
        assert len(after) == math.ceil(len(before) / eta)
    assert result.best.rung == len(rungs) - 1
    assert result.best_params["reg"] == max(t.params["reg"] for t in by_rung[-1])


def test_halving_drops_failed_trials(monkeypatch):
    def fake_fit_and_score(make_model, params, fit_part, valid_part, options):
        if params["reg"] < 0:
            return None, 0.0, "failed: diverged"
        return {"hr@10": params["reg"]}, 0.0, None

    monkeypatch.setattr(tune, "_fit_and_score", fake_fit_and_score)
    candidates = [{"reg": -1.0}, {"reg": 0.1}, {"reg": -2.0}, {"reg": 0.2}]
    result = tune.successive_halving(BPRMF, candidates, tiny_log(), eta=2, metrics=("hr@10",),
                                     refit=False)
    assert [t.params["reg"] for t in result.trials if t.rung == 1] == [0.1, 0.2]
    with pytest.raises(FloatingPointError, match="every trial failed"):
        tune.successive_halving(BPRMF, candidates[::2], tiny_log(), eta=2, metrics=("hr@10",))


def test_halving_refits_the_survivor_with_its_epochs():
    train, _ = leave_last_out(tiny_log())
    result = tune.successive_halving(functools.partial(BPRMF, n_factors=4),
                                     [{"lr": 0.001}, {"lr": 0.05}, {"lr": 0.02}], train,
                                     eta=3, metrics=METRICS)
    assert [t.params["n_epochs"] for t in result.trials] == [1, 1, 1, 3]
    assert result.best_model.n_epochs == 3 and result.best_model.lr == result.best_params["lr"]


# ---------------------------------------------------------------------- Dask
@pytest.fixture(scope="module")
def dask_cluster():
    distributed = pytest.importorskip("dask.distributed")
    pytest.importorskip("joblib")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        yield cluster


def test_a_search_on_a_dask_cluster_gives_the_serial_table(dask_cluster):
    import joblib
    from dask import distributed

    train, _ = leave_last_out(tiny_log())
    options = dict(validation="kfold", n_splits=2, metrics=METRICS, n_seeds=2, refit=False)
    candidates = tune.sample_parameters({"lr": {"low": 0.001, "high": 0.1, "log": True},
                                         "distribution": ["uniform", "popularity"]}, 3, seed=5)
    serial = tune.search(bpr(), candidates, train, **options)
    halving_serial = tune.successive_halving(bpr(), candidates, train, eta=2, **options)
    with distributed.Client(dask_cluster) as client:
        with distributed.get_task_stream(client) as tasks, joblib.parallel_backend("dask"):
            on_dask = tune.search(bpr(), candidates, train, n_jobs=-1, **options)
            halving_on_dask = tune.successive_halving(bpr(), candidates, train, eta=2, n_jobs=-1,
                                                      **options)
    assert len(tasks.data) >= 3 * 2 * 2  # the fits really ran on the cluster
    assert table(on_dask) == table(serial) and on_dask.best_index == serial.best_index
    assert table(halving_on_dask) == table(halving_serial)


def test_the_command_line_runs_the_fits_on_a_scheduler(dask_cluster, tmp_path, capsys):
    from dask import distributed

    address = dask_cluster.scheduler_address
    with distributed.Client(address) as watcher, distributed.get_task_stream(watcher) as tasks:
        code = cli.main(["tune", "bpr", "--data", "synthetic:40x30x500", "--epochs", "1",
                         "--grid", "n_factors=2,4", "--scheduler", address])
    out = capsys.readouterr().out
    assert code == 0 and f"on the Dask cluster at {address}" in out
    assert len(tasks.data) >= 2  # the two fits ran on the cluster's workers
    assert out.count("| best |") == 1


# ---------------------------------------------------------------------- nanorec.tune
def test_nanorec_tune_is_the_search_module_loaded_on_first_use():
    script = ("import sys, nanorec; light = 'nanorec.evaluation' not in sys.modules; "
              "from nanorec import tune; import nanorec.evaluation.tune as module; "
              "print(light, tune is module, nanorec.tune.search is module.search)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.stdout.split() == ["True", "True", "True"], done.stderr


# ---------------------------------------------------------------------- the command line
@pytest.fixture
def ratings_csv(tmp_path):
    data = tiny_log(40, 25, 400)
    path = tmp_path / "ratings.csv"
    rows = zip(data.user_ids[data.user_index], data.item_ids[data.item_index], data.ratings,
               data.timestamps)
    path.write_text("user,item,rating,timestamp\n"
                    + "".join(f"{u},{i},{r:g},{t}\n" for u, i, r, t in rows))
    return path


def test_tune_prints_the_table_and_saves_the_best_model(ratings_csv, tmp_path, capsys):
    save = tmp_path / "best.npz"
    code = cli.main(["tune", "bpr", "--data", str(ratings_csv), "--epochs", "2",
                     "--grid", "n_factors=2,4 lr=0.01,0.05", "--save", str(save)])
    out = capsys.readouterr().out
    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith("| ") and "|---" not in line]
    assert len(rows) == 1 + 4 and rows[0].startswith("| # | n_factors | lr | ndcg@10 |")
    best = next(row for row in rows if row.endswith("| best |")).split(" | ")
    model = Recommender.load(save)
    assert (model.n_factors, model.lr, model.n_epochs) == (int(best[1]), float(best[2]), 2)
    assert model.metadata_["protocol"] == "loo" and model.metadata_["search"]["trials"] == 4
    assert cli.main(["evaluate", str(save)]) == 0  # the saved file scores on the test part
    assert "leave-last-out (40 test rows)" in capsys.readouterr().out


def test_tune_records_what_train_records_and_the_search(ratings_csv, tmp_path, capsys):
    common = ["bpr", "--data", str(ratings_csv), "--sep", ",", "--protocol", "holdout",
              "--seed", "3", "--epochs", "1"]
    assert cli.main(["train", *common, "--quiet", "--save", str(tmp_path / "trained.npz")]) == 0
    assert cli.main(["tune", *common, "--grid", "n_factors=2", "--save",
                     str(tmp_path / "tuned.npz")]) == 0
    trained, tuned = (Recommender.load(tmp_path / name).metadata_
                      for name in ("trained.npz", "tuned.npz"))
    search = tuned.pop("search")
    assert tuned == trained and trained["data_options"] == {"sep": ","}
    assert search["best"] == {"n_factors": 2} and search["trials"] == 1


def test_tune_random_and_halving_from_the_command_line(ratings_csv, capsys):
    code = cli.main(["tune", "biased-mf", "--data", str(ratings_csv), "--epochs", "3",
                     "--grid", "lr=0.001:0.05:log n_factors=2:8", "--random", "4",
                     "--halving", "2", "--validation", "kfold", "--folds", "2"])
    out = capsys.readouterr().out
    assert code == 0 and "successive halving (eta 2)" in out and "best = smallest rmse" in out
    assert "k-fold of the train part, 2 splits" in out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 1 + 4 + 2 + 1  # rungs of 4, 2 and 1 candidates at 1, 2 and 3 epochs


@pytest.mark.parametrize("arguments, message", [
    (["--grid", "n_factor=2,4"], "unknown parameter 'n_factor' for BPRMF; its parameters: "),
    (["--grid", "n_factors"], "argument --grid: 'n_factors' is not NAME=VALUES"),
    (["--grid", "lr=0.1,,0.2"], "has an empty value"),
    (["--grid", "lr=0.1 lr=0.2"], "lr is given twice"),
    (["--grid", "lr=0.1:x"], "lr=0.1:x is not a range LOW:HIGH or LOW:HIGH:log"),
    (["--grid", "lr=0.001:0.1"], "lr is a range, which only --random N can draw from"),
    (["--grid", "lr=0:0.1:log", "--random", "2"], "a log range needs low > 0"),
    (["--grid", "random_state=1,2"], "random_state cannot be searched"),
    (["--grid", "lr=0.1", "--metric", "ndcg"], "--metric: unknown metric 'ndcg'"),
    (["--grid", "lr=0.1", "--validation", "kfold", "--folds", "1"], "needs --folds 2 or more"),
    (["--grid", "lr=0.1", "--halving", "1"], "argument --halving: must be an integer >= 2"),
])
def test_bad_specs_are_one_line_errors_with_exit_2(arguments, message, capsys):
    code, err = exit_code_and_errors(capsys, "bpr", "--data", "synthetic:30x20x200", *arguments)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_an_unknown_model_is_refused(capsys):
    code, err = exit_code_and_errors(capsys, "svd++", "--grid", "lr=0.1")
    assert code == 2 and "invalid choice: 'svd++'" in err and len(err.strip().splitlines()) == 1


def exit_code_and_errors(capsys, *argv):
    """(exit code, stderr) of ``nanorec tune argv...``; argparse's errors exit (SystemExit)."""
    try:
        code = cli.main(["tune", *argv])
    except SystemExit as exit_info:
        code = exit_info.code
    return code, capsys.readouterr().err
