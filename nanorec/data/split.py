"""Train/test splits of an Interactions log, with no test row in train.

Every split returns Interactions that share the full id maps and features of the data they come
from (``subset``), so a user or item seen only in the test part still has a valid index.

Cold start is reported, not hidden: when test rows hold users or items that have no train row,
the split issues a ``ColdStartWarning`` naming how many (such rows stay in test). Silence it with
``warnings.simplefilter("ignore", ColdStartWarning)`` when it is expected.

    split            test rows                                     random?
    kfold            fold k of a shuffled partition, k = 0..K-1     seed
    holdout          a random test_size share                      seed
    leave_last_out   each user's latest row                        no
    temporal         rows at or after a global cutoff time          no
"""

import math
import warnings
from typing import NamedTuple

import numpy as np

from nanorec import _checks

from nanorec.data.interactions import Interactions


class ColdStartWarning(UserWarning):
    """Test rows whose user or item has no row in train."""


def kfold(data, n_splits=5, seed=0):
    """K-fold cross-validation over interactions.

    The N rows are shuffled with ``np.random.default_rng(seed)`` and cut into ``n_splits`` folds
    whose sizes differ by at most one (``np.array_split``). Split k tests on fold k and trains on
    the other folds, so each row is tested exactly once.

    Returns
    -------
    list of (train, test) Interactions, ``n_splits`` pairs
    """
    if not isinstance(n_splits, (int, np.integer)) or not 2 <= n_splits <= len(data):
        raise ValueError(
            f"n_splits must be an integer from 2 to the number of rows ({len(data)}), got {n_splits!r}"
        )
    permutation = np.random.default_rng(seed).permutation(len(data))
    splits = []
    for k, test_rows in enumerate(np.array_split(permutation, n_splits)):
        splits.append(_split(data, _mask(len(data), test_rows), f"kfold split {k}"))
    return splits


def holdout(data, test_size=0.2, seed=0):
    """A random train/test split: ceil(test_size * N) rows, drawn with ``default_rng(seed)``, are test.

    Returns
    -------
    (train, test) Interactions
    """
    n_test = _n_test_rows(len(data), test_size)
    test_rows = np.random.default_rng(seed).permutation(len(data))[:n_test]
    return _split(data, _mask(len(data), test_rows), "holdout")


def leave_last_out(data):
    """Hold out each user's latest interaction.

    Rule: per user, the row with the largest timestamp is the test row; among rows that share the
    latest timestamp, the one with the LARGER raw item id (in the sort order of ``item_ids``) is
    held out. Users with a single interaction keep it in train (they have no history to predict
    from), so test holds at most one row per user and never a row older than a train row of the
    same user. When no user has two rows, nothing is held out, with a UserWarning saying so.

    Returns
    -------
    (train, test) Interactions
    """
    _require_timestamps(data, "leave_last_out")
    users, times = data.user_index, data.timestamps
    item_rank = np.empty(data.n_items, dtype=np.int64)  # position of each item's raw id in sorted order
    item_rank[np.argsort(data.item_ids)] = np.arange(data.n_items)
    latest_time = _max_per_user(data.n_users, users, times)
    at_latest = times == latest_time[users]
    largest_rank = _max_per_user(data.n_users, users[at_latest], item_rank[data.item_index[at_latest]])
    # a (user, item) pair occurs once, so exactly one row per user passes both tests
    is_last = at_latest & (item_rank[data.item_index] == largest_rank[users])
    has_history = np.bincount(users, minlength=data.n_users) > 1
    if not has_history.any():
        warnings.warn("leave_last_out: no user has two rows or more, so nothing is held out (the "
                      "test part is empty); use a random holdout to test on such a log",
                      UserWarning, stacklevel=2)
    return _split(data, is_last & has_history[users], "leave_last_out")


def temporal(data, cutoff=None, test_size=0.2):
    """A global time split: rows with timestamp >= cutoff are test, earlier rows are train.

    With ``cutoff=None`` the cutoff is the timestamp of the ceil(test_size * N)-th latest row, so
    test holds that many rows, or more when other rows share the cutoff time (a time is never
    split between train and test). Every train row is strictly older than every test row.

    Returns
    -------
    (train, test) Interactions
    """
    _require_timestamps(data, "temporal")
    if cutoff is None:
        n_test = _n_test_rows(len(data), test_size)
        cutoff = np.sort(data.timestamps)[len(data) - n_test]
    test_mask = data.timestamps >= cutoff
    if test_mask.all() or not test_mask.any():
        span = f"[{data.timestamps.min()}, {data.timestamps.max()}]"
        raise ValueError(f"cutoff {cutoff} leaves train or test empty (timestamps span {span})")
    return _split(data, test_mask, "temporal")


