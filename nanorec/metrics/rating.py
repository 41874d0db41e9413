"""Pointwise metrics: one prediction per (user, item) pair, compared with the true value.

Every function takes ``(y_true, y_pred)``, two 1-D arrays of the same length N, and returns a float.
NaN or infinite values, empty arrays and mismatched lengths raise a ValueError naming the problem.
"""

import numpy as np


def check_pair(y_true, y_pred, pred_name="y_pred"):
    """Return ``y_true, y_pred`` as float64 arrays of shape (N,) after checking them.

    Raises ValueError for arrays that are not 1-D, differ in length, are empty or hold NaN/inf.
    """
    arrays = []
    for name, values in (("y_true", y_true), (pred_name, y_pred)):
        values = np.asarray(values)
        if values.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got shape {values.shape}")
        if values.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold numbers, got dtype {values.dtype}")
        values = values.astype(np.float64)
        if not np.all(np.isfinite(values)):
            bad = int(np.flatnonzero(~np.isfinite(values))[0])
            raise ValueError(f"{name} holds NaN or inf (first at position {bad})")
        arrays.append(values)
    y_true, y_pred = arrays
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} values but {pred_name} has {len(y_pred)}")
    if len(y_true) == 0:
        raise ValueError("cannot compute a metric on empty arrays")
    return y_true, y_pred


def rmse(y_true, y_pred):
    """Root mean squared error: sqrt( (1/N) sum_n (y_pred[n] - y_true[n])^2 )."""
    y_true, y_pred = check_pair(y_true, y_pred)
    return float(np.sqrt(np.mean((y_pred - y_true) ** 2)))


def mae(y_true, y_pred):
    """Mean absolute error: (1/N) sum_n |y_pred[n] - y_true[n]|."""
    y_true, y_pred = check_pair(y_true, y_pred)
    return float(np.mean(np.abs(y_pred - y_true)))


def accuracy(y_true, y_pred):
    """Fraction of exact matches: (1/N) sum_n [y_pred[n] == y_true[n]].

    Compares labels; threshold probabilities first, e.g. ``accuracy(y, p >= 0.5)``.
    """
    y_true, y_pred = check_pair(y_true, y_pred)
    return float(np.mean(y_pred == y_true))


def auc(y_true, y_score):
    """Area under the ROC curve, from ranks (the Mann-Whitney U statistic), ties averaged.

    With P positives (y_true == 1) and M negatives (y_true == 0), and rank[n] the 1-based position
    of y_score[n] in ascending order, tied scores all given the mean of the positions they share:

        AUC = ( sum over positives of rank[n]  -  P (P + 1) / 2 ) / (P M)

    which equals the probability that a random positive scores above a random negative, a tie
    counting one half: (1 / (P M)) sum_{p, m} ( [s_p > s_m] + 0.5 [s_p == s_m] ).

    Parameters
    ----------
    y_true : array (N,) of 0/1 or bool
        Labels; both classes must be present.
    y_score : array (N,) float
        Scores, higher meaning "more likely positive".
    """
    y_true, y_score = check_pair(y_true, y_score, pred_name="y_score")
    if not np.all((y_true == 0) | (y_true == 1)):
        raise ValueError("auc needs binary labels y_true (0/1 or bool)")
    n_positive = int(y_true.sum())
    n_negative = len(y_true) - n_positive
    if n_positive == 0 or n_negative == 0:
        raise ValueError(
            f"auc needs both classes, got {n_positive} positives and {n_negative} negatives"
        )
    ranks = average_ranks(y_score)
    u_statistic = ranks[y_true == 1].sum() - n_positive * (n_positive + 1) / 2
    return float(u_statistic / (n_positive * n_negative))


def average_ranks(values):
    """1-based ranks of ``values`` (N,) in ascending order; tied values share their mean rank.

    Example: values [10, 20, 20, 30] -> ranks [1, 2.5, 2.5, 4].
    """
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    starts_group = np.r_[True, sorted_values[1:] != sorted_values[:-1]]
    group = np.cumsum(starts_group) - 1
    first = np.flatnonzero(starts_group)  # 0-based position where each tie group starts
    end = np.r_[first[1:], len(values)]  # one past its last position
    mean_rank = (first + 1 + end) / 2  # mean of the 1-based positions first+1 .. end
    ranks = np.empty(len(values))
    ranks[order] = mean_rank[group]
    return ranks
