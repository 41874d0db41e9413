import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanorec.nn.activations import Sigmoid, Tanh
from nanorec.nn.base import RowSparseGrad
from nanorec.nn.layers import (
    Add,
    Branch,
    Concatenate,
    Dense,
    Dot,
    Dropout,
    Embedding,
    ItemScores,
    Multiply,
    Network,
    PairScores,
    Parallel,
    ProfileMatch,
    Sequential,
    SparseDense,
    SparseRows,
)
from nanorec.optim.optimizers import SGD
from nanorec.testing.gradcheck import gradcheck
from nanorec.testing.strategies import (
    dims,
    float_arrays,
    id_arrays,
    layers,
    seeds,
    shapes,
)

F64 = np.float64
bounded = settings(max_examples=30, deadline=None)


KINDS = [
    "dense", "embedding", "dropout", "dot", "multiply", "add", "concatenate", "profile_match",
    "item_scores", "sparse_dense", "pair_scores", "matrix_factorization", "branch",
]


@pytest.mark.parametrize("kind", KINDS)
@bounded
@given(data=st.data())
def test_every_layer_passes_gradcheck(kind, data):
    data.draw(layers([kind])).check()


# ----- Dense -----


@bounded
@given(n=dims(), d_in=dims(), d_out=dims(), seed=seeds(), data=st.data())
def test_dense_forward_is_affine(n, d_in, d_out, seed, data):
    layer = Dense(d_in, d_out, rng=seed, dtype=F64)
    layer.params["b"][...] = data.draw(float_arrays((d_out,)))
    x = data.draw(float_arrays((n, d_in)))
    expected = [[sum(x[i, k] * layer.params["W"][k, j] for k in range(d_in)) + layer.params["b"][j]
                 for j in range(d_out)] for i in range(n)]
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12, atol=1e-12)


def test_dense_without_bias_has_only_W():
    layer = Dense(3, 2, bias=False, rng=0, dtype=F64)
    assert set(layer.params) == set(layer.grads) == {"W"}
    x = np.random.default_rng(1).standard_normal((4, 3))
    np.testing.assert_allclose(layer.forward(x), x @ layer.params["W"])
    gradcheck(layer, x).check()


def test_gradients_accumulate_until_zero_grad():
    layer = Dense(3, 2, rng=0, dtype=F64)
    x, dy = np.ones((4, 3)), np.arange(8.0).reshape(4, 2)
    layer.forward(x)
    layer.backward(dy)
    once = {k: g.copy() for k, g in layer.grads.items()}
    layer.forward(x)
    layer.backward(dy)
    for key in once:
        np.testing.assert_allclose(layer.grads[key], 2 * once[key])
    layer.zero_grad()
    assert all(not g.any() for g in layer.grads.values())


def test_dense_defaults_to_float32_and_repeatable_seeds():
    layer = Dense(4, 3, rng=7)
    assert layer.params["W"].dtype == np.float32 and layer.grads["b"].dtype == np.float32
    np.testing.assert_array_equal(layer.params["W"], Dense(4, 3, rng=7).params["W"])
    np.testing.assert_array_equal(
        Dense(4, 3, rng=np.random.default_rng(7)).params["W"], layer.params["W"]
    )
    assert not np.array_equal(Dense(4, 3, rng=8).params["W"], layer.params["W"])


def test_dense_accepts_a_named_or_callable_init():
    assert not Dense(2, 2, init="zeros").params["W"].any()
    layer = Dense(2, 3, init=lambda shape, rng, dtype: np.full(shape, 0.5, dtype))
    np.testing.assert_array_equal(layer.params["W"], np.full((2, 3), 0.5, np.float32))
    he_std = Dense(50, 60, init="he_normal", rng=0).params["W"].std()
    assert he_std == pytest.approx(np.sqrt(2 / 50), rel=0.1)


