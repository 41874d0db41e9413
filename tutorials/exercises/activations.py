"""Exercise (after lesson 01): the backward pass of the four activations.

An activation applies a function f to every entry of its input, y = f(x), so the chain rule
works entry by entry: given dy = dL/dy, the gradient with respect to the input is

    dx = dy * f'(x)                       x, y, dy, dx all of the same shape, e.g. (N, D)

Write ``backward`` for each class below:

    Sigmoid     y = s(x) = 1 / (1 + exp(-x))      f'(x) in terms of y: s'(x) = ?
    Tanh        y = tanh(x)                       f'(x) in terms of y: tanh'(x) = ?
    ReLU        y = max(x, 0)                     f'(x) = 1 for x > 0, 0 for x < 0
    LeakyReLU   y = x for x > 0, alpha x else     f'(x) = 1 for x > 0, alpha for x < 0

Each forward saves what its backward needs (self._save); read it with self._saved(). Sigmoid
and Tanh keep their OUTPUT y: their derivatives are cheapest written with y, and the derivative
must be taken at the forward's point (s'(x), not s'(y)). The checker feeds inputs of both signs,
none at the kink x = 0.

Check your work from the repository root (exit status 0 when every gradient is right):

    nanorec exercise check activations
"""

import numpy as np

from nanorec.nn.base import Layer


class Sigmoid(Layer):
    """y = 1 / (1 + exp(-x)), entry by entry.   Shapes: x (...) -> y (...), the same."""

    def forward(self, x):
        # exp of a number <= 0 never overflows: exp(min(x, 0)) / (1 + exp(-|x|)) is s(x), any sign
        y = np.exp(np.minimum(x, 0)) / (1 + np.exp(-np.abs(x)))
        self._save(y)
        return y

    def backward(self, dy):
        """dx = dy * s'(x), written with the saved output y."""
        (y,) = self._saved()
        raise NotImplementedError("TODO: write Sigmoid.backward")


class Tanh(Layer):
    """y = tanh(x), entry by entry.   Shapes: x (...) -> y (...), the same."""

    def forward(self, x):
        y = np.tanh(x)
        self._save(y)
        return y

    def backward(self, dy):
        """dx = dy * tanh'(x), written with the saved output y."""
        (y,) = self._saved()
        raise NotImplementedError("TODO: write Tanh.backward")


class ReLU(Layer):
    """y = max(x, 0), entry by entry.   Shapes: x (...) -> y (...), the same."""

    def forward(self, x):
        self._save(x)
        return np.maximum(x, 0)

    def backward(self, dy):
        """dx = dy where x > 0, 0 where x < 0."""
        (x,) = self._saved()
        raise NotImplementedError("TODO: write ReLU.backward")


class LeakyReLU(Layer):
    """y = x where x > 0, alpha * x elsewhere.   Shapes: x (...) -> y (...), the same.

    Parameters
    ----------
    alpha : float
        The slope for negative inputs (the checker uses 0.1).
    """

    def __init__(self, alpha=0.01):
        super().__init__()
        self.alpha = alpha

    def forward(self, x):
        self._save(x)
        return np.where(x > 0, x, self.alpha * x)

    def backward(self, dy):
        """dx = dy where x > 0, alpha * dy where x < 0."""
        (x,) = self._saved()
        raise NotImplementedError("TODO: write LeakyReLU.backward")
