"""Autoencoder recommenders: a network learns to rebuild a row of the rating matrix from itself.

    AutoRec      explicit ratings: each ITEM's column of ratings over the users is encoded into a
                 small hidden vector and decoded back; the decoded entries of the users who did not
                 rate the item are the predictions (Sedhain et al. 2015, I-AutoRec)
    CDAE         implicit feedback: each USER's row of clicks, corrupted by dropout, plus a per-user
                 node, is encoded and decoded back into a probability per item (Wu et al. 2016)

Both networks are nanorec.nn layers in a hand-wired Network, trained with Adam on mini-batches of
rows (items for AutoRec, users for CDAE), in a new random order every epoch. The rows stay sparse,
as the train CSR stores them (nanorec.nn.SparseRows): the encoder is a SparseDense, which touches
the stored entries only, and the decoder a PairScores, which decodes only the entries the loss
counts (AutoRec: the observed ratings; CDAE: the positives and the sampled negatives). The
objective is a dense autoencoder's with a mask over the entries, at O(entries x H) per batch
instead of O(rows x columns x H): on MovieLens-100K 94% of AutoRec's rating entries are empty.
Inference decodes every entry (``score_all``).
"""

import numpy as np

from nanorec import _checks
from nanorec.data.interactions import CSR
from nanorec.data.sampling import NegativeSampler
from nanorec.models.base import NetworkRecommender, explicit_ratings, register
from nanorec.nn.activations import ReLU, Sigmoid, Tanh
from nanorec.nn.init import as_generator
from nanorec.nn.layers import Dropout, Embedding, Network, PairScores, SparseDense, SparseRows
from nanorec.nn.losses import BCEWithLogitsLoss, MSELoss
from nanorec.optim.optimizers import Adam
from nanorec.scoring import csr_entries, row_blocks
from nanorec.training import Batch

