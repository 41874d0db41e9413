import math
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from nanorec.nn.losses import (
    BCELoss,
    BCEWithLogitsLoss,
    BPRLoss,
    MaskedLoss,
    MSELoss,
    SoftmaxCrossEntropyLoss,
)
from nanorec.testing.gradcheck import gradcheck

SETTINGS = settings(max_examples=40, deadline=None)


def floats(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


@st.composite
def batch(draw, pred_values, target_values, two_dim=None):
    """(pred, target, weight or None) with N >= 1 samples, pred (N,) or (N, D)."""
    n = draw(st.integers(1, 5))
    two_dim = draw(st.booleans()) if two_dim is None else two_dim
    shape = (n, draw(st.integers(1, 4))) if two_dim else (n,)
    pred = draw(arrays(np.float64, shape, elements=pred_values))
    target = draw(arrays(np.float64, shape, elements=target_values))
    weight = draw(st.none() | arrays(np.float64, (n,), elements=floats(0.5, 2)))
    return pred, target, weight


def away_from_minimum(residual):
    """BCE has a non-zero minimum (the entropy of soft targets): where every residual is ~0 the
    gradient is ~0 while finite differences still carry round-off of the loss's size, so the
    relative error means nothing. Keep one residual clearly non-zero."""
    assume(np.max(np.abs(residual)) > 0.1)


def assert_gradcheck(loss, *inputs):
    report = gradcheck(loss, *inputs)
    assert report.max_rel_error < 1e-6, str(report)


# --- gradients against finite differences ---------------------------------------------------


@SETTINGS
@given(batch(floats(-3, 3), floats(-3, 3)))
def test_mse_gradcheck(data):
    assert_gradcheck(MSELoss(), *data)


@SETTINGS
@given(batch(floats(0.02, 0.98), floats(0, 1)))
def test_bce_gradcheck(data):
    away_from_minimum(data[0] - data[1])
    assert_gradcheck(BCELoss(), *data)


@SETTINGS
@given(batch(floats(-6, 6), floats(0, 1)))
def test_bce_with_logits_gradcheck(data):
    away_from_minimum(1 / (1 + np.exp(-data[0])) - data[1])
    assert_gradcheck(BCEWithLogitsLoss(), *data)


@SETTINGS
@given(
    n=st.integers(1, 5),
    n_classes=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
    weighted=st.booleans(),
)
def test_softmax_cross_entropy_gradcheck(n, n_classes, seed, weighted):
    rng = np.random.default_rng(seed)
    logits = rng.uniform(-4, 4, (n, n_classes))
    target = rng.integers(0, n_classes, n)
    weight = rng.uniform(0, 2, n) if weighted else None
    assert_gradcheck(SoftmaxCrossEntropyLoss(), logits, target, weight)


@SETTINGS
@given(batch(floats(-4, 4), floats(-4, 4), two_dim=False))
def test_bpr_gradcheck_both_columns(data):
    pos, neg, weight = data
    report = gradcheck(BPRLoss(), np.stack([pos, neg], axis=1), None, weight)
    assert len(report.rows) == 1 and report.max_rel_error < 1e-6, str(report)


@SETTINGS
@given(
    n=st.integers(1, 3),
    steps=st.integers(1, 4),
    n_classes=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
)
def test_softmax_cross_entropy_per_step_gradcheck_with_ignored_steps(n, steps, n_classes, seed):
    """Logits (N, T, C) and targets (N, T), padded steps (-1) ignored."""
    rng = np.random.default_rng(seed)
    logits = rng.uniform(-4, 4, (n, steps, n_classes))
    target = np.where(rng.random((n, steps)) < 0.4, -1, rng.integers(0, n_classes, (n, steps)))
    assert_gradcheck(SoftmaxCrossEntropyLoss(ignore_index=-1), logits, target)


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(1, 4),
    d=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
    base=st.sampled_from(["mse", "bce"]),
)
def test_masked_loss_is_the_masked_sum_over_entries_averaged_over_rows(n, d, seed, base):
    rng = np.random.default_rng(seed)
    pred = rng.normal(0, 2, (n, d))
    mask = (rng.random((n, d)) < 0.6) * rng.uniform(0.5, 2, (n, d))  # 0 or a weight
    if base == "mse":
        loss, target = MaskedLoss(MSELoss()), rng.normal(0, 2, (n, d))
        entry = (pred - target) ** 2
    else:
        loss, target = MaskedLoss(BCEWithLogitsLoss()), (rng.random((n, d)) < 0.5).astype(float)
        p = 1 / (1 + np.exp(-pred))
        entry = -(target * np.log(p) + (1 - target) * np.log(1 - p))
    assert loss.forward(pred, target, weight=mask) == pytest.approx(np.sum(mask * entry) / n,
                                                                    rel=1e-10)
    assert_gradcheck(loss, pred, target, mask)