def test_dense_bad_arguments_are_named():
    with pytest.raises(ValueError, match="d_in must be an integer >= 1"):
        Dense(0, 3)
    with pytest.raises(ValueError, match="d_out must be an integer >= 1"):
        Dense(3, 2.5)
    with pytest.raises(ValueError, match="unknown init 'xavier'"):
        Dense(3, 2, init="xavier")
    with pytest.raises(TypeError, match="float dtype"):
        Dense(3, 2, dtype=np.int32)
    with pytest.raises(TypeError, match="rng must be"):
        Dense(3, 2, rng="seed")
    with pytest.raises(ValueError, match="init returned shape"):
        Dense(3, 2, init=lambda shape, rng, dtype: np.zeros(3))


def test_dense_input_errors_are_clear():
    layer = Dense(3, 2)
    with pytest.raises(ValueError, match="3 features"):
        layer.forward(np.ones((4, 5), np.float32))
    with pytest.raises(ValueError, match="2 dimensions"):
        layer.forward(np.ones(3, np.float32))
    with pytest.raises(TypeError, match="float array"):
        layer.forward(np.ones((4, 3), np.int64))
    with pytest.raises(RuntimeError, match="Dense.backward called before Dense.forward"):
        Dense(3, 2).backward(np.ones((4, 2)))
    layer.forward(np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match="expected dy of shape"):
        layer.backward(np.ones((4, 3)))


# ----- Embedding -----


@bounded
@given(n_rows=dims(), dim=dims(), seed=seeds(), data=st.data())
def test_embedding_repeated_ids_accumulate_like_np_add_at(n_rows, dim, seed, data):
    ids = data.draw(id_arrays(n_rows, st.tuples(dims(1, 12))))
    layer = Embedding(n_rows, dim, rng=seed, dtype=F64)
    y = layer.forward(ids)
    np.testing.assert_array_equal(y, layer.params["W"][ids])
    dy = np.random.default_rng(seed).standard_normal(y.shape)
    assert layer.backward(dy) is None
    expected = np.zeros((n_rows, dim))
    np.add.at(expected, ids, dy)
    assert isinstance(layer.grads["W"], RowSparseGrad)
    np.testing.assert_allclose(layer.grads["W"].to_dense(), expected, atol=1e-12)


def test_embedding_takes_sequences_of_ids():
    layer = Embedding(6, 2, rng=0, dtype=F64)
    ids = np.array([[0, 5, 5], [1, 2, 0]])
    assert layer.forward(ids).shape == (2, 3, 2)
    layer.backward(np.ones((2, 3, 2)))
    np.testing.assert_array_equal(layer.grads["W"].to_dense()[:, 0], [2, 1, 1, 0, 0, 2])


def test_embedding_errors_name_the_problem():
    layer = Embedding(4, 2)
    with pytest.raises(IndexError, match=r"id 7 is out of range \[0, 4\)"):
        layer.forward(np.array([0, 7, 3]))
    with pytest.raises(IndexError, match=r"id -1 is out of range"):
        layer.forward(np.array([-1]))
    with pytest.raises(TypeError, match="integer ids"):
        layer.forward(np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="dimensions"):
        layer.forward(np.zeros((1, 1, 1), np.int64))
    with pytest.raises(RuntimeError, match="before"):
        layer.backward(np.ones((3, 2)))
    with pytest.raises(ValueError, match="n_rows must be an integer >= 1"):
        Embedding(0, 2)


# ----- Dropout -----


def test_dropout_train_mask_scales_kept_entries_by_inverse_keep_rate():
    p = 0.3
    x = np.random.default_rng(0).uniform(1, 2, size=(200, 50))
    layer = Dropout(p, rng=1)
    y = layer.forward(x)
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / (1 - p))
    assert kept.mean() == pytest.approx(1 - p, abs=0.02)
    dy = np.random.default_rng(2).standard_normal(x.shape)
    np.testing.assert_allclose(layer.backward(dy), np.where(kept, dy / (1 - p), 0))


