"""Core layers (Dense, Embedding, Dropout), multi-input layers (Dot, Multiply, Add, Concatenate,
ProfileMatch, ItemScores, PairScores), a Dense on sparse rows (SparseDense, SparseRows) and the
containers that wire layers into models (Sequential, Parallel, Branch, and Network for hand-wired
graphs).

Every layer follows the protocol of nanorec.nn.base: ``forward`` caches what ``backward`` needs,
``backward(dy)`` returns dL/dx and adds dL/dparam into ``grads``. Multi-input layers take a tuple and
return a tuple of gradients. Layers fed integer ids (Embedding) return None from backward: ids have no
gradient, and containers pass that None on.
"""

from dataclasses import dataclass

import numpy as np

from nanorec import _checks
from nanorec.nn.base import (
    Layer,
    RowSparseGrad,
    check_array,
    check_features,
    check_float,
    check_upstream,
)
from nanorec.nn import kernels
from nanorec.nn.init import as_generator, float_dtype, initialize, normal


class Dense(Layer):
    """Affine map y = x W + b.

    Shapes: x (N, D_in) -> y (N, D_out); W (D_in, D_out); b (D_out,)
    Backward, given dy = dL/dy (N, D_out):
        dW = x^T dy      db = sum over n of dy[n]      dx = dy W^T

    Parameters
    ----------
    d_in, d_out : int
        Input and output features.
    bias : bool
        Whether to add b (initialised to zeros).
    init : str or callable
        Initializer of W, see nanorec.nn.init.
    rng : np.random.Generator, int or None
        Source of the initial W.
    dtype : float dtype
        float32 (default, fast) or float64 (gradient checks).
    """

    def __init__(self, d_in, d_out, bias=True, init="glorot_uniform", rng=None, dtype=np.float32):
        super().__init__()
        self.d_in = _checks.positive_int(d_in, "d_in", "Dense")
        self.d_out = _checks.positive_int(d_out, "d_out", "Dense")
        dtype = float_dtype(dtype)
        self._add_param("W", initialize(init, (self.d_in, self.d_out), as_generator(rng), dtype))
        if bias:
            self._add_param("b", np.zeros(self.d_out, dtype))

    def forward(self, x):
        x = check_array(x, 2, "Dense")
        check_features(x, self.d_in, "Dense")
        self._save(x)
        y = x @ self.params["W"]
        if "b" in self.params:
            y += self.params["b"]  # in place: no second (N, D_out) array
        return y

    def backward(self, dy):
        (x,) = self._saved()
        dy = check_upstream(dy, (len(x), self.d_out), "Dense")
        self.grads["W"] += x.T @ dy
        if "b" in self.grads:
            self.grads["b"] += dy.sum(axis=0)
        return dy @ self.params["W"].T


class Embedding(Layer):
    """Table lookup y[n] = W[ids[n]]: row ids[n] of a (R, K) table.

    Shapes: ids (N,) int -> y (N, K); ids (N, T) int -> y (N, T, K) (a sequence of ids per row);
            W (R, K) with R = n_rows, K = dim
    Backward, given dy = dL/dy:
        dW[r] = sum of dy[n] over all n with ids[n] == r     (repeated ids add up)
        no gradient for the ids (backward returns None)
    grads["W"] is a RowSparseGrad holding only the rows used, so that optimizers can update just
    those rows; ``grads["W"].to_dense()`` gives the full (R, K) array.

    Parameters
    ----------
    n_rows, dim : int
        Number of rows R (users, items, ...) and the embedding size K.
    init : str or callable
        Initializer of W (default N(0, 0.01^2)).
    rng, dtype
        As in Dense.
    """

    def __init__(self, n_rows, dim, init="normal", rng=None, dtype=np.float32):
        super().__init__()
        self.n_rows = _checks.positive_int(n_rows, "n_rows", "Embedding")
        self.dim = _checks.positive_int(dim, "dim", "Embedding")
        dtype = float_dtype(dtype)
        self.params["W"] = initialize(init, (self.n_rows, self.dim), as_generator(rng), dtype)
        self.grads["W"] = RowSparseGrad((self.n_rows, self.dim), dtype)

    def forward(self, ids):
        ids = np.asarray(ids)
        ids = check_array(ids, 2 if ids.ndim == 2 else 1, "Embedding", "ids", dtype_kind="i")
        W = self.params["W"]
        y = np.empty(ids.shape + (self.dim,), W.dtype)  # y = W[ids], by a kernel that checks ids
        bad = kernels.gather_rows_nb(W, np.ascontiguousarray(ids).reshape(-1), y.reshape(-1, self.dim))
        if bad >= 0:
            out_of_range = (ids < 0) | (ids >= self.n_rows)
            raise IndexError(
                f"Embedding: id {ids.reshape(-1)[bad]} is out of range [0, {self.n_rows}) "
                f"({out_of_range.sum()} bad ids in this batch)"
            )
        self._save(ids)
        return y

    def backward(self, dy):
        (ids,) = self._saved()
        dy = check_upstream(dy, ids.shape + (self.dim,), "Embedding")
        self.grads["W"].add(ids, dy)
        return None


