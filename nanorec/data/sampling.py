"""Negative sampling: items a user did not interact with in train, for implicit-feedback training.

Each item has a weight, and a negative for user u is a draw from the weights restricted to the
items outside u's train row (with replacement: a row of negatives may repeat an item):

    uniform      w[i] = 1
    popularity   w[i] = count[i] ** alpha      count[i] = train rows of item i
                 (alpha = 1: proportional to popularity; alpha = 0: uniform; an item with no
                 train rows has weight 0 for alpha > 0 and is never drawn)

How a draw is made (rejection sampling, driven by a stream of uniforms r in [0, 1) drawn in
advance with ``np.random.default_rng``):

    candidate = the first item i with cdf[i] > r * cdf[-1]      cdf = cumsum(w)
    accept the candidate if it is not in u's train row, else take the next r

An accepted candidate is an exact draw from w restricted to u's negatives; a slot needs on average
1 / (1 - mass of u's positives) uniforms. The Numba kernel ``sample_negatives_nb`` and its NumPy twin
``sample_negatives_ref`` read the same stream in the same order, so they return identical arrays.
If the stream runs out, both stop after the last complete row and say how many rows they filled;
``NegativeSampler`` then draws a fresh stream for the remaining users.
"""

import numba
import numpy as np

DISTRIBUTIONS = ("uniform", "popularity")


def sample_negatives_ref(indptr, indices, users, n_negatives, cdf, uniforms):
    """NumPy twin of ``sample_negatives_nb``: one vectorized pass over the stream per user.

    Parameters
    ----------
    indptr : int64 (U + 1,);  indices : int32 (nnz,)
        Train positives as CSR, item indices sorted within each user's row.
    users : int (N,)
        User indices, one row of negatives each.
    n_negatives : int >= 1
        Negatives per user.
    cdf : float64 (I,)
        Cumulative item weights, cdf[-1] > 0.
    uniforms : float64 (S,)
        The random stream, values in [0, 1).

    Returns
    -------
    negatives : int32 (N, n_negatives)
        Rows 0..n_filled-1 hold negatives; later rows are 0.
    n_filled : int
        Rows completed before the stream ran out (N when it sufficed).
    """
    negatives = np.zeros((len(users), n_negatives), dtype=np.int32)
    last_item = np.searchsorted(cdf, cdf[-1], side="left")  # last item of non-zero weight
    candidates = np.minimum(np.searchsorted(cdf, uniforms * cdf[-1], side="right"), last_item)
    used = 0
    for row, user in enumerate(users):
        positives = indices[indptr[user] : indptr[user + 1]]
        rest = candidates[used:]
        accepted = np.flatnonzero(~np.isin(rest, positives))[:n_negatives]
        if len(accepted) < n_negatives:
            return negatives, row
        negatives[row] = rest[accepted]
        used += accepted[-1] + 1
    return negatives, len(users)


@numba.njit(cache=True)
def sample_negatives_nb(indptr, indices, users, n_negatives, cdf, uniforms):
    """Numba kernel: the same rejection sampler as ``sample_negatives_ref``, one uniform at a time.

    Same parameters and returns as ``sample_negatives_ref``.
    """
    negatives = np.zeros((len(users), n_negatives), dtype=np.int32)
    total = cdf[-1]
    last_item = np.searchsorted(cdf, total)  # side="left": last item of non-zero weight
    used = 0
    for row in range(len(users)):
        start, stop = indptr[users[row]], indptr[users[row] + 1]
        filled = 0
        while filled < n_negatives:
            if used == len(uniforms):
                negatives[row, :] = 0  # an unfinished row is not returned (as in the twin)
                return negatives, row
            item = min(np.searchsorted(cdf, uniforms[used] * total, side="right"), last_item)
            used += 1
            at = start + np.searchsorted(indices[start:stop], item)  # binary search in the sorted row
            if at < stop and indices[at] == item:
                continue  # a positive: reject, take the next uniform
            negatives[row, filled] = item
            filled += 1
    return negatives, len(users)


