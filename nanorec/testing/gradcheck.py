"""Check a hand-written backward against finite differences.

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

Directional mode. Full mode costs two evaluations of f per entry, too many for a network of 10^5
parameters. mode="directional" checks each array a along k random unit directions v instead:

    numeric  (f(a + h v) - f(a - h v)) / (2 h)        analytic  analytic . v

with the same relative error over the k values, two evaluations per direction. A wrong gradient
passes only if its error is nearly orthogonal to every v; gradcheck's docstring derives the
probability of that, which the report states. A direction along which a kink lies within h
cannot be told from a wrong gradient without more evaluations, so an array of at most
FULL_CHECK_FALLBACK entries that fails is checked again in full mode, which handles kinks entry
by entry and names the worst entry and the suspect; a larger one fails, saying so.
"""

import math
import zlib
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from nanorec.nn.base import RowSparseGrad
from nanorec.nn.layers import SparseRows
from nanorec.testing.diagnose import FailedGradient, diagnose

DEFAULT_H = 1e-6
FULL_CHECK_FALLBACK = 4096  # directional mode checks an array this small in full when it fails


@dataclass
class GradcheckRow:
    """One checked array: its errors and, when it failed, where and (if recognised) why.

    ``worst`` is the index of the entry with the largest error (None when the shapes differ);
    ``suspect`` is a bug class of nanorec.testing.diagnose.BUG_CLASSES, or None, and ``hint``
    says in a sentence what the analytic gradient looks like. ``h`` is the step of the finite
    differences (None for the accumulation check, which takes none) and ``kinks`` the number of
    entries whose step straddled a kink and whose analytic value passed as a subgradient.
    In directional mode (``directions`` > 0) the entries are the k directions: ``worst`` is
    (i,), the analytic and numeric values are derivatives along v_i, and ``miss_probability``
    bounds the chance that an error of relative size rho passed (see gradcheck)."""

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
    directions: int = 0
    miss_probability: float = None

    def explanation(self):
        """What a student needs to find the bug: the worst entry, the likely bug class, the hint
        (the shape for a gradient of the wrong shape); "" for a row that passed."""
        if self.passed:
            return ""
        parts = []
        if self.worst is not None:
            index = ", ".join(map(str, self.worst))
            where = (f"direction {index} of {self.directions} (analytic . v, numeric d/dv)"
                     if self.directions else f"entry [{index}]")
            parts.append(f"worst {where}: analytic {self.analytic_at_worst:.6g}, "
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
    mode: str = "full"
    directions: int = None
    rho: float = None

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
            f"gradcheck {self.target} (float64, {self._how()}, tol={self.tol:g}): {verdict}",
            (f"  {'checked':<{width}}{'shape':<14}{'h':>7}{'max abs err':>12}{'rel err':>10}"
             f"{'kinks':>6}  ok"),
        ]
        for row in rows:
            step = "-" if row.h is None else f"{row.h:.0e}"
            lines.append(
                f"  {row.name:<{width}}{row.shape!s:<14}{step:>7}{row.max_abs_error:>12.2e}"
                f"{row.rel_error:>10.2e}{row.kinks:>6}  {'yes' if row.passed else 'NO'}"
            )
            if not row.passed:
                lines.append(f"      {row.explanation()}")
        bounds = [row.miss_probability for row in self.rows if row.miss_probability is not None]
        if bounds:
            lines.append(f"  an error of {self.rho:g} or more (relative, 2-norm) passes the "
                         f"directions with probability <= {max(bounds):.1e}")
        if any(row.kinks for row in rows):
            lines.append("  kinks: entries whose step straddles a non-differentiable point, "
                         "passed as their\n  analytic value lies between the one-sided differences")
        return "\n".join(lines)

    def _how(self):
        step = f"h={self.h:g}" if isinstance(self.h, float) else f"h={self.h}"
        if self.mode == "directional":
            return f"directional x{self.directions}, {step}"
        return step

    __repr__ = __str__


