"""Check a hand-written backward against centred finite differences.

For every float input and parameter ``a`` the numeric derivative of a scalar f is

    df/da[j] ~ (f(a + h e_j) - f(a - h e_j)) / (2 h)

and it is compared with the analytic one by

    max abs error   max_j |analytic[j] - numeric[j]|
    rel error       max abs error / max(max_j (|analytic[j]| + |numeric[j]|), 1e-9 * F / h, 1e-8)

The relative error is taken over the whole array (not entry by entry), so that entries whose true
derivative is ~0 do not turn round-off into a failure. F is the magnitude of the computation of f
(sum |dy * y| for a layer, |f| otherwise): each evaluation of f carries a round-off of about
eps * F, so the centred difference carries about eps * F / h = 2e-10 * F at h = 1e-6, and a
gradient array smaller than 1e-9 * F / h (1e-3 * F at h = 1e-6: a saturated sigmoid, a vanishing
RNN state) is measured against that resolution instead of against itself. In float64 with
h = 1e-6 a correct backward usually shows a relative error of 1e-8 or less; a wrong one 1e-3 or
more. The default tolerance, 1e-6, sits between.

Kinks. ReLU and LeakyReLU at 0 and a max at a tie have no derivative, and a step of h that
straddles such a point gives a centred difference that is no derivative at all: for a ReLU input
x in (0, h) it is (1 + x / h) / 2 where the analytic value, 1, is right. Such entries are told
apart with the one-sided differences (f(a) costs one more evaluation per array)

    forward[j] = (f(a + h e_j) - f(a)) / h        backward[j] = (f(a) - f(a - h e_j)) / h

whose mean is the centred difference: an entry the centred difference rejects passes when its
analytic value lies between backward[j] and forward[j] (within tol times the row's denominator),
as a one-sided slope or a subgradient does, and the row counts it in ``kinks``. Otherwise it
fails. No smooth f is affected: there backward and forward are f' -+ h f'' / 2 + O(h^2) and the
centred difference is off by h^2 f''' / 6 only, so a correct gradient is never rejected and
nothing is counted. A wrong gradient passes an entry as a kink only when its error there is below
|forward - backward| / 2, which on a smooth f is h |f''| / 2: an error of 1e-6 relative to the
row when |f''| is twice its scale. On a kink the ReLU derivative 1 at an input x in (-h, 0) is
off the slopes by |x| / h, and caught unless x is within round-off of 0, where 1 is a valid
subgradient. One step that meets two kinks turning opposite ways (a convex and a concave one)
can put a right analytic value outside the slopes; that entry fails.

What f is depends on what is checked:
    a Layer     f = sum(dy * layer.forward(x)) for a fixed random dy (not all ones, so that a
                transposed or mis-summed gradient cannot hide); analytic: layer.backward(dy) for x
                and layer.grads for the parameters
    a Loss      f = loss.forward(*inputs); analytic: loss.backward(), one array per leading input
    a function  f = fn(*inputs) -> float with grad=fn_grad(*inputs) -> one array per input

Accumulation. Layers add into ``layer.grads`` (``+=``), so that a weight used twice in one pass
gets both contributions. A backward that assigns (``=``) instead gives the right gradient after
one pass, and finite differences cannot see the bug. So for a Layer gradcheck runs the forward
and backward a second time without zero_grad (Dropout replaying the same mask) and checks, with
the same relative error, that every parameter's gradient is now twice that of one pass.
"""

from dataclasses import dataclass, field

import numpy as np

from nanorec.nn.base import RowSparseGrad
from nanorec.nn.layers import SparseRows
from nanorec.testing.diagnose import FailedGradient, diagnose

DEFAULT_H = 1e-6


@dataclass
class GradcheckRow:
    """One checked array: its errors and, when it failed, where and (if recognised) why.

    ``worst`` is the index of the entry with the largest error (None when the shapes differ);
    ``suspect`` is a bug class of nanorec.testing.diagnose.BUG_CLASSES, or None, and ``hint``
    says in a sentence what the analytic gradient looks like. ``h`` is the step of the finite
    differences (None for the accumulation check, which takes none) and ``kinks`` the number of
    entries whose step straddled a kink and whose analytic value passed as a subgradient."""

    name: str
    shape: tuple
    max_abs_error: float
    rel_error: float
    passed: bool
    worst: tuple = None
    analytic_at_worst: float = float("nan")
    numeric_at_worst: float = float("nan")
    suspect: str = None
    hint: str = ""
    h: float = None
    kinks: int = 0

    def explanation(self):
        """What a student needs to find the bug: the worst entry, the likely bug class, the hint
        (the shape for a gradient of the wrong shape); "" for a row that passed."""
        if self.passed:
            return ""
        parts = []
        if self.worst is not None:
            index = ", ".join(map(str, self.worst))
            parts.append(f"worst entry [{index}]: analytic {self.analytic_at_worst:.6g}, "
                         f"numeric {self.numeric_at_worst:.6g}")
        if self.suspect:
            parts.append(f"suspect: {self.suspect}")
        if self.hint:
            parts.append(self.hint)
        return "; ".join(parts)


