"""Beyond-accuracy metrics against plain-Python loops over the definitions, worked examples, and
the clear errors of bad input; tail share (evaluate_by_popularity) against its definition too."""

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nanorec.data.interactions import Interactions
from nanorec.evaluation.imbalance import evaluate_by_popularity
from nanorec.metrics import (
    catalogue_coverage,
    gini_index,
    intra_list_diversity,
    novelty,
    recommendation_counts,
    shannon_entropy,
)
from nanorec.testing.table_model import TableModel


# ----------------------------------------------------------------------------- brute force
def brute_counts(lists, n_items):
    counts = [0] * n_items
    for items in lists:
        for item in items:
            counts[item] += 1
    return counts


def brute_coverage(lists, n_items):
    return len({item for items in lists for item in items}) / n_items


def brute_gini(counts):
    """Mean absolute difference over all ordered pairs, divided by twice the mean."""
    n, total = len(counts), sum(counts)
    return sum(abs(a - b) for a in counts for b in counts) / (2 * n * total)


def brute_entropy(counts):
    total = sum(counts)
    return -sum(c / total * math.log2(c / total) for c in counts if c > 0)


def brute_novelty(items, item_counts, n_users):
    return sum(-math.log2((item_counts[i] + 1) / (n_users + 1)) for i in items) / len(items)


def brute_ild(items, features):
    distances = []
    for a in range(len(items)):
        for b in range(a + 1, len(items)):
            x, y = features[items[a]], features[items[b]]
            dot = sum(p * q for p, q in zip(x, y))
            norms = math.sqrt(sum(p * p for p in x)) * math.sqrt(sum(q * q for q in y))
            distances.append(1 - dot / norms)
    return sum(distances) / len(distances)


@st.composite
def list_sets(draw, min_length=1):
    """(lists of distinct items, I): lists of different lengths >= min_length over I items."""
    n_items = draw(st.integers(max(2, min_length), 12))
    n_lists = draw(st.integers(1, 6))
    lists = []
    for _ in range(n_lists):
        length = draw(st.integers(min_length, n_items))
        lists.append(draw(st.permutations(range(n_items)))[:length])
    return [np.array(items, dtype=np.int64) for items in lists], n_items


counts_arrays = st.lists(st.integers(0, 20), min_size=1, max_size=15).filter(any)


# ----------------------------------------------------------------------------- properties
@settings(max_examples=60, deadline=None)
@given(case=list_sets(min_length=0))
def test_counts_and_coverage_match_brute_force(case):
    lists, n_items = case
    assert recommendation_counts(lists, n_items).tolist() == brute_counts(lists, n_items)
    assert catalogue_coverage(lists, n_items) == pytest.approx(brute_coverage(lists, n_items))


@settings(max_examples=60, deadline=None)
@given(counts=counts_arrays)
def test_gini_and_entropy_match_brute_force(counts):
    assert gini_index(np.array(counts)) == pytest.approx(brute_gini(counts), abs=1e-12)
    assert shannon_entropy(np.array(counts)) == pytest.approx(brute_entropy(counts), abs=1e-12)
    assert 0 <= gini_index(np.array(counts)) <= 1 - 1 / len(counts) + 1e-12
    assert 0 <= shannon_entropy(np.array(counts)) <= math.log2(len(counts)) + 1e-12


@settings(max_examples=60, deadline=None)
@given(case=list_sets(), data=st.data())
def test_novelty_matches_brute_force(case, data):
    lists, n_items = case
    n_users = data.draw(st.integers(1, 30))
    item_counts = data.draw(st.lists(st.integers(0, n_users), min_size=n_items, max_size=n_items))
    got = novelty(lists, np.array(item_counts), n_users)
    expected = [brute_novelty(items, item_counts, n_users) for items in lists]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    as_matrix = [items[:1] for items in lists]  # a (N, 1) array gives what its rows give
    np.testing.assert_allclose(novelty(np.array(as_matrix), np.array(item_counts), n_users),
                               novelty(as_matrix, np.array(item_counts), n_users))


