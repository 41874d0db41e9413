"""BiasedMF and BPRMF: gradients of their networks, they learn planted structure, are repeatable,
every hyperparameter matters, the network's tables are the model's factors, early stopping keeps
the best epoch, finetune goes on from the fitted parameters, and tail_weight moves recommendations
to the long tail while tail_weight=0 trains as before. (The fused kernels against the composed
networks: test_mf_kernels.)"""

import re
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nanorec.data.datasets import load
from nanorec.data.interactions import Interactions
from nanorec.data.split import ColdStartWarning, holdout, leave_last_out
from nanorec.evaluation.protocols import evaluate
from nanorec.models import mf
from nanorec.models.baselines import Popularity
from nanorec.models.mf import (
    BPRMF,
    BiasedMF,
    BiasedMFNetwork,
    BPRMFNetwork,
    latest_rows,
)
from nanorec.testing.gradcheck import gradcheck


def planted_ratings(n_users=150, n_items=80, per_user=25, seed=0):
    """Ratings 1..5 from planted biases and rank-3 factors plus N(0, 0.3^2) noise."""
    rng = np.random.default_rng(seed)
    P, Q = rng.normal(0, 0.6, (n_users, 3)), rng.normal(0, 0.6, (n_items, 3))
    user_bias, item_bias = rng.normal(0, 0.3, n_users), rng.normal(0, 0.5, n_items)
    users = np.repeat(np.arange(n_users), per_user)
    items = np.concatenate([rng.choice(n_items, per_user, replace=False) for _ in range(n_users)])
    score = 3.5 + user_bias[users] + item_bias[items] + np.sum(P[users] * Q[items], axis=1)
    ratings = np.clip(np.round(score + rng.normal(0, 0.3, len(users))), 1, 5)
    return Interactions.from_arrays(users, items, ratings=ratings)


def planted_clicks(n_users=120, n_items=60, n_groups=4, per_user=12, seed=0):
    """Implicit feedback: each user clicks mostly (80%) items of its group, the rest anywhere;
    random timestamps, so leave_last_out holds out a random click per user."""
    rng = np.random.default_rng(seed)
    group_of_item = np.arange(n_items) % n_groups
    users, items = [], []
    for user in range(n_users):
        own = np.flatnonzero(group_of_item == user % n_groups)
        n_own = int(0.8 * per_user)
        clicked = rng.choice(own, n_own, replace=False)
        others = np.setdiff1d(np.arange(n_items), clicked)
        clicked = np.concatenate([clicked, rng.choice(others, per_user - n_own, replace=False)])
        users += [user] * per_user
        items += clicked.tolist()
    timestamps = rng.permutation(len(users))
    return Interactions.from_arrays(users, items, timestamps=timestamps)


@pytest.fixture(scope="module")
def explicit_split():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ColdStartWarning)
        return holdout(planted_ratings(), test_size=0.2, seed=0)


@pytest.fixture(scope="module")
def implicit_split():
    return leave_last_out(planted_clicks())


FAST_MF = dict(n_factors=8, n_epochs=25, lr=0.02, reg=0.02)
FAST_BPR = dict(n_factors=8, n_epochs=20, lr=0.05, reg=0.01)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_users=st.integers(1, 4), n_items=st.integers(1, 4),
       n_factors=st.integers(1, 3), n=st.integers(1, 6), learn_mean=st.booleans())
def test_biased_mf_network_gradient(seed, n_users, n_items, n_factors, n, learn_mean):
    rng = np.random.default_rng(seed)
    network = BiasedMFNetwork(n_users, n_items, n_factors, 3.0, init_std=0.5, rng=rng,
                              dtype=np.float64, learn_mean=learn_mean)
    ids = (rng.integers(0, n_users, n), rng.integers(0, n_items, n))  # repeats included
    report = gradcheck(network, ids, seed=seed)
    assert {row.name for row in report.rows} == {f"param {key}" for key in network.params}
    assert ("global_bias.W" in network.params) == learn_mean
    report.check()


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_users=st.integers(1, 4), n_items=st.integers(2, 5),
       n_factors=st.integers(1, 3), n=st.integers(1, 6), n_candidates=st.sampled_from([1, 3]))
