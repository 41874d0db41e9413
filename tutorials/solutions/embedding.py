"""Exercise (after lesson 04): the backward pass of an Embedding table, with repeated ids.

An Embedding holds one row of K numbers per user (or item); a batch of N ids looks rows up:

    y[n] = W[ids[n]]          ids (N,) int in [0, R),  W (R, K),  y (N, K)

Given dy = dL/dy (N, K), write ``backward``: add dL/dW (R, K) into self.grads["W"] and return
None (ids are integers: they have no gradient). Row r of dL/dW is the sum of dy[n] over every n
with ids[n] == r; rows no id used get nothing.

The trap: a batch often holds the same id twice (a user with two ratings). The checker's batch
does. NumPy's fancy-indexed ``+=`` (``dW[ids] += dy``) writes each repeated row ONCE, keeping
only one of its contributions; find a way that adds every one of them.

Check your work from the repository root (exit status 0 when the gradient is right):

    nanorec exercise check embedding
"""
# BEGIN SOLUTION
# Reference solution (instructors' copy). tutorials/exercises/embedding.py is this file with
# every SOLUTION block replaced by a TODO (nanorec.testing.exercises.student_copy).
# END SOLUTION

import numpy as np

from nanorec.nn.base import Layer


class Embedding(Layer):
    """y[n] = W[ids[n]].   Shapes: ids (N,) int -> y (N, K); W (R, K).

    Parameters
    ----------
    n_rows, dim : int
        R (how many users or items) and K (the embedding size).
    rng : np.random.Generator, int or None
        Source of the initial W.
    """

    def __init__(self, n_rows, dim, rng=None):
        super().__init__()
        rng = np.random.default_rng(rng)
        self._add_param("W", rng.normal(0, 1, (n_rows, dim)))

    def forward(self, ids):
        self._save(ids)
        return self.params["W"][ids]

    def backward(self, dy):
        """Add dL/dW into self.grads["W"]; return None."""
        (ids,) = self._saved()
        # BEGIN SOLUTION: Embedding.backward
        np.add.at(self.grads["W"], ids, dy)
        return None
        # END SOLUTION
