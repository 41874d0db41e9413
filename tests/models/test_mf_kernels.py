"""The fused MF epoch kernels: Numba kernel == NumPy twin (with and without loss weights), one step ==
the stated gradient, weights of 1 == no weights bit for bit, loss falls; the grouping of rows by
user and the user-block order of an epoch: kernel == twin, a permutation that keeps each user's
rows together.

The kernels are compiled with fastmath (the sums of the dot products are reordered), so in float64
a kernel matches its twin to rtol=1e-9 rather than bit for bit; in float32 to rtol=1e-4.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanorec.models.mf_kernels import (
    biased_mf_epoch_nb,
    biased_mf_epoch_ref,
    bpr_epoch_nb,
    bpr_epoch_ref,
    rows_by_user_nb,
    rows_by_user_ref,
    user_block_order_nb,
    user_block_order_ref,
)
from nanorec.testing.gradcheck import gradcheck

FLOAT64_TOL = dict(rtol=1e-9, atol=1e-12)
FLOAT32_TOL = dict(rtol=1e-4, atol=1e-5)


def random_problem(seed, n_users, n_items, n_factors, n, dtype):
    """Random ids, ratings 1..5, loss weights in [0, 3), a visiting order with repeats, and small
    random parameters."""
    rng = np.random.default_rng(seed)
    data = dict(
        users=rng.integers(0, n_users, n).astype(np.int32),
        items=rng.integers(0, n_items, n).astype(np.int32),
        ratings=rng.uniform(1, 5, n).astype(dtype),
        order=rng.integers(0, n, 2 * n),
        weights=rng.uniform(0, 3, n).astype(dtype),
    )
    params = dict(
        bu=rng.normal(0, 0.1, n_users).astype(dtype),
        bi=rng.normal(0, 0.1, n_items).astype(dtype),
        P=rng.normal(0, 0.1, (n_users, n_factors)).astype(dtype),
        Q=rng.normal(0, 0.1, (n_items, n_factors)).astype(dtype),
    )
    return data, params


def run_biased(kernel, data, params, weights=None, mu=3.0, lr=0.01, reg=0.02):
    params = {name: value.copy() for name, value in params.items()}
    sse = kernel(
        data["users"], data["items"], data["ratings"], data["order"], mu,
        params["bu"], params["bi"], params["P"], params["Q"], lr, reg, weights,
    )
    return sse, params


def bpr_triples(seed, n_users, n_items, n):
    """Random (u, i, j) with j != i."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n).astype(np.int32)
    pos = rng.integers(0, n_items, n).astype(np.int32)
    neg = ((pos + rng.integers(1, n_items, n)) % n_items).astype(np.int32)
    return users, pos, neg


def run_bpr(kernel, triples, params, weights=None, lr=0.05, reg=0.01):
    P, Q, b = params["P"].copy(), params["Q"].copy(), params["bi"].copy()
    loss = kernel(*triples, P, Q, b, lr, reg, weights)
    return loss, dict(P=P, Q=Q, bi=b)


sizes = dict(
    seed=st.integers(0, 2**32 - 1),
    n_users=st.integers(1, 6),
    n_items=st.integers(2, 6),
    n_factors=st.integers(1, 5),
    n=st.integers(1, 40),
)


@settings(max_examples=50, deadline=None)
@given(**sizes, dtype=st.sampled_from([np.float64, np.float32]), weighted=st.booleans())
def test_biased_mf_kernel_equals_twin(seed, n_users, n_items, n_factors, n, dtype, weighted):
    data, params = random_problem(seed, n_users, n_items, n_factors, n, dtype)
    weights = data["weights"] if weighted else None
    sse_ref, after_ref = run_biased(biased_mf_epoch_ref, data, params, weights)
    sse_nb, after_nb = run_biased(biased_mf_epoch_nb, data, params, weights)
    tol = FLOAT64_TOL if dtype == np.float64 else FLOAT32_TOL
    np.testing.assert_allclose(sse_nb, sse_ref, **tol)
    for name in params:
        assert after_nb[name].dtype == dtype
        np.testing.assert_allclose(after_nb[name], after_ref[name], err_msg=name, **tol)


