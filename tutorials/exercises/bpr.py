"""Exercise (after lesson 06): the gradient of the BPR loss.

Bayesian personalised ranking (Rendle et al. 2009) learns from pairs: an item the user chose
should score above a sampled one they did not. For N such pairs, pred (N, 2) holds the positive
item's score in column 0 and the negative's in column 1:

    d_n = pred[n, 0] - pred[n, 1]                    how far the positive leads
    L   = 1/N sum_n -log sigmoid(d_n)                small when every d_n is large

Write ``backward``: it returns dL/dpred, an (N, 2) array. First dL/dd_n (the derivative of
-log sigmoid(d) is short in terms of sigmoid(-d)), then the chain rule through d_n = pred[n, 0]
- pred[n, 1] gives the two columns. Mind the sign of each column.

Check your work from the repository root (exit status 0 when the gradient is right):

    nanorec exercise check bpr
"""

import numpy as np

from nanorec.nn.losses import Loss


class BPRLoss(Loss):
    """L = mean of -log sigmoid(pred[:, 0] - pred[:, 1]).   Shapes: pred (N, 2)."""

    def forward(self, pred):
        d = pred[:, 0] - pred[:, 1]
        self._cache = (d,)
        # -log sigmoid(d) = log(1 + exp(-d)), written so that exp never overflows
        return float(np.mean(np.maximum(-d, 0) + np.log1p(np.exp(-np.abs(d)))))

    def backward(self):
        """dL/dpred, (N, 2)."""
        (d,) = self._saved()
        raise NotImplementedError("TODO: write BPRLoss.backward")
