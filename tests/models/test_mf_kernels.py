"""The fused MF epoch kernels and their reference, the composed network (nanorec.models.mf).

fused=True and fused=False fits of BiasedMF and BPRMF from one seed hold the same parameters and
losses in float64 (every option that reaches the kernel drawn); one step by hand, and each step is
SGD on the stated objective, through the kernel and through the network alike; weights of one are
no weights; the hardest of m candidates is the negative; the loss falls. Then the grouping of rows
by user and the user-block order of an epoch: kernel == twin, a permutation that keeps each user's
rows together.

The kernels are compiled with fastmath (the sums of the dot products are reordered), so in float64
a kernel matches the network to relative 1e-9 rather than bit for bit.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanorec.models.mf import BPRMF, BiasedMF, BiasedMFNetwork, BPRMFNetwork
from nanorec.models.mf_kernels import (
    biased_mf_epoch_nb,
    bpr_epoch_nb,
    rows_by_user_nb,
    rows_by_user_ref,
    user_block_order_nb,
    user_block_order_ref,
)
from nanorec.nn.losses import BPRLoss, MSELoss
from nanorec.optim.optimizers import SGD
from nanorec.testing.gradcheck import gradcheck
from nanorec.training import Samples, train_epoch

seeds = st.integers(0, 2**32 - 1)


# ---------------------------------------------------------------------- fused == composed
@pytest.mark.parametrize("tail_weight", [0.0, 0.8])
@settings(max_examples=15, deadline=None)
@given(seed=seeds, n_users=st.integers(2, 6), n_items=st.integers(2, 6),
       n_factors=st.integers(1, 4), n_epochs=st.integers(2, 3), lr=st.floats(0.005, 0.1),
       reg=st.floats(0.0, 0.1))
def test_biased_mf_fused_kernel_trains_as_the_composed_network(
        tail_weight, seed, n_users, n_items, n_factors, n_epochs, lr, reg, small_log,
        fit_fused_and_composed):
    train = small_log(seed, n_users, n_items, ratings=True)
    fit_fused_and_composed(BiasedMF, train, n_factors=n_factors, n_epochs=n_epochs, lr=lr, reg=reg,
                           tail_weight=tail_weight, random_state=seed % 1000)


@pytest.mark.parametrize("distribution", ["uniform", "popularity"])
@pytest.mark.parametrize("negative_candidates", [1, 3])
@pytest.mark.parametrize("n_negatives", [1, 2])
@settings(max_examples=6, deadline=None)
@given(seed=seeds, n_users=st.integers(2, 6), n_items=st.integers(3, 7),
       n_factors=st.integers(1, 4), n_epochs=st.integers(2, 3),
       tail_weight=st.sampled_from([0.0, 0.8]), recent_share=st.sampled_from([0.0, 0.5]))
def test_bpr_fused_kernel_trains_as_the_composed_network(
        distribution, negative_candidates, n_negatives, seed, n_users, n_items, n_factors,
        n_epochs, tail_weight, recent_share, small_log, fit_fused_and_composed):
    train = small_log(seed, n_users, n_items)
    fit_fused_and_composed(
        BPRMF, train, n_factors=n_factors, n_epochs=n_epochs, lr=0.1, reg=0.01,
        n_negatives=n_negatives, negative_candidates=negative_candidates, tail_weight=tail_weight,
        distribution=distribution, popularity_exponent=0.5, recent_share=recent_share,
        random_state=seed % 1000)


# ---------------------------------------------------------------------- one epoch, two ways
def biased_mf_epoch_by_network(users, items, ratings, order, mu, bu, bi, P, Q, lr, reg,
                               weights=None):
    """biased_mf_epoch_nb's epoch (same arguments, arrays updated in place, sum of w e^2 out)
    taken by BiasedMFNetwork with MSELoss(weight w / 2) and SGD(lr, weight_decay=reg), one sample
    per step: BiasedMF's composed path."""
    network = BiasedMFNetwork(len(bu), len(bi), P.shape[1], mu, dtype=P.dtype)
    tables = {"user_bias": bu, "item_bias": bi, "user_factors": P, "item_factors": Q}
    for name, array in tables.items():
        network.table(name)[...] = array
    w = np.ones(len(users)) if weights is None else weights
    samples = Samples((users, items), ratings[:, None], 0.5 * w, order, 1)
    mean = train_epoch(network, MSELoss(), SGD(network, lr=lr, weight_decay=reg), samples)["loss"]
    for name, array in tables.items():
        array[...] = network.table(name)
    return 2 * mean * len(order)


