"""A recommender whose scores are a given table: for hand-built ranking and evaluation cases."""

import numpy as np

from nanorec.models.base import Recommender


class TableModel(Recommender):
    """Scores read from a (U, I) table, so any ranking (ties included) can be set up by hand.

    ``TableModel(table).fit(train)``; the table's rows and columns follow train's user and item
    indices.
    """

    def __init__(self, table):
        self.table = np.asarray(table, dtype=np.float64)

    def _fit(self, train, valid):
        """Nothing to learn: the scores are given (the base class checks their shape when used)."""

    def score_items(self, user_index):
        return self.table[user_index]