class Dropout(Layer):
    """Inverted dropout: in training y = x * m / (1 - p) with m[j] ~ Bernoulli(1 - p); in eval y = x.

    Scaling the kept entries by 1 / (1 - p) keeps E[y] = x, so nothing changes at eval time.
    Shapes: x (...) -> y (...), same shape.
    Backward, given dy = dL/dy (training mode):
        dx = dy * m / (1 - p)       (the same mask as the forward)

    Parameters
    ----------
    p : float
        Probability of zeroing an entry, 0 <= p < 1.
    rng : np.random.Generator, int or None
        Source of the masks, kept as ``self.rng`` (gradcheck replays its state).
    """

    def __init__(self, p, rng=None):
        super().__init__()
        self.p = _checks.fraction(p, "p", "Dropout")
        self.rng = as_generator(rng)

    def forward(self, x):
        if isinstance(x, SparseRows):  # data: drop stored entries (zeros stay zero), no backward
            return x if not self.training else x.with_values(self.forward(x.values))
        x = check_float(x, "Dropout")
        if not self.training:
            self._save(x.shape, None)  # kept only with eval(keep_cache=True): backward is dy
            return x
        uniforms = self.rng.random(x.shape)
        if kernels.fits(x):
            y, scaled_mask = np.empty_like(x), np.empty_like(x)
            kernels.dropout_forward_nb(x.reshape(-1), uniforms.reshape(-1), self.p, y.reshape(-1),
                                       scaled_mask.reshape(-1))
        else:
            scaled_mask = (uniforms >= self.p).astype(x.dtype) / x.dtype.type(1 - self.p)
            y = x * scaled_mask
        self._save(x.shape, scaled_mask)
        return y

    def backward(self, dy):
        shape, scaled_mask = self._saved()
        dy = check_upstream(dy, shape, "Dropout")
        if scaled_mask is None:
            return dy
        if kernels.fits(dy, scaled_mask):
            return kernels.elementwise(kernels.multiply_nb, dy, scaled_mask)
        return dy * scaled_mask


def _check_pair(inputs, layer):
    """Two float arrays of the same shape (N, K), given as a tuple."""
    if not isinstance(inputs, (tuple, list)) or len(inputs) != 2:
        raise TypeError(f"{layer}: expected a tuple of two arrays (a, b), got {type(inputs).__name__}")
    a = check_array(inputs[0], 2, layer, "a")
    b = check_array(inputs[1], 2, layer, "b")
    if a.shape != b.shape:
        raise ValueError(f"{layer}: a and b must have the same shape, got {a.shape} and {b.shape}")
    return a, b


class Dot(Layer):
    """Row-wise dot product y[n] = sum over k of a[n, k] * b[n, k] (the matrix-factorisation score).

    Shapes: (a (N, K), b (N, K)) -> y (N, 1); the trailing 1 lets a Dense(1, 1) follow.
    Backward, given dy = dL/dy (N, 1):
        da = dy * b      db = dy * a      (dy broadcast over k); returns (da, db)
    """

    def forward(self, inputs):
        a, b = _check_pair(inputs, "Dot")
        self._save(a, b)
        return np.sum(a * b, axis=1, keepdims=True)

    def backward(self, dy):
        a, b = self._saved()
        dy = check_upstream(dy, (len(a), 1), "Dot")
        return dy * b, dy * a