ACTIVATIONS = {"sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU, "identity": None}


class AutoRecNetwork(Network):
    """I-AutoRec's network: item rating columns (sparse) -> the decoded entries asked for.

        a_i = r_i V + mu                 SparseDense(U, H) over the stored ratings of column r_i
        h_i = g(a_i)                     the activation ("identity": none)
        r_hat[u, i] = h_i . W[u] + b[u]  PairScores(U, H), at the pairs (i, u) asked for

    Forward    (ratings SparseRows (N, U), rows (K,), users (K,)) -> r_hat (K,): pair k is entry
               users[k] of the column in batch row rows[k]
    Backward   dh, _, _ = decoder.backward(dr_hat); da = g.backward(dh); encoder.backward(da)
               (dV = R^T da, over the stored entries only); the ratings are data: returns None
    ``score_all(ratings)`` decodes every user's entry, (N, U), in the current mode.

    Parameter keys: "encoder.W" = V (U, H), "encoder.b" = mu (H,), "decoder.W" = W (U, H) (row u
    is user u's output weights), "decoder.b" = b (U,). Init: glorot uniform V and W (W drawn as a
    Dense(H, U) weight), zero biases.
    """

    def __init__(self, n_users, n_hidden, activation="sigmoid", rng=None, dtype=np.float32):
        _checks.one_of(activation, "activation", tuple(ACTIVATIONS), "AutoRec")
        g = ACTIVATIONS[activation]
        parts = dict(encoder=SparseDense(n_users, n_hidden, rng=rng, dtype=dtype))
        if g is not None:
            parts["activation"] = g()
        parts["decoder"] = PairScores(n_users, n_hidden, rng=rng, dtype=dtype)
        super().__init__(**parts)

    def encode(self, ratings):
        """h (N, H) of a SparseRows batch of columns."""
        h = self.parts["encoder"].forward(ratings)
        return self.parts["activation"].forward(h) if "activation" in self.parts else h

    def forward(self, inputs):
        if not isinstance(inputs, tuple) or len(inputs) != 3:
            raise TypeError("AutoRecNetwork: expected a tuple (ratings SparseRows, rows, users)")
        ratings, rows, users = inputs
        return self.parts["decoder"].forward((self.encode(ratings), rows, users))

    def backward(self, dy):
        dh, _, _ = self.parts["decoder"].backward(dy)
        if "activation" in self.parts:
            dh = self.parts["activation"].backward(dh)
        self.parts["encoder"].backward(dh)
        return None  # the ratings are data

    def score_all(self, ratings):
        """r_hat (N, U) of every user for a SparseRows batch of columns."""
        return self.parts["decoder"].score_all(self.encode(ratings))


class CDAENetwork(Network):
    """CDAE's network: (clicks SparseRows (N, I), users (N,), rows (K,), items (K,)) -> z (K,).

        y~ = Dropout(corruption)(y)            y * mask / (1 - q) on the stored clicks in training
        h  = sigmoid(y~ W + V[u] + b)          SparseDense(I, K) on y~, Embedding(U, K) for V[u]
        z[n, i] = h[n] . W'[i] + b'[i]         PairScores(I, K) at the pairs (rows[k], items[k])

    Backward   dh, _, _ = decoder.backward(dz); da = dh h (1 - h); the encoder gets da (dW = y~^T
               da over the stored clicks), the user node da at its rows; the clicks are data and
               the users ids: returns None.
    ``score_all((clicks, users))`` gives every item's logit, (N, I), in the current mode.

    Parameter keys: "encoder.W" = W (I, K), "encoder.b" = b (K,), "user_node.W" = V (U, K),
    "decoder.W" = W' (I, K) (row i is item i's output weights), "decoder.b" = b' (I,). Init:
    glorot uniform W and W' (W' drawn as a Dense(K, I) weight), V ~ N(0, 0.01^2) (Embedding's
    default), zero biases.
    """

    def __init__(self, n_users, n_items, n_factors, corruption, rng=None, dtype=np.float32):
        rng = as_generator(rng)
        super().__init__(
            corruption=Dropout(corruption, rng=np.random.default_rng(rng.integers(2**63))),
            encoder=SparseDense(n_items, n_factors, rng=rng, dtype=dtype),
            user_node=Embedding(n_users, n_factors, rng=rng, dtype=dtype),
            activation=Sigmoid(),
            decoder=PairScores(n_items, n_factors, rng=rng, dtype=dtype),
        )

    def encode(self, clicks, users):
        """h (N, K) of a SparseRows batch of click rows and their users."""
        a = self.parts["encoder"].forward(self.parts["corruption"].forward(clicks))
        return self.parts["activation"].forward(a + self.parts["user_node"].forward(users))

    def forward(self, inputs):
        if not isinstance(inputs, tuple) or len(inputs) != 4:
            raise TypeError("CDAENetwork: expected a tuple (clicks SparseRows, users, rows, items)")
        clicks, users, rows, items = inputs
        return self.parts["decoder"].forward((self.encode(clicks, users), rows, items))

    def backward(self, dy):
        dh, _, _ = self.parts["decoder"].backward(dy)
        da = self.parts["activation"].backward(dh)
        self.parts["user_node"].backward(da)
        self.parts["encoder"].backward(da)
        return None  # clicks are data, users ids

    def score_all(self, inputs):
        """Logits z (N, I) of every item for (clicks SparseRows (N, I), users (N,))."""
        return self.parts["decoder"].score_all(self.encode(*inputs))


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
    Backward     with a = r_i V + mu, h = g(a), over the K observed entries (i, u) of the batch
                 (MSELoss on those K decoded entries, each weighted K / N: the sum over N):
                 d r_hat[u, i] = 2 (r_hat[u, i] - r[u, i]) / N
                 dW[u] += d r_hat[u, i] h_i     db[u] += d r_hat[u, i]     dh_i += d r_hat[u, i] W[u]
                 da = dh * g'(a)      dV = R^T da (the stored ratings only)     dmu = sum of da
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

    Shapes: V (U, H), mu (H,), W (U, H), b (U,) with H = n_hidden. Memory: the predictions are kept
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
    network_ : AutoRecNetwork
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
        return AutoRecNetwork(self.n_users_, self.n_hidden, self.activation, rng, self.dtype)

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
        return MSELoss()

    def _optimizer(self, network):
        """Adam, its weight decay reg on the weights V and W only (not on the biases)."""
        biases = [key for key in network.params if key.endswith(".b")]
        return Adam(network, lr=self.lr, weight_decay=self.reg,
                    groups=[{"params": biases, "weight_decay": 0.0}])

    def _training_data(self, train):
        """Each epoch: the items with train ratings in a new random order, batch_size per step;
        a batch's input is its items' rating columns (SparseRows), its pairs and targets the K
        stored ratings, each weighted K / N (the loss is then a sum over the entries / N)."""
        item_csr = _transpose(self.train_csr_)
        rated_items = np.flatnonzero(np.diff(item_csr.indptr) > 0)

        def draw():
            self._predictions = None
            order = self._rng.permutation(rated_items)
            for start in range(0, len(order), self.batch_size):
                columns = _sparse_rows(item_csr, order[start : start + self.batch_size], self.dtype)
                rows = np.repeat(np.arange(len(columns)), np.diff(columns.indptr))
                weight = np.full(len(rows), len(rows) / len(columns), self.dtype)
                yield Batch((columns, rows, columns.indices), columns.values, weight)

        return draw

    def predicted_ratings(self):
        """r_hat (I, U) of every item and user, with the mean fallback; computed once, then kept."""
        if getattr(self, "_predictions", None) is None:
            item_csr = _transpose(self.train_csr_)
            r_hat = np.concatenate([
                self.network_.score_all(_sparse_rows(item_csr, np.arange(self.n_items_)[block],
                                                     self.dtype))
                for block in row_blocks(self.n_items_, self.n_users_)])
            r_hat[np.diff(item_csr.indptr) == 0, :] = self.global_mean_
            r_hat[:, np.diff(self.train_csr_.indptr) == 0] = self.global_mean_
            self._predictions = r_hat
        return self._predictions

    def _explain(self, user_index, item_index):
        """Gradient x input over the item's column of ratings (nanorec.models.explain): each
        user v who rated the item gets r[v, i] * d r_hat[u, i] / d r[v, i]; users who chose not to
        be named in explanations (UserPrivacy) are left out."""
        from nanorec.models.explain import attribute_sparse_input

        column = _sparse_rows(_transpose(self.train_csr_), np.array([item_index]), self.dtype)
        pair = (np.array([0]), np.array([user_index]))
        score, values = attribute_sparse_input(self.network_, (column, *pair), 0,
                                               self.network_.parts["encoder"], column.indices)
        shown = (column.indices == user_index) | ~self._hidden_in_explanations()[column.indices]
        raters, values = column.indices[shown], values[shown]
        labels = [f"user {raw}'s rating" for raw in self.user_ids_[raters].tolist()]
        no_ratings = column.with_values(np.zeros_like(column.values))
        baseline = float(self.network_.forward((no_ratings, *pair))[0])
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
                 stable), on the K decoded entries (u, i) of O = the O_u of the batch, each
                 weighted K / N (the loss is then the sum over O / N):
                 dz[u, i] = (sigmoid(z[u, i]) - y[u, i]) / N
                 dW'[i] += dz[u, i] h_u     db'[i] += dz[u, i]     dh_u += dz[u, i] W'[i]
                 da = dh * h * (1 - h)     (a = y~ W + V[u] + b, the Sigmoid's input)
                 dW = y~^T da (the stored clicks only)     db = sum over the batch of da
                 dV[u] += da[n] for each row n of user u (a row-sparse gradient)
    Update       Adam (lr) with weight decay reg on every parameter (adding reg * p to dp; for V
                 only on the rows of the batch).
    Cold users   a user without train items would have y = 0 and an untrained V[u]: ``predict``
                 and ``recommend`` raise ColdStartError for it (Recommender.cold_start).
    Reference    Wu, DuBois, Zheng & Ester (2016), "Collaborative Denoising Auto-Encoders for
                 Top-N Recommender Systems", WSDM.

    Shapes: W (I, K), b (K,), V (U, K), W' (I, K), b' (I,) with K = n_factors.

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
    network_ : CDAENetwork
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
        return CDAENetwork(
            self.n_users_, self.n_items_, self.n_factors, self.corruption, rng, self.dtype
        )

    def _fit(self, train, valid):
        self._check_hyperparameters(valid)
        self._rng = np.random.default_rng(self.random_state)
        self.network_ = self._build_network(self._rng)
        self._train(train, valid, self.n_epochs)

    def _loss(self):
        return BCEWithLogitsLoss()

    def _optimizer(self, network):
        return Adam(network, lr=self.lr, weight_decay=self.reg)

    def _training_data(self, train):
        """Each epoch: the users with train items in a new random order, batch_size per step;
        input (clicks, users, rows, items) with the K pairs (rows[k], items[k]) of O, target 1 on
        the positives and 0 on the rest, each pair weighted K / N."""
        rng = self._rng
        sampler = None
        if self.n_negatives is not None:
            sampler = NegativeSampler(train, 1, seed=int(rng.integers(2**31)))
        n_positives = np.diff(self.train_csr_.indptr)
        active_users = np.flatnonzero(n_positives > 0)
        n_items = self.n_items_

        def batch(users):
            clicks = self._clicks(users)
            if sampler is None:  # every item of every row
                rows = np.repeat(np.arange(len(users)), n_items)
                items = np.tile(np.arange(n_items), len(users))
                target = clicks.to_dense().ravel()
            else:  # the positives, then n_negatives draws per positive (a repeat counts once)
                draw_rows = np.repeat(np.arange(len(users)), n_positives[users] * self.n_negatives)
                drawn = np.sort(draw_rows * n_items + sampler.sample(users[draw_rows])[:, 0])
                drawn = drawn[np.diff(drawn, prepend=-1) != 0]
                rows = np.concatenate([np.repeat(np.arange(len(users)), np.diff(clicks.indptr)),
                                       drawn // n_items])
                items = np.concatenate([clicks.indices, drawn % n_items])
                target = np.zeros(len(rows), self.dtype)
                target[: len(clicks.indices)] = 1
            weight = np.full(len(rows), len(rows) / len(users), self.dtype)
            return Batch((clicks, users, rows, items), target, weight)

        def draw():
            order = rng.permutation(active_users)
            return (batch(order[start : start + self.batch_size])
                    for start in range(0, len(order), self.batch_size))

        return draw

    def _explain(self, user_index, item_index):
        """Gradient x input over the user's clicks (nanorec.models.explain): each train item j of
        the user gets y[j] * dz[i] / dy[j]."""
        from nanorec.models.explain import attribute_sparse_input

        users = np.array([user_index])
        clicks = self._clicks(users)
        pair = (np.array([0]), np.array([item_index]))
        score, values = attribute_sparse_input(self.network_, (clicks, users, *pair), 0,
                                               self.network_.parts["encoder"], clicks.indices)
        labels = [f"item {raw}" for raw in self.item_ids_[clicks.indices].tolist()]
        no_clicks = clicks.with_values(np.zeros_like(clicks.values))
        baseline = float(self.network_.forward((no_clicks, users, *pair))[0])
        return score, "gradient x input of the user's train items on the logit", labels, values, \
            baseline

    def _clicks(self, users):
        """The users' train items as SparseRows (N, I) of ones."""
        rows = _sparse_rows(self.train_csr_, users, self.dtype)
        return rows.with_values(np.ones_like(rows.values))

    def score_items(self, user_index):
        """Logits z (n, I) of every item for n users (eval mode: no corruption)."""
        user_index = np.asarray(user_index)
        return np.concatenate(
            [self.network_.score_all((self._clicks(user_index[block]), user_index[block]))
             for block in row_blocks(len(user_index), self.n_items_)]
            or [np.empty((0, self.n_items_), self.dtype)])


# ----------------------------------------------------------------------------- helpers
def _sparse_rows(csr, rows, dtype):
    """Some rows of a CSR matrix, in the given order, as SparseRows with values of ``dtype``
    (a stored 0 stays a stored entry: an observed rating of 0)."""
    rows = np.asarray(rows)
    _, columns = csr_entries(csr.indptr, csr.indices, rows)
    _, values = csr_entries(csr.indptr, csr.data, rows)  # the same positions, read from data
    indptr = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(np.diff(csr.indptr)[rows], out=indptr[1:])
    return SparseRows(indptr, columns, values.astype(dtype), csr.shape[1])


def _transpose(csr):
    """The (I, U) CSR of a (U, I) CSR: item i's row lists its users in increasing order."""
    n_rows, n_columns = csr.shape
    row_of_entry = np.repeat(np.arange(n_rows), np.diff(csr.indptr))
    order = np.argsort(csr.indices, kind="stable")  # stable: users stay sorted within an item
    indptr = np.zeros(n_columns + 1, dtype=np.int64)
    np.cumsum(np.bincount(csr.indices, minlength=n_columns), out=indptr[1:])
    return CSR(indptr, row_of_entry[order], csr.data[order], (n_columns, n_rows))
