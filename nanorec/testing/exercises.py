"""The backprop exercises and their checker: ``check(name, path)`` grades a student's file.

Each exercise (tutorials/exercises/NAME.py) is a file that defines one or more classes of the
Layer protocol (nanorec.nn.base.Layer) or the Loss protocol (nanorec.nn.losses.Loss) with the
forward written and the backward left to the student. EXERCISES, in course order, says for each
which classes to load and the problem each is checked on: float64, with shapes and values chosen
so that the classic mistakes show (N != D, D_in != D_out, repeated ids, a dropout rate that drops
some units and keeps others, several time steps, logits large enough to overflow an unshifted
softmax).

``check`` loads the file from its path, builds every problem, and runs nanorec.testing.gradcheck
on it (no other finite-difference comparison: gradcheck's rows are the verdicts). Each gradient
gets one Verdict:

    right   gradcheck's row passed, and for a parameter its accumulation row too (a second
            backward pass without zero_grad doubles the gradient: it was added, +=, not assigned)
    wrong   one of them failed: the relative error, the worst entry (index, yours, expected: the
            finite difference, or twice one pass's gradient), and, when gradcheck's diagnosis
            recognised it, the likely bug class and a hint
    todo    the class still raises NotImplementedError
    error   the class raised something else while being checked (the message and its line)

A file that is missing, does not compile or import, or lacks an expected class gives a result
with status "error" and a one-line message instead of verdicts. ``result.passed`` is True only
when every gradient is right (``nanorec exercise check`` exits 0 then, 1 otherwise).

The instructors' copy, tutorials/solutions/NAME.py, is the single source of an exercise: the
student's file is the solution with every block between ``# BEGIN SOLUTION: <what>`` and
``# END SOLUTION`` replaced by ``raise NotImplementedError("TODO: write <what>")`` (a block
marked ``# BEGIN SOLUTION`` alone is removed); ``student_copy`` makes it, and a test holds the
two folders to it.
"""

import importlib.util
import math
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from nanorec.nn.base import Layer
from nanorec.nn.losses import Loss
from nanorec.testing.diagnose import BUG_CLASSES
from nanorec.testing.gradcheck import gradcheck


# ----------------------------------------------------------------------------------- the registry
@dataclass(frozen=True)
class Case:
    """One class of an exercise file and the problem it is checked on.

    class_name       the class the file must define
    build            (cls, rng) -> (target, inputs): an instance and the positional arguments of
                     gradcheck (a Layer's one input, possibly a tuple; a Loss's arguments)
    input_gradients  the names of the input gradients gradcheck checks, in its order ("dx";
                     "da", "db" for a two-input layer; none for ids)
    base             the class it must subclass: nanorec.nn.base.Layer or nanorec.nn.losses.Loss
    """

    class_name: str
    build: Callable
    input_gradients: tuple = ("dx",)
    base: type = Layer


@dataclass(frozen=True)
class Exercise:
    """An exercise: its name (the file's stem), the lesson it follows, what it asks, its cases."""

    name: str
    lesson: str
    asks: str
    cases: tuple


def _away_from_zero(rng, shape, low=0.2):
    """Standard normal entries with |x| >= low: both signs, none at a ReLU kink."""
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < low, np.copysign(low + np.abs(x), x), x)


def _with_repeats(rng, n_rows, n):
    """n ids in [0, n_rows) in which the first two ids appear twice each."""
    ids = rng.integers(0, n_rows, n)
    ids[-2:] = ids[:2]
    return ids


def _labels(rng, n):
    """n 0/1 labels (int: gradcheck leaves them alone), both values present."""
    labels = rng.integers(0, 2, n)
    labels[:2] = (0, 1)
    return labels


# The problems: (cls, rng) -> (target, gradcheck's inputs). Shapes differ wherever a mix-up of
# axes could otherwise go unseen.
def _activation(*args, scale=1.0):
    """x (4, 3) of both signs, |x| >= 0.2 * scale (no kink); args go to the constructor."""
    return lambda cls, rng: (cls(*args), (scale * _away_from_zero(rng, (4, 3)),))


def _mse(cls, rng):
    """pred, target (5, 3): N != D, so a mean over N alone or D alone is off."""
    return cls(), (rng.standard_normal((5, 3)), rng.standard_normal((5, 3)))


