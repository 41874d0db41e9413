"""Negative sampling: items a user did not interact with in train, for implicit-feedback training.

Each item has a weight, and a negative for user u is a draw from the weights restricted to the
items outside u's train row (with replacement: a row of negatives may repeat an item):

    uniform      w[i] = 1
    popularity   w[i] = count[i] ** popularity_exponent      count[i] = train rows of item i
                 (exponent 1: proportional to popularity; 0: uniform; an item with no train rows
                 has weight 0 for an exponent > 0 and is never drawn)

How a draw is made: rejection sampling from Walker's alias table, driven by a stream of uniforms
r in [0, 1) drawn in advance with ``np.random.default_rng``. The table (keep (I,), alias (I,)),
built once by ``alias_table``, splits the weights into I equal slots of at most two items each:

    x = r * I;  k = floor(x)  (at most I - 1)                     a slot, uniformly
    candidate = k if x - k < keep[k] else alias[k]                 P(candidate = i) = w[i] / sum(w)
    accept the candidate if it is not in u's train row, else take the next r

so a candidate costs O(1) whatever the weights, and an accepted candidate is an exact draw from w
restricted to u's negatives; a slot needs on average 1 / (1 - mass of u's positives) uniforms.
For uniform weights keep = 1 and the candidate is just floor(r * I). The Numba kernel
``sample_negatives_nb`` and its NumPy twin ``sample_negatives_ref`` read the same stream in the
same order, so they return identical arrays. If the stream runs out, both stop after the last
complete row and say how many rows they filled; ``NegativeSampler`` then draws a fresh stream for
the remaining users. ``NegativeSampler.sample`` hands the kernel the users sorted (stably), so
the stream is read user by user, and puts the rows back in the order asked for.

Reference: Vose (1991), "A linear algorithm for generating random numbers with a given
distribution" (the construction of the alias table).
"""

import numba
import numpy as np

from nanorec import _checks

DISTRIBUTIONS = ("uniform", "popularity")


def alias_table(weights):
    """Walker's alias table of non-negative weights (I,), by Vose's O(I) construction.

    Scale the weights to mean 1 (s[i] = w[i] * I / sum(w)). A slot k is filled by an item whose
    s is below 1 (it keeps the share keep[k] = s[k] of the slot) and topped up by an item whose s
    is at least 1 (alias[k], which gives away 1 - s[k] of its own mass). Items that end with
    exactly their mass keep a whole slot (keep = 1). Then for every item i
        (keep[i] + sum over slots k with alias[k] = i of (1 - keep[k])) / I = w[i] / sum(w).

    Returns
    -------
    keep : float64 (I,)
        Share of slot k that draws item k, in [0, 1].
    alias : int64 (I,)
        The item that slot k draws otherwise.
    """
    weights = np.asarray(weights, dtype=np.float64)
    n_items = len(weights)
    scaled = weights * (n_items / weights.sum())
    keep, alias = np.ones(n_items), np.arange(n_items)
    by_mass = np.argsort(scaled, kind="stable")  # pop() below takes the last, so ...
    small = [int(k) for k in by_mass[::-1] if scaled[k] < 1.0]  # ... the lightest item first
    large = [int(k) for k in by_mass if scaled[k] >= 1.0]
    while small and large:
        light, heavy = small.pop(), large.pop()
        keep[light], alias[light] = scaled[light], heavy
        scaled[heavy] -= 1.0 - scaled[light]
        (small if scaled[heavy] < 1.0 else large).append(heavy)
    # whatever is left holds mass 1 up to rounding: it keeps its whole slot (keep = 1, alias = itself)
    return keep, alias


def alias_candidates(keep, alias, uniforms):
    """The candidate item of each uniform (S,) -> int64 (S,): the draw of the module docstring."""
    n_items = len(keep)
    scaled = uniforms * n_items
    slots = np.minimum(scaled.astype(np.int64), n_items - 1)
    return np.where(scaled - slots < keep[slots], slots, alias[slots])


def sample_negatives_ref(indptr, indices, users, n_negatives, keep, alias, uniforms):
    """NumPy twin of ``sample_negatives_nb``: the candidates drawn at once, then one pass per user.

    Parameters
    ----------
    indptr : int64 (U + 1,);  indices : int32 (nnz,)
        Train positives as CSR, item indices sorted within each user's row.
    users : int (N,)
        User indices, one row of negatives each.
    n_negatives : int >= 1
        Negatives per user.
    keep : float64 (I,);  alias : int64 (I,)
        The alias table of the item weights (``alias_table``).
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
    candidates = alias_candidates(keep, alias, uniforms)
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
def mark_row(is_positive, indptr, indices, user, value):
    """Set ``is_positive[i] = value`` for every item i of ``user``'s train row."""
    for at in range(indptr[user], indptr[user + 1]):
        is_positive[indices[at]] = value


