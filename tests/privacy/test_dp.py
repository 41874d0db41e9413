"""DP-SGD: clipping bounds every example, the kernel equals its NumPy twin, without noise or
clipping it is plain minibatch SGD, the noise is dense and of the right scale, and the privacy
accounting agrees with dp-accounting called directly."""

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanorec.models.base import Recommender
from nanorec.privacy.dp import (
    DPBiasedMF,
    compute_epsilon,
    dp_sgd_step,
    noise_multiplier_for_epsilon,
    poisson_batches,
    random_streams,
)
from nanorec.privacy.dp_kernels import (
    clip_gradients,
    clipped_gradient_sum_nb,
    clipped_gradient_sum_ref,
    example_norms,
    per_example_gradients,
)


def random_problem(seed, n_users=6, n_items=5, n_factors=3, n_rows=12, scale=1.0):
    rng = np.random.default_rng(seed)
    params = (rng.normal(3, 1, 1), rng.normal(0, scale, n_users), rng.normal(0, scale, n_items),
              rng.normal(0, scale, (n_users, n_factors)), rng.normal(0, scale, (n_items, n_factors)))
    batch = (rng.integers(0, n_users, n_rows), rng.integers(0, n_items, n_rows),
             rng.integers(1, 6, n_rows).astype(np.float64))  # users and items repeat in a batch
    return params, batch


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), max_grad_norm=st.floats(1e-3, 10.0),
       scale=st.floats(0.01, 5.0))
def test_clipped_norms_never_exceed_the_bound(seed, max_grad_norm, scale):
    params, batch = random_problem(seed, scale=scale)
    gradients, _ = per_example_gradients(params, *batch, reg=0.1)
    norms, clipped = example_norms(gradients), example_norms(clip_gradients(gradients, max_grad_norm))
    assert np.all(clipped <= max_grad_norm * (1 + 1e-12))
    small = norms <= max_grad_norm  # these are left as they were
    np.testing.assert_allclose(clipped[small], norms[small], rtol=1e-12)
    np.testing.assert_allclose(clipped[~small], max_grad_norm, rtol=1e-12)


def test_per_example_gradients_match_finite_differences():
    params, (users, items, ratings) = random_problem(0, n_rows=1)
    reg, h = 0.3, 1e-6

    def loss(theta):
        mu, b_u, b_i, P, Q = theta
        u, i = users[0], items[0]
        e = ratings[0] - (mu[0] + b_u[u] + b_i[i] + P[u] @ Q[i])
        return 0.5 * e**2 + reg / 2 * (b_u[u] ** 2 + b_i[i] ** 2 + P[u] @ P[u] + Q[i] @ Q[i])

    gradients, _ = per_example_gradients(params, users, items, ratings, reg)
    rows = (np.zeros(1, int), users, items, users, items)
    for block, (gradient, row) in enumerate(zip(gradients, rows)):
        numeric = np.zeros_like(params[block][row[0]])
        for position in np.ndindex(numeric.shape):
            shifted = [[p.copy() for p in params] for _ in range(2)]
            for sign, theta in zip((1, -1), shifted):
                theta[block][(row[0], *position)] += sign * h
            numeric[position] = (loss(shifted[0]) - loss(shifted[1])) / (2 * h)
        np.testing.assert_allclose(gradient[0], numeric, atol=1e-7)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), max_grad_norm=st.floats(0.01, 20.0))
def test_kernel_equals_numpy_twin(seed, max_grad_norm):
    params, batch = random_problem(seed)
    sums = [[np.random.default_rng(seed).normal(size=p.shape) for p in params] for _ in range(2)]
    losses = [kernel(*params, *batch, 0.1, max_grad_norm, *acc)
              for kernel, acc in zip((clipped_gradient_sum_ref, clipped_gradient_sum_nb), sums)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-12)
    for ref, nb in zip(*sums):
        np.testing.assert_allclose(nb, ref, rtol=0, atol=1e-12)


def test_without_noise_and_clipping_it_is_plain_minibatch_sgd(rated):
    options = dict(n_factors=3, n_epochs=3, batch_size=20, lr=0.5, reg=0.05, random_state=4)
    model = DPBiasedMF(noise_multiplier=0.0, max_grad_norm=1e12, **options).fit(rated)
    # the reference: the same init and batches (random_streams), unclipped gradients in a loop
    init_rng, batch_rng, _ = random_streams(4)
    mu = np.zeros(1)
    b_u, b_i = np.zeros(rated.n_users), np.zeros(rated.n_items)
    P = init_rng.normal(0, 0.1, (rated.n_users, 3))
    Q = init_rng.normal(0, 0.1, (rated.n_items, 3))
    n_steps = 3 * round(len(rated) / 20)
    for rows in poisson_batches(batch_rng, len(rated), 20 / len(rated), n_steps):
        grads = [np.zeros_like(a) for a in (mu, b_u, b_i, P, Q)]
        for u, i, r in zip(rated.user_index[rows], rated.item_index[rows], rated.ratings[rows]):
            e = r - (mu[0] + b_u[u] + b_i[i] + P[u] @ Q[i])
            grads[0][0] -= e
            grads[1][u] += -e + 0.05 * b_u[u]
            grads[2][i] += -e + 0.05 * b_i[i]
            grads[3][u] += -e * Q[i] + 0.05 * P[u]
            grads[4][i] += -e * P[u] + 0.05 * Q[i]
        for param, grad in zip((mu, b_u, b_i, P, Q), grads):
            param -= 0.5 / 20 * grad
    assert model.global_mean_ == pytest.approx(mu[0], abs=1e-12)
    for got, want in zip((model.user_bias_, model.item_bias_, model.user_factors_, model.item_factors_),
                         (b_u, b_i, P, Q)):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    clipped = DPBiasedMF(noise_multiplier=0.0, max_grad_norm=0.1, **options).fit(rated)
    assert np.abs(clipped.item_factors_ - Q).max() > 1e-4  # clipping changes the path


