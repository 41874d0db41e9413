"""Small planted rating logs for the privacy tests; user ids are e-mail-like strings, distinctive
enough to search for in the bytes of a saved file."""

import numpy as np
import pytest

from nanorec.data.interactions import Interactions


def planted_log(n_users=40, n_items=30, seed=0):
    """(users, items, ratings) raw arrays: 3 to 12 ratings per user from planted rank-2 taste,
    plus one item, "film-only-0", rated by user 0 alone."""
    rng = np.random.default_rng(seed)
    P, Q = rng.normal(0, 0.7, (n_users, 2)), rng.normal(0, 0.7, (n_items, 2))
    users, items = [], []
    for user in range(n_users):
        chosen = rng.choice(n_items, rng.integers(3, 13), replace=False)
        users += [user] * len(chosen)
        items += chosen.tolist()
    users, items = np.array(users), np.array(items)
    planted = 3 + np.sum(P[users] * Q[items], axis=1) + rng.normal(0, 0.3, len(users))
    ratings = np.clip(np.round(planted), 1, 5)
    user_names = np.array([f"user-{u:04d}@mail.example" for u in range(n_users)])
    item_names = np.array([f"film-{i:04d}" for i in range(n_items)])
    return (np.append(user_names[users], user_names[0]), np.append(item_names[items], "film-only-0"),
            np.append(ratings, 4.0))


@pytest.fixture
def log():
    return planted_log()


@pytest.fixture
def rated(log):
    return Interactions.from_arrays(*log)