def test_bpr_mf_network_gradient_at_the_chosen_negatives(seed, n_users, n_items, n_factors, n,
                                                        n_candidates):
    """The hardest candidate is chosen, not differentiated: away from ties between candidates,
    the scores of (positive, chosen negative) have the gradients of every table."""
    rng = np.random.default_rng(seed)
    network = BPRMFNetwork(n_users, n_items, n_factors, init_std=0.5, rng=rng, dtype=np.float64)
    network.item_bias[...] = rng.normal(0, 0.5, n_items)
    users, positives = rng.integers(0, n_users, n), rng.integers(0, n_items, n)
    candidates = rng.integers(0, n_items, (n, n_candidates))
    scores = np.sort(np.einsum("nk,nck->nc", network.user_factors[users],
                               network.item_factors[candidates]) + network.item_bias[candidates])
    gaps = np.diff(scores, axis=1)
    assume(np.all((gaps == 0) | (gaps > 1e-3)))  # equal scores: the same item, drawn twice
    gradcheck(network, (users, positives, candidates), seed=seed).check()


def test_biased_mf_beats_global_mean(explicit_split, rmse):
    train, test = explicit_split
    model = BiasedMF(**FAST_MF).fit(train)
    baseline = float(np.sqrt(np.mean((test.ratings - train.ratings.mean()) ** 2)))
    assert rmse(model, test) < 0.8 * baseline  # measured: 0.71 of the baseline
    assert model.history_["loss"][-1] < 0.5 * model.history_["loss"][0]


def test_bpr_mf_beats_popularity(implicit_split):
    train, test = implicit_split
    metrics = ("hr@10", "ndcg@10")
    bpr = evaluate(BPRMF(**FAST_BPR).fit(train), test, train=train, metrics=metrics)
    popularity = evaluate(Popularity().fit(train), test, train=train, metrics=metrics)
    # planted groups: ~80% of a held-out click is in the user's group of 15 items, so a model
    # that finds the groups hits far more often than the near-flat popularity ranking
    assert bpr["hr@10"] > popularity["hr@10"] + 0.25
    assert bpr["ndcg@10"] > popularity["ndcg@10"] + 0.1


@pytest.mark.parametrize("model_class, options, split", [
    (BiasedMF, FAST_MF, "explicit_split"), (BPRMF, FAST_BPR, "implicit_split")
])
def test_same_seed_same_model(model_class, options, split, request):
    train, _ = request.getfixturevalue(split)
    first = model_class(**options, random_state=3).fit(train)
    again = model_class(**options, random_state=3).fit(train)
    other = model_class(**options, random_state=4).fit(train)
    np.testing.assert_array_equal(first.user_factors_, again.user_factors_)
    np.testing.assert_array_equal(first.item_factors_, again.item_factors_)
    assert first.history_ == again.history_
    assert not np.allclose(first.item_factors_, other.item_factors_)


def scores_after_fit(model, train, valid=None):
    model.fit(train, valid)
    users = np.repeat(np.arange(train.n_users), 3)
    items = np.tile(np.arange(3), train.n_users)
    return model.score_pairs(users, items)


