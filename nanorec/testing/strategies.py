"""Hypothesis strategies for property-testing layers (needs the ``hypothesis`` package).

Gradient-check your own layer over random shapes and values in a few lines::

    import numpy as np
    from hypothesis import given, settings
    from nanorec.testing.gradcheck import DEFAULT_H, gradcheck
    from nanorec.testing.strategies import float_arrays, shapes

    @settings(max_examples=30, deadline=None)
    @given(x=float_arrays(shapes(ndim=2)))
    def test_my_layer_gradient(x):
        gradcheck(MyLayer(x.shape[1], 3, dtype=np.float64), x).check()

or check every ready-made layer (each case knows how to check itself)::

    @settings(max_examples=30, deadline=None)
    @given(case=layers())
    def test_builtin_layers(case):
        case.check()

Sizes are small (1 to 5 by default, batch size 1 included) so that finite differences stay fast.
Inputs of kinked functions are drawn ON their kinks as well as away from them, since gradcheck
handles kinks (an entry whose step straddles one passes when its analytic value lies between the
one-sided slopes): ``arrays_on_kinks`` puts entries within h/2 of 0 (ReLU, LeakyReLU),
``arrays_with_ties`` ties the maximum of a line with other entries (MaxOverTime), and the
"dense_relu_dense" case puts hidden units of a small MLP on their kink. ``min_abs`` and
``arrays_without_ties`` still draw inputs away from kinks, for tests of something else.

Finite differences also have a resolution limit: f is known to about 1e-16 |f|, so a numeric
derivative carries noise of about 1e-10 |f|. A correct gradient array whose entries are all below
about 1e-4 |f| (every tanh saturated, or all scaled by a weight or input near 0) can then fail the
1e-6 relative tolerance. The ready-made cases avoid that with moderate inputs (``min_abs``) and
weights (``away_from_zero_init``).
"""

from typing import NamedTuple

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nanorec.nn.activations import LeakyReLU, ReLU, Sigmoid, Tanh
from nanorec.nn.base import Layer
from nanorec.nn.conv import Conv1d, MaxOverTime, VerticalConv
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
    PairScores,
    Parallel,
    ProfileMatch,
    Sequential,
    SparseDense,
    SparseRows,
)
from nanorec.nn.recurrent import RNN
from nanorec.testing.gradcheck import DEFAULT_H, gradcheck


def dims(lo=1, hi=5):
    """A size (batch, features, steps, ...): an int in [lo, hi]."""
    return st.integers(lo, hi)


def seeds():
    """A seed for np.random.default_rng."""
    return st.integers(0, 2**32 - 1)


def shapes(ndim=None, min_dims=1, max_dims=3, min_side=1, max_side=5):
    """Array shapes: ``ndim`` axes if given (else min_dims..max_dims), each of min_side..max_side."""
    if ndim is not None:
        min_dims = max_dims = ndim
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def float_arrays(shape, lo=-3, hi=3, dtype=np.float64, min_abs=0.0):
    """Finite float arrays with entries in [lo, hi] and |entry| >= min_abs.

    Parameters
    ----------
    shape : tuple or strategy of tuples
        For example ``(4, 3)`` or ``shapes(ndim=2)``.
    lo, hi : float
        Range of the entries.
    dtype : float dtype
        float64 (default, for gradient checks) or float32.
    min_abs : float
        Keep entries at least this far from 0 (for ReLU-like kinks), e.g. 1e-3.
    """
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"float_arrays needs a float dtype, got {dtype}")
    if not lo < hi:
        raise ValueError(f"float_arrays needs lo < hi, got lo={lo}, hi={hi}")
    if min_abs >= max(abs(lo), abs(hi)):
        raise ValueError(f"no value in [{lo}, {hi}] has |value| >= min_abs={min_abs}")
    elements = st.floats(lo, hi, allow_nan=False, allow_infinity=False, width=8 * dtype.itemsize)
    if min_abs > 0:
        elements = elements.filter(lambda value: abs(value) >= min_abs)
    return hnp.arrays(dtype, shape, elements=elements)


def id_arrays(n_rows, shape):
    """int64 id arrays with entries in [0, n_rows) (repeats included, as in real batches)."""
    return hnp.arrays(np.int64, shape, elements=st.integers(0, n_rows - 1))