def bpr_epoch_by_network(users, pos_items, neg_items, P, Q, item_bias, lr, reg, weights=None):
    """bpr_epoch_nb's epoch (same arguments, arrays updated in place, weighted loss sum out) taken
    by BPRMFNetwork with BPRLoss and SGD(lr, weight_decay=reg), one triple per step."""
    network = BPRMFNetwork(len(P), len(Q), P.shape[1], dtype=P.dtype)
    arrays = (network.user_factors, P), (network.item_factors, Q), (network.item_bias, item_bias)
    for mine, theirs in arrays:
        mine[...] = theirs
    candidates = neg_items.reshape(len(users), -1)
    samples = Samples((users, pos_items, candidates), None, weights, np.arange(len(users)), 1)
    mean = train_epoch(network, BPRLoss(), SGD(network, lr=lr, weight_decay=reg), samples)["loss"]
    for mine, theirs in arrays:
        theirs[...] = mine
    return mean * len(users)


BIASED_MF_EPOCHS = [biased_mf_epoch_nb, biased_mf_epoch_by_network]
BPR_EPOCHS = [bpr_epoch_nb, bpr_epoch_by_network]
KERNEL_AND_NETWORK = ["kernel", "network"]


@pytest.mark.parametrize("epoch", BIASED_MF_EPOCHS, ids=KERNEL_AND_NETWORK)
def test_biased_mf_one_step_by_hand(epoch):
    # mu=3, bu=0.5, bi=-0.5, P[0]=[1, 2], Q[0]=[2, 1]: r_hat = 3 + 0 + 4 = 7, r = 8, e = 1
    P, Q = np.array([[1.0, 2.0]]), np.array([[2.0, 1.0]])
    bu, bi = np.array([0.5]), np.array([-0.5])
    ids = np.zeros(1, np.int32)
    sse = epoch(ids, ids, np.array([8.0]), np.zeros(1, np.int64), 3.0, bu, bi, P, Q, 0.1, 0.5)
    assert sse == pytest.approx(1.0)
    assert bu[0] == pytest.approx(0.5 + 0.1 * (1 - 0.5 * 0.5))  # 0.575
    assert bi[0] == pytest.approx(-0.5 + 0.1 * (1 + 0.5 * 0.5))  # -0.375
    np.testing.assert_allclose(P[0], [1 + 0.1 * (2 - 0.5), 2 + 0.1 * (1 - 1.0)])  # [1.15, 2.0]
    np.testing.assert_allclose(Q[0], [2 + 0.1 * (1 - 1.0), 1 + 0.1 * (2 - 0.5)])  # [2.0, 1.15]


@pytest.mark.parametrize("epoch", BPR_EPOCHS, ids=KERNEL_AND_NETWORK)
def test_bpr_one_step_by_hand(epoch):
    # P[0]=[1, 0], Q[0]=[1, 1], Q[1]=[0, 1], b=[0, 0]: x = 1 - 0 = 1, g = sigmoid(-1)
    P, Q, b = np.array([[1.0, 0.0]]), np.array([[1.0, 1.0], [0.0, 1.0]]), np.zeros(2)
    u, i, j = (np.array([v], np.int32) for v in (0, 0, 1))
    loss = epoch(u, i, j, P, Q, b, 0.1, 0.5)
    g = 1 / (1 + np.e)
    assert loss == pytest.approx(np.log1p(np.exp(-1.0)))
    np.testing.assert_allclose(P[0], [1 + 0.1 * (g * 1 - 0.5), 0 + 0.1 * (g * 0)])
    np.testing.assert_allclose(Q[0], [1 + 0.1 * (g - 0.5), 1 + 0.1 * (0 - 0.5)])
    np.testing.assert_allclose(Q[1], [0 + 0.1 * (-g), 1 + 0.1 * (0 - 0.5)])
    np.testing.assert_allclose(b, [0.1 * g, -0.1 * g])


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