def test_dropout_is_the_identity_in_eval_mode_and_draws_nothing():
    layer = Dropout(0.5, rng=3).eval()
    state = layer.rng.bit_generator.state
    x = np.random.default_rng(0).standard_normal((4, 5))
    np.testing.assert_array_equal(layer.forward(x), x)
    assert layer.rng.bit_generator.state == state
    layer.train()
    assert (layer.forward(x) == 0).any()


def test_dropout_rejects_bad_p():
    for p in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match=r"p must be a finite number in \[0, 1\)"):
            Dropout(p)


# ----- Dot, Multiply, Concatenate -----


@bounded
@given(shape=shapes(ndim=2), data=st.data())
def test_dot_and_multiply_forward(shape, data):
    a, b = data.draw(float_arrays(shape)), data.draw(float_arrays(shape))
    n_rows, n_cols = shape
    expected_dot = np.array([[sum(a[n, k] * b[n, k] for k in range(n_cols))] for n in range(n_rows)])
    np.testing.assert_allclose(Dot().forward((a, b)), expected_dot, atol=1e-12)
    np.testing.assert_array_equal(Multiply().forward((a, b)), a * b)
    np.testing.assert_array_equal(Add().forward((a, b)), a + b)


@pytest.mark.parametrize("layer_class", [Dot, Multiply, Add])
def test_pair_layers_reject_bad_inputs(layer_class):
    a = np.ones((3, 2))
    with pytest.raises(TypeError, match="tuple of two arrays"):
        layer_class().forward(a)
    with pytest.raises(ValueError, match="same shape"):
        layer_class().forward((a, np.ones((3, 4))))
    with pytest.raises(TypeError, match="float array"):
        layer_class().forward((a, np.ones((3, 2), np.int64)))


def test_concatenate_splits_the_gradient_back():
    a, b = np.ones((2, 1)), np.zeros((2, 3))
    layer = Concatenate()
    assert layer.forward((a, b)).shape == (2, 4)
    da, db = layer.backward(np.arange(8.0).reshape(2, 4))
    np.testing.assert_array_equal(da, [[0], [4]])
    np.testing.assert_array_equal(db, [[1, 2, 3], [5, 6, 7]])
    with pytest.raises(ValueError, match="equal leading axes"):
        layer.forward((np.ones((2, 1)), np.ones((3, 1))))
    with pytest.raises(TypeError, match="non-empty tuple"):
        layer.forward(np.ones((2, 1)))


# ----- Sequential, Parallel, Branch -----


def seed_mf(n_users=5, n_items=4, n_factors=3):
    return Sequential(
        Parallel(
            Embedding(n_users, n_factors, rng=0, dtype=F64),
            Embedding(n_items, n_factors, rng=1, dtype=F64),
        ),
        Dot(),
        Dense(1, 1, rng=2, dtype=F64),
        Sigmoid(),
    )


def test_container_params_are_the_childrens_objects():
    model = seed_mf()
    towers, _, dense, _ = model.children
    assert list(model.params) == ["0.0.W", "0.1.W", "2.W", "2.b"]
    assert model.params["0.1.W"] is towers.children[1].params["W"]
    assert model.grads["0.0.W"] is towers.children[0].grads["W"]
    assert model.params["2.W"] is dense.params["W"] and model.grads["2.b"] is dense.grads["b"]
    ids = (np.array([0, 1]), np.array([2, 3]))
    before = model.forward(ids)
    model.params["2.b"] += 10.0  # an optimizer's in-place update
    assert np.all(model.forward(ids) > before)


