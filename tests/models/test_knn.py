"""ItemKNN: kernel == twin, neighbours and scores == a dense brute force, a known answer, errors."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanorec.data.interactions import Interactions
from nanorec.models.knn import ItemKNN, item_neighbours_nb, item_neighbours_ref


def random_log(seed, n_users, n_items, density):
    """A random binary user-item log with at least one interaction, and its dense (U, I) matrix
    (over the users and items present)."""
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < density
    mask[rng.integers(n_users), rng.integers(n_items)] = True
    users, items = np.nonzero(mask)
    data = Interactions.from_arrays(users, items)
    return data, data.to_dense().astype(np.float64)


def brute_force_scores(X, k, shrink):
    """Dense reference: cosine S (I, I), each row j cut to its k best (stable: ties -> smaller
    index), then scores = X @ S_k."""
    co_counts = X.T @ X
    n_users_of = np.diag(co_counts).copy()
    S = co_counts / (np.sqrt(np.outer(n_users_of, n_users_of)) + shrink)
    np.fill_diagonal(S, 0.0)
    S_k = np.zeros_like(S)
    for j in range(len(S)):
        best = np.argsort(-S[j], kind="stable")[:k]
        S_k[j, best] = S[j, best]
    return X @ S_k, S_k


log_shapes = dict(
    seed=st.integers(0, 2**32 - 1),
    n_users=st.integers(1, 8),
    n_items=st.integers(1, 8),
    density=st.floats(0.1, 0.9),
    k=st.integers(1, 9),
    shrink=st.sampled_from([0.0, 0.5, 10.0]),
)


def csc_arrays(model):
    """The (indptr, indices, item_indptr, item_users) a fitted ItemKNN gives its kernel."""
    csr = model.train_csr_
    by_item = np.argsort(csr.indices, kind="stable")
    item_users = np.repeat(np.arange(model.n_users_), np.diff(csr.indptr))[by_item]
    item_indptr = np.r_[0, np.cumsum(np.bincount(csr.indices, minlength=model.n_items_))]
    return csr.indptr, csr.indices, item_indptr, item_users


@settings(max_examples=50, deadline=None)
@given(**log_shapes)
def test_kernel_equals_twin(seed, n_users, n_items, density, k, shrink):
    data, _ = random_log(seed, n_users, n_items, density)
    model = ItemKNN().fit(data)
    k = min(k, data.n_items)
    neighbours_nb, similarities_nb = item_neighbours_nb(*csc_arrays(model), k, shrink)
    neighbours_ref, similarities_ref = item_neighbours_ref(*csc_arrays(model), k, shrink)
    np.testing.assert_array_equal(neighbours_nb, neighbours_ref)
    np.testing.assert_array_equal(similarities_nb, similarities_ref)


@settings(max_examples=50, deadline=None)
@given(**log_shapes)
def test_scores_equal_dense_brute_force(seed, n_users, n_items, density, k, shrink):
    data, X = random_log(seed, n_users, n_items, density)
    model = ItemKNN(k=k, shrink=shrink).fit(data)
    expected_scores, S_k = brute_force_scores(X, k, shrink)
    scores = model.score_items(np.arange(data.n_users))
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-6, atol=1e-6)
    # the kept neighbours with a positive similarity are those of the brute force
    rows = np.repeat(np.arange(data.n_items), model.neighbours_.shape[1])
    kept = model.similarities_.ravel() > 0
    np.testing.assert_allclose(
        model.similarities_.ravel()[kept], S_k[rows[kept], model.neighbours_.ravel()[kept]], rtol=1e-6
    )
    assert np.count_nonzero(S_k) == np.count_nonzero(kept)


def test_known_answer_block_structure():
    # users 0-2 like items 0-2, users 3-5 like items 3-5; user 0 has not seen item 2 yet
    pairs = [(u, i) for u in range(3) for i in range(3)]
    pairs += [(u, i) for u in range(3, 6) for i in range(3, 6)]
    pairs.remove((0, 2))
    users, items = zip(*pairs)
    model = ItemKNN(k=2).fit(Interactions.from_arrays(users, items))
    top_items, _ = model.recommend(0, k=1)
    assert top_items[0] == 2
    # items 0 and 1 share all 3 users; item 2 has users 1, 2: sim(0, 2) = 2 / sqrt(3 * 2)
    assert model.similarities_[0, 0] == pytest.approx(1.0)
    assert model.neighbours_[0, 0] == 1
    assert model.similarities_[2, 0] == pytest.approx(2 / np.sqrt(6))


def test_shrink_and_k_change_the_scores():
    data, _ = random_log(0, 30, 20, 0.3)
    users = np.arange(data.n_users)
    reference = ItemKNN(k=5, shrink=0.0).fit(data).score_items(users)
    assert not np.allclose(reference, ItemKNN(k=5, shrink=5.0).fit(data).score_items(users))
    assert not np.allclose(reference, ItemKNN(k=2, shrink=0.0).fit(data).score_items(users))


def test_user_without_history_scores_zero():
    data = Interactions.from_arrays([1, 1, 2], [10, 20, 10])
    train = data.subset([0, 1])  # user 2 has no train rows
    model = ItemKNN().fit(train)
    np.testing.assert_array_equal(model.score_items(np.array([1]))[0], 0.0)


@pytest.mark.parametrize("options, message", [
    (dict(k=0), "ItemKNN: k must be an integer >= 1, got 0"),
    (dict(k=2.5), "ItemKNN: k must be an integer >= 1, got 2.5"),
    (dict(shrink=-1.0), "ItemKNN: shrink must be a finite number in [0, inf), got -1.0"),
    (dict(shrink="a"), "ItemKNN: shrink must be a finite number in [0, inf), got 'a'"),
])
def test_bad_hyperparameters_are_named(options, message):
    data, _ = random_log(0, 5, 5, 0.5)
    with pytest.raises(ValueError, match=re.escape(message)):
        ItemKNN(**options).fit(data)
