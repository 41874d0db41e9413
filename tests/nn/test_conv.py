import numpy as np
import pytest
from hypothesis import given, settings

from nanorec.nn.conv import Conv1d, MaxOverTime, VerticalConv
from nanorec.testing.gradcheck import gradcheck
from nanorec.testing.strategies import arrays_without_ties, float_arrays, layers, shapes

bounded = settings(max_examples=30, deadline=None)


def naive_conv1d(x, W, b):
    """y[n, t, o] = b[o] + sum over k, c of x[n, t + k, c] W[k, c, o], one output entry at a time."""
    n_batch, steps, c_in = x.shape
    width, _, c_out = W.shape
    y = np.zeros((n_batch, steps - width + 1, c_out))
    for n in range(n_batch):
        for t in range(steps - width + 1):
            for o in range(c_out):
                window_sum = sum(
                    x[n, t + k, c] * W[k, c, o] for k in range(width) for c in range(c_in)
                )
                y[n, t, o] = b[o] + window_sum
    return y


@bounded
@given(case=layers(["conv1d"]), bias=float_arrays((3,)))
def test_conv1d_forward_matches_a_naive_loop(case, bias):
    layer = case.layer
    layer.params["b"][...] = bias[: layer.c_out]
    expected = naive_conv1d(case.x, layer.params["W"], layer.params["b"])
    np.testing.assert_allclose(layer.forward(case.x), expected, atol=1e-12)


@bounded
@given(case=layers(["conv1d"]))
def test_conv1d_passes_gradcheck(case):
    case.check()


def test_conv1d_without_bias_and_dtype():
    layer = Conv1d(2, 3, 2, bias=False)
    assert set(layer.params) == {"W"} and layer.params["W"].dtype == np.float32
    assert layer.forward(np.ones((1, 4, 2), np.float32)).shape == (1, 3, 3)


def test_conv1d_errors_are_clear():
    layer = Conv1d(2, 3, width=4)
    with pytest.raises(ValueError, match="shorter than the filter width 4"):
        layer.forward(np.ones((1, 3, 2), np.float32))
    with pytest.raises(ValueError, match="2 features"):
        layer.forward(np.ones((1, 5, 3), np.float32))
    with pytest.raises(ValueError, match="3 dimensions"):
        layer.forward(np.ones((5, 2), np.float32))
    with pytest.raises(RuntimeError, match="before"):
        layer.backward(np.ones((1, 2, 3)))
    with pytest.raises(ValueError, match="width must be an integer >= 1"):
        Conv1d(2, 3, 0)


@bounded
@given(x=arrays_without_ties(shapes(ndim=3), axis=1))
def test_max_over_time_forward_and_gradcheck(x):
    layer = MaxOverTime()
    np.testing.assert_array_equal(layer.forward(x), x.max(axis=1))
    gradcheck(layer, x).check()


def test_max_over_time_sends_the_gradient_of_a_tie_to_the_first_step():
    x = np.array([[[1.0, 5.0], [3.0, 5.0], [3.0, 0.0]]])  # (1, 3, 2): ties in both channels
    layer = MaxOverTime()
    np.testing.assert_array_equal(layer.forward(x), [[3.0, 5.0]])
    dx = layer.backward(np.array([[10.0, 20.0]]))
    np.testing.assert_array_equal(dx, [[[0, 20], [10, 0], [0, 0]]])


def test_max_over_time_errors():
    with pytest.raises(ValueError, match="3 dimensions"):
        MaxOverTime().forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match="at least one time step"):
        MaxOverTime().forward(np.ones((2, 0, 3)))
    layer = MaxOverTime()
    layer.forward(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match="expected dy of shape"):
        layer.backward(np.ones((2, 3, 4)))


def naive_vertical_conv(x, w, b):
    """y[n, f * K + k] = b[f] + sum over l of w[l, f] x[n, l, k], one output entry at a time."""
    n_batch, steps, channels = x.shape
    n_filters = w.shape[1]
    y = np.zeros((n_batch, n_filters * channels))
    for n in range(n_batch):
        for f in range(n_filters):
            for k in range(channels):
                y[n, f * channels + k] = b[f] + sum(w[l, f] * x[n, l, k] for l in range(steps))
    return y


@bounded
@given(case=layers(["vertical_conv"]), bias=float_arrays((3,)))
def test_vertical_conv_forward_matches_a_naive_loop_filter_major(case, bias):
    layer = case.layer
    layer.params["b"][...] = bias[: layer.n_filters]
    expected = naive_vertical_conv(case.x, layer.params["w"], layer.params["b"])
    np.testing.assert_allclose(layer.forward(case.x), expected, atol=1e-12)


@bounded
@given(case=layers(["vertical_conv"]), bias=float_arrays((3,)))
def test_vertical_conv_passes_gradcheck(case, bias):
    case.layer.params["b"][...] = bias[: case.layer.n_filters]
    report = case.check()
    assert {row.name for row in report.rows} == {"input", "param w", "param b"}


def test_vertical_conv_errors_are_clear():
    layer = VerticalConv(seq_len=3, n_filters=2)
    assert layer.params["w"].shape == (3, 2) and layer.params["w"].dtype == np.float32
    with pytest.raises(ValueError, match=r"expected x with 3 steps, got shape \(1, 4, 2\)"):
        layer.forward(np.ones((1, 4, 2), np.float32))
    with pytest.raises(ValueError, match="3 dimensions"):
        layer.forward(np.ones((3, 2), np.float32))
    with pytest.raises(RuntimeError, match="before"):
        VerticalConv(3, 2).backward(np.ones((1, 4)))
    layer.forward(np.ones((1, 3, 2), np.float32))
    with pytest.raises(ValueError, match=r"expected dy of shape \(1, 4\)"):
        layer.backward(np.ones((1, 3)))
    with pytest.raises(ValueError, match="VerticalConv: n_filters must be an integer >= 1"):
        VerticalConv(3, 0)
