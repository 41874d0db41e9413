"""Name the likely bug behind a gradient that failed its check.

gradcheck (nanorec.testing.gradcheck) calls ``diagnose`` for every array whose analytic gradient
disagrees with the finite differences. Each detector looks at how the two differ (shape, sign,
a constant factor, which entries are wrong, ...) and at what the checked target is; the first one
that recognises a pattern gives the bug class and a sentence for the student.

BUG_CLASSES names the classic backprop mistakes the detectors know (the bug zoo,
nanorec.testing.zoo, holds one mutant of a real layer per class and measures how often the
right class is named).
"""

from dataclasses import dataclass

import numpy as np

BUG_CLASSES = {
    "transposed": "a weight gradient transposed (dy.T @ x for x.T @ dy, or W for W.T)",
    "bias_not_summed": "a bias gradient not summed over the batch",
    "overwritten": "a gradient assigned (=) where it must be accumulated (+=)",
    "wrong_sign": "the gradient's sign flipped",
    "bptt_off_by_one": "backprop through time off by one step",
    "fresh_dropout_mask": "a fresh dropout mask drawn in backward instead of the forward's",
    "repeated_ids_dropped": "repeated embedding ids not accumulated (dW[ids] += dy)",
    "softmax_overflow": "softmax without the max shift (exp overflows)",
    "derivative_at_wrong_point": "an activation's derivative taken at the wrong point",
    "batch_scaling": "a wrong batch-size scaling (a sum for a mean, or 1/N twice)",
    "weight_decay_missing": "weight decay left out of the gradient",
    "relu_negative_slope": "a ReLU derivative of 1 at negative inputs",
}


@dataclass
class FailedGradient:
    """What a detector may look at: one array whose analytic gradient failed its check.

    name      the row's name in the report ("param W", "input", "input 1", ...)
    analytic  the gradient the code gave (float64; its shape may be wrong)
    numeric   the reference it was compared with (centred differences, or for the accumulation
              check twice the gradient of one pass)
    value     the array itself (the parameter or the input), float64
    target    the checked Layer, Loss or function
    inputs    what the target was called with (the layer's input, or the loss's arguments)
    dy        the upstream gradient of a layer (None for a loss or a function)
    output    the target's output (a layer's y, a loss's value)
    check     "finite difference" or "accumulation"
    """

    name: str
    analytic: np.ndarray
    numeric: np.ndarray
    value: np.ndarray
    target: object
    inputs: tuple
    dy: object = None
    output: object = None
    check: str = "finite difference"


DETECTORS = []  # functions FailedGradient -> hint sentence or None, each tagged with its bug class


def diagnose(failed):
    """The (bug_class, hint) of the first detector that recognises ``failed``, or None."""
    for bug_class, detector in DETECTORS:
        hint = detector(failed)
        if hint:
            return bug_class, hint
    return None
