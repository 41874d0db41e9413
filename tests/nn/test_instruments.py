import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanorec.nn import (
    RNN,
    Dense,
    Dot,
    Embedding,
    LeakyReLU,
    MSELoss,
    Network,
    Parallel,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
)
from nanorec.nn.instruments import GradientFlow

F64 = np.float64
bounded = settings(max_examples=25, deadline=None)


def wrapped(layers):
    """The layers that still carry an instance forward or backward."""
    return [layer for layer in layers if {"forward", "backward"} & set(vars(layer))]


# ------------------------------------------------------------------ norms against a hand computation
@bounded
@given(n=st.integers(1, 6), d_in=st.integers(1, 4), hidden=st.integers(1, 5),
       seed=st.integers(0, 2**32 - 1))
def test_recorded_norms_equal_the_hand_computed_ones(n, d_in, hidden, seed):
    rng = np.random.default_rng(seed)
    first, second = Dense(d_in, hidden, rng=rng, dtype=F64), Dense(hidden, 1, rng=rng, dtype=F64)
    network = Sequential(first, Tanh(), second)
    x, target = rng.normal(size=(n, d_in)), rng.normal(size=(n, 1))
    loss = MSELoss()
    with GradientFlow(network) as flow:
        loss.forward(network.forward(x), target)
        network.backward(loss.backward())

    W1, b1, W2, b2 = first.params["W"], first.params["b"], second.params["W"], second.params["b"]
    h = np.tanh(x @ W1 + b1)
    dp = 2 * (h @ W2 + b2 - target) / n  # dL/d(output of layer "2")
    dh = dp @ W2.T  # dL/d(output of the Tanh)
    da = dh * (1 - h**2)  # dL/d(output of layer "0")
    expected = {
        "0": (da, {"W": x.T @ da, "b": da.sum(0)}),
        "1": (dh, {}),
        "2": (dp, {"W": h.T @ dp, "b": dp.sum(0)}),
    }
    assert flow.names == ("0", "1", "2")
    for name, (dy, grads) in expected.items():
        trace = flow[name]
        np.testing.assert_allclose(trace.grad_norm, [np.linalg.norm(dy)], rtol=1e-10, atol=1e-14)
        assert set(trace.param_grad_norms) == set(grads)
        for key, grad in grads.items():
            np.testing.assert_allclose(trace.param_grad_norms[key], [np.linalg.norm(grad)],
                                       rtol=1e-10, atol=1e-14)
        total = np.sqrt(sum(np.linalg.norm(grad) ** 2 for grad in grads.values()))
        np.testing.assert_allclose(trace.param_grad_norm, [total], rtol=1e-10, atol=1e-14)


def test_each_backward_call_records_its_own_gradient_not_the_accumulated_one():
    layer = Dense(3, 2, rng=0, dtype=F64)
    x, dy = np.ones((4, 3)), np.full((4, 2), 0.5)
    with GradientFlow(layer) as flow:
        for _ in range(3):  # no zero_grad: layer.grads keeps growing
            layer.forward(x)
            layer.backward(dy)
    np.testing.assert_allclose(flow["Dense"].param_grad_norms["W"], [np.linalg.norm(x.T @ dy)] * 3)
    np.testing.assert_allclose(layer.grads["W"], 3 * x.T @ dy)  # the layer itself is unaffected
    assert flow["Dense"].grad_norm.shape == (3,)


def test_a_row_sparse_gradient_is_measured_with_its_repeated_rows_summed():
    embedding = Embedding(5, 2, rng=0, dtype=F64)
    ids = np.array([1, 3, 1])
    dy = np.array([[1.0, 2.0], [0.5, 0.0], [3.0, -1.0]])
    with GradientFlow(embedding) as flow:
        embedding.forward(ids)
        embedding.backward(dy)
        embedding.forward(ids)
        embedding.backward(2 * dy)
    dense = np.zeros((5, 2))
    np.add.at(dense, ids, dy)
    np.testing.assert_allclose(flow["Embedding"].param_grad_norms["W"],
                               [np.linalg.norm(dense), 2 * np.linalg.norm(dense)])