# --- values on hand-worked examples and independent references -------------------------------


def test_mse_closed_form():
    loss = MSELoss()
    assert loss.forward(np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 0.0])) == pytest.approx(13 / 3)
    np.testing.assert_allclose(loss.backward(), [0.0, 4 / 3, 2.0])
    # weights multiply each sample's loss; the divisor stays N = 3, not sum(w)
    value = loss.forward(np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 0.0]), np.array([1, 1, 2]))
    assert value == pytest.approx((0 + 4 + 18) / 3)
    np.testing.assert_allclose(loss.backward(), [0.0, 4 / 3, 4.0])


def test_mse_two_dim_is_mean_over_all_entries():
    loss = MSELoss()
    assert loss.forward(np.array([[1.0, 3.0]]), np.zeros((1, 2))) == pytest.approx(5.0)
    np.testing.assert_allclose(loss.backward(), [[1.0, 3.0]])  # 2 (p - t) / (N D)


def test_bce_closed_form():
    loss = BCELoss()
    assert loss.forward(np.array([0.5]), np.array([1.0])) == pytest.approx(math.log(2))
    assert loss.forward(np.array([0.8, 0.8]), np.array([0.0, 1.0])) == pytest.approx(
        -(math.log(0.2) + math.log(0.8)) / 2
    )
    # dL/dp = (p - y) / (p (1 - p)) / N
    np.testing.assert_allclose(loss.backward(), np.array([0.8, -0.2]) / 0.16 / 2)


def test_bce_with_logits_closed_form():
    loss = BCEWithLogitsLoss()
    assert loss.forward(np.array([0.0]), np.array([1.0])) == pytest.approx(math.log(2))
    assert loss.forward(np.array([2.0]), np.array([1.0])) == pytest.approx(math.log1p(math.exp(-2)))
    np.testing.assert_allclose(loss.backward(), [1 / (1 + math.exp(-2)) - 1])


@SETTINGS
@given(batch(floats(-8, 8), floats(0, 1)))
def test_bce_with_logits_equals_bce_of_sigmoid(data):
    z, target, weight = data
    with_logits, on_probs = BCEWithLogitsLoss(), BCELoss()
    expected = on_probs.forward(1 / (1 + np.exp(-z)), target, weight)
    assert with_logits.forward(z, target, weight) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_softmax_cross_entropy_closed_form():
    loss = SoftmaxCrossEntropyLoss()
    assert loss.forward(np.zeros((1, 3)), np.array([1])) == pytest.approx(math.log(3))
    np.testing.assert_allclose(loss.backward(), [[1 / 3, -2 / 3, 1 / 3]])
    z = np.array([[1.0, 2.0, 3.0]])
    expected = math.log(math.e + math.e**2 + math.e**3) - 3
    assert loss.forward(z, np.array([2])) == pytest.approx(expected)
    softmax = np.exp(z) / np.exp(z).sum()
    np.testing.assert_allclose(loss.backward(), softmax - [[0, 0, 1]])


@SETTINGS
@given(
    arrays(np.float64, (4, 2), elements=floats(-5, 5)),
    arrays(np.int64, 4, elements=st.integers(0, 1)),
)
def test_two_class_softmax_is_logistic_on_the_logit_difference(logits, target):
    softmax_ce, logistic = SoftmaxCrossEntropyLoss(), BCEWithLogitsLoss()
    expected = logistic.forward(logits[:, 1] - logits[:, 0], target.astype(np.float64))
    assert softmax_ce.forward(logits, target) == pytest.approx(expected, rel=1e-9)
    dz = softmax_ce.backward()
    np.testing.assert_allclose(dz[:, 1], logistic.backward(), atol=1e-12)
    np.testing.assert_allclose(dz.sum(axis=1), 0, atol=1e-12)


