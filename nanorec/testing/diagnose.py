"""Name the likely bug behind a gradient that failed its check.

gradcheck (nanorec.testing.gradcheck) calls ``diagnose`` for every array whose analytic gradient
disagrees with the finite differences. Each detector looks at how the two differ (shape, sign,
a constant factor, which entries are wrong, ...) and at what the checked target is; the first one
that recognises a pattern gives the bug class and a sentence for the student.

BUG_CLASSES names the classic backprop mistakes the detectors know (the bug zoo,
nanorec.testing.zoo, holds one mutant of a real layer per class and measures how often the
right class is named).

The detectors read only numbers and the target's public structure (its params, its inputs, whether
it draws random numbers), never its class or name, so they work on a student's own layer as well.
They are tried in the order of this file, the most specific pattern first:

    overwritten                 accumulation check: two passes give what one pass gives,
                                analytic == numeric / 2
    softmax_overflow            the analytic gradient has NaN or inf, the finite differences not
    transposed                  analytic == numeric.T (a reversed shape, or a square array), or
                                an input's gradient dy @ W for a square weight W
    bias_not_summed             an extra leading (batch) axis: analytic.sum(0) has numeric's shape
    relu_negative_slope         an activation wrong only where its input is < 0, with dx == dy there
                                (inputs in [0, KINK_ZONE) ignored: a step there straddles the
                                kink, so the difference is no slope, and dx == dy is right)
    derivative_at_wrong_point   an activation's dx == dy * f'(wrong point): y (1 - y) or 1 - y^2
                                at the input x, or s'(y), tanh'(y) at the output y
    wrong_sign                  analytic == -numeric
    batch_scaling               analytic == c * numeric with c = N or 1 / N (N samples, or the
                                N * D entries of the first input); not for activations
    repeated_ids_dropped        wrong only in the rows of ids that repeat in the batch, each
                                holding one sample's contribution
    weight_decay_missing        numeric - analytic == lambda * value for one lambda > 0; not for
                                activations (on inputs filled with one value, or a few entries,
                                a factor fits by chance)
    bptt_off_by_one             a recurrent layer's dx (N, T, D) wrong only at its first or last
                                step, or shifted by one step
    fresh_dropout_mask          a random layer's dx agrees where both are non-zero, but its zeros
                                are elsewhere (a mask drawn anew)

Two gradients "agree" when they differ by at most AGREE times the larger of their largest
entries: finite differences in float64 carry a relative noise of about 1e-8, the bugs above an
error of 1e-2 or more.
"""

from dataclasses import dataclass

import numpy as np

from nanorec.nn.activations import sigmoid

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

AGREE = 1e-5
KINK_ZONE = 1e-5  # ten default steps h: closer to a kink a centred difference is no slope


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


def detector(bug_class, check="finite difference"):
    """Register the decorated function in DETECTORS under ``bug_class``; it is only shown rows of
    the given check ("finite difference" or "accumulation") and returns None for the others."""
    if bug_class not in BUG_CLASSES:
        raise ValueError(f"unknown bug class {bug_class!r}; choose from {sorted(BUG_CLASSES)}")

    def register(function):
        def run(failed):
            return function(failed) if failed.check == check else None

        run.__name__, run.__doc__ = function.__name__, function.__doc__
        DETECTORS.append((bug_class, run))
        return function

    return register


# ------------------------------------------------------------------------------------- helpers
def _grad_name(failed):
    """How a hint calls the gradient: "dW" for "param W", "dx" for "input", and "the gradient
    of input 1" for the others."""
    name = failed.name.removesuffix(" (accumulation)")
    if name.startswith("param "):
        return "d" + name[len("param "):]
    return "dx" if name == "input" else f"the gradient of {name}"


def _scale(*arrays):
    """The largest |entry| over the arrays (1e-300 when all are 0, so that it can divide)."""
    return max([float(np.max(np.abs(a), initial=0.0)) for a in arrays] + [1e-300])


def _agree(a, b):
    """Entry by entry: |a - b| <= AGREE * the largest |entry| of a and b."""
    return np.abs(a - b) <= AGREE * _scale(a, b)


def _all_agree(a, b):
    return a.shape == b.shape and bool(np.all(_agree(a, b)))


def _factor(a, b):
    """The c that best fits a == c * b (least squares), or None when b is all zero."""
    norm = float(np.sum(b * b))
    return float(np.sum(a * b)) / norm if norm > 0 else None