def test_seed_mf_forward_backward():
    model = seed_mf()
    users, items = np.array([0, 4, 4]), np.array([1, 1, 3])
    P, Q = model.params["0.0.W"], model.params["0.1.W"]
    w, c = model.params["2.W"][0, 0], model.params["2.b"][0]
    expected = 1 / (1 + np.exp(-(w * np.sum(P[users] * Q[items], axis=1) + c)))
    np.testing.assert_allclose(model.forward((users, items))[:, 0], expected, rtol=1e-12)
    assert model.backward(np.ones((3, 1))) is None  # ids have no gradient
    assert set(model.grads["0.0.W"].rows) == {0, 4}
    model.zero_grad()
    assert model.grads["0.0.W"].rows.size == 0 and not model.grads["2.W"].any()


def test_mode_switches_reach_every_child():
    model = Sequential(Dense(2, 2), Parallel(Dropout(0.5), Sigmoid()))
    model.eval()
    assert not any(layer.training for layer in model.children[1].children)
    model.train()
    assert all(layer.training for layer in model.children[1].children)


@bounded
@given(shape=shapes(ndim=2), data=st.data())
def test_branch_sums_gradients_of_a_shared_tuple_input(shape, data):
    pair = (data.draw(float_arrays(shape)), data.draw(float_arrays(shape)))
    model = Sequential(Branch(Dot(), Multiply()), Concatenate())
    gradcheck(model, pair).check()


def test_neumf_like_stack_passes_gradcheck():
    n_users, n_items, k = 4, 5, 2
    rng = np.random.default_rng(0)

    def towers():
        return Parallel(
            Embedding(n_users, k, rng=rng, dtype=F64), Embedding(n_items, k, rng=rng, dtype=F64)
        )

    gmf = Sequential(towers(), Multiply())
    mlp = Sequential(towers(), Concatenate(), Dense(2 * k, 3, rng=rng, dtype=F64), Tanh())
    model = Sequential(Branch(gmf, mlp), Concatenate(), Dense(k + 3, 1, rng=rng, dtype=F64), Sigmoid())
    ids = (np.array([0, 3, 3, 1]), np.array([4, 0, 2, 4]))
    gradcheck(model, ids).check()
    assert model.backward(np.ones((4, 1))) is None


def test_container_errors():
    with pytest.raises(ValueError, match="at least one layer"):
        Sequential()
    with pytest.raises(TypeError, match="must be a Layer"):
        Sequential(Dense(2, 2), np.tanh)
    with pytest.raises(TypeError, match="tuple of 2 inputs, got a tuple of 1"):
        Parallel(Dense(2, 2), Dense(2, 2)).forward((np.ones((1, 2), np.float32),))
    branch = Branch(Dense(2, 2), Dense(2, 2))
    branch.forward(np.ones((1, 2), np.float32))
    with pytest.raises(TypeError, match="tuple of 2 upstream gradients"):
        branch.backward(np.ones((1, 2)))


# ----- ProfileMatch -----


@bounded
@given(n=dims(), d=dims(), f=dims(), data=st.data())
def test_profile_match_lays_out_profile_item_product_and_user_features(n, d, f, data):
    p, x = data.draw(float_arrays((n, d))), data.draw(float_arrays((n, d)))
    z = data.draw(float_arrays((n, f)))
    y = ProfileMatch().forward((p, x, z))
    assert y.shape == (n, 3 * d + f)
    np.testing.assert_array_equal(y[:, :d], p)
    np.testing.assert_array_equal(y[:, d : 2 * d], x)
    np.testing.assert_array_equal(y[:, 2 * d : 3 * d], p * x)
    np.testing.assert_array_equal(y[:, 3 * d :], z)


def test_profile_match_rejects_bad_inputs():
    p = np.ones((2, 3))
    with pytest.raises(TypeError, match="expected a tuple"):
        ProfileMatch().forward((p, p))
    with pytest.raises(ValueError, match="p and x need one shape"):
        ProfileMatch().forward((p, np.ones((2, 4)), np.ones((2, 1))))
    with pytest.raises(ValueError, match="z as many rows"):
        ProfileMatch().forward((p, p, np.ones((3, 1))))


# ----- ItemScores -----


