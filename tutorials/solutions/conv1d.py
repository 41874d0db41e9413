"""Exercise (after lesson 05): a 1-D convolution and max-over-time pooling (the text-CNN block).

A sequence of T steps, each a vector of C_in channels (say the embeddings of the last items a
user saw, in order). C_out filters of ``width`` steps slide over it (valid positions, stride 1):

    y[n, t, o] = b[o] + sum over k < width, c < C_in of x[n, t + k, c] W[k, c, o]
    x (N, T, C_in),  W (width, C_in, C_out),  b (C_out,),  y (N, T', C_out),  T' = T - width + 1

The forward writes this as one matrix product per filter offset k:
y = b + sum over k of x[:, k : k + T'] @ W[k]. Then MaxOverTime keeps each filter's strongest
response anywhere in the sequence:

    z[n, o] = max over t of y[n, t, o]          y (N, T', C) -> z (N, C)

Write both backward passes:

    Conv1d.backward(dy)       dy (N, T', C_out): add dL/dW (width, C_in, C_out) and dL/db (C_out,)
                              into self.grads; return dL/dx (N, T, C_in). Follow the forward's sum
                              over k: each offset k has its own piece of W and reads its own slice
                              of x, and the slices overlap, so dx collects several contributions
                              per step.
    MaxOverTime.backward(dz)  dz (N, C): return dL/dy (N, T', C). The max picks one step per
                              (n, c); only that step's entry influenced z.

The checker uses N = 2, T = 6, C_in = 2, C_out = 3, width = 3 for Conv1d, and inputs without
ties for MaxOverTime (at a tie the max has no derivative).

Check your work from the repository root (exit status 0 when every gradient is right):

    nanorec exercise check conv1d
"""
# BEGIN SOLUTION
# Reference solution (instructors' copy). tutorials/exercises/conv1d.py is this file with every
# SOLUTION block replaced by a TODO (nanorec.testing.exercises.student_copy).
# END SOLUTION

import numpy as np

from nanorec.nn.base import Layer


class Conv1d(Layer):
    """Valid 1-D convolution.   Shapes: x (N, T, C_in) -> y (N, T - width + 1, C_out);
    W (width, C_in, C_out); b (C_out,).

    Parameters
    ----------
    c_in, c_out, width : int
        Input channels, filters and the steps each filter spans.
    rng : np.random.Generator, int or None
        Source of the initial W (b starts at 0).
    """

    def __init__(self, c_in, c_out, width, rng=None):
        super().__init__()
        rng = np.random.default_rng(rng)
        self.width = width
        self._add_param("W", rng.normal(0, 1 / np.sqrt(width * c_in), (width, c_in, c_out)))
        self._add_param("b", np.zeros(c_out))

    def forward(self, x):
        t_out = x.shape[1] - self.width + 1
        self._save(x)
        return self.params["b"] + sum(x[:, k : k + t_out] @ self.params["W"][k]
                                      for k in range(self.width))

    def backward(self, dy):
        """Add dL/dW and dL/db into self.grads; return dL/dx (N, T, C_in)."""
        (x,) = self._saved()
        t_out = dy.shape[1]
        # BEGIN SOLUTION: Conv1d.backward
        self.grads["b"] += dy.sum(axis=(0, 1))
        dx = np.zeros_like(x)
        for k in range(self.width):
            window = x[:, k : k + t_out]  # (N, T', C_in), the slice offset k read
            self.grads["W"][k] += np.einsum("ntc,nto->co", window, dy)
            dx[:, k : k + t_out] += dy @ self.params["W"][k].T
        return dx
        # END SOLUTION


class MaxOverTime(Layer):
    """z[n, c] = max over t of y[n, t, c].   Shapes: y (N, T, C) -> z (N, C)."""

    def forward(self, y):
        argmax = np.argmax(y, axis=1)  # (N, C): the step holding each max
        self._save(argmax, y.shape)
        return np.take_along_axis(y, argmax[:, None, :], axis=1)[:, 0, :]

    def backward(self, dz):
        """dL/dy (N, T, C)."""
        argmax, y_shape = self._saved()
        # BEGIN SOLUTION: MaxOverTime.backward
        dy = np.zeros(y_shape)
        np.put_along_axis(dy, argmax[:, None, :], dz[:, None, :], axis=1)
        return dy
        # END SOLUTION
