"""The engine's Numba kernels (nanorec.nn.kernels) against the NumPy lines of their layers.

Each layer runs its kernel on float32 C-contiguous arrays and its NumPy reference otherwise; the
tests run a layer on one float32 array twice: as it is (the kernel), and with ``kernels.fits``
patched to say no (the reference). Values are drawn near the kinks (0) and far into saturation (|x| up to
100), batch sizes from 1. The exp of the sigmoid and tanh kernels is a polynomial (the kernels
module's docstring): they agree with NumPy to a few float32 ulps, not bit for bit.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nanorec.nn import kernels
from nanorec.nn.activations import LeakyReLU, ReLU, Sigmoid, Tanh
from nanorec.nn.layers import Dropout

SETTINGS = settings(max_examples=30, deadline=None)
values = st.one_of(st.floats(-100, 100, width=32), st.floats(-2**-10, 2**-10, width=32),
                   st.sampled_from([0.0, -0.0, 0.3, -0.3, 87.0, -87.0, 89.0, -89.0]))
batches = hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, max_side=9), elements=values)


def both_ways(make_layer, x, dy):
    """(kernel y, kernel dx), (reference y, reference dx) of one layer on the same values."""
    results = []
    for reference in (False, True):
        with pytest.MonkeyPatch.context() as patch:
            if reference:
                patch.setattr(kernels, "fits", lambda *arrays: False)
            layer = make_layer()
            y = layer.forward(x)
            results.append((y, layer.backward(dy)))
    return results


@pytest.mark.parametrize("make_layer, rtol", [
    (Sigmoid, 1e-6), (Tanh, 1e-6), (ReLU, 0), (lambda: LeakyReLU(0.1), 0),
])
@SETTINGS
@given(x=batches, seed=st.integers(0, 2**32 - 1))
def test_activation_kernels_equal_their_numpy_lines(make_layer, rtol, x, seed):
    dy = np.random.default_rng(seed).standard_normal(x.shape).astype(np.float32)
    (y, dx), (y_ref, dx_ref) = both_ways(make_layer, x, dy)
    assert y.dtype == dx.dtype == np.float32
    np.testing.assert_allclose(y, y_ref, rtol=rtol, atol=1e-37)
    # dx = dy f'(y): where f saturates, 1 - y^2 (or y (1 - y)) cancels, and one ulp of y moves it
    # by about 1e-7 |dy|, in the kernel and in the reference alike
    assert np.all(np.abs(dx - dx_ref) <= rtol * np.abs(dx_ref) + 3e-7 * np.abs(dy) + 1e-37)


@SETTINGS
@given(x=batches, p=st.sampled_from([0.0, 0.2, 0.5, 0.9]), seed=st.integers(0, 2**32 - 1))
def test_dropout_kernel_gives_the_reference_mask_bit_for_bit(x, p, seed):
    dy = np.random.default_rng(seed).standard_normal(x.shape).astype(np.float32)
    (y, dx), (y_ref, dx_ref) = both_ways(lambda: Dropout(p, rng=seed), x, dy)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(dx, dx_ref)


def test_exp_of_the_kernels_is_accurate_over_its_range():
    """Relative error of the polynomial exp below 1e-7 from 0 down to -87 (its floor)."""
    x = -np.linspace(0, 87, 200_001).astype(np.float32)
    y = np.empty_like(x)
    kernels.sigmoid_forward_nb(x, y)  # x <= 0: y = z / (1 + z) with z = e^x
    z = y / (1 - y)
    exact = np.exp(x.astype(np.float64))
    assert np.max(np.abs(z - exact) / exact) < 1e-6


def test_tanh_near_zero_keeps_its_relative_precision():
    """Where 1 - e^-2|x| would cancel, the series takes over: tanh(1e-6) is 1e-6, not 0 or 1.2e-6."""
    x = np.array([1e-6, -1e-6, 1e-3, 0.2999, 0.3], np.float32)
    y = kernels.elementwise(kernels.tanh_forward_nb, x)
    np.testing.assert_allclose(y, np.tanh(x.astype(np.float64)), rtol=3e-7)
