"""Item-based k-nearest neighbours: recommend items similar to those the user already has.

The similarity of two items is the cosine of their columns in the binary user-item matrix X (U, I),
X[u, i] = 1 when user u interacted with item i in train (ratings are ignored):

    sim(i, j) = |U_i & U_j| / (sqrt(|U_i|) * sqrt(|U_j|) + shrink)      for i != j, sim(i, i) = 0

with U_i the set of users of item i. ``shrink`` > 0 damps pairs seen together by few users.

Finding every item's neighbours is the hot loop: for each item i, count the co-occurrences
|U_i & U_j| by walking the items of each user of i. It is a Numba kernel beside a NumPy twin.
"""

import numba
import numpy as np

from nanorec import _checks
from nanorec.models.base import Recommender, register
from nanorec.scoring import csr_entries


def _top_k_positions(values, k):
    """Positions of the k largest values, largest first; equal values -> smaller position first.

    np.partition finds the k-th largest value v in O(n); the positions above v and the first ones
    equal to v make the top k, and only those k are sorted (a stable sort keeps ties in order).
    """
    if k >= len(values):
        chosen = np.arange(len(values))
    else:
        kth_largest = -np.partition(-values, k - 1)[k - 1]
        above = np.flatnonzero(values > kth_largest)
        tied = np.flatnonzero(values == kth_largest)[: k - len(above)]
        chosen = np.sort(np.concatenate((above, tied)))
    return chosen[np.argsort(-values[chosen], kind="mergesort")]


def item_neighbours_ref(indptr, indices, item_indptr, item_users, k, shrink):
    """Each item's k nearest items by cosine similarity, in plain NumPy (the readable reference).

    Parameters
    ----------
    indptr, indices : int arrays (U + 1,), (nnz,)
        The train matrix as CSR: the items of user u are indices[indptr[u]:indptr[u + 1]].
    item_indptr, item_users : int arrays (I + 1,), (nnz,)
        The same matrix by columns (CSC): the users of item i.
    k : int
        Neighbours kept per item, 1 <= k <= I.
    shrink : float
        Added to the denominator of the cosine, >= 0.

    Returns
    -------
    neighbours : int32 (I, k)
        neighbours[j] = the k items most similar to j, most similar first.
    similarities : float32 (I, k)
        sim(j, neighbours[j, m]); 0 in the slots past j's last co-occurring item.
    """
    n_items = len(item_indptr) - 1
    n_users_of = np.diff(item_indptr).astype(np.float64)
    neighbours = np.repeat(np.arange(n_items, dtype=np.int32)[:, None], k, axis=1)
    similarities = np.zeros((n_items, k), np.float32)
    for i in range(n_items):
        users = item_users[item_indptr[i] : item_indptr[i + 1]]
        _, co_items = csr_entries(indptr, indices, users)  # items of i's users, with repeats
        overlap = np.bincount(co_items, minlength=n_items).astype(np.float64)
        overlap[i] = 0.0
        touched = np.flatnonzero(overlap)  # items sharing a user with i, ascending
        sims = overlap[touched] / (np.sqrt(n_users_of[i] * n_users_of[touched]) + shrink)
        best = _top_k_positions(sims, k)
        neighbours[i, : len(best)] = touched[best]
        similarities[i, : len(best)] = sims[best]
    return neighbours, similarities


_top_k_positions_nb = numba.njit(cache=True)(_top_k_positions)


@numba.njit(cache=True)
def item_neighbours_nb(indptr, indices, item_indptr, item_users, k, shrink):
    """Numba kernel of ``item_neighbours_ref``: same arguments, same result.

    The co-occurrence counts of item i are summed into one dense (I,) array, reused for every item
    (only the touched entries are reset): item i costs O(I + sum of its users' history lengths).
    """
    n_items = len(item_indptr) - 1
    n_users_of = np.diff(item_indptr).astype(np.float64)
    neighbours = np.empty((n_items, k), np.int32)
    similarities = np.zeros((n_items, k), np.float32)
    overlap = np.zeros(n_items, np.float64)
    for i in range(n_items):
        neighbours[i, :] = i
        for position in range(item_indptr[i], item_indptr[i + 1]):
            u = item_users[position]
            for j in indices[indptr[u] : indptr[u + 1]]:
                overlap[j] += 1.0
        overlap[i] = 0.0
        touched = np.flatnonzero(overlap)
        sims = overlap[touched] / (np.sqrt(n_users_of[i] * n_users_of[touched]) + shrink)
        best = _top_k_positions_nb(sims, k)
        neighbours[i, : len(best)] = touched[best]
        similarities[i, : len(best)] = sims[best]
        overlap[touched] = 0.0
    return neighbours, similarities


@register("item-knn", "items similar (cosine) to the user's items")
class ItemKNN(Recommender):
    """Item-based k-nearest-neighbour recommender with cosine similarity.

    Similarity   sim(i, j) = |U_i & U_j| / (sqrt(|U_i|) sqrt(|U_j|) + shrink), i != j
                 (cosine of the binary columns of X; U_i = users of item i in train)
    Neighbours   N_k(j) = the k items most similar to j (ties -> smaller item index)
    Score        s[u, i] = sum over the user's train items j of sim(j, i) if i is in N_k(j)
    Reference    Sarwar et al. (2001), "Item-based collaborative filtering recommendation
                 algorithms"; Deshpande & Karypis (2004), "Item-based top-N recommendation".

    Parameters
    ----------
    k : int
        Neighbours kept per item (capped at the number of items).
    shrink : float
        Shrinkage added to the cosine's denominator, >= 0.

    Attributes
    ----------
    neighbours_ : int32 (I, k), similarities_ : float32 (I, k)
        Row j: N_k(j), most similar first, and the similarities (0 in unused slots).
    """

    def __init__(self, k=50, shrink=0.0):
        self.k = k
        self.shrink = shrink

    def _fit(self, train, valid):
        _checks.positive_int(self.k, "k", "ItemKNN")
        _checks.non_negative(self.shrink, "shrink", "ItemKNN")
        csr = self.train_csr_
        by_item = np.argsort(csr.indices, kind="stable")  # CSR -> CSC: entries grouped by item
        item_users = np.repeat(np.arange(self.n_users_), np.diff(csr.indptr))[by_item]
        items_per_column = np.bincount(csr.indices, minlength=self.n_items_)
        item_indptr = np.concatenate([[0], np.cumsum(items_per_column)])
        self.neighbours_, self.similarities_ = item_neighbours_nb(
            csr.indptr, csr.indices, item_indptr, item_users, min(self.k, self.n_items_),
            float(self.shrink),
        )

    def score_items(self, user_index):
        """s (n, I): each train item j of user row r adds similarities_[j] at neighbours_[j]."""
        user_index = np.asarray(user_index)
        block_row, history = csr_entries(self.train_csr_.indptr, self.train_csr_.indices, user_index)
        cells = block_row[:, None] * self.n_items_ + self.neighbours_[history]  # flat (row, item)
        scores = np.bincount(
            cells.ravel(), weights=self.similarities_[history].ravel(),
            minlength=len(user_index) * self.n_items_,
        )
        return scores.reshape(len(user_index), self.n_items_)
