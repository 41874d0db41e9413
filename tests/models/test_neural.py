"""MatrixFactorization (the seed's model) and NeuMF: gradients of the composed networks, fused
kernels that train as the composed layers (every option that reaches a kernel drawn, sample weights
too), dense and lazy Adam in the kernels, the long-tail weights, learning, repeatability, bad
input."""

import re
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nanorec.data.datasets import load
from nanorec.data.interactions import Interactions
from nanorec.data.split import ColdStartWarning, holdout
from nanorec.evaluation.protocols import evaluate
from nanorec.models import neural_kernels
from nanorec.models.baselines import Popularity
from nanorec.models.neural import MatrixFactorization, MFNetwork, NeuMF, NeuMFNetwork
from nanorec.nn.losses import BCELoss, BCEWithLogitsLoss
from nanorec.testing.gradcheck import gradcheck
from nanorec.testing.verify import Objective

SEEDS = st.integers(0, 2**32 - 1)
# tiny NeuMF shapes: K = 0 drops GMF, () drops the MLP; layers[0] is even
NEUMF_SHAPES = st.tuples(st.integers(0, 3), st.sampled_from([(), (2,), (4, 3), (2, 3, 2)])).filter(
    lambda shape: shape[0] or shape[1])


def random_pairs(rng, n_users, n_items, n):
    return rng.integers(0, n_users, n), rng.integers(0, n_items, n), (rng.random(n) < 0.5) * 1.0


def spread_params(network, rng, scale=0.7):
    """Replace the tiny initial weights by N(0, scale^2) ones: gradients of a useful size."""
    for param in network.params.values():
        param[...] = rng.normal(0, scale, param.shape)


# ------------------------------------------------------------------ gradients of the networks
@settings(max_examples=25, deadline=None)
@given(seed=SEEDS, n_users=st.integers(1, 4), n_items=st.integers(1, 4),
       n_factors=st.integers(1, 3), n=st.integers(1, 6))
def test_mf_network_gradient_through_loss(seed, n_users, n_items, n_factors, n):
    rng = np.random.default_rng(seed)
    network = MFNetwork(n_users, n_items, n_factors, rng, np.float64)
    spread_params(network, rng)
    users, items, labels = random_pairs(rng, n_users, n_items, n)
    wrapped = Objective(network, BCELoss(), labels[:, None], None)
    gradcheck(wrapped, (users, items), seed=seed).check()


def relu_inputs(network, users, items):
    """The pre-activations of the tower (to keep the check away from ReLU's kink)."""
    if network.mlp_user is None:
        return np.ones(1)
    user, item = network.mlp_user.params["W"][users], network.mlp_item.params["W"][items]
    h = np.concatenate([user, item], axis=1)
    inputs = []
    for dense in network.tower:
        inputs.append(h @ dense.params["W"] + dense.params["b"])
        h = np.maximum(inputs[-1], 0)
    return np.concatenate([a.ravel() for a in inputs]) if inputs else np.ones(1)


@settings(max_examples=30, deadline=None)
@given(seed=SEEDS, shape=NEUMF_SHAPES, n_users=st.integers(1, 4), n_items=st.integers(1, 4),
       n=st.integers(1, 6))
def test_neumf_network_gradient_through_loss(seed, shape, n_users, n_items, n):
    n_factors, layers = shape
    rng = np.random.default_rng(seed)
    network = NeuMFNetwork(n_users, n_items, n_factors, layers, rng, np.float64)
    spread_params(network, rng)
    users, items, labels = random_pairs(rng, n_users, n_items, n)
    assume(np.min(np.abs(relu_inputs(network, users, items))) > 1e-3)
    wrapped = Objective(network, BCEWithLogitsLoss(), labels[:, None], None)
    # h = 1e-5: through embeddings, tower and loss the round-off of f exceeds the eps * |f| that
    # gradcheck budgets for (at h = 1e-6 seed 672 showed 1.4e-10 abs. error on a 6e-5 gradient,
    # falling to 1.2e-11 at h = 1e-5: rounding, not a wrong backward)
    gradcheck(wrapped, (users, items), seed=seed, h=1e-5).check()