@st.composite
def sparse_rows(draw, n, width, lo=-3, hi=3):
    """SparseRows of n rows and ``width`` columns: any entries stored (a row may be empty),
    values in [lo, hi] (float64)."""
    stored = draw(hnp.arrays(np.bool_, (n, width)))
    values = draw(float_arrays((int(stored.sum()),), lo, hi))
    indptr = np.concatenate([[0], np.cumsum(stored.sum(axis=1))])
    return SparseRows(indptr, np.nonzero(stored)[1], values, width)


@st.composite
def arrays_without_ties(draw, shape, axis=-1, gap=0.5):
    """float64 arrays whose entries along ``axis`` differ pairwise by at least ``gap``.

    Built, not filtered: each line along ``axis`` is a random order of 0, 1, ..., size-1, scaled by
    2 * gap, plus a jitter in [0, gap]. For max/argmax layers, whose gradient jumps at ties.
    """
    shape = draw(shape) if isinstance(shape, st.SearchStrategy) else tuple(shape)
    rng = np.random.default_rng(draw(seeds()))
    axis = axis % len(shape)
    line = np.arange(shape[axis]).reshape([-1 if a == axis else 1 for a in range(len(shape))])
    ranks = rng.permuted(np.broadcast_to(line, shape), axis=axis)
    jitter = draw(float_arrays(shape, lo=0.0, hi=gap))
    return 2 * gap * ranks + jitter


def arrays_on_kinks(shape, h=DEFAULT_H, lo=-3, hi=3):
    """float64 arrays for functions with a kink at 0 (ReLU, LeakyReLU): each entry either on the
    kink (|x| <= h/2, 0 included, so that a step of h straddles it) or clear of it (|x| >= 2h in
    [lo, hi]). Between h/2 and 2h lie steps that barely straddle the kink, which gradcheck cannot
    tell from curvature (see nanorec.testing.gradcheck); they are left out."""
    on_kink = st.floats(-h / 2, h / 2)
    clear = st.floats(lo, hi).filter(lambda value: abs(value) >= 2 * h)
    return hnp.arrays(np.float64, shape, elements=st.one_of(on_kink, clear))


@st.composite
def arrays_with_ties(draw, shape, axis=-1, h=DEFAULT_H):
    """float64 arrays in which some entries tie with the maximum of their line along ``axis``
    (exactly, or within h/4 of it), for max layers, whose gradient jumps at ties; the other
    entries stay at least 0.5 below it (arrays_without_ties). Tied entries are within h/2 of each
    other, so that a step of h on one of them straddles the one kink."""
    shape = draw(shape) if isinstance(shape, st.SearchStrategy) else tuple(shape)
    x = draw(arrays_without_ties(shape, axis))
    tied = draw(hnp.arrays(np.bool_, shape))
    offsets = draw(float_arrays(shape, lo=-h / 4, hi=h / 4))  # 0 (an exact tie) included
    return np.where(tied, x.max(axis=axis, keepdims=True) + offsets, x)


def away_from_zero_init(shape, rng, dtype):
    """Initializer for gradient checks: w = random sign * U(0.5, 1) / sqrt(fan_in).

    No weight is near 0 (which would shrink the gradients it scales below finite-difference
    resolution), and the 1 / sqrt(fan_in) keeps pre-activations moderate (no saturated tanh).
    fan_in is the product of all axes but the last (1 for a vector).
    """
    fan_in = int(np.prod(shape[:-1]))
    signs = rng.choice(np.array([-1.0, 1.0]), size=shape)
    return (signs * rng.uniform(0.5, 1.0, size=shape) / np.sqrt(fan_in)).astype(dtype)


class LayerCase(NamedTuple):
    """A float64 layer with an input that fits it."""

    name: str
    layer: Layer
    x: object

    def check(self, tol=1e-6):
        """Gradient-check the layer at x; raise AssertionError with the table on failure."""
        return gradcheck(self.layer, self.x, tol=tol).check()


F64 = np.float64


def _dense(draw):
    n, d_in, d_out = draw(dims()), draw(dims()), draw(dims())
    layer = Dense(d_in, d_out, bias=draw(st.booleans()), rng=draw(seeds()), dtype=F64)
    return layer, draw(float_arrays((n, d_in)))


def _activation(layer, arrays=float_arrays):
    def build(draw):
        return layer(), draw(arrays(shapes()))

    return build


def _leaky_relu(draw):
    return LeakyReLU(draw(st.floats(0.0, 0.5))), draw(arrays_on_kinks(shapes()))