@settings(max_examples=50, deadline=None)
@given(**sizes, dtype=st.sampled_from([np.float64, np.float32]))
def test_bpr_kernel_equals_twin(seed, n_users, n_items, n_factors, n, dtype):
    _, params = random_problem(seed, n_users, n_items, n_factors, 1, dtype)
    triples = bpr_triples(seed, n_users, n_items, n)
    loss_ref, after_ref = run_bpr(bpr_epoch_ref, triples, params)
    loss_nb, after_nb = run_bpr(bpr_epoch_nb, triples, params)
    tol = FLOAT64_TOL if dtype == np.float64 else FLOAT32_TOL
    np.testing.assert_allclose(loss_nb, loss_ref, **tol)
    for name in after_ref:
        np.testing.assert_allclose(after_nb[name], after_ref[name], err_msg=name, **tol)


def candidate_negatives(seed, pos, n_items, n_candidates):
    """(n, m) candidates per positive, each != its positive, repeats allowed."""
    rng = np.random.default_rng(seed)
    shifts = rng.integers(1, n_items, (len(pos), n_candidates))
    return ((pos[:, None] + shifts) % n_items).astype(np.int32)


@settings(max_examples=50, deadline=None)
@given(**sizes, n_candidates=st.integers(1, 4), dtype=st.sampled_from([np.float64, np.float32]),
       weighted=st.booleans())
def test_bpr_kernel_equals_twin_with_candidate_negatives(seed, n_users, n_items, n_factors, n,
                                                         n_candidates, dtype, weighted):
    data, params = random_problem(seed, n_users, n_items, n_factors, n, dtype)
    weights = data["weights"] if weighted else None  # one per triple
    users, pos, _ = bpr_triples(seed, n_users, n_items, n)
    triples = (users, pos, candidate_negatives(seed + 1, pos, n_items, n_candidates))
    loss_ref, after_ref = run_bpr(bpr_epoch_ref, triples, params, weights)
    loss_nb, after_nb = run_bpr(bpr_epoch_nb, triples, params, weights)
    tol = FLOAT64_TOL if dtype == np.float64 else FLOAT32_TOL
    np.testing.assert_allclose(loss_nb, loss_ref, **tol)
    for name in after_ref:
        np.testing.assert_allclose(after_nb[name], after_ref[name], err_msg=name, **tol)