@pytest.mark.parametrize("name, value", [
    ("n_factors", 4), ("n_epochs", 10), ("lr", 0.01), ("reg", 0.2), ("init_std", 0.3),
    ("random_state", 1), ("dtype", np.float64), ("early_stopping", 1), ("clip", False),
    ("tail_weight", 1.0),
])
def test_every_biased_mf_hyperparameter_changes_the_result(explicit_split, name, value):
    train, test = explicit_split
    options = dict(FAST_MF, n_epochs=40, lr=0.05, reg=0.0)  # overfits: early stopping triggers
    changed = dict(options, **{name: value})
    reference = scores_after_fit(BiasedMF(**options), train, test)
    result = scores_after_fit(BiasedMF(**changed), train, test)
    assert not np.allclose(reference, result, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name, value", [
    ("n_factors", 4), ("n_epochs", 10), ("lr", 0.01), ("reg", 0.1), ("n_negatives", 3),
    ("negative_candidates", 3), ("recent_share", 0.5), ("distribution", "uniform"),
    ("popularity_exponent", 1.0),
    ("init_std", 0.3), ("random_state", 1), ("dtype", np.float64), ("early_stopping", 1),
    ("tail_weight", 1.0),
])
def test_every_bpr_mf_hyperparameter_changes_the_result(implicit_split, name, value):
    train, test = implicit_split
    options = dict(FAST_BPR, n_epochs=40, lr=0.2, reg=0.0, distribution="popularity",
                   popularity_exponent=0.5)
    reference = scores_after_fit(BPRMF(**options), train, test)
    result = scores_after_fit(BPRMF(**dict(options, **{name: value})), train, test)
    assert not np.allclose(reference, result, rtol=0, atol=1e-6)


def test_bpr_mf_popularity_to_the_power_zero_is_uniform(implicit_split):
    # count ** 0 = 1 for every item (even those without train rows): the same alias table, so
    # the same negatives and the same model, bit for bit
    train, _ = implicit_split
    uniform = BPRMF(**FAST_BPR, distribution="uniform").fit(train)
    flat = BPRMF(**FAST_BPR, distribution="popularity", popularity_exponent=0.0).fit(train)
    np.testing.assert_array_equal(uniform.item_factors_, flat.item_factors_)
    assert uniform.history_ == flat.history_


def test_latest_rows_by_time_then_row_order():
    # user 1: rows 0 (t=5), 1 (t=1), 2 (t=3), 5 (t=9); user 2: rows 3, 4 tied at t=2; user 3: row 6
    data = Interactions.from_arrays([1, 1, 1, 2, 2, 1, 3], [1, 2, 3, 1, 2, 4, 5],
                                    timestamps=[5, 1, 3, 2, 2, 9, 0])
    assert sorted(latest_rows(data, 0.0)) == []
    assert sorted(latest_rows(data, 0.2)) == [4, 5, 6]  # ceil(0.2 * n_u) = 1 row each
    assert sorted(latest_rows(data, 0.5)) == [0, 4, 5, 6]  # user 1: 2 rows, t=9 and t=5
    untimed = Interactions.from_arrays([1, 1, 1, 2, 2, 1, 3], [1, 2, 3, 1, 2, 4, 5])
    assert sorted(latest_rows(untimed, 0.5)) == [2, 4, 5, 6]  # row order is the time


@pytest.mark.parametrize("model_class, options, split, metric", [
    (BiasedMF, dict(FAST_MF, lr=0.05, reg=0.0), "explicit_split", "rmse"),
    (BPRMF, dict(FAST_BPR, lr=0.2, reg=0.0), "implicit_split", "hr@10"),
])
def test_early_stopping_keeps_the_best_epoch(model_class, options, split, metric, request):
    train, valid = request.getfixturevalue(split)
    model = model_class(**dict(options, n_epochs=60, early_stopping=2)).fit(train, valid)
    history = model.history_[f"valid_{metric}"]
    assert len(history) == len(model.history_["loss"]) < 60
    assert len(history) == model.best_epoch_ + 3  # stopped after 2 epochs without improvement
    best = min(history) if metric == "rmse" else max(history)
    assert history[model.best_epoch_] == best
    # the restored parameters are those of the best epoch
    final = evaluate(model, valid, train=train, metrics=(metric,))[metric]
    assert final == pytest.approx(best, rel=1e-6)


