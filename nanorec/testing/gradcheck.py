"""Check a hand-written backward against centred finite differences.

For every float input and parameter ``a`` the numeric derivative of a scalar f is

    df/da[j] ~ (f(a + h e_j) - f(a - h e_j)) / (2 h)

and it is compared with the analytic one by

    max abs error   max_j |analytic[j] - numeric[j]|
    rel error       max abs error / max(max_j (|analytic[j]| + |numeric[j]|), 1e-3 * F, 1e-8)

The relative error is taken over the whole array (not entry by entry), so that entries whose true
derivative is ~0 do not turn round-off into a failure. F is the magnitude of the computation of f
(sum |dy * y| for a layer, |f| otherwise): each evaluation of f carries a round-off of about
eps * F, so the centred difference carries about eps * F / h = 2e-10 * F, and a gradient array
smaller than 1e-3 * F (a saturated sigmoid, a vanishing RNN state) is measured against that
resolution instead of against itself. In float64 with h = 1e-6 a correct backward usually shows a
relative error of 1e-8 or less; a wrong one 1e-3 or more. The default tolerance, 1e-6, sits between.

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


@dataclass
class GradcheckRow:
    """One checked array: its errors and, when it failed, where and (if recognised) why.

    ``worst`` is the index of the entry with the largest |analytic - numeric| (None when the
    shapes differ); ``suspect`` is a bug class of nanorec.testing.diagnose.BUG_CLASSES, or None,
    and ``hint`` says in a sentence what the analytic gradient looks like."""

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
        verdict = "PASS" if self.passed else "FAIL"
        rows = self.rows + self.accumulation_rows
        width = max([16] + [len(row.name) + 2 for row in rows])
        lines = [
            f"gradcheck {self.target} (float64, h={self.h:g}, tol={self.tol:g}): {verdict}",
            f"  {'checked':<{width}}{'shape':<16}{'max abs err':>12}{'rel err':>12}  ok",
        ]
        for row in rows:
            lines.append(
                f"  {row.name:<{width}}{str(row.shape):<16}{row.max_abs_error:>12.2e}"
                f"{row.rel_error:>12.2e}  {'yes' if row.passed else 'NO'}"
            )
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


def _row(name, analytic, numeric, tol, magnitude, context):
    """The row of one array, diagnosed when it fails (context: the other fields of
    FailedGradient). A gradient of the wrong shape fails with an infinite error."""
    analytic = np.asarray(analytic, dtype=np.float64)
    row = _compare(name, analytic, numeric, tol, magnitude)
    if not row.passed:
        found = diagnose(FailedGradient(name, analytic, numeric, **context))
        if found:
            row.suspect, row.hint = found
    return row


def _compare(name, analytic, numeric, tol, magnitude):
    if analytic.shape != numeric.shape:
        return GradcheckRow(name, numeric.shape, np.inf, np.inf, False,
                            hint=f"shape {analytic.shape}, expected {numeric.shape}")
    diff = np.abs(analytic - numeric)
    max_abs = float(diff.max(initial=0.0))
    scale = float((np.abs(analytic) + np.abs(numeric)).max(initial=0.0))
    rel = max_abs / max(scale, 1e-3 * magnitude, 1e-8)
    passed = bool(rel < tol)  # False for a NaN
    if passed or diff.size == 0:
        return GradcheckRow(name, numeric.shape, max_abs, rel, passed)
    worst = np.unravel_index(np.nanargmax(np.where(np.isnan(diff), np.inf, diff)), diff.shape)
    return GradcheckRow(name, numeric.shape, max_abs, rel, passed, tuple(int(i) for i in worst),
                        float(analytic[worst]), float(numeric[worst]))


def numeric_gradient(f, a, h=1e-6):
    """Centred differences (f(a + h e_j) - f(a - h e_j)) / 2h of the scalar f() with respect to
    each entry j of the float array a, which is perturbed in place and restored: float64, a.shape."""
    out = np.zeros(a.shape, dtype=np.float64)
    for j in np.ndindex(a.shape):
        kept = a[j]
        a[j] = kept + h
        f_plus = f()
        a[j] = kept - h
        f_minus = f()
        a[j] = kept
        out[j] = (f_plus - f_minus) / (2 * h)
    return out


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
            context = dict(value=a, target=layer, inputs=inputs, dy=dy, output=y)
            rows.append(_row(label, da, numeric_gradient(f, a, h), tol, magnitude, context))
    analytic = _dense_grads(layer)
    forward()  # a second pass without zero_grad: every gradient must now be twice as large
    layer.backward(dy)
    accumulated = _dense_grads(layer)
    for name, p in layer.params.items():
        context = dict(value=p, target=layer, inputs=inputs, dy=dy, output=y)
        rows.append(
            _row(f"param {name}", analytic[name], numeric_gradient(f, p, h), tol, magnitude,
                 context)
        )
    accumulation_rows = []
    for name, p in layer.params.items():
        context = dict(value=p, target=layer, inputs=inputs, dy=dy, output=y, check="accumulation")
        accumulation_rows.append(_row(f"param {name} (accumulation)", accumulated[name],
                                      2 * analytic[name], tol, magnitude, context))
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
        numeric = numeric_gradient(lambda: loss.forward(*inputs), a, h)
        context = dict(value=a, target=loss, inputs=inputs, output=value)
        rows.append(_row(f"input {k}", g, numeric, tol, magnitude, context))
    return rows


def _check_function(fn, grad, inputs, h, tol):
    value = float(fn(*inputs))
    magnitude = abs(value)
    grads = grad(*inputs)
    grads = grads if isinstance(grads, (tuple, list)) else (grads,)
    rows = []
    for k, (a, g) in enumerate(zip(inputs, grads)):
        if g is not None and _is_float(a):
            numeric = numeric_gradient(lambda: fn(*inputs), a, h)
            context = dict(value=a, target=fn, inputs=inputs, output=value)
            rows.append(_row(f"input {k}", g, numeric, tol, magnitude, context))
    return rows
