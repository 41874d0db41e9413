"""The gradient checker itself: it must pass sound gradients and catch wrong ones."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nanorec.nn.activations import LeakyReLU, ReLU, Sigmoid
from nanorec.nn.conv import MaxOverTime
from nanorec.nn.layers import Dense, Dot, Dropout, Embedding
from nanorec.testing.gradcheck import DEFAULT_H, gradcheck, miss_probability
from nanorec.testing.strategies import arrays_on_kinks, float_arrays, layers, shapes

F64 = np.float64


class TransposedWeightGradient(Dense):
    """Dense with the classic bug dW = dy^T x instead of x^T dy (same shape when D_in == D_out)."""

    def backward(self, dy):
        (x,) = self._saved()
        self.grads["W"] += dy.T @ x
        self.grads["b"] += dy.sum(axis=0)
        return dy @ self.params["W"].T


class MissingBiasGradient(Dense):
    """Dense that forgets db."""

    def backward(self, dy):
        (x,) = self._saved()
        self.grads["W"] += x.T @ dy
        return dy @ self.params["W"].T


class UntransposedInputGradient(Dense):
    """Dense that returns dy W instead of dy W^T."""

    def backward(self, dy):
        (x,) = self._saved()
        self.grads["W"] += x.T @ dy
        self.grads["b"] += dy.sum(axis=0)
        return dy @ self.params["W"]


class MeanSquaredError:
    """L = mean((pred - target)^2); dL/dpred = 2 (pred - target) / N, or a wrong variant."""

    def __init__(self, factor=2.0):
        self.factor = factor

    def forward(self, pred, target):
        self._diff = pred - target
        return float(np.mean(self._diff**2))

    def backward(self):
        return self.factor * self._diff / self._diff.size


def random_input(shape, seed=1):
    # Not seed 0: gradcheck draws its default dy with seed 0, and x == dy would make x^T dy
    # symmetric, hiding the transposed-dW bug.
    return np.random.default_rng(seed).standard_normal(shape)


def rows_by_name(report):
    return {row.name: row for row in report.rows}


@pytest.mark.parametrize("n", [1, 4])
def test_a_sound_dense_layer_passes_with_a_tiny_error(n):
    report = gradcheck(Dense(3, 3, rng=0, dtype=F64), random_input((n, 3)))
    assert report.passed and report.max_rel_error < 1e-8
    assert set(rows_by_name(report)) == {"input", "param W", "param b"}


BROKEN_LAYERS = [
    (TransposedWeightGradient, "param W"),
    (MissingBiasGradient, "param b"),
    (UntransposedInputGradient, "input"),
]


@pytest.mark.parametrize("n", [1, 4])
@pytest.mark.parametrize("broken_class, bad_row", BROKEN_LAYERS)
def test_a_wrong_backward_fails_on_the_right_row(n, broken_class, bad_row):
    report = gradcheck(broken_class(3, 3, rng=0, dtype=F64), random_input((n, 3)))
    assert not report.passed
    rows = rows_by_name(report)
    assert not rows[bad_row].passed and rows[bad_row].rel_error > 1e-2
    assert all(row.passed for name, row in rows.items() if name != bad_row)
    with pytest.raises(AssertionError, match="gradient check failed"):
        report.check()


class UpstreamAsInputGradient(Dense):
    """Dense that returns dy itself as dL/dx: shape (N, D_out) instead of (N, D_in)."""

    def backward(self, dy):
        super().backward(dy)
        return dy


def test_a_gradient_of_the_wrong_shape_fails_its_row_and_says_so():
    report = gradcheck(UpstreamAsInputGradient(3, 2, rng=0, dtype=F64), random_input((4, 3)))
    row = next(row for row in report.rows if row.name == "input")
    assert not row.passed and row.rel_error == np.inf
    assert row.hint == "shape (4, 2), expected (4, 3)"


def test_a_failing_row_names_its_worst_entry():
    report = gradcheck(UntransposedInputGradient(3, 3, rng=0, dtype=F64), random_input((4, 3)))
    row = next(row for row in report.rows if row.name == "input")
    assert not row.passed
    assert abs(row.analytic_at_worst - row.numeric_at_worst) == pytest.approx(row.max_abs_error)
    assert all(row.passed and row.worst is None for row in report.rows if row.name != "input")


def test_losses_pass_or_fail_on_their_gradient():
    pred, target = random_input((5, 1), seed=1), random_input((5, 1), seed=2)
    assert gradcheck(MeanSquaredError(), pred, target).passed
    report = gradcheck(MeanSquaredError(factor=1.0), pred, target)
    assert not report.passed and report.rows[0].rel_error > 0.1


def test_plain_functions_are_checked_with_grad():
    x = random_input((3, 2))
    assert gradcheck(lambda a: float(np.sum(np.sin(a))), x, grad=np.cos).passed
    assert not gradcheck(lambda a: float(np.sum(np.sin(a))), x, grad=lambda a: -np.sin(a)).passed
    two_inputs = gradcheck(lambda a, b: float(np.sum(a * b)), x, 2 * x, grad=lambda a, b: (b, None))
    assert two_inputs.passed and len(two_inputs.rows) == 1  # None skips the second input
    with pytest.raises(TypeError, match="needs grad="):
        gradcheck(lambda a: float(np.sum(a)), x)


def test_the_report_prints_a_readable_table():
    text = str(gradcheck(MissingBiasGradient(2, 2, rng=0, dtype=F64), random_input((3, 2))))
    lines = text.splitlines()
    assert lines[0].startswith("gradcheck MissingBiasGradient") and lines[0].endswith("FAIL")
    assert "max abs err" in lines[1] and "rel err" in lines[1]
    assert any(line.split()[:2] == ["param", "b"] and line.endswith("NO") for line in lines[2:])
    assert any(line.split()[:2] == ["param", "W"] and line.endswith("yes") for line in lines[2:])


def test_two_input_layers_and_id_inputs():
    pair = (random_input((4, 3), seed=1), random_input((4, 3), seed=2))
    report = gradcheck(Dot(), pair)
    assert report.passed and [row.name for row in report.rows] == ["input 0", "input 1"]
    report = gradcheck(Embedding(5, 2, rng=0, dtype=F64), np.array([4, 0, 4]))
    assert report.passed and [row.name for row in report.rows] == ["param W"]


def test_dropout_masks_are_replayed():
    assert gradcheck(Dropout(0.5, rng=0), random_input((6, 4))).passed


def test_float32_parameters_are_refused():
    with pytest.raises(TypeError, match="dtype=np.float64"):
        gradcheck(Dense(2, 2), random_input((1, 2)))


def test_default_upstream_is_not_the_input_drawn_with_the_same_seed():
    # a transposed dW is invisible when x == dy (x^T dy is then symmetric): the default dy must
    # come from a stream of its own, so the bug shows even for x drawn with default_rng(0)
    x = np.random.default_rng(0).standard_normal((3, 3))
    layer = TransposedWeightGradient(3, 3, rng=1, dtype=np.float64)
    assert not gradcheck(layer, x).passed


class SlightlyWrongSigmoid(Sigmoid):
    """The sigmoid with its derivative off by 1%."""

    def backward(self, dy):
        return 1.01 * super().backward(dy)


def test_saturated_sigmoid_passes_and_a_small_error_there_still_fails():
    # at x >= 12 every derivative is below 1e-5: measured against itself, round-off alone would
    # fail a sound layer; measured against the resolution of f it passes, and a 1% error fails
    x = np.random.default_rng(0).uniform(12, 20, size=(4, 3))
    assert gradcheck(Sigmoid(), x).passed
    assert not gradcheck(SlightlyWrongSigmoid(), x).passed


class OverwrittenWeightGradient(Dense):
    """Dense whose backward assigns dW (=) where it must accumulate (+=): right after one pass."""

    def backward(self, dy):
        (x,) = self._saved()
        self.grads["W"][...] = x.T @ dy
        self.grads["b"] += dy.sum(axis=0)
        return dy @ self.params["W"].T


def test_an_overwritten_gradient_fails_the_accumulation_check_only():
    report = gradcheck(OverwrittenWeightGradient(3, 2, rng=0, dtype=F64), random_input((4, 3)))
    assert all(row.passed for row in report.rows)  # finite differences cannot see it
    rows = {row.name: row for row in report.accumulation_rows}
    assert set(rows) == {"param W (accumulation)", "param b (accumulation)"}
    assert rows["param b (accumulation)"].passed
    wrong = rows["param W (accumulation)"]
    assert not wrong.passed and not report.passed
    assert wrong.analytic_at_worst == pytest.approx(wrong.numeric_at_worst / 2)
    assert "param W (accumulation)" in str(report)


@pytest.mark.parametrize("layer", [Dense(3, 2, rng=0, dtype=F64), Embedding(5, 2, rng=0, dtype=F64),
                                   Dropout(0.5, rng=0)])
def test_sound_layers_accumulate(layer):
    x = np.array([4, 0, 4]) if isinstance(layer, Embedding) else random_input((4, 3))
    report = gradcheck(layer, x)
    assert report.passed
    assert [row.name for row in report.accumulation_rows] == [
        f"param {name} (accumulation)" for name in layer.params]


# ---------------------------------------------------------------------------------------- kinks
@pytest.mark.parametrize("kind", ["relu", "leaky_relu", "max_over_time", "dense_relu_dense"])
@settings(max_examples=250, deadline=None)  # 4 x 250 = 1000 draws with inputs on kinks
@given(data=st.data())
def test_inputs_on_kinks_never_fail_a_sound_layer(kind, data):
    case = data.draw(layers([kind]))
    report = gradcheck(case.layer, case.x)
    assert report.passed, str(report)
    if kind in ("relu", "leaky_relu"):  # every entry within h/2 of 0 is counted, no other
        assert report.rows[0].kinks == np.sum(np.abs(case.x) <= DEFAULT_H / 2)


def test_a_tie_in_a_max_is_counted_as_a_kink():
    x = np.array([[[1.0, 2.0], [1.0, -1.0], [0.5, 2.0 + DEFAULT_H / 4]]])  # both channels tie
    report = gradcheck(MaxOverTime(), x)
    assert report.passed and report.rows[0].kinks == 4
    assert "kinks:" in str(report)


@pytest.mark.parametrize("layer", [Sigmoid(), LeakyReLU(0.2)])
def test_smooth_inputs_count_no_kinks(layer):
    report = gradcheck(layer, random_input((5, 4)))
    assert report.passed and report.rows[0].kinks == 0 and "kinks:" not in str(report)


class ReLUWithSlopeOneAtNegatives(ReLU):
    """The classic bug: the ReLU derivative taken as 1 everywhere."""

    def backward(self, dy):
        super().backward(dy)
        return dy


class WrongSignReLU(ReLU):
    def backward(self, dy):
        return -super().backward(dy)


on_the_kink = float_arrays(shapes(), lo=-DEFAULT_H / 2, hi=DEFAULT_H / 2)


@settings(max_examples=100, deadline=None)
@given(x=on_the_kink)
def test_a_slope_of_one_at_negatives_fails_next_to_the_kink(x):
    assume(np.any(x < -DEFAULT_H / 8))  # nearer 0, a slope of 1 is a subgradient (almost)
    report = gradcheck(ReLUWithSlopeOneAtNegatives(), x)
    assert not report.passed and report.rows[0].worst is not None


@settings(max_examples=100, deadline=None)
@given(x=on_the_kink)
def test_a_wrong_sign_fails_next_to_the_kink(x):
    assume(np.any(x > 0))
    assert not gradcheck(WrongSignReLU(), x).passed


@settings(max_examples=50, deadline=None)
@given(x=arrays_on_kinks(shapes()))
def test_the_wrong_relus_fail_on_mixed_inputs(x):
    assume(np.any(x < -DEFAULT_H / 8) and np.any(x > 0))
    assert not gradcheck(ReLUWithSlopeOneAtNegatives(), x).passed
    assert not gradcheck(WrongSignReLU(), x).passed


# ---------------------------------------------------------------------------------- directional
@settings(max_examples=300, deadline=None)
@given(case=layers())
def test_directional_mode_never_fails_a_sound_layer(case):
    report = gradcheck(case.layer, case.x, mode="directional", directions=4)
    assert report.passed, str(report)


DIRECTIONAL_CATCHES = [
    (TransposedWeightGradient(3, 3, rng=0, dtype=F64), (random_input((4, 3)),), "param W"),
    (MissingBiasGradient(3, 3, rng=0, dtype=F64), (random_input((1, 3)),), "param b"),
    (UntransposedInputGradient(3, 3, rng=0, dtype=F64), (random_input((4, 3)),), "input"),
    (OverwrittenWeightGradient(3, 2, rng=0, dtype=F64), (random_input((4, 3)),),
     "param W (accumulation)"),
    (MeanSquaredError(factor=1.0), (random_input((5, 1)), random_input((5, 1), seed=2)), "input 0"),
    (Sigmoid(), (random_input((4, 3)),), None),
]


@pytest.mark.parametrize("target, inputs, bad_row", DIRECTIONAL_CATCHES)
def test_directional_mode_catches_the_wrong_gradients(target, inputs, bad_row):
    report = gradcheck(target, *inputs, mode="directional", directions=2)
    rows = {row.name: row for row in report.rows + report.accumulation_rows}
    if bad_row is None:  # the sound control
        assert report.passed
        return
    assert not report.passed and not rows[bad_row].passed
    assert all(row.passed for name, row in rows.items() if name != bad_row)
    # a small array that fails is checked again in full, which names the worst entry
    assert rows[bad_row].directions == 0 and rows[bad_row].worst is not None


def test_directional_mode_does_not_vouch_below_the_resolution_of_f():
    # a saturated sigmoid's gradient is below what finite differences resolve: full mode still
    # sees a 1% error entry by entry, one direction mixes it with the others; the report says
    # that it cannot vouch for the gradient instead of a small probability
    x = np.random.default_rng(0).uniform(12, 20, size=(4, 3))
    report = gradcheck(SlightlyWrongSigmoid(), x, mode="directional", directions=2)
    assert report.rows[0].miss_probability == 1.0 and "probability <= 1.0e+00" in str(report)
    assert not gradcheck(SlightlyWrongSigmoid(), x).passed


def test_a_large_array_that_fails_directionally_names_the_worst_direction():
    n = 70  # W has 4900 entries, more than FULL_CHECK_FALLBACK
    report = gradcheck(TransposedWeightGradient(n, n, rng=0, dtype=F64), random_input((2, n)),
                       mode="directional", directions=3)
    rows = rows_by_name(report)
    assert rows["input"].passed and rows["param b"].passed
    wrong = rows["param W"]
    assert not wrong.passed and wrong.directions == 3 and wrong.shape == (n, n)
    assert wrong.worst[0] in range(3) and "mode='full'" in wrong.hint
    assert "worst direction" in str(report)


def test_directional_mode_reports_its_directions_and_a_wrong_shape():
    report = gradcheck(UpstreamAsInputGradient(3, 2, rng=0, dtype=F64), random_input((4, 3)),
                       mode="directional", directions=3)
    rows = rows_by_name(report)
    assert rows["input"].hint == "shape (4, 2), expected (4, 3)"
    assert rows["param W"].passed and rows["param W"].shape == (3, 2)
    assert "directional x3" in str(report).splitlines()[0]


def test_the_miss_probability_bounds_how_often_a_planted_error_passes():
    # f(a) = c . a; the analytic gradient c + e with |e| = rho |c|, e random per trial: a loose
    # tolerance makes misses frequent enough to count, and never more frequent than the bound
    n, tol, rho, trials = 100, 1e-4, 1e-2, 300
    rng = np.random.default_rng(7)
    c, a = rng.standard_normal(n), rng.standard_normal(n)
    misses = 0
    for seed in range(trials):
        e = rng.standard_normal(n)
        e *= rho * np.linalg.norm(c) / np.linalg.norm(e)
        report = gradcheck(lambda x: float(c @ x), a, grad=lambda x, e=e: c + e, tol=tol, seed=seed,
                           mode="directional", directions=1, rho=rho)
        if report.passed:
            misses += 1
            bound = report.rows[0].miss_probability
            assert "probability <=" in str(report)
    assert bound == pytest.approx(miss_probability(n, 1, tol, rho), rel=1e-2)  # f resolves c
    assert 0 < misses <= bound * trials and bound < 0.5


def test_the_miss_probability_falls_with_each_direction():
    one = miss_probability(10_000, 1, 1e-6, 1e-2)
    assert miss_probability(10_000, 4, 1e-6, 1e-2) == pytest.approx(one**4)
    assert miss_probability(10_000, 1, 1e-6, 1e-1) < one < miss_probability(40_000, 1, 1e-6, 1e-2)
    assert miss_probability(10_000, 0, 1e-6, 1e-2) == 1.0  # every direction on a kink


@pytest.mark.parametrize("options, message", [
    ({"mode": "sideways"}, "mode"), ({"directions": 0}, "directions"), ({"rho": 0.0}, "rho")])
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        gradcheck(Dense(2, 2, rng=0, dtype=F64), random_input((1, 2)), **options)