def test_validation_without_early_stopping_only_monitors(explicit_split, rmse):
    train, valid = explicit_split
    model = BiasedMF(**FAST_MF).fit(train, valid)
    assert len(model.history_["valid_rmse"]) == FAST_MF["n_epochs"]
    assert model.best_epoch_ == FAST_MF["n_epochs"] - 1
    assert rmse(model, valid) == pytest.approx(model.history_["valid_rmse"][-1], rel=1e-6)


def test_verbose_prints_one_line_per_epoch(explicit_split, capsys):
    BiasedMF(**dict(FAST_MF, n_epochs=3), verbose=True).fit(*explicit_split)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[-1].startswith("epoch 3/3") and "valid_rmse" in lines[-1]


def test_score_items_matches_score_pairs(explicit_split, implicit_split):
    for model, train in ((BiasedMF(**FAST_MF, clip=False), explicit_split[0]),
                         (BPRMF(**FAST_BPR), implicit_split[0])):
        model.fit(train)
        users = np.arange(train.n_users)
        full = model.score_items(users)
        assert full.shape == (train.n_users, train.n_items)
        items = np.arange(train.n_users) % train.n_items
        np.testing.assert_allclose(model.score_pairs(users, items), full[users, items], rtol=1e-5)


def test_clip_keeps_predictions_in_the_train_range(explicit_split):
    train, test = explicit_split
    model = BiasedMF(**dict(FAST_MF, lr=0.05, reg=0.0, n_epochs=40)).fit(train)
    raw = model.score_items(np.arange(train.n_users))
    assert raw.min() < 1 or raw.max() > 5  # some unclipped scores leave [1, 5] ...
    clipped = model.predict(train.user_ids[test.user_index], train.item_ids[test.item_index])
    assert clipped.min() >= 1 and clipped.max() <= 5  # ... predictions do not


def test_items_without_train_ratings_fall_back_to_the_biases():
    data = Interactions.from_arrays([1, 1, 2, 2], [10, 20, 10, 30], ratings=[5.0, 3.0, 4.0, 1.0])
    train = data.subset([0, 1, 2])  # item 30 has no train rating
    model = BiasedMF(n_factors=4, n_epochs=5, clip=False).fit(train)
    np.testing.assert_array_equal(model.item_factors_[2], 0)
    expected = model.global_mean_ + model.user_bias_[1] + model.item_bias_[2]
    assert model.predict([2], [30])[0] == pytest.approx(expected)
    assert model.item_bias_[2] == 0


@pytest.mark.parametrize("model_class, options, data", [
    (BiasedMF, dict(n_factors=4, n_epochs=2, lr=0.02), planted_ratings),
    (BPRMF, dict(n_factors=4, n_epochs=2, lr=0.05, n_negatives=2, negative_candidates=2),
     planted_clicks),
])
def test_tail_weight_zero_trains_as_weights_of_exactly_one(model_class, options, data,
                                                           monkeypatch):
    # tail_weight = 0 runs the kernels' unweighted specialization (weights=None); a tail_weight
    # > 0 runs the weighted one, here given w = 1 for every row: the very same steps (w * e == e
    # in floating point; the loss sums may differ in the last bits where fastmath fuses w * loss
    # into the sum)
    train = data()
    unweighted = model_class(**options, tail_weight=0.0, dtype=np.float64).fit(train)
    monkeypatch.setattr(mf, "tail_weights", lambda data, tail_weight: np.ones(len(data)))
    ones = model_class(**options, tail_weight=0.5, dtype=np.float64).fit(train)
    assert unweighted.history_["loss"] == pytest.approx(ones.history_["loss"], rel=1e-14)
    for key, value in unweighted.network_.params.items():
        np.testing.assert_array_equal(value, ones.network_.params[key], err_msg=key)


