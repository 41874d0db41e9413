"""Content-aware recommenders that also serve users and items without training rows (cold start).

    ContentBased   a user is the mean of the features of the items they liked (the profile); an MLP
                   scores (profile, item features, user features). No ids at all.
    Hybrid         two towers, each an ID embedding plus an MLP of the side features; the score is
                   the dot product of the towers. ID dropout teaches the feature paths to stand alone.

Who can be scored, and how (``recommend`` tries these in order for each user):

    1. a known id (one with train rows)        its rows (profile or ID embedding) and its features
    2. features                                a user of the vocabulary without train rows uses its
                                               stored features; a brand-new id uses the row of
                                               ``recommend(..., user_features=...)`` given for it
    3. nothing known                           popularity: the items with the most train rows

    model.recommend(user_id, k)                               cases 1 and 2 (ids of the vocabulary)
    model.recommend(new_id, k, user_features=z)               case 2 for a brand-new user
    model.score_new_items(user_ids, item_features)            new items, described by features only

Both train on implicit feedback: every train row (u, i) is a positive, scored against n_negatives
items drawn uniformly among the items WITH train rows (an item nobody interacted with in train is
unknown to the model, not a known negative), with binary cross-entropy on the logit (the sigmoid is
folded into BCEWithLogitsLoss for stability; a higher logit ranks first). Ratings only weigh
ContentBased's profile (profile="rating"). Side features come from the Interactions
(user_features, item_features); a side without features reads one constant feature 1.
"""

import numpy as np

from nanorec import _checks
from nanorec.data.interactions import Interactions
from nanorec.data.sampling import NegativeSampler
from nanorec.models.base import NetworkRecommender, register
from nanorec.nn.activations import ReLU
from nanorec.nn.layers import Add, Dense, Dot, Embedding, Parallel, ProfileMatch, Sequential
from nanorec.nn.losses import BCEWithLogitsLoss
from nanorec.optim.optimizers import Adam
from nanorec.scoring import ColdStartError, csr_entries, row_blocks
from nanorec.training import Batch

PAIRS_PER_FORWARD = 2**15  # (user, item) pairs pushed through an MLP at once when scoring


def feature_mlp(n_in, hidden, n_out, rng, dtype):
    """Dense(n_in, H_1) -> ReLU -> ... -> Dense(H_last, n_out); no ReLU after the last Dense."""
    sizes = [n_in, *hidden]
    layers = []
    for d_in, d_out in zip(sizes[:-1], sizes[1:]):
        layers += [Dense(d_in, d_out, init="he_normal", rng=rng, dtype=dtype), ReLU()]
    return Sequential(*layers, Dense(sizes[-1], n_out, rng=rng, dtype=dtype))