def _first_array(inputs):
    """The first array among the target's inputs (the layer's x, a loss's pred), or None."""
    for x in inputs:
        x = x[0] if isinstance(x, tuple) and x else x
        if isinstance(x, np.ndarray) and x.ndim > 0:
            return x
    return None


def _ids(inputs):
    """The integer array among the inputs (an Embedding's ids), or None."""
    for x in inputs:
        for a in x if isinstance(x, tuple) else (x,):
            if isinstance(a, np.ndarray) and a.dtype.kind in "iu":
                return a
    return None


def _is_activation(failed):
    """A layer without parameters or random draws whose input gradient has the shape of its
    input, output and dy: an elementwise map y = f(x), so that dx = dy * f'(x) entry by entry."""
    shapes = {np.shape(failed.value), np.shape(failed.dy), np.shape(failed.output),
              failed.analytic.shape, failed.numeric.shape}
    return (failed.dy is not None and not getattr(failed.target, "params", True)
            and not _draws_random_numbers(failed.target)
            and isinstance(failed.output, np.ndarray) and len(shapes) == 1)


def _draws_random_numbers(target):
    """Whether the target, or one of its children, keeps a np.random.Generator as ``rng``."""
    if isinstance(getattr(target, "rng", None), np.random.Generator):
        return True
    return any(_draws_random_numbers(child) for child in getattr(target, "children", ()))


# ----------------------------------------------------------------------------------- detectors
@detector("overwritten", check="accumulation")
def accumulated_once(failed):
    """Two forward + backward passes without zero_grad left the gradient of one pass."""
    if _all_agree(failed.analytic, failed.numeric / 2):
        d, key = _grad_name(failed), failed.name.removesuffix(" (accumulation)")[len("param "):]
        return (f"{d} after two backward passes equals one pass: it is assigned, not accumulated; "
                f"write self.grads[{key!r}] += ... (a weight used twice needs both "
                f"contributions; zero_grad() resets)")
    return None


@detector("softmax_overflow")
def not_finite(failed):
    """NaN or inf in the analytic gradient where the finite differences are finite."""
    analytic, numeric = failed.analytic, failed.numeric
    if analytic.shape == numeric.shape and np.all(np.isfinite(numeric)) and not np.all(
            np.isfinite(analytic)):
        return (f"{_grad_name(failed)} has NaN or inf where the finite differences are finite, "
                f"and its input reaches |{_scale(failed.value):.3g}|: exp overflowed; compute "
                f"softmax(z) as exp(z - z.max()) / sum(exp(z - z.max())), which is the same "
                f"number and never overflows")
    return None


@detector("transposed")
def transposed(failed):
    """analytic == numeric.T: a reversed shape, or a square array equal to the transpose; or an
    input gradient dy @ W where the layer has a square weight W (dy @ W.T is right)."""
    analytic, numeric = failed.analytic, failed.numeric
    if analytic.ndim != 2 or numeric.ndim != 2:
        return None
    if failed.name.startswith("input") and np.ndim(failed.dy) == 2:
        for key, weight in getattr(failed.target, "params", {}).items():
            if (np.ndim(weight) == 2 and weight.shape[0] == weight.shape[1] == np.shape(
                    failed.dy)[1] and _all_agree(analytic, np.asarray(failed.dy) @ weight)):
                return (f"{_grad_name(failed)} equals dy @ {key}, the weight untransposed: for "
                        f"y = x @ {key} the input's gradient is dy @ {key}.T")
    if analytic.shape != numeric.shape[::-1]:
        return None
    if analytic.shape == numeric.shape and not _all_agree(analytic, numeric.T):
        return None
    d = _grad_name(failed)
    right = "dy @ W.T" if d == "dx" else "x.T @ dy"
    wrong = "dy @ W" if d == "dx" else "dy.T @ x"
    seen = (f"has shape {analytic.shape}, the transpose of {numeric.shape}"
            if analytic.shape != numeric.shape else "equals the transpose of the right gradient")
    return f"{d} {seen}: for y = x @ W use {right}, not {wrong}"


@detector("bias_not_summed")
def batch_axis_kept(failed):
    """An extra leading axis: one gradient per sample where the parameter has none."""
    analytic, numeric = failed.analytic, failed.numeric
    if analytic.ndim != numeric.ndim + 1 or analytic.shape[1:] != numeric.shape:
        return None
    summed = "its sum over that axis is right" if _all_agree(analytic.sum(0), numeric) else (
        "and even its sum over that axis is wrong")
    d = _grad_name(failed)
    return (f"{d} has shape {analytic.shape}, one row per sample, where {numeric.shape} is "
            f"expected ({summed}): a parameter shared by the batch gets the sum, "
            f"{d} = dy.sum(axis=0)")


