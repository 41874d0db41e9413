"""Convolutions over a sequence: Conv1d with max-over-time pooling, and VerticalConv.

Conv1d and MaxOverTime make the text-CNN block: slide C_out filters of ``width`` steps over a
sequence of C_in-channel vectors (for instance the embeddings of the items a user saw, in order),
then keep each filter's strongest response anywhere in the sequence. VerticalConv's filters span
every step instead, and slide over the channels (Caser's vertical filters).
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from nanorec import _checks
from nanorec.nn import kernels
from nanorec.nn.base import (
    Layer,
    check_array,
    check_features,
    check_upstream,
)
from nanorec.nn.init import as_generator, float_dtype, initialize


class Conv1d(Layer):
    """Valid 1-D convolution (cross-correlation, stride 1) with C_out filters of ``width`` steps.

        y[n, t, o] = b[o] + sum over k < width, c < C_in of x[n, t + k, c] * W[k, c, o]

    Shapes: x (N, T, C_in) -> y (N, T', C_out) with T' = T - width + 1;
            W (width, C_in, C_out); b (C_out,)
    How: the windows x[n, t:t+width, :] are flattened into a (N, T', width * C_in) array X, so the
    layer is one matrix product y = X W2 + b with W2 = W reshaped to (width * C_in, C_out).
    Backward, given dy = dL/dy (N, T', C_out):
        dW2 = X^T dy  (summed over n and t)      db = sum over n, t of dy[n, t]
        dX  = dy W2^T, and every window entry goes back where it was read from:
        dx[n, t + k, c] += dX[n, t, k, c]   for each offset k (windows overlap, so this adds up)

    Parameters
    ----------
    c_in, c_out : int
        Input channels and number of filters.
    width : int
        Steps each filter spans; the input needs T >= width.
    bias, init, rng, dtype
        As in Dense (fan_in of W is width * C_in).
    """

    def __init__(
        self, c_in, c_out, width, bias=True, init="glorot_uniform", rng=None, dtype=np.float32
    ):
        super().__init__()
        self.c_in = _checks.positive_int(c_in, "c_in", "Conv1d")
        self.c_out = _checks.positive_int(c_out, "c_out", "Conv1d")
        self.width = _checks.positive_int(width, "width", "Conv1d")
        dtype = float_dtype(dtype)
        shape = (self.width, self.c_in, self.c_out)
        self._add_param("W", initialize(init, shape, as_generator(rng), dtype))
        if bias:
            self._add_param("b", np.zeros(self.c_out, dtype))

    def forward(self, x):
        x = check_array(x, 3, "Conv1d")
        check_features(x, self.c_in, "Conv1d")
        n, t, _ = x.shape
        if t < self.width:
            raise ValueError(
                f"Conv1d: sequence of {t} steps is shorter than the filter width {self.width}"
            )
        t_out = t - self.width + 1
        if kernels.fits(x):  # the windows copied out by a kernel (im2col)
            windows = np.empty((n, t_out, self.width * self.c_in), x.dtype)
            kernels.windows_nb(x, self.width, windows)
        else:  # sliding_window_view gives (N, T', C_in, width); put the offset k before the channel c
            windows = sliding_window_view(x, self.width, axis=1).transpose(0, 1, 3, 2)
            windows = windows.reshape(n, t_out, self.width * self.c_in)
        self._save(windows, t)
        y = (windows.reshape(n * t_out, -1) @ self._flat_weight()).reshape(n, t_out, self.c_out)
        if "b" in self.params:
            y += self.params["b"]
        return y

    def backward(self, dy):
        windows, t = self._saved()
        n, t_out, _ = windows.shape
        dy = check_upstream(dy, (n, t_out, self.c_out), "Conv1d")
        dW2 = windows.reshape(n * t_out, -1).T @ dy.reshape(n * t_out, self.c_out)
        self.grads["W"] += dW2.reshape(self.params["W"].shape)
        if "b" in self.grads:
            self.grads["b"] += dy.sum(axis=(0, 1))
        dwindows = (dy.reshape(n * t_out, self.c_out) @ self._flat_weight().T).reshape(n, t_out, -1)
        dx = np.empty((n, t, self.c_in), dtype=dwindows.dtype)
        if kernels.fits(dwindows):
            kernels.add_windows_nb(dwindows, self.width, dx)
            return dx
        dx[...] = 0
        dwindows = dwindows.reshape(n, t_out, self.width, self.c_in)
        for k in range(self.width):
            dx[:, k : k + t_out, :] += dwindows[:, :, k, :]
        return dx

    def _flat_weight(self):
        """W as the (width * C_in, C_out) matrix the flattened windows multiply."""
        return self.params["W"].reshape(self.width * self.c_in, self.c_out)


class MaxOverTime(Layer):
    """Max pooling over the whole sequence: y[n, c] = max over t of x[n, t, c].

    Shapes: x (N, T, C) -> y (N, C)
    Backward, given dy = dL/dy (N, C): the max is a selection, so its gradient goes to the chosen
    step only:
        dx[n, t, c] = dy[n, c] if t == argmax_t x[n, t, c], else 0
    Ties go to the FIRST step holding the maximum (np.argmax's rule); at a tie the max is not
    differentiable, so gradient checks should keep inputs away from ties.
    """

    def forward(self, x):
        x = check_array(x, 3, "MaxOverTime")
        if x.shape[1] == 0:
            raise ValueError(f"MaxOverTime: needs at least one time step, got shape {x.shape}")
        if kernels.fits(x):
            y, argmax = np.empty((len(x), x.shape[2]), x.dtype), np.empty((len(x), x.shape[2]), np.int64)
            kernels.max_over_time_forward_nb(x, y, argmax)
        else:
            argmax = np.argmax(x, axis=1)
            y = np.take_along_axis(x, argmax[:, None, :], axis=1)[:, 0, :]
        self._save(argmax, x.shape)
        return y

    def backward(self, dy):
        argmax, x_shape = self._saved()
        dy = check_upstream(dy, argmax.shape, "MaxOverTime")
        if dy.dtype == np.float32:  # any layout: the kernel reads dy by index
            dx = np.empty(x_shape, dtype=dy.dtype)
            kernels.max_over_time_backward_nb(dy, argmax, dx)
            return dx
        dx = np.zeros(x_shape, dtype=dy.dtype)
        np.put_along_axis(dx, argmax[:, None, :], dy[:, None, :], axis=1)
        return dx


class VerticalConv(Layer):
    """Vertical convolution: F filters, each a weighted sum of the L steps, slid over the channels.

        y[n, f, k] = b[f] + sum over l < L of w[l, f] * x[n, l, k]

    A vertical filter spans all L steps and one channel k: over the embeddings of a user's last L
    items it learns "which of the last items matter" (Caser's vertical filters; Tang & Wang 2018).
    The output is flattened to (N, F K), filter-major.

    Shapes: x (N, L, K) -> y (N, F K); w (L, F); b (F,)
    Backward, given dy = dL/dy (N, F K), viewed as (N, F, K):
        dw[l, f] = sum over n, k of x[n, l, k] dy[n, f, k]
        db[f]    = sum over n, k of dy[n, f, k]
        dx[n, l, k] = sum over f of w[l, f] dy[n, f, k]

    Parameters
    ----------
    seq_len : int
        L, the steps of the input.
    n_filters : int
        F.
    init, rng, dtype
        As in Dense (fan_in of w is L).
    """

    def __init__(self, seq_len, n_filters, init="glorot_uniform", rng=None, dtype=np.float32):
        super().__init__()
        self.seq_len = _checks.positive_int(seq_len, "seq_len", "VerticalConv")
        self.n_filters = _checks.positive_int(n_filters, "n_filters", "VerticalConv")
        dtype = float_dtype(dtype)
        shape = (self.seq_len, self.n_filters)
        self._add_param("w", initialize(init, shape, as_generator(rng), dtype))
        self._add_param("b", np.zeros(self.n_filters, dtype))

    def forward(self, x):
        x = check_array(x, 3, "VerticalConv")
        if x.shape[1] != self.seq_len:
            raise ValueError(
                f"VerticalConv: expected x with {self.seq_len} steps, got shape {x.shape}")
        self._save(x)
        # one product over l for every (n, k): (F, N, K), then filter-major per sample
        y = np.tensordot(self.params["w"], x, axes=([0], [1])) + self.params["b"][:, None, None]
        return np.ascontiguousarray(y.transpose(1, 0, 2)).reshape(len(x), -1)

    def backward(self, dy):
        (x,) = self._saved()
        n, _, k = x.shape
        dy = check_upstream(dy, (n, self.n_filters * k), "VerticalConv")
        dy = dy.reshape(n, self.n_filters, k)
        self.grads["w"] += np.tensordot(x, dy, axes=([0, 2], [0, 2]))  # sum over n and k
        self.grads["b"] += dy.sum(axis=(0, 2))
        dx = np.tensordot(self.params["w"], dy, axes=([1], [1]))  # (L, N, K)
        return np.ascontiguousarray(dx.transpose(1, 0, 2))
