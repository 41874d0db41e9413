"""The Recommender base class (raw ids in and out, scoring in index space), the network models'
training skeleton, and the registry of models.

A model works with indices: user u in 0..U-1, item i in 0..I-1 (the maps of the Interactions it was
fitted on). A subclass writes two methods,

    _fit(train, valid)       learn from the training Interactions
    score_items(user_index)  -> (n, I) scores of every item for n users; higher is better

and inherits the public API that speaks raw ids:

    model.fit(train, valid=None) -> model
    model.predict(user_ids, item_ids) -> scores (n,)
    model.recommend(user_id, k=10, exclude_seen=True) -> (item_ids (k,), scores (k,))
    model.recommend(user_ids, k=10, exclude_seen=True) -> (item_ids (n, k), scores (n, k))

scikit-learn conventions: ``__init__`` only stores hyperparameters, learned attributes end in ``_``
and ``fit`` returns ``self``.

A model trained by gradient descent subclasses NetworkRecommender: it declares its network, loss,
optimizer and one epoch's training samples, and the skeleton trains it through
nanorec.training.run_epochs. ``@register(name, summary)`` puts a model class in REGISTRY, which
gives the command line, ``Recommender.load``, ``nanorec gradcheck`` and ``nanorec verify`` every
model: a new model is one file.
"""

import importlib
import inspect
import numbers
import os
import re
from dataclasses import dataclass

import numpy as np

from nanorec import _checks
from nanorec.data.interactions import CSR
from nanorec.evaluation.protocols import evaluate
from nanorec.io import FORMAT_VERSION, FormatError, open_arrays, save_arrays
from nanorec.scoring import ColdStartError, csr_entries, row_blocks, top_k
from nanorec.training import Samples, run_epochs, train_epoch

BASELINE_PAIRS = 10_000  # train pairs whose mean score is the baseline of a ranking model
REGISTRY = {}  # registered name -> model class, filled by @register as the classes are defined

# what a model can need of its data: name -> (test on an Interactions, what it is, said to a user)
NEEDS = {
    "ratings": (lambda data: data.ratings is not None, "explicit ratings (a rating column)"),
    "timestamps": (lambda data: data.timestamps is not None, "timestamps (a timestamp column)"),
    "item features": (lambda data: data.item_features is not None, "item features"),
    "side features": (lambda data: data.user_features is not None or data.item_features is not None,
                      "user or item features"),
}


def register(name, summary, needs=(), cli_defaults=None):
    """Class decorator: put a model in REGISTRY under ``name`` (its name on the command line).

    summary : one line for ``nanorec train --help``
    needs : what the data must have, keys of NEEDS ("ratings", "timestamps", ...)
    cli_defaults : constructor arguments the command line uses instead of the defaults
    """
    unknown = [need for need in needs if need not in NEEDS]
    if unknown:
        raise ValueError(f"register: unknown needs {unknown}; known: {sorted(NEEDS)}")

    def add(cls):
        if name in REGISTRY and REGISTRY[name] is not cls:
            raise ValueError(f"register: the name {name!r} is taken by {REGISTRY[name].__name__}")
        cls.registered_name, cls.summary = name, summary
        cls.needs, cls.cli_defaults = tuple(needs), dict(cli_defaults or {})
        REGISTRY[name] = cls
        return cls

    return add


@dataclass(frozen=True)
class UserPrivacy:
    """Each user's privacy choices, by raw user id; ``fit(train, privacy=...)`` takes them, the
    model keeps them (``privacy_``, saved with it) and honours them:

    not_trained_on       fit leaves their rows out: the model learns nothing from them, and
                         serves them as not personalised (below)
    not_personalised     recommend gives them the most popular train items (DPBiasedMF: the
                         highest item biases), one list for every such user (their history
                         unused, seen items not excluded); predict refuses them; explain says so
    not_in_explanations  no explanation of another user names them (AutoRec's, which attribute a
                         score to the other users' ratings of the item)
    """

    not_trained_on: tuple = ()
    not_personalised: tuple = ()
    not_in_explanations: tuple = ()

    def __post_init__(self):
        for name in ("not_trained_on", "not_personalised", "not_in_explanations"):
            values = getattr(self, name)
            if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
                raise TypeError(f"UserPrivacy: {name} must be a sequence of raw user ids, got "
                                f"{values!r}")
            object.__setattr__(self, name, tuple(np.asarray(list(values)).tolist()))

    def as_dict(self):
        return {name: list(getattr(self, name))
                for name in ("not_trained_on", "not_personalised", "not_in_explanations")}


