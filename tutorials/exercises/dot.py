"""Exercise (after lesson 04): the backward pass of a row-wise dot product.

Matrix factorisation scores a user u against an item i by the dot product of their factors.
For a batch of N pairs, each a row of a (the users' factors) and of b (the items'):

    y[n] = sum over k of a[n, k] * b[n, k]        a (N, K),  b (N, K),  y (N, 1)

(the trailing 1 lets a Dense(1, 1) follow). Given dy = dL/dy (N, 1), write ``backward``: it
returns the pair (dL/da, dL/db), each (N, K). dy has one column: broadcasting spreads it over
the K factors.

Check your work from the repository root (exit status 0 when every gradient is right):

    nanorec exercise check dot
"""

import numpy as np

from nanorec.nn.base import Layer


class Dot(Layer):
    """y[n] = a[n] . b[n].   Shapes: (a (N, K), b (N, K)) -> y (N, 1)."""

    def forward(self, inputs):
        a, b = inputs
        self._save(a, b)
        return np.sum(a * b, axis=1, keepdims=True)

    def backward(self, dy):
        """(dL/da, dL/db), each (N, K)."""
        a, b = self._saved()
        raise NotImplementedError("TODO: write Dot.backward")