def gradcheck(target, *inputs, grad=None, dy=None, h=DEFAULT_H, tol=1e-6, seed=0, mode="full",
              directions=8, rho=1e-2):
    """Compare the analytic gradients of ``target`` with finite differences, in float64.

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
    seed : int
        Seed of the default dy and of the random directions.
    mode : {"full", "directional"}
        "full": every entry of every array, two evaluations of f each. "directional": per array,
        ``directions`` random unit directions v (seeded) and the derivative along each,
        (f(a + h v) - f(a - h v)) / 2h against analytic . v: two evaluations per direction, so
        a network of 10^5 parameters is checked in a few hundred evaluations.
    directions : int
        k, the number of directions per array in directional mode.
    rho : float
        The relative error (2-norm over the array) whose chance to pass unnoticed the
        directional report states; see below.

    Returns
    -------
    GradcheckReport
        Printable table; ``report.passed``; ``report.check()`` raises when a row failed.

    Notes
    -----
    What directional mode can miss. Let g be an array's true gradient (n entries), a = g + e the
    analytic one, and rho' = |e| / |g| >= rho (2-norms). Direction i rejects a when
    |e . v_i| >= tol * D with D = max(max_i (|a . v_i| + |g . v_i|), r) and r the resolution of
    f (see the top of the module); D <= max((2 + rho') |g|, r), so a direction lets a pass only if
    |cos(e, v_i)| < c = tol * max(2 + rho, (1 + rho) r / |a|) / rho. For v uniform on the unit
    sphere of R^n the density of cos(e, v), Gamma(n/2) / (sqrt(pi) Gamma((n-1)/2)) (1 - t^2)^((n-3)/2),
    is at most sqrt(n / (2 pi)) (Gautschi's inequality; n >= 3, and the bound below holds for
    n = 1, 2 as well), so one direction misses with probability at most c sqrt(2 n / pi), and k
    independent directions all miss with

        P(miss) <= min(1, c sqrt(2 n / pi)) ** k

    (``miss_probability``; the report states the largest over the arrays, e.g. 3e-12 for
    n = 5e4, k = 8, rho = 1e-2, tol = 1e-6). Assumed: the numeric directional derivatives are
    exact to well within tol * D (as in full mode), the error does not depend on the seed, and no
    kink lies within h along a direction. rho is a 2-norm over the whole array: one wrong entry
    among n is a small rho, where full mode, which compares entry by entry, still sees it. When
    |a| is below the resolution r of f (a saturated sigmoid), c is large and the bound says 1:
    directional mode cannot vouch for such an array; full mode can. The default rho = 1e-2
    asks for errors of 1% and more: a real backprop bug (a transposed weight, a missing term, a
    wrong factor) is off by far more, and 8 directions then bound the miss below 1e-10 for any
    array of up to 10^5 entries.
    """
    if mode not in ("full", "directional"):
        raise ValueError(f"gradcheck mode must be 'full' or 'directional', got {mode!r}")
    if not (isinstance(directions, int) and directions >= 1):
        raise ValueError(f"gradcheck needs directions >= 1, got {directions!r}")
    if not rho > 0:
        raise ValueError(f"gradcheck needs rho > 0, got {rho!r}")
    method = _Method(mode, h, tol, directions, rho, seed)
    inputs = tuple(_as_float64(x) for x in inputs)
    accumulation_rows = []
    if _is_layer(target):
        rows, accumulation_rows = _check_layer(target, inputs, dy, method)
    elif hasattr(target, "forward") and hasattr(target, "backward"):
        rows = _check_loss(target, inputs, method)
    elif callable(target):
        if grad is None:
            raise TypeError("gradcheck of a plain function needs grad=, the analytic gradient")
        rows = _check_function(target, grad, inputs, method)
    else:
        raise TypeError(f"gradcheck cannot check a {type(target).__name__}")
    name = getattr(target, "__name__", None) or type(target).__name__
    return GradcheckReport(name, rows, h, tol, accumulation_rows, mode,
                           directions if mode == "directional" else None, rho)


