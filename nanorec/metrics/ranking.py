"""Ranking metrics: how well one user's ranked list of items finds the items that user really chose.

Per-user functions take

    ranked_items : 1-D int array, item indices in rank order (best first; no repeats)
    relevant     : set or 1-D int array, the user's relevant items (held-out test items)

and return a float; an evaluation averages them over users (MAP, MRR, mean NDCG, ...).

The top-k metrics only look at the hit vector of the first k positions

    hits[j] = 1 if ranked_items[j] is relevant else 0,    j = 0 .. k-1  (position j is rank j + 1)

padded with zeros when the list is shorter than k. Each formula is written once, in a
``*_from_hits`` function that takes hits of shape (k,) or (N, k) (one row per user) and n_relevant
of shape () or (N,); nanorec.evaluation calls them on a whole chunk of users at once.

Binary relevance throughout: an item is relevant or not, ratings are not used as grades.
"""

import numpy as np

from nanorec import _checks


def top_k_hits(ranked_items, relevant, k):
    """The hit vector of the top k and the number of relevant items: ``(hits (k,), n_relevant)``."""
    k = _checks.positive_int(k, "k")
    ranked_items = _check_ranking(ranked_items)
    relevant = _check_relevant(relevant)
    hits = np.zeros(k, dtype=bool)
    top = ranked_items[:k]
    hits[: len(top)] = np.isin(top, relevant)
    return hits, len(relevant)


def hit_rate_from_hits(hits):
    """HR@k = 1 if any of the top k is relevant else 0:  max_j hits[j]."""
    return np.any(hits, axis=-1).astype(np.float64)


def precision_from_hits(hits):
    """P@k = (1/k) sum_j hits[j]: the share of the k recommended items that are relevant."""
    return np.sum(hits, axis=-1) / hits.shape[-1]


def recall_from_hits(hits, n_relevant):
    """R@k = (1/n_relevant) sum_j hits[j]: the share of the relevant items found in the top k.

    The denominator is n_relevant (not min(k, n_relevant)), so R@k < 1 when n_relevant > k.
    """
    return np.sum(hits, axis=-1) / n_relevant


def ndcg_from_hits(hits, n_relevant):
    """NDCG@k with binary relevance and a log2 discount.

        DCG@k  = sum_{j < k} hits[j] / log2(j + 2)             (rank r = j + 1 weighs 1/log2(r + 1))
        IDCG@k = sum_{j < min(k, n_relevant)} 1 / log2(j + 2)  (DCG of all relevant items on top)
        NDCG@k = DCG@k / IDCG@k,  in [0, 1]
    """
    discounts = 1.0 / np.log2(np.arange(hits.shape[-1]) + 2)
    dcg = np.sum(hits * discounts, axis=-1)
    idcg = np.cumsum(discounts)[np.minimum(hits.shape[-1], n_relevant) - 1]
    return dcg / idcg


def average_precision_from_hits(hits, n_relevant):
    """AP@k = (1 / min(k, n_relevant)) sum_{j < k} hits[j] * P@(j + 1).

    P@(j + 1) = (sum_{i <= j} hits[i]) / (j + 1) is the precision of the first j + 1 items.
    Dividing by min(k, n_relevant), not n_relevant, makes AP@k = 1 for a perfect top k even when
    the user has more than k relevant items. MAP@k is the mean of AP@k over users.
    """
    precision_at_each_rank = np.cumsum(hits, axis=-1) / np.arange(1, hits.shape[-1] + 1)
    return np.sum(hits * precision_at_each_rank, axis=-1) / np.minimum(hits.shape[-1], n_relevant)


def hit_rate_at_k(ranked_items, relevant, k):
    """HR@k of one user: 1.0 if any of the first k items is relevant, else 0.0."""
    hits, _ = top_k_hits(ranked_items, relevant, k)
    return float(hit_rate_from_hits(hits))


def precision_at_k(ranked_items, relevant, k):
    """P@k of one user: (number of relevant items among the first k) / k."""
    hits, _ = top_k_hits(ranked_items, relevant, k)
    return float(precision_from_hits(hits))


def recall_at_k(ranked_items, relevant, k):
    """R@k of one user: (relevant items among the first k) / (number of relevant items)."""
    hits, n_relevant = top_k_hits(ranked_items, relevant, k)
    return float(recall_from_hits(hits, n_relevant))


def ndcg_at_k(ranked_items, relevant, k):
    """NDCG@k of one user; the formula is in :func:`ndcg_from_hits`."""
    hits, n_relevant = top_k_hits(ranked_items, relevant, k)
    return float(ndcg_from_hits(hits, n_relevant))


def map_at_k(ranked_items, relevant, k):
    """Average precision at k of one user (its mean over users is MAP@k).

    AP@k = (1 / min(k, n_relevant)) sum_{j < k} hits[j] * P@(j + 1); see
    :func:`average_precision_from_hits`.
    """
    hits, n_relevant = top_k_hits(ranked_items, relevant, k)
    return float(average_precision_from_hits(hits, n_relevant))


def mrr(ranked_items, relevant):
    """Reciprocal rank of one user: 1 / (rank of the first relevant item), 0.0 if none is listed.

    Ranks are 1-based. The mean over users is the MRR. The whole list counts (no cut-off at k).
    """
    ranked_items = _check_ranking(ranked_items)
    positions = np.flatnonzero(np.isin(ranked_items, _check_relevant(relevant)))
    return 1.0 / (positions[0] + 1) if len(positions) else 0.0


def _check_ranking(ranked_items):
    ranked_items = np.asarray(ranked_items)
    if ranked_items.ndim != 1:
        raise ValueError(f"ranked_items must be 1-D, got shape {ranked_items.shape}")
    if len(ranked_items) and ranked_items.dtype.kind not in "iu":
        raise TypeError(f"ranked_items must hold integer item indices, not {ranked_items.dtype}")
    unique, counts = np.unique(ranked_items, return_counts=True)
    if np.any(counts > 1):
        raise ValueError(f"ranked_items lists item {unique[counts > 1][0]} more than once")
    return ranked_items


def _check_relevant(relevant):
    if isinstance(relevant, (set, frozenset)):
        relevant = sorted(relevant)
    relevant = np.asarray(relevant)
    if relevant.ndim != 1:
        raise ValueError(f"relevant must be a set or a 1-D array, got shape {relevant.shape}")
    if len(relevant) == 0:
        raise ValueError("relevant is empty: the metric is undefined without relevant items")
    if relevant.dtype.kind not in "iu":
        raise TypeError(f"relevant must hold integer item indices, got dtype {relevant.dtype}")
    return np.unique(relevant)