def _bce(cls, rng):
    """p (5, 2) in [0.05, 0.95], y (5, 2) of 0 and 1."""
    return cls(), (rng.uniform(0.05, 0.95, (5, 2)), _labels(rng, 10).reshape(5, 2).astype(float))


def _dense(cls, rng):
    """N = 5, D_in = 3, D_out = 4: a transposed product has the wrong shape."""
    return cls(3, 4, rng=rng), (rng.standard_normal((5, 3)),)


def _two_layer_network(cls, rng):
    """N = 6, D = 3, H = 4, both labels present."""
    return cls(3, 4, rng=rng), ((rng.standard_normal((6, 3)), _labels(rng, 6)),)


def _softmax_cross_entropy(cls, rng):
    """z (5, 4) with row 0 near 750 (exp overflows there unless the row's max is taken off)."""
    z = 2 * rng.standard_normal((5, 4))
    z[0] += 750
    return cls(), (z, rng.integers(0, 4, 5))


def _embedding(cls, rng):
    """R = 5, K = 3, N = 7 ids with two of them repeated."""
    return cls(5, 3, rng=rng), (_with_repeats(rng, 5, 7),)


def _dot(cls, rng):
    """a, b (4, 3)."""
    return cls(), ((rng.standard_normal((4, 3)), rng.standard_normal((4, 3))),)


def _dropout(cls, rng):
    """p = 0.4 on x (6, 5): some of the 30 entries dropped, some kept."""
    return cls(0.4, rng=rng), (rng.standard_normal((6, 5)),)


def _conv1d(cls, rng):
    """C_in = 2, C_out = 3, width = 3, x (2, 6, 2): T' = 4, every size different."""
    return cls(2, 3, 3, rng=rng), (rng.standard_normal((2, 6, 2)),)


def _max_over_time(cls, rng):
    """y (3, 5, 4) standard normal: no ties."""
    return cls(), (rng.standard_normal((3, 5, 4)),)


def _rnn(cls, rng):
    """D = 2, H = 3, x (3, 4, 2): T = 4 steps, W_x not square, W_h square."""
    return cls(2, 3, rng=rng), (rng.uniform(-1, 1, (3, 4, 2)),)


def _bpr(cls, rng):
    """pred (5, 2) with spread scores."""
    return cls(), (2 * rng.standard_normal((5, 2)),)


def _mf_network(cls, rng):
    """U = 4, I = 5, K = 3, N = 8 pairs with repeated users and items."""
    ids = (_with_repeats(rng, 4, 8), _with_repeats(rng, 5, 8), _labels(rng, 8))
    return cls(4, 5, 3, rng=rng), (ids,)


EXERCISES = {exercise.name: exercise for exercise in (
    Exercise("activations", "01", "Sigmoid, Tanh, ReLU, LeakyReLU: dx = dy * f'(x)", (
        Case("Sigmoid", _activation(scale=2.0)), Case("Tanh", _activation()),
        Case("ReLU", _activation()), Case("LeakyReLU", _activation(0.1)))),
    Exercise("mse", "02", "the mean squared error over N x D entries: dL/dpred",
             (Case("MSELoss", _mse, ("dpred",), Loss),)),
    Exercise("bce", "02", "the binary cross-entropy of probabilities: dL/dp",
             (Case("BCELoss", _bce, ("dp",), Loss),)),
    Exercise("dense", "03", "y = x W + b: dW, db and dx", (Case("Dense", _dense),)),
    Exercise("two_layer_network", "03",
             "lesson 03's Dense-Tanh-Dense-Sigmoid-BCE network, backward end to end",
             (Case("TwoLayerNetwork", _two_layer_network),)),
    Exercise("embedding", "04", "a table lookup with repeated ids: dW by scatter-add",
             (Case("Embedding", _embedding, ()),)),
    Exercise("dot", "04", "the row-wise dot product of matrix factorisation: da and db",
             (Case("Dot", _dot, ("da", "db")),)),
    Exercise("mf_network", "04",
             "the seed's MF network, Embedding x2 -> Dot -> Dense(1, 1) -> Sigmoid -> BCE, "
             "end to end", (Case("MFNetwork", _mf_network, ()),)),
    Exercise("softmax_cross_entropy", "05", "the softmax cross-entropy (and its overflow): dL/dz",
             (Case("SoftmaxCrossEntropyLoss", _softmax_cross_entropy, ("dz",), Loss),)),
    Exercise("dropout", "05", "inverted dropout: the forward's mask reused in backward",
             (Case("Dropout", _dropout),)),
    Exercise("conv1d", "05", "a 1-D convolution and max-over-time pooling (the text-CNN block)",
             (Case("Conv1d", _conv1d), Case("MaxOverTime", _max_over_time, ("dy",)))),
    Exercise("rnn", "05", "a tanh recurrent layer: backprop through time over T steps",
             (Case("RNN", _rnn),)),
    Exercise("bpr", "06", "the BPR pairwise ranking loss: dL/dpred, both columns",
             (Case("BPRLoss", _bpr, ("dpred",), Loss),)),
)}