@detector("relu_negative_slope")
def slope_one_below_zero(failed):
    """An activation wrong only where its input is negative, and there dx == dy (slope 1)."""
    if not _is_activation(failed):
        return None
    analytic, x, dy = failed.analytic, failed.value, np.asarray(failed.dy)
    wrong = ~_agree(analytic, failed.numeric)
    below, above = wrong & (x < 0), wrong & (x >= KINK_ZONE)  # in [0, KINK_ZONE): no evidence
    if not below.any() or above.any() or not np.all(_agree(analytic, dy)[below]):
        return None
    return ("dx is wrong only where the input x < 0, and there it equals dy (a slope of 1): "
            "ReLU's derivative is 0 for x < 0, dx = dy * (x > 0); a mask taken from the output "
            "y = max(x, 0) must test y > 0, since every y >= 0")


WRONG_POINTS = (
    # (what the local derivative matched, f'(x, y) at the wrong point, what to write instead)
    ("x (1 - x), the sigmoid's y (1 - y) at the input x", lambda x, y: x * (1 - x),
     "take it at the output: dx = dy * y * (1 - y), y = sigmoid(x)"),
    ("1 - x^2, tanh's 1 - y^2 at the input x", lambda x, y: 1 - x * x,
     "take it at the output: dx = dy * (1 - y^2), y = tanh(x)"),
    ("s(y) (1 - s(y)), the sigmoid's derivative at the output y", lambda x, y: sigmoid(y) * (
        1 - sigmoid(y)), "s'(x) = y (1 - y) in terms of y; do not apply sigmoid again"),
    ("1 - tanh(y)^2, tanh's derivative at the output y", lambda x, y: 1 - np.tanh(y) ** 2,
     "tanh'(x) = 1 - y^2 in terms of y; do not apply tanh again"),
)


@detector("derivative_at_wrong_point")
def derivative_at_wrong_point(failed):
    """An activation whose dx / dy is a known derivative evaluated at the wrong point."""
    if not _is_activation(failed):
        return None
    x, y, dy = failed.value, failed.output, np.asarray(failed.dy)
    with np.errstate(all="ignore"):
        for matched, local, advice in WRONG_POINTS:
            if _all_agree(failed.analytic, dy * local(x, y)):
                return f"dx / dy is {matched}: {advice}"
    return None


@detector("wrong_sign")
def sign_flipped(failed):
    """analytic == -numeric."""
    if _all_agree(failed.analytic, -failed.numeric):
        return (f"{_grad_name(failed)} has the right size but the wrong sign (analytic == "
                f"-numeric): check the sign of each local derivative, e.g. d/dpred (pred - t)^2 "
                f"= 2 (pred - t), not 2 (t - pred)")
    return None


