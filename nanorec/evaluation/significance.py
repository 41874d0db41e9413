"""Is model A better than model B on this test set, or is the difference noise?

Two models evaluated on the same test users give two values per user (``EvaluationResult.per_user``:
a hit or a miss, an NDCG, ...). The paired bootstrap resamples the users with replacement and
recomputes the mean difference each time:

    d[u] = a[u] - b[u]                          per user, paired: both models, the same held-out item
    D*   = mean of d over n users drawn with replacement from the n evaluated users
    interval = the (1 - confidence) / 2 and (1 + confidence) / 2 quantiles of D* over the resamples

RMSE is not a mean of per-row values, so ``statistic="rmse"`` takes each model's squared error per
test row and resamples the rows: D* = sqrt(mean of a*) - sqrt(mean of b*), the difference of the two
RMSEs on the same drawn rows.

An interval that holds 0 means the test set cannot tell the two models apart at that confidence.
It answers the question leave-last-out raises on small data: with 943 users one hit moves HR@10
by 0.001, and two models whose HR@10 differ by 0.01 may still be indistinguishable.

    >>> a = evaluate(bpr, test, metrics=["hr@10"]); b = evaluate(knn, test, metrics=["hr@10"])
    >>> paired_bootstrap(a.per_user["hr@10"], b.per_user["hr@10"])
    BootstrapInterval(difference=..., low=..., high=..., confidence=0.95)

Reference: Efron & Tibshirani (1993), "An Introduction to the Bootstrap" (percentile intervals).
"""

from typing import NamedTuple

import numpy as np

from nanorec import _checks


class BootstrapInterval(NamedTuple):
    difference: float  # mean of a - b over the users (statistic "rmse": RMSE of a minus RMSE of b)
    low: float  # the interval's bounds
    high: float
    confidence: float

    def holds_zero(self):
        """True when the interval cannot tell the two models apart."""
        return self.low <= 0.0 <= self.high


STATISTICS = ("mean", "rmse")


def paired_bootstrap(a, b, n_resamples=10_000, confidence=0.95, seed=0, statistic="mean"):
    """Percentile bootstrap interval of mean(a - b) over paired per-user values, or of the
    difference of two RMSEs over paired squared errors.

    Parameters
    ----------
    a, b : float arrays (n,)
        One value per user for each model, the same users in the same order (the per_user
        arrays of two evaluations on the same test split; means over seeds work too). With
        statistic="rmse": each model's squared error per test row, the same rows in the same
        order (means over seeds work too), all >= 0.
    n_resamples : int
        Bootstrap resamples of the n users.
    confidence : float in (0, 1)
    seed : int
        Seeds the resampling.
    statistic : {"mean", "rmse"}
        What is compared on each resample of the n units: "mean": mean(a*) - mean(b*) (hits, NDCG,
        absolute errors); "rmse": sqrt(mean(a*)) - sqrt(mean(b*)). Both draw the same indices from
        the same seed.

    Returns
    -------
    BootstrapInterval(difference, low, high, confidence)
        ``difference`` is the statistic on all n units: mean(a - b), or sqrt(mean(a)) -
        sqrt(mean(b)).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape or len(a) == 0:
        raise ValueError(f"paired_bootstrap needs two 1-D arrays of the same non-zero length, got "
                         f"shapes {a.shape} and {b.shape}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("paired_bootstrap: the per-user values must be finite (NaN or inf found)")
    n_resamples = _checks.positive_int(n_resamples, "n_resamples", "paired_bootstrap")
    _checks.number(confidence, "confidence", "paired_bootstrap", low=0.0, high=1.0, low_open=True,
                   high_open=True)
    _checks.one_of(statistic, "statistic", STATISTICS, "paired_bootstrap")
    if statistic == "mean":
        differences = a - b
        difference = float(differences.mean())

        def resampled(drawn):
            return differences[drawn].mean(axis=1)
    else:
        if np.any(a < 0) or np.any(b < 0):
            raise ValueError('paired_bootstrap(statistic="rmse") takes squared errors, which are '
                             ">= 0; a negative value was given")
        difference = float(np.sqrt(a.mean()) - np.sqrt(b.mean()))

        def resampled(drawn):
            return np.sqrt(a[drawn].mean(axis=1)) - np.sqrt(b[drawn].mean(axis=1))

    n = len(a)
    rng = np.random.default_rng(seed)
    values = np.empty(n_resamples)
    per_batch = max(1, 2**22 // n)  # about 32 MB of indices at a time
    for start in range(0, n_resamples, per_batch):
        count = min(per_batch, n_resamples - start)
        values[start : start + count] = resampled(rng.integers(0, n, size=(count, n)))
    low, high = np.quantile(values, [(1 - confidence) / 2, (1 + confidence) / 2])
    return BootstrapInterval(difference, float(low), float(high), confidence)
