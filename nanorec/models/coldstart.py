"""The cold-start fallback chain: one model that answers for any user, and says which stage did.

``ColdStartRecommender(primary=Hybrid(...), neighbours=100)`` wraps a primary model and tries, for
each user, the first stage that applies:

    "primary"       a user with train rows                 the primary model's scores
    "primary_cold"  no train rows, features known, and     the primary's own cold path (it scores
                    the primary scores users by features   the user from its features)
                    (ContentBased, Hybrid fitted with
                    user features)
    "neighbours"    no train rows, features known,         demographic neighbours (below)
                    any other primary (BPRMF, ItemKNN...)
    "popularity"    nothing known: no features, or a       the items with the most train rows
                    row of zeros

The features of a user are its row of the training Interactions' user_features (any user of the
vocabulary, cold ones included), or, for a brand-new id, the row given as ``user_features=``
(columns as ``user_feature_names_``; build it with nanorec.data.features.FeaturePipeline.transform).

Neighbours (the k = ``neighbours`` train users v with the largest cos(z_u, z_v)):

    s[u, i] = sum over v in N(u) of max(cos(z_u, z_v), 0) [v has item i in train]
              / sum over v in N(u) of max(cos(z_u, z_v), 0)            the neighbours' vote in [0, 1]
              + TIE_BREAK * n[i] / max n                               popularity breaks ties
    cos(a, b) = a . b / (|a| |b|);  n[i] = train rows of item i

Among users of equal similarity the k are taken in an arbitrary but repeatable order. Scores of
different stages have different scales: compare them within one user's row only.

Every call of ``recommend``, ``predict``, ``score_items`` and ``score_pairs`` sets ``served_by_``:
the stage name of each user (or pair) asked, in order.

Items: an item of the vocabulary without train rows gets whatever the stage serving the user gives
it (the primary's feature path for ContentBased/Hybrid; 0 under popularity and neighbours, so
it ranks after the known items). Items outside the vocabulary are scored by ``score_new_items``,
which delegates to ``primary.score_new_items`` and raises ColdStartError when the primary has no
such method. ``cold_start`` (what evaluate_cold may ask) holds "items" only when the primary's does.
"""

from typing import NamedTuple

import numpy as np

from nanorec.data.features import unit_rows
from nanorec import _checks
from nanorec.io import FormatError
from nanorec.models.base import Recommender, _jsonable, _registered_class, register
from nanorec.models.mf import BPRMF
from nanorec.scoring import ColdStartError, csr_entries, row_blocks

STAGES = ("primary", "primary_cold", "neighbours", "popularity")
TIE_BREAK = 1e-3  # weight of popularity in the neighbours' score: below one vote's share when k <= 999


class _Asked(NamedTuple):
    """The users of one call: raw ids (n,), vocabulary index (-1 outside it), features (n, F) and
    the stage that serves each (n,)."""

    raw_ids: np.ndarray
    index: np.ndarray
    features: np.ndarray
    stage: np.ndarray

    def take(self, rows):
        return _Asked(*(values[rows] for values in self))


@register("cold-start", "a model (BPRMF) with fallbacks for users without rows: their features, "
          "demographic neighbours, popularity")
