"""The engine's Numba kernels (nanorec.nn.kernels) against the NumPy lines of their layers.

Each layer runs its kernel on float32 C-contiguous arrays and its NumPy reference otherwise; the
tests run a layer on one float32 array twice: as it is (the kernel), and with ``kernels.fits``
patched to say no (the reference: ``kernel_and_reference``). Values are drawn near the kinks (0)
and far into saturation (|x| up to 100), batch sizes from 1, ids repeated. The exp of the sigmoid
and tanh kernels is a polynomial (the kernels module's docstring): they agree with NumPy to a few
float32 ulps, not bit for bit; kernels that sum in another order agree to float32 rounding.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nanorec.nn import kernels
from nanorec.nn.activations import LeakyReLU, ReLU, Sigmoid, Tanh
from nanorec.nn.base import RowSparseGrad
from nanorec.nn.conv import Conv1d, MaxOverTime
from nanorec.nn.layers import Dropout, PairScores, SparseDense
from nanorec.nn.losses import SoftmaxCrossEntropyLoss
from nanorec.nn.recurrent import RNN
from nanorec.testing.strategies import arrays_without_ties, sparse_rows

SETTINGS = settings(max_examples=30, deadline=None)
values = st.one_of(st.floats(-100, 100, width=32), st.floats(-2**-10, 2**-10, width=32),
                   st.sampled_from([0.0, -0.0, 0.3, -0.3, 87.0, -87.0, 89.0, -89.0]))
batches = hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, max_side=9), elements=values)


def kernel_and_reference(run):
    """run() twice: as it is (the kernels), then with ``kernels.fits`` patched to say no (the
    NumPy reference); returns both results."""
    results = [run()]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kernels, "fits", lambda *arrays: False)
        results.append(run())
    return results


def both_ways(make_layer, x, dy, with_grads=False):
    """(kernel y, kernel dx), (reference y, reference dx) of one layer on the same values; with
    ``with_grads`` each also holds the parameter gradients {key: dense array}."""
    def run():
        layer = make_layer()
        y = layer.forward(x)
        dx = layer.backward(dy)
        grads = {key: g.to_dense() if isinstance(g, RowSparseGrad) else g.copy()
                 for key, g in layer.grads.items()}
        return (y, dx, grads) if with_grads else (y, dx)

    return kernel_and_reference(run)


def assert_close_float32(got, expected, scale=1.0):
    """Equal up to float32 rounding of sums of a few products: 1e-5 of the operands' scale."""
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * scale)


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


def f32(draw_or_rng, shape):
    return draw_or_rng.standard_normal(shape).astype(np.float32)