class _Method(NamedTuple):
    """How gradcheck checks each array (its arguments)."""

    mode: str
    h: float
    tol: float
    directions: int
    rho: float
    seed: int


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
        return _wrong_shape(name, analytic.shape, numeric.shape)
    error = np.abs(analytic - numeric)
    denominator = _denominator(analytic, numeric, magnitude, h)
    on_kink = np.zeros(error.shape, bool)
    if one_sided is not None:
        # an entry the centred difference rejects passes as a kink when the analytic value lies
        # between the one-sided slopes (a subgradient): a smooth f cannot do that, see the top
        forward, backward = one_sided
        below, above = np.minimum(forward, backward), np.maximum(forward, backward)
        off_slopes = np.maximum(np.maximum(below - analytic, analytic - above), 0.0)
        on_kink = (error >= tol * denominator) & (off_slopes < tol * denominator)
        error = np.where(on_kink, off_slopes, error)
    step = None if one_sided is None else h
    return _verdict(name, analytic, numeric, error, denominator, tol, step, int(on_kink.sum()))


def _denominator(analytic, numeric, magnitude, h):
    """The scale errors are relative to: max_j (|analytic[j]| + |numeric[j]|), or the
    resolution of f when that is smaller."""
    scale = float((np.abs(analytic) + np.abs(numeric)).max(initial=0.0))
    return max(scale, _resolution(magnitude, h))


def _verdict(name, analytic, numeric, error, denominator, tol, h, kinks):
    """The row from the error of each entry: passed when max error / denominator < tol."""
    max_abs = float(error.max(initial=0.0))
    rel = max_abs / denominator
    passed = bool(rel < tol)  # False for a NaN
    if passed or error.size == 0:
        return GradcheckRow(name, numeric.shape, max_abs, rel, passed, h=h, kinks=kinks)
    worst = np.unravel_index(np.nanargmax(np.where(np.isnan(error), np.inf, error)), error.shape)
    return GradcheckRow(name, numeric.shape, max_abs, rel, passed, tuple(int(i) for i in worst),
                        float(analytic[worst]), float(numeric[worst]), h=h, kinks=kinks)


def _wrong_shape(name, shape, expected):
    return GradcheckRow(name, expected, np.inf, np.inf, False,
                        hint=f"shape {shape}, expected {expected}")


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


def _check_array(name, f, a, analytic, magnitude, context, method):
    """The row of the float array a, whose analytic gradient is ``analytic``."""
    if method.mode == "directional":
        row = _directional_row(name, f, a, analytic, magnitude, method)
        if row.passed or a.size > FULL_CHECK_FALLBACK or row.worst is None:
            return row
    forward, backward = one_sided_differences(f, a, method.h)
    numeric = (forward + backward) / 2
    return _row(name, analytic, numeric, method.tol, magnitude, context, (forward, backward),
                method.h)


def _directional_row(name, f, a, analytic, magnitude, method):
    """The row of a checked along k random unit directions v_i (seeded by the row's name):
    analytic . v_i against the centred derivative along v_i."""
    analytic = np.asarray(analytic, dtype=np.float64)
    if analytic.shape != a.shape:
        return _wrong_shape(name, analytic.shape, a.shape)
    h, tol, k = method.h, method.tol, method.directions
    v = random_directions(a.shape, k, np.random.default_rng([method.seed, 0xD1,
                                                             zlib.crc32(name.encode())]))
    projected = v.reshape(k, -1) @ analytic.reshape(-1)
    forward, backward = directional_differences(f, a, v, h)
    row = _compare(name, projected, (forward + backward) / 2, tol, magnitude, None, h)
    row.h, row.shape, row.directions = h, a.shape, k
    resolution_ratio = _resolution(magnitude, h) / max(float(np.linalg.norm(analytic)), 1e-300)
    row.miss_probability = miss_probability(a.size, k, tol, method.rho, resolution_ratio)
    if not row.passed:
        row.hint = ("a wrong gradient, or a kink within h along the direction: "
                    "mode='full' on this array tells them apart")
    return row