def test_noise_is_dense_and_has_the_stated_scale():
    params, (users, items, ratings) = random_problem(0, n_users=300, n_items=200, n_factors=10)
    before = [p.copy() for p in params]
    lr, sigma, bound, batch_size = 0.5, 2.0, 0.3, 8.0
    dp_sgd_step(params, users[:1], items[:1], ratings[:1], lr, 0.1, bound, sigma, batch_size,
                np.random.default_rng(0))
    changes = [after - old for after, old in zip(params, before)]
    assert all(np.all(change != 0) for change in changes)  # every coordinate moved
    untouched = np.delete(changes[3], users[0], axis=0)  # user rows without a gradient: noise only
    assert np.std(untouched) == pytest.approx(lr / batch_size * sigma * bound, rel=0.05)


def test_fit_learns_and_round_trips(rated, tmp_path):
    model = DPBiasedMF(n_factors=2, n_epochs=30, batch_size=40, lr=1.0, noise_multiplier=0.5,
                       rating_range=(1, 5)).fit(rated)
    assert model.epoch_losses[-1] < model.epoch_losses[0]
    users, items = rated.user_ids[rated.user_index], rated.item_ids[rated.item_index]
    predictions = model.predict(users, items)
    assert predictions.min() >= 1 and predictions.max() <= 5
    loaded = Recommender.load(model.save(tmp_path / "dp"))
    assert len(loaded.train_csr_.indices) == 0 and not hasattr(loaded, "epoch_losses")  # nothing raw
    assert not hasattr(loaded, "history_")
    np.testing.assert_array_equal(loaded.predict(users, items), predictions)
    assert (loaded.sampling_rate_, loaded.n_steps_) == (model.sampling_rate_, model.n_steps_)


def test_epsilon_matches_a_direct_dp_accounting_call(rated):
    dp_accounting = pytest.importorskip("dp_accounting")
    model = DPBiasedMF(n_epochs=2, batch_size=25, noise_multiplier=2.0).fit(rated)  # PLD is fast at 2
    q, steps = 25 / len(rated), 2 * round(len(rated) / 25)
    assert (model.sampling_rate_, model.n_steps_) == (q, steps)
    for name, accountant in (("rdp", dp_accounting.rdp.RdpAccountant()),
                             ("pld", dp_accounting.pld.PLDAccountant())):
        event = dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(2.0))
        direct = accountant.compose(event, steps).get_epsilon(1e-5)
        assert model.epsilon(1e-5, accountant=name) == pytest.approx(direct, rel=1e-9)
    assert compute_epsilon(0.0, q, steps, 1e-5) == float("inf")


def test_noise_multiplier_for_a_target_epsilon():
    pytest.importorskip("dp_accounting")
    sigma = noise_multiplier_for_epsilon(2.0, 0.01, 500, 1e-5)
    assert compute_epsilon(sigma, 0.01, 500, 1e-5) == pytest.approx(2.0, abs=1e-2)
    assert compute_epsilon(sigma * 0.95, 0.01, 500, 1e-5) > 2.0  # the smallest such sigma
    assert noise_multiplier_for_epsilon(float("inf"), 0.01, 500, 1e-5) == 0.0


def test_missing_dp_accounting_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "dp_accounting", None)  # makes the import fail
    with pytest.raises(ImportError, match=r"nanorec\[privacy\]"):
        compute_epsilon(1.0, 0.01, 100, 1e-5)


@pytest.mark.parametrize("option", [dict(batch_size=10**6), dict(max_grad_norm=0.0),
                                    dict(noise_multiplier=-1.0), dict(rating_range=(5, 1), batch_size=20)])
def test_bad_hyperparameters_raise(rated, option):
    with pytest.raises(ValueError, match=next(iter(option))):
        DPBiasedMF(**option).fit(rated)


@pytest.mark.parametrize("arguments", [(1.0, 0.0, 10, 1e-5), (1.0, 0.1, 0, 1e-5), (1.0, 0.1, 10, 1.0)])
def test_bad_accounting_arguments_raise(arguments):
    with pytest.raises(ValueError):
        compute_epsilon(*arguments)