@dataclass
class GradcheckReport:
    """What gradcheck found: one row per checked input or parameter (``rows``, finite
    differences) and, for a Layer, one per parameter in ``accumulation_rows`` (two backward
    passes must give twice the gradient of one)."""

    target: str
    rows: list
    h: float
    tol: float
    accumulation_rows: list = field(default_factory=list)

    @property
    def passed(self):
        return all(row.passed for row in self.rows + self.accumulation_rows)

    def __bool__(self):
        return self.passed

    @property
    def max_rel_error(self):
        return max((row.rel_error for row in self.rows + self.accumulation_rows), default=0.0)

    def check(self):
        """Raise AssertionError with the table if any row failed; return self otherwise."""
        if not self.passed:
            raise AssertionError(f"gradient check failed\n{self}")
        return self

    def __str__(self):
        """The table (one line per row; under a failing row, its worst entry and suspect)."""
        verdict = "PASS" if self.passed else "FAIL"
        rows = self.rows + self.accumulation_rows
        width = max([16] + [len(row.name) + 2 for row in rows])
        lines = [
            f"gradcheck {self.target} (float64, h={self.h:g}, tol={self.tol:g}): {verdict}",
            f"  {'checked':<{width}}{'shape':<14}{'h':>7}{'max abs err':>12}{'rel err':>10}"
            f"{'kinks':>6}  ok",
        ]
        for row in rows:
            step = "-" if row.h is None else f"{row.h:.0e}"
            lines.append(
                f"  {row.name:<{width}}{str(row.shape):<14}{step:>7}{row.max_abs_error:>12.2e}"
                f"{row.rel_error:>10.2e}{row.kinks:>6}  {'yes' if row.passed else 'NO'}"
            )
            if not row.passed:
                lines.append(f"      {row.explanation()}")
        if any(row.kinks for row in rows):
            lines.append("  kinks: entries whose step straddles a non-differentiable point, "
                         "passed as their\n  analytic value lies between the one-sided differences")
        return "\n".join(lines)

    __repr__ = __str__


def gradcheck(target, *inputs, grad=None, dy=None, h=1e-6, tol=1e-6, seed=0):
    """Compare the analytic gradients of ``target`` with centred finite differences, in float64.

    Parameters
    ----------
    target : Layer, Loss or callable
        A Layer (``forward(x)``, ``backward(dy)``, ``params``, ``grads``); a Loss
        (``forward(*inputs) -> float``, ``backward()``); or a function ``f(*inputs) -> float``,
        in which case ``grad`` must be given.
    *inputs : arrays
        For a Layer, the one input of ``forward`` (a tuple for two-input layers). For a Loss or a
        function, the positional arguments. Integer arrays (ids, class labels) are not differentiated.
    grad : callable, optional
        For a function target: ``grad(*inputs)`` returns dL/d(input) for each input (None to skip one).
    dy : array or tuple of arrays, optional
        Upstream gradient for a Layer; by default standard normal, drawn with ``seed``.
    h, tol : float
        Finite-difference step and the relative-error threshold for a pass.

    Returns
    -------
    GradcheckReport
        Printable table; ``report.passed``; ``report.check()`` raises when a row failed.
    """
    inputs = tuple(_as_float64(x) for x in inputs)
    accumulation_rows = []
    if _is_layer(target):
        rows, accumulation_rows = _check_layer(target, inputs, dy, h, tol, seed)
    elif hasattr(target, "forward") and hasattr(target, "backward"):
        rows = _check_loss(target, inputs, h, tol)
    elif callable(target):
        if grad is None:
            raise TypeError("gradcheck of a plain function needs grad=, the analytic gradient")
        rows = _check_function(target, grad, inputs, h, tol)
    else:
        raise TypeError(f"gradcheck cannot check a {type(target).__name__}")
    name = getattr(target, "__name__", None) or type(target).__name__
    return GradcheckReport(name, rows, h, tol, accumulation_rows)


