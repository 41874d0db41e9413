"""Exercise (after lesson 03): the backward pass of a Dense (affine) layer.

For a batch of N inputs with D_in features:

    y = x W + b            x (N, D_in),  W (D_in, D_out),  b (D_out,),  y (N, D_out)

(b is added to every row of x W). Given dy = dL/dy (N, D_out), write ``backward``:

    add dL/dW (D_in, D_out) into self.grads["W"]
    add dL/db (D_out,)      into self.grads["b"]
    return dL/dx (N, D_in)

ADD (+=), do not assign: when a layer is used twice before the optimizer steps, both uses must
count (the checker tests this too). Every gradient has the shape of its variable: if a product
comes out with the wrong shape, transpose the factor that makes it fit. b was used once per
row, so its gradient collects all N rows. The checker uses N = 5, D_in = 3, D_out = 4.

Check your work from the repository root (exit status 0 when every gradient is right):

    nanorec exercise check dense
"""
# BEGIN SOLUTION
# Reference solution (instructors' copy). tutorials/exercises/dense.py is this file with every
# SOLUTION block replaced by a TODO (nanorec.testing.exercises.student_copy).
# END SOLUTION

import numpy as np

from nanorec.nn.base import Layer


class Dense(Layer):
    """y = x W + b.   Shapes: x (N, D_in) -> y (N, D_out); W (D_in, D_out); b (D_out,).

    Parameters
    ----------
    d_in, d_out : int
        Input and output features.
    rng : np.random.Generator, int or None
        Source of the initial W (b starts at 0).
    """

    def __init__(self, d_in, d_out, rng=None):
        super().__init__()
        rng = np.random.default_rng(rng)
        self._add_param("W", rng.normal(0, 1 / np.sqrt(d_in), (d_in, d_out)))
        self._add_param("b", np.zeros(d_out))

    def forward(self, x):
        self._save(x)
        return x @ self.params["W"] + self.params["b"]

    def backward(self, dy):
        """Add dL/dW and dL/db into self.grads; return dL/dx."""
        (x,) = self._saved()
        # BEGIN SOLUTION: Dense.backward
        self.grads["W"] += x.T @ dy
        self.grads["b"] += dy.sum(axis=0)
        return dy @ self.params["W"].T
        # END SOLUTION