# ----------------------------------------------------------------------------------- the verdicts
@dataclass
class Verdict:
    """The checker's answer for one gradient of one class.

    check      for a wrong gradient, which of gradcheck's checks failed: "finite difference", or
               "accumulation" (a second backward pass without zero_grad must double a parameter's
               gradient: it does not when the gradient is assigned with = instead of added, +=)
    worst      the index of the entry furthest off, ``yours`` the gradient there and ``expected``
               what it should be (the finite difference, or twice one pass's gradient)
    suspect    a bug class of nanorec.testing.diagnose.BUG_CLASSES, with its ``hint``, when
               gradcheck's diagnosis recognised the failure
    """

    case: str
    gradient: str
    status: str
    rel_error: float = math.nan
    worst: tuple = None
    yours: float = math.nan
    expected: float = math.nan
    suspect: str = None
    hint: str = ""
    detail: str = ""
    check: str = ""

    def as_dict(self):
        return {"case": self.case, "gradient": self.gradient, "status": self.status,
                "check": self.check, "rel_error": _finite_or_none(self.rel_error),
                "worst": None if self.worst is None else list(self.worst),
                "yours": _finite_or_none(self.yours), "expected": _finite_or_none(self.expected),
                "suspect": self.suspect, "hint": self.hint, "detail": self.detail}

    def lines(self, case_width=0, gradient_width=0):
        """The verdict as report lines (columns padded to the widths): the verdict, then the
        likely bug and its hint when gradcheck's diagnosis named one."""
        head = f"  {self.case:<{case_width}}  {self.gradient:<{gradient_width}}  "
        if self.status == "right":
            return [f"{head}right  rel error {self.rel_error:.1e}"]
        if self.status != "wrong":
            return [f"{head}{self.status:<5}  {self.detail}"]
        text = f"{head}WRONG  rel error {self.rel_error:.1e}"
        if self.check == "accumulation":
            text += "; two backward passes must give twice one pass's gradient"
        if self.worst is not None:
            entry = f"{self.gradient}[{', '.join(map(str, self.worst))}]"
            reference = "expected" if self.check == "accumulation" else "finite difference"
            text += (f"; worst entry {entry}: yours {self.yours:+.6g}, "
                     f"{reference} {self.expected:+.6g}")
        elif self.detail:
            text += f"; {self.detail}"
        indent = " " * (len(head) + 7)
        lines = [text]
        if self.suspect:
            lines.append(f"{indent}likely bug: {BUG_CLASSES.get(self.suspect, self.suspect)}")
        if self.hint and self.worst is not None:
            lines.append(f"{indent}{self.hint}")
        return lines