def test_gradcheck_catches_a_wrong_tower_gradient():
    """The check above can fail: a tower Dense whose backward forgets its bias is caught."""
    rng = np.random.default_rng(0)
    network = NeuMFNetwork(3, 3, 2, (4, 3), rng, np.float64)
    spread_params(network, rng)
    dense = network.tower[0]
    right_backward = dense.backward
    dense.backward = lambda dy: (right_backward(dy), dense.grads["b"].fill(0))[0]
    users, items, labels = np.array([0, 1, 2]), np.array([2, 0, 1]), np.array([1.0, 0.0, 1.0])
    wrapped = Objective(network, BCEWithLogitsLoss(), labels[:, None], None)
    report = gradcheck(wrapped, (users, items))
    assert not report.passed


# ------------------------------------------------------------------ fused kernels
POINTWISE_OPTIONS = dict(seed=SEEDS, n_users=st.integers(2, 6), n_items=st.integers(2, 6),
                         n_epochs=st.integers(2, 3), batch_size=st.integers(1, 8),
                         n_negatives=st.sampled_from([1, 2]),
                         tail_weight=st.sampled_from([0.0, 0.7]),
                         negative_weight=st.sampled_from([1.0, 0.4]))


@pytest.mark.parametrize("adam", ["dense", "lazy"])
@settings(max_examples=12, deadline=None)
@given(n_factors=st.integers(1, 4), **POINTWISE_OPTIONS)
def test_mf_fused_kernel_trains_as_the_composed_layers(
        adam, n_factors, seed, n_users, n_items, n_epochs, batch_size, n_negatives, tail_weight,
        negative_weight, small_log, fit_fused_and_composed):
    """Fused epochs and nanorec.training.train_epoch over MFNetwork with the engine's Adam (dense
    or lazy on the tables), mini-batches that repeat users and items, sample weights that the
    composed path hands to the loss: the same losses and weights in float64."""
    fit_fused_and_composed(
        MatrixFactorization, small_log(seed, n_users, n_items), n_factors=n_factors,
        n_epochs=n_epochs, batch_size=batch_size, lr=0.05, adam=adam, n_negatives=n_negatives,
        tail_weight=tail_weight, negative_weight=negative_weight, random_state=seed % 1000)


@pytest.mark.parametrize("adam", ["dense", "lazy"])
@pytest.mark.parametrize("n_factors, layers", [(2, (4, 3)), (3, ()), (0, (4, 3, 2)), (1, (2,))],
                         ids=["gmf+mlp", "gmf only", "mlp only", "no tower"])
@settings(max_examples=8, deadline=None)
@given(**POINTWISE_OPTIONS)
def test_neumf_fused_kernel_trains_as_the_composed_layers(
        adam, n_factors, layers, seed, n_users, n_items, n_epochs, batch_size, n_negatives,
        tail_weight, negative_weight, small_log, fit_fused_and_composed):
    """As for MatrixFactorization, with both branches, a GMF only (layers=()), an MLP only
    (n_factors=0), and an MLP branch without a tower (layers of one width)."""
    fit_fused_and_composed(
        NeuMF, small_log(seed, n_users, n_items), n_factors=n_factors, layers=layers,
        n_epochs=n_epochs, batch_size=batch_size, lr=0.05, adam=adam, n_negatives=n_negatives,
        tail_weight=tail_weight, negative_weight=negative_weight, random_state=seed % 1000)


def kernel_inputs(rng, kind, shape, n_users, n_items, n, dtype):
    """Random (users, items, labels, weights, order) and (params, m, v) lists for one kernel
    call; the weights are drawn in [0, 3)."""
    if kind == "mf":
        network = MFNetwork(n_users, n_items, shape, rng, dtype)
    else:
        network = NeuMFNetwork(n_users, n_items, *shape, rng, dtype)
    spread_params(network, rng, 0.3)
    arrays = network.trained_arrays()
    moments = [[np.abs(rng.normal(0, 0.1, a.shape)).astype(dtype) for a in group]
               for group in arrays]
    users, items, labels = random_pairs(rng, n_users, n_items, n)
    samples = (users.astype(np.int32), items.astype(np.int32), labels.astype(dtype),
               rng.uniform(0, 3, n).astype(dtype), rng.permutation(n))
    return samples, [arrays, moments, [[m.copy() for m in group] for group in moments]]


def copied(state):
    return [[[a.copy() for a in group] for group in part] for part in state]


