"""Matrix factorization trained one sample at a time by fused SGD kernels.

    BiasedMF          explicit ratings, squared error (Funk SVD as in Surprise's SVD)
    BPRMF             implicit feedback, pairwise ranking loss (BPR)
    BiasedMFNetwork   BiasedMF's prediction built from nanorec.nn layers: the slow, composable path

The fused kernels of ``nanorec.models.mf_kernels`` do a whole epoch (forward, gradient and update of
every sample) in one compiled loop; ``BiasedMFNetwork`` spells the same computation out as
Embedding and Dot layers trained with a loss and an optimizer, and a test holds one SGD step of each
equal.
"""

import numpy as np

from nanorec.data.sampling import NegativeSampler
from nanorec.evaluation.protocols import evaluate
from nanorec.models.base import Recommender
from nanorec.models.fitting import (
    check_hyperparameters,
    check_number,
    explicit_ratings,
    run_epochs,
    tail_weights,
)
from nanorec.models.mf_kernels import (
    biased_mf_epoch_nb,
    bpr_epoch_nb,
    rows_by_user_nb,
    user_block_order_nb,
)
from nanorec.nn.base import Layer
from nanorec.nn.init import normal
from nanorec.nn.layers import Dot, Embedding


class BiasedMF(Recommender):
    """Matrix factorization with user and item biases, for explicit ratings.

    Prediction   r_hat[u, i] = mu + b_u[u] + b_i[i] + P[u] . Q[i]
    Objective    sum over (u, i, r) in train of w[u, i] * (r - r_hat[u, i])^2
                 + reg * (b_u[u]^2 + b_i[i]^2 + |P[u]|^2 + |Q[i]|^2)
    Weights      w[u, i] = (n_i / mean n) ** (-tail_weight), rescaled to mean 1 over the train
                 rows (n_i = train ratings of item i, mean n = their mean over the items;
                 nanorec.models.fitting.tail_weights). tail_weight = 0 (the default): w = 1, the
                 unweighted training bit for bit; > 0 weighs the ratings of rare items up.
    SGD step     for each rating (a step of lr / 2 times the gradient of that rating's term),
                 user by user: every epoch visits the users in a new random order, each user's
                 ratings together (``UserBlocks``: a user's factors stay in cache):
                 e = r - r_hat[u, i];  w = w[u, i]
                 b_u[u] += lr * (w * e - reg * b_u[u]);   b_i[i] += lr * (w * e - reg * b_i[i])
                 P[u] += lr * (w * e * Q[i] - reg * P[u]); Q[i] += lr * (w * e * P[u] - reg * Q[i])
                 (the right-hand sides read before the step)
    Init         P, Q ~ N(0, init_std^2); b_u = b_i = 0; mu = mean train rating (not learned).
                 Users and items with no train rating keep P[u] = 0 / Q[i] = 0, so their
                 prediction falls back to mu + b_u[u] + b_i[i], as Surprise's.
    Reference    Koren, Bell & Volinsky (2009), "Matrix factorization techniques for recommender
                 systems"; the defaults are those of Surprise's SVD.

    Shapes: P (U, K), Q (I, K), b_u (U,), b_i (I,) with K = n_factors.

    Parameters
    ----------
    n_factors : int
        K, the size of the latent factors.
    n_epochs : int
        Passes over the training ratings.
    lr, reg : float
        Learning rate and L2 regularization of the SGD step.
    tail_weight : float >= 0
        Exponent of the rating weights w = (n_i / mean n) ** (-tail_weight) (see Weights).
    init_std : float
        Standard deviation of the initial factors.
    random_state : int
        Seed of the initial factors and of the order of the ratings in every epoch.
    dtype : np.float32 or np.float64
        Dtype of the parameters (and of the arithmetic of the kernel).
    early_stopping : int or None
        Patience: with ``fit(train, valid)``, stop when the validation RMSE has not improved for
        this many epochs and keep the parameters of the best epoch. None: run all epochs.
    clip : bool
        Clip predicted ratings (``predict``, ``score_pairs``) to the range of the train ratings, as
        Surprise does. Ranking scores (``score_items``) are never clipped, since clipping is
        monotone and would only create ties.
    verbose : bool
        Print the loss (and validation RMSE) after every epoch.

    Attributes
    ----------
    global_mean_ : float
    user_bias_ : (U,), item_bias_ : (I,), user_factors_ : (U, K), item_factors_ : (I, K)
    rating_range_ : (float, float)
        Smallest and largest train rating.
    history_ : dict of lists
        "loss": mean of w * e^2 over each epoch's ratings (each e taken just before its update);
        "valid_rmse": RMSE on ``valid`` after each epoch, when given.
    best_epoch_ : int
        0-based epoch whose parameters were kept (the last one without early stopping).
    """

    def __init__(
        self,
        n_factors=100,
        n_epochs=20,
        lr=0.005,
        reg=0.02,
        tail_weight=0.0,
        init_std=0.1,
        random_state=0,
        dtype=np.float32,
        early_stopping=None,
        clip=True,
        verbose=False,
    ):
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.lr = lr
        self.reg = reg
        self.tail_weight = tail_weight
        self.init_std = init_std
        self.random_state = random_state
        self.dtype = dtype
        self.early_stopping = early_stopping
        self.clip = clip
        self.verbose = verbose

    def _fit(self, train, valid):
        check_hyperparameters(self, valid, positive_ints=("n_factors",))
        check_number(self, "init_std")
        check_number(self, "tail_weight")
        ratings = explicit_ratings(train, "train", type(self).__name__)
        if valid is not None:
            valid_ratings = explicit_ratings(valid, "valid", type(self).__name__)
        rng = np.random.default_rng(self.random_state)
        dtype = np.dtype(self.dtype)
        self.global_mean_ = float(ratings.mean())
        self.rating_range_ = (float(ratings.min()), float(ratings.max()))
        self.user_factors_ = _normal(rng, (self.n_users_, self.n_factors), self.init_std, dtype)
        self.item_factors_ = _normal(rng, (self.n_items_, self.n_factors), self.init_std, dtype)
        self.user_bias_ = np.zeros(self.n_users_, dtype)
        self.item_bias_ = np.zeros(self.n_items_, dtype)
        users, items = train.user_index, train.item_index
        # ids without a train rating keep zero factors: their r_hat falls back to mu + b_u + b_i
        self.user_factors_[np.bincount(users, minlength=self.n_users_) == 0] = 0
        self.item_factors_[np.bincount(items, minlength=self.n_items_) == 0] = 0
        blocks = UserBlocks(users, self.n_users_, rng)
        users, items, ratings = users[blocks.rows], items[blocks.rows], ratings[blocks.rows]
        weights = _row_weights(train, self.tail_weight, dtype)
        weights = None if weights is None else weights[blocks.rows]

        def run_epoch():
            sse = biased_mf_epoch_nb(
                users, items, ratings, blocks.order(rng), self.global_mean_,
                self.user_bias_, self.item_bias_, self.user_factors_, self.item_factors_,
                self.lr, self.reg, weights,
            )
            return sse / len(ratings)

        def valid_rmse():
            errors = valid_ratings - self.score_pairs(valid.user_index, valid.item_index)
            return float(np.sqrt(np.mean(errors**2)))

        run_epochs(self, run_epoch, None if valid is None else valid_rmse, "valid_rmse", +1)

    def _learned(self):
        return (self.user_bias_, self.item_bias_, self.user_factors_, self.item_factors_)

    def score_items(self, user_index):
        """r_hat for every item: (n, I) = mu + b_u[u][:, None] + b_i[None, :] + P[u] @ Q.T."""
        user_index = np.asarray(user_index)
        factors = self.user_factors_[user_index] @ self.item_factors_.T
        return factors + self.user_bias_[user_index, None] + self.item_bias_ + self.global_mean_

    def score_pairs(self, user_index, item_index):
        """r_hat for n pairs (n,): mu + b_u[u] + b_i[i] + sum_k P[u, k] Q[i, k], clipped if ``clip``."""
        user_index, item_index = np.asarray(user_index), np.asarray(item_index)
        dots = np.einsum("nk,nk->n", self.user_factors_[user_index], self.item_factors_[item_index])
        scores = self.global_mean_ + self.user_bias_[user_index] + self.item_bias_[item_index] + dots
        return np.clip(scores, *self.rating_range_) if self.clip else scores

    def to_network(self):
        """A ``BiasedMFNetwork`` holding copies of the fitted parameters (same unclipped r_hat)."""
        network = BiasedMFNetwork(
            self.n_users_, self.n_items_, self.n_factors, self.global_mean_, dtype=self.dtype
        )
        network.params["user_bias"][:, 0] = self.user_bias_
        network.params["item_bias"][:, 0] = self.item_bias_
        network.params["user_factors"][...] = self.user_factors_
        network.params["item_factors"][...] = self.item_factors_
        return network