def test_bpr_closed_form():
    loss = BPRLoss()
    assert loss.forward(np.array([[0.5, 0.5]])) == pytest.approx(math.log(2))
    assert loss.forward(np.array([[1.0, 0.0], [0.0, 0.0]]), None, np.array([2.0, 0.0])) == (
        pytest.approx(2 * math.log1p(math.exp(-1)) / 2)
    )
    dpred = loss.backward()
    np.testing.assert_allclose(dpred[:, 0], [-2 / (1 + math.e) / 2, 0.0])
    np.testing.assert_allclose(dpred[:, 1], -dpred[:, 0])


@pytest.mark.parametrize(
    "loss, pred, target",
    [
        (MSELoss(), np.array([[0.3, -1.0], [2.0, 0.5]]), np.array([[0.0, 1.0], [1.0, 1.0]])),
        (BCELoss(), np.array([0.3, 0.9]), np.array([0.0, 1.0])),
        (BCEWithLogitsLoss(), np.array([-1.0, 2.0]), np.array([0.0, 1.0])),
        (SoftmaxCrossEntropyLoss(), np.array([[0.1, 2.0], [1.0, -1.0]]), np.array([1, 1])),
    ],
)
def test_unit_weights_equal_no_weights(loss, pred, target):
    plain = loss.forward(pred, target)
    dplain = loss.backward()
    assert loss.forward(pred, target, np.ones(2)) == pytest.approx(plain, rel=1e-12)
    np.testing.assert_allclose(loss.backward(), dplain, atol=1e-15)
    assert loss.forward(pred, target, np.array([3.0, 0.0])) != pytest.approx(plain)


def test_ignored_targets_have_no_loss_and_no_gradient():
    """ignore_index: the mean runs over the real samples only (N counts them), as PyTorch's."""
    z = np.array([[1.0, 2.0, 3.0], [5.0, -1.0, 0.0], [0.0, 0.0, 0.0]])
    target = np.array([2, -1, 0])
    loss = SoftmaxCrossEntropyLoss(ignore_index=-1)
    real = SoftmaxCrossEntropyLoss()
    expected = real.forward(z[[0, 2]], target[[0, 2]])
    assert loss.forward(z, target) == pytest.approx(expected, rel=1e-12)
    dz = loss.backward()
    np.testing.assert_array_equal(dz[1], 0)
    np.testing.assert_allclose(dz[[0, 2]], real.backward(), atol=1e-15)
    # weights scale the real samples; the divisor stays their count (2)
    weighted = loss.forward(z, target, np.array([3.0, 7.0, 0.5]))
    parts = [SoftmaxCrossEntropyLoss().forward(z[[r]], target[[r]]) for r in (0, 2)]
    assert weighted == pytest.approx((3.0 * parts[0] + 0.5 * parts[1]) / 2, rel=1e-12)


def test_a_batch_of_padding_only_has_loss_zero():
    loss = SoftmaxCrossEntropyLoss(ignore_index=-1)
    assert loss.forward(np.ones((2, 3)), np.array([-1, -1])) == 0.0
    np.testing.assert_array_equal(loss.backward(), 0)


@SETTINGS
@given(
    n=st.integers(1, 3),
    steps=st.integers(1, 4),
    n_classes=st.integers(2, 5),
    seed=st.integers(0, 2**32 - 1),
)
def test_per_step_logits_are_the_flattened_steps(n, steps, n_classes, seed):
    """(N, T, C) with (N, T) is the (N T, C) loss of its steps; the gradient comes back (N, T, C)."""
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((n, steps, n_classes))
    target = np.where(rng.random((n, steps)) < 0.4, -1, rng.integers(0, n_classes, (n, steps)))
    assume((target != -1).any())
    per_step, flat = SoftmaxCrossEntropyLoss(ignore_index=-1), SoftmaxCrossEntropyLoss()
    real = (target != -1).ravel()
    value = per_step.forward(logits, target)
    assert value == pytest.approx(
        flat.forward(logits.reshape(-1, n_classes)[real], target.ravel()[real]), rel=1e-12)
    dz = per_step.backward()
    assert dz.shape == logits.shape
    np.testing.assert_allclose(dz.reshape(-1, n_classes)[real], flat.backward(), atol=1e-15)
    np.testing.assert_array_equal(dz.reshape(-1, n_classes)[~real], 0)


