"""Matrix factorization trained one sample at a time: BiasedMF (ratings) and BPRMF (implicit).

Each is a network of nanorec.nn layers (BiasedMFNetwork, BPRMFNetwork) trained by SGD with a
batch of one sample, so each step sees the parameters the previous step left. That loop, in Python,
costs microseconds of calls per sample; the fused kernels of ``nanorec.models.mf_kernels`` take the
very same steps in one compiled loop per epoch (``fused=True``, the default), and a test holds
them equal to the composed network in float64.
"""

import numpy as np

from nanorec import _checks
from nanorec.data.sampling import NegativeSampler
from nanorec.models.base import NetworkRecommender, explicit_ratings, register, tail_weights
from nanorec.models.mf_kernels import (
    biased_mf_epoch_nb,
    bpr_epoch_nb,
    rows_by_user_nb,
    user_block_order_nb,
)
from nanorec.nn.init import normal
from nanorec.nn.layers import Dot, Embedding, ItemScores, Network
from nanorec.nn.losses import BPRLoss, MSELoss
from nanorec.optim.optimizers import SGD
from nanorec.training import Batch, Samples


def _normal_init(std):
    """An initializer N(0, std^2) for Embedding tables ("zeros", drawing nothing, for std 0)."""
    if std == 0:
        return "zeros"
    return lambda shape, rng, dtype: normal(shape, rng, dtype, std=std)


class BiasedMFNetwork(Network):
    """BiasedMF's prediction as a network: r_hat = mu + b_u[u] + b_i[i] + P[u] . Q[i].

    Forward     (users (N,), items (N,)) -> r_hat (N, 1); the parts are four Embedding tables,
                user_factors P (U, K), item_factors Q (I, K), user_bias (U, 1), item_bias (I, 1),
                and a Dot; mu is a constant, or (learn_mean=True) a part global_bias (1, 1) that
                every sample reads (so its gradient is row-sparse and per sample, like the others').
    Backward    given dy = dL/dr_hat (N, 1): a sum passes dy unchanged to each term, so
                d b_u[u] += dy,  d b_i[i] += dy,  (d mu += dy),  and Dot gives
                d P[u] += dy * Q[i],   d Q[i] += dy * P[u]   (row-sparse gradients)

    One SGD step of BiasedMF (a rating of loss weight w) is this network with
        MSELoss().forward(r_hat, r, weight=0.5 * w)      # w/2 (r - r_hat)^2: dL/dr_hat = -w e
        SGD(network, lr=lr, weight_decay=reg).step()     # p -= lr * (grad + reg * p), rows used

    Parameters
    ----------
    n_users, n_items, n_factors : int
    global_mean : float
        mu (its start, when learned).
    init_std : float
        Initial factors ~ N(0, init_std^2); biases start at 0.
    rng : np.random.Generator, int or None
    dtype : np.float32 or np.float64
    learn_mean : bool
    """

    def __init__(self, n_users, n_items, n_factors, global_mean, init_std=0.1, rng=None,
                 dtype=np.float32, learn_mean=False):
        rng = np.random.default_rng(rng)
        parts = dict(
            user_factors=Embedding(n_users, n_factors, init=_normal_init(init_std), rng=rng,
                                   dtype=dtype),
            item_factors=Embedding(n_items, n_factors, init=_normal_init(init_std), rng=rng,
                                   dtype=dtype),
            user_bias=Embedding(n_users, 1, init="zeros", dtype=dtype),
            item_bias=Embedding(n_items, 1, init="zeros", dtype=dtype),
            dot=Dot(),
        )
        if learn_mean:
            parts["global_bias"] = Embedding(1, 1, init="zeros", dtype=dtype)
            parts["global_bias"].params["W"][0, 0] = global_mean
        super().__init__(**parts)
        self.global_mean = 0.0 if learn_mean else float(global_mean)

    def forward(self, inputs):
        if not isinstance(inputs, (tuple, list)) or len(inputs) != 2:
            raise TypeError("BiasedMFNetwork: expected a tuple (users (N,), items (N,)) of int ids")
        users, items = inputs
        part = self.parts
        interaction = part["dot"].forward(
            (part["user_factors"].forward(users), part["item_factors"].forward(items)))
        biases = part["user_bias"].forward(users) + part["item_bias"].forward(items)
        if "global_bias" in part:
            biases = biases + part["global_bias"].forward(np.zeros_like(users))
        return self.global_mean + biases + interaction

    def backward(self, dy):
        part = self.parts
        for name in ("user_bias", "item_bias", "global_bias"):
            if name in part:
                part[name].backward(dy)
        d_user_factors, d_item_factors = part["dot"].backward(dy)
        part["user_factors"].backward(d_user_factors)
        part["item_factors"].backward(d_item_factors)
        return None  # ids have no gradient

    def table(self, name):
        """A part's table as the fused kernel reads it: factors (R, K), biases (R,) (views)."""
        table = self.parts[name].params["W"]
        return table.reshape(-1) if table.shape[1] == 1 and name.endswith("bias") else table


