"""DP-SGD: each example's gradient from the network's own backward equals finite differences of its
loss, clipping bounds every example, without noise or clipping a fit is plain minibatch SGD, the
noise is dense and of the right scale (also on an empty batch), and the privacy accounting agrees
with dp-accounting called directly."""

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanorec.privacy import dp
from nanorec.models.base import Recommender
from nanorec.models.mf import BiasedMFNetwork
from nanorec.nn.layers import Dense
from nanorec.nn.losses import MSELoss
from nanorec.privacy.dp import (
    DPBiasedMF,
    compute_epsilon,
    noise_multiplier_for_epsilon,
    per_example_gradients,
    poisson_batches,
    privatize,
    random_streams,
)

PART_OF = {"user_factors.W": "user", "user_bias.W": "user", "item_factors.W": "item",
           "item_bias.W": "item", "global_bias.W": "global"}


def random_problem(seed, n_users=6, n_items=5, n_factors=3, n_rows=12, scale=1.0):
    """A float64 BiasedMFNetwork with a learned mean and random tables (biases too), and a batch
    (users, items, ratings (N, 1)) whose users and items repeat."""
    rng = np.random.default_rng(seed)
    network = BiasedMFNetwork(n_users, n_items, n_factors, 3.0, scale, rng, np.float64,
                              learn_mean=True)
    for name in ("user_bias.W", "item_bias.W", "global_bias.W"):
        network.params[name][...] = rng.normal(0, scale, network.params[name].shape)
    batch = (rng.integers(0, n_users, n_rows), rng.integers(0, n_items, n_rows),
             rng.integers(1, 6, (n_rows, 1)).astype(np.float64))
    return network, batch


def backward_of_the_batch_mean(network, users, items, ratings):
    """forward + backward of the batch mean of 1/2 e^2 (DPBiasedMF's loss): grads left in place."""
    loss = MSELoss()
    network.train()
    loss.forward(network.forward((users, items)), ratings, np.full(len(users), 0.5))
    network.backward(loss.backward())


def rows_read(users, items, n):
    """The row of each table example n reads."""
    return {"user": users[n], "item": items[n], "global": 0}


def dense_sum(network, gradients, weights):
    """{name: (R, D) array}: sum over the examples of weights[n] * g_n, table by table."""
    total = {}
    for name, param in network.params.items():
        rows, values = gradients[name]
        total[name] = np.zeros_like(param)
        np.add.at(total[name], rows, weights.reshape(-1, 1) * values)
    return total


def example_norms(gradients, n_examples):
    squared = np.zeros(n_examples)
    for _, values in gradients.values():
        squared += np.square(values).reshape(n_examples, -1).sum(axis=1)
    return np.sqrt(squared)


# ------------------------------------------------------------------ per-example gradients
def test_per_example_gradients_match_finite_differences():
    network, (users, items, ratings) = random_problem(0, n_rows=5)
    users[1], items[3] = users[0], items[0]  # a user and an item read by two examples
    reg, h = 0.3, 1e-6
    backward_of_the_batch_mean(network, users, items, ratings)
    gradients = per_example_gradients(network, len(users), scale=len(users), reg=reg)
    assert set(gradients) == set(network.params)  # mu ("global_bias") included
    params = network.params

    def example_loss(n):
        """1/2 e^2 + reg/2 (|rows read|^2), from the tables directly (mu's row too)."""
        u, i = users[n], items[n]
        read = [params["user_factors.W"][u], params["item_factors.W"][i], params["user_bias.W"][u],
                params["item_bias.W"][i], params["global_bias.W"][0]]
        r_hat = (params["global_bias.W"][0, 0] + params["user_bias.W"][u, 0]
                 + params["item_bias.W"][i, 0] + read[0] @ read[1])
        return 0.5 * (ratings[n, 0] - r_hat) ** 2 + reg / 2 * sum(row @ row for row in read)

    for n in range(len(users)):
        for name, (rows, values) in gradients.items():
            row = rows_read(users, items, n)[PART_OF[name]]
            assert rows[n] == row
            numeric = np.zeros(params[name].shape[1])
            for k in range(len(numeric)):
                saved = params[name][row, k]
                params[name][row, k] = saved + h
                plus = example_loss(n)
                params[name][row, k] = saved - h
                minus = example_loss(n)
                params[name][row, k] = saved
                numeric[k] = (plus - minus) / (2 * h)
            np.testing.assert_allclose(values[n], numeric, rtol=1e-6, atol=1e-8, err_msg=name)


def test_per_example_gradients_need_a_row_per_example():
    network = Dense(3, 1, rng=0, dtype=np.float64)  # a dense weight is shared by the batch
    network.forward(np.ones((4, 3)))
    network.backward(np.ones((4, 1)))
    with pytest.raises(ValueError, match="read once per example"):
        per_example_gradients(network, 4)


# ------------------------------------------------------------------ clipping
@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_rows=st.integers(1, 8),
       max_grad_norm=st.floats(1e-3, 10.0), scale=st.floats(0.01, 5.0))
def test_clipped_norms_never_exceed_the_bound(seed, n_rows, max_grad_norm, scale):
    network, (users, items, ratings) = random_problem(seed, n_rows=n_rows, scale=scale)
    backward_of_the_batch_mean(network, users, items, ratings)
    gradients = per_example_gradients(network, n_rows, n_rows, reg=0.1)
    norms = example_norms(gradients, n_rows)
    factors = np.minimum(1.0, max_grad_norm / norms)
    assert np.all(factors * norms <= max_grad_norm * (1 + 1e-12))  # every clipped example
    expected = dense_sum(network, gradients, factors)

    privatize(network, n_rows, 0.1, max_grad_norm, 0.0, np.random.default_rng(seed))
    for name, grad in network.grads.items():  # the sum of the clipped examples, no noise
        np.testing.assert_allclose(grad.to_dense(), expected[name], rtol=1e-12, atol=1e-15)
    if n_rows == 1:  # one example: |G| = min(|g|, C)
        total = np.sqrt(sum(np.square(grad.to_dense()).sum() for grad in network.grads.values()))
        assert total == pytest.approx(min(norms[0], max_grad_norm), rel=1e-12)


