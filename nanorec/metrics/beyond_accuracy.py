"""Beyond accuracy: how the recommendations spread over the catalogue, and what each list holds.

Every function reads recommendation lists, given as

    recommended_lists : 2-D int array (N, k), or a sequence of N 1-D int arrays (of any lengths)
                        each list's item indices 0 .. I-1, best first (the order does not matter
                        here)

Catalogue metrics look at all lists together, through the recommendation counts

    c[i] = number of lists that hold item i,   i = 0 .. I-1   (items never recommended: c[i] = 0)

    coverage    |{i : c[i] > 0}| / I                              share of the catalogue recommended
    Gini        G = sum_i sum_j |c[i] - c[j]| / (2 I sum_i c[i])   0: every item equally often;
                                                                  1 - 1/I: one item takes every slot
    entropy     H = - sum_i p[i] log2 p[i],  p[i] = c[i] / sum_j c[j]   (0 log 0 = 0), in bits:
                                                                  0 for one item, log2(I) for all equal

List metrics give one value per list (an evaluation averages them over users):

    novelty     mean self-information of the list's items, -log2 p_train(i) (see :func:`novelty`)
    ILD         intra-list diversity: the mean cosine distance 1 - cos(x_a, x_b) over the pairs
                of the list's items, from their feature vectors x (see :func:`intra_list_diversity`)

References: Gini, entropy and novelty as in Zhou et al., "Solving the apparent diversity-accuracy
dilemma of recommender systems", PNAS 2010, and Castells, Hurley & Vargas, "Novelty and Diversity
in Recommender Systems" (Recommender Systems Handbook, 2nd ed., 2015); ILD as in Ziegler et al.,
"Improving recommendation lists through topic diversification", WWW 2005.
"""

import numpy as np

from nanorec import _checks


def recommendation_counts(recommended_lists, n_items):
    """c[i] = the number of lists that hold item i: int64 (I,), zeros for items never recommended.

    Parameters
    ----------
    recommended_lists : 2-D int array (N, k) or a sequence of 1-D int arrays
    n_items : int
        Catalogue size I; items are indices 0 .. I-1.
    """
    items, _, _ = _flattened(recommended_lists, n_items)
    return np.bincount(items, minlength=n_items)


def catalogue_coverage(recommended_lists, n_items):
    """Share of the catalogue recommended to at least one user: |union of the lists| / n_items.

        coverage = |{i : c[i] > 0}| / I,   c = recommendation_counts(recommended_lists, I)

    Parameters
    ----------
    recommended_lists : 2-D int array (N, k) or a sequence of 1-D int arrays
        Each user's recommended item indices.
    n_items : int
        Catalogue size I; items are indices 0 .. I-1.
    """
    return np.count_nonzero(recommendation_counts(recommended_lists, n_items)) / n_items


def gini_index(counts):
    """Gini coefficient of non-negative counts (how unequally they are spread), in [0, 1 - 1/I].

        G = sum_i sum_j |c[i] - c[j]| / (2 I sum_i c[i])                  (mean absolute difference)
          = sum_{r=1..I} (2 r - I - 1) c_(r) / (I sum_i c[i])              (c_(1) <= ... <= c_(I))

    The second form, over the counts sorted ascending, is what is computed: O(I log I).
    G = 0 when every item has the same count; G = 1 - 1/I when one item has them all.
    ``gini_index(recommendation_counts(lists, I))`` is the Gini of a set of recommendation lists
    (every catalogue item counts, the never-recommended ones with c = 0); of train item counts, it
    measures the popularity bias of the data.

    Parameters
    ----------
    counts : 1-D array (I,) of numbers >= 0, not all 0

    Returns
    -------
    float
    """
    counts = _checked_counts(counts)
    ranks = np.arange(1, len(counts) + 1)
    ascending = np.sort(counts)
    return float(np.sum((2 * ranks - len(counts) - 1) * ascending) / (len(counts) * counts.sum()))


def shannon_entropy(counts):
    """Shannon entropy, in bits, of the distribution p[i] = c[i] / sum_j c[j]: in [0, log2(I)].

        H = - sum_{i : c[i] > 0} p[i] log2 p[i]            (0 log 0 = 0: zero counts add nothing)

    H = 0 when one item has every count; log2(I) when all I items have the same count.
    ``shannon_entropy(recommendation_counts(lists, I))`` is the entropy of the recommendations.

    Parameters
    ----------
    counts : 1-D array (I,) of numbers >= 0, not all 0

    Returns
    -------
    float
    """
    counts = _checked_counts(counts)
    p = counts[counts > 0] / counts.sum()
    return float(max(0.0, -np.sum(p * np.log2(p))))  # max: -0.0 when one item has everything


def novelty(recommended_lists, item_counts, n_users):
    """Each list's novelty: the mean self-information of its items, in bits.

        novelty(L) = (1 / |L|) sum_{i in L} -log2 p(i),     p(i) = (c[i] + 1) / (U + 1)

    c[i] is the number of train users who interacted with item i, U the number of train users, so
    p(i) is the share of users who know item i. The +1 counts one extra user who has seen every
    item, so that an item nobody interacted with (c[i] = 0) gets the finite, largest value
    log2(U + 1) instead of infinity, and an item every user has (c[i] = U) gets 0.

    Parameters
    ----------
    recommended_lists : 2-D int array (N, k) or a sequence of N 1-D int arrays
        Each list non-empty and without repeated items.
    item_counts : int array (I,)
        c[i] >= 0: train users per item, at most U.
    n_users : int
        U >= 1.

    Returns
    -------
    float64 array (N,)
    """
    n_users = _checks.positive_int(n_users, "n_users")
    counts = np.asarray(item_counts)
    if counts.ndim != 1 or counts.dtype.kind not in "iu":
        raise TypeError(f"item_counts must be a 1-D array of integer counts, got dtype "
                        f"{counts.dtype} and shape {counts.shape}")
    if len(counts) and (counts.min() < 0 or counts.max() > n_users):
        raise ValueError(f"item_counts must lie in 0..n_users={n_users} (users per item)")
    items, owner, lengths = _flattened(recommended_lists, len(counts), distinct=True)
    self_information = np.log2(n_users + 1.0) - np.log2(counts + 1.0)
    return np.bincount(owner, self_information[items], minlength=len(lengths)) / lengths