def _is_layer(target):
    return hasattr(target, "params") and hasattr(target, "grads") and hasattr(target, "backward")


def _as_float64(x):
    """Copy float data to float64 (tuples element by element, the values of SparseRows data);
    leave ids and None alone."""
    if isinstance(x, tuple):
        return tuple(_as_float64(v) for v in x)
    if x is None:
        return None
    if isinstance(x, SparseRows):
        return x.with_values(x.values.astype(np.float64))
    x = np.asarray(x)
    return x.astype(np.float64) if x.dtype.kind == "f" else x


def _leaves(x):
    """The arrays inside an input: a tuple gives its elements, an array itself."""
    return list(x) if isinstance(x, tuple) else [x]


def _is_float(a):
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def _row(name, analytic, numeric, tol, magnitude, context, one_sided=None, h=DEFAULT_H):
    """The row of one array, diagnosed when it fails (context: the other fields of
    FailedGradient). A gradient of the wrong shape fails with an infinite error. ``one_sided``,
    the (forward, backward) differences numeric is the mean of, lets entries on kinks pass as
    subgradients."""
    analytic = np.asarray(analytic, dtype=np.float64)
    row = _compare(name, analytic, numeric, tol, magnitude, one_sided, h)
    if not row.passed:
        found = diagnose(FailedGradient(name, analytic, numeric, **context))
        if found:
            row.suspect, row.hint = found
    return row


def _compare(name, analytic, numeric, tol, magnitude, one_sided, h):
    if analytic.shape != numeric.shape:
        return GradcheckRow(name, numeric.shape, np.inf, np.inf, False,
                            hint=f"shape {analytic.shape}, expected {numeric.shape}")
    error = np.abs(analytic - numeric)
    scale = float((np.abs(analytic) + np.abs(numeric)).max(initial=0.0))
    denominator = max(scale, _resolution(magnitude, h))
    kinks = 0
    if one_sided is not None:
        # an entry the centred difference rejects passes as a kink when the analytic value lies
        # between the one-sided slopes (a subgradient): a smooth f cannot do that, see the top
        forward, backward = one_sided
        below, above = np.minimum(forward, backward), np.maximum(forward, backward)
        off_slopes = np.maximum(np.maximum(below - analytic, analytic - above), 0.0)
        on_kink = (error >= tol * denominator) & (off_slopes < tol * denominator)
        error = np.where(on_kink, off_slopes, error)
        kinks = int(on_kink.sum())
    max_abs = float(error.max(initial=0.0))
    rel = max_abs / denominator
    passed = bool(rel < tol)  # False for a NaN
    step = None if one_sided is None else h
    if passed or error.size == 0:
        return GradcheckRow(name, numeric.shape, max_abs, rel, passed, h=step, kinks=kinks)
    worst = np.unravel_index(np.nanargmax(np.where(np.isnan(error), np.inf, error)), error.shape)
    return GradcheckRow(name, numeric.shape, max_abs, rel, passed, tuple(int(i) for i in worst),
                        float(analytic[worst]), float(numeric[worst]), h=step, kinks=kinks)


def _resolution(magnitude, h):
    """The smallest gradient scale finite differences resolve: round-off eps * F / h, 1/5 of
    the default tolerance (1e-3 * F at h = 1e-6); 1e-8 when F = 0."""
    return max(1e-9 * magnitude / h, 1e-8)


def one_sided_differences(f, a, h=DEFAULT_H):
    """Forward and backward differences (f(a + h e_j) - f(a)) / h and (f(a) - f(a - h e_j)) / h
    of the scalar f() with respect to each entry j of the float array a, which is perturbed in
    place and restored: two float64 arrays of a.shape. Their mean is the centred difference."""
    f_a = f()
    forward, backward = np.zeros(a.shape), np.zeros(a.shape)
    for j in np.ndindex(a.shape):
        kept = a[j]
        a[j] = kept + h
        f_plus = f()
        a[j] = kept - h
        f_minus = f()
        a[j] = kept
        forward[j], backward[j] = (f_plus - f_a) / h, (f_a - f_minus) / h
    return forward, backward


def numeric_gradient(f, a, h=DEFAULT_H):
    """Centred differences (f(a + h e_j) - f(a - h e_j)) / 2h of the scalar f() with respect to
    each entry j of the float array a, which is perturbed in place and restored: float64, a.shape."""
    forward, backward = one_sided_differences(f, a, h)
    return (forward + backward) / 2