@pytest.mark.parametrize("epoch", BIASED_MF_EPOCHS, ids=KERNEL_AND_NETWORK)
@settings(max_examples=15, deadline=None)
@given(seed=seeds, n_factors=st.integers(1, 4))
def test_biased_mf_step_is_sgd_on_stated_objective(epoch, seed, n_factors):
    # w/2 (r - r_hat)^2 + reg/2 (bu^2 + bi^2 + |P[u]|^2 + |Q[i]|^2), one rating, user and item
    rng = np.random.default_rng(seed)
    r, w, mu, reg = rng.uniform(1, 5), rng.uniform(0, 3), 3.0, 0.3
    ids = np.zeros(1, np.int32)

    def objective(bu, bi, P, Q):
        e = r - (mu + bu[0] + bi[0] + P[0] @ Q[0])
        return 0.5 * w * e**2 + 0.5 * reg * (bu[0] ** 2 + bi[0] ** 2 + P[0] @ P[0] + Q[0] @ Q[0])

    def step(bu, bi, P, Q, lr):
        epoch(ids, ids, np.array([r]), np.zeros(1, np.int64), mu, bu, bi, P, Q, lr, reg,
              np.array([w]))

    params = [rng.normal(size=1), rng.normal(size=1), rng.normal(size=(1, n_factors)),
              rng.normal(size=(1, n_factors))]
    objective_step_check(step, objective, params, lr=1e-3)


@pytest.mark.parametrize("epoch", BPR_EPOCHS, ids=KERNEL_AND_NETWORK)
@settings(max_examples=15, deadline=None)
@given(seed=seeds, n_factors=st.integers(1, 4))
def test_bpr_step_is_sgd_on_stated_objective(epoch, seed, n_factors):
    # w log(1 + exp(-x)) + reg/2 (|P[u]|^2 + |Q[i]|^2 + |Q[j]|^2 + b_i^2 + b_j^2), user 0, items 0 > 1
    rng = np.random.default_rng(seed)
    reg, w = 0.3, rng.uniform(0, 3)
    u, i, j = (np.array([v], np.int32) for v in (0, 0, 1))

    def objective(P, Q, b):
        x = P[0] @ (Q[0] - Q[1]) + b[0] - b[1]
        return w * np.log1p(np.exp(-x)) + 0.5 * reg * (np.sum(P**2) + np.sum(Q**2) + np.sum(b**2))

    def step(P, Q, b, lr):
        epoch(u, i, j, P, Q, b, lr, reg, np.array([w]))

    params = [rng.normal(size=(1, n_factors)), rng.normal(size=(2, n_factors)), rng.normal(size=2)]
    objective_step_check(step, objective, params, lr=1e-3)


def candidate_negatives(seed, pos, n_items, n_candidates):
    """(n, m) candidates per positive, each != its positive, repeats allowed."""
    rng = np.random.default_rng(seed)
    shifts = rng.integers(1, n_items, (len(pos), n_candidates))
    return ((pos[:, None] + shifts) % n_items).astype(np.int32)


@pytest.mark.parametrize("epoch", BPR_EPOCHS, ids=KERNEL_AND_NETWORK)
@settings(max_examples=15, deadline=None)
@given(seed=seeds, n_candidates=st.integers(1, 5))
def test_bpr_candidates_step_on_the_highest_scored_one(epoch, seed, n_candidates):
    # brute force: score every candidate before the step, then one plain BPR step on the best
    rng = np.random.default_rng(seed)
    P, Q, b = rng.normal(0, 0.5, (3, 3)), rng.normal(0, 0.5, (8, 3)), rng.normal(0, 0.5, 8)
    users, pos = np.array([1], np.int32), np.array([0], np.int32)
    candidates = candidate_negatives(seed, pos, 8, n_candidates)
    scores = [P[1] @ Q[c] + b[c] for c in candidates[0]]
    best = candidates[0, [np.argmax(scores)]]
    after_best = [a.copy() for a in (P, Q, b)]
    loss_best = epoch(users, pos, best, *after_best, 0.05, 0.01)
    after = [a.copy() for a in (P, Q, b)]
    loss = epoch(users, pos, candidates, *after, 0.05, 0.01)
    assert loss == pytest.approx(loss_best, rel=1e-12)
    for name, got, expected in zip("PQb", after, after_best):
        np.testing.assert_allclose(got, expected, rtol=1e-12, err_msg=name)
    assert loss_best >= max(np.log1p(np.exp(-(P[1] @ (Q[0] - Q[c]) + b[0] - b[c])))
                            for c in candidates[0]) - 1e-12  # the largest loss of the m


