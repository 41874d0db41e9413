"""Metrics against brute-force definitions (loops over positions and pairs) and worked examples."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanorec.metrics.beyond_accuracy import catalogue_coverage
from nanorec.metrics.ranking import (
    average_precision_from_hits,
    hit_rate_at_k,
    map_at_k,
    mrr,
    ndcg_at_k,
    ndcg_from_hits,
    precision_at_k,
    recall_at_k,
    recall_from_hits,
)
from nanorec.metrics.rating import accuracy, auc, average_ranks, mae, rmse


# ----------------------------------------------------------------------------- brute force
def brute_precision(ranked, relevant, k):
    return sum(1 for item in list(ranked)[:k] if item in relevant) / k


def brute_recall(ranked, relevant, k):
    return sum(1 for item in list(ranked)[:k] if item in relevant) / len(relevant)


def brute_hit_rate(ranked, relevant, k):
    return 1.0 if any(item in relevant for item in list(ranked)[:k]) else 0.0


def brute_ndcg(ranked, relevant, k):
    top = list(ranked)[:k]
    dcg = sum(1 / math.log2(rank + 1) for rank, item in enumerate(top, 1) if item in relevant)
    idcg = sum(1 / math.log2(rank + 1) for rank in range(1, min(k, len(relevant)) + 1))
    return dcg / idcg


def brute_average_precision(ranked, relevant, k):
    found, total = 0, 0.0
    for rank, item in enumerate(list(ranked)[:k], 1):
        if item in relevant:
            found += 1
            total += found / rank
    return total / min(k, len(relevant))


def brute_reciprocal_rank(ranked, relevant):
    for rank, item in enumerate(ranked, 1):
        if item in relevant:
            return 1 / rank
    return 0.0


def brute_auc(labels, scores):
    positives = [s for s, y in zip(scores, labels) if y]
    negatives = [s for s, y in zip(scores, labels) if not y]
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


@st.composite
def rankings(draw):
    """A ranked list (distinct items from 0..I-1, maybe not all), a relevant set and a k."""
    n_items = draw(st.integers(1, 25))
    ranked = draw(st.permutations(range(n_items)))[: draw(st.integers(0, n_items))]
    relevant = draw(st.sets(st.integers(0, n_items - 1), min_size=1))
    k = draw(st.integers(1, n_items + 3))
    return np.array(ranked, dtype=np.int64), relevant, k


TOP_K = [
    (precision_at_k, brute_precision),
    (recall_at_k, brute_recall),
    (hit_rate_at_k, brute_hit_rate),
    (ndcg_at_k, brute_ndcg),
    (map_at_k, brute_average_precision),
]


@pytest.mark.parametrize("metric, brute", TOP_K, ids=lambda f: getattr(f, "__name__", ""))
@settings(max_examples=50, deadline=None)
@given(case=rankings())
def test_top_k_metrics_match_brute_force(metric, brute, case):
    ranked, relevant, k = case
    assert metric(ranked, relevant, k) == pytest.approx(brute(ranked, relevant, k), abs=1e-12)
    assert metric(ranked, np.array(sorted(relevant)), k) == metric(ranked, relevant, k)


@settings(max_examples=50, deadline=None)
@given(case=rankings())
def test_mrr_matches_brute_force(case):
    ranked, relevant, _ = case
    assert mrr(ranked, relevant) == pytest.approx(brute_reciprocal_rank(ranked, relevant))


@settings(max_examples=50, deadline=None)
@given(
    n_users=st.integers(1, 6),
    k=st.integers(1, 8),
    seed=st.integers(0, 2**32 - 1),
)
def test_from_hits_forms_work_row_by_row_on_a_batch(n_users, k, seed):
    rng = np.random.default_rng(seed)
    hits = rng.random((n_users, k)) < 0.4
    n_relevant = hits.sum(axis=1) + rng.integers(1, 4, n_users)
    for batch_metric in (ndcg_from_hits, average_precision_from_hits, recall_from_hits):
        batch = batch_metric(hits, n_relevant)
        one_by_one = [batch_metric(hits[u], n_relevant[u]) for u in range(n_users)]
        np.testing.assert_allclose(batch, one_by_one, rtol=1e-12)


def test_hand_worked_ranking_example():
    # ranked [3, 1, 7, 5], relevant {1, 5}: hits at ranks 2 and 4.
    ranked, relevant = np.array([3, 1, 7, 5]), {1, 5}
    # DCG@4 = 1/log2(3) + 1/log2(5) = 0.630930 + 0.430677 = 1.061606
    # IDCG@4 = 1/log2(2) + 1/log2(3) = 1 + 0.630930 = 1.630930  -> NDCG = 0.650920
    assert ndcg_at_k(ranked, relevant, 4) == pytest.approx(0.650920, abs=1e-6)
    # k = 1: DCG = 0, the ideal list would hold a hit at rank 1
    assert ndcg_at_k(ranked, relevant, 1) == 0.0
    # AP@4 = (P@2 + P@4) / min(4, 2) = (1/2 + 2/4) / 2 = 0.5
    assert map_at_k(ranked, relevant, 4) == pytest.approx(0.5)
    # AP@2 = P@2 / min(2, 2) = 0.25
    assert map_at_k(ranked, relevant, 2) == pytest.approx(0.25)
    assert precision_at_k(ranked, relevant, 2) == 0.5
    assert recall_at_k(ranked, relevant, 2) == 0.5
    assert hit_rate_at_k(ranked, relevant, 1) == 0.0
    assert hit_rate_at_k(ranked, relevant, 2) == 1.0
    assert mrr(ranked, relevant) == 0.5
    assert mrr(ranked, {0}) == 0.0


def test_map_normalises_by_min_k_and_n_relevant():
    # 5 relevant items, a perfect top 3: AP@3 = (1 + 1 + 1) / min(3, 5) = 1, not 3 / 5
    assert map_at_k(np.arange(5), set(range(5)), 3) == 1.0
    # precision still divides by k when the list is shorter than k
    assert precision_at_k(np.array([0]), {0}, 4) == 0.25


def test_catalogue_coverage():
    assert catalogue_coverage(np.array([[0, 1], [1, 2]]), 8) == 3 / 8
    assert catalogue_coverage([np.array([4]), np.array([4, 5, 6])], 4 + 3) == 3 / 7
    with pytest.raises(ValueError, match="0..3"):
        catalogue_coverage([np.array([4])], 4)
    with pytest.raises(ValueError, match="n_items"):
        catalogue_coverage([np.array([0])], 0)


@settings(max_examples=50, deadline=None)
@given(
    labels=st.lists(st.booleans(), min_size=2, max_size=30),
    seed=st.integers(0, 2**32 - 1),
)
def test_auc_matches_pairwise_count_with_ties(labels, seed):
    labels = np.array(labels)
    if labels.all() or not labels.any():
        labels[0] = not labels[0]
    scores = np.random.default_rng(seed).integers(0, 4, len(labels)).astype(float)  # many ties
    assert auc(labels, scores) == pytest.approx(brute_auc(labels, scores), abs=1e-12)


def test_hand_worked_pointwise_examples():
    # pairs (0.9 vs 0.9) tie = 0.5, (0.9 vs 0.1) = 1, (0.3 vs 0.9) = 0, (0.3 vs 0.1) = 1 -> 2.5 / 4
    assert auc([1, 0, 1, 0], [0.9, 0.9, 0.3, 0.1]) == pytest.approx(0.625)
    np.testing.assert_array_equal(average_ranks(np.array([10.0, 20, 20, 30])), [1, 2.5, 2.5, 4])
    # errors 1, 0, 2: RMSE = sqrt(5 / 3), MAE = 1
    assert rmse([1, 2, 3], [2, 2, 5]) == pytest.approx(math.sqrt(5 / 3))
    assert mae([1, 2, 3], [2, 2, 5]) == pytest.approx(1.0)
    assert accuracy([1, 0, 1, 1], [1, 1, 1, 0]) == 0.5


@pytest.mark.parametrize("bad_k", [0, -1, 1.5, True, "3"])
def test_bad_k_is_rejected(bad_k):
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        ndcg_at_k(np.array([0, 1]), {1}, bad_k)


def test_bad_rankings_and_relevant_sets_are_rejected():
    with pytest.raises(ValueError, match="more than once"):
        precision_at_k(np.array([1, 2, 1]), {1}, 2)
    with pytest.raises(ValueError, match="relevant is empty"):
        recall_at_k(np.array([1, 2]), set(), 2)
    with pytest.raises(ValueError, match="1-D"):
        hit_rate_at_k(np.array([[1, 2]]), {1}, 1)
    with pytest.raises(TypeError, match="integer"):
        mrr(np.array([0.5, 1.5]), {1})


def test_bad_predictions_are_rejected():
    with pytest.raises(ValueError, match="y_pred holds NaN"):
        rmse([1.0, 2.0], [1.0, np.nan])
    with pytest.raises(ValueError, match="y_score holds NaN"):
        auc([1, 0], [np.nan, 0.0])
    with pytest.raises(ValueError, match="y_true has 2 values but y_pred has 3"):
        mae([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="empty"):
        rmse([], [])
    with pytest.raises(ValueError, match="both classes"):
        auc([1, 1], [0.2, 0.3])
    with pytest.raises(ValueError, match="binary"):
        auc([2, 0], [0.2, 0.3])
