"""Autoencoder recommenders: a network learns to rebuild a row of the rating matrix from itself.

    AutoRec      explicit ratings: each ITEM's column of ratings over the users is encoded into a
                 small hidden vector and decoded back; the decoded entries of the users who did not
                 rate the item are the predictions (Sedhain et al. 2015, I-AutoRec)
    CDAE         implicit feedback: each USER's row of clicks, corrupted by dropout, plus a per-user
                 node, is encoded and decoded back into a probability per item (Wu et al. 2016)

Both networks are nanorec.nn layers composed with Sequential and Parallel, trained with Adam on
mini-batches of rows (items for AutoRec, users for CDAE), in a new random order every epoch, on
nanorec.nn.MaskedLoss: the batch's rows of the train matrix (dense, built from the CSR) are the
input and the target, and the mask says which entries count.
"""

import numpy as np

from nanorec import _checks
from nanorec.data.interactions import CSR
from nanorec.data.sampling import NegativeSampler
from nanorec.models.base import NetworkRecommender, explicit_ratings, register
from nanorec.nn.activations import ReLU, Sigmoid, Tanh
from nanorec.nn.init import as_generator
from nanorec.nn.layers import Add, Dense, Dropout, Embedding, Parallel, Sequential
from nanorec.nn.losses import BCEWithLogitsLoss, MaskedLoss, MSELoss
from nanorec.optim.optimizers import Adam
from nanorec.scoring import csr_entries
from nanorec.training import Batch, predict