@bounded
@given(n=dims(), dim=dims(), n_items=dims(), n_candidates=dims(1, 4), seed=seeds())
def test_item_scores_are_dot_products_plus_biases_and_score_all_agrees(n, dim, n_items,
                                                                       n_candidates, seed):
    rng = np.random.default_rng(seed)
    layer = ItemScores(n_items, dim, init_std=1.0, rng=rng, dtype=F64)
    layer.params["biases.W"][...] = rng.standard_normal((n_items, 1))
    W, b = layer.params["weights.W"], layer.params["biases.W"][:, 0]
    h = rng.standard_normal((n, dim))
    items = rng.integers(0, n_items, (n, n_candidates))  # repeats included
    expected = [[h[r] @ W[items[r, c]] + b[items[r, c]] for c in range(n_candidates)]
                for r in range(n)]
    np.testing.assert_allclose(layer.forward((h, items)), expected, atol=1e-12)
    np.testing.assert_allclose(layer.forward((h, items)),
                               np.take_along_axis(layer.score_all(h), items, axis=1), atol=1e-12)


def test_item_scores_update_only_the_candidates_rows():
    """The output tables are Embedding parts: their gradients hold the candidates' rows only,
    and a step moves just those rows."""
    layer = ItemScores(6, 2, init_std=1.0, rng=0, dtype=F64)
    assert list(layer.params) == ["weights.W", "biases.W"]
    before = {key: value.copy() for key, value in layer.params.items()}
    h, items = np.ones((2, 2)), np.array([[4, 1], [1, 1]])
    layer.forward((h, items))
    dh, ditems = layer.backward(np.ones((2, 2)))
    assert ditems is None  # ids have no gradient
    np.testing.assert_allclose(dh, [before["weights.W"][[4, 1]].sum(0),
                                    2 * before["weights.W"][1]])
    for grad in layer.grads.values():
        assert isinstance(grad, RowSparseGrad) and set(grad.rows) == {1, 4}
    np.testing.assert_array_equal(layer.grads["biases.W"].to_dense()[:, 0], [0, 3, 0, 0, 1, 0])
    SGD(layer, lr=0.1).step()
    for key, value in layer.params.items():
        np.testing.assert_array_equal(value[[0, 2, 3, 5]], before[key][[0, 2, 3, 5]])
        assert not np.array_equal(value[[1, 4]], before[key][[1, 4]])


def test_item_scores_reject_bad_input():
    layer = ItemScores(5, 3)
    with pytest.raises(TypeError, match="tuple"):
        layer.forward(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="3 features"):
        layer.forward((np.zeros((2, 4), np.float32), np.zeros((2, 1), np.int64)))
    with pytest.raises(ValueError, match="2 queries h but 3 rows of items"):
        layer.forward((np.zeros((2, 3), np.float32), np.zeros((3, 1), np.int64)))
    with pytest.raises(IndexError, match="out of range"):
        layer.forward((np.zeros((2, 3), np.float32), np.full((2, 1), 5)))


# ----- Network: named parts wired by hand -----


class TwoPaths(Network):
    """y = first(x) + second(x), wired by hand; ``second`` holds a Dropout."""

    def __init__(self, d, p, rng):
        super().__init__(
            first=Dense(d, d, rng=rng, dtype=F64),
            second=Sequential(Dropout(p, rng=rng), Dense(d, d, rng=rng, dtype=F64), Tanh()),
        )

    def forward(self, x):
        return self.parts["first"].forward(x) + self.parts["second"].forward(x)

    def backward(self, dy):
        return self.parts["first"].backward(dy) + self.parts["second"].backward(dy)


def test_network_registers_its_parts_arrays_under_part_names():
    network = TwoPaths(3, 0.5, np.random.default_rng(0))
    first, second = network.parts["first"], network.parts["second"]
    assert list(network.params) == ["first.W", "first.b", "second.1.W", "second.1.b"]
    assert list(network.grads) == list(network.params)
    for part_name, part in (("first", first), ("second", second)):
        for key in part.params:
            assert network.params[f"{part_name}.{key}"] is part.params[key]
            assert network.grads[f"{part_name}.{key}"] is part.grads[key]
    assert network.children == (first, second)