@pytest.mark.parametrize("biased, bpr, exact", [(biased_mf_epoch_ref, bpr_epoch_ref, True),
                                                (biased_mf_epoch_nb, bpr_epoch_nb, False)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_weights_of_one_are_no_weights(biased, bpr, exact, dtype):
    """weights=None is w = 1: an array of ones gives the same epoch, bit for bit in the twins. The
    kernels may differ in the last bits, since fastmath may contract w * e * q into another
    fused multiply-add than e * q; that is why the models pass None at tail_weight=0."""
    data, params = random_problem(0, 5, 6, 4, 40, dtype)
    ones = np.ones(40, dtype)
    tol = dict(rtol=0, atol=0) if exact else dict(rtol=1e-12 if dtype == np.float64 else 1e-6)
    for run, inputs in ((run_biased, (biased, data)),
                        (run_bpr, (bpr, bpr_triples(0, 5, 6, 40)))):
        loss, after = run(*inputs, params)
        loss_ones, after_ones = run(*inputs, params, ones)
        np.testing.assert_allclose(loss_ones, loss, **tol)
        for name in after:
            np.testing.assert_allclose(after_ones[name], after[name], err_msg=name, **tol)


@pytest.mark.parametrize("kernel", [bpr_epoch_ref, bpr_epoch_nb])
@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_candidates=st.integers(1, 5))
def test_bpr_candidates_step_on_the_highest_scored_one(kernel, seed, n_candidates):
    # brute force: score every candidate before the step, then one plain BPR step on the best
    _, params = random_problem(seed, 3, 8, 3, 1, np.float64)
    users, pos = np.array([1], np.int32), np.array([0], np.int32)
    candidates = candidate_negatives(seed, pos, 8, n_candidates)
    P, Q, b = params["P"], params["Q"], params["bi"]
    scores = [P[1] @ Q[c] + b[c] for c in candidates[0]]
    best = candidates[0, [np.argmax(scores)]]
    loss_best, after_best = run_bpr(kernel, (users, pos, best), params)
    loss, after = run_bpr(kernel, (users, pos, candidates), params)
    assert loss == pytest.approx(loss_best, rel=1e-12)
    for name in after:
        np.testing.assert_allclose(after[name], after_best[name], rtol=1e-12, err_msg=name)
    assert loss_best >= max(np.log1p(np.exp(-(P[1] @ (Q[0] - Q[c]) + b[0] - b[c])))
                            for c in candidates[0]) - 1e-12  # the largest loss of the m


@pytest.mark.parametrize("kernel", [biased_mf_epoch_ref, biased_mf_epoch_nb])
def test_biased_mf_one_step_by_hand(kernel):
    # mu=3, bu=0.5, bi=-0.5, P[0]=[1, 2], Q[0]=[2, 1]: r_hat = 3 + 0 + 4 = 7, r = 8, e = 1
    P, Q = np.array([[1.0, 2.0]]), np.array([[2.0, 1.0]])
    bu, bi = np.array([0.5]), np.array([-0.5])
    ids = np.zeros(1, np.int32)
    sse = kernel(ids, ids, np.array([8.0]), np.zeros(1, np.int64), 3.0, bu, bi, P, Q, 0.1, 0.5)
    assert sse == pytest.approx(1.0)
    assert bu[0] == pytest.approx(0.5 + 0.1 * (1 - 0.5 * 0.5))  # 0.575
    assert bi[0] == pytest.approx(-0.5 + 0.1 * (1 + 0.5 * 0.5))  # -0.375
    np.testing.assert_allclose(P[0], [1 + 0.1 * (2 - 0.5), 2 + 0.1 * (1 - 1.0)])  # [1.15, 2.0]
    np.testing.assert_allclose(Q[0], [2 + 0.1 * (1 - 1.0), 1 + 0.1 * (2 - 0.5)])  # [2.0, 1.15]


def objective_step_check(step, objective, params, lr):
    """A step with learning rate lr must move params by -lr * grad(objective), checked by gradcheck.

    ``step(params, lr)`` applies one SGD step in place; the analytic gradient is read off as
    (before - after) / lr, exact since the update is linear in lr.
    """

    def stepped_gradient(*arrays):
        after = [a.copy() for a in arrays]
        step(*after, lr)
        return [(before - moved) / lr for before, moved in zip(arrays, after)]

    gradcheck(objective, *params, grad=stepped_gradient).check()


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_factors=st.integers(1, 4))
def test_biased_mf_step_is_sgd_on_stated_objective(seed, n_factors):
    # w/2 (r - r_hat)^2 + reg/2 (bu^2 + bi^2 + |P[u]|^2 + |Q[i]|^2), one rating, user and item
    rng = np.random.default_rng(seed)
    r, w, mu, reg = rng.uniform(1, 5), rng.uniform(0, 3), 3.0, 0.3
    ids = np.zeros(1, np.int32)

    def objective(bu, bi, P, Q):
        e = r - (mu + bu[0] + bi[0] + P[0] @ Q[0])
        return 0.5 * w * e**2 + 0.5 * reg * (bu[0] ** 2 + bi[0] ** 2 + P[0] @ P[0] + Q[0] @ Q[0])

    def step(bu, bi, P, Q, lr):
        biased_mf_epoch_nb(ids, ids, np.array([r]), np.zeros(1, np.int64), mu, bu, bi, P, Q, lr, reg,
                           np.array([w]))

    params = [rng.normal(size=1), rng.normal(size=1), rng.normal(size=(1, n_factors)),
              rng.normal(size=(1, n_factors))]
    objective_step_check(step, objective, params, lr=1e-3)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_factors=st.integers(1, 4))
def test_bpr_step_is_sgd_on_stated_objective(seed, n_factors):
    # w log(1 + exp(-x)) + reg/2 (|P[u]|^2 + |Q[i]|^2 + |Q[j]|^2 + b_i^2 + b_j^2), user 0, items 0 > 1
    rng = np.random.default_rng(seed)
    reg, w = 0.3, rng.uniform(0, 3)
    u, i, j = (np.array([v], np.int32) for v in (0, 0, 1))

    def objective(P, Q, b):
        x = P[0] @ (Q[0] - Q[1]) + b[0] - b[1]
        return w * np.log1p(np.exp(-x)) + 0.5 * reg * (np.sum(P**2) + np.sum(Q**2) + np.sum(b**2))

    def step(P, Q, b, lr):
        bpr_epoch_nb(u, i, j, P, Q, b, lr, reg, np.array([w]))

    params = [rng.normal(size=(1, n_factors)), rng.normal(size=(2, n_factors)), rng.normal(size=2)]
    objective_step_check(step, objective, params, lr=1e-3)