def item_weights(train, distribution="uniform", alpha=1.0):
    """Sampling weight per item, float64 (I,): 1 (uniform) or count ** alpha (popularity)."""
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")
    if distribution == "uniform":
        return np.ones(train.n_items)
    if not (np.isfinite(alpha) and alpha >= 0):
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
    counts = np.bincount(train.item_index, minlength=train.n_items).astype(np.float64)
    return counts**alpha


class NegativeSampler:
    """Draw items each user did not interact with in ``train``.

    Parameters
    ----------
    train : Interactions
        Positives: every (user, item) row of train is excluded from that user's negatives.
    n_negatives : int
        Negatives per user and call.
    distribution : {"uniform", "popularity"}
        Item weights (see the module docstring); ``alpha`` is the popularity exponent.
    seed : int
        Seed of the sampler's own Generator: the same seed and the same calls give the same draws.

    Examples
    --------
    >>> sampler = NegativeSampler(train, n_negatives=4, distribution="popularity", alpha=0.75)
    >>> sampler.sample(users)          # users: int (N,) user indices -> int32 (N, 4) item indices
    """

    def __init__(self, train, n_negatives=4, distribution="uniform", alpha=1.0, seed=0):
        if not isinstance(n_negatives, (int, np.integer)) or n_negatives < 1:
            raise ValueError(f"n_negatives must be an integer >= 1, got {n_negatives!r}")
        self.train = train
        self.n_negatives = int(n_negatives)
        self.weights = item_weights(train, distribution, alpha)
        if not self.weights.any():
            raise ValueError("every item has weight 0: popularity sampling needs items with train rows")
        self.cdf = np.cumsum(self.weights)
        csr = train.to_csr()
        self.indptr, self.indices = csr.indptr, csr.indices
        self.acceptance, self.n_choices = self._per_user_odds()
        self.rng = np.random.default_rng(seed)

    def _per_user_odds(self):
        """Per user: P(a draw is not a positive) and the number of items that can be negatives."""
        def row_sums(values):  # sum of values[i] over the items i of each user's row
            running = np.r_[0.0, np.cumsum(values[self.indices])]
            return running[self.indptr[1:]] - running[self.indptr[:-1]]

        positive_mass = row_sums(self.weights) / self.cdf[-1]
        drawable = (self.weights > 0).astype(np.float64)
        n_choices = np.rint(drawable.sum() - row_sums(drawable)).astype(np.int64)
        return np.clip(1.0 - positive_mass, 1e-6, 1.0), n_choices

    def sample(self, users):
        """Negatives for each user index in ``users`` (N,) -> int32 (N, n_negatives) item indices."""
        users = np.asarray(users)
        if users.ndim != 1 or (users.dtype.kind not in "iu" and len(users)):
            raise TypeError(f"users must be a 1-D array of user indices, got {users.dtype} {users.shape}")
        users = users.astype(np.int64)
        if len(users) and (users.min() < 0 or users.max() >= self.train.n_users):
            raise ValueError(f"user indices must lie in [0, {self.train.n_users})")
        stuck = self.n_choices[users] == 0
        if stuck.any():
            user = int(users[np.argmax(stuck)])
            raw_id = self.train.user_ids[user : user + 1].tolist()[0]
            raise ValueError(
                f"user {raw_id!r} (index {user}) has interacted with every item "
                "that can be drawn: there is no negative to sample"
            )
        negatives = np.zeros((len(users), self.n_negatives), dtype=np.int32)
        done = 0
        while done < len(users):
            rest = users[done:]
            expected_draws = self.n_negatives * np.sum(1.0 / self.acceptance[rest])
            uniforms = self.rng.random(int(min(1.1 * expected_draws, 2**22)) + 16)
            block, n_filled = sample_negatives_nb(
                self.indptr, self.indices, rest, self.n_negatives, self.cdf, uniforms
            )
            negatives[done : done + n_filled] = block[:n_filled]
            done += n_filled
        return negatives