# ---------------------------------------------------------------------- the kernels alone
def random_problem(seed, n_users, n_items, n_factors, n, dtype):
    """Random ids, ratings 1..5, a visiting order with repeats, and small random parameters."""
    rng = np.random.default_rng(seed)
    data = dict(
        users=rng.integers(0, n_users, n).astype(np.int32),
        items=rng.integers(0, n_items, n).astype(np.int32),
        ratings=rng.uniform(1, 5, n).astype(dtype),
        order=rng.integers(0, n, 2 * n),
    )
    params = dict(
        bu=rng.normal(0, 0.1, n_users).astype(dtype),
        bi=rng.normal(0, 0.1, n_items).astype(dtype),
        P=rng.normal(0, 0.1, (n_users, n_factors)).astype(dtype),
        Q=rng.normal(0, 0.1, (n_items, n_factors)).astype(dtype),
    )
    return data, params


def bpr_triples(seed, n_users, n_items, n):
    """Random (u, i, j) with j != i."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n).astype(np.int32)
    pos = rng.integers(0, n_items, n).astype(np.int32)
    neg = ((pos + rng.integers(1, n_items, n)) % n_items).astype(np.int32)
    return users, pos, neg


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_weights_of_one_are_no_weights(dtype):
    """weights=None is w = 1: an array of ones gives the same epoch, up to the last bits, since
    fastmath may contract w * e * q into another fused multiply-add than e * q (that is why the
    models pass None at tail_weight=0)."""
    data, params = random_problem(0, 5, 6, 4, 40, dtype)
    ones = np.ones(40, dtype)
    tol = dict(rtol=1e-12 if dtype == np.float64 else 1e-6)

    def biased(weights):
        after = {name: value.copy() for name, value in params.items()}
        sse = biased_mf_epoch_nb(data["users"], data["items"], data["ratings"], data["order"], 3.0,
                                 after["bu"], after["bi"], after["P"], after["Q"], 0.01, 0.02,
                                 weights)
        return sse, after

    def bpr(weights):
        after = {name: params[name].copy() for name in ("P", "Q", "bi")}
        loss = bpr_epoch_nb(*bpr_triples(0, 5, 6, 40), after["P"], after["Q"], after["bi"], 0.05,
                            0.01, weights)
        return loss, after

    for run in (biased, bpr):
        loss, after = run(None)
        loss_ones, after_ones = run(ones)
        np.testing.assert_allclose(loss_ones, loss, **tol)
        for name in after:
            np.testing.assert_allclose(after_ones[name], after[name], err_msg=name, **tol)


@pytest.mark.parametrize("epoch", BPR_EPOCHS, ids=KERNEL_AND_NETWORK)
def test_bpr_loss_is_stable_for_huge_margins(epoch):
    P, Q, b = np.array([[100.0]]), np.array([[100.0], [-100.0]]), np.zeros(2)
    u, i, j = (np.array([v], np.int32) for v in (0, 0, 1))
    assert epoch(u, i, j, P.copy(), Q.copy(), b.copy(), 0.01, 0.0) == pytest.approx(0.0)
    assert epoch(u, j, i, P.copy(), Q.copy(), b.copy(), 0.01, 0.0) == pytest.approx(2e4)


def planted_rating_arrays(seed, n_users=40, n_items=30, n_factors=3, n=600):
    """Ratings from a planted rank-3 model plus noise: SGD must fit them better epoch after epoch."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n).astype(np.int32)
    items = rng.integers(0, n_items, n).astype(np.int32)
    truth_P, truth_Q = rng.normal(size=(n_users, n_factors)), rng.normal(size=(n_items, n_factors))
    ratings = 3 + np.sum(truth_P[users] * truth_Q[items], axis=1) + rng.normal(0, 0.1, n)
    return users, items, ratings


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_biased_mf_loss_falls(dtype):
    users, items, ratings = planted_rating_arrays(0)
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


# ---------------------------------------------------------------------- the order of an epoch
@settings(max_examples=50, deadline=None)
@given(seed=seeds, lengths=st.lists(st.integers(0, 6), min_size=1, max_size=8))
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
@given(seed=seeds, n_users=st.integers(1, 6), n=st.integers(0, 30), m=st.integers(0, 40))
def test_rows_by_user_kernel_equals_twin(seed, n_users, n, m):
    rng = np.random.default_rng(seed)
    user_index = rng.integers(0, n_users, n)
    rows = rng.integers(0, n, m) if n else np.zeros(0, np.int64)  # repeats allowed
    grouped = rows_by_user_nb(user_index, rows, n_users)
    np.testing.assert_array_equal(grouped, rows_by_user_ref(user_index, rows, n_users))
    assert np.all(np.diff(user_index[grouped]) >= 0)