@pytest.mark.parametrize("kind, shape", [("mf", 3), ("neumf", (2, (4, 3)))])
def test_kernel_dense_adam_moves_the_rows_a_batch_did_not_use(kind, shape):
    """One step on samples of user 0 and item 0 only: lazy leaves the other rows (and their
    moments) alone; dense decays their moments and moves them along m_hat / sqrt(v_hat)."""
    rng = np.random.default_rng(0)
    samples, state = kernel_inputs(rng, kind, shape, 3, 3, 4, np.float64)
    users, items, labels, weights, order = samples
    samples = (np.zeros_like(users), np.zeros_like(items), labels, weights, order)
    kernel = getattr(neural_kernels, f"{kind}_epoch_nb")
    moved = {}
    for lazy in (True, False):
        after = copied(state)
        groups = [neural_kernels.param_groups(*part) for part in after]
        _, step = kernel(*samples, 4, *groups, (0.01, 0.9, 0.999, 1e-8), lazy, 3)
        assert step == 4  # one batch: Adam's step count goes from 3 to 4
        moved[lazy] = [not np.array_equal(before[1:], now[1:])  # rows 1.. of every table
                       for part in range(3) for before, now in zip(state[part][0], after[part][0])
                       if before.size]
    assert not any(moved[True]) and all(moved[False])


