"""Two baselines every model must beat: most popular first, and a random order."""

import numpy as np

from nanorec.models.base import Recommender, register


@register("popularity", "most interacted items first (the baseline)")
class Popularity(Recommender):
    """Recommend the items with the most training interactions.

    Score    s[u, i] = count_i = number of train rows with item i (the same for every user;
             ratings are ignored, every row counts once)
    Fitted   item_counts_ : float64 (I,)
    """

    cold_start = ("users", "items")  # scores never read a user's rows (a cold item counts 0)

    def _fit(self, train, valid):
        counts = np.bincount(train.item_index, minlength=self.n_items_)
        self.item_counts_ = counts.astype(np.float64)

    def score_items(self, user_index):
        return np.broadcast_to(self.item_counts_, (len(user_index), self.n_items_))

    def score_pairs(self, user_index, item_index):
        return self.item_counts_[np.asarray(item_index)]

    def _explain(self, user_index, item_index):
        count = float(self.item_counts_[item_index])
        return count, "popularity: the item's train rows", ["train rows of the item"], [count], None


@register("random", "a random order per user (the floor)")
class Random(Recommender):
    """Rank the items in a random order, a different one for each user.

    Score    s[u, i] ~ Uniform[0, 1), drawn by np.random.default_rng((random_state, u)): a fixed
             function of (random_state, u, i), so predict, recommend and repeated calls all agree.

    Parameters
    ----------
    random_state : int
    """

    cold_start = ("users", "items")

    def __init__(self, random_state=0):
        self.random_state = random_state

    def _fit(self, train, valid):
        pass  # nothing to learn

    def _explain(self, user_index, item_index):
        score = float(self.score_items(np.array([user_index]))[0, item_index])
        return score, "a random draw: no reason to give", [], [], None

    def score_items(self, user_index):
        rows = [
            np.random.default_rng((self.random_state, int(u))).random(self.n_items_)
            for u in user_index
        ]
        return np.array(rows).reshape(len(user_index), self.n_items_)  # (0, I) when no user