def test_an_optimizer_over_the_network_steps_its_parts():
    network = TwoPaths(2, 0.0, np.random.default_rng(0))
    weight = network.parts["second"].layers[1].params["W"].copy()
    network.forward(np.ones((4, 2)))
    network.backward(np.ones((4, 2)))
    grad = network.parts["second"].layers[1].grads["W"].copy()
    assert np.any(grad)
    SGD(network, lr=0.5).step()
    np.testing.assert_allclose(network.parts["second"].layers[1].params["W"], weight - 0.5 * grad)
    network.zero_grad()
    assert not any(np.any(g) for g in network.grads.values())


def test_train_and_eval_reach_the_parts_of_a_network():
    network = TwoPaths(2, 0.5, np.random.default_rng(0))
    dropout = network.parts["second"].layers[0]
    network.eval()
    assert not dropout.training and not network.parts["first"].training
    x = np.ones((3, 2))
    np.testing.assert_array_equal(network.forward(x), network.forward(x))  # no dropout in eval
    network.train()
    assert dropout.training and network.parts["first"].training


@bounded
@given(n=dims(), d=dims(), p=st.sampled_from([0.0, 0.5]), seed=seeds(), data=st.data())
def test_network_passes_gradcheck(n, d, p, seed, data):
    network = TwoPaths(d, p, np.random.default_rng(seed))
    x = data.draw(float_arrays((n, d), lo=-1, hi=1))  # moderate: the tanh path stays unsaturated
    report = gradcheck(network, x)
    assert {row.name for row in report.rows} == {"input"} | {f"param {k}" for k in network.params}
    report.check()


def test_network_parts_must_be_layers():
    with pytest.raises(TypeError, match="part 'scores' must be a Layer"):
        Network(scores=np.tanh)


# ----- eval(keep_cache=True): inference that can still run backward -----


def test_eval_keeps_no_cache_and_eval_keep_cache_does():
    layer = Dense(3, 2, rng=0, dtype=F64)
    x, dy = np.ones((4, 3)), np.ones((4, 2))
    layer.forward(x)
    layer.eval()  # drops the cache of the training forward
    with pytest.raises(RuntimeError, match="keep_cache=True"):
        layer.backward(dy)
    layer.forward(x)
    with pytest.raises(RuntimeError, match="keep_cache=True"):
        layer.backward(dy)
    layer.eval(keep_cache=True)
    layer.forward(x)
    np.testing.assert_allclose(layer.backward(dy), dy @ layer.params["W"].T)
    layer.eval()  # back to plain inference: the kept cache goes
    with pytest.raises(RuntimeError, match="before Dense.forward"):
        layer.backward(dy)


def test_dropout_in_eval_keep_cache_is_the_identity_both_ways():
    layer = Dropout(0.5, rng=3).eval(keep_cache=True)
    state = layer.rng.bit_generator.state
    x = np.random.default_rng(0).standard_normal((4, 5))
    dy = np.random.default_rng(1).standard_normal((4, 5))
    np.testing.assert_array_equal(layer.forward(x), x)
    np.testing.assert_array_equal(layer.backward(dy), dy)
    assert layer.rng.bit_generator.state == state  # no mask was drawn


def test_keep_cache_reaches_every_child_and_train_resets_it():
    model = Sequential(Dense(2, 2), Parallel(Dropout(0.5), Sigmoid()))
    model.eval(keep_cache=True)
    leaves = [model.children[0], *model.children[1].children]
    assert all(not layer.training and layer.keep_cache for layer in leaves)
    model.train()
    assert all(layer.training and not layer.keep_cache for layer in leaves)


