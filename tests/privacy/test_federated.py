"""FederatedMF: a full round with one local step is exactly full-batch gradient descent; client
sampling touches only the sampled users; it learns; save/load keeps it; bad options fail."""

import numpy as np
import pytest

from nanorec.data.datasets import load
from nanorec.data.split import holdout
from nanorec.models.base import Recommender
from nanorec.privacy.federated import FederatedMF

EXACT = dict(n_factors=3, client_fraction=1.0, local_epochs=1, server_lr=1.0, lr=0.4, reg=0.05,
             random_state=3, dtype=np.float64, clip=False)


def gradient_descent_step(model, data, lr, reg):
    """One step of full-batch GD on F = mean over the N ratings of
    1/2 e^2 + reg/2 (b_u^2 + b_i^2 + |P[u]|^2 + |Q[i]|^2): step lr on (b_i, Q) and lr * N / n_u
    on user u's (b_u, P[u]); a plain loop over ratings, independent of the vectorized rounds."""
    b_u, b_i = model.user_bias_.copy(), model.item_bias_.copy()
    P, Q = model.user_factors_.copy(), model.item_factors_.copy()
    grads = [np.zeros_like(a) for a in (b_u, b_i, P, Q)]
    n_rows = len(data)
    for u, i, r in zip(data.user_index, data.item_index, data.ratings):
        e = r - (model.global_mean_ + b_u[u] + b_i[i] + P[u] @ Q[i])
        grads[0][u] += (-e + reg * b_u[u]) / n_rows
        grads[1][i] += (-e + reg * b_i[i]) / n_rows
        grads[2][u] += (-e * Q[i] + reg * P[u]) / n_rows
        grads[3][i] += (-e * P[u] + reg * Q[i]) / n_rows
    user_step = lr * n_rows / np.maximum(np.bincount(data.user_index, minlength=data.n_users), 1)
    return (b_u - user_step * grads[0], b_i - lr * grads[1],
            P - user_step[:, None] * grads[2], Q - lr * grads[3])


@pytest.mark.parametrize("n_rounds", [1, 4])
def test_full_round_equals_full_batch_gradient_descent(rated, n_rounds):
    before = FederatedMF(n_rounds=n_rounds, **EXACT).fit(rated)
    after = FederatedMF(n_rounds=n_rounds + 1, **EXACT).fit(rated)  # the same rounds, plus one
    expected = gradient_descent_step(before, rated, EXACT["lr"], EXACT["reg"])
    learned = (after.user_bias_, after.item_bias_, after.user_factors_, after.item_factors_)
    for got, want in zip(learned, expected):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert not np.allclose(after.item_factors_, before.item_factors_)  # a real step was taken


def test_two_local_epochs_are_not_one_gradient_step(rated):
    before = FederatedMF(n_rounds=1, **EXACT).fit(rated)
    after = FederatedMF(n_rounds=2, **{**EXACT, "local_epochs": 2}).fit(rated)
    expected = gradient_descent_step(before, rated, EXACT["lr"], EXACT["reg"])
    assert np.abs(after.item_factors_ - expected[3]).max() > 1e-6


def test_only_sampled_clients_learn_in_a_round(rated):
    model = FederatedMF(n_rounds=1, client_fraction=0.25, random_state=1).fit(rated)
    assert np.count_nonzero(model.user_bias_) == round(0.25 * rated.n_users)  # b_u starts at 0
    other = FederatedMF(n_rounds=1, client_fraction=0.25, random_state=2).fit(rated)
    assert not np.array_equal(model.user_bias_ != 0, other.user_bias_ != 0)


def test_learns_planted_ratings(rated):
    train, test = holdout(rated, 0.2, seed=0)
    model = FederatedMF(n_factors=2, n_rounds=60, client_fraction=0.5, server_lr=10.0).fit(train, test)
    assert model.history_["loss"][-1] < 0.7 * model.history_["loss"][0]
    mean_rmse = np.sqrt(np.mean((test.ratings - train.ratings.mean()) ** 2))
    assert model.history_["valid_rmse"][-1] < 0.95 * mean_rmse


def test_save_load_round_trip(rated, tmp_path):
    model = FederatedMF(n_rounds=5, client_fraction=0.5).fit(rated)
    loaded = Recommender.load(model.save(tmp_path / "federated"))
    assert isinstance(loaded, FederatedMF) and loaded.get_params() == model.get_params()
    users, items = rated.user_ids[rated.user_index], rated.item_ids[rated.item_index]
    np.testing.assert_array_equal(loaded.predict(users, items), model.predict(users, items))
    np.testing.assert_array_equal(loaded.recommend(users[0], k=3)[0], model.recommend(users[0], k=3)[0])


@pytest.mark.parametrize("option", [dict(client_fraction=0.0), dict(client_fraction=1.5),
                                    dict(n_rounds=0), dict(local_epochs=1.5), dict(server_lr=-1.0),
                                    dict(dtype=np.int64)])
def test_bad_hyperparameters_raise(rated, option):
    name = next(iter(option))
    with pytest.raises(ValueError, match=name):
        FederatedMF(**option).fit(rated)


def test_implicit_data_is_refused(rated):
    implicit = type(rated)(rated.user_index, rated.item_index, rated.user_ids, rated.item_ids)
    with pytest.raises(ValueError, match="explicit ratings"):
        FederatedMF().fit(implicit)


def test_diverging_rounds_stop_with_a_clear_error():
    data = load("synthetic", n_users=300, n_items=200, n_interactions=4000, seed=0)
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError, match="FederatedMF diverged"):
        FederatedMF(n_rounds=20, client_fraction=1.0, server_lr=100.0).fit(data)


def test_divergence_within_a_round_is_named_as_divergence():
    """NaN can first show in a round's forward, before any round loss: the same clear error."""
    data = load("synthetic", n_users=80, n_items=60, n_interactions=1200, seed=0)
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError, match="FederatedMF diverged in"):
        FederatedMF(n_rounds=20, client_fraction=0.1, lr=0.5, server_lr=100.0).fit(data)