@register("biased-mf", "rating prediction: mu + biases + P.Q (SGD)", needs=("ratings",))
class BiasedMF(NetworkRecommender):
    """Matrix factorization with user and item biases, for explicit ratings.

    Prediction   r_hat[u, i] = mu + b_u[u] + b_i[i] + P[u] . Q[i]
    Objective    sum over (u, i, r) in train of w[u, i] / 2 * (r - r_hat[u, i])^2
                 + reg / 2 * (b_u[u]^2 + b_i[i]^2 + |P[u]|^2 + |Q[i]|^2)
    Weights      w[u, i] = (n_i / mean n) ** (-tail_weight), rescaled to mean 1 over the train
                 rows (``tail_weights``); tail_weight = 0 (the default): w = 1.
    SGD step     for each rating, user by user (every epoch visits the users in a new random
                 order, each user's ratings together: ``UserBlocks``), with e = r - r_hat[u, i]:
                 b_u[u] += lr * (w * e - reg * b_u[u]);   b_i[i] += lr * (w * e - reg * b_i[i])
                 P[u] += lr * (w * e * Q[i] - reg * P[u]); Q[i] += lr * (w * e * P[u] - reg * Q[i])
                 (the right-hand sides read before the step): BiasedMFNetwork, MSELoss with
                 weight w / 2, SGD(lr, weight_decay=reg), one rating per step
    Init         P, Q ~ N(0, init_std^2); b_u = b_i = 0; mu = mean train rating (not learned).
                 Users and items with no train rating keep P[u] = 0 / Q[i] = 0, so their
                 prediction falls back to mu + b_u[u] + b_i[i].
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
        Exponent of the rating weights (see Weights).
    init_std : float
        Standard deviation of the initial factors.
    random_state : int
        Seed of the initial factors and of the order of the ratings in every epoch.
    dtype : np.float32 or np.float64
    early_stopping : int or None
        Patience on the validation RMSE with ``fit(train, valid)``; the best epoch is kept.
    clip : bool
        Clip predicted ratings (``predict``, ``score_pairs``) to the range of the train ratings.
        Ranking scores (``score_items``) are never clipped (a monotone clip only adds ties).
    fused : bool
        True: one Numba kernel per epoch; False: the composed network, step by step (slow).
    verbose : bool

    Attributes
    ----------
    network_ : BiasedMFNetwork
    global_mean_ : float
    user_bias_ (U,), item_bias_ (I,), user_factors_ (U, K), item_factors_ (I, K)
        Views of the network's tables.
    rating_range_ : (float, float)
    history_ : dict of lists
        "loss": mean of w e^2 / 2 over each epoch's ratings (each e just before its step);
        "valid_rmse" with ``fit(train, valid)``.
    best_epoch_ : int
    """

    validation_metric = "rmse"

    def __init__(self, n_factors=100, n_epochs=20, lr=0.005, reg=0.02, tail_weight=0.0,
                 init_std=0.1, random_state=0, dtype=np.float32, early_stopping=None, clip=True,
                 fused=True, verbose=False):
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
        self.fused = fused
        self.verbose = verbose

    def _check_hyperparameters(self, valid):
        self._check_common(valid)
        name = type(self).__name__
        _checks.positive_int(self.n_factors, "n_factors", name)
        _checks.non_negative(self.init_std, "init_std", name)
        _checks.non_negative(self.tail_weight, "tail_weight", name)

    def _fit(self, train, valid):
        self._check_hyperparameters(valid)
        ratings = explicit_ratings(train, "train", type(self).__name__)
        if valid is not None:
            explicit_ratings(valid, "valid", type(self).__name__)
        self._rng = np.random.default_rng(self.random_state)
        self.global_mean_ = float(ratings.mean())
        self.rating_range_ = (float(ratings.min()), float(ratings.max()))
        self.network_ = self._build_network(self._rng)
        # ids without a train rating keep zero factors: their r_hat falls back to mu + b_u + b_i
        self.user_factors_[np.bincount(train.user_index, minlength=self.n_users_) == 0] = 0
        self.item_factors_[np.bincount(train.item_index, minlength=self.n_items_) == 0] = 0
        self._train(train, valid, self.n_epochs)

    def finetune(self, train, n_epochs=1):
        """More SGD epochs on ``train``, from the current parameters; returns self.

        train's user and item ids must be among the model's: the same vocabulary, or one that
        lost ids (after nanorec.privacy.opt_out, say). The model keeps the parameters of train's
        ids, in train's order, and drops the others; mu and the rating range become train's.
        Then n_epochs >= 0 epochs of fit's SGD, weighted as fit weighs the rows. Sets train_csr_,
        history_ and best_epoch_ (no epochs: history_ {"loss": []}).
        """
        name = type(self).__name__
        if not hasattr(self, "network_"):
            raise RuntimeError(f"{name} is not fitted yet: call fit(train) first")
        n_epochs = _checks.integer(n_epochs, "n_epochs", f"{name}.finetune", low=0)
        ratings = explicit_ratings(train, "train", name)
        kept = {"user": self._to_index(np.asarray(train.user_ids), "user"),
                "item": self._to_index(np.asarray(train.item_ids), "item")}
        before = self.network_
        self._set_vocabulary(train)
        self.global_mean_ = float(ratings.mean())
        self.rating_range_ = (float(ratings.min()), float(ratings.max()))
        self.network_ = self._build_network()
        for table in ("user_factors", "user_bias", "item_factors", "item_bias"):
            self.network_.table(table)[...] = before.table(table)[kept[table.split("_")[0]]]
        self.history_, self.best_epoch_ = {"loss": []}, -1
        if n_epochs:
            self._rng = np.random.default_rng(self.random_state)
            self._train(train, None, n_epochs)
        return self

    def _build_network(self, rng=None):
        return BiasedMFNetwork(self.n_users_, self.n_items_, self.n_factors, self.global_mean_,
                               self.init_std, rng, self.dtype)

    def _loss(self):
        return MSELoss()

    def _optimizer(self, network):
        return SGD(network, lr=self.lr, weight_decay=self.reg)

    def _training_data(self, train):
        """Each epoch: every rating once, users' blocks in a new random order, one per step."""
        rng = self._rng
        blocks = UserBlocks(train.user_index, self.n_users_, rng)
        rows = blocks.rows
        users, items = train.user_index[rows], train.item_index[rows]
        ratings = train.ratings[rows][:, None]
        weights = 0.5 * tail_weights(train, self.tail_weight)[rows].astype(self.dtype)
        return lambda: Samples((users, items), ratings, weights, blocks.order(rng), 1)

    def _gradcheck_batch(self, train):
        """Eight train ratings (an epoch feeds one at a time)."""
        return Batch((train.user_index[:8], train.item_index[:8]), train.ratings[:8, None])

    def _fused_epoch(self, samples, optimizer):
        users, items = samples.inputs
        weights = None if self.tail_weight == 0 else 2 * samples.weight  # w / 2 -> w, exactly
        sse = biased_mf_epoch_nb(
            users, items, samples.target[:, 0], samples.order, self.global_mean_,
            self.user_bias_, self.item_bias_, self.user_factors_, self.item_factors_,
            self.lr, self.reg, weights,
        )
        return sse / (2 * len(samples.order))

    @property
    def user_factors_(self):
        return self.network_.table("user_factors")

    @property
    def item_factors_(self):
        return self.network_.table("item_factors")

    @property
    def user_bias_(self):
        return self.network_.table("user_bias")

    @property
    def item_bias_(self):
        return self.network_.table("item_bias")

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