@bounded
@given(n=dims(), d=dims(), seed=seeds(), data=st.data())
def test_eval_keep_cache_gives_the_gradient_of_the_deterministic_network(n, d, seed, data):
    """In eval(keep_cache=True) a network with dropout passes gradcheck (its forward is the
    deterministic one), and its gradients are those of the same network without the Dropout."""
    network = TwoPaths(d, 0.5, np.random.default_rng(seed)).eval(keep_cache=True)
    without_dropout = TwoPaths(d, 0.0, np.random.default_rng(seed))
    for key, value in network.params.items():
        without_dropout.params[key][...] = value
    x = data.draw(float_arrays((n, d), lo=-1, hi=1))
    gradcheck(network, x).check()
    dy = np.random.default_rng(seed).standard_normal((n, d))
    for model in (network, without_dropout):
        model.zero_grad()
        model.forward(x)
    np.testing.assert_allclose(network.backward(dy), without_dropout.backward(dy), atol=1e-12)
    for key in network.grads:
        np.testing.assert_allclose(network.grads[key], without_dropout.grads[key], atol=1e-12)


# ----- SparseRows, SparseDense, PairScores -----


def test_sparse_rows_reject_malformed_batches():
    with pytest.raises(ValueError, match="indptr must rise from 0 to len"):
        SparseRows(np.array([0, 2]), np.array([0]), np.ones(1), 3)
    with pytest.raises(ValueError, match="indptr must rise"):
        SparseRows(np.array([0, 2, 1]), np.array([0]), np.ones(1), 3)
    with pytest.raises(IndexError, match="outside 0..2"):
        SparseRows(np.array([0, 1]), np.array([3]), np.ones(1), 3)
    with pytest.raises(ValueError, match="1 indices but values of shape"):
        SparseRows(np.array([0, 1]), np.array([0]), np.ones(2), 3)
    with pytest.raises(TypeError, match="integer ids in indices"):
        SparseRows(np.array([0, 1]), np.array([0.0]), np.ones(1), 3)


def test_sparse_dense_is_dense_on_the_stored_entries_and_reports_bad_input():
    x = SparseRows(np.array([0, 2, 2, 3]), np.array([0, 3, 1]), np.array([2.0, -1.0, 0.5]), 4)
    layer = SparseDense(4, 2, rng=0, dtype=F64)
    layer.params["b"][...] = [0.5, -0.5]
    np.testing.assert_allclose(layer.forward(x), x.to_dense() @ layer.params["W"] + [0.5, -0.5])
    assert layer.backward(np.ones((3, 2))) is None  # data: no gradient
    np.testing.assert_allclose(layer.grads["W"], x.to_dense().T @ np.ones((3, 2)))
    with pytest.raises(TypeError, match="expected a SparseRows batch, got ndarray"):
        layer.forward(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="rows of width 4, got 5"):
        layer.forward(SparseRows(np.array([0, 0]), np.array([], int), np.array([]), 5))


def test_pair_scores_score_all_agrees_and_bad_pairs_fail():
    layer = PairScores(4, 3, rng=0, dtype=F64)
    layer.params["b"][...] = [1.0, 2.0, 3.0, 4.0]
    h = np.random.default_rng(1).standard_normal((2, 3))
    rows, columns = np.array([1, 0, 1]), np.array([3, 3, 0])
    np.testing.assert_allclose(layer.forward((h, rows, columns)),
                               layer.score_all(h)[rows, columns])
    with pytest.raises(TypeError, match="tuple"):
        layer.forward(h)
    with pytest.raises(ValueError, match="2 rows but 1 columns"):
        layer.forward((h, np.array([0, 1]), np.array([0])))
    with pytest.raises(IndexError, match="outside the \\(2, 4\\) grid"):
        layer.forward((h, np.array([2]), np.array([0])))
    with pytest.raises(IndexError, match="outside the"):
        layer.forward((h, np.array([0]), np.array([4])))