class BPRMF(Recommender):
    """Matrix factorization for implicit feedback, trained on the BPR pairwise ranking loss.

    Every training row (u, i) is a positive; an item j the user has not interacted with in train
    is a negative. The model should score positives above negatives.

    Prediction   x_hat[u, i] = P[u] . Q[i] + b[i]          (a user bias would cancel in x below)
    Objective    sum over triples (u, i, j) of -w[u, i] * log sigmoid(x_hat[u, i] - x_hat[u, j])
                 + reg / 2 * (|P[u]|^2 + |Q[i]|^2 + |Q[j]|^2 + b[i]^2 + b[j]^2)
                 (each user's latest rows, a share recent_share of them, count twice: see Epoch)
    Weights      w[u, i] = (n_i / mean n) ** (-tail_weight), rescaled to mean 1 over the train
                 rows (n_i = train rows of item i, mean n = their mean over the items;
                 nanorec.models.fitting.tail_weights): a triple weighs what its positive does.
                 tail_weight = 0 (the default): w = 1, the unweighted training bit for bit.
    SGD step     (lr times the gradient of a triple's term, right-hand sides read before the step)
                 x = x_hat[u, i] - x_hat[u, j];  g = w[u, i] * sigmoid(-x)
                 P[u] += lr * (g * (Q[i] - Q[j]) - reg * P[u])
                 Q[i] += lr * (g * P[u] - reg * Q[i]);   Q[j] += lr * (-g * P[u] - reg * Q[j])
                 b[i] += lr * (g - reg * b[i]);          b[j] += lr * (-g - reg * b[j])
    Epoch        every train row once, and each user's ceil(recent_share * n_u) latest rows (n_u:
                 the user's rows; latest by timestamp, ties and logs without timestamps by row
                 order) a second time, user by user (the users in a new random order every
                 epoch, each user's rows together; ``UserBlocks``), each with n_negatives
                 negatives j.
                 Each j is the highest scored of m = negative_candidates candidates c[0..m-1]
                 (dynamic negative sampling; m = 1 is plain BPR), scored with the parameters of
                 the moment:   j = c[argmax over k of x_hat[u, c[k]]]   (ties: the first).
                 The candidates are drawn (with replacement) from the items the user has not
                 interacted with in train, with weights w[c] = 1 (sampling="uniform") or
                 w[c] = count[c] ** alpha (sampling="popularity", count[c] = train rows of item c);
                 see nanorec.data.sampling.NegativeSampler.
    Init         P, Q ~ N(0, init_std^2); b = 0
    Reference    Rendle et al. (2009), "BPR: Bayesian Personalized Ranking from Implicit Feedback";
                 Zhang, Chen, Wang & Yu (2013), "Optimizing top-n collaborative filtering via
                 dynamic negative item sampling" (the choice among m candidates).

    Shapes: P (U, K), Q (I, K), b (I,) with K = n_factors. Ratings, if any, are ignored.

    Parameters
    ----------
    n_factors : int
    n_epochs : int
    lr, reg : float
    tail_weight : float >= 0
        Exponent of the weights w = (n_i / mean n) ** (-tail_weight) of the positives (see
        Weights); > 0 weighs the rows of rare items up.
    n_negatives : int
        Negatives per positive in each epoch (one triple each).
    negative_candidates : int
        m, candidates drawn per negative; the one the model scores highest is kept. The hardest
        negatives sit at the top of the ranking, where HR@10 and NDCG@10 look.
    recent_share : float in [0, 1)
        Share of each user's latest train rows visited twice per epoch: a recency weight for
        next-item prediction (0: every row once).
    sampling : {"uniform", "popularity"}
        Distribution of the candidates. "uniform" is the original BPR's; "popularity" with
        alpha = 1 draws an item as often as it occurs in train, like implicit's BPR (which takes
        the item of a random train row).
    alpha : float >= 0
        Popularity exponent of sampling="popularity" (0: uniform; ignored by "uniform").
        Popular items are the hardest negatives; alpha trades them against the long tail.
    init_std : float
    random_state : int
        Seed of the initial factors, the order of the rows and the negatives.
    dtype : np.float32 or np.float64
    early_stopping : int or None
        Patience on the validation HR@10 (full ranking, train items excluded) when
        ``fit(train, valid)``; the best epoch's parameters are kept. None: run all epochs.
    verbose : bool

    Attributes
    ----------
    user_factors_ : (U, K), item_factors_ : (I, K), item_bias_ : (I,)
    history_ : dict of lists
        "loss": mean weighted BPR loss -w log sigmoid(x) per triple over each epoch;
        "valid_hr@10" when valid.
    best_epoch_ : int

    Notes
    -----
    The defaults (popularity^0.25, m = 1, recent_share = 0.2) were chosen on validation splits
    carved from the train part of MovieLens-100K as the test split is carved from the whole: each
    user's latest train item held out, then the latest of what remains, then again (3 folds,
    each trained on the rows before its held-out items only; 2 seeds each; 64 factors, 100
    epochs). HR@10 / NDCG@10 averaged over the 6 fits, and on the test split (3 seeds)
    (benchmarks/bench_bpr_defaults.py prints this table):

        negatives, m, recent_share          validation         test
        uniform, m = 1, 0.2                 0.141 / 0.071      0.094 / 0.045
        uniform, m = 2, 0.2                 0.150 / 0.073      0.096 / 0.048   fits 1.6-2x slower
        uniform, m = 1, 0.4                 0.145 / 0.073      0.091 / 0.045
        popularity^0.1, m = 1, 0.2          0.144 / 0.073      0.095 / 0.046
        popularity^0.25, m = 1, 0.2         0.149 / 0.075      0.100 / 0.049   the default
        popularity^0.25, m = 1, 0.1         0.149 / 0.073      0.098 / 0.047
        popularity^0.25, m = 1, 0.3         0.148 / 0.075      0.098 / 0.048
        popularity^0.25, m = 1, 0           0.137 / 0.068      0.087 / 0.042
        popularity^0.25, m = 2, 0.2         0.146 / 0.075      0.098 / 0.050
        popularity^0.5, m = 1, 0.2          0.147 / 0.074      0.098 / 0.050
        popularity^0.75, m = 1, 0.2         0.142 / 0.072      0.108 / 0.053
        implicit's BPR (same factors, epochs) 0.126 / 0.064    0.102 / 0.048

    The rule: the best validation HR@10 among the settings that fit no slower than implicit's BPR
    (m = 1). The test column is shown for transparency and played no part: one held-out item for
    each of 943 users makes every test figure noisy (standard error about 0.009; the best test
    figure, popularity^0.75, is among the worst on validation).
    """

    def __init__(
        self,
        n_factors=64,
        n_epochs=100,
        lr=0.01,
        reg=0.01,
        tail_weight=0.0,
        n_negatives=1,
        negative_candidates=1,
        recent_share=0.2,
        sampling="popularity",
        alpha=0.25,
        init_std=0.1,
        random_state=0,
        dtype=np.float32,
        early_stopping=None,
        verbose=False,
    ):
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.lr = lr
        self.reg = reg
        self.tail_weight = tail_weight
        self.n_negatives = n_negatives
        self.negative_candidates = negative_candidates
        self.recent_share = recent_share
        self.sampling = sampling
        self.alpha = alpha
        self.init_std = init_std
        self.random_state = random_state
        self.dtype = dtype
        self.early_stopping = early_stopping
        self.verbose = verbose

    def _fit(self, train, valid):
        check_hyperparameters(self, valid, positive_ints=("n_factors", "n_negatives", "negative_candidates"),
                              fractions=("recent_share",))
        check_number(self, "init_std")
        check_number(self, "alpha")
        check_number(self, "tail_weight")
        if self.sampling not in ("uniform", "popularity"):
            raise ValueError(
                f"BPRMF: sampling must be 'uniform' or 'popularity', got {self.sampling!r}"
            )
        rng = np.random.default_rng(self.random_state)
        dtype = np.dtype(self.dtype)
        self.user_factors_ = _normal(rng, (self.n_users_, self.n_factors), self.init_std, dtype)
        self.item_factors_ = _normal(rng, (self.n_items_, self.n_factors), self.init_std, dtype)
        self.item_bias_ = np.zeros(self.n_items_, dtype)
        draws_per_row = self.n_negatives * self.negative_candidates
        sampler = NegativeSampler(
            train, draws_per_row, self.sampling, self.alpha, seed=int(rng.integers(2**31))
        )

        # every row, each user's latest ones twice; grouped by user: the sampler draws fastest
        # for users side by side, and the kernel visits one user's rows together
        rows = np.r_[np.arange(len(train)), latest_rows(train, self.recent_share)]
        blocks = UserBlocks(train.user_index[rows], self.n_users_, rng)
        by_user = rows[blocks.rows]
        users, items = train.user_index[by_user], train.item_index[by_user]
        weights = _row_weights(train, self.tail_weight, dtype)
        weights = None if weights is None else weights[by_user]

        def run_epoch():
            candidates = sampler.sample(users)  # (n, n_negatives * m): candidates[t] for row t
            order = blocks.order(rng)  # the users in a new random order
            n_triples = len(users) * self.n_negatives
            loss = bpr_epoch_nb(
                np.repeat(users[order], self.n_negatives),
                np.repeat(items[order], self.n_negatives),
                candidates[order].reshape(n_triples, self.negative_candidates),
                self.user_factors_, self.item_factors_, self.item_bias_, self.lr, self.reg,
                None if weights is None else np.repeat(weights[order], self.n_negatives),
            )
            return loss / n_triples

        def valid_hit_rate():
            return float(evaluate(self, valid, train=train, metrics=("hr@10",))["hr@10"])

        run_epochs(self, run_epoch, None if valid is None else valid_hit_rate, "valid_hr@10", -1)

    def _learned(self):
        return (self.user_factors_, self.item_factors_, self.item_bias_)

    def score_items(self, user_index):
        """x_hat for every item: (n, I) = P[u] @ Q.T + b[None, :]."""
        return self.user_factors_[np.asarray(user_index)] @ self.item_factors_.T + self.item_bias_

    def score_pairs(self, user_index, item_index):
        """x_hat for n pairs (n,): sum_k P[u, k] Q[i, k] + b[i]."""
        user_index, item_index = np.asarray(user_index), np.asarray(item_index)
        dots = np.einsum("nk,nk->n", self.user_factors_[user_index], self.item_factors_[item_index])
        return dots + self.item_bias_[item_index]


