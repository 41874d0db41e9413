"""Elementwise activations and the numerically stable ``sigmoid`` function.

Each activation is y = f(x) applied entry by entry, so its backward is the chain rule with the
local derivative f'(x):

    dx = dy * f'(x)

The derivative is written beside each forward, and where it is cheaper to state in terms of the
output y (sigmoid, tanh) the layer caches y instead of x. Activations have no parameters; they keep
the dtype of their input and accept arrays of any shape. On float32 arrays each runs its Numba
kernel (nanorec.nn.kernels: one pass, threaded), which the tests hold equal to the NumPy lines
written here.
"""

import numpy as np

from nanorec.nn import kernels
from nanorec.nn.base import Layer, check_float, check_upstream


def sigmoid(x):
    """Logistic function s(x) = 1 / (1 + exp(-x)), computed without overflow.

    With z = exp(-|x|), which lies in (0, 1] and so never overflows:

        s(x) = 1 / (1 + z)   for x >= 0
        s(x) = z / (1 + z)   for x <  0

    computed for every entry at once as s(x) = exp(min(x, 0)) / (1 + z): the numerator is 1 for
    x >= 0 and exactly z for x < 0 (the same exp of the same number), without a select.

    Derivative: s'(x) = s(x) * (1 - s(x)).

    Parameters
    ----------
    x : array_like
        Any shape; float arrays keep their dtype, other input becomes float64.

    Returns
    -------
    ndarray
        s(x), same shape as x.
    """
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    with np.errstate(under="ignore"):  # exp(-|x|) underflows to 0 for large |x|: that is the limit
        denominator = np.abs(x, out=np.empty_like(x))  # two fresh arrays, then all in place
        np.exp(np.negative(denominator, out=denominator), out=denominator)  # z
        denominator += 1
        numerator = np.minimum(x, 0, out=np.empty_like(x))
        np.exp(numerator, out=numerator)
    numerator /= denominator
    return numerator


class _Elementwise(Layer):
    """Shared checks of the activations: x of any rank and float dtype; dy shaped like the output."""

    def _check(self, x):
        return check_float(x, type(self).__name__)

    def _upstream(self, dy, cached):
        return check_upstream(dy, cached.shape, type(self).__name__)


class Sigmoid(_Elementwise):
    """y = sigmoid(x) = 1 / (1 + exp(-x)), entry by entry (stable for any finite x).

    Shapes: x (...) -> y (...), same shape.
    Backward, given dy = dL/dy:
        dx = dy * y * (1 - y)
    """

    def forward(self, x):
        x = self._check(x)
        y = kernels.elementwise(kernels.sigmoid_forward_nb, x) if kernels.fits(x) else sigmoid(x)
        self._save(y)
        return y

    def backward(self, dy):
        (y,) = self._saved()
        dy = self._upstream(dy, y)
        if kernels.fits(y, dy):
            return kernels.elementwise(kernels.sigmoid_backward_nb, y, dy)
        return dy * y * (1 - y)


class Tanh(_Elementwise):
    """y = tanh(x), entry by entry.

    Shapes: x (...) -> y (...), same shape.
    Backward, given dy = dL/dy:
        dx = dy * (1 - y^2)
    """

    def forward(self, x):
        x = self._check(x)
        y = kernels.elementwise(kernels.tanh_forward_nb, x) if kernels.fits(x) else np.tanh(x)
        self._save(y)
        return y

    def backward(self, dy):
        (y,) = self._saved()
        dy = self._upstream(dy, y)
        if kernels.fits(y, dy):
            return kernels.elementwise(kernels.tanh_backward_nb, y, dy)
        return dy * (1 - y * y)


class LeakyReLU(_Elementwise):
    """y = x for x > 0, alpha * x otherwise, entry by entry.

    Shapes: x (...) -> y (...), same shape.
    Backward, given dy = dL/dy:
        dx = dy          where x > 0
        dx = alpha * dy  where x <= 0   (at the kink x = 0 the left slope is used)

    Parameters
    ----------
    alpha : float
        Slope for negative inputs, 0 <= alpha < 1 in the usual use; alpha = 0 gives ReLU.
    """

    def __init__(self, alpha=0.01):
        super().__init__()
        if not np.isfinite(alpha):
            raise ValueError(f"LeakyReLU: alpha must be a finite number, got {alpha}")
        self.alpha = float(alpha)

    def forward(self, x):
        x = self._check(x)
        self._save(x)
        if kernels.fits(x):
            return kernels.elementwise(kernels.leaky_relu_forward_nb, x, scalars=(self.alpha,))
        return self._slope(x) * x

    def backward(self, dy):
        (x,) = self._saved()
        dy = self._upstream(dy, x)
        if kernels.fits(x, dy):
            return kernels.elementwise(kernels.leaky_relu_backward_nb, x, dy, scalars=(self.alpha,))
        return dy * self._slope(x)

    def _slope(self, x):
        """f'(x): 1 where x > 0, alpha elsewhere (built without np.where: a 1 and an exact alpha)."""
        slope = (x > 0).astype(x.dtype)
        if self.alpha:
            slope += (x <= 0) * x.dtype.type(self.alpha)
        return slope


class ReLU(LeakyReLU):
    """y = max(x, 0), entry by entry: a LeakyReLU with alpha = 0.

    Shapes: x (...) -> y (...), same shape.
    Backward, given dy = dL/dy:
        dx = dy * [x > 0]   (0 at the kink x = 0)
    """

    def __init__(self):
        super().__init__(alpha=0.0)
