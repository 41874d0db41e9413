"""AutoRec and CDAE: exact gradients through the sparse networks and their objectives over the
observed (or sampled) entries, which equal a dense autoencoder's masked objective; planted
structure learned (AutoRec below the global mean's RMSE, CDAE above Popularity), AutoRec's weight
decay on the weights only, repeatable runs, save/load, the cold-start fallback and clear errors."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanorec.data.datasets import load
from nanorec.data.interactions import Interactions
from nanorec.data.split import holdout, leave_last_out
from nanorec.evaluation.protocols import evaluate
from nanorec.models import ColdStartError, Recommender
from nanorec.models.autoencoders import (
    CDAE,
    AutoRec,
    AutoRecNetwork,
    CDAENetwork,
    _sparse_rows,
    _transpose,
)
from nanorec.models.baselines import Popularity
from nanorec.nn.layers import SparseRows
from nanorec.nn.losses import MaskedLoss, MSELoss
from nanorec.testing.gradcheck import gradcheck
from nanorec.testing.verify import network_gradcheck

FAST_AUTOREC = dict(n_hidden=32, n_epochs=30, lr=0.01, reg=0.01, batch_size=32)
FAST_CDAE = dict(n_factors=32, n_epochs=20, lr=0.01, batch_size=32, n_negatives=1)


@pytest.fixture(scope="module")
def synthetic():
    return load("synthetic", n_users=300, n_items=200, n_interactions=12000, seed=0)


@pytest.fixture(scope="module")
def rating_split(synthetic):
    return holdout(synthetic, test_size=0.2, seed=0)


@pytest.fixture(scope="module")
def click_split(synthetic):
    return leave_last_out(synthetic)


@pytest.fixture(scope="module")
def fitted_autorec(rating_split):
    return AutoRec(**FAST_AUTOREC).fit(rating_split[0])


@pytest.fixture(scope="module")
def fitted_cdae(click_split):
    return CDAE(**FAST_CDAE).fit(click_split[0])


# ----------------------------------------------------------------------------- gradients
sizes = st.integers(1, 4)
seeds = st.integers(0, 2**32 - 1)


def random_sparse_rows(rng, n, width, low=1, high=6):
    """n rows of the given width, entry (0, 0) and each other with probability 1/2 stored, values
    in [low, high)."""
    dense = rng.integers(low, high, (n, width))
    stored = rng.random((n, width)) < 0.5
    stored[0, 0] = True
    indptr = np.concatenate([[0], np.cumsum(stored.sum(axis=1))])
    return SparseRows(indptr, np.nonzero(stored)[1], dense[stored].astype(np.float64), width)


def all_pairs(n, width):
    return np.repeat(np.arange(n), width), np.tile(np.arange(width), n)


@settings(max_examples=10, deadline=None)
@given(n=sizes, n_users=sizes, n_hidden=sizes, seed=seeds,
       activation=st.sampled_from(["sigmoid", "tanh", "identity"]))
def test_autorec_network_gradient(n, n_users, n_hidden, seed, activation):
    rng = np.random.default_rng(seed)
    network = AutoRecNetwork(n_users, n_hidden, activation, rng=rng, dtype=np.float64)
    for param in network.params.values():  # move the biases off 0
        param[...] = rng.normal(0, 0.5, param.shape)
    ratings = random_sparse_rows(rng, n, n_users)
    rows, users = all_pairs(n, n_users)
    report = gradcheck(network, (ratings, rows, users), seed=seed).check()
    assert {row.name for row in report.rows} == {f"param {key}" for key in network.params}


@settings(max_examples=10, deadline=None)
@given(n=sizes, n_users=sizes, n_items=sizes, n_factors=sizes, seed=seeds,
       corruption=st.sampled_from([0.0, 0.3, 0.7]))
def test_cdae_network_gradient_through_dropout_and_user_node(
    n, n_users, n_items, n_factors, seed, corruption
):
    rng = np.random.default_rng(seed)
    network = CDAENetwork(n_users, n_items, n_factors, corruption, rng=rng, dtype=np.float64)
    for param in network.params.values():  # move the biases and the user node off 0
        param[...] = rng.normal(0, 0.5, param.shape)
    clicks = random_sparse_rows(rng, n, n_items, low=1, high=2)
    users = rng.integers(0, n_users, n)
    report = gradcheck(network, (clicks, users, *all_pairs(n, n_items)), seed=seed).check()
    assert {row.name for row in report.rows} == {f"param {key}" for key in network.params}


@settings(max_examples=10, deadline=None)
@given(n=sizes, n_users=sizes, n_hidden=sizes, seed=seeds)
def test_autorec_pairs_objective_equals_the_dense_masked_objective(n, n_users, n_hidden, seed):
    """The decoded observed pairs, each weighted K / N in MSELoss (the training batches), give the
    loss and the gradients of a dense autoencoder's MaskedLoss over the observed entries."""
    rng = np.random.default_rng(seed)
    network = AutoRecNetwork(n_users, n_hidden, "sigmoid", rng=rng, dtype=np.float64)
    ratings = random_sparse_rows(rng, n, n_users)

    network.zero_grad()
    rows = np.repeat(np.arange(n), np.diff(ratings.indptr))
    loss = MSELoss()
    pairs_loss = loss.forward(network.forward((ratings, rows, ratings.indices)), ratings.values,
                              np.full(len(rows), len(rows) / n))
    network.backward(loss.backward())
    pairs_grads = {key: grad.copy() for key, grad in network.grads.items()}

    network.zero_grad()
    observed = ratings.with_values(np.ones_like(ratings.values)).to_dense()
    loss = MaskedLoss(MSELoss())
    decoded = network.forward((ratings, *all_pairs(n, n_users))).reshape(n, n_users)
    dense_loss = loss.forward(decoded, ratings.to_dense(), observed)
    network.backward(loss.backward().ravel())

    assert pairs_loss == pytest.approx(dense_loss, rel=1e-12, abs=1e-12)
    for key, grad in network.grads.items():
        np.testing.assert_allclose(pairs_grads[key], grad, rtol=1e-10, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("model_class, options, split", [
    (AutoRec, dict(n_hidden=3, n_epochs=1, batch_size=4, dtype=np.float64), "rating_split"),
    (CDAE, dict(n_factors=3, n_epochs=1, batch_size=4, dtype=np.float64), "click_split"),
    (CDAE, dict(n_factors=3, n_epochs=1, batch_size=4, dtype=np.float64, n_negatives=None),
     "click_split"),
])
def test_the_objective_of_a_training_batch_matches_finite_differences(
        model_class, options, split, request):
    """The batch loss the model trains on (over the observed entries, or the positives and
    sampled negatives), differentiated through the whole network: every parameter."""
    model = model_class(**options).fit(request.getfixturevalue(split)[0])
    report = network_gradcheck(model, request.getfixturevalue(split)[0])
    assert {row.name for row in report.rows} >= {f"param {key}" for key in model.network_.params}
    report.check()


def test_sparse_rows_and_transpose_match_the_dense_matrix():
    data = Interactions.from_arrays([1, 1, 2, 3, 3], [7, 8, 8, 7, 9], ratings=[5, 0, 3, 1, 2])
    dense = data.to_dense()  # (U, I)
    csr = data.to_csr()
    rows = _sparse_rows(csr, np.array([2, 0]), np.float64)
    np.testing.assert_array_equal(rows.to_dense(), dense[[2, 0]])
    assert rows.indptr.tolist() == [0, 2, 4] and rows.indices.tolist() == [0, 2, 0, 1]
    assert rows.values.tolist() == [1, 2, 5, 0]  # a stored 0 is a stored (observed) entry
    items = _sparse_rows(_transpose(csr), np.arange(3), np.float32)
    np.testing.assert_array_equal(items.to_dense(), dense.T)
    assert len(items.values) == len(data)


def test_cdae_batches_hold_each_users_positives_and_distinct_negatives(click_split, fitted_cdae):
    train, _ = click_split
    model = CDAE(**dict(FAST_CDAE, n_negatives=3, n_epochs=1)).fit(train)
    clicks = train.to_dense() > 0
    for batch in model._training_data(train)():
        click_rows, users, rows, items = batch.inputs
        positives = batch.target == 1
        expected = np.nonzero(clicks[users])
        assert (rows[positives].tolist(), items[positives].tolist()) == \
            (expected[0].tolist(), expected[1].tolist())
        assert not clicks[users[rows[~positives]], items[~positives]].any()  # negatives unclicked
        keys = rows * train.n_items + items
        assert len(np.unique(keys)) == len(keys)  # a repeated draw counts once
        assert np.all(np.bincount(rows[~positives], minlength=len(users))
                      <= 3 * np.bincount(rows[positives], minlength=len(users)))
        np.testing.assert_allclose(batch.weight, len(rows) / len(users))


# ----------------------------------------------------------------------------- AutoRec
def test_autorec_beats_the_global_mean(rating_split, fitted_autorec, rmse):
    train, test = rating_split
    baseline = float(np.sqrt(np.mean((test.ratings - train.ratings.mean()) ** 2)))
    assert rmse(fitted_autorec, test) < 0.8 * baseline  # measured: 0.70 of the baseline
    loss = fitted_autorec.history_["loss"]
    assert loss[-1] < 0.1 * loss[0]


def test_autorec_score_items_matches_score_pairs(rating_split):
    train, _ = rating_split
    model = AutoRec(**dict(FAST_AUTOREC, n_epochs=2), clip=False).fit(train)
    users = np.arange(train.n_users)
    items = (users * 7) % train.n_items
    full = model.score_items(users)
    assert full.shape == (train.n_users, train.n_items)
    np.testing.assert_allclose(model.score_pairs(users, items), full[users, items])


def test_autorec_falls_back_to_the_mean_without_train_ratings():
    data = Interactions.from_arrays([1, 1, 2, 2, 3], [10, 20, 10, 20, 30], ratings=[5, 3, 4, 2, 1])
    train = data.subset([0, 1, 2, 3])  # user 3 and item 30 have no train rating
    model = AutoRec(n_hidden=4, n_epochs=3, clip=False).fit(train)
    assert model.global_mean_ == 3.5
    cold_user, cold_item = 2, 2  # indices of raw ids 3 and 30
    pairs = ([cold_user, cold_user, 0], [0, cold_item, cold_item])
    np.testing.assert_array_equal(model.score_pairs(*pairs), 3.5)
    np.testing.assert_array_equal(model.score_items([cold_user]), 3.5)
    assert model.predict([1, 2], [30, 30]).tolist() == [3.5, 3.5]
    assert model.predict([1], [10])[0] != 3.5
    with pytest.raises(ColdStartError, match="user id 3 has no training rows"):
        model.predict([3], [10])


def test_autorec_early_stopping_keeps_the_best_epoch(rating_split, rmse):
    train, valid = rating_split
    options = dict(FAST_AUTOREC, reg=0.0, lr=0.03, n_epochs=60, early_stopping=2)
    model = AutoRec(**options).fit(train, valid)
    history = model.history_["valid_rmse"]
    assert len(history) == model.best_epoch_ + 3 < 60
    assert rmse(model, valid) == pytest.approx(min(history), rel=1e-6)


def test_autorec_weight_decay_reaches_the_weights_but_not_the_biases(fitted_autorec):
    """The L2 term is reg / 2 (|W|^2 + |V|^2): a step on zero data gradients moves V and W (by
    the decay alone) and leaves the biases mu and b where they are."""
    network = fitted_autorec.network_
    before = {key: value.copy() for key, value in network.params.items()}
    optimizer = fitted_autorec._optimizer(network)
    network.zero_grad()
    try:
        optimizer.step()
        for key, value in network.params.items():
            if key.endswith(".b"):
                np.testing.assert_array_equal(value, before[key], err_msg=key)
            else:
                assert not np.array_equal(value, before[key]), key
    finally:
        for key, value in before.items():
            network.params[key][...] = value


# ----------------------------------------------------------------------------- CDAE
def test_cdae_beats_popularity_on_leave_last_out(click_split, fitted_cdae):
    train, test = click_split
    metrics = ("hr@10", "ndcg@10")
    cdae = evaluate(fitted_cdae, test, train=train, metrics=metrics)
    popularity = evaluate(Popularity().fit(train), test, train=train, metrics=metrics)
    # measured over random_state 0-5: HR@10 0.423-0.437 against 0.353, NDCG@10 0.276-0.290
    # against 0.252
    assert cdae["hr@10"] > popularity["hr@10"] + 0.05
    assert cdae["ndcg@10"] > popularity["ndcg@10"] + 0.015
    loss = fitted_cdae.history_["loss"]
    assert loss[-1] < 0.7 * loss[0]  # measured: 0.62


def test_cdae_with_the_loss_on_every_item_learns(click_split):
    train, test = click_split
    model = CDAE(**dict(FAST_CDAE, n_negatives=None)).fit(train)
    popularity = evaluate(Popularity().fit(train), test, train=train, metrics=("hr@10",))
    hit_rate = evaluate(model, test, train=train, metrics=("hr@10",))["hr@10"]
    assert hit_rate > popularity["hr@10"] + 0.03  # measured: 0.430 against 0.353
    assert model.history_["loss"][-1] < 0.6 * model.history_["loss"][0]  # measured: 0.51


def test_cdae_corruption_acts_in_training_only(fitted_cdae):
    users = np.arange(5)
    np.testing.assert_array_equal(fitted_cdae.score_items(users), fitted_cdae.score_items(users))
    assert not fitted_cdae.network_.training


# ----------------------------------------------------------------------------- both models
@pytest.mark.parametrize("model_class, options, split", [
    (AutoRec, dict(FAST_AUTOREC, n_epochs=3), "rating_split"),
    (CDAE, dict(FAST_CDAE, n_epochs=3), "click_split"),
])
def test_same_seed_same_model(model_class, options, split, request):
    train, _ = request.getfixturevalue(split)
    first = model_class(**options, random_state=3).fit(train)
    again = model_class(**options, random_state=3).fit(train)
    other = model_class(**options, random_state=4).fit(train)
    users = np.arange(20)
    np.testing.assert_array_equal(first.score_items(users), again.score_items(users))
    assert first.history_ == again.history_
    assert not np.allclose(first.score_items(users), other.score_items(users))


@pytest.mark.parametrize("fitted", ["fitted_autorec", "fitted_cdae"])
def test_save_load_gives_identical_recommendations(fitted, request, tmp_path):
    model = request.getfixturevalue(fitted)
    loaded = Recommender.load(model.save(tmp_path / "model"))
    assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
    users = model.user_ids_[:20]
    for got, expected in zip(loaded.recommend(users, k=10), model.recommend(users, k=10)):
        np.testing.assert_array_equal(got, expected)
    items = model.item_ids_[:20]
    np.testing.assert_array_equal(loaded.predict(users, items), model.predict(users, items))


@pytest.mark.parametrize("make_model, message", [
    (lambda: AutoRec(activation="softmax"),
     "AutoRec: activation must be one of 'sigmoid', 'tanh', 'relu', 'identity', got 'softmax'"),
    (lambda: AutoRec(n_hidden=0), "AutoRec: n_hidden must be an integer >= 1, got 0"),
    (lambda: AutoRec(lr=0), "AutoRec: lr must be a finite number in (0, inf), got 0"),
    (lambda: AutoRec(early_stopping=2), "AutoRec: early_stopping needs validation data"),
    (lambda: CDAE(corruption=1.0), "CDAE: corruption must be a finite number in [0, 1), got 1.0"),
    (lambda: CDAE(n_negatives=0), "CDAE: n_negatives must be an integer >= 1, got 0"),
    (lambda: CDAE(dtype=np.int32), "CDAE: dtype must be np.float32 or np.float64"),
])
def test_bad_hyperparameters_fail_clearly(make_model, message, rating_split):
    with pytest.raises(ValueError, match=re.escape(message)):
        make_model().fit(rating_split[0])


def test_autorec_needs_explicit_ratings():
    clicks = Interactions.from_arrays([1, 2], [3, 4])
    with pytest.raises(ValueError, match="AutoRec needs explicit ratings"):
        AutoRec(n_epochs=1).fit(clicks)
