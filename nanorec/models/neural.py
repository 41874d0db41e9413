"""Neural recommenders: networks of nanorec.nn layers trained on (user, item, label) samples with
binary cross-entropy and Adam.

    MatrixFactorization   the seed's Keras model:
                          Embedding, Embedding -> Dot -> Dense(1, 1) -> Sigmoid
    NeuMF                 He et al. (2017): a GMF and an MLP branch -> Dense(K + H, 1)

Training samples. Each epoch is a pass over samples (u, i, y), shuffled, in mini-batches:

    implicit feedback   every train row (u, i) is a positive, y = 1, and each epoch draws
                        n_negatives items that u has not interacted with in train per positive,
                        y = 0 (uniform, nanorec.data.sampling.NegativeSampler), as He et al. do
    labels              every train row is one sample and its rating is the label y in [0, 1]
                        (the seed's 0/1 log); nothing is sampled

``implicit=None`` (the default) picks implicit feedback when train has no ratings and labels when it
has; ``implicit=True`` ignores the ratings (e.g. MovieLens stars: every rating is a positive) and
``implicit=False`` insists on labels.

Sample weights (imbalance: the long tail). A few popular items hold most train rows, so most
positives teach "popular items score high". Two hyperparameters weight each sample's loss, in the
weighted mean of nanorec.nn.losses, L = (1 / n) sum_k w_k l_k over a mini-batch of n samples, so
that dL/dz_k is multiplied by w_k:

    positive (u, i)     w = (n_i / mean n) ** (-tail_weight), then rescaled to mean 1 over the
                        positives; n_i = train rows of item i, mean n = their mean over the items
                        (nanorec.models.base.tail_weights, shared with BiasedMF and BPRMF)
    sampled negative    w = negative_weight

tail_weight = 0 and negative_weight = 1 (the defaults) give every sample w = 1 exactly, and
w x = x in floating point: the unweighted training, the same parameters bit for bit.
tail_weight = 0.5 makes a positive of an item with a quarter of the mean count weigh twice one
with the mean count (before the rescaling). Weights exist for implicit feedback only: with labels
(no sampled negatives) other values raise a ValueError.

Two ways to train, taking the same steps (a test holds them equal in float64):

    fused=False   the composed layers, trained by nanorec.training.train_epoch with
                  nanorec.optim.Adam: the readable path (forward, loss, backward and step through
                  every layer), a millisecond of Python and NumPy calls per mini-batch
    fused=True    one Numba kernel per epoch (nanorec.models.neural_kernels) on the same arrays and
                  the same Adam state: the fast path, and the default (benchmarks/README.md)

Scores. ``score_items`` and ``predict`` give the predicted probability p(u, i) that u interacts with
i, as float64: MatrixFactorization computes it from its arrays in float64, NeuMF runs its network on
every pair and applies the sigmoid to the logit in float64 (a float32 sigmoid would tie scores
near 0 and 1).
"""

import numpy as np

from nanorec import _checks
from nanorec.data.sampling import NegativeSampler
from nanorec.models.base import NetworkRecommender, register, tail_weights
from nanorec.models.neural_kernels import mf_epoch_nb, neumf_epoch_nb, param_groups
from nanorec.nn.activations import ReLU, Sigmoid, sigmoid
from nanorec.nn.layers import (
    Branch,
    Concatenate,
    Dense,
    Dot,
    Embedding,
    Multiply,
    Parallel,
    Sequential,
)
from nanorec.nn.losses import BCELoss, BCEWithLogitsLoss
from nanorec.optim.optimizers import Adam
from nanorec.scoring import row_blocks
from nanorec.training import Samples

# user-item pairs pushed through the NeuMF network at once when scoring (bounds the memory of the
# (pairs, 2E) embeddings and of the tower's activations)
PAIRS_PER_CHUNK = 2**16


def keras_uniform(shape, rng, dtype):
    """U(-0.05, 0.05): the default initializer of a Keras Embedding, as in the seed."""
    return rng.uniform(-0.05, 0.05, size=shape).astype(dtype)


