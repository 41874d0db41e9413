"""Exercise (after lesson 02): the gradient of the binary cross-entropy.

A Sigmoid output p (probabilities in (0, 1)) against 0/1 targets y, both (N, D), averaged over
all N D entries:

    L = -1 / (N D) * sum over n, j of ( y log p + (1 - y) log(1 - p) )

Write ``backward``: it returns dL/dp, an (N, D) array. Differentiate one term with respect to
its p, then divide by the number of entries. (Lesson 03 combines this with the sigmoid's
derivative into the famous p - y; here the loss stands alone, so the p (1 - p) stays.)

Check your work from the repository root (exit status 0 when the gradient is right):

    nanorec exercise check bce
"""
# BEGIN SOLUTION
# Reference solution (instructors' copy). tutorials/exercises/bce.py is this file with every
# SOLUTION block replaced by a TODO (nanorec.testing.exercises.student_copy).
# END SOLUTION

import numpy as np

from nanorec.nn.losses import Loss


class BCELoss(Loss):
    """Binary cross-entropy of probabilities.   Shapes: p (N, D) in (0, 1), y (N, D) 0 or 1."""

    def forward(self, p, y):
        self._cache = (p, y)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

    def backward(self):
        """dL/dp, (N, D)."""
        p, y = self._saved()
        # BEGIN SOLUTION: BCELoss.backward
        return (p - y) / (p * (1 - p)) / p.size
        # END SOLUTION