# measured (3 data seeds x 2 model seeds), without -> with tail_weight=1: BiasedMF 0.07-0.38 ->
# 0.18-0.48 (+0.06 to +0.11), BPRMF 0.006-0.028 -> 0.20-0.29
@pytest.mark.parametrize("model_class, options, gain", [
    (BiasedMF, FAST_MF, 0.04), (BPRMF, FAST_BPR, 0.15),
])
def test_tail_weight_moves_recommendations_to_the_tail(model_class, options, gain, long_tail,
                                                        tail_share_of_top10):
    plain = model_class(**options).fit(long_tail)
    weighted = model_class(**options, tail_weight=1.0).fit(long_tail)
    assert tail_share_of_top10(weighted, long_tail) > tail_share_of_top10(plain, long_tail) + gain


def test_the_network_predicts_like_the_model(explicit_split):
    train, test = explicit_split
    model = BiasedMF(**FAST_MF, clip=False, dtype=np.float64).fit(train)
    assert isinstance(model.network_, BiasedMFNetwork) and not model.network_.training
    r_hat = model.network_.forward((test.user_index, test.item_index))
    np.testing.assert_allclose(r_hat[:, 0], model.score_pairs(test.user_index, test.item_index),
                               rtol=1e-12)


@pytest.mark.parametrize("model_class, network_class, split, tables", [
    (BiasedMF, BiasedMFNetwork, "explicit_split",
     {"user_factors_": "user_factors.W", "item_factors_": "item_factors.W",
      "user_bias_": "user_bias.W", "item_bias_": "item_bias.W"}),
    (BPRMF, BPRMFNetwork, "implicit_split",
     {"user_factors_": "user_factors.W", "item_factors_": "scores.weights.W",
      "item_bias_": "scores.biases.W"}),
])
def test_the_factors_are_read_only_views_of_the_network(model_class, network_class, split, tables,
                                                        request):
    train, _ = request.getfixturevalue(split)
    model = model_class(n_factors=3, n_epochs=1).fit(train)
    assert isinstance(model.network_, network_class)
    for attribute, key in tables.items():
        view, table = getattr(model, attribute), model.network_.params[key]
        assert np.shares_memory(view, table) and view.size == table.size
        np.testing.assert_array_equal(view.reshape(table.shape), table)
        with pytest.raises(AttributeError):
            setattr(model, attribute, np.zeros_like(view))


def test_history_loss_is_half_the_mean_squared_error(explicit_split):
    """history_["loss"] is the mean of w e^2 / 2: with a learning rate too small to move the
    parameters, the epoch's loss is half the mean squared error of the (unclipped) predictions."""
    train, _ = explicit_split
    model = BiasedMF(n_factors=3, n_epochs=1, lr=1e-12, clip=False, dtype=np.float64).fit(train)
    errors = train.ratings - model.score_pairs(train.user_index, train.item_index)
    assert model.history_["loss"][0] == pytest.approx(np.mean(errors**2) / 2, rel=1e-9)


def test_finetune_keeps_the_rows_of_the_remaining_ids_and_goes_on_from_them(explicit_split):
    train, _ = explicit_split
    model = BiasedMF(**FAST_MF, clip=False).fit(train)
    kept_users = train.user_ids[train.user_ids % 3 != 0]  # a third of the users opt out
    rows = np.flatnonzero(np.isin(train.user_ids[train.user_index], kept_users))
    smaller = Interactions.from_arrays(train.user_ids[train.user_index[rows]],
                                       train.item_ids[train.item_index[rows]],
                                       ratings=train.ratings[rows])
    before = {name: getattr(model, name).copy()
              for name in ("user_factors_", "item_factors_", "user_bias_", "item_bias_")}
    users = np.searchsorted(train.user_ids, smaller.user_ids)
    items = np.searchsorted(train.item_ids, smaller.item_ids)

    model.finetune(smaller, n_epochs=0)
    assert model.n_users_ == smaller.n_users and model.history_ == {"loss": []}
    assert model.global_mean_ == pytest.approx(smaller.ratings.mean())
    for name, index in (("user_factors_", users), ("user_bias_", users),
                        ("item_factors_", items), ("item_bias_", items)):
        np.testing.assert_array_equal(getattr(model, name), before[name][index], err_msg=name)

    tuned = model.finetune(smaller, n_epochs=2)
    assert tuned is model and len(model.history_["loss"]) == 2
    assert not np.allclose(model.user_factors_, before["user_factors_"][users])
    with pytest.raises(KeyError, match="unknown user id"):
        model.finetune(train)  # the ids that were dropped are unknown now
    with pytest.raises(ValueError, match="BiasedMF.finetune: n_epochs must be an integer >= 0"):
        model.finetune(smaller, n_epochs=-1)
    with pytest.raises(RuntimeError, match="not fitted"):
        BiasedMF().finetune(smaller)