# ------------------------------------------------------------------ the fit
@pytest.mark.parametrize("reg", [0.0, 0.05])  # 0.05: reg on b_u, b_i, P, Q, never on mu
def test_without_noise_and_clipping_it_is_plain_minibatch_sgd(rated, reg):
    options = dict(n_factors=3, n_epochs=3, batch_size=20, lr=0.5, reg=reg, random_state=4)
    model = DPBiasedMF(noise_multiplier=0.0, max_grad_norm=1e12, **options).fit(rated)
    # the reference: the same init and batches (random_streams), unclipped gradients in a loop
    init_rng, batch_rng, _ = random_streams(4)
    mu = np.zeros(1)  # no rating_range: mu starts at 0
    b_u, b_i = np.zeros(rated.n_users), np.zeros(rated.n_items)
    P = init_rng.normal(0, 0.1, (rated.n_users, 3))
    Q = init_rng.normal(0, 0.1, (rated.n_items, 3))
    n_steps = 3 * round(len(rated) / 20)
    for rows in poisson_batches(batch_rng, len(rated), 20 / len(rated), n_steps):
        grads = [np.zeros_like(a) for a in (mu, b_u, b_i, P, Q)]
        for u, i, r in zip(rated.user_index[rows], rated.item_index[rows], rated.ratings[rows]):
            e = r - (mu[0] + b_u[u] + b_i[i] + P[u] @ Q[i])
            grads[0][0] -= e
            grads[1][u] += -e + reg * b_u[u]
            grads[2][i] += -e + reg * b_i[i]
            grads[3][u] += -e * Q[i] + reg * P[u]
            grads[4][i] += -e * P[u] + reg * Q[i]
        for param, grad in zip((mu, b_u, b_i, P, Q), grads):
            param -= 0.5 / 20 * grad
    assert model.global_mean_ == pytest.approx(mu[0], abs=1e-12)
    for got, want in zip((model.user_bias_, model.item_bias_, model.user_factors_, model.item_factors_),
                         (b_u, b_i, P, Q)):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    clipped = DPBiasedMF(noise_multiplier=0.0, max_grad_norm=0.1, **options).fit(rated)
    assert np.abs(clipped.item_factors_ - Q).max() > 1e-4  # clipping changes the path


def test_noise_is_dense_and_has_the_stated_scale():
    network, (users, items, ratings) = random_problem(0, n_users=300, n_items=200, n_factors=10,
                                                      n_rows=1)
    sigma, bound, reg = 2.0, 0.3, 0.1
    backward_of_the_batch_mean(network, users, items, ratings)
    norm = example_norms(per_example_gradients(network, 1, 1, reg), 1)[0]
    clipped = dense_sum(network, per_example_gradients(network, 1, 1, reg),
                        np.array([min(1.0, bound / norm)]))
    privatize(network, 1, reg, bound, sigma, np.random.default_rng(5))
    replay = np.random.default_rng(5)  # the noise, drawn table by table in params order
    for name, param in network.params.items():
        total = network.grads[name].to_dense()
        assert np.all(total != 0), name  # every coordinate, touched by the example or not
        noise = sigma * bound * replay.standard_normal(param.shape)
        np.testing.assert_allclose(total - noise, clipped[name], rtol=0, atol=1e-12)
    untouched = np.delete(network.grads["user_factors.W"].to_dense(), users[0], axis=0)
    assert np.std(untouched) == pytest.approx(sigma * bound, rel=0.05)


def test_an_empty_poisson_batch_still_steps_with_the_noise_alone(rated, monkeypatch):
    def no_rows(rng, n_rows, sampling_rate, n_steps):
        for _ in range(n_steps):
            yield np.zeros(0, np.int64)

    monkeypatch.setattr(dp, "poisson_batches", no_rows)
    options = dict(n_factors=2, n_epochs=2, batch_size=50, lr=1.0, max_grad_norm=0.5,
                   noise_multiplier=1.5, rating_range=(1, 5), random_state=3)
    model = DPBiasedMF(**options).fit(rated)
    assert model.epoch_losses == [0.0, 0.0]
    init_rng, _, noise_rng = random_streams(3)
    expected = BiasedMFNetwork(rated.n_users, rated.n_items, 2, 3.0, 0.1, init_rng, np.float64,
                               learn_mean=True).params
    for _ in range(model.n_steps_):  # each step: theta -= lr / B * z, z ~ N(0, (sigma C)^2)
        for param in expected.values():
            param -= 1.0 / 50 * 1.5 * 0.5 * noise_rng.standard_normal(param.shape)
    assert model.n_steps_ == 2 * round(len(rated) / 50)
    for name, param in model.network_.params.items():
        np.testing.assert_allclose(param, expected[name], rtol=0, atol=1e-12)


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
    assert loaded.global_mean_ == model.global_mean_


def test_dp_models_cannot_be_fine_tuned(rated):
    model = DPBiasedMF(n_epochs=1, batch_size=25).fit(rated)
    with pytest.raises(NotImplementedError, match="privacy budget"):
        model.finetune(rated)


# ------------------------------------------------------------------ accounting
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