@numba.njit(cache=True)
def sample_negatives_nb(indptr, indices, users, n_negatives, keep, alias, uniforms):
    """Numba kernel: the same rejection sampler as ``sample_negatives_ref``, one uniform at a time.

    Same parameters and returns as ``sample_negatives_ref``. A candidate is checked against a
    boolean mask (I,) of the current user's train row, O(1), instead of a binary search in the
    row (O(log row length), with a cache miss per halving: it cost more than the whole SGD step of
    the triple). The mask is rebuilt when the user changes, O(row length), so rows of one user
    should sit side by side: ``NegativeSampler.sample`` passes the users sorted.
    """
    negatives = np.zeros((len(users), n_negatives), dtype=np.int32)
    n_items = len(keep)
    is_positive = np.zeros(n_items, dtype=np.bool_)
    used = 0
    for row in range(len(users)):
        if row == 0 or users[row] != users[row - 1]:
            if row > 0:
                mark_row(is_positive, indptr, indices, users[row - 1], False)
            mark_row(is_positive, indptr, indices, users[row], True)
        filled = 0
        while filled < n_negatives:
            if used == len(uniforms):
                negatives[row, :] = 0  # an unfinished row is not returned (as in the twin)
                return negatives, row
            scaled = uniforms[used] * n_items
            used += 1
            slot = min(int(scaled), n_items - 1)
            item = slot if scaled - slot < keep[slot] else alias[slot]
            if is_positive[item]:
                continue  # a positive: reject, take the next uniform
            negatives[row, filled] = item
            filled += 1
    return negatives, len(users)


def item_weights(train, distribution="uniform", popularity_exponent=1.0):
    """Sampling weight per item, float64 (I,): 1 ("uniform") or count ** popularity_exponent."""
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")
    if distribution == "uniform":
        return np.ones(train.n_items)
    _checks.non_negative(popularity_exponent, "popularity_exponent")
    counts = np.bincount(train.item_index, minlength=train.n_items).astype(np.float64)
    return counts**popularity_exponent


class NegativeSampler:
    """Draw items each user did not interact with in ``train``.

    Parameters
    ----------
    train : Interactions
        Positives: every (user, item) row of train is excluded from that user's negatives.
    n_negatives : int
        Negatives per user and call.
    distribution : {"uniform", "popularity"}
        Item weights (see the module docstring).
    popularity_exponent : float >= 0
        The exponent of the "popularity" weights.
    seed : int
        Seed of the sampler's own Generator: the same seed and the same calls give the same draws.

    Attributes
    ----------
    weights : float64 (I,)
        The item weights w.
    keep : float64 (I,), alias : int64 (I,)
        Their alias table (``alias_table``).
    indptr, indices
        The train positives as CSR (``train.to_csr()``).
    acceptance : float64 (U,)
        Per user, the chance that a candidate is not a positive (at least 1e-6): the stream of a
        call is sized to n_negatives * sum over users of 1 / acceptance, plus 10%.
    n_choices : int64 (U,)
        Per user, how many items can be negatives (0: ``sample`` refuses the user).

    Examples
    --------
    >>> sampler = NegativeSampler(train, 4, distribution="popularity", popularity_exponent=0.75)
    >>> sampler.sample(users)          # users: int (N,) user indices -> int32 (N, 4) item indices
    """

    def __init__(self, train, n_negatives=4, distribution="uniform", popularity_exponent=1.0,
                 seed=0):
        self.train = train
        self.n_negatives = _checks.positive_int(n_negatives, "n_negatives", "NegativeSampler")
        self.weights = item_weights(train, distribution, popularity_exponent)
        if not self.weights.any():
            raise ValueError("every item has weight 0: popularity sampling needs items with train rows")
        self.keep, self.alias = alias_table(self.weights)
        csr = train.to_csr()
        self.indptr, self.indices = csr.indptr, csr.indices
        self.acceptance, self.n_choices = self._per_user_odds()
        self.rng = np.random.default_rng(seed)

    def _per_user_odds(self):
        """Per user: P(a draw is not a positive) and the number of items that can be negatives."""
        def row_sums(values):  # sum of values[i] over the items i of each user's row
            running = np.r_[0.0, np.cumsum(values[self.indices])]
            return running[self.indptr[1:]] - running[self.indptr[:-1]]

        positive_mass = row_sums(self.weights) / self.weights.sum()
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
        # the kernel builds one mask per run of a user: hand it the users sorted (a stable sort,
        # skipped when they already are: putting the rows back costs as much as drawing them)
        in_order = bool(np.all(users[1:] >= users[:-1]))
        by_user = np.arange(len(users)) if in_order else np.argsort(users, kind="stable")
        sorted_users = users[by_user]
        negatives = np.zeros((len(users), self.n_negatives), dtype=np.int32)
        done = 0
        while done < len(users):
            rest = sorted_users[done:]
            expected_draws = self.n_negatives * np.sum(1.0 / self.acceptance[rest])
            uniforms = self.rng.random(int(min(1.1 * expected_draws, 2**22)) + 16)
            block, n_filled = sample_negatives_nb(
                self.indptr, self.indices, rest, self.n_negatives, self.keep, self.alias, uniforms
            )
            rows = slice(done, done + n_filled) if in_order else by_user[done : done + n_filled]
            negatives[rows] = block[:n_filled]
            done += n_filled
        return negatives
