"""The detectors of nanorec.testing.diagnose, one at a time, on hand-built failed gradients:
each recognises its pattern, says something a student can act on, and leaves unrelated errors
unnamed (or to the detector whose pattern they show)."""

import numpy as np
import pytest

from nanorec.nn.activations import LeakyReLU, ReLU, Sigmoid, Tanh, sigmoid
from nanorec.nn.layers import Dense, Dropout, Embedding
from nanorec.nn.losses import MSELoss
from nanorec.nn.recurrent import RNN
from nanorec.testing.diagnose import (
    BUG_CLASSES,
    DETECTORS,
    FailedGradient,
    detector,
    diagnose,
)

F64 = np.float64


def normal(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def diagnosed(analytic, numeric, value=None, target=None, inputs=(), dy=None, output=None,
              name="param W", check="finite difference"):
    """diagnose's (bug class, hint) for these numbers, or (None, "") when nothing is recognised."""
    value = np.zeros(np.shape(numeric)) if value is None else value
    found = diagnose(FailedGradient(name, np.asarray(analytic, F64), np.asarray(numeric, F64),
                                    value, target, inputs, dy, output, check))
    return found or (None, "")


def suspect(*args, **kwargs):
    return diagnosed(*args, **kwargs)[0]


def hint(*args, **kwargs):
    return diagnosed(*args, **kwargs)[1]


def test_every_bug_class_has_exactly_one_detector():
    assert sorted(bug_class for bug_class, _ in DETECTORS) == sorted(BUG_CLASSES)
    with pytest.raises(ValueError, match="unknown bug class"):
        detector("typo")


# ------------------------------------------------------------------------------ overwritten
def test_two_passes_equal_to_one_pass_is_an_overwritten_gradient():
    one_pass = normal((3, 2))
    assert suspect(one_pass, 2 * one_pass, check="accumulation") == "overwritten"
    assert "self.grads['W'] +=" in hint(one_pass, 2 * one_pass, check="accumulation",
                                        name="param W (accumulation)")


def test_accumulation_rows_get_no_other_name_and_other_factors_none():
    one_pass = normal((3, 2))
    assert suspect(one_pass / 3, 2 * one_pass, check="accumulation") is None
    assert suspect(-2 * one_pass, 2 * one_pass, check="accumulation") is None  # not wrong_sign
    # the same numbers from finite differences are not an accumulation bug
    assert suspect(one_pass, 2 * one_pass, inputs=(normal((5, 4)),)) is None


# -------------------------------------------------------------------------- softmax_overflow
def test_nan_in_the_analytic_gradient_is_an_overflow():
    numeric = normal((2, 3))
    analytic = numeric.copy()
    analytic[1] = np.nan
    assert suspect(analytic, numeric, name="input 0") == "softmax_overflow"
    assert "z - z.max()" in hint(analytic, numeric, name="input 0")
    analytic[1] = np.inf
    assert suspect(analytic, numeric, name="input 0") == "softmax_overflow"


def test_nan_on_both_sides_is_not_named_an_overflow():
    numeric = normal((2, 3))
    numeric[0, 0] = np.nan
    assert suspect(numeric * 1.5, numeric) != "softmax_overflow"


# ------------------------------------------------------------------------------- transposed
def test_a_square_gradient_equal_to_the_transpose_is_transposed():
    numeric = normal((3, 3))
    assert suspect(numeric.T, numeric) == "transposed"
    assert "x.T @ dy" in hint(numeric.T, numeric)
    assert "dy @ W.T" in hint(numeric.T, numeric, name="input")


def test_a_reversed_shape_is_transposed():
    numeric = normal((2, 4))
    assert suspect(numeric.T, numeric) == "transposed"
    assert suspect(normal((4, 2), seed=1), numeric) == "transposed"  # the shape alone says it
    assert "shape (4, 2), the transpose of (2, 4)" in hint(numeric.T, numeric)


def test_an_input_gradient_through_the_untransposed_weight_is_transposed():
    layer, dy = Dense(3, 3, rng=0, dtype=F64), normal((4, 3), seed=1)
    W = layer.params["W"]
    context = dict(target=layer, dy=dy, name="input")
    assert suspect(dy @ W, dy @ W.T, **context) == "transposed"
    assert "dy @ W.T" in hint(dy @ W, dy @ W.T, **context)
    assert suspect(dy @ W + 0.1, dy @ W.T, **context) is None
    assert suspect(dy @ W, dy @ W.T, target=layer, dy=dy, name="param W") is None  # not an input


def test_a_square_gradient_wrong_otherwise_is_not_transposed():
    numeric = normal((3, 3))
    assert suspect(numeric + 0.1 * normal((3, 3), seed=1), numeric) is None
    assert suspect(normal((3, 3), seed=1), numeric) is None


# -------------------------------------------------------------------------- bias_not_summed
@pytest.mark.parametrize("n", [1, 4])
def test_one_row_per_sample_is_a_bias_not_summed(n):
    dy = normal((n, 3))
    assert suspect(dy, dy.sum(axis=0), name="param b") == "bias_not_summed"
    assert "dy.sum(axis=0)" in hint(dy, dy.sum(axis=0), name="param b")


def test_an_extra_axis_of_another_size_is_not_a_batch_axis():
    assert suspect(normal((4, 2)), normal(3)) is None


# ------------------------------------------------------------------------------- wrong_sign
def test_minus_the_gradient_is_a_wrong_sign():
    numeric = normal((4, 1))
    assert suspect(-numeric, numeric, name="input 0") == "wrong_sign"
    assert "sign" in hint(-numeric, numeric, name="input 0")


def test_a_negative_factor_other_than_minus_one_is_not_a_sign():
    numeric = normal((4, 1))
    assert suspect(-0.5 * numeric, numeric, inputs=(normal((4, 1)),)) is None


# ---------------------------------------------------------------------------- batch_scaling
@pytest.mark.parametrize("factor, words", [(5, "missing"), (1 / 5, "twice"), (15, "missing"),
                                           (1 / 15, "twice"), (3, "missing")])
def test_a_factor_of_the_batch_size_is_a_batch_scaling(factor, words):
    pred, numeric = normal((5, 3)), normal((5, 3), seed=1)
    context = dict(inputs=(pred, pred), name="input 0")
    assert suspect(factor * numeric, numeric, **context) == "batch_scaling"
    assert words in hint(factor * numeric, numeric, **context)


@pytest.mark.parametrize("factor", [1.01, 2.0, 4.0, 0.5])
def test_other_factors_are_not_a_batch_scaling(factor):
    pred, numeric = normal((5, 3)), normal((5, 3), seed=1)
    assert suspect(factor * numeric, numeric, inputs=(pred, pred), name="input 0") is None


def test_an_activation_has_no_batch_scaling():
    # sigmoid at x = 0: y = 1/2, so dy * y (the factor 1 - y forgotten) is 2 x dy * y (1 - y)
    layer, x = Sigmoid(), np.zeros((2, 1))
    y, dy = activation_case(layer, x)
    assert suspect(dy * y, layer.backward(dy), value=x, target=layer, inputs=(x,), dy=dy,
                   output=y, name="input") is None


def test_a_batch_of_one_has_no_batch_scaling():
    pred = normal((1, 1))
    assert suspect([[2.0]], [[1.0]], inputs=(pred, pred), name="input 0") is None


# --------------------------------------------------------------------- weight_decay_missing
def test_a_missing_multiple_of_the_weights_is_missing_weight_decay():
    W, analytic = normal((3, 2)), normal((3, 2), seed=1)
    assert suspect(analytic, analytic + 0.02 * W, value=W) == "weight_decay_missing"
    assert "0.02 x W" in hint(analytic, analytic + 0.02 * W, value=W)


@pytest.mark.parametrize("case", ["negative", "noisy", "one entry", "blank"])
def test_no_weight_decay_without_a_positive_multiple_of_two_weights_or_more(case):
    W, analytic = normal((3, 2)), normal((3, 2), seed=1)
    numeric = {"negative": analytic - 0.02 * W,
               "noisy": analytic + 0.02 * W + 0.01 * normal((3, 2), seed=2),
               "blank": 0.02 * W}.get(case)
    if case == "one entry":
        W, analytic, numeric = W[:1, :1], analytic[:1, :1], analytic[:1, :1] + 0.02 * W[:1, :1]
    if case == "blank":  # a backward left blank gives zeros: far more than a penalty is missing
        analytic = np.zeros_like(W)
    assert suspect(analytic, numeric, value=W) is None


# --------------------------------------------------------------------- repeated_ids_dropped
def table_gradients(ids, n_rows=4, dim=2):
    """(analytic with fancy-index +=, numeric with np.add.at, dy) for a table lookup."""
    dy = normal((len(ids), dim))
    numeric, analytic = np.zeros((n_rows, dim)), np.zeros((n_rows, dim))
    np.add.at(numeric, ids, dy)
    analytic[ids] += dy
    return analytic, numeric, dy


def test_repeated_rows_with_one_contribution_are_repeated_ids_dropped():
    ids = np.array([0, 2, 0, 3, 2])
    analytic, numeric, dy = table_gradients(ids)
    layer = Embedding(4, 2, rng=0, dtype=F64)
    found = suspect(analytic, numeric, target=layer, inputs=(ids,), dy=dy)
    assert found == "repeated_ids_dropped"
    assert "np.add.at" in hint(analytic, numeric, target=layer, inputs=(ids,), dy=dy)


def test_an_error_in_a_row_used_once_is_not_repeated_ids():
    ids = np.array([0, 2, 0, 3])
    analytic, numeric, dy = table_gradients(ids)
    analytic[3] *= 1.5  # row 3 is used once
    assert suspect(analytic, numeric, inputs=(ids,), dy=dy) is None


def test_a_repeated_row_that_holds_no_single_contribution_is_not_repeated_ids():
    ids = np.array([0, 0, 1])
    analytic, numeric, dy = table_gradients(ids)
    analytic[0] = 0.5 * numeric[0]
    assert suspect(analytic, numeric, inputs=(ids,), dy=dy) is None


# ---------------------------------------------------------------------- relu_negative_slope
def activation_case(layer, x, seed=1):
    """An elementwise layer at x: (its output y, a random dy)."""
    return layer.forward(x), normal(x.shape, seed)


@pytest.mark.parametrize("layer", [ReLU(), LeakyReLU(0.1)], ids=["relu", "leaky"])
def test_slope_one_below_zero_is_a_relu_negative_slope(layer):
    x = normal((4, 3))
    y, dy = activation_case(layer, x)
    numeric = layer.backward(dy)
    context = dict(value=x, target=layer, dy=dy, output=y, name="input")
    assert suspect(dy, numeric, **context) == "relu_negative_slope"
    assert "(x > 0)" in hint(dy, numeric, **context)


def test_entries_on_the_kink_do_not_hide_a_relu_slope():
    layer, x = ReLU(), normal((4, 3))
    x[0, :2] = [3e-7, -2e-7]  # within a step h = 1e-6 of the kink: centred differences of 1/2-ish
    y, dy = activation_case(layer, x)
    numeric = layer.backward(dy)
    numeric[0, :2] = dy[0, :2] * (x[0, :2] + 5e-7) / 1e-6
    context = dict(value=x, target=layer, dy=dy, output=y, name="input")
    assert suspect(dy, numeric, **context) == "relu_negative_slope"


def test_a_negative_input_next_to_the_kink_is_evidence_of_the_slope():
    layer = ReLU()
    x = np.array([[4e-7, -4e-7, 1.0, 2.0]])  # the only negative input sits within h of 0
    y, dy = activation_case(layer, x)
    numeric = dy * np.clip((x + 5e-7) / 1e-6, 0, 1)  # centred differences with h = 1e-6
    context = dict(value=x, target=layer, dy=dy, output=y, name="input")
    assert suspect(dy, numeric, **context) == "relu_negative_slope"


def test_an_error_at_a_positive_input_is_not_a_relu_slope():
    layer, x = ReLU(), normal((4, 3))
    y, dy = activation_case(layer, x)
    analytic = dy.copy()  # slope 1 below zero ...
    analytic[x > 0] *= 2  # ... and wrong above it too
    assert suspect(analytic, layer.backward(dy), value=x, target=layer, dy=dy, output=y,
                   name="input") is None


def test_a_layer_with_parameters_is_no_activation():
    x = normal((4, 3))
    dy = normal((4, 3), seed=1)
    layer = Dense(3, 3, rng=0, dtype=F64)
    assert suspect(dy, dy * (x > 0), value=x, target=layer, dy=dy, output=x, name="input") is None


# ---------------------------------------------------------------- derivative_at_wrong_point
@pytest.mark.parametrize("layer, local, words", [
    (Sigmoid(), lambda x, y: x * (1 - x), "y * (1 - y)"),
    (Tanh(), lambda x, y: 1 - x * x, "(1 - y^2)"),
    (Sigmoid(), lambda x, y: sigmoid(y) * (1 - sigmoid(y)), "do not apply sigmoid again"),
    (Tanh(), lambda x, y: 1 - np.tanh(y) ** 2, "do not apply tanh again"),
], ids=["sigmoid at x", "tanh at x", "sigmoid at y", "tanh at y"])
def test_a_derivative_at_the_wrong_point_is_named(layer, local, words):
    x = normal((3, 4))
    y, dy = activation_case(layer, x)
    context = dict(value=x, target=layer, dy=dy, output=y, name="input")
    analytic = dy * local(x, y)
    assert suspect(analytic, layer.backward(dy), **context) == "derivative_at_wrong_point"
    assert words in hint(analytic, layer.backward(dy), **context)


def test_an_activation_off_by_one_percent_is_not_a_wrong_point():
    layer, x = Sigmoid(), normal((3, 4))
    y, dy = activation_case(layer, x)
    numeric = layer.backward(dy)
    assert suspect(1.01 * numeric, numeric, value=x, target=layer, dy=dy, output=y,
                   name="input") is None


# -------------------------------------------------------------------------- bptt_off_by_one
def rnn_input_gradient(seed=0):
    """An RNN (it has the square W_h) and a random 'numeric' dx (N, T, D) for x (N, T, D)."""
    return RNN(2, 3, rng=0, dtype=F64), normal((2, 4, 2), seed), normal((2, 4, 2), seed + 1)


@pytest.mark.parametrize("step, words", [(0, "first"), (-1, "last")])
def test_an_error_at_one_end_step_is_bptt_off_by_one(step, words):
    layer, x, numeric = rnn_input_gradient()
    analytic = numeric.copy()
    analytic[:, step] = 0
    context = dict(value=x, target=layer, inputs=(x,), name="input")
    assert suspect(analytic, numeric, **context) == "bptt_off_by_one"
    assert words in hint(analytic, numeric, **context)


@pytest.mark.parametrize("shift, words", [(1, "late"), (-1, "early")])
def test_a_gradient_shifted_by_a_step_is_bptt_off_by_one(shift, words):
    layer, x, numeric = rnn_input_gradient()
    analytic = np.roll(numeric, shift, axis=1)
    context = dict(value=x, target=layer, inputs=(x,), name="input")
    assert suspect(analytic, numeric, **context) == "bptt_off_by_one"
    assert words in hint(analytic, numeric, **context)


def test_an_error_in_a_middle_step_or_without_recurrence_is_not_bptt():
    layer, x, numeric = rnn_input_gradient()
    analytic = numeric.copy()
    analytic[:, 2] *= 2
    assert suspect(analytic, numeric, value=x, target=layer, inputs=(x,), name="input") is None
    analytic = numeric.copy()
    analytic[:, 0] *= 2  # an end step, but the target has no recurrent (square) weight
    dense_like = Dense(2, 3, rng=0, dtype=F64)
    assert suspect(analytic, numeric, value=x, target=dense_like, inputs=(x,), name="input") is None


# ----------------------------------------------------------------------- fresh_dropout_mask
def dropout_gradients(p=0.5, shape=(4, 5)):
    """(analytic with a fresh mask, numeric with the forward's, dy)."""
    dy = normal(shape)
    rng = np.random.default_rng(3)
    forward_mask, fresh_mask = (rng.random(shape) >= p for _ in range(2))
    return dy * fresh_mask / (1 - p), dy * forward_mask / (1 - p), dy


def test_a_different_zero_pattern_of_a_random_layer_is_a_fresh_mask():
    analytic, numeric, dy = dropout_gradients()
    layer = Dropout(0.5, rng=0)
    assert suspect(analytic, numeric, target=layer, dy=dy, name="input") == "fresh_dropout_mask"
    assert "mask" in hint(analytic, numeric, target=layer, dy=dy, name="input")


def test_no_fresh_mask_without_randomness_or_with_disagreeing_values():
    analytic, numeric, dy = dropout_gradients()
    assert suspect(analytic, numeric, target=Dense(5, 5, rng=0, dtype=F64), dy=dy) is None
    assert suspect(3 * analytic, numeric, target=Dropout(0.5, rng=0), dy=dy) is None
    assert suspect(np.zeros_like(numeric), numeric, target=Dropout(0.5, rng=0), dy=dy) is None


# ----------------------------------------------------------------------------- unrelated errors
@pytest.mark.parametrize("error", ["noisy", "blank"])
@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("target", [Dense(3, 3, rng=0, dtype=F64), MSELoss(), Sigmoid(),
                                    Dropout(0.3, rng=0), RNN(3, 3, rng=0, dtype=F64)],
                         ids=["dense", "mse", "sigmoid", "dropout", "rnn"])
def test_a_noisy_or_blank_gradient_is_not_named(error, seed, target):
    numeric = normal((3, 3), seed)
    analytic = numeric + 0.1 * normal((3, 3), seed + 100) if error == "noisy" else 0 * numeric
    x = normal((3, 3), seed + 200)
    assert suspect(analytic, numeric, value=x, target=target, inputs=(x,), dy=normal((3, 3)),
                   output=x, name="input") is None