class MFNetwork(Sequential):
    """The seed's model as layers:
    Sequential(Parallel(Embedding(U, K), Embedding(I, K)), Dot(), Dense(1, 1), Sigmoid()).

    Forward    (users (N,), items (N,)) -> p (N, 1)
               d = P[u] . Q[i];   z = W d + b;   p = sigmoid(z)
    Backward   given dp = dL/dp (N, 1), each layer in reverse:
               dz = dp p (1 - p);   dW = sum dz d, db = sum dz, dd = dz W;
               dP[u] += dd Q[i], dQ[i] += dd P[u]   (row-sparse gradients)
    Init       P, Q ~ U(-0.05, 0.05) (Keras's Embedding); W glorot uniform; b = 0.

    The layers are also attributes: ``user_embedding``, ``item_embedding``, ``dense``.
    """

    def __init__(self, n_users, n_items, n_factors, rng=None, dtype=np.float32):
        rng = np.random.default_rng(rng)
        user = Embedding(n_users, n_factors, init=keras_uniform, rng=rng, dtype=dtype)
        item = Embedding(n_items, n_factors, init=keras_uniform, rng=rng, dtype=dtype)
        dense = Dense(1, 1, rng=rng, dtype=dtype)
        super().__init__(Parallel(user, item), Dot(), dense, Sigmoid())
        self.user_embedding, self.item_embedding, self.dense = user, item, dense

    def trained_arrays(self):
        """(tables, weights, biases) in the order of mf_epoch_*: ([P, Q], [W], [b])."""
        return ([self.user_embedding.params["W"], self.item_embedding.params["W"]],
                [self.dense.params["W"]], [self.dense.params["b"]])