ACTIVATIONS = {"sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU, "identity": None}


def autorec_network(n_users, n_hidden, activation="sigmoid", rng=None, dtype=np.float32):
    """I-AutoRec's network: r_i (N, U) -> r_hat_i (N, U), through a hidden layer of H units.

        h = g(r_i V + mu)        Dense(U, H) then the activation g (none for "identity")
        r_hat_i = h W + b        Dense(H, U), identity output

    Parameter keys: "0.W" = V (U, H), "0.b" = mu (H,), then W (H, U) and b (U,) under the index of
    the last layer ("2." with an activation, "1." without).
    """
    _checks.one_of(activation, "activation", tuple(ACTIVATIONS), "AutoRec")
    encoder = Dense(n_users, n_hidden, rng=rng, dtype=dtype)
    decoder = Dense(n_hidden, n_users, rng=rng, dtype=dtype)
    g = ACTIVATIONS[activation]
    return Sequential(encoder, decoder) if g is None else Sequential(encoder, g(), decoder)


def cdae_network(n_users, n_items, n_factors, corruption, rng=None, dtype=np.float32):
    """CDAE's network: (y (N, I) clicks, users (N,) ids) -> z (N, I) logits.

        y~ = Dropout(corruption)(y)                    y * mask / (1 - q) in training, y in eval
        h  = sigmoid(y~ W + V[u] + b)                  Dense(I, K) on y~, Embedding(U, K) for V[u]
        z  = h W' + b'                                 Dense(K, I); sigmoid(z) is the probability

    Wiring: Sequential(Parallel(Sequential(Dropout, Dense), Embedding), Add, Sigmoid, Dense).
    Parameter keys: "0.0.1.W" = W (I, K), "0.0.1.b" = b (K,), "0.1.W" = V (U, K),
    "3.W" = W' (K, I), "3.b" = b' (I,).
    """
    rng = as_generator(rng)
    corrupted_input = Sequential(
        Dropout(corruption, rng=np.random.default_rng(rng.integers(2**63))),
        Dense(n_items, n_factors, rng=rng, dtype=dtype),
    )
    user_node = Embedding(n_users, n_factors, rng=rng, dtype=dtype)
    decoder = Dense(n_factors, n_items, rng=rng, dtype=dtype)
    return Sequential(Parallel(corrupted_input, user_node), Add(), Sigmoid(), decoder)


@register("autorec", "item autoencoder of the ratings (Sedhain 2015)", needs=("ratings",),
          cli_defaults={"n_epochs": 30})
class AutoRec(NetworkRecommender):
    """Item-based AutoRec for explicit ratings: an autoencoder of each item's ratings.

    Input        r_i in R^U, item i's ratings by the U users, 0 where a user has not rated i
    Prediction   r_hat_i = f(W g(V r_i + mu) + b),   g = ``activation``, f = identity
                 r_hat[u, i] = r_hat_i[u]: the decoded entry of user u in item i's column
    Objective    of a mini-batch B of N items (the unobserved entries do not count):
                 (1/N) sum over i in B, u with r[u, i] observed, of (r[u, i] - r_hat[u, i])^2
                 + reg / 2 * (|W|^2 + |V|^2)              (biases mu and b are not penalised)
                 This is the paper's objective sum_i |...|^2 + lambda / 2 (|W|^2 + |V|^2) divided
                 by I, the number of items, so reg = lambda / I.
    Backward     with a = r_i V + mu, h = g(a), m = 1 on the observed entries (MaskedLoss):
                 d r_hat = 2 m * (r_hat - r) / N
                 dW = h^T d r_hat     db = sum over the batch of d r_hat     dh = d r_hat W^T
                 da = dh * g'(a)      dV = r^T da     dmu = sum over the batch of da
    Update       Adam (lr) on dV, dmu, dW, db, its weight decay adding reg * V and reg * W
                 (the gradient of the L2 term) to dV and dW only.
    Fallback     users or items without a train rating get r_hat = mu_global, the mean train
                 rating (a user without ratings has an output unit that never saw data, an item
                 without ratings an all-zero input). In raw ids, ``predict`` and ``recommend``
                 still raise ColdStartError for such a user (the rule of pure-ID models, see
                 Recommender.cold_start); the fallback shows in score_pairs / score_items and
                 for items without train ratings.
    Reference    Sedhain, Menon, Sanner & Xie (2015), "AutoRec: Autoencoders Meet Collaborative
                 Filtering", WWW.

    Shapes: V (U, H), mu (H,), W (H, U), b (U,) with H = n_hidden. Memory: the predictions are kept
    as one (I, U) array after the first call of score_items / score_pairs.

    Parameters
    ----------
    n_hidden : int
        H, the size of the code.
    n_epochs, batch_size : int
        Passes over the items, and items per Adam step.
    lr : float
        Adam's learning rate.
    reg : float
        L2 coefficient of W and V in the batch objective (the paper's lambda / I).
    activation : {"sigmoid", "tanh", "relu", "identity"}
        g, the hidden activation.
    random_state : int
        Seeds the initial weights and the order of the items in each epoch.
    dtype : np.float32 or np.float64
    early_stopping : int or None
        Patience on the validation RMSE with ``fit(train, valid)``; the best epoch's weights are
        kept. None: run every epoch.
    clip : bool
        Clip predicted ratings (``predict``, ``score_pairs``) to the train range; ``score_items``
        is never clipped (a monotone clip would only add ties to a ranking).
    verbose : bool
        Print one line per epoch.

    Attributes
    ----------
    network_ : Sequential
        The autoencoder (``autorec_network``).
    global_mean_ : float
    rating_range_ : (float, float)
    history_ : dict of lists
        "loss": each epoch's mean batch data term (without the L2 term); "valid_rmse" with valid.
    best_epoch_ : int
    """

    def __init__(
        self,
        n_hidden=500,
        n_epochs=100,
        lr=0.001,
        reg=0.15,
        batch_size=256,
        activation="sigmoid",
        random_state=0,
        dtype=np.float32,
        early_stopping=None,
        clip=True,
        verbose=False,
    ):
        self.n_hidden = n_hidden
        self.n_epochs = n_epochs
        self.lr = lr
        self.reg = reg
        self.batch_size = batch_size
        self.activation = activation
        self.random_state = random_state
        self.dtype = dtype
        self.early_stopping = early_stopping
        self.clip = clip
        self.verbose = verbose

    validation_metric = "rmse"

    def _check_hyperparameters(self, valid):
        self._check_common(valid)
        _checks.positive_int(self.n_hidden, "n_hidden", "AutoRec")
        _checks.one_of(self.activation, "activation", tuple(ACTIVATIONS), "AutoRec")

    def _build_network(self, rng=None):
        return autorec_network(self.n_users_, self.n_hidden, self.activation, rng, self.dtype)

    def _fit(self, train, valid):
        self._check_hyperparameters(valid)
        ratings = explicit_ratings(train, "train", "AutoRec")
        if valid is not None:
            explicit_ratings(valid, "valid", "AutoRec")
        self._rng = np.random.default_rng(self.random_state)
        self.global_mean_ = float(ratings.mean())
        self.rating_range_ = (float(ratings.min()), float(ratings.max()))
        self.network_ = self._build_network(self._rng)
        self._train(train, valid, self.n_epochs)
        self._predictions = None  # early stopping may have restored an earlier epoch's weights

    def _loss(self):
        return MaskedLoss(MSELoss())

    def _optimizer(self, network):
        """Adam, its weight decay reg on the weights V and W only (not on the biases)."""
        biases = [key for key in network.params if key.endswith(".b")]
        return Adam(network, lr=self.lr, weight_decay=self.reg,
                    groups=[{"params": biases, "weight_decay": 0.0}])

    def _training_data(self, train):
        """Each epoch: the items with train ratings in a new random order, batch_size per step;
        a batch's input and target are its items' rating columns, its mask the observed entries."""
        item_csr = _transpose(self.train_csr_)
        rated_items = np.flatnonzero(np.diff(item_csr.indptr) > 0)

        def draw():
            self._predictions = None
            order = self._rng.permutation(rated_items)
            for start in range(0, len(order), self.batch_size):
                item_ratings, observed = _dense_rows(item_csr, order[start : start + self.batch_size],
                                                     self.dtype)
                yield Batch(item_ratings, item_ratings, observed)

        return draw

    def predicted_ratings(self):
        """r_hat (I, U) of every item and user, with the mean fallback; computed once, then kept."""
        if getattr(self, "_predictions", None) is None:
            item_csr = _transpose(self.train_csr_)
            item_ratings, _ = _dense_rows(item_csr, np.arange(self.n_items_), self.dtype)
            r_hat = predict(self.network_, item_ratings, batch_size=256)
            r_hat[np.diff(item_csr.indptr) == 0, :] = self.global_mean_
            r_hat[:, np.diff(self.train_csr_.indptr) == 0] = self.global_mean_
            self._predictions = r_hat
        return self._predictions

    def _explain(self, user_index, item_index):
        """Gradient x input over the item's column of ratings (nanorec.models.explain): each
        user v who rated the item gets r[v, i] * d r_hat[u, i] / d r[v, i]; users who chose not to
        be named in explanations (UserPrivacy) are left out."""
        from nanorec.models.explain import gradient_x_input

        column, observed = _dense_rows(_transpose(self.train_csr_), np.array([item_index]),
                                       self.dtype)
        score, gradient = gradient_x_input(self.network_, column, (0, user_index))
        raters = np.flatnonzero(observed[0])
        shown = (raters == user_index) | ~self._hidden_in_explanations()[raters]
        raters = raters[shown]
        labels = [f"user {raw}'s rating" for raw in self.user_ids_[raters].tolist()]
        values = column[0, raters].astype(np.float64) * gradient[0, raters]
        baseline = float(predict(self.network_, np.zeros_like(column))[0, user_index])
        method = "gradient x input of the item's ratings by its raters on the predicted rating"
        return score, method, labels, values, baseline

    def score_items(self, user_index):
        """r_hat of every item for n users: (n, I), unclipped."""
        return self.predicted_ratings()[:, np.asarray(user_index)].T

    def score_pairs(self, user_index, item_index):
        """r_hat[u, i] for n pairs (n,), clipped to the train range when ``clip``."""
        scores = self.predicted_ratings()[np.asarray(item_index), np.asarray(user_index)]
        return np.clip(scores, *self.rating_range_) if self.clip else scores


@register("cdae", "denoising autoencoder of each user's items (Wu 2016)")
class CDAE(NetworkRecommender):
    """Collaborative denoising autoencoder for implicit feedback.

    Input        y_u in {0, 1}^I, user u's train items (ratings, if any, are ignored)
    Corruption   y~_u = y_u * m / (1 - q),  m[i] ~ Bernoulli(1 - q),  q = ``corruption``
                 (in training only; the scaling keeps E[y~_u] = y_u)
    Prediction   h_u = sigmoid(W^T y~_u + V[u] + b)           W (I, K), V (U, K) the user node
                 z_u = W'^T h_u + b',   y_hat_u = sigmoid(z_u)  W' (K, I)
                 score_items gives z (the order of y_hat, without float saturation ties)
    Objective    of a mini-batch B of N users, with O_u the entries that count:
                 (1/N) sum over u in B of sum over i in O_u of BCE(y[u, i], sigmoid(z[u, i]))
                 + reg / 2 * (|W|^2 + |W'|^2 + |V[B]|^2 + |b|^2 + |b'|^2)
                 O_u = every item when n_negatives is None; otherwise u's positives plus
                 n_negatives * |positives| items drawn uniformly among u's non-positives (with
                 replacement; a repeat counts once), redrawn every epoch.
    Backward     the sigmoid of y_hat is folded into the loss (BCEWithLogitsLoss: exact and
                 stable), and m = 1 on the entries of O_u (MaskedLoss):
                 dz = m * (sigmoid(z) - y) / N
                 dW' = h^T dz     db' = sum over the batch of dz     dh = dz W'^T
                 da = dh * h * (1 - h)     (a = y~ W + V[u] + b, the Sigmoid's input)
                 dW = y~^T da     db = sum over the batch of da     dV[u] += da[n] for each row n
                 of user u (a row-sparse gradient: the batch's rows only)
    Update       Adam (lr) with weight decay reg on every parameter (adding reg * p to dp; for V
                 only on the rows of the batch).
    Cold users   a user without train items would have y = 0 and an untrained V[u]: ``predict``
                 and ``recommend`` raise ColdStartError for it (Recommender.cold_start).
    Reference    Wu, DuBois, Zheng & Ester (2016), "Collaborative Denoising Auto-Encoders for
                 Top-N Recommender Systems", WSDM.

    Shapes: W (I, K), b (K,), V (U, K), W' (K, I), b' (I,) with K = n_factors.

    Parameters
    ----------
    n_factors : int
        K, the size of the code h.
    corruption : float
        q, the dropout probability of an input entry, 0 <= q < 1.
    n_epochs, batch_size : int
        Passes over the users with train items, and users per Adam step.
    lr, reg : float
        Adam's learning rate and its L2 weight decay.
    n_negatives : int or None
        None: the loss covers every item; an int: positives plus this many sampled negatives each.
    random_state : int
        Seeds the weights, the order of the users, the corruption masks and the negatives.
    dtype : np.float32 or np.float64
    early_stopping : int or None
        Patience on the validation HR@10 (full ranking) with ``fit(train, valid)``.
    verbose : bool

    Attributes
    ----------
    network_ : Sequential
        ``cdae_network``: (y (N, I), users (N,)) -> logits (N, I).
    history_ : dict of lists
        "loss": each epoch's mean batch data term (without the L2 term); "valid_hr@10" with valid.
    best_epoch_ : int
    """

    def __init__(
        self,
        n_factors=50,
        corruption=0.2,
        n_epochs=25,
        lr=0.01,
        reg=0.0001,
        batch_size=64,
        n_negatives=1,
        random_state=0,
        dtype=np.float32,
        early_stopping=None,
        verbose=False,
    ):
        self.n_factors = n_factors
        self.corruption = corruption
        self.n_epochs = n_epochs
        self.lr = lr
        self.reg = reg
        self.batch_size = batch_size
        self.n_negatives = n_negatives
        self.random_state = random_state
        self.dtype = dtype
        self.early_stopping = early_stopping
        self.verbose = verbose

    def _check_hyperparameters(self, valid):
        self._check_common(valid)
        _checks.positive_int(self.n_factors, "n_factors", "CDAE")
        _checks.fraction(self.corruption, "corruption", "CDAE")
        if self.n_negatives is not None:
            _checks.positive_int(self.n_negatives, "n_negatives", "CDAE")

    def _build_network(self, rng=None):
        return cdae_network(
            self.n_users_, self.n_items_, self.n_factors, self.corruption, rng, self.dtype
        )

    def _fit(self, train, valid):
        self._check_hyperparameters(valid)
        self._rng = np.random.default_rng(self.random_state)
        self.network_ = self._build_network(self._rng)
        self._train(train, valid, self.n_epochs)

    def _loss(self):
        return MaskedLoss(BCEWithLogitsLoss())

    def _optimizer(self, network):
        return Adam(network, lr=self.lr, weight_decay=self.reg)

    def _training_data(self, train):
        """Each epoch: the users with train items in a new random order, batch_size per step;
        input (clicks, users), target the clicks, mask the positives and sampled negatives."""
        rng = self._rng
        sampler = None
        if self.n_negatives is not None:
            sampler = NegativeSampler(train, 1, seed=int(rng.integers(2**31)))
        n_positives = np.diff(self.train_csr_.indptr)
        active_users = np.flatnonzero(n_positives > 0)

        def batch(users):
            _, clicks = _dense_rows(self.train_csr_, users, self.dtype)
            if sampler is None:
                mask = np.ones_like(clicks)
            else:  # the positives, and n_negatives draws per positive
                mask = clicks.copy()
                n_draws = n_positives[users] * self.n_negatives
                rows = np.repeat(np.arange(len(users)), n_draws)
                mask[rows, sampler.sample(users[rows])[:, 0]] = 1
            return Batch((clicks, users), clicks, mask)

        def draw():
            order = rng.permutation(active_users)
            return (batch(order[start : start + self.batch_size])
                    for start in range(0, len(order), self.batch_size))

        return draw

    def _explain(self, user_index, item_index):
        """Gradient x input over the user's clicks (nanorec.models.explain): each train item j of
        the user gets y[j] * dz[i] / dy[j]."""
        from nanorec.models.explain import gradient_x_input

        users = np.array([user_index])
        _, clicks = _dense_rows(self.train_csr_, users, self.dtype)
        score, (dclicks, _) = gradient_x_input(self.network_, (clicks, users), (0, item_index))
        items = np.flatnonzero(clicks[0])
        labels = [f"item {raw}" for raw in self.item_ids_[items].tolist()]
        values = clicks[0, items].astype(np.float64) * dclicks[0, items]
        baseline = float(predict(self.network_, (np.zeros_like(clicks), users))[0, item_index])
        return score, "gradient x input of the user's train items on the logit", labels, values, \
            baseline

    def score_items(self, user_index):
        """Logits z (n, I) of every item for n users (eval mode: no corruption)."""
        user_index = np.asarray(user_index)
        _, clicks = _dense_rows(self.train_csr_, user_index, self.dtype)
        return predict(self.network_, (clicks, user_index), batch_size=256)


# ----------------------------------------------------------------------------- helpers
def _dense_rows(csr, rows, dtype):
    """Some rows of a sparse matrix as dense arrays: (values (n, C), observed (n, C)).

    values holds the stored entries (0 elsewhere), observed is 1 where an entry is stored: a stored
    value of 0 still counts as observed.
    """
    block_row, column = csr_entries(csr.indptr, csr.indices, rows)
    _, value = csr_entries(csr.indptr, csr.data, rows)  # the same positions, read from data
    values = np.zeros((len(rows), csr.shape[1]), dtype=dtype)
    observed = np.zeros_like(values)
    values[block_row, column] = value
    observed[block_row, column] = 1
    return values, observed


def _transpose(csr):
    """The (I, U) CSR of a (U, I) CSR: item i's row lists its users in increasing order."""
    n_rows, n_columns = csr.shape
    row_of_entry = np.repeat(np.arange(n_rows), np.diff(csr.indptr))
    order = np.argsort(csr.indices, kind="stable")  # stable: users stay sorted within an item
    indptr = np.zeros(n_columns + 1, dtype=np.int64)
    np.cumsum(np.bincount(csr.indices, minlength=n_columns), out=indptr[1:])
    return CSR(indptr, row_of_entry[order], csr.data[order], (n_columns, n_rows))