class BPRMFNetwork(Network):
    """BPRMF's scores of a positive item and of the hardest of m candidate negatives.

    Forward    (users (N,), positives (N,), candidates (N, m)) -> (N, 2) [x_hat[u, i], x_hat[u, j]]
               x_hat[u, c] = P[u] . Q[c] + b[c]
               j = the candidate of highest x_hat[u, c] (ties: the first); m = 1: j is the one given.
               The choice of j is a sample, not a function to differentiate: the candidates are
               scored without a cache, and only (i, j) go through the layers.
    Parts      user_factors: Embedding P (U, K); scores: ItemScores (Q (I, K), b (I, 1))
    Backward   given dy (N, 2): ItemScores gives dh = dy[:, 0] Q[i] + dy[:, 1] Q[j] and row-sparse
               dQ[i] += dy[:, 0] P[u], dQ[j] += dy[:, 1] P[u], db likewise; then dP[u] += dh.
    With BPRLoss and SGD(lr, weight_decay=reg), one triple per step, it takes BPRMF's SGD step.
    """

    def __init__(self, n_users, n_items, n_factors, init_std=0.1, rng=None, dtype=np.float32):
        rng = np.random.default_rng(rng)
        super().__init__(
            user_factors=Embedding(n_users, n_factors, init=_normal_init(init_std), rng=rng,
                                   dtype=dtype),
            scores=ItemScores(n_items, n_factors, init_std=init_std, rng=rng, dtype=dtype),
        )

    def forward(self, inputs):
        if not isinstance(inputs, (tuple, list)) or len(inputs) != 3:
            raise TypeError("BPRMFNetwork: expected a tuple (users (N,), positives (N,), "
                            "candidates (N, m)) of int ids")
        users, positives, candidates = inputs
        p = self.parts["user_factors"].forward(users)
        candidates = np.asarray(candidates).reshape(len(p), -1)
        Q, b = self.item_factors, self.parts["scores"].parts["biases"].params["W"][:, 0]
        candidate_scores = np.einsum("nk,nck->nc", p, Q[candidates]) + b[candidates]
        hardest = candidates[np.arange(len(p)), np.argmax(candidate_scores, axis=1)]
        return self.parts["scores"].forward((p, np.stack([positives, hardest], axis=1)))

    def backward(self, dy):
        dp, _ = self.parts["scores"].backward(dy)
        self.parts["user_factors"].backward(dp)
        return None  # ids have no gradient

    @property
    def user_factors(self):
        return self.parts["user_factors"].params["W"]

    @property
    def item_factors(self):
        return self.parts["scores"].parts["weights"].params["W"]

    @property
    def item_bias(self):
        return self.parts["scores"].parts["biases"].params["W"].reshape(-1)


