"""Fixtures shared by the model tests: a long-tailed data set and the tail's share of top-10 lists."""

import numpy as np
import pytest

from nanorec.data.datasets import load


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