def latest_rows(train, share):
    """Row indices of each user's ceil(share * n_u) latest rows in ``train`` (n_u: the user's rows).

    Latest by timestamp, ties (and logs without timestamps) by row order: the later row is later.
    """
    time = np.arange(len(train)) if train.timestamps is None else train.timestamps
    by_time = np.argsort(time, kind="stable")  # ties by row order
    by_user_then_time = rows_by_user_nb(train.user_index, by_time, train.n_users)
    n_rows = np.bincount(train.user_index, minlength=train.n_users)
    first_row = np.cumsum(n_rows) - n_rows
    users = train.user_index[by_user_then_time]
    rows_after = first_row[users] + n_rows[users] - 1 - np.arange(len(train))  # 0: the latest
    return by_user_then_time[rows_after < np.ceil(share * n_rows[users])]


class UserBlocks:
    """Training rows grouped by user, and a new SGD order of the users for every epoch.

    ``rows``: the positions 0 .. n - 1 of ``user_index`` sorted by user, each user's in a random
    order drawn once. ``order(rng)``: a permutation of positions into ``rows`` that visits the
    users in a new random order, each user's rows together and rotated by a random shift
    (``nanorec.models.mf_kernels.user_block_order_nb``). An SGD kernel given the arrays gathered by
    ``rows`` and visiting them in this order reads them almost in sequence and keeps the user's
    factors in cache for all of the user's rows (``user_block_order_ref`` has the figures).
    """

    def __init__(self, user_index, n_users, rng):
        self.rows = rows_by_user_nb(user_index, rng.permutation(len(user_index)), n_users)
        self.starts = np.r_[0, np.cumsum(np.bincount(user_index, minlength=n_users))]

    def order(self, rng):
        """(n,) int64: this epoch's order of the positions into ``rows``."""
        n_users = len(self.starts) - 1
        return user_block_order_nb(self.starts, rng.permutation(n_users),
                                   rng.integers(0, 2**62, n_users))


