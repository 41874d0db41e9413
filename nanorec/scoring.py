"""Shared scoring utilities of models and evaluation: blocks of users, top-k, CSR rows, and the
error a model raises for a user it cannot score.

Scoring every item for every user at once would need U x I numbers; models and evaluation score a
block of users at a time (``row_blocks``), pick the best k per row (``top_k``) and look up the items
each user has in a CSR matrix (``csr_entries``).
"""

import numpy as np

class ColdStartError(KeyError):
    """A user or item without training rows that a model cannot score (too little is known of it)."""

    def __str__(self):  # KeyError would print the message in quotes
        return str(self.args[0])


# Users scored per call of score_items inside recommend / score_pairs: a block holds at most
# about this many scores (float64: 2**21 scores = 16 MB), so memory stays bounded for any U and I.
SCORES_PER_BLOCK = 2**21


def top_k(scores, k):
    """The k best items of each row: ``(item_index (n, k) int64, item_scores (n, k))``.

    Sorted by score, highest first; equal scores are broken by the smaller item index, so the
    result is deterministic. np.argpartition finds the k-th largest score v of each row in O(I);
    the items above v and the smallest-index items equal to v make the top k, then only those k
    are sorted.

    Parameters
    ----------
    scores : float array (n, I)
    k : int, 1 <= k <= I
    """
    n_rows, n_items = scores.shape
    kth_largest = -np.partition(-scores, k - 1, axis=1)[:, k - 1 : k]  # (n, 1)
    above = scores > kth_largest
    tied = scores == kth_largest
    n_tied_needed = k - above.sum(axis=1, keepdims=True)
    chosen = above | (tied & (np.cumsum(tied, axis=1) <= n_tied_needed))
    item_index = np.nonzero(chosen)[1].reshape(n_rows, k)  # each row: k items, by increasing index
    item_scores = np.take_along_axis(scores, item_index, axis=1)
    order = np.argsort(-item_scores, axis=1, kind="stable")  # stable: equal scores keep index order
    return (
        np.take_along_axis(item_index, order, axis=1),
        np.take_along_axis(item_scores, order, axis=1),
    )


def csr_entries(indptr, indices, rows):
    """The stored entries of some rows of a CSR matrix, as ``(position in rows, column)`` pairs.

    For rows = [r_0, r_1, ...] it returns ``block_row`` and ``column`` (both (m,)) listing, for each
    b, the columns indices[indptr[r_b] : indptr[r_b + 1]] paired with b. Used to mark the train
    items of a block of users, or to gather their test items.
    """
    starts, ends = indptr[rows], indptr[np.asarray(rows) + 1]
    lengths = ends - starts
    block_row = np.repeat(np.arange(len(lengths)), lengths)
    # position of each entry: its row's start plus its offset within the row
    offset = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return block_row, indices[np.repeat(starts, lengths) + offset]


def row_blocks(n_rows, n_items, rows_per_block=None):
    """Slices covering 0..n_rows-1, ``rows_per_block`` rows each; by default SCORES_PER_BLOCK //
    n_items, so that a block of (rows, n_items) scores stays near SCORES_PER_BLOCK numbers."""
    if rows_per_block is None:
        rows_per_block = max(1, SCORES_PER_BLOCK // max(1, n_items))
    return [slice(start, start + rows_per_block) for start in range(0, n_rows, rows_per_block)]