@SETTINGS
@given(n=st.integers(1, 6), steps=st.integers(1, 7), c_in=st.integers(1, 4),
       c_out=st.integers(1, 4), width=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_conv1d_window_kernels_equal_the_numpy_lines(n, steps, c_in, c_out, width, seed):
    rng = np.random.default_rng(seed)
    steps = steps + width - 1
    x, dy = f32(rng, (n, steps, c_in)), f32(rng, (n, steps - width + 1, c_out))
    (y, dx, grads), (y_ref, dx_ref, grads_ref) = both_ways(
        lambda: Conv1d(c_in, c_out, width, rng=seed), x, dy, with_grads=True)
    assert_close_float32(y, y_ref)
    assert_close_float32(dx, dx_ref)
    for key in grads_ref:
        assert_close_float32(grads[key], grads_ref[key], scale=n * steps)


@SETTINGS
@given(x=arrays_without_ties(hnp.array_shapes(min_dims=3, max_dims=3, max_side=6), axis=1),
       seed=st.integers(0, 2**32 - 1))
def test_max_over_time_kernels_equal_the_numpy_lines(x, seed):
    x = x.astype(np.float32)
    dy = f32(np.random.default_rng(seed), (x.shape[0], x.shape[2]))
    (y, dx), (y_ref, dx_ref) = both_ways(MaxOverTime, x, dy)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(dx, dx_ref)


@SETTINGS
@given(n=st.integers(1, 8), n_classes=st.integers(1, 6), seed=st.integers(0, 2**32 - 1),
       scale=st.sampled_from([1.0, 30.0]), weighted=st.booleans())
def test_softmax_cross_entropy_kernel_equals_the_numpy_lines(n, n_classes, seed, scale, weighted):
    """Logits up to +-100 (scale 30): the shift by the row maximum keeps both finite."""
    rng = np.random.default_rng(seed)
    z = (scale * rng.standard_normal((n, n_classes))).astype(np.float32)
    target = rng.integers(0, n_classes, n)
    weight = rng.uniform(0, 2, n) if weighted else None

    def run():
        loss = SoftmaxCrossEntropyLoss()
        return loss.forward(z, target, weight), loss.backward()

    (value, dz), (value_ref, dz_ref) = kernel_and_reference(run)
    assert value == pytest.approx(value_ref, rel=1e-5, abs=1e-5)
    assert dz.dtype == np.float32
    np.testing.assert_allclose(dz, dz_ref, rtol=1e-5, atol=1e-6)


@SETTINGS
@given(n=st.integers(1, 5), steps=st.integers(1, 6), d_in=st.integers(1, 4),
       hidden=st.integers(1, 4), seed=st.integers(0, 2**32 - 1), sequences=st.booleans())
def test_rnn_float32_path_equals_the_numpy_lines(n, steps, d_in, hidden, seed, sequences):
    rng = np.random.default_rng(seed)
    x = f32(rng, (n, steps, d_in))
    dy = f32(rng, (n, steps, hidden) if sequences else (n, hidden))
    (y, dx, grads), (y_ref, dx_ref, grads_ref) = both_ways(
        lambda: RNN(d_in, hidden, return_sequences=sequences, rng=seed), x, dy, with_grads=True)
    assert_close_float32(y, y_ref)
    assert_close_float32(dx, dx_ref, scale=steps)
    for key in grads_ref:
        assert_close_float32(grads[key], grads_ref[key], scale=n * steps)


@SETTINGS
@given(data=st.data(), n=st.integers(1, 6), d_in=st.integers(1, 6), d_out=st.integers(1, 5),
       seed=st.integers(0, 2**32 - 1))
def test_sparse_dense_kernels_equal_the_numpy_lines_and_the_dense_product(data, n, d_in, d_out,
                                                                          seed):
    x = data.draw(sparse_rows(n, d_in))
    x = x.with_values(x.values.astype(np.float32))
    dy = f32(np.random.default_rng(seed), (n, d_out))
    (y, dx, grads), (y_ref, dx_ref, grads_ref) = both_ways(
        lambda: SparseDense(d_in, d_out, rng=seed), x, dy, with_grads=True)
    assert dx is None and dx_ref is None  # the rows are data
    assert_close_float32(y, y_ref, scale=d_in)
    dense = x.to_dense()
    layer = SparseDense(d_in, d_out, rng=seed)
    assert_close_float32(y, dense @ layer.params["W"] + layer.params["b"], scale=d_in)
    for key in grads_ref:
        assert_close_float32(grads[key], grads_ref[key], scale=n)
    assert_close_float32(grads["W"], dense.T @ dy, scale=n)


@SETTINGS
@given(n=st.integers(1, 5), dim=st.integers(1, 5), n_columns=st.integers(1, 6),
       n_pairs=st.integers(1, 12), seed=st.integers(0, 2**32 - 1))
def test_pair_scores_kernels_equal_the_numpy_lines(n, dim, n_columns, n_pairs, seed):
    """Pairs drawn with repeats: the sums into shared rows of dh, dW and db."""
    rng = np.random.default_rng(seed)
    h, dy = f32(rng, (n, dim)), f32(rng, (n_pairs,))
    rows, columns = rng.integers(0, n, n_pairs), rng.integers(0, n_columns, n_pairs)
    (y, dx, grads), (y_ref, dx_ref, grads_ref) = both_ways(
        lambda: PairScores(n_columns, dim, rng=seed), (h, rows, columns), dy, with_grads=True)
    assert_close_float32(y, y_ref, scale=dim)
    assert dx[1:] == dx_ref[1:] == (None, None)
    assert_close_float32(dx[0], dx_ref[0], scale=n_pairs)
    for key in grads_ref:
        assert_close_float32(grads[key], grads_ref[key], scale=n_pairs)


@SETTINGS
@given(ids=hnp.arrays(np.int64, hnp.array_shapes(min_dims=1, max_dims=2, max_side=8),
                      elements=st.integers(0, 4)), dim=st.integers(1, 4))
def test_embedding_gather_kernel_equals_fancy_indexing(ids, dim):
    """Repeated ids included; an id out of range is found before any row is read."""
    table = np.random.default_rng(0).standard_normal((5, dim)).astype(np.float32)
    out = np.empty((ids.size, dim), np.float32)
    assert kernels.gather_rows_nb(table, ids.reshape(-1), out) == -1
    np.testing.assert_array_equal(out, table[ids.reshape(-1)])
    bad = ids.reshape(-1).copy()
    bad[-1] = 5
    assert kernels.gather_rows_nb(table, bad, out) == bad.size - 1


@SETTINGS
@given(rows=hnp.arrays(np.int64, st.integers(0, 20), elements=st.integers(0, 6)),
       dim=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
def test_coalesce_kernel_equals_its_numpy_twin(rows, dim, seed):
    """Each row once, first-seen order (the twin sorts), the sums equal; the scratch is reset."""
    values = np.random.default_rng(seed).standard_normal((len(rows), dim))
    grad = RowSparseGrad((7, dim), np.float64)
    grad.add(rows, values)
    unique, sums = grad.coalesce()
    if len(rows) == 0:
        assert unique.shape == (0,) and sums.shape == (0, dim)
        return
    unique_ref, sums_ref = kernels.coalesce_ref(rows, values)
    _, first = np.unique(rows, return_index=True)
    assert unique.tolist() == rows[np.sort(first)].tolist()
    order = np.argsort(unique)
    np.testing.assert_array_equal(unique[order], unique_ref)
    np.testing.assert_allclose(sums[order], sums_ref.reshape(-1, dim), rtol=1e-12, atol=1e-12)
    assert np.all(grad._position == -1)