class Multiply(Layer):
    """Elementwise product y = a * b (the GMF interaction of NeuMF).

    Shapes: (a (N, K), b (N, K)) -> y (N, K)
    Backward, given dy = dL/dy (N, K):
        da = dy * b      db = dy * a; returns (da, db)
    """

    def forward(self, inputs):
        a, b = _check_pair(inputs, "Multiply")
        self._save(a, b)
        return a * b

    def backward(self, dy):
        a, b = self._saved()
        dy = check_upstream(dy, a.shape, "Multiply")
        return dy * b, dy * a


class Add(Layer):
    """Elementwise sum y = a + b (e.g. a tower's ID part plus its feature part).

    Shapes: (a (N, K), b (N, K)) -> y (N, K)
    Backward, given dy = dL/dy (N, K): a sum passes its gradient unchanged to both terms,
        da = dy      db = dy; returns (da, db)
    """

    def forward(self, inputs):
        a, b = _check_pair(inputs, "Add")
        self._save(a.shape)
        return a + b

    def backward(self, dy):
        (shape,) = self._saved()
        dy = check_upstream(dy, shape, "Add")
        return dy, dy


class Concatenate(Layer):
    """Join arrays along the last axis: y = [x_1 | x_2 | ... | x_m].

    Shapes: (x_1 (..., D_1), ..., x_m (..., D_m)) -> y (..., D_1 + ... + D_m); leading axes equal.
    Backward, given dy = dL/dy: dx_j = the columns of dy that came from x_j; returns (dx_1, ..., dx_m)
    """

    def forward(self, inputs):
        if not isinstance(inputs, (tuple, list)) or not inputs:
            got = type(inputs).__name__
            raise TypeError(f"Concatenate: expected a non-empty tuple of arrays, got {got}")
        ndim = np.ndim(inputs[0])
        arrays = [check_array(x, ndim, "Concatenate", f"input {j}") for j, x in enumerate(inputs)]
        if ndim == 0 or len({x.shape[:-1] for x in arrays}) > 1:
            raise ValueError(
                f"Concatenate: inputs need equal leading axes, got shapes {[x.shape for x in arrays]}"
            )
        widths = [x.shape[-1] for x in arrays]
        y = np.concatenate(arrays, axis=-1)
        self._save(y.shape, np.cumsum(widths)[:-1])
        return y

    def backward(self, dy):
        out_shape, split_points = self._saved()
        dy = check_upstream(dy, out_shape, "Concatenate")
        return tuple(np.split(dy, split_points, axis=-1))


def _none_if_all_none(grads):
    """A tuple of input gradients, or None when no input had one (all were ids)."""
    return None if all(g is None for g in grads) else tuple(grads)


def _sum_gradients(grads):
    """Sum input gradients that came back from several branches.

    Arrays add; tuples add element by element; None (no gradient) is skipped.
    """
    present = [g for g in grads if g is not None]
    if not present:
        return None
    if isinstance(present[0], tuple):
        return _none_if_all_none([_sum_gradients(parts) for parts in zip(*present)])
    total = present[0]
    for g in present[1:]:
        total = total + g
    return total


class _Container(Layer):
    """A layer made of child layers; its params/grads are theirs, under keys "<child index>.<name>".

    The dicts hold the SAME array (and RowSparseGrad) objects as the children, so an optimizer that
    updates ``container.params`` in place updates the children. Replace values in place
    (``params[key][...] = new``), never by rebinding the key.
    """

    def __init__(self, *layers):
        super().__init__()
        if not layers:
            raise ValueError(f"{type(self).__name__} needs at least one layer")
        for index, layer in enumerate(layers):
            self._add_part(str(index), layer)
        self.layers = tuple(layers)

    @property
    def children(self):
        return self.layers

    def _check_tuple(self, inputs, what):
        if not isinstance(inputs, (tuple, list)) or len(inputs) != len(self.layers):
            is_tuple = isinstance(inputs, (tuple, list))
            got = f"a tuple of {len(inputs)}" if is_tuple else type(inputs).__name__
            expected = f"a tuple of {len(self.layers)} {what}"
            raise TypeError(f"{type(self).__name__}: expected {expected}, got {got}")
        return inputs

    def __repr__(self):
        children = [repr(child).replace("\n", "\n  ") for child in self.layers]
        return f"{type(self).__name__}(\n  " + ",\n  ".join(children) + "\n)"


