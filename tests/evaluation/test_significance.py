"""paired_bootstrap: exact on degenerate inputs, calibrated on simulated ones, clear on bad ones."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanorec.evaluation import paired_bootstrap


@settings(max_examples=30, deadline=None)
@given(values=st.lists(st.floats(0, 1), min_size=1, max_size=50), shift=st.floats(-1, 1))
def test_a_constant_difference_is_its_own_interval(values, shift):
    b = np.array(values)
    interval = paired_bootstrap(b + shift, b, n_resamples=200)
    for bound in interval[:3]:  # every resample's mean difference is the shift
        assert bound == pytest.approx(shift, abs=1e-12)
    assert paired_bootstrap(b, b, n_resamples=50).holds_zero()


def test_interval_covers_the_true_difference_at_its_confidence():
    # Two "models" on 400 users: hits with probabilities 0.30 and 0.25 (true difference 0.05),
    # drawn 200 times. A 90% interval must hold 0.05 in about 90% of the draws: between 80% and
    # 97% (a binomial(200, 0.9) count lies in that range with probability > 0.999).
    rng = np.random.default_rng(0)
    covered, excludes_zero = 0, 0
    for trial in range(200):
        p = rng.random(400)  # users differ; each model's hit is tied to the user's p
        a = (p < 0.30).astype(float)
        b = (rng.random(400) < 0.25 / 0.30 * a).astype(float)  # hits a subset of a's: paired
        interval = paired_bootstrap(a, b, n_resamples=500, confidence=0.9, seed=trial)
        covered += interval.low <= 0.05 <= interval.high
        excludes_zero += not interval.holds_zero()
    assert 160 <= covered <= 194
    assert excludes_zero > 150  # a 0.05 difference on 400 paired users is usually detected


@pytest.mark.parametrize("a, b, options, message", [
    (np.zeros(3), np.zeros(4), {}, "same non-zero length"),
    (np.zeros(0), np.zeros(0), {}, "same non-zero length"),
    (np.array([0.0, np.nan]), np.zeros(2), {}, "finite"),
    (np.zeros(2), np.zeros(2), {"confidence": 1.0}, "confidence"),
    (np.zeros(2), np.zeros(2), {"n_resamples": 0}, "n_resamples"),
])
def test_bad_input_is_named(a, b, options, message):
    with pytest.raises(ValueError, match=message):
        paired_bootstrap(a, b, **options)


def _reference(a, b, n_resamples, confidence, seed, statistic):
    """The bootstrap written as a loop over resamples, from the same draws (one batch of indices:
    n_resamples * n is small here)."""
    drawn = np.random.default_rng(seed).integers(0, len(a), size=(n_resamples, len(a)))
    if statistic == "mean":
        values = [np.mean(a[rows]) - np.mean(b[rows]) for rows in drawn]
        difference = np.mean(a) - np.mean(b)
    else:
        values = [np.sqrt(np.mean(a[rows])) - np.sqrt(np.mean(b[rows])) for rows in drawn]
        difference = np.sqrt(np.mean(a)) - np.sqrt(np.mean(b))
    low, high = np.quantile(values, [(1 - confidence) / 2, (1 + confidence) / 2])
    return difference, low, high


@settings(max_examples=30, deadline=None)
@given(pairs=st.lists(st.tuples(st.floats(0, 4), st.floats(0, 4)), min_size=1, max_size=40),
       statistic=st.sampled_from(["mean", "rmse"]), confidence=st.floats(0.5, 0.99),
       seed=st.integers(0, 2**32 - 1))
def test_both_statistics_match_a_loop_over_the_resamples(pairs, statistic, confidence, seed):
    a, b = np.array(pairs).T
    interval = paired_bootstrap(a, b, n_resamples=300, confidence=confidence, seed=seed,
                                statistic=statistic)
    expected = _reference(a, b, 300, confidence, seed, statistic)
    np.testing.assert_allclose(interval[:3], expected, rtol=1e-9, atol=1e-12)


def test_rmse_difference_is_the_difference_of_the_two_rmses():
    rng = np.random.default_rng(1)
    errors_a, errors_b = rng.normal(0, 0.9, 500), rng.normal(0, 1.0, 500)
    interval = paired_bootstrap(errors_a**2, errors_b**2, n_resamples=2000, statistic="rmse")
    rmse_a, rmse_b = np.sqrt(np.mean(errors_a**2)), np.sqrt(np.mean(errors_b**2))
    assert interval.difference == pytest.approx(rmse_a - rmse_b, rel=1e-12)
    assert interval.low < interval.difference < interval.high


@pytest.mark.parametrize("options, message", [
    ({"statistic": "median"}, "statistic must be one of"),
    ({"statistic": "rmse", "a": np.array([-1.0, 1.0])}, "squared errors"),
])
def test_bad_statistic_inputs_are_named(options, message):
    a = options.pop("a", np.ones(2))
    with pytest.raises(ValueError, match=message):
        paired_bootstrap(a, np.ones(2), **options)