def random_directions(shape, k, rng):
    """k directions drawn uniformly on the unit sphere of arrays of ``shape`` (a standard normal
    array divided by its norm): float64, (k, *shape)."""
    v = rng.standard_normal((k, *shape))
    return v / np.linalg.norm(v.reshape(k, -1), axis=1).reshape((k,) + (1,) * len(shape))


def directional_differences(f, a, directions, h=DEFAULT_H):
    """Forward and backward differences (f(a + h v) - f(a)) / h and (f(a) - f(a - h v)) / h of
    the scalar f() along each direction v of ``directions`` (k, *a.shape); a is moved in place
    and restored. Two float64 arrays (k,), whose mean is the centred directional derivative."""
    kept = a.copy()
    f_a = f()
    forward, backward = np.zeros(len(directions)), np.zeros(len(directions))
    for i, v in enumerate(directions):
        a[...] = kept + h * v
        f_plus = f()
        a[...] = kept - h * v
        f_minus = f()
        forward[i], backward[i] = (f_plus - f_a) / h, (f_a - f_minus) / h
    a[...] = kept
    return forward, backward


def miss_probability(size, directions, tol, rho, resolution_ratio=0.0):
    """An upper bound on the probability that ``directions`` random unit directions all pass an
    analytic gradient of ``size`` entries whose error is at least rho times the true gradient
    (2-norms): min(1, c sqrt(2 size / pi)) ** directions with
    c = tol * max(2 + rho, (1 + rho) * resolution_ratio) / rho, where resolution_ratio is the
    resolution of f over |analytic| (the derivation is in gradcheck's docstring)."""
    c = tol * max(2 + rho, (1 + rho) * resolution_ratio) / rho
    return min(1.0, c * math.sqrt(2 * size / math.pi)) ** directions


def _random_generators(layer):
    """Every np.random.Generator a layer tree draws from (Dropout's masks, for instance)."""
    found = [layer.rng] if isinstance(getattr(layer, "rng", None), np.random.Generator) else []
    for child in layer.children:
        found.extend(_random_generators(child))
    return found


def _check_layer(layer, inputs, dy, method):
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
        rng = np.random.default_rng([method.seed, 0xD7])  # its own stream: never equal to an input
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
            rows.append(_check_array(label, f, a, da, magnitude, dict(value=a, **context), method))
    analytic = _dense_grads(layer)
    forward()  # a second pass without zero_grad: every gradient must now be twice as large
    layer.backward(dy)
    accumulated = _dense_grads(layer)
    for name, p in layer.params.items():
        rows.append(_check_array(f"param {name}", f, p, analytic[name], magnitude,
                                 dict(value=p, **context), method))
    accumulation_rows = [
        _row(f"param {name} (accumulation)", accumulated[name], 2 * analytic[name], method.tol,
             magnitude, dict(value=p, check="accumulation", **context))
        for name, p in layer.params.items()
    ]
    return rows, accumulation_rows


def _dense_grads(layer):
    """A dense float64 copy of each of the layer's gradients, by name."""
    return {name: np.array(g.to_dense() if isinstance(g, RowSparseGrad) else g, dtype=np.float64)
            for name, g in layer.grads.items()}


def _check_loss(loss, inputs, method):
    value = loss.forward(*inputs)
    magnitude = abs(value)
    grads = loss.backward()
    grads = grads if isinstance(grads, tuple) else (grads,)
    rows = []
    for k, g in enumerate(grads):
        a = inputs[k]
        context = dict(value=a, target=loss, inputs=inputs, output=value)
        rows.append(_check_array(f"input {k}", lambda: loss.forward(*inputs), a, g, magnitude,
                                 context, method))
    return rows


def _check_function(fn, grad, inputs, method):
    value = float(fn(*inputs))
    magnitude = abs(value)
    grads = grad(*inputs)
    grads = grads if isinstance(grads, (tuple, list)) else (grads,)
    rows = []
    for k, (a, g) in enumerate(zip(inputs, grads)):
        if g is not None and _is_float(a):
            context = dict(value=a, target=fn, inputs=inputs, output=value)
            rows.append(_check_array(f"input {k}", lambda: fn(*inputs), a, g, magnitude, context,
                                     method))
    return rows