@register("bpr", "matrix factorization on the BPR pairwise ranking loss")
class BPRMF(NetworkRecommender):
    """Matrix factorization for implicit feedback, trained on the BPR pairwise ranking loss.

    Every training row (u, i) is a positive; an item j the user has not interacted with in train
    is a negative. The model should score positives above negatives.

    Prediction   x_hat[u, i] = P[u] . Q[i] + b[i]          (a user bias would cancel in x below)
    Objective    sum over triples (u, i, j) of -w[u, i] * log sigmoid(x_hat[u, i] - x_hat[u, j])
                 + reg / 2 * (|P[u]|^2 + |Q[i]|^2 + |Q[j]|^2 + b[i]^2 + b[j]^2)
    Weights      w[u, i] = (n_i / mean n) ** (-tail_weight), rescaled to mean 1 (``tail_weights``)
    SGD step     per triple: x = x_hat[u, i] - x_hat[u, j];  g = w[u, i] * sigmoid(-x)
                 P[u] += lr * (g * (Q[i] - Q[j]) - reg * P[u])
                 Q[i] += lr * (g * P[u] - reg * Q[i]);   Q[j] += lr * (-g * P[u] - reg * Q[j])
                 b[i] += lr * (g - reg * b[i]);          b[j] += lr * (-g - reg * b[j])
                 (right-hand sides read before the step): BPRMFNetwork, BPRLoss with weight w,
                 SGD(lr, weight_decay=reg), one triple per step
    Epoch        every train row once, and each user's ceil(recent_share * n_u) latest rows
                 (``latest_rows``) a second time, user by user (``UserBlocks``), each with
                 n_negatives negatives j. Each j is the highest scored of m = negative_candidates
                 candidates drawn from the items the user has not interacted with in train
                 (dynamic negative sampling; m = 1 is plain BPR), with weights 1 (distribution
                 "uniform") or count[c] ** popularity_exponent ("popularity";
                 nanorec.data.sampling.NegativeSampler).
    Init         P, Q ~ N(0, init_std^2); b = 0
    Reference    Rendle et al. (2009), "BPR: Bayesian Personalized Ranking from Implicit Feedback";
                 Zhang, Chen, Wang & Yu (2013), "Optimizing top-n collaborative filtering via
                 dynamic negative item sampling". The defaults were chosen on validation folds
                 carved from the train part of MovieLens-100K (benchmarks/bench_bpr_defaults.py).

    Shapes: P (U, K), Q (I, K), b (I,) with K = n_factors. Ratings, if any, are ignored.

    Parameters
    ----------
    n_factors, n_epochs : int
    lr, reg : float
    tail_weight : float >= 0
    n_negatives : int
        Negatives per positive in each epoch (one triple each).
    negative_candidates : int
        m, candidates drawn per negative; the one the model scores highest is kept.
    recent_share : float in [0, 1)
        Share of each user's latest train rows visited twice per epoch (0: every row once).
    distribution : {"uniform", "popularity"}
        Distribution of the candidates.
    popularity_exponent : float >= 0
        Exponent of the "popularity" distribution (0: uniform; 1: as often as in train).
    init_std : float
    random_state : int
        Seed of the initial factors, the order of the rows and the negatives.
    dtype : np.float32 or np.float64
    early_stopping : int or None
        Patience on the validation HR@10 with ``fit(train, valid)``.
    fused : bool
        True: one Numba kernel per epoch; False: the composed network, step by step (slow).
    verbose : bool

    Attributes
    ----------
    network_ : BPRMFNetwork
    user_factors_ (U, K), item_factors_ (I, K), item_bias_ (I,): views of its tables
    history_ : dict of lists
        "loss": mean weighted BPR loss per triple of each epoch; "valid_hr@10" with valid.
    best_epoch_ : int
    """

    def __init__(self, n_factors=64, n_epochs=100, lr=0.01, reg=0.01, tail_weight=0.0,
                 n_negatives=1, negative_candidates=1, recent_share=0.2, distribution="popularity",
                 popularity_exponent=0.25, init_std=0.1, random_state=0, dtype=np.float32,
                 early_stopping=None, fused=True, verbose=False):
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.lr = lr
        self.reg = reg
        self.tail_weight = tail_weight
        self.n_negatives = n_negatives
        self.negative_candidates = negative_candidates
        self.recent_share = recent_share
        self.distribution = distribution
        self.popularity_exponent = popularity_exponent
        self.init_std = init_std
        self.random_state = random_state
        self.dtype = dtype
        self.early_stopping = early_stopping
        self.fused = fused
        self.verbose = verbose

    def _check_hyperparameters(self, valid):
        self._check_common(valid)
        name = "BPRMF"
        for attribute in ("n_factors", "n_negatives", "negative_candidates"):
            _checks.positive_int(getattr(self, attribute), attribute, name)
        _checks.fraction(self.recent_share, "recent_share", name)
        for attribute in ("init_std", "popularity_exponent", "tail_weight"):
            _checks.non_negative(getattr(self, attribute), attribute, name)
        _checks.one_of(self.distribution, "distribution", ("uniform", "popularity"), name)

    def _fit(self, train, valid):
        self._check_hyperparameters(valid)
        self._rng = np.random.default_rng(self.random_state)
        self.network_ = self._build_network(self._rng)
        self._train(train, valid, self.n_epochs)

    def _build_network(self, rng=None):
        return BPRMFNetwork(self.n_users_, self.n_items_, self.n_factors, self.init_std, rng,
                            self.dtype)

    def _loss(self):
        return BPRLoss()

    def _optimizer(self, network):
        return SGD(network, lr=self.lr, weight_decay=self.reg)

    def _training_data(self, train):
        """Each epoch: the triples in the order they are visited, one per step."""
        rng = self._rng
        draws_per_row = self.n_negatives * self.negative_candidates
        sampler = NegativeSampler(train, draws_per_row, self.distribution,
                                  self.popularity_exponent, seed=int(rng.integers(2**31)))
        # every row, each user's latest ones twice; grouped by user: the sampler draws fastest
        # for users side by side, and the kernel visits one user's rows together
        rows = np.r_[np.arange(len(train)), latest_rows(train, self.recent_share)]
        blocks = UserBlocks(train.user_index[rows], self.n_users_, rng)
        by_user = rows[blocks.rows]
        users, items = train.user_index[by_user], train.item_index[by_user]
        weights = tail_weights(train, self.tail_weight)[by_user].astype(self.dtype)
        repeat = self.n_negatives

        def draw():
            candidates = sampler.sample(users)  # (n, n_negatives * m): candidates[t] for row t
            order = blocks.order(rng)  # the users in a new random order
            n_triples = len(order) * repeat
            triples = (np.repeat(users[order], repeat), np.repeat(items[order], repeat),
                       candidates[order].reshape(n_triples, self.negative_candidates))
            return Samples(triples, None, np.repeat(weights[order], repeat),
                           np.arange(n_triples), 1)

        return draw

    def _fused_epoch(self, samples, optimizer):
        users, positives, candidates = samples.inputs
        network = self.network_
        loss = bpr_epoch_nb(
            users, positives, candidates, network.user_factors, network.item_factors,
            network.item_bias, self.lr, self.reg,
            None if self.tail_weight == 0 else samples.weight,
        )
        return loss / len(users)

    @property
    def user_factors_(self):
        return self.network_.user_factors

    @property
    def item_factors_(self):
        return self.network_.item_factors

    @property
    def item_bias_(self):
        return self.network_.item_bias

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
    factors in cache for all of the user's rows.
    """

    def __init__(self, user_index, n_users, rng):
        self.rows = rows_by_user_nb(user_index, rng.permutation(len(user_index)), n_users)
        self.starts = np.r_[0, np.cumsum(np.bincount(user_index, minlength=n_users))]

    def order(self, rng):
        """(n,) int64: this epoch's order of the positions into ``rows``."""
        n_users = len(self.starts) - 1
        return user_block_order_nb(self.starts, rng.permutation(n_users),
                                   rng.integers(0, 2**62, n_users))