def _split(data, test_mask, label):
    """(train, test) from a boolean test mask; warn about cold-start test users and items."""
    train, test = data.subset(~test_mask), data.subset(test_mask)
    _warn_cold_start(train, test, label)
    return train, test


def _warn_cold_start(train, test, label):
    seen_users = np.bincount(train.user_index, minlength=train.n_users) > 0
    seen_items = np.bincount(train.item_index, minlength=train.n_items) > 0
    cold_rows = ~seen_users[test.user_index] | ~seen_items[test.item_index]
    if cold_rows.any():
        n_users = np.count_nonzero(~seen_users & (np.bincount(test.user_index, minlength=test.n_users) > 0))
        n_items = np.count_nonzero(~seen_items & (np.bincount(test.item_index, minlength=test.n_items) > 0))
        warnings.warn(
            f"{label}: {n_users} test users and {n_items} test items have no train rows "
            f"(cold start, {int(cold_rows.sum())} of {len(test)} test rows); they stay in test",
            ColdStartWarning,
            stacklevel=4,  # point at the caller of kfold / holdout / leave_last_out / temporal
        )


def _max_per_user(n_users, users, values):
    """values.max() over the rows of each user (the int64 minimum for users without rows)."""
    largest = np.full(n_users, np.iinfo(np.int64).min)
    np.maximum.at(largest, users, values)
    return largest


def _mask(n_rows, rows):
    mask = np.zeros(n_rows, dtype=bool)
    mask[rows] = True
    return mask


def _n_test_rows(n_rows, test_size):
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be a fraction in (0, 1), got {test_size!r}")
    n_test = math.ceil(test_size * n_rows)
    if not 1 <= n_test < n_rows:
        raise ValueError(f"test_size={test_size} of {n_rows} rows leaves train or test empty")
    return n_test


def _require_timestamps(data, split_name):
    if data.timestamps is None:
        raise ValueError(f"{split_name} needs timestamps, and these interactions have none")


# ---------------------------------------------------------------------------------------------
# Cold start: hold out whole users and whole items
#     cold users   a random user_fraction of the users with rows: ALL their rows leave train
#     cold items   a random item_fraction of the items with rows: ALL their rows leave train
#     train        the rows of warm users with warm items
#     user_test    the rows of cold users with warm items
#     item_test    the rows of warm users with cold items
#     (the few rows of a cold user with a cold item are in no part: they would test both at once)
# Every part keeps the full id maps and features, so a cold user or item still has an index and its
# feature row; only its interactions are hidden. nanorec.evaluation.cold measures models on them.
# ---------------------------------------------------------------------------------------------


class ColdStartSplit(NamedTuple):
    """The three parts of ``cold_start_split`` (unpack as ``train, user_test, item_test``)."""

    train: Interactions
    user_test: Interactions
    item_test: Interactions


def cold_start_split(data, user_fraction=0.1, item_fraction=0.1, seed=0):
    """Hold out whole users and whole items (see the module docstring).

    Parameters
    ----------
    data : Interactions
    user_fraction, item_fraction : float in [0, 1)
        Share of the users (items) with at least one row to make cold: ceil(fraction * count)
        of them, drawn without replacement.
    seed : int
        ``np.random.default_rng(seed)`` draws the cold users, then the cold items.

    Returns
    -------
    ColdStartSplit(train, user_test, item_test)
    """
    if not isinstance(data, Interactions):
        raise TypeError(f"cold_start_split expects an Interactions, got {type(data).__name__}")
    rng = np.random.default_rng(seed)
    cold_user = _draw_cold(rng, data.user_index, data.n_users, user_fraction, "user_fraction")
    cold_item = _draw_cold(rng, data.item_index, data.n_items, item_fraction, "item_fraction")
    row_user_cold, row_item_cold = cold_user[data.user_index], cold_item[data.item_index]
    train = ~row_user_cold & ~row_item_cold
    if not train.any():
        raise ValueError("cold_start_split left no training rows: lower user_fraction or item_fraction")
    return ColdStartSplit(
        data.subset(train),
        data.subset(row_user_cold & ~row_item_cold),
        data.subset(~row_user_cold & row_item_cold),
    )


def _draw_cold(rng, index, size, fraction, name):
    """Bool (size,): a random ceil(fraction * n_active) of the ids that occur in ``index``."""
    _checks.fraction(fraction, name)
    active = np.flatnonzero(np.bincount(index, minlength=size) > 0)
    chosen = rng.choice(active, math.ceil(fraction * len(active)), replace=False)
    cold = np.zeros(size, dtype=bool)
    cold[chosen] = True
    return cold