@dataclass
class ExerciseResult:
    """What ``check`` found: one Verdict per gradient, or a message when the file could not be
    checked at all.

    status   "pass" (every gradient right), "todo" (none wrong, some still raise
             NotImplementedError), "fail" (a gradient wrong or a class failing) or "error" (the
             file is missing, does not load, or lacks a class)
    """

    exercise: str
    file: str
    verdicts: list = field(default_factory=list)
    message: str = ""

    @property
    def status(self):
        if self.message:
            return "error"
        statuses = {verdict.status for verdict in self.verdicts}
        if statuses == {"right"}:
            return "pass"
        return "todo" if statuses <= {"right", "todo"} else "fail"

    @property
    def passed(self):
        return self.status == "pass"

    @property
    def n_right(self):
        return sum(verdict.status == "right" for verdict in self.verdicts)

    def as_dict(self):
        """The result as plain data (JSON-ready: no NaN or inf, which become None)."""
        return {"exercise": self.exercise, "file": self.file, "status": self.status,
                "passed": self.passed, "right": self.n_right, "gradients": len(self.verdicts),
                "message": self.message, "verdicts": [v.as_dict() for v in self.verdicts]}

    def summary(self):
        """One line: the verdict of the whole exercise."""
        if self.status == "error":
            return f"exercise {self.exercise}: {self.message}"
        count = f"{self.n_right} of {len(self.verdicts)} gradients right"
        if self.status == "todo":
            n_todo = len(self.verdicts) - self.n_right
            return f"exercise {self.exercise} ({self.file}): {count}, {n_todo} still to do"
        return f"exercise {self.exercise} ({self.file}): {count}: {self.status.upper()}"

    def __str__(self):
        shown = []  # the verdicts, a class's gradients that are todo or fail alike on one line
        for verdict in self.verdicts:
            previous = shown[-1] if shown else None
            if (previous and verdict.status in ("todo", "error") and (verdict.case, verdict.status,
                    verdict.detail) == (previous.case, previous.status, previous.detail)):
                shown[-1] = replace(previous, gradient=f"{previous.gradient}, {verdict.gradient}")
            else:
                shown.append(verdict)
        case_width = max((len(verdict.case) for verdict in shown), default=0)
        gradient_width = max((len(verdict.gradient) for verdict in shown), default=0)
        lines = [self.summary()]
        for verdict in shown:
            lines.extend(verdict.lines(case_width, gradient_width))
        return "\n".join(lines)


def _finite_or_none(value):
    return float(value) if value is not None and math.isfinite(value) else None


# ----------------------------------------------------------------------------------- the checker
class _Unusable(Exception):
    """The file cannot be checked; the message says why (ExerciseResult.message)."""


def check(name, path, seed=0):
    """Grade the file at ``path`` as the exercise ``name``: an ExerciseResult.

    Parameters
    ----------
    name : str
        A key of EXERCISES (ValueError otherwise).
    path : str or Path
        The student's file (or a solution).
    seed : int
        Seed of the problems (weights, inputs, upstream gradients).
    """
    if name not in EXERCISES:
        raise ValueError(f"unknown exercise {name!r}; the exercises: {', '.join(EXERCISES)}")
    result = ExerciseResult(name, str(path))
    try:
        module = _load(Path(path), name)
        classes = [_class_of(module, case, path) for case in EXERCISES[name].cases]
    except _Unusable as problem:
        result.message = str(problem)
        return result
    for position, (case, cls) in enumerate(zip(EXERCISES[name].cases, classes)):
        rng = np.random.default_rng((seed, position))
        result.verdicts.extend(_check_case(case, cls, rng, seed, Path(path)))
    return result