class _SideFeatureModel(NetworkRecommender):
    """What ContentBased and Hybrid share: the training loop, side features, cold-start scoring.

    A subclass writes
        _build_network()                   the network from hyperparameters and fitted sizes
        _prepare(train, rng)               fitted attributes of its own; returns
                                           make_batch(rows, users, items) -> network inputs
        _user_representation(index, z)     users (index -1 = no id) -> what the score needs
        _item_representation(index, x)     items likewise
        _score_block(users, items)         (n, M) scores of every user against every item
        _score_aligned(users, items)       (n,) scores of aligned pairs
        _explained_inputs(users, items)    network_'s inputs for one pair and where its named
                                           features sit (for explain: gradient x input)
    """

    cold_start = ("users", "items")  # scores users and items without train rows

    # ------------------------------------------------------------------ training
    def _fit(self, train, valid):
        self._check_hyperparameters(valid)
        self._rng = np.random.default_rng(self.random_state)
        dtype = np.dtype(self.dtype)
        for kind in ("user", "item"):
            features, names = _side_features(train, kind, dtype)
            setattr(self, f"{kind}_features_", features)
            setattr(self, f"{kind}_feature_names_", names)
            setattr(self, f"n_{kind}_features_", features.shape[1])
        self.item_counts_ = np.bincount(train.item_index, minlength=self.n_items_).astype(np.float64)
        self.network_ = self._build_network()
        self._train(train, valid, self.n_epochs)

    def _loss(self):
        return BCEWithLogitsLoss()

    def _optimizer(self, network):
        return Adam(network, lr=self.lr, weight_decay=self.reg)

    def _training_data(self, train):
        """Each epoch: the train rows in a new random order, batch_size rows per step, each row
        (label 1) followed by its n_negatives negatives (label 0)."""
        rng = self._rng
        make_batch = self._prepare(train, rng)
        draw_negatives = _negatives_among_known_items(train, self.n_negatives, rng)
        group = 1 + self.n_negatives  # a positive and its negatives
        labels = np.zeros((self.batch_size, group), self.dtype)
        labels[:, 0] = 1  # sample b * group + 0 is row b's positive, the next n_negatives are not

        def draw():
            order = rng.permutation(len(train))
            negatives = draw_negatives(train.user_index[order])
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                users = train.user_index[rows]
                items = np.column_stack([train.item_index[rows],
                                         negatives[start : start + len(rows)]])
                yield Batch(make_batch(rows, users, items),
                            labels[: len(rows)].reshape(-1, 1))

        return draw

    def _check_hyperparameters(self, valid):
        name = type(self).__name__
        self._check_common(valid)
        _checks.positive_int(self.n_negatives, "n_negatives", name)
        _checks.sizes(self.hidden, "hidden", name)

    # ------------------------------------------------------------------ scoring
    def score_items(self, user_index):
        """Scores (n, I) of every item for users of the vocabulary (cold ones by their features)."""
        user_index = np.asarray(user_index)
        users = self._user_representation(user_index, self.user_features_[user_index])
        return self._score_block(users, self._all_items())

    def score_pairs(self, user_index, item_index):
        """Scores (n,) of aligned (user, item) index pairs."""
        user_index, item_index = np.asarray(user_index), np.asarray(item_index)
        users = self._user_representation(user_index, self.user_features_[user_index])
        items = self._item_representation(item_index, self.item_features_[item_index])
        return self._score_aligned(users, items)

    def _all_items(self):
        return self._item_representation(np.arange(self.n_items_), self.item_features_)

    def _user_is_known(self, user_index):
        """True where an index (-1 = outside the vocabulary) has train rows."""
        has_rows = np.diff(self.train_csr_.indptr) > 0
        return (user_index >= 0) & has_rows[np.maximum(user_index, 0)]

    def _item_is_known(self, item_index):
        return (item_index >= 0) & (self.item_counts_[np.maximum(item_index, 0)] > 0)

    def _recommend(self, user_ids, k, exclude_seen, user_features):
        """Top-k items for users by raw id, known or not (fallback order in the module docstring):
        ``user_features`` (F_u,) or (n, F_u) describe the ids outside the vocabulary (without them
        those users get popularity). Scores of model rows are logits, those of popularity rows
        train counts: compare within a row."""
        user_index = self._vocabulary_index(np.atleast_1d(user_ids))
        if user_features is not None:
            user_features = self._check_features(user_features, len(user_index), "user")

        def block_scores(block):
            block_index = user_index[block]
            given = None if user_features is None else user_features[block]
            scores = self._fallback_scores(block_index, given)
            if exclude_seen:
                in_vocabulary = np.flatnonzero(block_index >= 0)
                csr = self.train_csr_
                row, item = csr_entries(csr.indptr, csr.indices, block_index[in_vocabulary])
                scores[in_vocabulary[row], item] = -np.inf
            return scores

        return self._top_k_by_block(len(user_index), k, block_scores, np.ndim(user_ids) == 0)

    def _fallback_scores(self, user_index, given_features):
        """(n, I) float64: model scores for the users something is known of, train counts
        (popularity) for the others."""
        features, described = self._user_features(user_index, given_features)
        scores = np.empty((len(user_index), self.n_items_), dtype=np.float64)
        users = self._user_representation(user_index[described], features[described])
        scores[described] = self._score_block(users, self._all_items())
        scores[~described] = self.item_counts_
        return scores

    def _user_features(self, user_index, given_features):
        """Features (n, F_u) of users by index (-1: outside the vocabulary), and whether any are
        known: the stored row for ids of the vocabulary, else the given row, else none."""
        in_vocabulary = user_index >= 0
        features = np.zeros((len(user_index), self.n_user_features_), self.user_features_.dtype)
        if given_features is not None:
            features[:] = given_features
        features[in_vocabulary] = self.user_features_[user_index[in_vocabulary]]
        return features, in_vocabulary | (given_features is not None)

    def score_new_items(self, user_ids, item_features, user_features=None):
        """Scores of items described only by their features (e.g. not in the catalogue yet).

        Parameters
        ----------
        user_ids : a raw user id, or a sequence of n raw ids
        item_features : array (M, F_i), columns as the train item features (item_feature_names_)
        user_features : array (F_u,) or (n, F_u), optional
            Needed for ids outside the vocabulary (used only for them).

        Returns
        -------
        float64 (M,) for one user, (n, M) for n users.
        """
        single = np.ndim(user_ids) == 0
        raw_ids = np.atleast_1d(user_ids)
        user_index = self._vocabulary_index(raw_ids)
        if user_features is not None:
            user_features = self._check_features(user_features, len(user_index), "user")
        features, described = self._user_features(user_index, user_features)
        if not described.all():
            raise ColdStartError(f"unknown user id {raw_ids[~described].tolist()[0]!r}: pass "
                                 "user_features=... to score a new user")
        item_features = np.atleast_2d(item_features)
        item_features = self._check_features(item_features, len(item_features), "item")
        users = self._user_representation(user_index, features)
        items = self._item_representation(np.full(len(item_features), -1), item_features)
        scores = np.asarray(self._score_block(users, items), dtype=np.float64)
        return scores[0] if single else scores

    def _vocabulary_index(self, raw_ids):
        """Index of each raw id in the train vocabulary, -1 for ids outside it."""
        lookup = self._lookup("user")
        if raw_ids.ndim != 1:
            raise ValueError(f"expected a 1-D sequence of user ids, got shape {raw_ids.shape}")
        return np.array([lookup.get(raw, -1) for raw in raw_ids.tolist()], dtype=np.int64)

    def _check_features(self, values, n_rows, kind):
        """Given side features as (n_rows, F) of the model's dtype, after checking shape and values."""
        names = getattr(self, f"{kind}_feature_names_")
        if names is None:
            raise ValueError(
                f"{type(self).__name__} was fitted without {kind} features: it cannot use them"
            )
        values = np.asarray(values)
        if values.dtype.kind not in "biuf":
            raise TypeError(f"{kind}_features must be numbers, got dtype {values.dtype}")
        values = values.reshape(1, -1) if values.ndim == 1 else values
        if values.shape != (n_rows, len(names)):
            raise ValueError(
                f"{kind}_features must have shape ({n_rows}, {len(names)}) (columns: "
                f"{kind}_feature_names_), got {np.shape(values)}"
            )
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{kind}_features contain NaN or infinite values")
        return values.astype(self.dtype)

    # ------------------------------------------------------------------ explanations
    def _explain(self, user_index, item_index):
        """Gradient x input over the named user and item features of one pair (the method and its
        completeness property are in nanorec.models.explain): the network runs forward on the
        pair's inputs, backward with dy = 1 on the logit, and each feature gets x_f * ds/dx_f."""
        from nanorec.models.explain import attribute_features

        inputs, parts = self._explained_inputs(np.array([user_index]), np.array([item_index]))
        if not parts:
            raise NotImplementedError(f"{type(self).__name__} has no explanations: it was fitted "
                                      "without user or item features to attribute its score to")
        score, labels, values, baseline = attribute_features(self.network_, inputs, parts)
        method = "gradient x input of the features on the score (a logit)"
        return score, method, labels, values, baseline