@settings(max_examples=60, deadline=None)
@given(case=list_sets(min_length=2), n_features=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_intra_list_diversity_matches_the_pairwise_loop(case, n_features, seed):
    lists, n_items = case
    features = np.random.default_rng(seed).integers(-2, 3, (n_items, n_features)).astype(float)
    used = np.concatenate(lists)
    assume(np.all(np.abs(features[used]).sum(axis=1) > 0))
    got = intra_list_diversity(lists, features)
    expected = [brute_ild(items, features.tolist()) for items in lists]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


# ----------------------------------------------------------------------------- worked examples
def test_hand_worked_values():
    # counts 0 0 1 1 2: sum of |ci - cj| over ordered pairs = 2 (1 * 2 + 2 * 2 + 1 * 2 + ...) = 20,
    # G = 20 / (2 * 5 * 4) = 0.5; p = 1/4, 1/4, 1/2: H = 1/2 + 1/2 + 1/2 = 1.5 bits
    assert gini_index(np.array([0, 0, 1, 1, 2])) == pytest.approx(0.5)
    assert shannon_entropy(np.array([0, 0, 1, 1, 2])) == pytest.approx(1.5)
    assert gini_index(np.full(7, 3)) == 0.0 and shannon_entropy(np.full(8, 3)) == 3.0
    assert gini_index(np.array([0, 0, 0, 5])) == pytest.approx(1 - 1 / 4)
    assert shannon_entropy(np.array([0, 9, 0])) == 0.0
    # 3 users; item 0 seen by all (0 bits), item 1 by none (log2 4 = 2 bits), item 2 by one (1 bit)
    np.testing.assert_allclose(novelty([[0, 1], [2]], np.array([3, 0, 1]), 3), [1.0, 1.0])
    one_hot = np.array([[1, 0], [0, 1], [1, 0], [1, 1]])
    # [0, 1]: orthogonal (1); [0, 2]: parallel (0); [0, 1, 3]: (1 + (1 - s) + (1 - s)) / 3, s = 1/√2
    s = 1 / math.sqrt(2)
    np.testing.assert_allclose(intra_list_diversity([[0, 1], [0, 2], [0, 1, 3]], one_hot),
                               [1.0, 0.0, (3 - 2 * s) / 3], atol=1e-12)


def test_bad_input_gets_clear_errors():
    with pytest.raises(ValueError, match="every count is 0"):
        gini_index(np.zeros(3))
    with pytest.raises(ValueError, match="finite numbers >= 0"):
        shannon_entropy(np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="finite numbers >= 0"):
        gini_index(np.array([]))
    with pytest.raises(TypeError, match="1-D array of numbers"):
        gini_index(np.array([["a"]]))
    with pytest.raises(ValueError, match=r"lie in 0..3"):
        recommendation_counts([np.array([4])], 4)
    with pytest.raises(TypeError, match="integer indices"):
        catalogue_coverage([np.array([0.5])], 4)
    with pytest.raises(ValueError, match="2-D array"):
        catalogue_coverage(np.array([1, 2]), 4)
    with pytest.raises(ValueError, match="list 1 holds item 2 more than once"):
        novelty([[0], [2, 2]], np.array([1, 1, 1]), 2)
    with pytest.raises(ValueError, match="at least one item"):
        novelty([[0], []], np.array([1, 1, 1]), 2)
    with pytest.raises(ValueError, match="0..n_users=2"):
        novelty([[0]], np.array([3, 1, 1]), 2)
    with pytest.raises(ValueError, match="n_users must be an integer >= 1"):
        novelty([[0]], np.array([0]), 0)
    with pytest.raises(ValueError, match="lists of 2 items or more; list 1 has 1"):
        intra_list_diversity([[0, 1], [1]], np.eye(2))
    with pytest.raises(ValueError, match="item 2 has all-zero features"):
        intra_list_diversity([[0, 2]], np.array([[1.0], [1.0], [0.0]]))
    with pytest.raises(ValueError, match="NaN or inf"):
        intra_list_diversity([[0, 1]], np.array([[1.0], [np.nan]]))
    with pytest.raises(TypeError, match=r"2-D numeric array \(I, D\)"):
        intra_list_diversity([[0, 1]], np.ones(2))


# ----------------------------------------------------------------------------- tail share
@settings(max_examples=40, deadline=None)
@given(n_users=st.integers(2, 6), n_items=st.integers(3, 9), k=st.integers(1, 4),
       seed=st.integers(0, 2**32 - 1))
def test_tail_share_is_the_tail_items_share_of_the_top_k_slots(n_users, n_items, k, seed):
    rng = np.random.default_rng(seed)
    train_mask = rng.random((n_users, n_items)) < 0.4
    test_mask = ~train_mask & (rng.random((n_users, n_items)) < 0.4)
    train_mask[:, 0] |= ~train_mask.any(axis=1)  # every user has train rows ...
    test_mask[0, ~(train_mask | test_mask).any(axis=0)] = True  # ... and every item a row
    test_mask &= ~train_mask
    assume(test_mask.any())
    users, items = np.nonzero(train_mask | test_mask)
    log = Interactions.from_arrays(users, items)
    train = log.subset(np.flatnonzero(train_mask[users, items]))
    test = log.subset(np.flatnonzero(test_mask[users, items]))
    table = rng.integers(0, 3, (n_users, n_items)).astype(float)
    result = evaluate_by_popularity(TableModel(table).fit(train), test, buckets=(0.5,), k=k)

    counts = train_mask.sum(axis=0)
    by_popularity = sorted(range(n_items), key=lambda i: (-counts[i], i))
    tail = set(by_popularity[round(0.5 * n_items):])
    slots = tail_slots = 0
    for u in range(n_users):
        if not test_mask[u].any():
            continue
        candidates = [i for i in range(n_items) if not train_mask[u, i]]
        top = sorted(candidates, key=lambda i: (-table[u, i], i))[:k]
        slots += len(top)
        tail_slots += sum(i in tail for i in top)
    assert result.tail_share == pytest.approx(tail_slots / slots, abs=1e-12)
