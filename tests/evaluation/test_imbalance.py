"""evaluate_by_popularity: buckets, per-bucket metrics worked out by hand, and agreement with evaluate."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanorec.data.interactions import Interactions
from nanorec.evaluation.imbalance import evaluate_by_popularity, popularity_buckets
from nanorec.evaluation.protocols import evaluate
from nanorec.testing.table_model import TableModel


def split_by_masks(train_mask, test_mask):
    """(train, test) of (U, I) boolean masks sharing one vocabulary (users and items = indices)."""
    users, items = np.nonzero(train_mask | test_mask)
    log = Interactions.from_arrays(users, items)
    train = log.subset(np.flatnonzero(train_mask[users, items]))
    test = log.subset(np.flatnonzero(test_mask[users, items]))
    return train, test


# ---------------------------------------------------------------------- buckets
def test_equal_row_buckets_follow_the_cumulative_share_of_rows():
    counts = np.array([1, 3, 0, 2, 6])  # order by count: 4 (6), 1 (3), 3 (2), 0 (1), 2 (0); 12 rows
    bucket, names = popularity_buckets(counts, 3)
    # rows before each item in that order: 0, 6, 9, 11, 12 -> floor(3 * rows / 12) = 0, 1, 2, 2, 2
    assert names == ["head", "mid", "tail"]
    assert bucket.tolist() == [2, 1, 2, 2, 0]
    bucket, names = popularity_buckets(counts, 2)
    assert names == ["head", "tail"] and bucket.tolist() == [1, 1, 1, 1, 0]
    assert popularity_buckets(counts, 4)[1] == ["head", "mid 1", "mid 2", "tail"]


def test_item_share_buckets_cut_the_ordered_items_and_break_ties_by_index():
    counts = np.array([5, 1, 5, 1, 0, 9, 1, 1, 1, 1])  # order: 5, 0, 2, 1, 3, 6, 7, 8, 9, 4
    bucket, names = popularity_buckets(counts, (0.2, 0.5))  # cuts after 2 and 5 items
    assert names == ["head", "mid", "tail"]
    assert np.flatnonzero(bucket == 0).tolist() == [0, 5]
    assert np.flatnonzero(bucket == 1).tolist() == [1, 2, 3]
    assert np.flatnonzero(bucket == 2).tolist() == [4, 6, 7, 8, 9]


@pytest.mark.parametrize("buckets", [1, 0, True, (), (0.5, 0.2), (0.0, 0.5), (0.5, 1.0), "head"])
def test_bad_buckets_are_refused(buckets):
    with pytest.raises(ValueError, match="buckets"):
        popularity_buckets(np.array([3, 2, 1]), buckets)


def test_buckets_by_rows_need_rows():
    with pytest.raises(ValueError, match="every item count is 0"):
        popularity_buckets(np.zeros(3, dtype=np.int64), 2)


# ---------------------------------------------------------------------- a hand-built case
def hand_built():
    """Items A..E = 0..4, users u1..u4 = 0..3.

    train: u1 A B | u2 A B | u3 A C                 counts A3 B2 C1 D0 E0 (6 rows)
    test:  u1 C   | u2 D A | u3 B E | u4 A (cold)   u2's A is a train item: not counted
    scores (A B C D E):  u1 . . 1 2 0   u2 . . 0 5 0   u3 . 3 . 3 3
    ranks: u1 C: D first -> 1;  u2 D -> 0;  u3 B: D (a tie, not relevant) first -> 1;
           u3 E: D and B (relevant, smaller index) first -> 2
    """
    train_mask, test_mask = np.zeros((4, 5), bool), np.zeros((4, 5), bool)
    for u, items in enumerate([(0, 1), (0, 1), (0, 2)]):
        train_mask[u, list(items)] = True
    for u, items in enumerate([(2,), (3, 0), (1, 4), (0,)]):
        test_mask[u, list(items)] = True
    table = np.zeros((4, 5))
    table[0, 2:] = [1, 2, 0]
    table[1, 2:] = [0, 5, 0]
    table[2, [1, 3, 4]] = 3
    return table, *split_by_masks(train_mask, test_mask)


def test_hand_built_buckets_metrics_and_shares():
    table, train, test = hand_built()
    model = TableModel(table).fit(train)
    result = evaluate_by_popularity(model, test, buckets=(0.4,), k=2, metrics=["hr@1", "hr@2", "mrr"])
    head, tail = result.buckets  # head = A, B (the top 40% of 5 items); tail = C, D, E
    assert (head.name, head.n_items, head.min_count, head.max_count) == ("head", 2, 2, 3)
    assert (tail.name, tail.n_items, tail.min_count, tail.max_count) == ("tail", 3, 0, 1)
    assert head.train_share == pytest.approx(5 / 6) and tail.train_share == pytest.approx(1 / 6)
    assert (head.n_test_rows, tail.n_test_rows, result.n_test_rows, result.n_users) == (1, 3, 4, 3)
    assert head.metrics == pytest.approx({"hr@1": 0.0, "hr@2": 1.0, "mrr": 1 / 2})  # u3 B, rank 1
    assert tail.metrics == pytest.approx({"hr@1": 1 / 3, "hr@2": 2 / 3, "mrr": (1 / 2 + 1 + 1 / 3) / 3})
    # top-2 lists (ties by index): u1 [D, C], u2 [D, C], u3 [B, D]
    assert head.slot_share == pytest.approx(1 / 6) and result.tail_share == pytest.approx(5 / 6)
    assert head.items_recommended == pytest.approx(1 / 2)  # B, not A
    assert tail.items_recommended == pytest.approx(2 / 3)  # C and D, not E
    assert result.coverage == pytest.approx(3 / 5)
    all_mrr = (1 / 2 + 1 + 1 / 2 + 1 / 3) / 4
    assert result.overall == pytest.approx({"hr@1": 1 / 4, "hr@2": 3 / 4, "mrr": all_mrr})


def test_the_report_prints_and_serializes():
    table, train, test = hand_built()
    result = evaluate_by_popularity(TableModel(table).fit(train), test, buckets=3, k=2)
    text = result.to_markdown()
    assert "| head |" in text and "| tail |" in text and "coverage@2 = 0.6000" in text
    assert list(result.overall) == ["hr@2", "ndcg@2", "mrr"]
    as_json = json.loads(json.dumps(result.to_dict()))
    assert as_json["buckets"][0]["name"] == "head" and as_json["n_test_rows"] == 4


def test_bad_arguments_are_named():
    table, train, test = hand_built()
    model = TableModel(table).fit(train)
    with pytest.raises(ValueError, match="not additive over test rows"):
        evaluate_by_popularity(model, test, metrics=["recall@5"])
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate_by_popularity(model, test, metrics=["hits"])
    with pytest.raises(ValueError, match="k must be"):
        evaluate_by_popularity(model, test, k=0)
    with pytest.raises(RuntimeError, match="not fitted"):
        evaluate_by_popularity(TableModel(table), test)
    only_cold = test.subset(np.flatnonzero(test.user_index == 3))
    with pytest.raises(ValueError, match="no test user"):
        evaluate_by_popularity(model, only_cold)


# ---------------------------------------------------------------------- against evaluate
@st.composite
def logs(draw, one_test_item):
    """Random train/test masks (cold users, seen test items) and a score table with many ties."""
    n_users, n_items = draw(st.integers(2, 7)), draw(st.integers(3, 9))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    train_mask = rng.random((n_users, n_items)) < 0.35
    test_mask = rng.random((n_users, n_items)) < 0.3
    if one_test_item:  # leave-one-out: a single test item per user
        test_mask[:] = False
        test_mask[np.arange(n_users), rng.integers(0, n_items, n_users)] = True
    train_mask[0, :], test_mask[0, 0] = False, True  # user 0 is cold
    train_mask[1, :2], test_mask[1, :2] = [True, False], [False, True]  # user 1 is evaluated
    if one_test_item:
        test_mask[1, 2:] = False
    # every user and item needs a row, or it is not in the vocabulary
    lonely_users = np.flatnonzero(~(train_mask | test_mask).any(axis=1))
    train_mask[lonely_users, rng.integers(0, n_items, len(lonely_users))] = True
    test_mask[0, ~(train_mask | test_mask).any(axis=0)] = True
    table = rng.integers(0, 3, (n_users, n_items)).astype(float)
    buckets = draw(st.sampled_from([2, 3, 4, (0.3,), (0.2, 0.6)]))
    return table, train_mask, test_mask, buckets


@settings(max_examples=40, deadline=None)
@given(case=logs(one_test_item=True), k=st.integers(1, 4))
def test_bucket_weighted_sums_reproduce_evaluate_with_one_test_item_per_user(case, k):
    table, train_mask, test_mask, buckets = case
    train, test = split_by_masks(train_mask, test_mask)
    model = TableModel(table).fit(train)
    metrics = [f"hr@{k}", f"ndcg@{k}", "mrr"]
    result = evaluate_by_popularity(model, test, buckets=buckets, k=k, metrics=metrics)
    overall = evaluate(model, test, metrics=metrics + [f"coverage@{k}"])
    for metric in metrics:
        weighted = sum(b.n_test_rows * b.metrics[metric] for b in result.buckets if b.n_test_rows)
        assert weighted / result.n_test_rows == pytest.approx(overall[metric], abs=1e-12)
        assert result.overall[metric] == pytest.approx(overall[metric], abs=1e-12)
    assert result.coverage == pytest.approx(overall[f"coverage@{k}"], abs=1e-12)
    assert result.n_users == overall.n_users == result.n_test_rows
    assert sum(b.slot_share for b in result.buckets) == pytest.approx(1.0)


def row_reference(table, train_mask, test_mask, k):
    """(item, hr@k, mrr) of every counted test row, from explicitly sorted candidate lists."""
    rows = []
    for u in range(len(table)):
        relevant = set(np.flatnonzero(test_mask[u] & ~train_mask[u]).tolist())
        if not (train_mask[u].any() and relevant):
            continue
        candidates = np.flatnonzero(~train_mask[u])
        ranked = sorted(candidates, key=lambda i: (-table[u, i], i in relevant, i)).index
        rows += [(i, float(ranked(i) < k), 1.0 / (ranked(i) + 1)) for i in sorted(relevant)]
    return np.array(rows)


@settings(max_examples=40, deadline=None)
@given(case=logs(one_test_item=False), k=st.integers(1, 4), chunk_size=st.integers(1, 3))
def test_each_bucket_is_the_mean_over_its_test_rows(case, k, chunk_size):
    table, train_mask, test_mask, buckets = case
    train, test = split_by_masks(train_mask, test_mask)
    model = TableModel(table).fit(train)
    result = evaluate_by_popularity(model, test, buckets=buckets, k=k, metrics=[f"hr@{k}", "mrr"],
                                    chunk_size=chunk_size)
    bucket, _ = popularity_buckets(train_mask.sum(axis=0), buckets)
    reference = row_reference(table, train_mask, test_mask, k)
    row_bucket = bucket[reference[:, 0].astype(int)]
    for b, summary in enumerate(result.buckets):
        rows = reference[row_bucket == b]
        assert summary.n_test_rows == len(rows)
        assert summary.n_items == np.sum(bucket == b)
        if len(rows):
            assert summary.metrics[f"hr@{k}"] == pytest.approx(rows[:, 1].mean(), abs=1e-12)
            assert summary.metrics["mrr"] == pytest.approx(rows[:, 2].mean(), abs=1e-12)
        else:
            assert np.isnan(summary.metrics["mrr"])
    assert result.overall["mrr"] == pytest.approx(reference[:, 2].mean(), abs=1e-12)