@register("content", "MLP on the user's profile and the item features (no ids)",
          needs=("item features",))
class ContentBased(_SideFeatureModel):
    """Content-based ranking: an MLP compares a user's profile with an item's content.

    Content      c[i] = [x[i] | log(1 + n[i]) / log(1 + max n)]   (D + 1,) with popularity_feature,
                 n[i] = train rows of item i (0 for a new item); c[i] = x[i] (D,) without
    Profile      p[u] = sum over u's train rows (u, j) of w[u, j] c[j]  /  sum of w[u, j]
                 w = 1 (profile="mean") or the rating (profile="rating"); p[u] = 0 without rows
    Prediction   s[u, i] = MLP([p[u] | c[i] | p[u] * c[i] | z[u]])           a logit
                 MLP = Dense -> ReLU (for each size in hidden) -> Dense(., 1)
    Objective    mean over each batch of BCE(sigmoid(s), label): each train row (u, i) with label 1
                 and its n_negatives sampled items j with label 0, + reg * |weights|^2 / 2 (Adam's
                 L2 weight decay)
    Train as you test: a row (u, i) and its negatives see the profile of u's OTHER train rows
                 (p without c[i], "leave one out"), as a held-out item is not in the profile.
    Cold dropout with probability cold_dropout a row's profile is 0, as for a user without rows
                 (so that z and c learn to score cold users), and, independently, a sample's count
                 n[i] reads 0, as for a new item (so that x learns what a new item's count hides).
    Backward     BCEWithLogitsLoss -> Dense/ReLU layers -> ProfileMatch (dp, dx, dz: only the
                 weights train; profiles and features are data)
    Cold start   a new item needs only x[i] (its n[i] is 0); a user without rows has p = 0 and
                 uses z[u]. Without popularity_feature the model cannot tell a blockbuster from a
                 flop of the same genre (on planted data it then loses to Popularity for users
                 without rows: NDCG@10 0.06 against 0.19).
    Reference    Lops, de Gemmis & Semeraro (2011), "Content-based recommender systems: state of
                 the art and trends"; Covington, Adams & Sargin (2016), "Deep neural networks for
                 YouTube recommendations" (an average of item vectors as a user input).

    Shapes: x (I, D) item features (required), z (U, F) user features (or a column of ones),
    c (I, C) and p (U, C) with C = D + 1 (popularity_feature) or D; the MLP reads 3 C + F inputs.

    Parameters
    ----------
    hidden : tuple of int
        Sizes of the hidden layers.
    n_epochs, lr, reg, batch_size, n_negatives, random_state, dtype, early_stopping, verbose
        As in Hybrid: batch_size counts train rows (each with its n_negatives negatives).
    profile : {"mean", "rating"}
        Weights of the profile: all 1, or the ratings (ones for implicit data).
    cold_dropout : float in [0, 1)
    popularity_feature : bool
        Append the scaled log train count to the item content (see Content).

    Attributes
    ----------
    user_profiles_ : (U, C)
    user_features_ : (U, F), item_features_ : (I, D) and their names (None: not in the data)
    item_counts_ : float64 (I,)   train rows per item (the popularity fallback)
    network_ : Sequential(ProfileMatch(), Sequential(Dense, ReLU, ..., Dense))
    history_ : dict "loss" (mean BCE per sample of each epoch), "valid_hr@10" with valid
    """

    def __init__(self, hidden=(64,), n_epochs=10, lr=0.003, reg=0.0, batch_size=256,
                 n_negatives=4, profile="mean", cold_dropout=0.2, popularity_feature=True,
                 random_state=0, dtype=np.float32, early_stopping=None, verbose=False):
        self.hidden = hidden
        self.n_epochs = n_epochs
        self.lr = lr
        self.reg = reg
        self.batch_size = batch_size
        self.n_negatives = n_negatives
        self.profile = profile
        self.cold_dropout = cold_dropout
        self.popularity_feature = popularity_feature
        self.random_state = random_state
        self.dtype = dtype
        self.early_stopping = early_stopping
        self.verbose = verbose

    def _check_hyperparameters(self, valid):
        super()._check_hyperparameters(valid)
        _checks.one_of(self.profile, "profile", ("mean", "rating"), "ContentBased")
        _checks.fraction(self.cold_dropout, "cold_dropout", "ContentBased")

    def _build_network(self):
        rng = np.random.default_rng(self.random_state)
        c = self.n_item_features_ + int(bool(self.popularity_feature))
        n_inputs = 3 * c + self.n_user_features_
        return Sequential(ProfileMatch(), feature_mlp(n_inputs, tuple(self.hidden), 1, rng, self.dtype))

    def _prepare(self, train, rng):
        if self.item_feature_names_ is None:
            raise ValueError("ContentBased needs item features (Interactions.item_features)")
        weights = np.ones(len(train), np.float64)
        if self.profile == "rating" and train.ratings is not None:
            weights = train.ratings.astype(np.float64)
        content = self._item_representation(np.arange(self.n_items_), self.item_features_)
        x = content.astype(np.float64)
        weighted_sums = np.zeros((self.n_users_, x.shape[1]))
        np.add.at(weighted_sums, train.user_index, weights[:, None] * x[train.item_index])
        weight_totals = np.bincount(train.user_index, weights, minlength=self.n_users_)
        self.user_profiles_ = _safe_ratio(weighted_sums, weight_totals).astype(self.dtype)
        group = 1 + self.n_negatives

        def make_batch(rows, users, items):
            """(profiles, item content, user features) per sample, with leave-one-out profiles,
            and profiles (per row) and counts (per sample) hidden with probability cold_dropout."""
            own = weights[rows]
            sums = weighted_sums[users] - own[:, None] * x[train.item_index[rows]]
            profiles = _safe_ratio(sums, weight_totals[users] - own)
            profiles[rng.random(len(rows)) < self.cold_dropout] = 0
            item_content = content[items.reshape(-1)]  # a copy: fancy indexing
            if self.popularity_feature:
                item_content[rng.random(len(item_content)) < self.cold_dropout, -1] = 0
            return (
                np.repeat(profiles.astype(self.dtype), group, axis=0),
                item_content,
                np.repeat(self.user_features_[users], group, axis=0),
            )

        return make_batch

    def _user_representation(self, user_index, user_features):
        """(profile (n, C), z (n, F)); the profile is 0 for users without train rows."""
        known = self._user_is_known(user_index)
        profiles = np.zeros((len(user_index), self.user_profiles_.shape[1]), self.user_profiles_.dtype)
        profiles[known] = self.user_profiles_[user_index[known]]
        return profiles, user_features

    def _item_representation(self, item_index, item_features):
        """The content c (M, C): the features, and the scaled log count (0 for index -1)."""
        if not self.popularity_feature:
            return item_features
        counts = np.where(item_index >= 0, self.item_counts_[np.maximum(item_index, 0)], 0.0)
        popularity = np.log1p(counts) / np.log1p(self.item_counts_.max())
        return np.column_stack([item_features, popularity.astype(item_features.dtype)])

    def _score_aligned(self, users, items):
        profiles, user_features = users
        mlp = self.network_
        scores = np.empty(len(items), dtype=np.float64)
        for start in range(0, len(items), PAIRS_PER_FORWARD):
            part = slice(start, start + PAIRS_PER_FORWARD)
            scores[part] = mlp.forward((profiles[part], items[part], user_features[part]))[:, 0]
        return scores

    def _explained_inputs(self, user_index, item_index):
        """network_'s inputs (p, c, z) for one pair, and where its named features sit: the
        profile p and the content c are named by the item features (+ "popularity"), z by the user
        features."""
        profiles, user_features = self._user_representation(user_index, self.user_features_[user_index])
        content = self._item_representation(item_index, self.item_features_[item_index])
        content_names = self.item_feature_names_ + ["popularity"] * bool(self.popularity_feature)
        parts = [((0,), "user profile", content_names), ((1,), "item", content_names)]
        if self.user_feature_names_ is not None:
            parts.append(((2,), "user", self.user_feature_names_))
        return (profiles, content, user_features), parts

    def _score_block(self, users, items):
        """(n, M): every user against every item, PAIRS_PER_FORWARD pairs at a time."""
        profiles, user_features = users
        n_users, n_items = len(profiles), len(items)
        scores = np.empty((n_users, n_items), dtype=np.float64)
        per_block = max(1, PAIRS_PER_FORWARD // max(1, n_items))
        for block in row_blocks(n_users, n_items, per_block):
            n = len(profiles[block])
            pair_users = (np.repeat(profiles[block], n_items, axis=0),
                          np.repeat(user_features[block], n_items, axis=0))
            scores[block] = self._score_aligned(pair_users, np.tile(items, (n, 1))).reshape(n, n_items)
        return scores


@register("hybrid", "two towers: ids plus side features", needs=("side features",))
class Hybrid(_SideFeatureModel):
    """Two towers: an ID embedding plus an MLP of the side features on each side, scored by a dot.

    Towers       user   v[u] = E_user[id(u)] + MLP_user(z[u])        (K,)
                 item   w[i] = E_item[id(i)] + MLP_item(x[i])        (K,)
                 id(u) = u for a user with train rows, else the extra row U ("no id": a learned
                 vector for anyone the model has no rows of); id(i) likewise with row I
    Prediction   s[u, i] = v[u] . w[i]                               a logit
    Objective    mean over each batch of BCE(sigmoid(s), label): each train row (u, i) with label 1
                 and its n_negatives sampled items with label 0, + reg * |weights|^2 / 2 (Adam's L2
                 weight decay, on the rows used for the embeddings)
    ID dropout   in training each sample's user id (and, independently, item id) is replaced by the
                 "no id" row with probability id_dropout, so the feature paths must score on their
                 own: a cold user or item is then served by its features (Volkovs, Yu & Poutanen
                 (2017), "DropoutNet: addressing cold start in recommender systems").
    Backward     Dot gives dv = dy w, dw = dy v; each tower's Add passes them to the embedding
                 (row-sparse) and down its MLP.
    Reference    Yi et al. (2019), "Sampling-bias-corrected neural modeling for large corpus item
                 recommendations" (two-tower retrieval with side features).

    Shapes: E_user (U + 1, K), E_item (I + 1, K); z (U, F_u), x (I, F_i) (a column of ones for a
    side without features); MLP: F -> hidden -> K.

    Parameters
    ----------
    n_factors : int
        K.
    hidden : tuple of int
        Hidden sizes of both feature MLPs (() = a linear map of the features).
    n_epochs : int
    lr, reg : float
        Adam's learning rate and L2 weight decay.
    batch_size : int
        Train rows per step; each brings 1 + n_negatives samples.
    n_negatives : int
    id_dropout : float in [0, 1)
    random_state : int
        Seeds the weights, the order of the rows, the negatives and the dropout.
    dtype : np.float32 or np.float64
    early_stopping : int or None
        Patience on the validation HR@10 (``fit(train, valid)``); the best epoch is kept.
    verbose : bool

    Attributes
    ----------
    user_features_, item_features_ and their names; item_counts_ (I,)
    network_ : Sequential(Parallel(user tower, item tower), Dot()), each tower
               Sequential(Parallel(Embedding, MLP), Add())
    history_ : dict "loss", "valid_hr@10" with valid
    """

    def __init__(self, n_factors=32, hidden=(64,), n_epochs=10, lr=0.003, reg=0.0,
                 batch_size=256, n_negatives=4, id_dropout=0.3, random_state=0,
                 dtype=np.float32, early_stopping=None, verbose=False):
        self.n_factors = n_factors
        self.hidden = hidden
        self.n_epochs = n_epochs
        self.lr = lr
        self.reg = reg
        self.batch_size = batch_size
        self.n_negatives = n_negatives
        self.id_dropout = id_dropout
        self.random_state = random_state
        self.dtype = dtype
        self.early_stopping = early_stopping
        self.verbose = verbose

    def _check_hyperparameters(self, valid):
        super()._check_hyperparameters(valid)
        _checks.positive_int(self.n_factors, "n_factors", "Hybrid")
        _checks.fraction(self.id_dropout, "id_dropout", "Hybrid")

    def _build_network(self):
        rng = np.random.default_rng(self.random_state)

        def tower(n_ids, n_features):
            parts = Parallel(
                Embedding(n_ids + 1, self.n_factors, rng=rng, dtype=self.dtype),  # + the "no id" row
                feature_mlp(n_features, tuple(self.hidden), self.n_factors, rng, self.dtype),
            )
            return Sequential(parts, Add())

        towers = Parallel(tower(self.n_users_, self.n_user_features_),
                          tower(self.n_items_, self.n_item_features_))
        return Sequential(towers, Dot())

    def _prepare(self, train, rng):
        group = 1 + self.n_negatives

        def make_batch(rows, users, items):
            """((user ids, z), (item ids, x)) per sample, each id dropped with probability id_dropout."""
            user_ids, item_ids = np.repeat(users, group), items.reshape(-1)
            user_rows = np.where(rng.random(len(user_ids)) < self.id_dropout, self.n_users_, user_ids)
            item_rows = np.where(rng.random(len(item_ids)) < self.id_dropout, self.n_items_, item_ids)
            return ((user_rows, self.user_features_[user_ids]),
                    (item_rows, self.item_features_[item_ids]))

        return make_batch

    def _towers(self):
        return self.network_.layers[0].layers

    def _user_representation(self, user_index, user_features):
        """v (n, K); users without train rows read the "no id" row."""
        rows = np.where(self._user_is_known(user_index), user_index, self.n_users_)
        return self._towers()[0].forward((rows, user_features))

    def _item_representation(self, item_index, item_features):
        rows = np.where(self._item_is_known(item_index), item_index, self.n_items_)
        return self._towers()[1].forward((rows, item_features))

    def _score_block(self, users, items):
        return users @ items.T

    def _score_aligned(self, users, items):
        return np.einsum("nk,nk->n", users, items)

    def _explained_inputs(self, user_index, item_index):
        """network_'s inputs ((user row, z), (item row, x)) for one pair (rows as in scoring: the
        "no id" row for an id without train rows), and where its named features z and x sit."""
        user_rows = np.where(self._user_is_known(user_index), user_index, self.n_users_)
        item_rows = np.where(self._item_is_known(item_index), item_index, self.n_items_)
        inputs = ((user_rows, self.user_features_[user_index]),
                  (item_rows, self.item_features_[item_index]))
        sides = [((0, 1), "user", self.user_feature_names_), ((1, 1), "item", self.item_feature_names_)]
        return inputs, [(path, prefix, names) for path, prefix, names in sides if names is not None]


# ---------------------------------------------------------------------- helpers
def _side_features(train, kind, dtype):
    """(features (n, F) of dtype, names or None): the Interactions' features, or one column of ones."""
    features = getattr(train, f"{kind}_features")
    if features is None:
        n_rows = train.n_users if kind == "user" else train.n_items
        return np.ones((n_rows, 1), dtype), None
    return np.ascontiguousarray(features, dtype=dtype), list(getattr(train, f"{kind}_feature_names"))


def _negatives_among_known_items(train, n_negatives, rng):
    """A function users (N,) -> (N, n_negatives) item indices, uniform over the items with train
    rows that the user has not interacted with (NegativeSampler on a catalogue of known items)."""
    known = np.flatnonzero(np.bincount(train.item_index, minlength=train.n_items) > 0)
    position = np.zeros(train.n_items, dtype=np.int64)
    position[known] = np.arange(len(known))
    known_catalogue = Interactions(train.user_index, position[train.item_index], train.user_ids,
                                   train.item_ids[known], check_duplicates=False)
    sampler = NegativeSampler(known_catalogue, n_negatives, seed=int(rng.integers(2**31)))
    return lambda users: known[sampler.sample(users)]


def _safe_ratio(sums, totals):
    """sums / totals[:, None] row by row, 0 where the total is (about) 0."""
    has_weight = totals > 1e-9
    out = np.zeros_like(sums)
    out[has_weight] = sums[has_weight] / totals[has_weight, None]
    return out