# ------------------------------------------------------------------------- saturated and dead units
def test_saturated_fraction_of_tanh_and_sigmoid_on_chosen_outputs():
    tanh_outputs = np.array([[0.995, -0.999, 0.5, 0.0]])
    sigmoid_outputs = np.array([[0.001, 0.995, 0.5], [0.02, 0.98, 0.9999]])
    tanh, sigmoid = Tanh(), Sigmoid()
    with GradientFlow(Sequential(tanh)) as flow:
        tanh.forward(np.arctanh(tanh_outputs))
    with GradientFlow(Sequential(tanh), tanh_threshold=0.998) as strict:
        tanh.forward(np.arctanh(tanh_outputs))
    with GradientFlow(Sequential(sigmoid), sigmoid_threshold=0.01) as flow_sigmoid:
        sigmoid.forward(np.log(sigmoid_outputs / (1 - sigmoid_outputs)))  # the logits
    with GradientFlow(Sequential(sigmoid), sigmoid_threshold=0.03) as loose:
        sigmoid.forward(np.log(sigmoid_outputs / (1 - sigmoid_outputs)))
    np.testing.assert_allclose(flow["0"].saturated, [2 / 4])
    np.testing.assert_allclose(strict["0"].saturated, [1 / 4])
    np.testing.assert_allclose(flow_sigmoid["0"].saturated, [3 / 6])
    np.testing.assert_allclose(loose["0"].saturated, [5 / 6])


def test_dead_fraction_counts_units_that_are_zero_for_every_example():
    x = np.array([[-1.0, -2.0, 1.0, 0.0],
                  [-3.0, 0.5, 2.0, 0.0],
                  [-0.1, -1.0, 3.0, 0.0]])  # unit 0: always negative; 1: alive once; 3: always 0
    relu = ReLU()
    with GradientFlow(relu) as flow:
        relu.forward(x)
        relu.forward(x[[0, 2]])  # without the second example unit 1 is dead too
        relu.forward(np.stack([x, -np.abs(x)], axis=1))  # (N, T, H): units on the last axis
    np.testing.assert_allclose(flow["ReLU"].dead, [2 / 4, 3 / 4, 2 / 4])


def test_fractions_are_asked_only_of_the_layers_that_have_them():
    network = Sequential(Dense(2, 2, rng=0), LeakyReLU(0.1), Tanh())
    with GradientFlow(network) as flow:
        network.forward(np.ones((3, 2), np.float32))
    with pytest.raises(ValueError, match="'1' .LeakyReLU. is not a ReLU"):
        _ = flow["1"].dead
    with pytest.raises(ValueError, match="'2' .Tanh. is not a ReLU"):
        _ = flow["2"].dead
    with pytest.raises(ValueError, match="'0' .Dense. is not a Sigmoid or a Tanh"):
        _ = flow["0"].saturated
    with pytest.raises(ValueError, match="not an RNN"):
        _ = flow["0"].step_grad_norms
    assert flow["2"].saturated.shape == (1,)


# ------------------------------------------------------------------------------- the RNN's steps
def orthogonal(size, rng):
    q, _ = np.linalg.qr(rng.normal(size=(size, size)))
    return q


@bounded
@given(n=st.integers(1, 4), hidden=st.integers(1, 5), steps=st.integers(1, 12),
       gain=st.floats(0.3, 1.5), seed=st.integers(0, 2**32 - 1))
def test_rnn_step_norms_shrink_by_the_gain_of_a_scaled_orthogonal_w_h(n, hidden, steps, gain, seed):
    """With x = 0, h_0 = 0 and b = 0 every state stays 0, so tanh' = 1 and the gradient reaching
    step t is dy W_h^(T-1-t) W_x^T; with W_h = gain * Q (Q orthogonal) and W_x = I its norm is
    exactly gain^(T-1-t) ||dy||."""
    rng = np.random.default_rng(seed)
    rnn = RNN(hidden, hidden, rng=rng, dtype=F64)
    rnn.params["W_x"][...] = np.eye(hidden)
    rnn.params["W_h"][...] = gain * orthogonal(hidden, rng)
    dy = rng.normal(size=(n, hidden))
    with GradientFlow(rnn) as flow:
        rnn.forward(np.zeros((n, steps, hidden)))
        rnn.backward(dy)
    expected = gain ** np.arange(steps - 1, -1, -1.0) * np.linalg.norm(dy)
    np.testing.assert_allclose(flow["RNN"].step_grad_norms, [expected], rtol=1e-9)
    np.testing.assert_allclose(flow["RNN"].grad_norm, [np.linalg.norm(dy)])