class Sequential(_Container):
    """Chain: y = f_L(... f_2(f_1(x))).

    Backward runs the children in reverse, each turning dL/d(its output) into dL/d(its input):
        dy_{L} = dy,   dy_{l-1} = f_l.backward(dy_l),   dx = dy_0
    It stops and returns None when a child returns None (its input was ids: nothing below to train
    through them).
    Shapes: whatever the first child takes -> whatever the last child gives.
    Parameter keys: "0.W", "1.b", ... (index of the child, then its own key).
    """

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dy):
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
            if dy is None:
                return None
        return dy


class Parallel(_Container):
    """Side by side: (x_1, ..., x_m) -> (f_1(x_1), ..., f_m(x_m)).

    Example: Parallel(Embedding(U, K), Embedding(I, K)) maps (user ids, item ids) to their factors.
    Backward, given (dy_1, ..., dy_m): (f_1.backward(dy_1), ..., f_m.backward(dy_m)), or None when
    every child returned None.
    """

    def forward(self, inputs):
        inputs = self._check_tuple(inputs, "inputs")
        return tuple(layer.forward(x) for layer, x in zip(self.layers, inputs))

    def backward(self, dy):
        dy = self._check_tuple(dy, "upstream gradients")
        return _none_if_all_none([layer.backward(d) for layer, d in zip(self.layers, dy)])


class Branch(_Container):
    """Fan out: x -> (f_1(x), ..., f_m(x)), the same input to every branch (the two towers of NeuMF).

    Backward: x fed every branch, so its gradient is the SUM over branches,
        dx = f_1.backward(dy_1) + ... + f_m.backward(dy_m)
    (element by element when x is a tuple; None when no branch gives a gradient).
    """

    def forward(self, x):
        return tuple(layer.forward(x) for layer in self.layers)

    def backward(self, dy):
        dy = self._check_tuple(dy, "upstream gradients")
        return _sum_gradients([layer.backward(d) for layer, d in zip(self.layers, dy)])


class Network(Layer):
    """A layer made of named parts, wired by hand: a subclass writes ``forward`` and ``backward``
    in terms of ``self.parts``; the parameters are the parts', under keys "<part>.<key>".

    Use it when a model's graph is not a chain (Sequential) or a fan (Parallel, Branch): e.g. the
    scores of a user against several items, or a sum of four embeddings. ``Network(**parts)``
    registers the parts (``self.parts`` keeps them in order); train/eval, zero_grad and the
    optimizers reach them through ``children`` and ``params``.
    """

    def __init__(self, **parts):
        super().__init__()
        for name, layer in parts.items():
            self._add_part(name, layer)
        self.parts = dict(parts)

    @property
    def children(self):
        return tuple(self.parts.values())

    def __repr__(self):
        children = [f"{name}={child!r}".replace("\n", "\n  ") for name, child in self.parts.items()]
        return f"{type(self).__name__}(\n  " + ",\n  ".join(children) + "\n)"