def _dense_relu_dense(draw):
    """Dense -> ReLU -> Dense with some hidden units on their kink: for each chosen unit k, one
    batch row n of its own gets the pre-activation z[n, k] = eps, |eps| <= h/2 * c, where c is the
    smallest factor a step moves z[n, k] by (|W1[j, k]|, |x[n, j]| and 1 for the bias), so that
    any step straddles the kink; one kink per row and per unit, so that no step meets two."""
    n, d_in, hidden, d_out = draw(dims()), draw(dims()), draw(dims()), draw(dims())
    rng = np.random.default_rng(draw(seeds()))
    first = Dense(d_in, hidden, init=away_from_zero_init, rng=rng, dtype=F64)
    second = Dense(hidden, d_out, init=away_from_zero_init, rng=rng, dtype=F64)
    x = draw(float_arrays((n, d_in), lo=-1, hi=1, min_abs=0.1))
    W, b = first.params["W"], first.params["b"]
    pre_activations = x @ W
    units = draw(st.permutations(range(hidden)))[: draw(st.integers(0, min(n, hidden)))]
    on_kink = np.zeros((n, hidden), bool)
    for row, unit in enumerate(units):
        reach = min(1.0, np.abs(W[:, unit]).min(), np.abs(x[row]).min())
        eps = draw(st.floats(-0.5, 0.5)) * DEFAULT_H * reach
        b[unit] = eps - pre_activations[row, unit]
        on_kink[row, unit] = True
    # every other unit clear of its kink (equal rows of x would put a unit on it twice)
    largest_move = DEFAULT_H * np.maximum(1.0, np.abs(x).max(axis=1, keepdims=True) + np.abs(W).max())
    assume(np.all(on_kink | (np.abs(x @ W + b) > 2 * largest_move)))
    return Sequential(first, ReLU(), second), x


def _embedding(draw):
    n_rows, dim, n = draw(dims()), draw(dims()), draw(dims())
    layer = Embedding(n_rows, dim, init="glorot_uniform", rng=draw(seeds()), dtype=F64)
    return layer, draw(id_arrays(n_rows, (n,)))


def _dropout(draw):
    layer = Dropout(draw(st.floats(0.0, 0.9)), rng=draw(seeds()))
    return layer, draw(float_arrays(shapes()))


def _pair(layer):
    def build(draw):
        shape = draw(shapes(ndim=2))
        return layer(), (draw(float_arrays(shape)), draw(float_arrays(shape)))

    return build


def _concatenate(draw):
    n, count = draw(dims()), draw(dims(1, 3))
    return Concatenate(), tuple(draw(float_arrays((n, draw(dims())))) for _ in range(count))


def _conv1d(draw):
    n, c_in, c_out, width = draw(dims()), draw(dims(1, 3)), draw(dims(1, 3)), draw(dims(1, 3))
    steps = width + draw(dims(0, 3))
    layer = Conv1d(c_in, c_out, width, rng=draw(seeds()), dtype=F64)
    return layer, draw(float_arrays((n, steps, c_in)))


def _vertical_conv(draw):
    n, steps, channels, filters = draw(dims()), draw(dims()), draw(dims()), draw(dims(1, 3))
    layer = VerticalConv(steps, filters, rng=draw(seeds()), dtype=F64)
    return layer, draw(float_arrays((n, steps, channels)))


def _max_over_time(draw):
    return MaxOverTime(), draw(arrays_with_ties(shapes(ndim=3), axis=1))


def _item_scores(draw):
    """Queries h (N, D) against C candidates per row, drawn with repeats (rows and across rows)."""
    n, dim, n_items, n_candidates = draw(dims()), draw(dims()), draw(dims()), draw(dims(1, 4))
    layer = ItemScores(n_items, dim, init_std=1.0, rng=draw(seeds()), dtype=F64)
    return layer, (draw(float_arrays((n, dim))), draw(id_arrays(n_items, (n, n_candidates))))


def _sparse_dense(draw):
    n, d_in, d_out = draw(dims()), draw(dims()), draw(dims())
    return SparseDense(d_in, d_out, rng=draw(seeds()), dtype=F64), draw(sparse_rows(n, d_in))


def _pair_scores(draw):
    """Pairs (row, column) drawn with repeats, over queries h (N, D)."""
    n, dim, n_columns, n_pairs = draw(dims()), draw(dims()), draw(dims()), draw(dims(1, 6))
    layer = PairScores(n_columns, dim, rng=draw(seeds()), dtype=F64)
    layer.params["b"][...] = draw(float_arrays((n_columns,)))
    return layer, (draw(float_arrays((n, dim))), draw(id_arrays(n, (n_pairs,))),
                   draw(id_arrays(n_columns, (n_pairs,))))


