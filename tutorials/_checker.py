"""The checker of the backprop exercise (03_exercise_backprop.py): your gradients against finite
differences, one verdict per gradient.

For each array v among (W1, b1, W2, b2, x) the numeric gradient is the centred difference

    dL/dv[j] ~ (L(v + h e_j) - L(v - h e_j)) / (2 h)          h = 1e-6, in float64

and it is compared with yours by

    rel error = max_j |yours[j] - numeric[j]| / max(max_j (|yours[j]| + |numeric[j]|), 1e-8)

OK below 1e-6 (a correct gradient shows about 1e-9), WRONG otherwise, with the entry j where
|yours - numeric| is largest. A gradient of the wrong shape (a transposed dW) is WRONG at once.
"""

import sys
import traceback
from dataclasses import dataclass

import numpy as np

from nanorec.testing.gradcheck import numeric_gradient

GRADIENTS = ("dW1", "db1", "dW2", "db2", "dx")


@dataclass
class Verdict:
    """The checker's answer for one gradient."""

    name: str  # "dW1", ..., "dx"
    status: str  # "OK", "WRONG" or "TODO"
    rel_error: float = float("nan")
    detail: str = ""

    def __str__(self):
        error = "" if np.isnan(self.rel_error) else f"  rel error {self.rel_error:.1e}"
        return f"  {self.name:<4} {self.status:<5}{error}  {self.detail}".rstrip()


def compare(name, yours, numeric, tol=1e-6):
    """The Verdict of one gradient: shape, relative error, and the entry with the largest error."""
    if yours is None:
        return Verdict(name, "WRONG", detail="missing: backward returned no value for it")
    yours = np.asarray(yours, dtype=np.float64)
    if yours.shape != numeric.shape:
        return Verdict(name, "WRONG", detail=f"shape {yours.shape}, expected {numeric.shape}"
                       " (a transposed product?)")
    difference = np.abs(yours - numeric)
    rel_error = float(difference.max() / max(float((np.abs(yours) + np.abs(numeric)).max()), 1e-8))
    if rel_error < tol:
        return Verdict(name, "OK", rel_error)
    where = np.unravel_index(np.argmax(difference), difference.shape)
    return Verdict(name, "WRONG", rel_error,
                   f"largest error at {name}[{', '.join(map(str, where))}]: "
                   f"yours {yours[where]:+.6f}, finite difference {numeric[where]:+.6f}")


def check_backprop(forward, backward, params, x, y, tol=1e-6):
    """Verdicts (one per name in GRADIENTS) for ``backward`` against finite differences.

    Parameters
    ----------
    forward : callable (params, x, y) -> (loss, cache)
    backward : callable (cache) -> dict with the keys of GRADIENTS
    params : dict {"W1", "b1", "W2", "b2"} of float64 arrays (perturbed in place, then restored)
    x, y : float64 arrays, the input and the targets
    """
    _, cache = forward(params, x, y)
    try:
        yours = backward(cache)
    except NotImplementedError:
        where = traceback.extract_tb(sys.exc_info()[2])[-1].name  # the function that raised
        return [Verdict(name, "TODO", detail=f"{where} raises NotImplementedError: write it")
                for name in GRADIENTS]

    def loss_of():
        return forward(params, x, y)[0]

    arrays = {"dW1": params["W1"], "db1": params["b1"], "dW2": params["W2"], "db2": params["b2"],
              "dx": x}
    return [compare(name, yours.get(name), numeric_gradient(loss_of, arrays[name]), tol)
            for name in GRADIENTS]


def report(verdicts):
    """The verdicts as printable lines, with a summary line first."""
    n_ok = sum(v.status == "OK" for v in verdicts)
    lines = [f"gradient check: {n_ok} of {len(verdicts)} OK"] + [str(v) for v in verdicts]
    return "\n".join(lines)