def test_rnn_without_recurrence_passes_gradient_only_to_the_last_step():
    rng = np.random.default_rng(1)
    rnn = RNN(3, 4, rng=rng, dtype=F64)
    rnn.params["W_h"][...] = 0
    x, h0, dy = rng.normal(size=(2, 5, 3)), rng.normal(size=(2, 4)), rng.normal(size=(2, 4))
    inner = Sequential(rnn)
    with GradientFlow(inner) as flow:
        h_last = inner.forward((x, h0))
        inner.backward(dy)  # a tuple input: backward returns (dx, dh_0)
    last_step = (dy * (1 - h_last**2)) @ rnn.params["W_x"].T
    expected = np.zeros(5)
    expected[-1] = np.linalg.norm(last_step)
    np.testing.assert_allclose(flow["0"].step_grad_norms, [expected], atol=1e-12)


# --------------------------------------------------------------------------------- names and trees
class Scorer(Network):
    """Two embeddings and their dot product; the item table is shared by two names."""

    def __init__(self):
        items = Embedding(4, 2, rng=1, dtype=F64)
        super().__init__(towers=Parallel(Embedding(3, 2, rng=0, dtype=F64), items), again=items,
                         dot=Dot())

    def forward(self, inputs):
        return self.parts["dot"].forward(self.parts["towers"].forward(inputs))

    def backward(self, dy):
        return self.parts["towers"].backward(self.parts["dot"].backward(dy))


def test_names_follow_the_tree_and_a_shared_layer_is_watched_once():
    scorer = Scorer()
    with GradientFlow(scorer) as flow:
        scorer.backward(scorer.forward((np.array([0, 2]), np.array([1, 1]))) * 0 + 1)
    assert flow.names == ("towers.0", "towers.1", "dot")
    assert flow["dot"].kind == "Dot" and len(flow["towers.1"].grad_norm) == 1
    with pytest.raises(KeyError, match="no watched layer named 'again'.*towers.0"):
        flow["again"]
    summary = flow.summary().splitlines()
    assert len(summary) == 4 and summary[3].split()[:2] == ["dot", "Dot"]


# ------------------------------------------------------------------------ restoring and bad use
def network_and_leaves():
    leaves = [Dense(2, 3, rng=0), ReLU(), Dense(3, 1, rng=1), Sigmoid()]
    return Sequential(*leaves), leaves


def test_nothing_stays_wrapped_after_the_block_and_nothing_more_is_recorded():
    network, leaves = network_and_leaves()
    x = np.ones((2, 2), np.float32)
    with GradientFlow(network) as flow:
        assert len(wrapped(leaves)) == 4
        network.backward(network.forward(x))
    assert wrapped(leaves) == []
    assert all(type(leaf).forward.__get__(leaf) == leaf.forward for leaf in leaves)
    network.backward(network.forward(x))
    assert len(flow["0"].grad_norm) == 1 and len(flow["1"].dead) == 1


def test_nothing_stays_wrapped_after_an_exception_in_the_block():
    network, leaves = network_and_leaves()
    with pytest.raises(ValueError, match="expected x with 2 dimensions"), GradientFlow(network):
        network.forward(np.ones(3, np.float32))  # the Dense layer's own error passes through
    assert wrapped(leaves) == []
    with pytest.raises(ZeroDivisionError), GradientFlow(network):
        raise ZeroDivisionError("raised inside the block")
    assert wrapped(leaves) == []


def test_bad_use_gets_a_clear_error():
    network, leaves = network_and_leaves()
    with pytest.raises(TypeError, match="expected a nanorec.nn Layer"):
        GradientFlow([network])
    with pytest.raises(ValueError, match="tanh_threshold must lie in"):
        GradientFlow(network, tanh_threshold=1.0)
    with pytest.raises(ValueError, match="sigmoid_threshold must lie in"):
        GradientFlow(network, sigmoid_threshold=0.5)
    flow = GradientFlow(network)
    with flow:
        inner = GradientFlow(Sequential(leaves[0]))
        with pytest.raises(RuntimeError, match="layer '0' is already wrapped"), inner:
            pass
        assert len(wrapped(leaves)) == 4  # the failed inner recorder left the outer one in place
    assert wrapped(leaves) == []
    with pytest.raises(RuntimeError, match="already used"), flow:
        pass
    assert wrapped(leaves) == []