def _load(path, name):
    """The module the file at ``path`` defines (not added to sys.modules), or _Unusable."""
    if not path.is_file():
        raise _Unusable(f"no file {path}")
    spec = importlib.util.spec_from_file_location(f"nanorec_exercise_{name}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        raise _Unusable(f"syntax error in {path}, line {error.lineno}: {error.msg}") from None
    except Exception as error:  # the student's module code: whatever it raised, say so
        raise _Unusable(f"{path} failed to load: {_describe(error, path)}") from None
    return module


def _class_of(module, case, path):
    cls = getattr(module, case.class_name, None)
    if not isinstance(cls, type):
        raise _Unusable(f"{path} defines no class {case.class_name}")
    if not issubclass(cls, case.base):
        raise _Unusable(f"{case.class_name} in {path} must subclass "
                        f"{case.base.__module__}.{case.base.__name__}")
    return cls


def _check_case(case, cls, rng, seed, path):
    """The verdicts of one class: gradcheck's rows, or todo / error for every gradient."""
    target = None
    try:
        with np.errstate(all="ignore"):  # an overflow shows as a wrong entry, not as a warning
            target, inputs = case.build(cls, rng)
            report = gradcheck(target, *inputs, seed=seed)
    except NotImplementedError as error:
        detail = str(error) or f"{_raiser(error)} raises NotImplementedError"
        return [Verdict(case.class_name, name, "todo", detail=detail)
                for name in _gradient_names(case, target)]
    except Exception as error:  # the student's code failed: report it as this class's verdicts
        return [Verdict(case.class_name, name, "error", detail=_describe(error, path))
                for name in _gradient_names(case, target)]
    return _verdicts(case, report)


def _gradient_names(case, target):
    """The gradients a case checks, before gradcheck could name them: the inputs', then d<param>."""
    params = list(getattr(target, "params", {})) if isinstance(target, Layer) else []
    return [*case.input_gradients, *(f"d{name}" for name in params)] or ["backward"]


def _verdicts(case, report):
    """One Verdict per gradient: its finite-difference row and, for a parameter, its
    accumulation row ("param W (accumulation)"); the first of the two that failed decides."""
    accumulation = {row.name.removesuffix(" (accumulation)"): row
                    for row in report.accumulation_rows}
    verdicts = []
    for row in report.rows:
        name = _gradient_name(row.name, case.input_gradients)
        checks = [("finite difference", row), ("accumulation", accumulation.get(row.name))]
        failed = [(check, found) for check, found in checks if found and not found.passed]
        if not failed:
            verdicts.append(Verdict(case.class_name, name, "right", row.rel_error))
            continue
        check, found = failed[0]
        verdicts.append(Verdict(
            case.class_name, name, "wrong", found.rel_error, found.worst, found.analytic_at_worst,
            found.numeric_at_worst, found.suspect, found.hint or "",
            "" if found.worst is not None else found.hint or "", check))
    return verdicts


def _gradient_name(row_name, input_gradients):
    """gradcheck's row name in the student's terms: "param W" -> "dW", "input" -> "dx",
    "input 1" -> the second input gradient."""
    if row_name.startswith("param "):
        return "d" + row_name.removeprefix("param ")
    position = 0 if row_name == "input" else int(row_name.split()[1])
    return input_gradients[position] if position < len(input_gradients) else row_name


def _describe(error, path):
    """'Type: message (line N of file)' for an exception raised in (or under) the file."""
    text = f"{type(error).__name__}: {error}".rstrip(": ")
    lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__)
             if Path(frame.filename).resolve() == path.resolve()]
    return f"{text} (line {lines[-1]} of {path.name})" if lines else text


def _raiser(error):
    """The name of the function that raised ``error``."""
    return traceback.extract_tb(error.__traceback__)[-1].name


# ------------------------------------------------------------------------------- students' copies
SOLUTION_BEGIN = re.compile(r"^(?P<indent>\s*)# BEGIN SOLUTION(?::\s*(?P<what>.+?))?\s*$")
SOLUTION_END = re.compile(r"^\s*# END SOLUTION\s*$")


def student_copy(source):
    """The student's file made from a solution's source text.

    Every block from a ``# BEGIN SOLUTION: <what>`` line to the next ``# END SOLUTION`` line
    becomes ``raise NotImplementedError("TODO: write <what>")`` at the marker's indentation; a
    block opened by ``# BEGIN SOLUTION`` with no text is dropped. ValueError for an unclosed or
    nested block.
    """
    out, block = [], None
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        begin = SOLUTION_BEGIN.match(line)
        if begin:
            if block is not None:
                raise ValueError(f"line {number}: a SOLUTION block opens inside another")
            block = begin
        elif SOLUTION_END.match(line):
            if block is None:
                raise ValueError(f"line {number}: # END SOLUTION without a # BEGIN SOLUTION")
            if block["what"]:
                what = block["what"]
                out.append(f'{block["indent"]}raise NotImplementedError("TODO: write {what}")\n')
            block = None
        elif block is None:
            out.append(line)
    if block is not None:
        raise ValueError("a SOLUTION block is never closed (# END SOLUTION)")
    return "".join(out)


def write_student_copies(solutions, exercises):
    """Write student_copy(solutions/NAME.py) to exercises/NAME.py for every exercise; return the
    paths written (instructors: after editing a solution)."""
    written = []
    for name in EXERCISES:
        target = Path(exercises) / f"{name}.py"
        target.write_text(student_copy((Path(solutions) / f"{name}.py").read_text()))
        written.append(target)
    return written