class NeuMFNetwork(Sequential):
    """NeuMF as layers: Sequential(Branch(gmf, mlp), Concatenate(), Dense(K + H, 1)), where

        gmf = Sequential(Parallel(Embedding(U, K), Embedding(I, K)), Multiply())
        mlp = Sequential(Parallel(Embedding(U, E), Embedding(I, E)), Concatenate(),
                         Dense(layers[0], layers[1]), ReLU(), ...,
                         Dense(layers[-2], layers[-1]), ReLU())

    with E = layers[0] / 2 and H = layers[-1]. n_factors = 0 leaves out the GMF branch (an MLP
    model), layers = () the MLP branch (a GMF model).

    Forward    (users (N,), items (N,)) -> logits z (N, 1)
               g = Pg[u] * Qg[i];  h_0 = [Pm[u] | Qm[i]];  h_l = relu(h_{l-1} W_l + b_l);
               z = [g | h_L] w + b                 (the probability is sigmoid(z))
    Backward   each layer's own, in reverse; Branch sums nothing here (its input is ids).
    Init       embeddings N(0, 0.01^2) as He et al.; dense weights glorot uniform; biases 0.

    The layers are also attributes: ``gmf_user``, ``gmf_item``, ``mlp_user``, ``mlp_item`` (None
    for an absent branch), ``tower`` (list of Dense) and ``output``.
    """

    def __init__(self, n_users, n_items, n_factors, layers, rng=None, dtype=np.float32):
        rng = np.random.default_rng(rng)
        self.dtype = np.dtype(dtype)
        self.n_users, self.n_items = n_users, n_items
        branches = []
        gmf_user = gmf_item = mlp_user = mlp_item = None
        tower = []
        if n_factors:
            gmf_user = Embedding(n_users, n_factors, rng=rng, dtype=dtype)
            gmf_item = Embedding(n_items, n_factors, rng=rng, dtype=dtype)
            branches.append(Sequential(Parallel(gmf_user, gmf_item), Multiply()))
        if layers:
            mlp_user = Embedding(n_users, layers[0] // 2, rng=rng, dtype=dtype)
            mlp_item = Embedding(n_items, layers[0] // 2, rng=rng, dtype=dtype)
            tower = [Dense(d_in, d_out, rng=rng, dtype=dtype)
                     for d_in, d_out in zip(layers[:-1], layers[1:])]
            dense_relu = [layer for dense in tower for layer in (dense, ReLU())]
            branches.append(Sequential(Parallel(mlp_user, mlp_item), Concatenate(), *dense_relu))
        output = Dense(n_factors + (layers[-1] if layers else 0), 1, rng=rng, dtype=dtype)
        super().__init__(Branch(*branches), Concatenate(), output)
        self.gmf_user, self.gmf_item, self.mlp_user, self.mlp_item = (
            gmf_user, gmf_item, mlp_user, mlp_item)
        self.tower, self.output = tower, output

    def trained_arrays(self):
        """(tables, weights, biases) in the order of neumf_epoch_*: ([Pg, Qg, Pm, Qm],
        [W_1 .. W_L, w], [b_1 .. b_L, b]); an absent branch's tables are (R, 0) arrays."""
        embeddings = [(self.gmf_user, self.n_users), (self.gmf_item, self.n_items),
                      (self.mlp_user, self.n_users), (self.mlp_item, self.n_items)]
        tables = [self._table(embedding, n_rows) for embedding, n_rows in embeddings]
        dense = self.tower + [self.output]
        return tables, [d.params["W"] for d in dense], [d.params["b"] for d in dense]

    def _table(self, embedding, n_rows):
        return np.zeros((n_rows, 0), self.dtype) if embedding is None else embedding.params["W"]

    def load_pretrained(self, gmf, mlp, gmf_weight):
        """Start from a trained GMF-only and MLP-only network (He et al. 2017, section 3.4.1):
        copy their embeddings and tower, and join their output layers with a = gmf_weight as
        w = [a w_gmf | (1 - a) w_mlp],  b = a b_gmf + (1 - a) b_mlp."""
        pairs = [(self.gmf_user, gmf.gmf_user), (self.gmf_item, gmf.gmf_item),
                 (self.mlp_user, mlp.mlp_user), (self.mlp_item, mlp.mlp_item),
                 *zip(self.tower, mlp.tower)]
        for layer, trained in pairs:
            for key, value in trained.params.items():
                layer.params[key][...] = value
        weight, bias = self.output.params["W"], self.output.params["b"]
        n_factors = len(gmf.output.params["W"])
        weight[:n_factors] = gmf_weight * gmf.output.params["W"]
        weight[n_factors:] = (1 - gmf_weight) * mlp.output.params["W"]
        bias[...] = gmf_weight * gmf.output.params["b"] + (1 - gmf_weight) * mlp.output.params["b"]


class _PointwiseRecommender(NetworkRecommender):
    """What MatrixFactorization and NeuMF share: (user, item, label) samples with sampled
    negatives, Adam, and the fused kernel beside the composed network.

    A subclass sets ``_loss_class`` (the loss of the network's output) and ``_kernel`` (its fused
    epoch) and implements ``_build_network()`` and ``score_items``.
    """

    _loss_class = None
    _kernel = None

    def _loss(self):
        return self._loss_class()

    def _optimizer(self, network):
        return Adam(network, lr=self.lr, lazy=self.adam == "lazy")

    def _training_data(self, train):
        """Each epoch: the samples (fresh negatives), shuffled, batch_size per Adam step."""
        rng = _random_streams(self.random_state)[1]
        draw_samples = self._sampler(train, rng)

        def draw():
            users, items, labels, weights = draw_samples()
            order = np.random.default_rng(int(rng.integers(2**31))).permutation(len(labels))
            return Samples((users, items), labels[:, None], weights, order, self.batch_size)

        return draw

    def _fused_epoch(self, samples, optimizer):
        users, items = samples.inputs
        adam = (optimizer.lr, optimizer.beta1, optimizer.beta2, optimizer.eps)
        loss_sum, optimizer.step_count = self._kernel(
            users, items, samples.target[:, 0], samples.weight, samples.order, self.batch_size,
            *_kernel_arrays(self.network_, optimizer), adam, optimizer.lazy, optimizer.step_count)
        return loss_sum / len(samples.order)

    def _sampler(self, train, rng):
        """A function drawing one epoch's samples:
        () -> (users (N,), items (N,), labels (N,), weights (N,)), labels and weights in the dtype.

        Implicit feedback: the positives first, then their negatives; the labels and the weights
        are the same every epoch (see the module docstring for the weights)."""
        dtype = np.dtype(self.dtype)
        users, items = train.user_index, train.item_index
        if not self._implicit(train):
            labels = train.ratings.astype(dtype)
            weights = np.ones(len(labels), dtype)
            return lambda: (users, items, labels, weights)
        sampler = NegativeSampler(train, self.n_negatives, seed=int(rng.integers(2**31)))
        n_negatives = len(users) * self.n_negatives
        labels = np.r_[np.ones(len(users), dtype), np.zeros(n_negatives, dtype)]
        weights = np.r_[tail_weights(train, self.tail_weight).astype(dtype),
                        np.full(n_negatives, self.negative_weight, dtype)]

        def draw():
            negatives = sampler.sample(users)  # (n, n_negatives)
            return (np.r_[users, np.repeat(users, self.n_negatives)],
                    np.r_[items, negatives.reshape(-1)], labels, weights)

        return draw

    def _implicit(self, train):
        """True to sample negatives, False to use the ratings as labels (see ``implicit``)."""
        name = type(self).__name__
        if self.implicit is True or (self.implicit is None and train.ratings is None):
            return True
        if train.ratings is None:
            raise ValueError(
                f"{name}: implicit=False needs ratings (0/1 labels), but train has none")
        if self.tail_weight != 0 or self.negative_weight != 1:
            raise ValueError(
                f"{name}: tail_weight and negative_weight weight the positives and the sampled "
                "negatives of implicit feedback, but train's ratings are used as labels; pass "
                "implicit=True, or leave them at 0 and 1")
        low, high = float(train.ratings.min()), float(train.ratings.max())
        if low < 0 or high > 1:
            raise ValueError(
                f"{name}: the train ratings are used as labels and must lie in [0, 1], got values "
                f"in [{low:g}, {high:g}]; pass implicit=True to treat every row as a positive and "
                "sample negatives")
        return False

    def score_pairs(self, user_index, item_index):
        """p(u, i) for n index pairs (n,), float64."""
        user_index, item_index = np.asarray(user_index), np.asarray(item_index)
        return self._pair_scores(user_index, item_index)

    def _check_hyperparameters(self, valid):
        name = type(self).__name__
        self._check_common(valid)
        _checks.positive_int(self.n_negatives, "n_negatives", name)
        _checks.non_negative(self.tail_weight, "tail_weight", name)
        _checks.positive(self.negative_weight, "negative_weight", name)
        _checks.one_of(self.implicit, "implicit", (None, True, False), name)
        _checks.one_of(self.adam, "adam", ("dense", "lazy"), name)


@register("mf", "the seed's MF: sigmoid of a dot product, BCE with sampled negatives",
          cli_defaults={"implicit": True, "lr": 0.005})
class MatrixFactorization(_PointwiseRecommender):
    """The seed's matrix factorization: a dot product of embeddings, scaled into a probability.

    Prediction   p(u, i) = sigmoid(W (P[u] . Q[i]) + b)          W, b: a Dense(1, 1)
    Objective    weighted mean over a mini-batch of n samples, (1 / n) sum w l with
                 l = -(y log p + (1 - y) log(1 - p))   (BCELoss, p clipped to [eps, 1 - eps]),
                 minimized by Adam (lr; beta 0.9, 0.999; eps 1e-8), dense on the embeddings by
                 default (see ``adam``)
    Weights      positive (u, i): w = (n_i / mean n) ** (-tail_weight), rescaled to mean 1 over
                 the positives (n_i = train rows of item i); sampled negative: w = negative_weight;
                 the defaults give w = 1 (module docstring; implicit feedback only)
    Network      MFNetwork: Sequential(Parallel(Embedding(U, K), Embedding(I, K)), Dot(),
                 Dense(1, 1), Sigmoid()), K = n_factors, initialized as Keras does
    Samples      implicit feedback or labels, see the module docstring

    Parameters
    ----------
    n_factors : int
        K, the size of the embeddings (16 in the seed).
    n_epochs, batch_size : int
        Passes over the samples and samples per Adam step (10 and 128 in the seed).
    lr : float
        Adam's learning rate (Keras's default 0.001).
    adam : "dense" or "lazy"
        Adam on the embedding tables. "dense" (the seed's Keras Adam, and torch.optim.Adam on
        nn.Embedding): every row at every step, the rows a batch did not use with a zero gradient,
        so their moments decay and they keep moving along m_hat / sqrt(v_hat). "lazy" (PyTorch's
        SparseAdam): only the rows the batch used. "dense" ranked better on MovieLens-100K
        validation splits (benchmarks/README.md), but sweeps all U + I rows per step, so an epoch
        costs O(N (U + I) K / B): on large data use "lazy", whose cost is O(N K).
    n_negatives : int
        Sampled negatives per positive in each epoch (implicit feedback only).
    tail_weight : float >= 0
        How much more a positive of a rarely seen item weighs than one of a popular item: the
        exponent of w = (n_i / mean n) ** (-tail_weight). 0: every positive weighs 1.
    negative_weight : float > 0
        The loss weight of every sampled negative (1: as much as an average positive).
    implicit : None, True or False
        How the samples are made (module docstring); None decides from the train ratings.
    random_state : int
        Seed of the initial weights, the negatives and the shuffles.
    dtype : np.float32 or np.float64
    early_stopping : int or None
        Patience: with ``fit(train, valid)``, stop when the validation HR@10 has not improved for
        this many epochs and keep the best epoch's weights. None: run all epochs.
    fused : bool
        True: a Numba kernel per epoch; False: the composed layers (same steps, slower).
    verbose : bool
        Print the loss (and validation HR@10) after each epoch.

    Attributes
    ----------
    network_ : MFNetwork
    history_ : dict of lists;  best_epoch_ : int
    """

    _loss_class = BCELoss
    _kernel = staticmethod(mf_epoch_nb)

    def __init__(self, n_factors=16, n_epochs=10, batch_size=128, lr=0.001, adam="dense",
                 n_negatives=4, tail_weight=0.0, negative_weight=1.0, implicit=None,
                 random_state=0, dtype=np.float32, early_stopping=None, fused=True,
                 verbose=False):
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.adam = adam
        self.n_negatives = n_negatives
        self.tail_weight = tail_weight
        self.negative_weight = negative_weight
        self.implicit = implicit
        self.random_state = random_state
        self.dtype = dtype
        self.early_stopping = early_stopping
        self.fused = fused
        self.verbose = verbose

    def _check_hyperparameters(self, valid):
        _checks.positive_int(self.n_factors, "n_factors", "MatrixFactorization")
        super()._check_hyperparameters(valid)

    def _build_network(self):
        init_rng = _random_streams(self.random_state)[0]
        return MFNetwork(self.n_users_, self.n_items_, self.n_factors, init_rng, self.dtype)

    def score_items(self, user_index):
        """p for every item, (n, I) float64: sigmoid(W (P[u] @ Q^T) + b)."""
        P, Q, W, b = self._arrays()
        return sigmoid(P[np.asarray(user_index)] @ Q.T * W + b)

    def _pair_scores(self, user_index, item_index):
        P, Q, W, b = self._arrays()
        return sigmoid(np.einsum("nk,nk->n", P[user_index], Q[item_index]) * W + b)

    def _arrays(self):
        """P, Q as float64 arrays and W, b as floats (float64 scores, whatever the dtype)."""
        (P, Q), (W,), (b,) = self.network_.trained_arrays()
        return P.astype(np.float64), Q.astype(np.float64), float(W[0, 0]), float(b[0])


@register("neumf", "neural MF: GMF and MLP branches (He 2017)", cli_defaults={"implicit": True})
class NeuMF(_PointwiseRecommender):
    """Neural matrix factorization (He et al. 2017): a GMF and an MLP branch, joined.

    Prediction   z(u, i) = [Pg[u] * Qg[i] | h_L] . w + b,   p(u, i) = sigmoid(z)
                 h_0 = [Pm[u] | Qm[i]],  h_l = relu(h_{l-1} W_l + b_l), l = 1 .. L
    Objective    weighted mean over a mini-batch of n samples, (1 / n) sum c l, of
                 l = softplus(z) - y z, which is -(y log p + (1 - y) log(1 - p)) computed from the
                 logit z (BCEWithLogitsLoss): no clipping is needed and the gradient,
                 c (sigmoid(z) - y), never vanishes in a saturated Sigmoid. Adam (lr; beta 0.9,
                 0.999; eps 1e-8), dense or lazy on the embeddings (``adam``).
    Weights      the sample weight c: positive (u, i), c = (n_i / mean n) ** (-tail_weight)
                 rescaled to mean 1 over the positives (n_i = train rows of item i); sampled
                 negative, c = negative_weight; the defaults give c = 1 (module docstring)
    Network      NeuMFNetwork; Pg, Qg (., K) with K = n_factors; Pm, Qm (., layers[0] / 2); the
                 tower Dense(layers[0], layers[1]) ... Dense(layers[-2], layers[-1]), each + ReLU
    Pretraining  pretrain=True first fits a GMF model (layers=()) and an MLP model (n_factors=0)
                 with the same settings, then starts from their weights, joining the output
                 layers with a = gmf_weight as w = [a w_gmf | (1 - a) w_mlp],
                 b = a b_gmf + (1 - a) b_mlp. He et al. then switch to plain SGD; here Adam goes on, restarted.
    Samples      implicit feedback or labels, see the module docstring
    Reference    He, Liao, Zhang, Nie, Hu & Chua (2017), "Neural Collaborative Filtering", WWW.

    Parameters
    ----------
    n_factors : int >= 0
        K, the GMF embedding size; 0 leaves the GMF branch out.
    layers : tuple of int
        Widths of the MLP: layers[0] (even) is the concatenated embedding, the others the
        tower's outputs; () leaves the MLP branch out.
    n_epochs, batch_size, lr, adam, n_negatives, tail_weight, negative_weight, implicit,
    random_state, dtype, early_stopping, fused, verbose
        As in MatrixFactorization.
    pretrain : bool
    gmf_weight : float in [0, 1]
        Weight of the GMF branch when joining pretrained branches.

    Attributes
    ----------
    network_ : NeuMFNetwork
    history_ : dict of lists;  best_epoch_ : int
    pretrain_history_ : {"gmf": history_, "mlp": history_} of the pretrained models (pretrain only)
    """

    _loss_class = BCEWithLogitsLoss
    _kernel = staticmethod(neumf_epoch_nb)

    def __init__(self, n_factors=8, layers=(64, 32, 16, 8), n_epochs=20, batch_size=256,
                 lr=0.001, adam="dense", n_negatives=4, tail_weight=0.0, negative_weight=1.0,
                 pretrain=False, gmf_weight=0.5, implicit=None, random_state=0, dtype=np.float32,
                 early_stopping=None, fused=True, verbose=False):
        self.n_factors = n_factors
        # a tuple, also when given (or loaded from a saved model) as a list
        self.layers = tuple(layers) if isinstance(layers, (list, tuple)) else layers
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.adam = adam
        self.n_negatives = n_negatives
        self.tail_weight = tail_weight
        self.negative_weight = negative_weight
        self.pretrain = pretrain
        self.gmf_weight = gmf_weight
        self.implicit = implicit
        self.random_state = random_state
        self.dtype = dtype
        self.early_stopping = early_stopping
        self.fused = fused
        self.verbose = verbose

    def _check_hyperparameters(self, valid):
        name = "NeuMF"
        _checks.integer(self.n_factors, "n_factors", name, low=0)  # 0 leaves out the GMF branch
        layers = _checks.sizes(self.layers, "layers", name)
        if layers and layers[0] % 2:
            raise ValueError(
                f"NeuMF: layers[0] = {layers[0]} must be even: it is the user and the item "
                "embedding of the MLP, concatenated")
        if not layers and not self.n_factors:
            raise ValueError("NeuMF: n_factors=0 and layers=() leave no branch to train")
        _checks.number(self.gmf_weight, "gmf_weight", name, low=0.0, high=1.0)
        _checks.boolean(self.pretrain, "pretrain", name)
        if self.pretrain and not (layers and self.n_factors):
            raise ValueError("NeuMF: pretrain=True needs both branches (n_factors > 0 and layers)")
        super()._check_hyperparameters(valid)

    def _build_network(self):
        init_rng = _random_streams(self.random_state)[0]
        return NeuMFNetwork(self.n_users_, self.n_items_, self.n_factors, self.layers, init_rng,
                            self.dtype)

    def _fit(self, train, valid):
        if not self.pretrain:
            return super()._fit(train, valid)
        self._check_hyperparameters(valid)
        branch_models = {
            "gmf": NeuMF(**{**self.get_params(), "layers": (), "pretrain": False}),
            "mlp": NeuMF(**{**self.get_params(), "n_factors": 0, "pretrain": False}),
        }
        for name, model in branch_models.items():
            if self.verbose:
                print(f"pretraining the {name.upper()} branch", flush=True)
            model.fit(train, valid)
        self.pretrain_history_ = {name: model.history_ for name, model in branch_models.items()}
        self.network_ = self._build_network()
        self.network_.load_pretrained(branch_models["gmf"].network_,
                                      branch_models["mlp"].network_, self.gmf_weight)
        self._train(train, valid, self.n_epochs)

    def score_items(self, user_index):
        """p for every item, (n, I) float64: the network's forward on every pair (u, i), arranged
        so that each user's and each item's part is computed once, not once per pair.

            GMF        [Pg[u] * Qg[i]] . w_g = (Pg[u] * w_g) @ Qg^T, one matrix product
            MLP        h_0 W = [Pm[u] | Qm[i]] W = Pm[u] W[:E] + Qm[i] W[E:], with W the first
                       tower layer (or w_m when there is no tower): a user part plus an item
                       part; the rest of the tower runs on the (n I, H_1) pairs, a block of
                       users at a time
        """
        network, user_index = self.network_, np.asarray(user_index)
        weight, bias = network.output.params["W"][:, 0], network.output.params["b"][0]
        logits = np.full((len(user_index), self.n_items_), float(bias))
        if network.gmf_user is not None:
            gmf_user, gmf_item = network.gmf_user.params["W"], network.gmf_item.params["W"]
            logits += (gmf_user[user_index] * weight[: self.n_factors]) @ gmf_item.T
        if network.mlp_user is None:
            return sigmoid(logits)
        mlp_user, mlp_item = network.mlp_user.params["W"][user_index], network.mlp_item.params["W"]
        half, mlp_weight = mlp_user.shape[1], weight[self.n_factors :]
        if not network.tower:
            user_part, item_part = mlp_user @ mlp_weight[:half], mlp_item @ mlp_weight[half:]
            return sigmoid(logits + user_part[:, None] + item_part)
        first, *rest = network.tower
        user_part = mlp_user @ first.params["W"][:half] + first.params["b"]  # (n, H_1)
        item_part = mlp_item @ first.params["W"][half:]  # (I, H_1)
        users_per_block = PAIRS_PER_CHUNK // self.n_items_ + 1
        for block in row_blocks(len(user_index), self.n_items_, users_per_block):
            hidden = np.maximum(user_part[block, None, :] + item_part, 0)  # (block, I, H_1)
            hidden = hidden.reshape(-1, item_part.shape[1])
            for dense in rest:
                hidden = np.maximum(hidden @ dense.params["W"] + dense.params["b"], 0)
            logits[block] += (hidden @ mlp_weight).reshape(-1, self.n_items_)
        return sigmoid(logits)

    def _pair_scores(self, user_index, item_index):
        network = self.network_.eval()
        scores = np.empty(len(user_index), np.float64)
        for chunk in row_blocks(len(user_index), 1, PAIRS_PER_CHUNK):
            logits = network.forward((user_index[chunk], item_index[chunk]))
            scores[chunk] = sigmoid(logits[:, 0].astype(np.float64))
        return scores


def _random_streams(random_state):
    """Two independent generators from one seed: (initial weights, training draws)."""
    init_seed, train_seed = np.random.SeedSequence(random_state).spawn(2)
    return np.random.default_rng(init_seed), np.random.default_rng(train_seed)


def _kernel_arrays(network, optimizer):
    """(params, m, v) ParamGroups for a fused kernel: the network's arrays and the optimizer's
    moments of each (the same arrays the composed path updates). An absent NeuMF branch's
    (R, 0) tables hold nothing; they stand in for their own moments."""
    name_of = {id(array): name for name, array in network.params.items()}
    groups = network.trained_arrays()

    def moments(which):
        return [[optimizer.state[name_of[id(a)]][which] if a.size else a for a in group]
                for group in groups]

    return tuple(param_groups(*arrays) for arrays in (groups, moments("m"), moments("v")))