def test_masked_loss_sums_a_rows_entries_and_ignores_masked_out_ones():
    loss = MaskedLoss(MSELoss())
    target, mask = np.array([[1.0, 2.0, 3.0]]), np.array([[1.0, 0.0, 1.0]])
    first = loss.forward(np.array([[1.5, 9.0, 3.0]]), target, mask)
    assert loss.backward()[0, 1] == 0
    assert loss.forward(np.array([[1.5, -7.0, 3.0]]), target, mask) == first == 0.25
    # a sum over the row's entries, not a mean: two errors of 0.5 cost 0.5, not 0.25
    assert loss.forward(np.array([[1.5, 2.0, 3.5]]), target, np.ones((1, 3))) == 0.5


# --- stability ------------------------------------------------------------------------------


def assert_stable(loss, *inputs, expected):
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        value = loss.forward(*inputs)
        grads = loss.backward()
    grads = grads if isinstance(grads, tuple) else (grads,)
    assert math.isfinite(value)
    assert value == pytest.approx(expected, rel=1e-6)
    for grad, x in zip(grads, inputs):
        assert grad.dtype == x.dtype and np.all(np.isfinite(grad))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_logits_are_stable(dtype):
    z = np.array([1e4, -1e4, 1e4, -1e4], dtype)
    y = np.array([0.0, 1.0, 1.0, 0.0], dtype)
    assert_stable(BCEWithLogitsLoss(), z, y, expected=1e4 / 2)  # two samples pay 1e4, two pay ~0
    logits = np.array([[1e4, -1e4], [-1e4, 1e4]], dtype)
    assert_stable(SoftmaxCrossEntropyLoss(), logits, np.array([1, 1]), expected=2e4 / 2)
    assert_stable(BPRLoss(), np.stack([z, -z], axis=1), expected=(2e4 + 2e4) / 4)
    assert_stable(MSELoss(), z, np.zeros_like(z), expected=1e8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_clips_saturated_probabilities(dtype):
    p = np.array([0.0, 1.0, 1.0], dtype)
    y = np.array([1.0, 0.0, 1.0], dtype)
    eps = np.finfo(dtype).eps
    assert_stable(BCELoss(), p, y, expected=-2 * math.log(eps) / 3)
    loss = BCELoss()
    loss.forward(p, y)
    dp = loss.backward()
    assert dp[0] < -1e5 and dp[1] > 1e5  # a confident wrong prediction still gets a strong push


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradient_keeps_pred_dtype(dtype):
    rng = np.random.default_rng(0)
    pred = rng.uniform(0.1, 0.9, (3, 2)).astype(dtype)
    for loss in (MSELoss(), BCELoss(), BCEWithLogitsLoss()):
        loss.forward(pred, np.ones((3, 2)), weight=np.array([1.0, 2.0, 0.5]))
        assert loss.backward().dtype == dtype
    softmax_ce = SoftmaxCrossEntropyLoss()
    softmax_ce.forward(pred, np.array([0, 1, 1]), weight=np.ones(3))
    assert softmax_ce.backward().dtype == dtype


# --- errors ---------------------------------------------------------------------------------

P2, T2 = np.array([0.2, 0.7]), np.array([0.0, 1.0])


@pytest.mark.parametrize(
    "loss, args, error, match",
    [
        (MSELoss(), (P2, np.zeros(3)), ValueError, r"pred has shape \(2,\) but target has shape \(3,\)"),
        (MSELoss(), (P2, np.zeros((2, 1))), ValueError, "target has shape"),
        (MSELoss(), (P2, T2, np.ones(3)), ValueError, r"weight must have shape \(2,\)"),
        (MSELoss(), (P2, np.array([0.0, np.nan])), ValueError, "target contains NaN"),
        (MSELoss(), (P2, T2, np.array([1.0, np.inf])), ValueError, "weight contains NaN or inf"),
        (MSELoss(), (P2, T2, np.array([1.0, -1.0])), ValueError, "weight must be >= 0"),
        (MSELoss(), (np.array([np.nan, 0.0]), T2), ValueError, "pred contains NaN"),
        (MSELoss(), (np.array([1, 2]), T2), TypeError, "pred must be a float array"),
        (MSELoss(), (np.zeros(0), np.zeros(0)), ValueError, "non-empty batch"),
        (BCELoss(), (P2, np.array([0.0, 2.0])), ValueError, r"target must lie in \[0, 1\]"),
        (BCELoss(), (np.array([-0.5, 3.0]), T2), ValueError, "use BCEWithLogitsLoss"),
        (BCEWithLogitsLoss(), (P2, np.array([-1.0, 1.0])), ValueError, r"target must lie in \[0, 1\]"),
        (SoftmaxCrossEntropyLoss(), (np.zeros((2, 3)), np.array([0, 3])), ValueError, "class id 3"),
        (SoftmaxCrossEntropyLoss(), (np.zeros((2, 3)), np.array([-1, 0])), ValueError, "class id -1"),
        (SoftmaxCrossEntropyLoss(), (np.zeros((2, 3)), np.array([0.0, 1.0])), TypeError, "integer"),
        (SoftmaxCrossEntropyLoss(), (np.zeros(3), np.array([0, 1, 2])), ValueError, r"\(N, C\)"),
        (SoftmaxCrossEntropyLoss(), (np.zeros((2, 3)), np.array([0])), ValueError, r"shape \(2,\)"),
        (BPRLoss(), (P2,), ValueError, r"pred must be \(N, 2\) scores"),
        (BPRLoss(), (np.array([[0.0, np.inf]]),), ValueError, "pred contains NaN or inf"),
        (BPRLoss(), (np.zeros((2, 2)), np.zeros(2)), ValueError, "takes no target"),
        (SoftmaxCrossEntropyLoss(ignore_index=-1), (np.zeros((2, 3)), np.array([0, -2])), ValueError,
         "class id -2"),
        (SoftmaxCrossEntropyLoss(), (np.zeros((2, 2, 3)), np.zeros((2, 2), int), np.ones(4)),
         ValueError, r"\(N, T, C\) without weights"),
        (SoftmaxCrossEntropyLoss(), (np.zeros((2, 2, 3)), np.zeros(2, int)), ValueError,
         r"target must have shape \(2, 2\)"),
        (MaskedLoss(MSELoss()), (np.zeros((2, 3)), np.zeros((2, 3)), np.ones((2, 2))), ValueError,
         r"the mask \(weight\) has shape \(2, 2\), pred has \(2, 3\)"),
        (MaskedLoss(MSELoss()), (np.zeros((2, 3)), np.zeros((2, 3)), -np.ones((2, 3))), ValueError,
         "finite numbers >= 0"),
        (MaskedLoss(MSELoss()), (np.full((2, 3), np.nan), np.zeros((2, 3)), np.ones((2, 3))),
         ValueError, "NaN"),
        (MaskedLoss(MSELoss()), (np.zeros(3), np.zeros(3), np.ones(3)), ValueError,
         r"pred must have shape \(N, D\)"),
        (MaskedLoss(BCEWithLogitsLoss()), (np.zeros((1, 2)), np.full((1, 2), 2.0), np.ones((1, 2))),
         ValueError, r"target must lie in \[0, 1\]"),
    ],
)
def test_bad_input_raises_clear_error(loss, args, error, match):
    with pytest.raises(error, match=match):
        loss.forward(*args)


def test_masked_loss_needs_an_elementwise_base():
    with pytest.raises(TypeError, match="elementwise loss"):
        MaskedLoss(BPRLoss())


@pytest.mark.parametrize(
    "loss", [MSELoss(), BCELoss(), BCEWithLogitsLoss(), SoftmaxCrossEntropyLoss(), BPRLoss(),
             MaskedLoss(MSELoss())]
)
def test_backward_before_forward(loss):
    with pytest.raises(RuntimeError, match="backward called before .*forward"):
        loss.backward()
