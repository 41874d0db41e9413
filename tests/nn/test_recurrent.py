import numpy as np
import pytest
from hypothesis import given, settings

from nanorec.nn.recurrent import RNN
from nanorec.testing.strategies import float_arrays, layers

bounded = settings(max_examples=30, deadline=None)


def naive_rnn(x, W_x, W_h, b, h0):
    """One sample, one state unit at a time: h_t[j] = tanh(x_t . W_x[:, j] + h . W_h[:, j] + b[j])."""
    n_batch, steps, d_in = x.shape
    hidden = W_h.shape[0]
    states = np.zeros((n_batch, steps, hidden))
    for n in range(n_batch):
        h = list(h0[n])
        for t in range(steps):
            h = [
                np.tanh(
                    sum(x[n, t, i] * W_x[i, j] for i in range(d_in))
                    + sum(h[m] * W_h[m, j] for m in range(hidden))
                    + b[j]
                )
                for j in range(hidden)
            ]
            states[n, t] = h
    return states


@bounded
@given(case=layers(["rnn"]), bias=float_arrays((3,), lo=-1, hi=1))
def test_rnn_forward_matches_a_naive_loop(case, bias):
    layer = case.layer
    layer.params["b"][...] = bias[: layer.hidden]
    x, h0 = case.x if isinstance(case.x, tuple) else (case.x, np.zeros((len(case.x), layer.hidden)))
    states = naive_rnn(x, layer.params["W_x"], layer.params["W_h"], layer.params["b"], h0)
    expected = states if layer.return_sequences else states[:, -1]
    np.testing.assert_allclose(layer.forward(case.x), expected, atol=1e-12)


@bounded
@given(case=layers(["rnn"]))
def test_rnn_passes_gradcheck(case):
    # The "rnn" cases draw moderate inputs and weights: see nanorec.testing.strategies.
    report = case.check()
    assert [row.name for row in report.rows][-3:] == ["param W_x", "param W_h", "param b"]


def test_rnn_returns_the_initial_state_gradient_only_when_given_one():
    layer = RNN(2, 3, rng=0, dtype=np.float64)
    x, h0 = np.ones((4, 5, 2)), np.zeros((4, 3))
    layer.forward(x)
    assert layer.backward(np.ones((4, 3))).shape == (4, 5, 2)
    layer.forward((x, h0))
    dx, dh0 = layer.backward(np.ones((4, 3)))
    assert dx.shape == (4, 5, 2) and dh0.shape == (4, 3)


def test_rnn_without_bias_and_defaults():
    layer = RNN(2, 3, bias=False)
    assert set(layer.params) == {"W_x", "W_h"} and layer.params["W_h"].dtype == np.float32
    assert layer.forward(np.ones((1, 4, 2), np.float32)).shape == (1, 3)


def test_rnn_errors_are_clear():
    layer = RNN(2, 3)
    x = np.ones((4, 5, 2), np.float32)
    with pytest.raises(ValueError, match="2 features"):
        layer.forward(np.ones((4, 5, 3), np.float32))
    with pytest.raises(ValueError, match="3 dimensions"):
        layer.forward(np.ones((4, 2), np.float32))
    with pytest.raises(ValueError, match=r"expected h0 of shape \(4, 3\)"):
        layer.forward((x, np.zeros((4, 2), np.float32)))
    with pytest.raises(TypeError, match="tuple of 3"):
        layer.forward((x, x, x))
    with pytest.raises(ValueError, match="at least one time step"):
        layer.forward(np.ones((4, 0, 2), np.float32))
    with pytest.raises(RuntimeError, match="RNN.backward called before RNN.forward"):
        RNN(2, 3).backward(np.ones((4, 3)))
    layer.forward(x)
    with pytest.raises(ValueError, match=r"expected dy of shape \(4, 3\)"):
        layer.backward(np.ones((4, 5, 3)))