class ItemScores(Network):
    """Score candidate items against a query: y[n, c] = h[n] . W[items[n, c]] + b[items[n, c]].

    The output side of a ranking model: each item i has an output embedding W[i] (D,) and a bias
    b[i]; the query h[n] (a user, or a summary of recent items) scores C candidates, e.g. a
    positive and sampled negatives. W and b are Embedding tables (parts "weights" and "biases"),
    so their gradients are row-sparse and only the candidates' rows are updated.

    Shapes: (h (N, D), items (N, C) int) -> y (N, C); W (I, D); b (I, 1)
    Backward, given dy = dL/dy (N, C):
        dh[n]            = sum over c of dy[n, c] W[items[n, c]]
        dW[items[n, c]] += dy[n, c] h[n]         (repeated items add up)
        db[items[n, c]] += dy[n, c]
        returns (dh, None): ids have no gradient
    ``score_all(h)`` gives every item's score, h W^T + b^T (N, I), for inference (no cache).

    Parameters
    ----------
    n_items, dim : int
        I and D.
    init_std : float
        W ~ N(0, init_std^2); b starts at 0.
    rng, dtype
        As in Dense.
    """

    def __init__(self, n_items, dim, init_std=0.01, rng=None, dtype=np.float32):
        def weights_init(shape, rng, dtype):
            return normal(shape, rng, dtype, std=init_std)

        super().__init__(
            weights=Embedding(n_items, dim, init=weights_init, rng=rng, dtype=dtype),
            biases=Embedding(n_items, 1, init="zeros", dtype=dtype),
        )

    def forward(self, inputs):
        if not isinstance(inputs, tuple) or len(inputs) != 2:
            raise TypeError("ItemScores: expected a tuple (h (N, D), items (N, C) int ids)")
        weights, biases = self.parts["weights"], self.parts["biases"]
        h = check_array(inputs[0], 2, "ItemScores", "h")
        check_features(h, weights.dim, "ItemScores", "h")
        items = check_array(inputs[1], 2, "ItemScores", "items", dtype_kind="i")
        if len(items) != len(h):
            raise ValueError(f"ItemScores: {len(h)} queries h but {len(items)} rows of items")
        candidate_weights = weights.forward(items)  # (N, C, D)
        self._save(h, candidate_weights)
        scores = (candidate_weights @ h[:, :, None])[:, :, 0]  # batched dot products
        return scores + biases.forward(items)[:, :, 0]

    def backward(self, dy):
        h, candidate_weights = self._saved()
        dy = check_upstream(dy, candidate_weights.shape[:2], "ItemScores")
        self.parts["weights"].backward(dy[:, :, None] * h[:, None, :])
        self.parts["biases"].backward(dy[:, :, None])
        return (dy[:, None, :] @ candidate_weights)[:, 0, :], None

    def score_all(self, h):
        """Scores of every item, (N, I) = h W^T + b^T."""
        return h @ self.parts["weights"].params["W"].T + self.parts["biases"].params["W"][:, 0]


class ProfileMatch(Layer):
    """(p, x, z) -> y = [p | x | p * x | z]: a user's profile p beside an item's features x, where
    they agree (the elementwise product), and the user's own features z.

    Shapes: p (N, D), x (N, D), z (N, F) -> y (N, 3 D + F)
    Backward, given dy = [dy_p | dy_x | dy_px | dy_z] (split like y):
        dp = dy_p + dy_px * x      dx = dy_x + dy_px * p      dz = dy_z
    """

    def forward(self, inputs):
        if not isinstance(inputs, (tuple, list)) or len(inputs) != 3:
            raise TypeError("ProfileMatch: expected a tuple (profile, item_features, user_features)")
        p, x, z = (check_array(a, 2, "ProfileMatch", name) for a, name in zip(inputs, "pxz"))
        if p.shape != x.shape or len(z) != len(p):
            raise ValueError(
                f"ProfileMatch: p and x need one shape and z as many rows, got {p.shape}, "
                f"{x.shape}, {z.shape}"
            )
        self._save(p, x, z.shape[1])
        return np.concatenate([p, x, p * x, z], axis=1)

    def backward(self, dy):
        p, x, n_user_features = self._saved()
        n, d = p.shape
        dy = check_upstream(dy, (n, 3 * d + n_user_features), "ProfileMatch")
        dy_p, dy_x, dy_px, dz = np.split(dy, [d, 2 * d, 3 * d], axis=1)
        return dy_p + dy_px * x, dy_x + dy_px * p, dz