def planted_toy_clicks(n_users=12, n_items=10, per_user=4, seed=0):
    """A small implicit log: user u clicks items near u (mod n_items)."""
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users), per_user)
    items = (users + rng.integers(0, 3, len(users))) % n_items
    pairs = np.unique(users * n_items + items)
    return Interactions.from_arrays(pairs // n_items, pairs % n_items)


def test_fused_kernel_in_float32_stays_close_to_the_layers():
    clicks = planted_toy_clicks()
    common = dict(n_factors=2, layers=(4, 3), n_epochs=2, batch_size=7, lr=0.05)
    fused = NeuMF(**common, fused=True).fit(clicks)
    layered = NeuMF(**common, fused=False).fit(clicks)
    for key, value in fused.network_.params.items():
        np.testing.assert_allclose(value, layered.network_.params[key], rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ long-tail weights
# Recorded with the code before sample weights existed (commit 06acafb; planted_toy_clicks(),
# 2 epochs of batch 7, lr 0.05, float64): the epoch losses and sum |theta| over the parameters.
# They matched bit for bit on the recording machine; the tolerance leaves room for the last
# digits that fastmath kernels and NumPy's SIMD loops may round differently on another CPU.
BEFORE_WEIGHTS = {
    (MatrixFactorization, True): ([0.5878090185200832, 0.39050409640082223], 35.31468131601856),
    (MatrixFactorization, False): ([0.5878090185200832, 0.3905040964008222], 35.31468131601861),
    (NeuMF, True): ([0.5459258289247597, 0.4861237619028741], 42.71487197747321),
    (NeuMF, False): ([0.5459258289247598, 0.4861237619028736], 42.714871977473265),
}
SHAPES = {MatrixFactorization: dict(n_factors=3), NeuMF: dict(n_factors=2, layers=(4, 3))}


@pytest.mark.parametrize("model_class, fused", list(BEFORE_WEIGHTS))
def test_default_weights_train_as_before_weights_existed(model_class, fused):
    """tail_weight=0, negative_weight=1: every weight is exactly 1, and w * x = x in floating
    point, so training is the unweighted one of before."""
    model = model_class(**SHAPES[model_class], n_epochs=2, batch_size=7, lr=0.05,
                        dtype=np.float64, fused=fused).fit(planted_toy_clicks())
    losses, total = BEFORE_WEIGHTS[model_class, fused]
    assert model.history_["loss"] == pytest.approx(losses, rel=1e-12)
    assert sum(np.abs(p).sum() for p in model.network_.params.values()) == pytest.approx(
        total, rel=1e-12)


def drawn_weights(model, data):
    """The (labels, weights) of one epoch, as the model draws them."""
    model._check_hyperparameters(None)
    _, _, labels, weights = model._sampler(data, np.random.default_rng(0))()
    return labels, weights


@settings(max_examples=20, deadline=None)
@given(seed=SEEDS, tail_weight=st.floats(0, 2), negative_weight=st.floats(0.1, 3),
       model_class=st.sampled_from([MatrixFactorization, NeuMF]))
def test_sample_weights_follow_the_formula(seed, tail_weight, negative_weight, model_class):
    """A positive of item i weighs (n_i / mean n) ** -tail_weight, rescaled to mean 1 over the
    positives, checked item by item from the counts; a negative weighs negative_weight."""
    rng = np.random.default_rng(seed)
    popularity = 1 / np.arange(1, 11)  # 10 items, of skewed popularity
    items = rng.choice(10, 30, p=popularity / popularity.sum())
    pairs = np.unique(rng.integers(0, 8, 30) * 10 + items)
    data = Interactions.from_arrays(pairs // 10, pairs % 10)
    model = model_class(tail_weight=tail_weight, negative_weight=negative_weight, n_negatives=2,
                        dtype=np.float64)
    model.n_users_, model.n_items_ = data.n_users, data.n_items
    labels, weights = drawn_weights(model, data)
    positive, negative = weights[labels == 1], weights[labels == 0]
    np.testing.assert_array_equal(negative, negative_weight)
    assert positive.mean() == pytest.approx(1.0, rel=1e-12)
    counts = {item: np.sum(data.item_index == item) for item in range(data.n_items)}
    for a, b in zip(data.item_index, data.item_index[::-1]):  # ratios of two rows' weights
        expected = (counts[a] / counts[b]) ** -tail_weight
        assert positive[a == data.item_index][0] / positive[b == data.item_index][0] == (
            pytest.approx(expected, rel=1e-9))


@pytest.mark.parametrize("model_class", [MatrixFactorization, NeuMF])
def test_default_weights_are_exactly_one(model_class):
    data = load("synthetic", seed=1, n_users=50, n_items=30, n_interactions=400)
    model = model_class(implicit=True)
    model.n_users_, model.n_items_ = data.n_users, data.n_items
    labels, weights = drawn_weights(model, data)
    assert weights.dtype == labels.dtype == np.float32
    np.testing.assert_array_equal(weights, 1.0)


@pytest.mark.parametrize("model_class", [MatrixFactorization, NeuMF])
def test_tail_weight_moves_recommendations_to_the_tail(model_class, long_tail, tail_share_of_top10):
    options = dict(FAST[model_class], n_epochs=5)
    plain = model_class(**options).fit(long_tail)
    weighted = model_class(**options, tail_weight=1.0).fit(long_tail)
    # measured (3 data seeds x 2 model seeds): 0.04-0.08 without weights, 0.21-0.32 with
    assert tail_share_of_top10(weighted, long_tail) > tail_share_of_top10(plain, long_tail) + 0.1


def test_negative_weight_raises_the_scores(long_tail):
    """Lighter negatives pull the scores of unseen pairs down less."""
    options = dict(FAST[MatrixFactorization], n_epochs=3)
    plain = MatrixFactorization(**options).fit(long_tail)
    light = MatrixFactorization(**options, negative_weight=0.25).fit(long_tail)
    users = np.arange(long_tail.n_users)
    # measured on 3 data seeds: mean p 0.19-0.20 against 0.38-0.40
    assert light.score_items(users).mean() > plain.score_items(users).mean() + 0.1


# ------------------------------------------------------------------ learning
@pytest.fixture(scope="module")
def synthetic_split():
    """Planted low-rank preferences without popularity bias (every item equally exposed), so
    that only a model of the preferences beats Popularity; a random 20% holdout."""
    data = load("synthetic", seed=0, n_users=600, n_items=100, n_interactions=9000,
                popularity_exponent=0.0, n_factors=2, drift=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ColdStartWarning)
        return holdout(data, test_size=0.2, seed=0)


FAST = {
    MatrixFactorization: dict(n_factors=8, n_epochs=10, lr=0.02, implicit=True),
    NeuMF: dict(n_factors=8, layers=(16, 8), n_epochs=10, lr=0.02, implicit=True),
}


@pytest.mark.parametrize("model_class", [MatrixFactorization, NeuMF])
def test_recovers_planted_preferences_better_than_popularity(model_class, synthetic_split):
    train, test = synthetic_split
    metrics = ("hr@10", "ndcg@10")
    model = model_class(**FAST[model_class]).fit(train)
    found = evaluate(model, test, train=train, metrics=metrics)
    popularity = evaluate(Popularity().fit(train), test, train=train, metrics=metrics)
    # measured: HR@10 0.52-0.53 (MF, NeuMF) against 0.42; NDCG@10 0.16-0.17 against 0.13
    assert found["hr@10"] > popularity["hr@10"] + 0.06
    assert found["ndcg@10"] > popularity["ndcg@10"] + 0.02
    losses = model.history_["loss"]
    assert losses[-1] < 0.8 * losses[0]
    assert all(later < earlier for earlier, later in zip(losses, losses[1:]))


def test_seed_example_on_the_toy_log():
    """The seed: the 9-row 0/1 log, its labels as targets (no sampling), 10 epochs of batch 128."""
    toy = load("toy")
    model = MatrixFactorization().fit(toy)
    assert len(model.history_["loss"]) == 10
    assert model.network_.user_embedding.params["W"].shape == (3, 16)
    probabilities = model.predict(toy.user_ids[toy.user_index], toy.item_ids[toy.item_index])
    assert np.all((probabilities > 0) & (probabilities < 1))
    # trained long enough, it separates the 1s from the 0s of its own log
    fitted = MatrixFactorization(n_epochs=300, lr=0.05).fit(toy)
    scores = fitted.score_pairs(toy.user_index, toy.item_index)
    assert scores[toy.ratings == 1].min() > scores[toy.ratings == 0].max()


@pytest.mark.parametrize("model_class", [MatrixFactorization, NeuMF])
def test_same_seed_same_model(model_class, synthetic_split):
    train, _ = synthetic_split
    options = dict(FAST[model_class], n_epochs=2)
    first = model_class(**options, random_state=5).fit(train)
    again = model_class(**options, random_state=5).fit(train)
    other = model_class(**options, random_state=6).fit(train)
    assert first.history_ == again.history_
    for key, value in first.network_.params.items():
        np.testing.assert_array_equal(value, again.network_.params[key])
    assert not np.allclose(first.score_items([0, 1]), other.score_items([0, 1]))


@pytest.mark.parametrize("model_class, options", [
    (MatrixFactorization, {}),
    (NeuMF, {}),
    (NeuMF, dict(n_factors=0)),
    (NeuMF, dict(layers=(8,))),
    (NeuMF, dict(layers=())),
])
def test_scores_are_the_networks_probabilities(model_class, options, synthetic_split):
    train, _ = synthetic_split
    model = model_class(**dict(FAST[model_class], n_epochs=1, **options)).fit(train)
    users = np.array([0, 3, 7])
    scores = model.score_items(users)
    assert scores.shape == (3, train.n_items) and scores.dtype == np.float64
    pair_users, pair_items = np.repeat(users, train.n_items), np.tile(np.arange(train.n_items), 3)
    output = model.network_.eval().forward((pair_users, pair_items))[:, 0].astype(np.float64)
    probabilities = output if model_class is MatrixFactorization else 1 / (1 + np.exp(-output))
    np.testing.assert_allclose(scores.ravel(), probabilities, rtol=1e-5)
    # score_pairs runs the network on the pairs: equal up to float32 rounding
    np.testing.assert_allclose(model.score_pairs(pair_users, pair_items), scores.ravel(), rtol=1e-5)


def test_early_stopping_keeps_the_best_epoch(synthetic_split, capsys):
    train, test = synthetic_split
    model = MatrixFactorization(**dict(FAST[MatrixFactorization], n_epochs=12, lr=0.2),
                                early_stopping=2, verbose=True).fit(train, test)
    hit_rates = model.history_["valid_hr@10"]
    assert model.best_epoch_ == int(np.argmax(hit_rates))
    assert len(hit_rates) == len(model.history_["loss"]) <= 12
    final = evaluate(model, test, train=train, metrics=("hr@10",))["hr@10"]
    assert final == pytest.approx(max(hit_rates))
    assert capsys.readouterr().out.count("valid_hr@10") == len(hit_rates)


def test_pretraining_starts_from_the_joined_branches(synthetic_split):
    train, _ = synthetic_split
    model = NeuMF(**dict(FAST[NeuMF], n_epochs=1), pretrain=True, gmf_weight=0.3).fit(train)
    assert set(model.pretrain_history_) == {"gmf", "mlp"}
    assert len(model.pretrain_history_["gmf"]["loss"]) == 1
    gmf = NeuMF(**dict(FAST[NeuMF], n_epochs=1, layers=())).fit(train).network_
    mlp = NeuMF(**dict(FAST[NeuMF], n_epochs=1, n_factors=0)).fit(train).network_
    joined = model._build_network()
    joined.load_pretrained(gmf, mlp, gmf_weight=0.3)
    weight = joined.output.params["W"][:, 0]
    np.testing.assert_allclose(weight[:8], 0.3 * gmf.output.params["W"][:, 0], rtol=1e-6)
    np.testing.assert_allclose(weight[8:], 0.7 * mlp.output.params["W"][:, 0], rtol=1e-6)
    np.testing.assert_array_equal(joined.gmf_item.params["W"], gmf.gmf_item.params["W"])
    np.testing.assert_array_equal(joined.tower[0].params["W"], mlp.tower[0].params["W"])


# ------------------------------------------------------------------ bad input
def test_ratings_outside_0_1_need_implicit_true():
    stars = Interactions.from_arrays([1, 1, 2], [1, 2, 3], ratings=[5.0, 3.0, 4.0])
    with pytest.raises(ValueError, match="implicit=True"):
        MatrixFactorization().fit(stars)
    MatrixFactorization(n_epochs=1, implicit=True).fit(stars)  # every row a positive


@pytest.mark.parametrize("weights", [dict(tail_weight=0.5), dict(negative_weight=2.0)])
def test_weights_need_implicit_feedback(weights):
    """Labels have no sampled negatives to weigh against: other weights than the defaults raise."""
    with pytest.raises(ValueError, match="tail_weight and negative_weight.*implicit=True"):
        MatrixFactorization(**weights).fit(load("toy"))
    MatrixFactorization(**weights, n_epochs=1, implicit=True).fit(load("toy"))


def test_implicit_false_needs_labels():
    clicks = planted_toy_clicks()
    with pytest.raises(ValueError, match="needs ratings"):
        NeuMF(implicit=False).fit(clicks)


@pytest.mark.parametrize("model_class, name, value, message", [
    (MatrixFactorization, "n_factors", 0, "n_factors must be an integer >= 1, got 0"),
    (MatrixFactorization, "batch_size", 0, "batch_size must be an integer >= 1, got 0"),
    (MatrixFactorization, "lr", -1.0, "lr must be a finite number in (0, inf), got -1.0"),
    (MatrixFactorization, "dtype", np.int32, "dtype must be np.float32 or np.float64"),
    (MatrixFactorization, "implicit", "yes", "implicit must be one of None, True, False, got 'yes'"),
    (MatrixFactorization, "adam", "sparse", "adam must be one of 'dense', 'lazy', got 'sparse'"),
    (MatrixFactorization, "tail_weight", -0.5, "tail_weight must be a finite number in [0, inf)"),
    (MatrixFactorization, "fused", "yes", "fused must be True or False, got 'yes'"),
    (NeuMF, "tail_weight", float("nan"), "tail_weight must be a finite number in [0, inf), got nan"),
    (NeuMF, "negative_weight", 0.0, "negative_weight must be a finite number in (0, inf), got 0.0"),
    (NeuMF, "adam", None, "adam must be one of 'dense', 'lazy', got None"),
    (NeuMF, "layers", (63, 8), "layers[0] = 63 must be even"),
    (NeuMF, "layers", (8, 0), "every entry of layers must be an integer >= 1, got 0"),
    (NeuMF, "n_factors", -1, "n_factors must be an integer >= 0, got -1"),
    (NeuMF, "gmf_weight", 1.5, "gmf_weight must be a finite number in [0, 1], got 1.5"),
    (NeuMF, "pretrain", 1, "pretrain must be True or False, got 1"),
    (NeuMF, "early_stopping", 2, "early_stopping needs validation data"),
])
def test_bad_hyperparameters_are_named(model_class, name, value, message):
    with pytest.raises(ValueError, match=re.escape(f"{model_class.__name__}: {message}")):
        model_class(**{name: value}).fit(planted_toy_clicks())


def test_neumf_needs_a_branch():
    with pytest.raises(ValueError, match="no branch"):
        NeuMF(n_factors=0, layers=()).fit(planted_toy_clicks())
