"""The bug zoo: its mutants are real layers with one wrong line, its cases are sound (the real
layers pass on them), and benchmarks/bench_gradcheck.py --fast meets the issue's targets."""

import copy
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nanorec import nn
from nanorec.nn.layers import Dense
from nanorec.testing.diagnose import BUG_CLASSES
from nanorec.testing.gradcheck import gradcheck
from nanorec.testing.zoo import (
    ZOO,
    Case,
    DenseTransposedWeight,
    RegularizedFactorLoss,
    layer_cases,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import bench_gradcheck  # noqa: E402

F64 = np.float64
IDS = [entry.name for entry in ZOO]


def test_the_zoo_has_a_mutant_of_a_real_class_for_every_bug_class():
    assert len(ZOO) >= 12 and len(set(IDS)) == len(ZOO)
    assert {entry.bug_class for entry in ZOO} == set(BUG_CLASSES)
    real_classes = {getattr(nn, name) for name in nn.__all__}
    for entry in ZOO:
        assert entry.parent in real_classes or entry.parent is RegularizedFactorLoss
        assert entry.mutant is not entry.parent and issubclass(entry.mutant, entry.parent)
    assert issubclass(RegularizedFactorLoss, nn.Loss)


@pytest.mark.parametrize("entry", ZOO, ids=IDS)
def test_each_mutant_shows_its_wrong_line_next_to_the_right_one(entry):
    doc = entry.mutant.__doc__
    assert "wrong   " in doc and "right   " in doc and doc.index("wrong   ") < doc.index("right   ")


@pytest.mark.parametrize("entry", ZOO, ids=IDS)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(data=st.data())
def test_the_real_layer_passes_on_the_mutants_cases(entry, data):
    case = data.draw(entry.cases)
    report = entry.check(case, mutated=False)
    assert report.passed, str(report)


class DenseWeightGradientOneAndAHalf(Dense):
    """Not a zoo class: dW 1.5 times too large."""

    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["W"] *= 1.5
        return dx


class SigmoidWithoutOneMinusY(nn.Sigmoid):
    """Not a zoo class: dx = dy * y, the factor (1 - y) forgotten."""

    def backward(self, dy):
        (y,) = self._saved()
        return dy * y


class TanhWithoutSquare(nn.Tanh):
    """Not a zoo class: dx = dy * (1 - y), the square forgotten."""

    def backward(self, dy):
        (y,) = self._saved()
        return dy * (1 - y)


UNRELATED = [(DenseWeightGradientOneAndAHalf, "dense"), (SigmoidWithoutOneMinusY, "sigmoid"),
             (TanhWithoutSquare, "tanh")]


@pytest.mark.parametrize("broken, kind", UNRELATED, ids=[kind for _, kind in UNRELATED])
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_a_bug_of_no_zoo_class_gets_no_name(broken, kind, data):
    case = data.draw(layer_cases(kind))
    layer = copy.deepcopy(case.target)
    layer.__class__ = broken
    report = gradcheck(layer, *case.inputs)
    assert all(row.suspect is None for row in report.rows + report.accumulation_rows), str(report)


def test_a_mutant_is_a_twin_with_the_wrong_backward():
    entry = next(entry for entry in ZOO if entry.mutant is DenseTransposedWeight)
    x = np.random.default_rng(1).standard_normal((4, 3))
    layer = Dense(3, 3, rng=0, dtype=F64)
    twin = entry.mutate(layer)
    assert type(twin) is DenseTransposedWeight and type(layer) is Dense
    assert np.array_equal(twin.params["W"], layer.params["W"])
    assert twin.params["W"] is not layer.params["W"]  # a copy: checking it leaves layer alone
    assert not entry.check(Case(layer, (x,))).passed
    assert entry.check(Case(layer, (x,)), mutated=False).passed
    with pytest.raises(TypeError, match="mutates a Dense"):
        entry.mutate(nn.Sigmoid())


def test_the_factor_loss_refuses_factors_of_different_shapes():
    with pytest.raises(ValueError, match="p and q must be"):
        RegularizedFactorLoss().forward(np.ones((2, 3)), np.ones((2, 2)), np.ones(2))


def test_the_bench_meets_the_targets_in_fast_mode():
    results = bench_gradcheck.run(fast=True)
    totals = results["totals"]
    assert totals["caught"] == 1.0 and totals["named_right"] >= 0.9 and totals["targets_met"]
    assert all(row["examples needed"] <= bench_gradcheck.MAX_EXAMPLES for row in results["rows"])
    assert totals["real_passes"] == totals["draws"] == 20 * len(ZOO)
    assert 0 < totals["draws_named_right"] <= totals["draws_caught"] <= totals["draws"]
    machine = {"cpu": "cpu", "cores": 2, "load_average_at_start": [0.0], "python": "3",
               "versions": {"numpy": "2"}}
    text = bench_gradcheck.report_text(results, machine)
    assert "| mutant | bug class |" in text and "targets met" in text
    assert all(entry.name in text for entry in ZOO)


def test_named_right_needs_the_class_and_no_other():
    class Row:
        def __init__(self, suspect):
            self.suspect = suspect

    named_right = bench_gradcheck.named_right
    assert named_right("wrong_sign", [Row("wrong_sign"), Row(None)])
    assert not named_right("wrong_sign", [Row("wrong_sign"), Row("transposed")])
    assert not named_right("wrong_sign", [Row(None)])
