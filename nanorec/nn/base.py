"""The Layer protocol every building block of nanorec follows.

A layer is a function with parameters and an explicit derivative:

    y  = layer.forward(x)      computes the output and caches what backward needs
    dx = layer.backward(dy)    given dy = dL/dy, returns dL/dx and ADDS dL/dparam into layer.grads

``params`` and ``grads`` are dicts with the same keys and shapes. Layers never update their own
parameters: an optimizer reads ``grads`` and changes ``params`` in place. Gradients accumulate
(``+=``) so that a weight used twice in one pass gets both contributions; ``zero_grad()`` resets them.

In training mode (the default) forward keeps a cache for backward; in eval mode it keeps none, and
stochastic layers such as Dropout act deterministically. ``eval(keep_cache=True)`` is inference
that still keeps the caches: the gradients of a deterministic forward (explanations use it).
"""

import numpy as np

from nanorec.nn import kernels


class RowSparseGrad:
    """Gradient of a (R, D) table of which only a few rows were used in a batch.

    It stores pairs ``(rows[n], values[n, D])`` as they arrive; the same row may appear many times
    and its contributions add up (``coalesce`` sums them). ``to_dense()`` gives the (R, D) array
    ``np.add.at(zeros, rows, values)`` would build.
    """

    def __init__(self, shape, dtype):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self._position = None  # coalesce's scratch: -1 per row, allocated on first use
        self.clear()

    def clear(self):
        self._rows, self._values = [], []

    def add(self, rows, values):
        """Append contributions: rows (n,) int, values (n, D)."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        values = np.asarray(values, dtype=self.dtype).reshape(len(rows), *self.shape[1:])
        self._rows.append(rows)
        self._values.append(values)

    @property
    def rows(self):
        return _joined(self._rows, np.empty(0, np.int64))

    @property
    def values(self):
        return _joined(self._values, np.empty((0,) + self.shape[1:], self.dtype))

    def coalesce(self):
        """The rows used, each once, and the sum of the values given for each: (rows (m,),
        values (m, D)), rows in the order of their first contribution. In NumPy: a stable sort
        brings equal rows together and np.add.reduceat sums each run (nanorec.nn.kernels.
        coalesce_ref); the kernel coalesce_nb finds each row's place in O(1) instead."""
        rows, values = self.rows, np.ascontiguousarray(self.values)
        if len(rows) and (rows.min() < 0 or rows.max() >= self.shape[0]):
            bad = rows.min() if rows.min() < 0 else rows.max()
            raise IndexError(f"row {bad} is outside [0, {self.shape[0]}) in a row-sparse gradient")
        if self._position is None:
            self._position = np.full(self.shape[0], -1, np.int64)
        unique, sums = np.empty_like(rows), np.empty_like(values)
        width = int(np.prod(self.shape[1:]))  # the kernel sums flat rows
        count = kernels.coalesce_nb(rows, values.reshape(len(rows), width), self._position, unique,
                                    sums.reshape(len(rows), width))
        return unique[:count], sums[:count]

    def to_dense(self):
        dense = np.zeros(self.shape, self.dtype)
        np.add.at(dense, self.rows, self.values)
        return dense


def _joined(parts, empty):
    """The parts concatenated (the one part itself, uncopied, when there is one)."""
    if not parts:
        return empty
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


class Layer:
    """Base class: holds ``params``, ``grads``, the train/eval mode and the forward cache."""

    def __init__(self):
        self.params = {}
        self.grads = {}
        self.training = True
        self.keep_cache = False
        self._cache = None

    def forward(self, x):
        raise NotImplementedError

    def backward(self, dy):
        raise NotImplementedError

    def __call__(self, x):
        return self.forward(x)

    @property
    def children(self):
        """Sub-layers (containers override this); used for train/eval and by gradcheck."""
        return ()

    def zero_grad(self):
        for grad in self.grads.values():
            if isinstance(grad, RowSparseGrad):
                grad.clear()
            else:
                grad.fill(0)
        for child in self.children:
            child.zero_grad()

    def train(self):
        self.training = True
        self.keep_cache = False
        for child in self.children:
            child.train()
        return self

    def eval(self, keep_cache=False):
        """Inference mode (no dropout); with keep_cache, forward still caches for backward."""
        self.training = False
        self.keep_cache = keep_cache
        self._cache = None
        for child in self.children:
            child.eval(keep_cache)
        return self

    def _add_param(self, name, value):
        """Register a dense parameter and its zero gradient."""
        self.params[name] = value
        self.grads[name] = np.zeros_like(value)

    def _add_part(self, name, layer):
        """Register a sub-layer's params and grads under "<name>.<key>": the SAME arrays (and
        RowSparseGrad objects), so an optimizer stepping over this layer updates the part."""
        if not isinstance(layer, Layer):
            raise TypeError(f"{type(self).__name__}: part {name!r} must be a Layer, got "
                            f"{type(layer).__name__}")
        for key in layer.params:
            self.params[f"{name}.{key}"] = layer.params[key]
            self.grads[f"{name}.{key}"] = layer.grads[key]

    def _save(self, *cache):
        """Keep what backward needs (training mode, or eval with keep_cache); one cache per
        forward call."""
        self._cache = cache if self.training or self.keep_cache else None

    def _saved(self):
        """The cache of the last forward, or a clear error if there is none."""
        if self._cache is None:
            name = type(self).__name__
            raise RuntimeError(
                f"{name}.backward called before {name}.forward in training mode "
                "(eval mode keeps no cache unless eval(keep_cache=True))"
            )
        return self._cache

    def __repr__(self):
        shapes = ", ".join(f"{k}={v.shape}" for k, v in self.params.items())
        return f"{type(self).__name__}({shapes})"


def check_array(x, ndim, layer, name="x", dtype_kind="f"):
    """Return x as an ndarray after checking its rank and kind; raise a ValueError naming the layer.

    dtype_kind "f" accepts float arrays, "i" accepts integer arrays (ids).
    """
    x = np.asarray(x)
    if x.ndim != ndim:
        raise ValueError(f"{layer}: expected {name} with {ndim} dimensions, got shape {x.shape}")
    if dtype_kind == "i" and x.dtype.kind not in "iu":
        raise TypeError(f"{layer}: expected integer ids in {name}, got dtype {x.dtype}")
    if dtype_kind == "f" and x.dtype.kind != "f":
        raise TypeError(f"{layer}: expected a float array {name}, got dtype {x.dtype}")
    return x


def check_float(x, layer):
    """Return x as a float ndarray of any rank (elementwise layers); raise naming the layer."""
    x = np.asarray(x)
    return check_array(x, x.ndim, layer)


def check_upstream(dy, shape, layer):
    """Return dy as an ndarray after checking it has the shape of the forward output.

    Without this check a wrong dy could broadcast silently into a wrong gradient.
    """
    dy = np.asarray(dy)
    if dy.shape != tuple(shape):
        raise ValueError(
            f"{layer}.backward: expected dy of shape {tuple(shape)} (the output's), got {dy.shape}"
        )
    return dy


def check_features(x, expected, layer, name="x"):
    """Check the last axis of x has ``expected`` entries."""
    if x.shape[-1] != expected:
        raise ValueError(
            f"{layer}: expected {name} with {expected} features on the last axis, got shape {x.shape}"
        )
