"""Splits: disjoint, complete, deterministic, no future leakage, the leave-last-out tie rule."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanorec.data.interactions import Interactions
from nanorec.data.split import ColdStartWarning, holdout, kfold, leave_last_out, temporal

pytestmark = pytest.mark.filterwarnings("ignore::nanorec.data.split.ColdStartWarning")


@st.composite
def timed_logs(draw, min_rows=2, max_rows=60):
    """Interactions with unique (user, item) pairs and timestamps drawn from few values (many ties)."""
    n_users, n_items = draw(st.integers(1, 6)), draw(st.integers(2, 12))
    pairs = draw(
        st.lists(
            st.tuples(st.integers(0, n_users - 1), st.integers(0, n_items - 1)),
            min_size=min_rows, max_size=max_rows, unique=True,
        )
    )
    times = draw(st.lists(st.integers(0, 4), min_size=len(pairs), max_size=len(pairs)))
    users, items = zip(*pairs)
    # a vocabulary whose index order is the reverse of the raw-id order, to tell ids from indices
    vocabulary = [f"item{k:02d}" for k in range(n_items)][::-1]
    raw_items = [f"item{i:02d}" for i in items]
    return Interactions.from_arrays(np.array(users) * 10, raw_items, timestamps=times, item_ids=vocabulary)


def row_keys(data):
    """Each row as its (user index, item index) pair; pairs are unique, so these identify rows."""
    return set(zip(data.user_index.tolist(), data.item_index.tolist()))


def assert_partition(data, train, test):
    assert row_keys(train).isdisjoint(row_keys(test))
    assert row_keys(train) | row_keys(test) == row_keys(data)
    assert train.user_ids is data.user_ids and test.item_ids is data.item_ids
    assert (test.n_users, test.n_items) == (data.n_users, data.n_items)


@settings(max_examples=50, deadline=None)
@given(data=timed_logs(), n_splits=st.integers(2, 5), seed=st.integers(0, 2**32 - 1))
def test_kfold_partitions_rows_and_is_deterministic(data, n_splits, seed):
    if n_splits > len(data):
        with pytest.raises(ValueError, match="n_splits"):
            kfold(data, n_splits, seed)
        return
    splits = kfold(data, n_splits, seed)
    assert len(splits) == n_splits
    tested = [row_keys(test) for _, test in splits]
    for (train, test) in splits:
        assert_partition(data, train, test)
        assert abs(len(test) - len(data) / n_splits) < 1
    assert set().union(*tested) == row_keys(data) and sum(map(len, tested)) == len(data)
    again = kfold(data, n_splits, seed)
    assert [row_keys(test) for _, test in again] == tested


def test_kfold_seed_changes_the_folds():
    data = Interactions.from_arrays(np.arange(100), np.arange(100) % 7)
    assert row_keys(kfold(data, 5, seed=0)[0][1]) != row_keys(kfold(data, 5, seed=1)[0][1])


@settings(max_examples=50, deadline=None)
@given(data=timed_logs(), test_size=st.floats(0.05, 0.95), seed=st.integers(0, 2**32 - 1))
def test_holdout_sizes_and_partition(data, test_size, seed):
    n_test = math.ceil(test_size * len(data))
    if not 1 <= n_test < len(data):
        with pytest.raises(ValueError, match="leaves train or test empty"):
            holdout(data, test_size, seed)
        return
    train, test = holdout(data, test_size, seed)
    assert len(test) == n_test
    assert_partition(data, train, test)
    assert row_keys(holdout(data, test_size, seed)[1]) == row_keys(test)


@settings(max_examples=50, deadline=None)
@given(data=timed_logs())
def test_leave_last_out_matches_the_stated_rule(data):
    single_rows = np.bincount(data.user_index).max() < 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train, test = leave_last_out(data)
    said = any("nothing is held out" in str(warning.message) for warning in caught)
    assert said == single_rows  # issue 15: an empty test part is said, never silent
    assert_partition(data, train, test)
    expected = set()
    for u in range(data.n_users):
        rows = np.flatnonzero(data.user_index == u)
        if len(rows) < 2:
            continue  # a single interaction stays in train
        # latest timestamp, then the larger RAW item id
        last = max(rows, key=lambda n: (data.timestamps[n], data.item_ids[data.item_index[n]]))
        expected.add((u, int(data.item_index[last])))
    assert row_keys(test) == expected
    for u, _ in expected:  # no future leakage: nothing in train is newer than the user's test row
        assert train.timestamps[train.user_index == u].max() <= test.timestamps[test.user_index == u].max()


def test_leave_last_out_tie_goes_to_the_larger_raw_item_id():
    # the vocabulary gives item 30 the smallest index: the rule follows raw ids, not indices
    data = Interactions.from_arrays([1, 1, 1], [30, 5, 20], timestamps=[7, 7, 3], item_ids=[30, 20, 5])
    train, test = leave_last_out(data)
    assert test.item_ids[test.item_index].tolist() == [30]
    assert sorted(train.item_ids[train.item_index].tolist()) == [5, 20]


@settings(max_examples=50, deadline=None)
@given(data=timed_logs(), test_size=st.floats(0.1, 0.9))
def test_temporal_never_trains_on_the_future(data, test_size):
    n_test = math.ceil(test_size * len(data))
    cutoff = np.sort(data.timestamps)[len(data) - n_test] if 1 <= n_test < len(data) else None
    if cutoff is None or cutoff == data.timestamps.min():
        with pytest.raises(ValueError):
            temporal(data, test_size=test_size)
        return
    train, test = temporal(data, test_size=test_size)
    assert_partition(data, train, test)
    assert train.timestamps.max() < test.timestamps.min()
    assert len(test) >= n_test


def test_temporal_with_an_explicit_cutoff():
    data = Interactions.from_arrays([1, 2, 3, 4], [1, 1, 1, 1], timestamps=[10, 20, 30, 40])
    train, test = temporal(data, cutoff=30)
    assert train.timestamps.tolist() == [10, 20] and test.timestamps.tolist() == [30, 40]
    with pytest.raises(ValueError, match="leaves train or test empty"):
        temporal(data, cutoff=100)


def test_time_based_splits_need_timestamps():
    data = Interactions.from_arrays([1, 2], [1, 2])
    for split in (leave_last_out, temporal):
        with pytest.raises(ValueError, match="needs timestamps"):
            split(data)


def test_cold_start_rows_are_reported_not_dropped():
    # item 9 and user 3 appear only after the cutoff
    data = Interactions.from_arrays([1, 2, 1, 3], [5, 5, 9, 5], timestamps=[1, 2, 3, 4])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train, test = temporal(data, cutoff=3)
    messages = [str(w.message) for w in caught if issubclass(w.category, ColdStartWarning)]
    assert len(messages) == 1
    assert "1 test users and 1 test items have no train rows" in messages[0]
    assert "2 of 2 test rows" in messages[0]
    assert len(test) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        seen = Interactions.from_arrays([1, 2, 1, 2], [5, 9, 9, 5], timestamps=[1, 2, 3, 4])
        temporal(seen, cutoff=3)  # every test user and item has train rows: no warning


@pytest.mark.parametrize("bad", [0, 1.0, -0.1, 1.5])
def test_bad_test_size_is_refused(bad):
    data = Interactions.from_arrays(np.arange(10), np.arange(10), timestamps=np.arange(10))
    with pytest.raises(ValueError, match="test_size"):
        holdout(data, bad)
