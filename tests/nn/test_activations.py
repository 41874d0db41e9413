import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanorec.nn.activations import LeakyReLU, ReLU, Sigmoid, Tanh, sigmoid
from nanorec.testing.gradcheck import gradcheck
from nanorec.testing.strategies import float_arrays, shapes

SMOOTH = [Sigmoid, Tanh]
ALL = [Sigmoid, Tanh, ReLU, LeakyReLU]


def closed_form_sigmoid_derivative(x):
    """s'(x) = e^{-|x|} / (1 + e^{-|x|})^2, symmetric in x and accurate in both tails."""
    z = np.exp(-np.abs(x))
    return z / (1 + z) ** 2


@pytest.mark.parametrize("layer_class", SMOOTH)
@settings(max_examples=30, deadline=None)
@given(x=float_arrays(shapes(ndim=2), lo=-30, hi=30), moderate=st.floats(-3, 3))
def test_smooth_activations_pass_gradcheck_up_to_magnitude_30(layer_class, x, moderate):
    # One entry in the sensitive range gives the relative error a scale: where every entry is
    # saturated the true derivative (< 1e-5) is below what finite differences of y ~ 1 resolve.
    x.flat[0] = moderate
    gradcheck(layer_class(), x).check()


@settings(max_examples=30, deadline=None)
@given(x=float_arrays(shapes(), min_abs=1e-3), alpha=st.floats(0, 0.5))
def test_relu_and_leaky_relu_pass_gradcheck_away_from_the_kink(x, alpha):
    gradcheck(ReLU(), x).check()
    gradcheck(LeakyReLU(alpha), x).check()


@settings(max_examples=30, deadline=None)
@given(x=float_arrays(shapes(), lo=-50, hi=50))
def test_forward_matches_the_definitions(x):
    np.testing.assert_allclose(Sigmoid().forward(x), 1 / (1 + np.exp(-x)), rtol=1e-12)
    np.testing.assert_array_equal(ReLU().forward(x), np.maximum(x, 0))
    np.testing.assert_array_equal(LeakyReLU(0.2).forward(x), np.where(x > 0, x, 0.2 * x))


@settings(max_examples=30, deadline=None)
@given(x=float_arrays(shapes(), lo=-1e4, hi=1e4), dy=st.floats(-1, 1))
def test_sigmoid_backward_matches_closed_form_at_any_magnitude(x, dy):
    layer = Sigmoid()
    layer.forward(x)
    dx = layer.backward(np.full(x.shape, dy))
    np.testing.assert_allclose(dx, dy * closed_form_sigmoid_derivative(x), rtol=1e-9, atol=1e-15)


@settings(max_examples=30, deadline=None)
@given(x=float_arrays(shapes(), lo=-100, hi=100))
def test_sigmoid_is_symmetric(x):
    np.testing.assert_allclose(sigmoid(-x), 1 - sigmoid(x), atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_function_is_finite_without_warnings_at_1e4(dtype):
    x = np.array([-1e4, -100.0, 0.0, 100.0, 1e4], dtype=dtype)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        y = sigmoid(x)
    assert y.dtype == dtype
    assert np.all(np.isfinite(y))
    np.testing.assert_array_equal(y[[0, 2, 4]], [0.0, 0.5, 1.0])


def test_sigmoid_accepts_scalars_and_integer_lists():
    assert float(sigmoid(0)) == 0.5
    np.testing.assert_allclose(sigmoid([1, -1]), [1 / (1 + np.exp(-1)), 1 / (1 + np.exp(1))])


@pytest.mark.parametrize("layer_class", ALL)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layers_are_finite_without_warnings_at_1e4_and_keep_dtype(layer_class, dtype):
    x = np.array([[-1e4, -1.0], [1.0, 1e4]], dtype=dtype)
    layer = layer_class()
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        y = layer.forward(x)
        dx = layer.backward(np.ones_like(x))
    assert y.dtype == dtype and dx.dtype == dtype
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx))


def test_tanh_backward_is_one_minus_y_squared():
    x = np.array([[-2.0, 0.0, 0.5]])
    layer = Tanh()
    layer.forward(x)
    np.testing.assert_allclose(layer.backward(np.full(x.shape, 3.0)), 3.0 / np.cosh(x) ** 2, rtol=1e-12)


@pytest.mark.parametrize("layer_class", ALL)
def test_integer_input_is_rejected(layer_class):
    with pytest.raises(TypeError, match="float array"):
        layer_class().forward(np.array([1, 2, 3]))


@pytest.mark.parametrize("layer_class", ALL)
def test_backward_before_forward_is_a_clear_error(layer_class):
    with pytest.raises(RuntimeError, match="before .*forward"):
        layer_class().backward(np.ones((2, 2)))


@pytest.mark.parametrize("layer_class", ALL)
def test_upstream_gradient_of_the_wrong_shape_is_rejected(layer_class):
    layer = layer_class()
    layer.forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"expected dy of shape \(2, 3\)"):
        layer.backward(np.ones((2, 1)))  # would broadcast silently


def test_eval_mode_keeps_no_cache():
    layer = Sigmoid().eval()
    layer.forward(np.ones((1, 2)))
    with pytest.raises(RuntimeError, match="eval mode"):
        layer.backward(np.ones((1, 2)))


def test_leaky_relu_rejects_a_non_finite_alpha():
    with pytest.raises(ValueError, match="alpha"):
        LeakyReLU(float("nan"))