def _finite_difference_row(name, f, a, analytic, h, tol, magnitude, context):
    forward, backward = one_sided_differences(f, a, h)
    numeric = (forward + backward) / 2
    return _row(name, analytic, numeric, tol, magnitude, context, (forward, backward), h)


def _random_generators(layer):
    """Every np.random.Generator a layer tree draws from (Dropout's masks, for instance)."""
    found = [layer.rng] if isinstance(getattr(layer, "rng", None), np.random.Generator) else []
    for child in layer.children:
        found.extend(_random_generators(child))
    return found


def _check_layer(layer, inputs, dy, h, tol, seed):
    if len(inputs) != 1:
        raise TypeError("a Layer takes one input; pass a tuple for a two-input layer")
    for name, p in layer.params.items():
        if p.dtype != np.float64:
            raise TypeError(
                f"gradcheck needs float64 parameters, {name} is {p.dtype}: "
                f"build the layer with dtype=np.float64"
            )
    x = inputs[0]
    generators = _random_generators(layer)
    states = [g.bit_generator.state for g in generators]

    def forward():
        for g, state in zip(generators, states):  # replay the same random draws every call
            g.bit_generator.state = state
        return layer.forward(x)

    y = forward()
    if dy is None:
        rng = np.random.default_rng([seed, 0xD7])  # its own stream: never equal to an input
        dy = tuple(rng.standard_normal(np.shape(v)) for v in _leaves(y))
        dy = dy if isinstance(y, tuple) else dy[0]
    dy_leaves = _leaves(dy)

    def f():
        return float(sum(np.sum(d * v) for d, v in zip(dy_leaves, _leaves(forward()))))

    magnitude = float(sum(np.sum(np.abs(d * v)) for d, v in zip(dy_leaves, _leaves(y))))
    context = dict(target=layer, inputs=inputs, dy=dy, output=y)

    layer.zero_grad()
    forward()
    dx = layer.backward(dy)
    rows = []
    x_leaves = _leaves(x)
    dx_leaves = _leaves(dx) if dx is not None else [None] * len(x_leaves)
    for k, (a, da) in enumerate(zip(x_leaves, dx_leaves)):
        if _is_float(a):
            if da is None:
                raise ValueError(f"{type(layer).__name__}.backward returned no gradient for input {k}")
            label = "input" if len(x_leaves) == 1 else f"input {k}"
            rows.append(_finite_difference_row(label, f, a, da, h, tol, magnitude,
                                               dict(value=a, **context)))
    analytic = _dense_grads(layer)
    forward()  # a second pass without zero_grad: every gradient must now be twice as large
    layer.backward(dy)
    accumulated = _dense_grads(layer)
    for name, p in layer.params.items():
        rows.append(_finite_difference_row(f"param {name}", f, p, analytic[name], h, tol,
                                           magnitude, dict(value=p, **context)))
    accumulation_rows = [
        _row(f"param {name} (accumulation)", accumulated[name], 2 * analytic[name], tol,
             magnitude, dict(value=p, check="accumulation", **context))
        for name, p in layer.params.items()
    ]
    return rows, accumulation_rows


def _dense_grads(layer):
    """A dense float64 copy of each of the layer's gradients, by name."""
    return {name: np.array(g.to_dense() if isinstance(g, RowSparseGrad) else g, dtype=np.float64)
            for name, g in layer.grads.items()}


def _check_loss(loss, inputs, h, tol):
    value = loss.forward(*inputs)
    magnitude = abs(value)
    grads = loss.backward()
    grads = grads if isinstance(grads, tuple) else (grads,)
    rows = []
    for k, g in enumerate(grads):
        a = inputs[k]
        context = dict(value=a, target=loss, inputs=inputs, output=value)
        rows.append(_finite_difference_row(f"input {k}", lambda: loss.forward(*inputs), a, g, h,
                                           tol, magnitude, context))
    return rows


def _check_function(fn, grad, inputs, h, tol):
    value = float(fn(*inputs))
    magnitude = abs(value)
    grads = grad(*inputs)
    grads = grads if isinstance(grads, (tuple, list)) else (grads,)
    rows = []
    for k, (a, g) in enumerate(zip(inputs, grads)):
        if g is not None and _is_float(a):
            context = dict(value=a, target=fn, inputs=inputs, output=value)
            rows.append(_finite_difference_row(f"input {k}", lambda: fn(*inputs), a, g, h, tol,
                                               magnitude, context))
    return rows
