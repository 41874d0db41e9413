"""Exercise (after lesson 02): the gradient of the mean squared error.

For predictions and targets of shape (N, D) (N samples, D outputs each) the loss is the mean
over all N D entries:

    L = 1 / (N D) * sum over n, j of (pred[n, j] - target[n, j])^2

Write ``backward``: it returns dL/dpred, an (N, D) array (the shape of pred). Every entry of
pred appears in exactly one term of the sum; do not forget the 1 / (N D) of the mean (the
checker's batch has N != D, so dividing by N alone, or by D alone, shows).

Check your work from the repository root (exit status 0 when the gradient is right):

    nanorec exercise check mse
"""
# BEGIN SOLUTION
# Reference solution (instructors' copy). tutorials/exercises/mse.py is this file with every
# SOLUTION block replaced by a TODO (nanorec.testing.exercises.student_copy).
# END SOLUTION

import numpy as np

from nanorec.nn.losses import Loss


class MSELoss(Loss):
    """L = mean over all entries of (pred - target)^2.   Shapes: pred (N, D), target (N, D)."""

    def forward(self, pred, target):
        self._cache = (pred, target)
        return float(np.mean((pred - target) ** 2))

    def backward(self):
        """dL/dpred, (N, D)."""
        pred, target = self._saved()
        # BEGIN SOLUTION: MSELoss.backward
        return 2 * (pred - target) / pred.size
        # END SOLUTION