@dataclass(frozen=True)
class SparseRows:
    """A batch of N sparse rows of width D, stored as CSR: row n holds values[indptr[n] :
    indptr[n + 1]] at the columns indices[indptr[n] : indptr[n + 1]], zeros elsewhere.

    Data, not a parameter: layers give no gradient for it (and gradcheck does not perturb it).
    """

    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    n_columns: int

    def __post_init__(self):
        indptr = check_array(self.indptr, 1, "SparseRows", "indptr", dtype_kind="i")
        indices = check_array(self.indices, 1, "SparseRows", "indices", dtype_kind="i")
        values = check_float(self.values, "SparseRows")
        if len(indptr) == 0 or indptr[0] != 0 or indptr[-1] != len(indices) \
                or np.any(np.diff(indptr) < 0):
            raise ValueError("SparseRows: indptr must rise from 0 to len(indices)")
        if values.shape != indices.shape:
            raise ValueError(f"SparseRows: {len(indices)} indices but values of shape {values.shape}")
        if len(indices) and (indices.min() < 0 or indices.max() >= self.n_columns):
            raise IndexError(f"SparseRows: a column index lies outside 0..{self.n_columns - 1}")
        for name, array in (("indptr", indptr), ("indices", indices), ("values", values)):
            object.__setattr__(self, name, array)  # frozen: set once, as arrays

    def __len__(self):
        return len(self.indptr) - 1

    def with_values(self, values):
        """The same rows and columns holding other values."""
        return SparseRows(self.indptr, self.indices, values, self.n_columns)

    def to_dense(self):
        """The (N, D) array."""
        dense = np.zeros((len(self), self.n_columns), self.values.dtype)
        dense[np.repeat(np.arange(len(self)), np.diff(self.indptr)), self.indices] = self.values
        return dense


class SparseDense(Layer):
    """Affine map y = X W + b of sparse rows X (a SparseRows): Dense, touching only the entries.

    Shapes: X (N, D_in) sparse with K stored entries -> y (N, D_out); W (D_in, D_out); b (D_out,)
        y[n] = b + sum over the entries (n, j, v) of X of v W[j]             O(K D_out), not N D_in
    Backward, given dy = dL/dy (N, D_out):
        dW[j] += v dy[n] for each entry (n, j, v)   (= X^T dy)     db = sum over n of dy[n]
        no gradient for X, which is data (backward returns None)
    dW is a dense (D_in, D_out) array (the optimizer's rule is the Dense rule), zero in the rows no
    entry used. On float32 the sums run in Numba kernels (nanorec.nn.kernels).

    Parameters
    ----------
    d_in, d_out, bias, init, rng, dtype
        As in Dense.
    """

    def __init__(self, d_in, d_out, bias=True, init="glorot_uniform", rng=None, dtype=np.float32):
        super().__init__()
        self.d_in = _checks.positive_int(d_in, "d_in", "SparseDense")
        self.d_out = _checks.positive_int(d_out, "d_out", "SparseDense")
        dtype = float_dtype(dtype)
        self._add_param("W", initialize(init, (self.d_in, self.d_out), as_generator(rng), dtype))
        if bias:
            self._add_param("b", np.zeros(self.d_out, dtype))

    def forward(self, x):
        if not isinstance(x, SparseRows):
            raise TypeError(f"SparseDense: expected a SparseRows batch, got {type(x).__name__}")
        if x.n_columns != self.d_in:
            raise ValueError(f"SparseDense: expected rows of width {self.d_in}, got {x.n_columns}")
        W = self.params["W"]
        y = np.zeros((len(x), self.d_out), np.result_type(W, x.values))
        if "b" in self.params:
            y += self.params["b"]
        if kernels.fits(W, y):
            kernels.sparse_rows_times_nb(x.indptr, x.indices,
                                         x.values.astype(W.dtype, copy=False), W, y)
        else:
            rows = np.repeat(np.arange(len(x)), np.diff(x.indptr))
            np.add.at(y, rows, x.values[:, None] * W[x.indices])
        self._save(x)
        return y

    def backward(self, dy):
        (x,) = self._saved()
        dy = check_upstream(dy, (len(x), self.d_out), "SparseDense")
        dW = self.grads["W"]
        if kernels.fits(dW, dy):
            kernels.sparse_rows_transpose_times_nb(x.indptr, x.indices,
                                                   x.values.astype(dW.dtype, copy=False), dy, dW)
        else:
            rows = np.repeat(np.arange(len(x)), np.diff(x.indptr))
            np.add.at(dW, x.indices, x.values[:, None] * dy[rows])
        if "b" in self.grads:
            self.grads["b"] += dy.sum(axis=0)
        return None  # X is data