@detector("batch_scaling")
def scaled_by_batch(failed):
    """analytic == c * numeric with c the batch size N (or N * D, or D), or one over it."""
    analytic, numeric = failed.analytic, failed.numeric
    if _is_activation(failed):  # an entry-by-entry map takes no mean over the batch
        return None
    x = _first_array(failed.inputs)
    c = _factor(analytic, numeric) if analytic.shape == numeric.shape else None
    if x is None or c is None or c <= 0 or not _all_agree(analytic, c * numeric):
        return None
    counts = {"N, the batch size": len(x), "N * D, the number of entries": x.size,
              "D, the entries per sample": x.size // len(x)}
    for what, count in counts.items():
        if count == 1:
            continue
        for factor, verdict in ((count, "the 1/N of a mean is missing (a sum for a mean)"),
                                (1 / count, "the 1/N is applied twice")):
            if abs(c / factor - 1) < 1e-3:
                return (f"{_grad_name(failed)} is {c:.4g} x the finite differences, and {count} "
                        f"is {what}: {verdict}; the loss is a mean, so its gradient carries "
                        f"exactly one factor 1/{count}")
    return None


@detector("repeated_ids_dropped")
def repeated_ids_not_added(failed):
    """A table's gradient wrong only in rows whose id repeats, each holding one contribution."""
    analytic, numeric, ids, dy = failed.analytic, failed.numeric, _ids(failed.inputs), failed.dy
    if ids is None or analytic.shape != numeric.shape or analytic.ndim != 2:
        return None
    ids = ids.reshape(-1)
    wrong_rows = np.flatnonzero(~np.all(_agree(analytic, numeric), axis=1))
    counts = np.bincount(ids[(ids >= 0) & (ids < len(numeric))], minlength=len(numeric))
    if len(wrong_rows) == 0 or np.any(counts[wrong_rows] < 2):
        return None
    if dy is not None and np.shape(dy) == ids.shape + analytic.shape[1:]:
        per_sample = np.asarray(dy).reshape(len(ids), -1)
        scale = _scale(analytic, numeric)
        for row in wrong_rows:  # one contribution: the row equals the dy of one of its samples
            gap = np.abs(per_sample[ids == row] - analytic[row]).max(axis=1)
            if gap.min() > AGREE * scale:
                return None
    d = _grad_name(failed)
    return (f"{d} is wrong only in the rows of ids that repeat in the batch ({len(wrong_rows)} "
            f"of them), each keeping one sample's dy: {d}[ids] += dy writes a repeated row once; "
            f"add every contribution with np.add.at({d}, ids, dy)")


@detector("weight_decay_missing")
def decay_left_out(failed):
    """numeric - analytic == lam * value for one lam > 0: an L2 term's gradient is missing."""
    analytic, numeric, value = failed.analytic, failed.numeric, failed.value
    if analytic.shape != numeric.shape or value.shape != numeric.shape or _is_activation(failed):
        return None  # an activation has no weights to decay
    if np.count_nonzero(value) < 2 or not np.any(analytic):  # one entry fits any lam, and an
        return None                                            # empty gradient misses more
    missing = numeric - analytic
    lam = _factor(missing, value)
    if lam is None or lam <= 0 or not _all_agree(missing, lam * value):
        return None
    d, name = _grad_name(failed), failed.name.removeprefix("param ")
    return (f"{d} misses exactly {lam:.3g} x {name}: the forward adds an L2 penalty (weight "
            f"decay) on it, so the backward must add its gradient too, d/dw (reg |w|^2) = "
            f"2 reg w")


@detector("bptt_off_by_one")
def time_step_missed(failed):
    """A recurrent layer's dx (N, T, D) wrong only at its first or last step, or shifted by one."""
    analytic, numeric, x = failed.analytic, failed.numeric, failed.value
    recurrent = any(np.ndim(p) == 2 and np.shape(p)[0] == np.shape(p)[1]
                    for p in getattr(failed.target, "params", {}).values())
    if not recurrent or x.ndim != 3 or x.shape[1] < 2 or analytic.shape != numeric.shape:
        return None
    steps, d = x.shape[1], _grad_name(failed)
    wrong_steps = np.flatnonzero(~np.all(_agree(analytic, numeric), axis=(0, 2)))
    advice = ("backprop through time must visit every step, t = T, T-1, ..., 1 "
              "(for t in reversed(range(T)))")
    if len(wrong_steps) and set(wrong_steps) <= {0}:
        return f"{d} is wrong only at the first time step (of {steps}): {advice}"
    if len(wrong_steps) and set(wrong_steps) <= {steps - 1}:
        return f"{d} is wrong only at the last time step (of {steps}): {advice}"
    for shift, direction in ((1, "one step late"), (-1, "one step early")):
        late = np.roll(numeric, shift, axis=1)
        inner = slice(1, None) if shift == 1 else slice(None, -1)
        if _all_agree(analytic[:, inner], late[:, inner]):
            return (f"{d} is the right gradient shifted {direction} in time: step t must use "
                    f"the state and upstream gradient of step t itself ({advice})")
    return None


@detector("fresh_dropout_mask")
def different_mask(failed):
    """A random layer's gradient: right where both are non-zero, but zero in other places."""
    analytic, numeric = failed.analytic, failed.numeric
    if analytic.shape != numeric.shape or not _draws_random_numbers(failed.target):
        return None
    tiny = AGREE * _scale(analytic, numeric)
    kept_now, kept_then = np.abs(analytic) > tiny, np.abs(numeric) > tiny
    both = kept_now & kept_then
    if not kept_now.any() or np.array_equal(kept_now, kept_then):
        return None
    if not np.all(_agree(analytic, numeric)[both]):
        return None
    return (f"{_grad_name(failed)} matches where both gradients are non-zero, but its zeros are "
            f"elsewhere: backward drew a new random mask; keep the forward's mask in the cache "
            f"and use it: dx = dy * mask / (1 - p)")