def intra_list_diversity(recommended_lists, item_features):
    """Each list's intra-list diversity (ILD): the mean cosine distance between its items.

        ILD(L) = (2 / (n (n - 1))) sum_{a < b in L} (1 - cos(x_a, x_b)),   n = |L| >= 2
        cos(x_a, x_b) = x_a . x_b / (|x_a| |x_b|)

    x_i is row i of item_features. With unit vectors y_i = x_i / |x_i| and s = sum_{a in L} y_a,
    sum_{a < b} cos(x_a, x_b) = (|s|^2 - n) / 2, so ILD(L) = 1 - (|s|^2 - n) / (n (n - 1)):
    O(n D) per list instead of O(n^2 D). ILD is 0 for a list of items with parallel features, 1 for
    orthogonal ones (e.g. one distinct genre each, one-hot), and at most 2 (opposite features).

    Parameters
    ----------
    recommended_lists : 2-D int array (N, k) or a sequence of N 1-D int arrays
        Each list with at least 2 items and no repeats.
    item_features : array (I, D) of finite numbers
        The rows of the recommended items must not be all zero (their cosine is undefined).

    Returns
    -------
    float64 array (N,)
    """
    features = np.asarray(item_features)
    if features.ndim != 2 or features.dtype.kind not in "biuf":
        raise TypeError(f"item_features must be a 2-D numeric array (I, D), got dtype "
                        f"{features.dtype} and shape {features.shape}")
    features = features.astype(np.float64)
    items, owner, lengths = _flattened(recommended_lists, len(features), distinct=True)
    if np.any(lengths < 2):
        b = int(np.argmax(lengths < 2))
        raise ValueError(f"intra-list diversity needs lists of 2 items or more; list {b} has "
                         f"{lengths[b]}")
    rows = features[items]
    if not np.all(np.isfinite(rows)):
        raise ValueError(f"item_features of item {items[np.argmin(np.isfinite(rows).all(1))]} "
                         "hold NaN or inf")
    norms = np.linalg.norm(rows, axis=1)
    if np.any(norms == 0):
        raise ValueError(f"item {items[np.argmin(norms)]} has all-zero features: its cosine "
                         "distance to other items is undefined")
    sums = np.zeros((len(lengths), features.shape[1]))
    np.add.at(sums, owner, rows / norms[:, None])
    n = lengths.astype(np.float64)
    return 1.0 - (np.einsum("nd,nd->n", sums, sums) - n) / (n * (n - 1))


def _checked_counts(counts):
    """counts as float64 (I,) after checking they are finite, >= 0 and not all 0."""
    counts = np.asarray(counts)
    if counts.ndim != 1 or counts.dtype.kind not in "biuf":
        raise TypeError(f"counts must be a 1-D array of numbers, got dtype {counts.dtype} and "
                        f"shape {counts.shape}")
    counts = counts.astype(np.float64)
    if len(counts) == 0 or not np.all(np.isfinite(counts)) or counts.min() < 0:
        raise ValueError("counts must be a non-empty array of finite numbers >= 0")
    if counts.sum() == 0:
        raise ValueError("every count is 0: the distribution is undefined (no recommendations?)")
    return counts


def _flattened(recommended_lists, n_items, distinct=False):
    """The lists as flat arrays, after checking them.

    Returns ``items`` int64 (M,) (every list's items, list after list), ``owner`` int64 (M,) (the
    list of each entry) and ``lengths`` int64 (N,). ``distinct=True`` also refuses empty lists and
    lists that repeat an item.
    """
    n_items = _checks.positive_int(n_items, "n_items")
    if isinstance(recommended_lists, np.ndarray) and recommended_lists.ndim != 2:
        raise ValueError(f"recommended_lists must be a 2-D array (N, k) or a sequence of 1-D "
                         f"arrays, got shape {recommended_lists.shape}")
    lists = [np.asarray(items) for items in recommended_lists]
    for b, items in enumerate(lists):
        if items.ndim != 1:
            raise ValueError(f"recommended list {b} must be 1-D, got shape {items.shape}")
        if len(items) and items.dtype.kind not in "iu":
            raise TypeError(f"recommended items must be integer indices, got dtype {items.dtype}")
    lengths = np.array([len(items) for items in lists], dtype=np.int64)
    items = np.concatenate(lists).astype(np.int64) if lists else np.empty(0, dtype=np.int64)
    if len(items) and (items.min() < 0 or items.max() >= n_items):
        raise ValueError(f"recommended item indices must lie in 0..{n_items - 1}")
    owner = np.repeat(np.arange(len(lists)), lengths)
    if distinct:
        if len(lists) == 0 or np.any(lengths == 0):
            raise ValueError("every recommended list must hold at least one item (and there must "
                             "be at least one list)")
        key = np.sort(owner * n_items + items)
        if np.any(key[1:] == key[:-1]):
            repeated = key[1:][key[1:] == key[:-1]][0]
            raise ValueError(f"recommended list {repeated // n_items} holds item "
                             f"{repeated % n_items} more than once")
    return items, owner, lengths