class Recommender:
    """Base class of every nanorec model.

    Learned attributes set by :meth:`fit`:

    user_ids_, item_ids_ : ndarray (U,), (I,)
        Raw ids of the training Interactions (index -> raw id).
    n_users_, n_items_ : int
        U and I, the vocabulary sizes.
    train_csr_ : CSR (U, I)
        The training interactions; ``recommend(..., exclude_seen=True)`` and evaluation use it to
        leave out items a user has already seen.

    The raw id -> index lookups are built from user_ids_ and item_ids_ on first use, so a loader
    only has to restore these attributes and the model's own parameters.

    ``cold_start`` names what a model can score without training rows ("users", "items"). A
    pure-ID model (the default, ``()``) learns nothing for a user without rows, so ``predict`` and
    ``recommend`` raise ColdStartError for such a user rather than return noise.
    """

    cold_start = ()

    def fit(self, train, valid=None, privacy=None):
        """Learn from ``train`` (an Interactions); ``valid`` is an optional Interactions for models
        that monitor a validation metric; ``privacy`` a UserPrivacy of train's users, or None.
        Returns ``self``."""
        for name, data in (("train", train), ("valid", valid)):
            expected = ("to_csr", "user_ids", "item_ids")
            if data is not None and not all(hasattr(data, attribute) for attribute in expected):
                raise TypeError(
                    f"{type(self).__name__}.fit expects {name} as a nanorec Interactions "
                    f"(nanorec.data.interactions), got {type(data).__name__}"
                )
        if len(train) == 0:
            raise ValueError(f"{type(self).__name__}.fit got an empty train set")
        privacy = UserPrivacy() if privacy is None else privacy
        if not isinstance(privacy, UserPrivacy):
            raise TypeError(f"privacy must be a UserPrivacy, got {type(privacy).__name__}")
        for ids in privacy.as_dict().values():
            train.user_to_index(ids)  # KeyError for an id train does not know
        if privacy.not_trained_on:
            dropped = np.isin(train.user_index, train.user_to_index(privacy.not_trained_on))
            train = train.subset(np.flatnonzero(~dropped))  # the vocabulary stays
            if len(train) == 0:
                raise ValueError(f"{type(self).__name__}.fit: no train rows are left once the "
                                 "users who are not to be trained on are left out")
        self._set_vocabulary(train)
        self.privacy_ = privacy.as_dict()
        self._fit(train, valid)
        return self

    def set_privacy(self, privacy):
        """Change the users' choices of not being personalised or named in explanations after
        fit. Who the model was trained on cannot change here: nanorec.privacy.forget unlearns a
        user."""
        if not isinstance(privacy, UserPrivacy):
            raise TypeError(f"privacy must be a UserPrivacy, got {type(privacy).__name__}")
        trained_without = set(self._privacy("not_trained_on"))
        if set(privacy.not_trained_on) != trained_without:
            raise ValueError("set_privacy cannot change not_trained_on: the model was fitted "
                             f"without {sorted(trained_without)!r}; to unlearn a user use "
                             "nanorec.privacy.forget, to train on one fit again")
        for ids in privacy.as_dict().values():
            self._to_index(np.asarray(ids, dtype=self.user_ids_.dtype), "user")
        self.privacy_ = privacy.as_dict()

    def _privacy(self, choice):
        """The raw ids of the users who made a choice (a field of UserPrivacy)."""
        return (getattr(self, "privacy_", None) or {}).get(choice, [])

    def _not_personalised(self, raw_ids):
        """bool (n,): which of these raw user ids are served without personalisation."""
        private = set(self._privacy("not_personalised")) | set(self._privacy("not_trained_on"))
        return np.array([raw in private for raw in np.asarray(raw_ids).tolist()], dtype=bool)

    def _hidden_in_explanations(self):
        """bool (U,): the users no explanation of another user may name."""
        hidden = np.zeros(self.n_users_, dtype=bool)
        ids = self._privacy("not_in_explanations")
        hidden[self._to_index(np.asarray(ids, dtype=self.user_ids_.dtype), "user")] = True
        return hidden

    def _popularity(self):
        """float64 (I,): how a not personalised user ranks the items: their train rows."""
        return np.bincount(self.train_csr_.indices, minlength=self.n_items_).astype(np.float64)

    def _set_vocabulary(self, train):
        """The fitted ids of ``train``: user_ids_, item_ids_, n_users_, n_items_, train_csr_."""
        self.user_ids_ = np.asarray(train.user_ids)
        self.item_ids_ = np.asarray(train.item_ids)
        self.n_users_, self.n_items_ = int(train.n_users), int(train.n_items)
        self.train_csr_ = train.to_csr()
        self._lookups = {}  # raw id -> index dicts, built on first use
        self._baseline = None  # baseline_score(), computed on first use

    def _fit(self, train, valid):
        """Learn the parameters; subclasses implement it (fit has already set the ``*_`` ids)."""
        raise NotImplementedError(f"{type(self).__name__} must implement _fit(train, valid)")

    def score_items(self, user_index):
        """Scores of all items for some users, in index space.

        Parameters
        ----------
        user_index : int array (n,)

        Returns
        -------
        float32 or float64 array (n, I)
            Higher means "recommend first"; must be finite.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement score_items(user_index)")

    def score_pairs(self, user_index, item_index):
        """Scores (n,) of index pairs: scores[n] = score_items(user_index)[n, item_index[n]].

        This default gathers from score_items, a block of users at a time (bounded memory but
        O(n I) work); models with a cheaper pairwise score (a dot product) override it.
        """
        user_index, item_index = np.asarray(user_index), np.asarray(item_index)
        scores = np.empty(len(user_index), dtype=np.float64)
        for block in row_blocks(len(user_index), self.n_items_):
            rows = self.checked_scores(user_index[block])
            scores[block] = rows[np.arange(len(rows)), item_index[block]]
        return scores

    def checked_scores(self, user_index):
        """score_items(user_index) as a fresh float64 (n, I) array, its shape and values checked."""
        scores = np.array(self.score_items(user_index), dtype=np.float64, order="C")  # a fresh copy
        expected = (len(user_index), self.n_items_)
        if scores.shape != expected:
            raise ValueError(
                f"{type(self).__name__}.score_items returned shape {scores.shape}, "
                f"expected {expected}"
            )
        if not np.all(np.isfinite(scores)):
            raise ValueError(f"{type(self).__name__}.score_items returned NaN or inf scores")
        return scores

    def predict(self, user_ids, item_ids, user_features=None, unknown="error", return_flags=False):
        """Scores of (user, item) pairs given by raw ids: ``(n,)`` float64 for n = len(user_ids).

        Parameters
        ----------
        user_ids, item_ids : sequences of n raw ids
        user_features : array (n, F), optional
            Describe ids outside the vocabulary, for the models that use them (ContentBased,
            Hybrid, ColdStartRecommender).
        unknown : {"error", "baseline"}
            A pair the model cannot score is one whose user or item is not in the vocabulary it
            was fitted on, or (for a model whose ``cold_start`` does not name them) a user or an
            item without train rows, of which it learned nothing. "error" (the default): raise
            KeyError naming the first id outside the vocabulary, ColdStartError for a user
            without train rows (items without train rows get the model's score). "baseline":
            answer such pairs with ``baseline_score()`` instead (a user outside the vocabulary is
            scored by the model when it has a row of ``user_features`` and the model scores users
            from features), so a test set with a few new ids is scored as a whole.
        return_flags : bool
            Also return which pairs got the baseline: ``(scores, flags)``, flags bool (n,).

        Raises ValueError for a user who chose not to be personalised, and RuntimeError before
        fit.
        """
        _checks.one_of(unknown, "unknown", ("error", "baseline"), f"{type(self).__name__}.predict")
        users, items = np.atleast_1d(user_ids), np.atleast_1d(item_ids)
        private = self._not_personalised(users)
        if private.any():
            raw_id = users[private].tolist()[0]
            raise ValueError(f"user id {raw_id!r} chose not to be personalised: a prediction would "
                             "use their data; recommend() serves them the most popular items")
        if unknown == "error":
            scores = self._predict(user_ids, item_ids, user_features)
            flags = np.zeros(len(scores), dtype=bool)
        else:
            if users.ndim != 1 or items.ndim != 1 or len(users) != len(items):
                raise ValueError(f"predict got {len(users)} user ids but {len(items)} item ids")
            user_index = self._index_or_missing(users, "user")
            item_index = self._index_or_missing(items, "item")
            scorable = self.scorable_pairs(user_index, item_index)
            if user_features is not None and "users" in self.cold_start:
                scorable |= (user_index < 0) & (item_index >= 0)  # scored from their features
            scores = np.full(len(users), self.baseline_score())
            if scorable.any():
                features = None if user_features is None else np.asarray(user_features)[scorable]
                scores[scorable] = self._predict(users[scorable], items[scorable], features)
            flags = ~scorable
        return (scores, flags) if return_flags else scores

    def scorable_pairs(self, user_index, item_index):
        """bool (n,): which (user, item) index pairs the model scores itself; index -1 means an
        id outside the vocabulary. A pair is scorable when both indices are in the vocabulary,
        and its user (item) has train rows or the model's ``cold_start`` names "users"
        ("items"). The others get ``baseline_score()`` from predict(..., unknown="baseline")
        and evaluate(..., unknown="baseline")."""
        user_index, item_index = np.asarray(user_index), np.asarray(item_index)
        csr = self.train_csr_
        user_rows = np.diff(csr.indptr) > 0
        item_rows = np.bincount(csr.indices, minlength=self.n_items_) > 0
        known_user = (user_index >= 0) & (user_rows[np.maximum(user_index, 0)]
                                          | ("users" in self.cold_start))
        known_item = (item_index >= 0) & (item_rows[np.maximum(item_index, 0)]
                                          | ("items" in self.cold_start))
        return known_user & known_item

    def baseline_score(self):
        """The score of a pair the model cannot score (see ``predict``'s ``unknown``):

            models that predict ratings (``needs`` has "ratings": BiasedMF, AutoRec, DPBiasedMF,
            FederatedMF): the mean train rating, as Surprise answers (global_mean_ when the
            model keeps no train rows)
            other models: the mean of the model's own scores of its train pairs (of at most
            BASELINE_PAIRS of them, evenly spaced): a typical score of a known interaction

        Computed once per fit and kept.
        """
        if getattr(self, "_baseline", None) is None:
            csr = self.train_csr_
            if "ratings" in getattr(self, "needs", ()):
                value = csr.data.mean() if len(csr.data) else getattr(self, "global_mean_", 0.0)
            elif len(csr.indices) == 0:
                value = 0.0
            else:
                rows = np.unique(np.linspace(0, len(csr.indices) - 1, BASELINE_PAIRS).astype(int))
                users = np.searchsorted(csr.indptr, rows, side="right") - 1
                value = np.mean(self.score_pairs(users, csr.indices[rows]))
            self._baseline = float(value)
        return self._baseline

    def _index_or_missing(self, raw_ids, kind):
        """Indices (n,) int64 of raw ids, -1 for an id outside the vocabulary."""
        lookup = self._lookup(kind)
        index = np.empty(len(raw_ids), dtype=np.int64)
        for position, raw in enumerate(raw_ids.tolist()):
            try:
                index[position] = lookup.get(raw, -1)
            except TypeError:  # unhashable, e.g. a list
                index[position] = -1
        return index

    def _predict(self, user_ids, item_ids, user_features):
        _no_features(self, user_features)
        user_index = self.user_index(np.atleast_1d(user_ids))
        item_index = self.item_index(np.atleast_1d(item_ids))
        if len(user_index) != len(item_index):
            raise ValueError(
                f"predict got {len(user_index)} user ids but {len(item_index)} item ids"
            )
        return self.score_pairs(user_index, item_index)

    def recommend(self, user_ids, k=10, exclude_seen=True, user_features=None):
        """Top-k items for one user or for several users, by raw id.

        Parameters
        ----------
        user_ids : a raw user id, or a sequence of n raw ids
        k : int, 1 <= k <= I
            A k above the catalogue size I raises ValueError.
        exclude_seen : bool
            Give the items the user interacted with in train the score -inf, so they come last. A
            user with fewer than k unseen items gets seen items (score -inf) in the last places.
        user_features : array (F,) or (n, F), optional
            Features of ids outside the vocabulary, for the models that use them (ContentBased,
            Hybrid, ColdStartRecommender).

        Returns
        -------
        (item_ids (k,), scores (k,)) for one user; (item_ids (n, k), scores (n, k)) for n users.
        Ranked by score, highest first; equal scores are ordered by the smaller item index.
        Users who chose not to be personalised (UserPrivacy) get the most popular train items,
        scored by their train rows.
        """
        raw_ids = np.atleast_1d(user_ids)
        private = self._not_personalised(raw_ids)
        if not private.any():
            return self._recommend(user_ids, k, exclude_seen, user_features)
        k = _checks.positive_int(k, "k")
        if k > self.n_items_:
            raise ValueError(f"k={k} is larger than the catalogue ({self.n_items_} items)")
        popular, popular_scores = top_k(self._popularity()[None, :], k)
        items = np.empty((len(raw_ids), k), dtype=self.item_ids_.dtype)
        scores = np.empty((len(raw_ids), k))
        items[private], scores[private] = self.item_ids_[popular[0]], popular_scores[0]
        if not private.all():
            features = None if user_features is None else np.atleast_2d(user_features)[~private]
            items[~private], scores[~private] = self._recommend(raw_ids[~private], k, exclude_seen,
                                                                features)
        return (items[0], scores[0]) if np.ndim(user_ids) == 0 else (items, scores)

    def _recommend(self, user_ids, k, exclude_seen, user_features):
        """recommend for personalised users; a model with other fallbacks overrides it."""
        _no_features(self, user_features)
        user_index = self.user_index(np.atleast_1d(user_ids))

        def block_scores(block):
            scores = self.checked_scores(user_index[block])
            if exclude_seen:
                self.mask_seen(scores, user_index[block])
            return scores

        return self._top_k_by_block(len(user_index), k, block_scores, np.ndim(user_ids) == 0)

    def _top_k_by_block(self, n_users, k, block_scores, single):
        """recommend's ranking: ``block_scores(block)`` gives the (n, I) scores of a block of the
        n_users rows; returns raw item ids and scores, (k,) each when ``single`` else (n, k)."""
        k = _checks.positive_int(k, "k")
        if k > self.n_items_:
            raise ValueError(f"k={k} is larger than the catalogue ({self.n_items_} items)")
        item_index = np.empty((n_users, k), dtype=np.int64)
        scores = np.empty((n_users, k), dtype=np.float64)
        for block in row_blocks(n_users, self.n_items_):
            item_index[block], scores[block] = top_k(block_scores(block), k)
        item_ids = self.item_ids_[item_index]
        return (item_ids[0], scores[0]) if single else (item_ids, scores)

    def mask_seen(self, scores, user_index, csr=None):
        """Set to -inf, in place, the scores (n, I) of the items each user has in ``csr``
        (default: the training interactions)."""
        csr = self.train_csr_ if csr is None else csr
        block_row, item = csr_entries(csr.indptr, csr.indices, user_index)
        scores[block_row, item] = -np.inf

    def user_index(self, user_ids):
        """Indices (n,) int64 of raw user ids; KeyError("unknown user id ...") if one is unknown,
        ColdStartError if one has no training rows and the model cannot score cold users."""
        index = self._to_index(user_ids, "user")
        if "users" not in self.cold_start:
            n_rows = np.diff(self.train_csr_.indptr)[index]
            if np.any(n_rows == 0):
                raw_id = self.user_ids_[[index[np.argmin(n_rows)]]].tolist()[0]
                raise ColdStartError(
                    f"user id {raw_id!r} has no training rows; this model ({type(self).__name__}) "
                    "cannot score users without training rows; use Hybrid with user_features"
                )
        return index

    def item_index(self, item_ids):
        """Indices (n,) int64 of raw item ids; KeyError("unknown item id ...") if one is unknown."""
        return self._to_index(item_ids, "item")

    def _to_index(self, raw_ids, kind):
        lookup = self._lookup(kind)
        raw_ids = np.asarray(raw_ids)
        if raw_ids.ndim != 1:
            raise ValueError(f"expected a 1-D sequence of {kind} ids, got shape {raw_ids.shape}")
        try:
            return np.array([lookup[raw] for raw in raw_ids.tolist()], dtype=np.int64)
        except KeyError as error:
            raise KeyError(f"unknown {kind} id {error.args[0]!r}") from None
        except TypeError as error:  # unhashable raw id, e.g. a list
            raise KeyError(f"unknown {kind} id: {error}") from None

    def _lookup(self, kind):
        """The dict raw id -> index for "user" or "item", built from user_ids_ / item_ids_."""
        if not hasattr(self, "user_ids_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted yet: call fit(train) first")
        lookups = self.__dict__.setdefault("_lookups", {})
        if kind not in lookups:
            raw_ids = getattr(self, f"{kind}_ids_").tolist()
            lookups[kind] = {raw: index for index, raw in enumerate(raw_ids)}
        return lookups[kind]

    def get_params(self):
        """The constructor arguments, by name (scikit-learn's convention)."""
        parameters = list(inspect.signature(type(self).__init__).parameters.values())[1:]
        named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        return {p.name: getattr(self, p.name) for p in parameters if p.kind in named}

    def save(self, path, metadata=None):
        """Write the fitted model to ``path`` (.npz with a JSON header; atomic; no pickle).

        Saved: the hyperparameters, every learned attribute (name ending in ``_``): arrays as
        arrays, numbers, strings, lists and dicts (e.g. ``history_``) in the header, the training
        CSR, and the parameters of a network attribute (a nanorec Layer, e.g. ``network_``).
        ``metadata``, a JSON-able dict (e.g. which data and split the model was trained on), goes
        into the header too; ``load`` gives it back as ``model.metadata_``. By default a loaded
        model's own ``metadata_`` is saved again.
        """
        if not hasattr(self, "user_ids_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted yet: nothing to save")
        arrays, header = self._state(metadata)
        return save_arrays(path, type(self).__name__, arrays, **header)

    def _state(self, metadata=None):
        """(arrays, header) that :meth:`save` writes and :meth:`_from_state` reads back.
        A model made of other models (e.g. ColdStartRecommender) overrides both."""
        arrays, fitted, networks = {}, {}, []
        for name, value in vars(self).items():
            if not name.endswith("_") or name.startswith("_") or name == "metadata_":
                continue
            if isinstance(value, CSR):
                arrays.update({f"{name}.{field}": getattr(value, field) for field in CSR._fields})
            elif isinstance(value, np.ndarray):
                arrays[name] = _storable(value, name)
            elif hasattr(value, "params") and hasattr(value, "backward"):  # a Layer
                networks.append(name)
                arrays.update({f"{name}.{key}": p for key, p in value.params.items()})
            else:
                fitted[name] = value
        if metadata is None:
            metadata = getattr(self, "metadata_", {})
        if not isinstance(metadata, dict):
            raise TypeError(f"metadata must be a dict, got {type(metadata).__name__}")
        header = {"module": type(self).__module__, "params": _jsonable(self.get_params()),
                  "fitted": _jsonable(fitted), "networks": networks, "metadata": _jsonable(metadata)}
        return arrays, header

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save`. ``Recommender.load`` accepts any registered model
        class; ``BiasedMF.load`` insists the file holds a BiasedMF (and reads one of any class
        so named, registered or not).

        The file is checked before any array is read (nanorec.io.open_arrays): the class is
        known, the header's hyperparameters are those of its constructor, the arrays are the
        ones the model saves, with the sizes its header gives (n_users_, n_items_, the network's
        widths) and a bounded total. Once read, the ids, the training CSR and the network's
        parameters are checked against those sizes and the model scores a first and a last user.
        Any failure is one nanorec.io.FormatError naming the file and the problem: truncated,
        corrupt, foreign, other-model, older- or newer-version, or inconsistent files alike.
        """
        path = os.fspath(path)
        with open_arrays(path, kind=None if cls is Recommender else cls.__name__) as archive:
            header = archive.header
            if header["version"] < FORMAT_VERSION:
                raise FormatError(f"{path} holds a model of file format {header['version']}, "
                                  "saved before nanorec's models were networks: fit it again")
            model_class = _registered_class(header) if cls is Recommender else cls
            if model_class is None:
                raise FormatError(f"{path} holds an unknown model class {header['kind']!r}")
            try:
                model_class._check_file(header, archive.declared)
            except FormatError as error:
                raise FormatError(f"{path}: {error}") from None
            arrays = archive.read()
        try:
            model = model_class._from_state(header, arrays)
            model._check_scores()
        except FormatError as error:
            raise FormatError(f"{path}: {error}") from None
        except Exception as error:  # noqa: BLE001 - an untrusted file: the file is at fault
            raise FormatError(f"{path} does not hold a working {model_class.__name__} "
                              f"({_reason(error)})") from None
        return model

    @classmethod
    def _check_file(cls, header, declared):
        """FormatError (its message without the path) unless ``header`` and the arrays it comes
        with, ``declared`` (name -> (shape, dtype), from their .npy headers: nothing read yet),
        describe a fitted model of this class as :meth:`_state` writes one.

        Sizes first: n_users_ and n_items_ are whole numbers, and the ids, the training CSR and
        the network parameters have shapes that agree with them; a network's width arguments
        (SIZE_ARGUMENTS) are no larger than the largest dimension of its saved parameters, so
        building the network to compare its shapes allocates a bounded amount.
        """
        for key, kind in (("params", dict), ("fitted", dict), ("networks", list)):
            if not isinstance(header.get(key), kind):
                raise FormatError(f"its header lacks {key!r} (a {kind.__name__})")
        if not isinstance(header.get("metadata", {}), dict):
            raise FormatError("its header's metadata is not a dict")
        _check_params(cls, header["params"])
        fitted, networks = header["fitted"], header["networks"]
        for name in fitted:
            _check_learned_name(cls, name, "header value")
        sizes = {}
        for name in ("n_users_", "n_items_"):
            value = fitted.get(name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise FormatError(f"its header gives {name} = {value!r}, not a size >= 1")
            sizes[name] = value
        n_users, n_items = sizes["n_users_"], sizes["n_items_"]
        privacy = fitted.get("privacy_")
        if privacy is not None and not (isinstance(privacy, dict) and all(
                isinstance(ids, list) for ids in privacy.values())):
            raise FormatError(f"its header's privacy_ is {privacy!r}, not lists of user ids")

        missing = [name for name in _VOCABULARY_ARRAYS if name not in declared]
        if missing:
            raise FormatError(f"it lacks the array(s) {missing} that every fitted model has")
        indices_shape = declared["train_csr_.indices"][0]
        if len(indices_shape) != 1:
            raise FormatError(f"array 'train_csr_.indices' has shape {indices_shape}, not one "
                              "dimension")
        expected = {"user_ids_": ((n_users,), "iufU"), "item_ids_": ((n_items,), "iufU"),
                    "train_csr_.indptr": ((n_users + 1,), "iu"),
                    "train_csr_.indices": (indices_shape, "iu"),
                    "train_csr_.data": (indices_shape, "biuf"),
                    "train_csr_.shape": ((2,), "iu")}
        for name, (shape, kinds) in expected.items():
            _check_declared(name, declared[name], shape, kinds, sizes)

        for network in networks:
            if not isinstance(network, str) or not hasattr(cls, "_build_network"):
                raise FormatError(f"its header names a network {network!r} that "
                                  f"{cls.__name__} does not have")
            _check_learned_name(cls, network, "network")
            if not any(name.startswith(network + ".") for name in declared):
                raise FormatError(f"it lacks the parameters of {network}")
        in_network = [name for name in declared if name.partition(".")[0] in networks
                      and "." in name]
        for name in in_network:
            if declared[name][1].kind not in "biuf":
                raise FormatError(f"array {name!r} has dtype {declared[name][1]}, not numbers")
        for name in set(declared) - set(expected) - set(in_network):
            _check_learned_name(cls, name, "array")
            if name in fitted:
                raise FormatError(f"it gives {name} twice, in its header and as an array")
            shape, dtype = declared[name]
            if dtype.kind not in "biuf":  # only ids are text
                raise FormatError(f"array {name!r} has dtype {dtype}, not numbers")
            if not shape or shape[0] not in (n_users, n_items):  # a row per user or per item
                raise FormatError(f"array {name!r} has shape {shape}: neither a row per user "
                                  f"(n_users_={n_users}) nor per item (n_items_={n_items})")
        if networks:
            _check_widths(cls, header["params"], fitted, [declared[name][0] for name in in_network])

    @classmethod
    def _from_state(cls, header, arrays):
        """The model that :meth:`_state` described (``arrays`` is consumed), after
        :meth:`_check_file` passed on the same header and arrays; FormatError when the arrays'
        values disagree with it."""
        params = {k: tuple(v) if isinstance(v, list) else v for k, v in header["params"].items()}
        if "dtype" in params:  # JSON keeps tuples as lists and dtypes by name, e.g. "float32"
            params["dtype"] = np.dtype(params["dtype"]).type
        fitted = header["fitted"]
        _check_vocabulary(arrays, fitted["n_users_"], fitted["n_items_"])
        model = cls(**params)
        for name, value in fitted.items():
            setattr(model, name, value)
        model.train_csr_ = CSR(*(arrays.pop(f"train_csr_.{field}") for field in CSR._fields[:3]),
                               (fitted["n_users_"], fitted["n_items_"]))
        arrays.pop("train_csr_.shape")
        for name in header["networks"]:
            network = model._build_network()  # a subclass with a network knows its shape
            saved = {key.partition(".")[2] for key in arrays if key.partition(".")[0] == name}
            if saved != set(network.params):
                missing = sorted(set(network.params) - saved)
                extra = sorted(saved - set(network.params))
                raise FormatError(f"the parameters of {name} do not match {cls.__name__}'s "
                                  f"network (missing {missing}, unexpected {extra})")
            for key, param in network.params.items():
                array = arrays.pop(f"{name}.{key}")
                if array.shape != param.shape:
                    raise FormatError(
                        f"array '{name}.{key}' has shape {array.shape}, but the sizes in the "
                        f"header (n_users_={fitted['n_users_']}, n_items_={fitted['n_items_']} "
                        f"and the hyperparameters) make it {param.shape}")
                param[...] = array
            setattr(model, name, network.eval())
        largest = max(fitted["n_users_"], fitted["n_items_"])
        for name, value in arrays.items():
            is_index = value.dtype.kind in "iu" and name not in ("user_ids_", "item_ids_")
            if is_index and value.size and (value.min() < 0 or value.max() > largest):
                raise FormatError(f"array {name!r} holds indices outside 0 .. {largest}")
            setattr(model, name, value)
        model.metadata_ = header.get("metadata", {})  # files of older versions have none
        model._lookups = {}
        return model

    def _check_scores(self):
        """FormatError (or the error of the model's own code) unless the model scores its first
        and last user, every item by score_items and a pair by score_pairs, with finite numbers:
        a loaded model whose arrays disagree with each other fails here, not later in the middle
        of an evaluation."""
        users = np.array(sorted({0, self.n_users_ - 1}))
        self.checked_scores(users)  # ValueError for a wrong shape, NaN or inf scores
        items = np.array([0, self.n_items_ - 1])[: len(users)]
        pairs = np.asarray(self.score_pairs(users, items))
        if pairs.shape != (len(users),) or pairs.dtype.kind not in "biuf" \
                or not np.all(np.isfinite(pairs)):
            raise FormatError("its parameters give no finite score to a (user, item) pair")

    def __repr__(self):
        hyperparameters = {k: v for k, v in vars(self).items() if k[-1] != "_" and k[0] != "_"}
        params = ", ".join(f"{k}={v!r}" for k, v in hyperparameters.items())
        return f"{type(self).__name__}({params})"

    def explain(self, user_id, item_id, n=5):
        """Why the model gives ``item_id`` its score for ``user_id``: a nanorec.models.explain
        Explanation with the score and the n largest contributions (label, value), largest |value|
        first (n=None: all of them). The methods (item similarity, gradient x input) are in that
        module's docstring.

        Raises KeyError for an unknown id, ColdStartError for a user the model cannot score, and
        NotImplementedError("<Model> has no explanations: ...") for models without a method.
        """
        from nanorec.models.explain import Explanation, top_contributions

        n = None if n is None else _checks.positive_int(n, "n")
        if self._not_personalised([user_id])[0]:
            item_index = int(self.item_index(np.atleast_1d(item_id))[0])
            score = float(self._popularity()[item_index])
            method = "not personalised (the user's choice): the same ranking for every such user"
            return Explanation(user_id, item_id, score, method, [("the item's popularity", score)])
        user_index = int(self.user_index(np.atleast_1d(user_id))[0])
        item_index = int(self.item_index(np.atleast_1d(item_id))[0])
        score, method, labels, values, baseline = self._explain(user_index, item_index)
        return Explanation(user_id, item_id, score, method, top_contributions(labels, values, n),
                           baseline)

    def _explain(self, user_index, item_index):
        """``(score, method, labels, values, baseline)`` for one index pair; by default the
        item-similarity method (models with item vectors, ItemKNN), else NotImplementedError."""
        from nanorec.models.explain import explain_by_similarity

        return explain_by_similarity(self, user_index, item_index)


class NetworkRecommender(Recommender):
    """A recommender that is a network of nanorec.nn layers, trained by gradient descent.

    A subclass declares
        _check_hyperparameters(valid)   its argument checks (``_check_common`` does the shared ones)
        _build_network()                the network, from the hyperparameters and the fitted
                                        sizes (called by fit, and by load with the saved arrays)
        _loss()                         the Loss of the network's output
        _optimizer(network)             the Optimizer of the network's parameters
        _training_data(train)           the set-up of one fit; returns draw(): one epoch's
                                        samples (Samples, or any iterable of nanorec.training.Batch)
    and, with a fused Numba kernel, ``fused`` (a constructor argument) and
        _fused_epoch(samples, optimizer) -> the epoch's mean loss, taking the very steps
                                        train_epoch takes on the same Samples (a test holds them
                                        equal in float64)

    ``fit`` builds ``network_`` and trains it by nanorec.training.run_epochs: each epoch draws
    its samples and runs train_epoch (or the fused kernel) on them; with ``fit(train, valid)``
    each epoch is scored on valid by ``validation_metric`` (full ranking; "rmse" for rating
    models), which early stopping watches. Fitted: network_ (left in eval mode), history_,
    epoch_seconds_, best_epoch_.
    """

    validation_metric = "hr@10"
    fused = False

    def _fit(self, train, valid):
        self._check_hyperparameters(valid)
        self.network_ = self._build_network()
        self._train(train, valid, self.n_epochs)

    def _train(self, train, valid, n_epochs):
        """Train ``network_`` from its current parameters for n_epochs (fit, and fine-tuning)."""
        draw = self._training_data(train)
        network, loss = self.network_, self._loss()
        optimizer = self._optimizer(network)

        def run_epoch():
            samples = draw()
            if self.fused:
                return self._fused_epoch(samples, optimizer)
            mean = train_epoch(network, loss, optimizer, samples)
            network.eval()
            return mean

        self._run_epochs(run_epoch, train, valid, n_epochs, list(network.params.values()))
        network.eval()

    def _run_epochs(self, run_epoch, train, valid, n_epochs, params):
        """nanorec.training.run_epochs with this model's validation, early stopping and display;
        sets history_, epoch_seconds_ and best_epoch_."""
        metric, validate = self.validation_metric, None
        if valid is not None:
            def validate():
                result = evaluate(self, valid, train=train, metrics=(metric,))
                return {f"valid_{metric}": float(result[metric])}

        early_stopping = None if valid is None else getattr(self, "early_stopping", None)
        run = run_epochs(run_epoch, n_epochs, validate, metric not in ("rmse", "mae"),
                         early_stopping, params,
                         getattr(self, "verbose", False), type(self).__name__)
        self.history_, self.epoch_seconds_, self.best_epoch_ = run

    def _check_common(self, valid):
        """The checks every network model needs: n_epochs, lr, reg, batch_size and early_stopping
        (those the model has), dtype; ratings when validation_metric is a rating error."""
        name = type(self).__name__
        for attribute in ("n_epochs", "batch_size"):
            if hasattr(self, attribute):
                _checks.positive_int(getattr(self, attribute), attribute, name)
        _checks.positive(self.lr, "lr", name)
        if hasattr(self, "reg"):
            _checks.non_negative(self.reg, "reg", name)
        _checks.float_dtype(self.dtype, name)
        if getattr(self, "early_stopping", None) is not None:
            _checks.positive_int(self.early_stopping, "early_stopping", name)
            if valid is None:
                raise ValueError(f"{name}: early_stopping needs validation data: fit(train, valid)")
        if self.fused is not False:
            _checks.boolean(self.fused, "fused", name)

    def _check_hyperparameters(self, valid):
        self._check_common(valid)

    def _fused_epoch(self, samples, optimizer):
        raise NotImplementedError(f"{type(self).__name__} has no fused kernel")

    def _gradcheck_batch(self, train):
        """A batch of training data as an epoch feeds it to network_ (for gradient checks)."""
        samples = self._training_data(train)()
        return next(iter(samples.batches() if isinstance(samples, Samples) else samples))


def explicit_ratings(data, name, model_name):
    """The ratings of ``data`` (the ``name`` argument of ``model_name``.fit); implicit data fails."""
    if data.ratings is None:
        raise ValueError(
            f"{model_name} needs explicit ratings, but {name} is implicit feedback (ratings=None); "
            "use BPRMF for implicit feedback"
        )
    return data.ratings


def tail_weights(data, tail_weight):
    """Per-row loss weights against the long tail: w (n,) float64, one per row of ``data``.

        w[r] = (n_i / mean n) ** (-tail_weight)   for row r of item i, then rescaled to mean 1
                                                  over the rows
        n_i = rows of item i in ``data``, mean n = their mean over the I items

    tail_weight = 0 gives exactly ones (x ** -0 = 1, mean 1), so a weighted training is the
    unweighted one bit for bit. Used by BiasedMF, BPRMF, MatrixFactorization and NeuMF.
    """
    counts = np.bincount(data.item_index, minlength=data.n_items).astype(np.float64)
    weights = (counts[data.item_index] / counts.mean()) ** -tail_weight
    return weights / weights.mean()


def _no_features(model, user_features):
    if user_features is not None:
        raise ValueError(f"{type(model).__name__} takes no user_features (ContentBased, Hybrid and "
                         "ColdStartRecommender do)")


def _storable(array, name):
    """Arrays of Python objects (mixed raw ids) would need pickle: store them as strings."""
    if array.dtype.hasobject:
        if not all(isinstance(v, (str, int, np.integer)) for v in array.tolist()):
            raise TypeError(f"cannot save {name}: it holds values other than strings and integers")
        return array.astype(str)
    return array


def _jsonable(value):
    """Numbers, dtypes and tuples of numpy as plain JSON values."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (type, np.dtype)):
        return np.dtype(value).name
    return value


def _registered_class(header):
    """The registered class named by a file's header, or None. A class whose module is not
    imported yet (nanorec.privacy's, say) is registered by importing the nanorec module the header
    names: models never import the packages built on them, and load still finds every model."""
    kind, module = header.get("kind"), header.get("module")
    by_class_name = {model.__name__: model for model in REGISTRY.values()}
    if kind not in by_class_name and isinstance(module, str) and module.startswith("nanorec."):
        try:
            importlib.import_module(module)
        except ImportError:
            return None
        by_class_name = {model.__name__: model for model in REGISTRY.values()}
    return by_class_name.get(kind)


# ---------------------------------------------------------------------- checking a model file
# what every fitted model saves (Recommender._state): the vocabularies and the training CSR
_VOCABULARY_ARRAYS = ("user_ids_", "item_ids_") + tuple(f"train_csr_.{f}" for f in CSR._fields)
# constructor arguments that are widths of a network's parameters: a width is a dimension of
# some parameter, so a file whose width exceeds every saved dimension is damaged, and is refused
# before building the network (which would allocate by that width)
SIZE_ARGUMENTS = ("n_factors", "n_hidden", "hidden", "layers", "n_horizontal", "n_vertical",
                  "seq_len")
_LEARNED_NAME = re.compile(r"[a-z][a-z0-9_]*_")


def _check_params(cls, params):
    """Each saved hyperparameter is a constructor argument, of the type of its default."""
    signature = inspect.signature(cls.__init__).parameters
    for name, value in params.items():
        if name not in signature or name == "self":
            raise FormatError(f"its header gives the argument {name!r}, which {cls.__name__} "
                              "does not take (a file of another model?)")
        default = signature[name].default
        if not _like(value, default):
            raise FormatError(f"its header gives {name} = {value!r}, not a value like "
                              f"{cls.__name__}'s default {default!r}")


def _like(value, default):
    """Whether a JSON value can stand for an argument whose default is ``default``."""
    if default is inspect.Parameter.empty or default is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, (type, np.dtype)):  # dtype: saved by name
        return isinstance(value, str) and value in ("float32", "float64")
    if value is None:  # e.g. random_state=None
        return True
    if isinstance(default, numbers.Integral):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, numbers.Real):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, (tuple, list)):  # saved as a list, entries like the default's
        if not isinstance(value, list):
            return False
        return not default or all(entry is not None and _like(entry, default[0])
                                  for entry in value)
    return True


def _check_learned_name(cls, name, what):
    """A saved name must be a learned attribute (lower case, ending in "_") the class does not
    define: a file cannot replace a method or a class attribute."""
    if not isinstance(name, str) or not _LEARNED_NAME.fullmatch(name) or hasattr(cls, name):
        raise FormatError(f"its {what} {name!r} is not a learned attribute of {cls.__name__}")


def _check_declared(name, declared, shape, kinds, sizes):
    """An array's declared shape and dtype against the ones the header's sizes give."""
    got_shape, dtype = declared
    if got_shape != shape:
        given = ", ".join(f"{key}={value}" for key, value in sizes.items())
        raise FormatError(f"array {name!r} has shape {got_shape}, but the header ({given}) "
                          f"makes it {shape}")
    if dtype.kind not in kinds:
        raise FormatError(f"array {name!r} has dtype {dtype}, which it never has")


def _check_widths(cls, params, fitted, shapes):
    """The width arguments (and fitted feature counts n_*_features_) are no larger than the
    largest dimension of the saved network parameters: see SIZE_ARGUMENTS."""
    largest = max((dim for shape in shapes for dim in shape), default=0)
    widths = {name: params[name] for name in SIZE_ARGUMENTS if name in params}
    widths.update({name: value for name, value in fitted.items()
                   if name.startswith("n_") and name.endswith("_features_")})
    for name, value in widths.items():
        for width in value if isinstance(value, list) else [value]:
            if isinstance(width, int) and not isinstance(width, bool) and width > largest:
                raise FormatError(f"its header gives {name} = {value!r}, larger than any "
                                  f"dimension of the saved network ({largest}): the file is "
                                  "damaged")


def _check_vocabulary(arrays, n_users, n_items):
    """The ids and the training CSR hold values that agree with n_users and n_items."""
    for kind in ("user", "item"):
        ids = arrays[f"{kind}_ids_"]
        if ids.dtype.kind == "f" and np.isnan(ids).any():
            raise FormatError(f"its {kind} ids hold NaN")
        if len(np.unique(ids)) != len(ids):
            raise FormatError(f"its {kind} ids repeat an id")
    indptr, indices = arrays["train_csr_.indptr"], arrays["train_csr_.indices"]
    data, shape = arrays["train_csr_.data"], arrays["train_csr_.shape"]
    if shape.tolist() != [n_users, n_items]:
        raise FormatError(f"its training CSR has shape {shape.tolist()}, not "
                          f"[{n_users}, {n_items}]")
    if indptr[0] != 0 or indptr[-1] != len(indices) or np.any(np.diff(indptr) < 0):
        raise FormatError("its training CSR's row pointers are not 0 .. its number of entries, "
                          "in order")
    if len(indices) and (indices.min() < 0 or indices.max() >= n_items):
        raise FormatError(f"its training CSR names items outside 0 .. {n_items - 1}")
    if not np.all(np.isfinite(data)):
        raise FormatError("its training CSR holds NaN or infinite values")


def _reason(error):
    """An exception as a short phrase for a one-line message: 'IndexError: index 9 ...'."""
    text = str(error).strip()
    text = text.splitlines()[0] if text else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