class ColdStartRecommender(Recommender):
    """A primary model with fallbacks for users it cannot score (module docstring).

    Parameters
    ----------
    primary : Recommender or None
        Unfitted; ``fit`` fits a copy (``primary_``) on the same train data. None: BPRMF().
    neighbours : int
        k, the train users whose items the neighbours stage counts. With a few categorical
        features (age bucket, gender) many users are equally similar, and a larger k averages
        the taste of the whole group: k chosen on validation users was 200-400 on ML-100K and
        planted data (benchmarks/bench_coldstart.py); k = 20 lost to Popularity there.

    Attributes
    ----------
    primary_ : the fitted copy of primary
    user_features_ : float64 (U, F) or None;  user_feature_names_ : list of F str or None
    item_counts_ : float64 (I,)   train rows per item
    served_by_ : str array, the stage of each user (pair) of the last call
    """

    cold_start = ("users", "items")  # after fit: "items" only if the primary scores cold items

    def __init__(self, primary=None, neighbours=100):
        self.primary = primary
        self.neighbours = neighbours

    def _fit(self, train, valid):
        template = BPRMF() if self.primary is None else self.primary
        if not isinstance(template, Recommender):
            raise TypeError(f"ColdStartRecommender: primary must be a nanorec Recommender, got "
                            f"{type(self.primary).__name__}")
        _checks.positive_int(self.neighbours, "neighbours", "ColdStartRecommender")
        primary = type(template)(**template.get_params()).fit(train, valid)
        self._adopt(primary, train.user_features, train.user_feature_names)

    def _adopt(self, primary, user_features, user_feature_names):
        """Set the fitted attributes from a fitted primary and the train user features."""
        self.primary_ = primary
        self.item_counts_ = np.bincount(primary.train_csr_.indices, minlength=primary.n_items_).astype(float)
        self.user_features_ = None if user_features is None else np.asarray(user_features, np.float64)
        self.user_feature_names_ = None if user_feature_names is None else list(user_feature_names)
        self.cold_start = ("users", "items") if "items" in primary.cold_start else ("users",)

    # ------------------------------------------------------------------ who is asked
    def _primary_scores_cold_users(self):
        """True when the primary scores users without rows from their features (ContentBased and
        Hybrid fitted with user features set user_feature_names_)."""
        primary = self.primary_
        return "users" in primary.cold_start and getattr(primary, "user_feature_names_", None) is not None

    def _asked(self, raw_ids, index, given_features=None):
        """_Asked for users by raw id and vocabulary index (-1 outside it); ``given_features``
        (n, F) is used for the ids outside the vocabulary only."""
        n_features = 0 if self.user_features_ is None else self.user_features_.shape[1]
        features = np.zeros((len(index), n_features))
        if given_features is not None:
            features[:] = self._checked_features(given_features, len(index))
        in_vocabulary = index >= 0
        features[in_vocabulary] = self.user_features_[index[in_vocabulary]] if n_features else 0.0
        has_rows = np.diff(self.train_csr_.indptr) > 0
        known = in_vocabulary & has_rows[np.maximum(index, 0)]
        described = np.linalg.norm(features, axis=1) > 0
        cold_stage = "primary_cold" if self._primary_scores_cold_users() else "neighbours"
        stage = np.where(known, "primary", np.where(described, cold_stage, "popularity"))
        return _Asked(raw_ids, index, features, stage)

    def _asked_by_raw_id(self, user_ids, user_features):
        raw_ids = np.atleast_1d(user_ids)
        if raw_ids.ndim != 1:
            raise ValueError(f"expected a 1-D sequence of user ids, got shape {raw_ids.shape}")
        lookup = self._lookup("user")
        index = np.array([lookup.get(raw, -1) for raw in raw_ids.tolist()], dtype=np.int64)
        return self._asked(raw_ids, index, user_features)

    def _asked_by_index(self, user_index):
        user_index = np.asarray(user_index, dtype=np.int64)
        return self._asked(self.user_ids_[user_index], user_index)

    def _checked_features(self, values, n_rows):
        """Given user features as float64 (n_rows, F), after checking shape and values."""
        if self.user_features_ is None:
            raise ValueError("ColdStartRecommender was fitted without user features: it cannot use them")
        values = np.asarray(values)
        if values.dtype.kind not in "biuf":
            raise TypeError(f"user_features must be numbers, got dtype {values.dtype}")
        values = values.reshape(1, -1) if values.ndim == 1 and n_rows == 1 else values
        expected = (n_rows, self.user_features_.shape[1])
        if values.shape != expected:
            raise ValueError(f"user_features must have shape {expected} (one row per user id, columns "
                             f"user_feature_names_), got {np.shape(values)}")
        if not np.isfinite(values).all():
            raise ValueError("user_features contain NaN or infinite values")
        return values.astype(np.float64)

    # ------------------------------------------------------------------ the stages
    def _scores(self, asked):
        """(n, I) float64 scores, each row from the stage serving its user."""
        scores = np.empty((len(asked.index), self.n_items_))
        for stage, score_stage in (("primary", self._primary_rows), ("primary_cold", self._primary_cold_rows),
                                   ("neighbours", self._neighbour_rows),
                                   ("popularity", lambda _: self.item_counts_)):
            rows = asked.stage == stage
            if rows.any():
                scores[rows] = score_stage(asked.take(rows))
        return scores

    def _primary_rows(self, asked):
        return self.primary_.checked_scores(asked.index)

    def _primary_cold_rows(self, asked):
        """The primary's cold path: stored features for ids of the vocabulary, given ones else."""
        scores = np.empty((len(asked.index), self.n_items_))
        in_vocabulary = asked.index >= 0
        scores[in_vocabulary] = self.primary_.checked_scores(asked.index[in_vocabulary])
        new = ~in_vocabulary
        if new.any():  # the primary's recommend over the whole catalogue, put back in item order
            item_ids, item_scores = self.primary_.recommend(
                asked.raw_ids[new], k=self.n_items_, exclude_seen=False, user_features=asked.features[new])
            item_index = self.item_index(item_ids.reshape(-1)).reshape(item_ids.shape)
            new_scores = np.empty_like(item_scores)
            np.put_along_axis(new_scores, item_index, item_scores, axis=1)
            scores[new] = new_scores
        return scores

    def _neighbour_rows(self, asked):
        """The neighbours' vote plus the popularity tie-break (module docstring), (n, I); the
        (n, users with rows) similarities are formed a block of users at a time."""
        share = np.empty((len(asked.index), self.n_items_))
        for block in row_blocks(len(asked.index), self.n_users_):
            share[block] = self._vote(*self._neighbours(asked.features[block]))
        return share + TIE_BREAK * self.item_counts_ / max(self.item_counts_.max(), 1.0)

    def _neighbours(self, features):
        """The k train users most like each row of features (n, F): (users (n, k), weights
        max(cos, 0) (n, k))."""
        known = np.flatnonzero(np.diff(self.train_csr_.indptr) > 0)
        k = min(self.neighbours, len(known))
        similarity = unit_rows(features) @ unit_rows(self.user_features_[known]).T
        top = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        return known[top], np.maximum(np.take_along_axis(similarity, top, axis=1), 0.0)

    def _vote(self, neighbour_users, weights):
        """(n, I): sum of the weights (n, k) of the neighbours (n, k) that have each item in
        train, over the sum of all their weights (0 where that sum is 0)."""
        n_users, k = neighbour_users.shape
        csr = self.train_csr_
        entry_row, item = csr_entries(csr.indptr, csr.indices, neighbour_users.reshape(-1))
        user_row = entry_row // k  # entry_row counts (user, neighbour) pairs: k per user
        votes = np.bincount(user_row * self.n_items_ + item, weights.reshape(-1)[entry_row],
                            minlength=n_users * self.n_items_).reshape(n_users, self.n_items_)
        totals = weights.sum(axis=1, keepdims=True)
        return votes / np.where(totals > 0, totals, 1.0)

    # ------------------------------------------------------------------ the public API
    def score_items(self, user_index):
        """Scores (n, I) of every item for users of the vocabulary, each from its stage."""
        asked = self._asked_by_index(user_index)
        self.served_by_ = asked.stage
        return self._scores(asked)

    def score_pairs(self, user_index, item_index):
        """Scores (n,) of aligned (user, item) index pairs, each from its user's stage."""
        return self._pair_scores(self._asked_by_index(user_index), np.asarray(item_index))

    def _predict(self, user_ids, item_ids, user_features):
        """Scores (n,) float64 of (user, item) pairs by raw id; a user outside the vocabulary is
        described by its row of ``user_features`` (n, F), else served by popularity."""
        asked = self._asked_by_raw_id(user_ids, user_features)
        item_index = self.item_index(np.atleast_1d(item_ids))
        if len(item_index) != len(asked.index):
            raise ValueError(f"predict got {len(asked.index)} user ids but {len(item_index)} item ids")
        return self._pair_scores(asked, item_index)

    def _pair_scores(self, asked, item_index):
        scores = np.empty(len(item_index))
        primary = asked.stage == "primary"
        scores[primary] = self.primary_.score_pairs(asked.index[primary], item_index[primary])
        others = np.flatnonzero(~primary)
        for block in row_blocks(len(others), self.n_items_):
            rows = others[block]
            scores[rows] = self._scores(asked.take(rows))[np.arange(len(rows)), item_index[rows]]
        self.served_by_ = asked.stage
        return scores

    def _recommend(self, user_ids, k, exclude_seen, user_features):
        """Top-k items for users by raw id, known or not (``user_features`` (F,) or (n, F)
        describe the ids outside the vocabulary); ``served_by_`` names each user's stage."""
        asked = self._asked_by_raw_id(user_ids, user_features)

        def block_scores(block):
            block_asked = asked.take(block)
            scores = self._scores(block_asked)
            if exclude_seen:
                in_vocabulary = np.flatnonzero(block_asked.index >= 0)
                csr = self.train_csr_
                row, item = csr_entries(csr.indptr, csr.indices, block_asked.index[in_vocabulary])
                scores[in_vocabulary[row], item] = -np.inf
            return scores

        result = self._top_k_by_block(len(asked.index), k, block_scores, np.ndim(user_ids) == 0)
        self.served_by_ = asked.stage
        return result

    def score_new_items(self, user_ids, item_features, user_features=None):
        """Scores of items outside the vocabulary, from their features: the primary's
        ``score_new_items`` (ContentBased, Hybrid); ColdStartError for a primary without one."""
        if not hasattr(self.primary_, "score_new_items"):
            raise ColdStartError(f"the primary model ({type(self.primary_).__name__}) cannot score "
                                 "items from their features; use ContentBased or Hybrid as primary")
        scores = self.primary_.score_new_items(user_ids, item_features, user_features)
        self.served_by_ = np.full(len(np.atleast_1d(user_ids)), "primary")
        return scores

    def _explain(self, user_index, item_index):
        """The stage serving the user explains: the primary's own explanation; the neighbours
        who have the item, each with its share of the vote (never a user who chose not to be
        named: UserPrivacy); or the item's train rows."""
        asked = self._asked_by_index(np.array([user_index]))
        stage = asked.stage[0]
        if stage in ("primary", "primary_cold"):
            score, method, labels, values, baseline = self.primary_._explain(user_index, item_index)
            return score, f"{stage} stage, {method}", labels, values, baseline
        score = float(self._scores(asked)[0, item_index])
        if stage == "popularity":
            count = float(self.item_counts_[item_index])
            return score, "popularity stage: the item's train rows", ["train rows of the item"], \
                [count], None
        users, weights = self._neighbours(asked.features)
        csr = self.train_csr_
        has_item = np.array([item_index in csr.indices[csr.indptr[v] : csr.indptr[v + 1]]
                             for v in users[0]])
        shown = has_item & ~self._hidden_in_explanations()[users[0]] & (weights[0] > 0)
        labels = [f"user {raw}, a neighbour by features"
                  for raw in self.user_ids_[users[0][shown]].tolist()]
        values = weights[0][shown] / max(weights[0].sum(), 1e-300)
        return score, "neighbours stage: the neighbours' vote (their share of it)", labels, values, \
            None

    # ------------------------------------------------------------------ save / load
    def _state(self, metadata=None):
        """The primary's own (arrays, header) under "primary/" and "primary", beside the user
        features and ``neighbours`` (Recommender.save writes them; Recommender.load reads them)."""
        primary_arrays, primary_header = self.primary_._state()
        arrays = {f"primary/{name}": values for name, values in primary_arrays.items()}
        if self.user_features_ is not None:
            arrays["user_features_"] = self.user_features_
        header = {"neighbours": int(self.neighbours), "user_feature_names": self.user_feature_names_,
                  "privacy": self.privacy_,
                  "primary": {"kind": type(self.primary_).__name__, **primary_header},
                  "metadata": _jsonable(getattr(self, "metadata_", {}) if metadata is None else metadata)}
        return arrays, header

    @classmethod
    def _check_file(cls, header, declared):
        """The primary's own checks on its header and arrays ("primary/..."), then the fallback
        chain's: neighbours, the user feature names and the (U, F) user features."""
        primary_header = header.get("primary")
        primary_class = _registered_class(primary_header) if isinstance(primary_header, dict) \
            else None
        if primary_class is None or issubclass(primary_class, ColdStartRecommender):
            kind = primary_header.get("kind") if isinstance(primary_header, dict) else None
            raise FormatError(f"its primary model {kind!r} is not a registered model class")
        primary_class._check_file(primary_header, {
            name.split("/", 1)[1]: value for name, value in declared.items()
            if name.startswith("primary/")})
        neighbours, names = header.get("neighbours"), header.get("user_feature_names")
        if not isinstance(neighbours, int) or isinstance(neighbours, bool) or neighbours < 1:
            raise FormatError(f"its header gives neighbours = {neighbours!r}, not an integer >= 1")
        if names is not None and not (isinstance(names, list)
                                      and all(isinstance(name, str) for name in names)):
            raise FormatError("its header's user_feature_names are not a list of names")
        if not isinstance(header.get("metadata", {}), dict) or \
                not isinstance(header.get("privacy") or {}, dict):
            raise FormatError("its header's metadata or privacy is not a dict")
        others = {name for name in declared if not name.startswith("primary/")}
        if others - {"user_features_"}:
            raise FormatError(f"it holds arrays a cold-start model never saves: "
                              f"{sorted(others - {'user_features_'})}")
        n_users = primary_header["fitted"]["n_users_"]
        if ("user_features_" in declared) != (names is not None):
            raise FormatError("its user features and their names do not come together")
        if names is not None:
            shape, dtype = declared["user_features_"]
            if shape != (n_users, len(names)) or dtype.kind != "f":
                raise FormatError(f"array 'user_features_' has shape {shape} ({dtype}), not "
                                  f"({n_users}, {len(names)}) numbers")

    @classmethod
    def _from_state(cls, header, arrays):
        primary_header = dict(header["primary"])
        primary_class = _registered_class(primary_header)
        primary = primary_class._from_state(primary_header, {
            name.split("/", 1)[1]: values for name, values in arrays.items() if name.startswith("primary/")
        })
        model = cls(primary_class(**primary.get_params()), header["neighbours"])
        for name in ("user_ids_", "item_ids_", "n_users_", "n_items_", "train_csr_"):
            setattr(model, name, getattr(primary, name))
        model._lookups = {}
        model.metadata_ = header.get("metadata", {})
        model.privacy_ = header.get("privacy")
        model._adopt(primary, arrays.get("user_features_"), header["user_feature_names"])
        return model