def test_bpr_loss_is_stable_for_huge_margins():
    P, Q, b = np.array([[100.0]]), np.array([[100.0], [-100.0]]), np.zeros(2)
    u, i, j = (np.array([v], np.int32) for v in (0, 0, 1))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert bpr_epoch_ref(u, i, j, P.copy(), Q.copy(), b.copy(), 0.01, 0.0) == pytest.approx(0.0)
        assert bpr_epoch_ref(u, j, i, P.copy(), Q.copy(), b.copy(), 0.01, 0.0) == pytest.approx(2e4)
    assert bpr_epoch_nb(u, j, i, P.copy(), Q.copy(), b.copy(), 0.01, 0.0) == pytest.approx(2e4)


def planted_ratings(seed, n_users=40, n_items=30, n_factors=3, n=600):
    """Ratings from a planted rank-3 model plus noise: SGD must fit them better epoch after epoch."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n).astype(np.int32)
    items = rng.integers(0, n_items, n).astype(np.int32)
    truth_P, truth_Q = rng.normal(size=(n_users, n_factors)), rng.normal(size=(n_items, n_factors))
    ratings = 3 + np.sum(truth_P[users] * truth_Q[items], axis=1) + rng.normal(0, 0.1, n)
    return users, items, ratings


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_biased_mf_loss_falls(dtype):
    users, items, ratings = planted_ratings(0)
    rng = np.random.default_rng(1)
    P, Q = rng.normal(0, 0.1, (40, 5)).astype(dtype), rng.normal(0, 0.1, (30, 5)).astype(dtype)
    bu, bi = np.zeros(40, dtype), np.zeros(30, dtype)
    mu = float(ratings.mean())
    losses = [
        biased_mf_epoch_nb(users, items, ratings.astype(dtype), rng.permutation(len(ratings)), mu,
                           bu, bi, P, Q, 0.02, 0.01)
        for _ in range(60)
    ]
    baseline_sse = np.sum((ratings - mu) ** 2)
    assert losses[0] < baseline_sse * 1.01
    assert losses[-1] < 0.2 * losses[0]
    assert np.mean(losses[-5:]) < np.mean(losses[:5])


def test_bpr_loss_falls():
    users, pos, neg = bpr_triples(0, 20, 15, 300)
    pos = (users % 5).astype(np.int32)  # every user prefers one of five items ...
    neg = np.where(neg == pos, (neg + 1) % 15, neg).astype(np.int32)  # ... to the others
    rng = np.random.default_rng(1)
    P, Q, b = rng.normal(0, 0.1, (20, 4)), rng.normal(0, 0.1, (15, 4)), np.zeros(15)
    losses = [bpr_epoch_nb(users, pos, neg, P, Q, b, 0.05, 0.001) for _ in range(30)]
    chance = 300 * np.log(2)  # the loss of margins x = 0
    assert losses[0] < chance
    assert losses[-1] < 0.1 * chance
    assert np.mean(losses[-5:]) < np.mean(losses[:5])


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), lengths=st.lists(st.integers(0, 6), min_size=1, max_size=8))
def test_user_block_order_kernel_equals_twin_and_keeps_blocks_whole(seed, lengths):
    rng = np.random.default_rng(seed)
    starts = np.r_[0, np.cumsum(lengths)]
    user_order = rng.permutation(len(lengths))
    shifts = rng.integers(0, 2**62, len(lengths))
    order = user_block_order_nb(starts, user_order, shifts)
    np.testing.assert_array_equal(order, user_block_order_ref(starts, user_order, shifts))
    np.testing.assert_array_equal(np.sort(order), np.arange(starts[-1]))  # a permutation
    owner = np.repeat(np.arange(len(lengths)), lengths)[order]  # the user of each visited row
    visited = [user for user in user_order if lengths[user] > 0]
    np.testing.assert_array_equal(owner, np.repeat(visited, [lengths[u] for u in visited]))
    first = np.cumsum([lengths[u] for u in visited]) - [lengths[u] for u in visited]
    for user, at in zip(visited, first):  # each block starts at its shift, then wraps around
        assert order[at] == starts[user] + shifts[user] % lengths[user]


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_users=st.integers(1, 6), n=st.integers(0, 30),
       m=st.integers(0, 40))
def test_rows_by_user_kernel_equals_twin(seed, n_users, n, m):
    rng = np.random.default_rng(seed)
    user_index = rng.integers(0, n_users, n)
    rows = rng.integers(0, n, m) if n else np.zeros(0, np.int64)  # repeats allowed
    grouped = rows_by_user_nb(user_index, rows, n_users)
    np.testing.assert_array_equal(grouped, rows_by_user_ref(user_index, rows, n_users))
    assert np.all(np.diff(user_index[grouped]) >= 0)
