"""Exercise (after lesson 05): the backward pass of (inverted) dropout.

In training, dropout zeroes each entry with probability p and scales the kept ones by
1 / (1 - p), so that the expected output equals the input:

    m[j] = 1 with probability 1 - p, else 0          drawn afresh at every forward
    y = x * m / (1 - p)                              x, y (N, D), any shape in fact

Given dy = dL/dy, write ``backward``: it returns dL/dx, the shape of x. For the forward that
just ran, y is x times a constant array; its gradient must use THE SAME mask, the one the
forward saved. Drawing a new mask in backward gives the gradient of some other network.

The checker replays ``self.rng`` before every forward, so every forward it runs draws the same
mask (the finite differences need that); it uses p = 0.4 on a (6, 5) batch, so some entries are
dropped and some kept.

Check your work from the repository root (exit status 0 when the gradient is right):

    nanorec exercise check dropout
"""

import numpy as np

from nanorec.nn.base import Layer


class Dropout(Layer):
    """y = x * m / (1 - p) in training, y = x in eval mode.   Shapes: x (...) -> y (...).

    Parameters
    ----------
    p : float
        The probability of zeroing an entry, 0 <= p < 1.
    rng : np.random.Generator, int or None
        Source of the masks, kept as self.rng.
    """

    def __init__(self, p, rng=None):
        super().__init__()
        self.p = p
        self.rng = np.random.default_rng(rng)

    def forward(self, x):
        if not self.training:
            return x
        scaled_mask = (self.rng.random(x.shape) >= self.p) / (1 - self.p)  # m / (1 - p)
        self._save(scaled_mask)
        return x * scaled_mask

    def backward(self, dy):
        """dL/dx, the shape of x."""
        (scaled_mask,) = self._saved()
        raise NotImplementedError("TODO: write Dropout.backward")
