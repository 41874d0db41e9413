"""cross_validate: the same numbers serially, through joblib, and on a Dask cluster."""

import functools
import sys

import numpy as np
import pytest

from nanorec.data.interactions import Interactions
from nanorec.data.split import kfold
from nanorec.evaluation.protocols import cross_validate, evaluate
from nanorec.models.baselines import Popularity, Random

METRICS = ["hr@5", "ndcg@5", "mrr"]

# Small folds of a long-tailed log hold a few cold items; kfold warns about them, as it should.
pytestmark = pytest.mark.filterwarnings("ignore::nanorec.data.split.ColdStartWarning")


def small_log(seed=0):
    rng = np.random.default_rng(seed)
    users = rng.integers(0, 40, 800)
    items = np.minimum(rng.zipf(1.5, 800), 30)  # long-tailed popularity
    return Interactions.from_arrays(users, items, duplicates="last")


def test_serial_run_equals_fitting_and_evaluating_each_fold():
    data = small_log()
    result = cross_validate(Popularity, data, n_splits=3, metrics=METRICS, seed=5)
    for f, (train, test) in enumerate(kfold(data, n_splits=3, seed=5)):
        expected = evaluate(Popularity().fit(train), test, train=train, metrics=METRICS, seed=5 + f)
        assert dict(result.folds[f]) == dict(expected)
        assert result.folds[f].n_users == expected.n_users
    table = np.array([[fold[m] for m in METRICS] for fold in result.folds])
    assert list(result.mean.values()) == pytest.approx(table.mean(axis=0))
    assert list(result.std.values()) == pytest.approx(table.std(axis=0, ddof=1))


def test_markdown_table_has_a_row_per_fold_and_names_the_protocol():
    result = cross_validate(
        functools.partial(Random, random_state=1), small_log(), n_splits=2, metrics=METRICS,
        protocol="sampled", n_negatives=5,
    )
    lines = str(result).splitlines()
    assert lines[0] == "2-fold cross-validation, protocol: sampled (5 negatives)"
    assert lines[2] == "| fold | users | hr@5 | ndcg@5 | mrr |"
    assert [line.split(" | ")[0] for line in lines[4:]] == ["| 1", "| 2", "| mean", "| std"]
    assert result.protocol == "sampled (5 negatives)"


def test_joblib_path_gives_the_serial_numbers():
    joblib = pytest.importorskip("joblib")
    data = small_log(1)
    serial = cross_validate(Popularity, data, n_splits=2, metrics=METRICS)
    with joblib.parallel_backend("threading"):
        threaded = cross_validate(Popularity, data, n_splits=2, metrics=METRICS, n_jobs=2)
    assert [dict(fold) for fold in threaded.folds] == [dict(fold) for fold in serial.folds]


def test_cross_validate_on_a_dask_cluster_matches_serial():
    distributed = pytest.importorskip("dask.distributed")
    joblib = pytest.importorskip("joblib")
    data = small_log(2)
    serial = cross_validate(Popularity, data, n_splits=2, metrics=METRICS)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        with distributed.get_task_stream(client) as tasks, joblib.parallel_backend("dask"):
            on_dask = cross_validate(Popularity, data, n_splits=2, metrics=METRICS, n_jobs=-1)
    assert len(tasks.data) >= 2  # the folds really ran on the cluster
    assert [dict(fold) for fold in on_dask.folds] == [dict(fold) for fold in serial.folds]
    assert on_dask.mean == serial.mean


def test_missing_joblib_is_only_needed_for_parallel_runs(monkeypatch):
    monkeypatch.setitem(sys.modules, "joblib", None)  # import joblib now raises ImportError
    data = small_log(3)
    with pytest.raises(ImportError, match=r'pip install "nanorec\[parallel\]"'):
        cross_validate(Popularity, data, n_splits=2, metrics=METRICS, n_jobs=2)
    assert len(cross_validate(Popularity, data, n_splits=2, metrics=METRICS).folds) == 2


def test_bad_arguments_fail_before_any_fitting():
    built = []

    def make_model():
        built.append(1)
        return Popularity()

    with pytest.raises(ValueError, match="unknown metric 'ndcg'"):
        cross_validate(make_model, small_log(), n_splits=2, metrics=["ndcg"])
    with pytest.raises(ValueError, match="unknown protocol"):
        cross_validate(make_model, small_log(), n_splits=2, protocol="leave-one-out")
    assert built == []
    with pytest.raises(TypeError, match="make_model must build a new model"):
        cross_validate(Popularity(), small_log(), n_splits=2)