def test_network_rejects_a_single_array():
    network = BiasedMFNetwork(3, 3, 2, 0.0)
    with pytest.raises(TypeError, match="tuple"):
        network.forward(np.array([0, 1]))


def test_biased_mf_refuses_implicit_feedback(implicit_split):
    with pytest.raises(ValueError, match="needs explicit ratings.*BPRMF"):
        BiasedMF(n_epochs=1).fit(implicit_split[0])


@pytest.mark.parametrize("model_class", [BiasedMF, BPRMF])
@pytest.mark.parametrize("name, value, message", [
    ("n_factors", 0, "n_factors must be an integer >= 1, got 0"),
    ("n_epochs", 2.5, "n_epochs must be an integer >= 1, got 2.5"),
    ("lr", 0.0, "lr must be a finite number in (0, inf), got 0.0"),
    ("reg", -1.0, "reg must be a finite number in [0, inf), got -1.0"),
    ("init_std", float("nan"), "init_std must be a finite number in [0, inf), got nan"),
    ("tail_weight", -0.5, "tail_weight must be a finite number in [0, inf), got -0.5"),
    ("dtype", np.int32, "dtype must be np.float32 or np.float64"),
    ("early_stopping", 0, "early_stopping must be an integer >= 1, got 0"),
    ("fused", 1, "fused must be True or False, got 1"),
])
def test_bad_hyperparameters_are_named(model_class, name, value, message, explicit_split):
    train, valid = explicit_split
    with pytest.raises(ValueError, match=re.escape(f"{model_class.__name__}: {message}")):
        model_class(**{name: value}).fit(train, valid)


def test_early_stopping_needs_validation_data(explicit_split):
    with pytest.raises(ValueError, match="early_stopping needs validation data"):
        BiasedMF(early_stopping=2).fit(explicit_split[0])


@pytest.mark.parametrize("options, message", [
    (dict(n_negatives=0), "n_negatives must be an integer >= 1, got 0"),
    (dict(negative_candidates=1.5), "negative_candidates must be an integer >= 1, got 1.5"),
    (dict(recent_share=1.0), "recent_share must be a finite number in [0, 1), got 1.0"),
    (dict(distribution="zipf"), "distribution must be one of 'uniform', 'popularity', got 'zipf'"),
    (dict(popularity_exponent=-0.5), "popularity_exponent must be a finite number in [0, inf)"),
])
def test_bpr_mf_rejects_bad_sampling_options(implicit_split, options, message):
    with pytest.raises(ValueError, match=re.escape(f"BPRMF: {message}")):
        BPRMF(**options).fit(implicit_split[0])


def test_diverging_training_stops_with_a_clear_error():
    data = load("synthetic", n_users=300, n_items=200, n_interactions=4000, seed=0)
    with pytest.raises(FloatingPointError, match="BiasedMF diverged.*epoch 1.*lower the learning rate"):
        BiasedMF(lr=50.0, n_epochs=5).fit(data)