def _profile_match(draw):
    n, d, f = draw(dims()), draw(dims()), draw(dims())
    p, x = draw(float_arrays((n, d))), draw(float_arrays((n, d)))
    return ProfileMatch(), (p, x, draw(float_arrays((n, f))))


def _rnn(draw):
    n, steps, d_in, hidden = draw(dims()), draw(dims()), draw(dims(1, 3)), draw(dims(1, 3))
    return_sequences, seed = draw(st.booleans()), draw(seeds())
    layer = RNN(d_in, hidden, return_sequences, init=away_from_zero_init, rng=seed, dtype=F64)
    # Moderate entries (|v| in [0.1, 1], weights ~ 1 / sqrt(fan_in) and away from 0): a near-zero x,
    # h0 or W_h, or saturated steps (gradients vanish through time), would leave dW_x, dW_h or dh0
    # below finite-difference resolution.
    x = draw(float_arrays((n, steps, d_in), lo=-1, hi=1, min_abs=0.1))
    if not draw(st.booleans()):
        return layer, x
    return layer, (x, draw(float_arrays((n, hidden), lo=-1, hi=1, min_abs=0.1)))


def _matrix_factorization(draw):
    """The seed MF model: sigmoid(w * (P[u] . Q[i]) + c)."""
    n_users, n_items, n_factors, n = draw(dims()), draw(dims()), draw(dims()), draw(dims())
    rng = np.random.default_rng(draw(seeds()))
    # Weights away from 0: the factors of one side scale the gradient of the other, w scales both.
    towers = Parallel(
        Embedding(n_users, n_factors, init=away_from_zero_init, rng=rng, dtype=F64),
        Embedding(n_items, n_factors, init=away_from_zero_init, rng=rng, dtype=F64),
    )
    score = Dense(1, 1, init=away_from_zero_init, rng=rng, dtype=F64)
    model = Sequential(towers, Dot(), score, Sigmoid())
    return model, (draw(id_arrays(n_users, (n,))), draw(id_arrays(n_items, (n,))))


def _branch(draw):
    n, d_in, d_out = draw(dims()), draw(dims()), draw(dims())
    rng = np.random.default_rng(draw(seeds()))
    towers = Branch(
        Dense(d_in, d_out, rng=rng, dtype=F64),
        Sequential(Dense(d_in, d_out, rng=rng, dtype=F64), Tanh()),
    )
    x = draw(float_arrays((n, d_in), lo=-1, hi=1))  # moderate: the tanh tower stays unsaturated
    return Sequential(towers, Concatenate()), x


BUILDERS = {
    "dense": _dense,
    "sigmoid": _activation(Sigmoid),
    "tanh": _activation(Tanh),
    "relu": _activation(ReLU, arrays_on_kinks),
    "leaky_relu": _leaky_relu,
    "dense_relu_dense": _dense_relu_dense,
    "embedding": _embedding,
    "dropout": _dropout,
    "dot": _pair(Dot),
    "multiply": _pair(Multiply),
    "add": _pair(Add),
    "concatenate": _concatenate,
    "profile_match": _profile_match,
    "item_scores": _item_scores,
    "sparse_dense": _sparse_dense,
    "pair_scores": _pair_scores,
    "conv1d": _conv1d,
    "vertical_conv": _vertical_conv,
    "max_over_time": _max_over_time,
    "rnn": _rnn,
    "matrix_factorization": _matrix_factorization,
    "branch": _branch,
}


@st.composite
def _layer_case(draw, kinds):
    kind = draw(st.sampled_from(kinds))
    layer, x = BUILDERS[kind](draw)
    return LayerCase(kind, layer, x)


def layers(kinds=None):
    """Small float64 layers of nanorec, each with a matching input, as LayerCase(name, layer, x).

    Parameters
    ----------
    kinds : list of str, optional
        Names from BUILDERS to draw from (default: all of them).
    """
    kinds = sorted(BUILDERS) if kinds is None else list(kinds)
    unknown = [kind for kind in kinds if kind not in BUILDERS]
    if unknown or not kinds:
        raise ValueError(f"unknown layer kinds {unknown}; choose from {sorted(BUILDERS)}")
    return _layer_case(tuple(kinds))
