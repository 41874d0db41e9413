"""Exercise (after lesson 05): the gradient of the softmax cross-entropy.

N samples, C classes: logits z (N, C) and the true class t_n of each sample (N,) int in [0, C).

    softmax    s[n, c] = exp(z[n, c]) / sum over c' of exp(z[n, c'])
    loss       L = 1/N sum_n -log s[n, t_n]

Write ``backward``: it returns dL/dz, an (N, C) array. Differentiate -log s[n, t_n] with respect
to every z[n, c] (the two cases c == t_n and c != t_n combine into one short formula), then
take the mean's 1/N into account.

Computing the softmax: exp overflows above about 709, and the checker's batch has a row of
logits near 750. Subtracting each row's maximum first changes nothing mathematically
(numerator and denominator get the same factor) and keeps every exp at most 1; the forward's
``log_softmax`` does exactly that, and you may use it.

Check your work from the repository root (exit status 0 when the gradient is right):

    nanorec exercise check softmax_cross_entropy
"""

import numpy as np

from nanorec.nn.losses import Loss


def log_softmax(z):
    """log s for logits z (N, C), row by row, without overflow: with m = the row's max,
    log s[c] = (z[c] - m) - log sum over c' of exp(z[c'] - m)."""
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


class SoftmaxCrossEntropyLoss(Loss):
    """Mean cross-entropy of a softmax.   Shapes: z (N, C) logits, t (N,) int class ids."""

    def forward(self, z, t):
        self._cache = (z, t)
        return float(-np.mean(log_softmax(z)[np.arange(len(z)), t]))

    def backward(self):
        """dL/dz, (N, C)."""
        z, t = self._saved()
        raise NotImplementedError("TODO: write SoftmaxCrossEntropyLoss.backward")