class PairScores(Layer):
    """Scores of given (row, column) pairs: y[k] = h[rows[k]] . W[columns[k]] + b[columns[k]].

    The output side of an autoencoder trained on some entries only: column c has an output
    embedding W[c] (D,) and a bias b[c]; only the pairs asked for are computed (the entries the
    loss counts), where a Dense would compute all N x C. ``score_all(h)`` gives every column's
    score, h W^T + b (N, C), for inference.

    Shapes: (h (N, D), rows (K,) int, columns (K,) int) -> y (K,); W (C, D); b (C,)
    Backward, given dy = dL/dy (K,):
        dh[rows[k]] += dy[k] W[columns[k]]     dW[columns[k]] += dy[k] h[rows[k]]
        db[columns[k]] += dy[k]                returns (dh, None, None): ids have no gradient
    dW and db are dense (the columns no pair used get 0).

    Parameters
    ----------
    n_columns, dim : int
        C and D.
    init, rng, dtype
        As in Dense (W's fan_in is D).
    """

    def __init__(self, n_columns, dim, init="glorot_uniform", rng=None, dtype=np.float32):
        super().__init__()
        self.n_columns = _checks.positive_int(n_columns, "n_columns", "PairScores")
        self.dim = _checks.positive_int(dim, "dim", "PairScores")
        dtype = float_dtype(dtype)
        # drawn as a (D, C) Dense weight and stored transposed: the same init as Dense(D, C)
        weight = initialize(init, (self.dim, self.n_columns), as_generator(rng), dtype)
        self._add_param("W", np.ascontiguousarray(weight.T))
        self._add_param("b", np.zeros(self.n_columns, dtype))

    def forward(self, inputs):
        if not isinstance(inputs, tuple) or len(inputs) != 3:
            raise TypeError("PairScores: expected a tuple (h (N, D), rows (K,), columns (K,))")
        h = check_array(inputs[0], 2, "PairScores", "h")
        check_features(h, self.dim, "PairScores", "h")
        rows = check_array(inputs[1], 1, "PairScores", "rows", dtype_kind="i")
        columns = check_array(inputs[2], 1, "PairScores", "columns", dtype_kind="i")
        if len(rows) != len(columns):
            raise ValueError(f"PairScores: {len(rows)} rows but {len(columns)} columns")
        if len(rows) and (rows.min() < 0 or rows.max() >= len(h) or columns.min() < 0
                          or columns.max() >= self.n_columns):
            raise IndexError(f"PairScores: a pair lies outside the ({len(h)}, {self.n_columns}) grid")
        W, b = self.params["W"], self.params["b"]
        if kernels.fits(h, W):
            y = np.empty(len(rows), W.dtype)
            kernels.pair_scores_forward_nb(rows, columns, h, W, b, y)
        else:
            y = np.einsum("kd,kd->k", h[rows], W[columns]) + b[columns]
        self._save(h, rows, columns)
        return y

    def backward(self, dy):
        h, rows, columns = self._saved()
        dy = check_upstream(dy, rows.shape, "PairScores")
        W, dW, db = self.params["W"], self.grads["W"], self.grads["b"]
        if kernels.fits(h, W, dy):
            dh = np.zeros_like(h)
            kernels.pair_scores_backward_nb(rows, columns, h, W, dy, dh, dW, db)
            return dh, None, None
        dh = np.zeros(h.shape, np.result_type(h, W, dy))
        np.add.at(dh, rows, dy[:, None] * W[columns])
        np.add.at(dW, columns, dy[:, None] * h[rows])
        np.add.at(db, columns, dy)
        return dh, None, None

    def score_all(self, h):
        """Every column's score, (N, C) = h W^T + b."""
        return h @ self.params["W"].T + self.params["b"]