class BiasedMFNetwork(Layer):
    """BiasedMF's prediction as a network of nanorec.nn layers (no fused kernel).

    Forward      (users (N,), items (N,)) -> r_hat (N, 1)
                 r_hat = mu + user_bias(u) + item_bias(i) + Dot(user_factors(u), item_factors(i))
                 with four Embedding tables: user_factors P (U, K), item_factors Q (I, K),
                 user_bias (U, 1), item_bias (I, 1); mu is a constant.
    Backward     given dy = dL/dr_hat (N, 1): a sum passes dy unchanged to each term, so
                 d user_bias[u] += dy,  d item_bias[i] += dy,  and Dot gives
                 d P[u] += dy * Q[i],   d Q[i] += dy * P[u]   (row-sparse gradients)

    One step of BiasedMF's kernel on one rating of loss weight w (w = 1 without tail_weight)
    equals one step of
        MSELoss().forward(r_hat, r, weight=0.5 * w)      # w/2 (r - r_hat)^2: dL/dr_hat = -w e
        SGD(network, lr=lr, weight_decay=reg).step()     # p -= lr * (grad + reg * p), rows used only
    since SGD's weight decay on the rows in the batch is the kernel's "- reg * p" term. On a batch
    of N > 1 ratings it is mini-batch SGD instead: MSELoss averages the N gradients, and the
    kernel's sequential updates see each other.

    Parameters
    ----------
    n_users, n_items, n_factors : int
    global_mean : float
        mu.
    init_std : float
        Initial factors ~ N(0, init_std^2); biases start at 0.
    rng : np.random.Generator, int or None
    dtype : np.float32 or np.float64
    """

    def __init__(self, n_users, n_items, n_factors, global_mean, init_std=0.1, rng=None,
                 dtype=np.float32):
        super().__init__()
        rng = np.random.default_rng(rng)

        def factors_init(shape, rng, dtype):
            return normal(shape, rng, dtype, std=init_std)

        self.global_mean = float(global_mean)
        self.layers = {
            "user_factors": Embedding(n_users, n_factors, init=factors_init, rng=rng, dtype=dtype),
            "item_factors": Embedding(n_items, n_factors, init=factors_init, rng=rng, dtype=dtype),
            "user_bias": Embedding(n_users, 1, init="zeros", dtype=dtype),
            "item_bias": Embedding(n_items, 1, init="zeros", dtype=dtype),
        }
        self.dot = Dot()
        for name, layer in self.layers.items():  # the live arrays, so optimizers update them
            self.params[name] = layer.params["W"]
            self.grads[name] = layer.grads["W"]

    @property
    def children(self):
        return (*self.layers.values(), self.dot)

    def forward(self, inputs):
        if not isinstance(inputs, (tuple, list)) or len(inputs) != 2:
            raise TypeError("BiasedMFNetwork: expected a tuple (users (N,), items (N,)) of int ids")
        users, items = inputs
        layer = self.layers
        interaction = self.dot.forward(
            (layer["user_factors"].forward(users), layer["item_factors"].forward(items))
        )
        biases = layer["user_bias"].forward(users) + layer["item_bias"].forward(items)
        return self.global_mean + biases + interaction

    def backward(self, dy):
        layer = self.layers
        layer["user_bias"].backward(dy)
        layer["item_bias"].backward(dy)
        d_user_factors, d_item_factors = self.dot.backward(dy)
        layer["user_factors"].backward(d_user_factors)
        layer["item_factors"].backward(d_item_factors)
        return None  # ids have no gradient


def _row_weights(train, tail_weight, dtype):
    """The kernels' per-row weights: None at tail_weight = 0 (every w = 1: the kernel's unweighted
    specialization, so the default training is the one without weights, at its speed), else
    ``tail_weights`` in the parameters' dtype."""
    return None if tail_weight == 0 else tail_weights(train, tail_weight).astype(dtype)


def _normal(rng, shape, std, dtype):
    return rng.normal(0.0, std, size=shape).astype(dtype)
