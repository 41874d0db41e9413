"""Fixtures shared by the model tests: a long-tailed data set and the tail's share of top-10 lists,
small generated logs, the RMSE of a rating model, and the check that a fused kernel trains as its
composed network."""

import numpy as np
import pytest

from nanorec.data.datasets import load
from nanorec.data.interactions import Interactions

FUSED_RTOL = 1e-9  # fused kernel against the composed network in float64 (fastmath reorders sums)


@pytest.fixture(scope="module")
def long_tail():
    """Ratings with a strong popularity skew (popularity_exponent 1)."""
    return load("synthetic", seed=0, n_users=300, n_items=120, n_interactions=4000,
                popularity_exponent=1.0, n_factors=2)


@pytest.fixture(scope="session")
def tail_share_of_top10():
    """share(model, data): the share of all top-10 slots given to the half of the items with the
    fewest train rows."""

    def share(model, data):
        counts = np.bincount(data.item_index, minlength=data.n_items)
        tail = np.argsort(counts, kind="stable")[: data.n_items // 2]
        top = np.argsort(-model.score_items(np.arange(data.n_users)), axis=1)[:, :10]
        return np.isin(top, tail).mean()

    return share


@pytest.fixture(scope="session")
def rmse():
    """rmse(model, test): root mean squared error of ``score_pairs`` on test's ratings."""

    def error(model, test):
        errors = test.ratings - model.score_pairs(test.user_index, test.item_index)
        return float(np.sqrt(np.mean(errors**2)))

    return error


@pytest.fixture(scope="session")
def small_log():
    """small_log(seed, n_users >= 2, n_items >= 2, density=0.5, ratings=False): a random log of
    unique (user, item) rows, not grouped by user, with repeated user and item ids.

    Every user has a negative of positive sampling weight under any distribution: user u clicks
    item u % 2 and never item (u + 1) % 2, and both items have rows. Ratings, if asked, are 1..5.
    """

    def make(seed, n_users, n_items, density=0.5, ratings=False):
        rng = np.random.default_rng(seed)
        clicked = rng.random((n_users, n_items)) < density
        clicked[:, :2] = False
        clicked[np.arange(n_users), np.arange(n_users) % 2] = True
        users, items = np.nonzero(clicked)
        order = rng.permutation(len(users))
        stars = rng.integers(1, 6, len(users)).astype(np.float64)[order] if ratings else None
        return Interactions.from_arrays(users[order], items[order], ratings=stars,
                                        user_ids=np.arange(n_users), item_ids=np.arange(n_items))

    return make


@pytest.fixture(scope="session")
def fit_fused_and_composed():
    """fit(model_class, train, **options) -> (fused, composed): float64 fits with fused=True and
    fused=False from the same seed, after asserting that they hold the same parameters (every
    array of network_.params, to FUSED_RTOL of its largest entry) and the same epoch losses
    (history_["loss"], relative FUSED_RTOL)."""

    def fit(model_class, train, **options):
        fused, composed = (model_class(**options, dtype=np.float64, fused=flag).fit(train)
                           for flag in (True, False))
        assert list(fused.network_.params) == list(composed.network_.params)
        for key, expected in composed.network_.params.items():
            scale = max(float(np.abs(expected).max(initial=0.0)), 1e-12)
            np.testing.assert_allclose(fused.network_.params[key], expected, rtol=0,
                                       atol=FUSED_RTOL * scale, err_msg=key)
        assert len(composed.history_["loss"]) == options.get("n_epochs")
        np.testing.assert_allclose(fused.history_["loss"], composed.history_["loss"],
                                   rtol=FUSED_RTOL)
        return fused, composed

    return fit
