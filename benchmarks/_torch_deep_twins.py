"""PyTorch CPU twins of nanorec's AutoRec, CDAE, Caser, RNNRec, ContentBased and Hybrid, for
benchmarks/bench_deep.py (the twins of MatrixFactorization and NeuMF are in _torch_twins.py).
Each is the same model written the way a PyTorch user would write it, so that s/epoch and accuracy
can be compared row by row.

How a twin gets nanorec's batches. ``fit`` first runs the nanorec model's own fit up to its first
epoch (``prepared_nanorec``: the same class, the same hyperparameters, its ``_train`` replaced by
"keep draw() and stop"). That sets the vocabulary, the random streams and the initial network
exactly as nanorec's fit does, and leaves the model's ``_training_data(train)`` draw(): the twin
then trains on the very Batch stream nanorec trains on (the same rows, orders, negatives, masks,
cold and ID dropout), converted to tensors. The prepared model is kept as ``nanorec_``; the twin
reads from it the fitted facts that are not network weights (the users' last items, AutoRec's
mean rating, ContentBased's profiles and item content).

Same in every twin                               Different in every twin
-------------------------------------------     ------------------------------------------------
layers, widths, activations, output, loss        threads: torch.set_num_threads(num_threads);
(the same normalisation: a mean over the         nanorec's are its BLAS and Numba settings
batch, or the autoencoders' sum over the         the initial weights: drawn by torch with the
entries divided by the rows)                     same distributions (init="copy" copies
init: each weight's distribution and fans as     nanorec's instead: the tests use it)
nanorec.nn.init draws it (glorot uniform,        Dropout inside a network (CDAE's corruption,
he normal, N(0, s^2), zero biases)               Caser's dropout): torch draws the masks
the batches: nanorec's own draw() (above)
the epochs, Adam's lr, betas (0.9, 0.999),
eps 1e-8 and L2 weight decay added to the
gradient (torch.optim.Adam's weight_decay),
the same parameter groups
embedding tables: nanorec's lazy Adam (only the
rows a batch used move, their moments only,
with the L2 term on those rows) as LazyAdam:
sparse=True embeddings, SparseAdam's rule with
weight decay (SparseAdam has none) and eps
outside the bias correction (as torch.optim.Adam
and nanorec; SparseAdam's is eps*sqrt(1-b2^t))
the scoring: score_items / score_pairs as
nanorec's (fallbacks, clipping, cold ids)

Timing: ``epoch_seconds_`` is each epoch's wall time from the draw of its batches to its last
step, as nanorec's ``epoch_seconds_`` (run_epochs times run_epoch: draw plus train_epoch); both
sides pay the same batch drawing (nanorec's code), the twin also its tensor conversions.

    twin = TorchCaser(num_threads=2, n_epochs=12, lr=3e-3).fit(train)    # Caser's arguments
    twin.score_items(user_index); twin.epoch_seconds_; twin.history_["loss"]
"""

import math
import statistics
import time

import numpy as np

from _torch_twins import _torch
from nanorec.evaluation.significance import paired_bootstrap
from nanorec.models.autoencoders import CDAE, AutoRec
from nanorec.models.base import Recommender
from nanorec.models.content import ContentBased, Hybrid
from nanorec.models.sequence import Caser, RNNRec
from nanorec.training import Samples

ROWS_PER_FORWARD = 256  # AutoRec items, CDAE users, sequence users scored at once
PAIRS_PER_FORWARD = 2**15  # (user, item) pairs through ContentBased's MLP at once (as nanorec)


def prepared_nanorec(nanorec_class, options, train):
    """A ``nanorec_class(**options)`` fitted up to its first epoch: vocabulary, random streams and
    initial ``network_`` as its fit sets them, and ``twin_draw``, its ``_training_data(train)``
    draw() (one epoch's Samples, or an iterable of Batch, per call). It is never trained."""

    class Prepared(nanorec_class):
        def _train(self, train, valid, n_epochs):
            self.twin_draw = self._training_data(train)

    Prepared.__name__ = Prepared.__qualname__ = nanorec_class.__name__  # messages name the model
    return Prepared(**options).fit(train)


def _batches(drawn):
    """The Batch steps of one draw(): Samples are cut by their order, other draws are iterated."""
    return drawn.batches() if isinstance(drawn, Samples) else drawn


def _n_samples(inputs):
    """Samples in a batch: the length of its first array (inputs may nest tuples)."""
    while isinstance(inputs, tuple):
        inputs = inputs[0]
    return len(inputs)


def _parts(n, size=ROWS_PER_FORWARD):
    """Slices of ``size`` rows covering range(n): inference a block at a time."""
    return [slice(start, start + size) for start in range(0, n, size)]


def _glorot_(nn, weight, fan_in, fan_out):
    """nanorec.nn.init.glorot_uniform with nanorec's fans (a torch Conv's own fans differ)."""
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    nn.init.uniform_(weight, -limit, limit)


def _linear(nn, d_in, d_out, init="glorot_uniform"):
    """nn.Linear initialised as nanorec's Dense(d_in, d_out, init): glorot uniform or he normal
    (N(0, 2 / d_in)) weights, zero bias."""
    layer = nn.Linear(d_in, d_out)
    if init == "he_normal":
        nn.init.normal_(layer.weight, 0.0, math.sqrt(2.0 / d_in))
    else:
        _glorot_(nn, layer.weight, d_in, d_out)
    nn.init.zeros_(layer.bias)
    return layer


def _embedding(nn, n_rows, dim, std):
    """nn.Embedding(sparse=True) ~ N(0, std^2): row-sparse gradients for LazyAdam."""
    table = nn.Embedding(n_rows, dim, sparse=True)
    nn.init.normal_(table.weight, 0.0, std)
    return table


def _feature_mlp(nn, n_in, hidden, n_out):
    """nanorec.models.content.feature_mlp: Linear (he normal) -> ReLU per hidden size, then a
    glorot Linear to n_out."""
    sizes = [n_in, *hidden]
    layers = []
    for d_in, d_out in zip(sizes[:-1], sizes[1:]):
        layers += [_linear(nn, d_in, d_out, "he_normal"), nn.ReLU()]
    return nn.Sequential(*layers, _linear(nn, sizes[-1], n_out))


def _mlp_weights(prefix, mlp):
    """nanorec keys "<prefix><j>.W" / ".b" of the Linear at index j of a torch Sequential (the
    index of the Dense in nanorec's Sequential), with the weight's layout."""
    weights = {}
    for index, layer in enumerate(mlp):
        if hasattr(layer, "weight"):
            weights[f"{prefix}{index}.W"] = (layer.weight, _transposed)
            weights[f"{prefix}{index}.b"] = (layer.bias, None)
    return weights


def _transposed(array):
    """A nanorec Dense weight (D_in, D_out) as a torch Linear weight (D_out, D_in)."""
    return array.T


def lazy_adam(torch):
    """LazyAdam, a torch.optim.Optimizer for sparse embedding gradients with nanorec's lazy rule
    (nanorec.optim.kernels.adam_sparse_ref) at torch step t of each table:

        rows, g = the coalesced rows of the gradient and their sums;  g += weight_decay * p[rows]
        m[rows] = b1 m[rows] + (1 - b1) g;   v[rows] = b2 v[rows] + (1 - b2) g^2
        p[rows] -= lr (m[rows] / (1 - b1^t)) / (sqrt(v[rows] / (1 - b2^t)) + eps)

    the other rows (p, m, v) unchanged. torch.optim.SparseAdam is this rule without weight decay
    and with eps * sqrt(1 - b2^t) in place of eps.
    """

    class LazyAdam(torch.optim.Optimizer):
        def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
            super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

        @torch.no_grad()
        def step(self):
            for group in self.param_groups:
                beta1, beta2 = group["betas"]
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    if not p.grad.is_sparse:
                        raise RuntimeError("LazyAdam takes sparse gradients (sparse=True tables)")
                    state = self.state[p]
                    if not state:
                        state["step"] = 0
                        state["m"], state["v"] = torch.zeros_like(p), torch.zeros_like(p)
                    state["step"] += 1
                    grad = p.grad.coalesce()
                    rows, g = grad.indices()[0], grad.values()
                    if group["weight_decay"]:
                        g = g + group["weight_decay"] * p[rows]
                    m = state["m"][rows].mul_(beta1).add_(g, alpha=1 - beta1)
                    v = state["v"][rows].mul_(beta2).addcmul_(g, g, value=1 - beta2)
                    state["m"][rows], state["v"][rows] = m, v
                    correction1 = 1 - beta1 ** state["step"]
                    correction2 = 1 - beta2 ** state["step"]
                    step = (m / correction1).div_((v / correction2).sqrt_().add_(group["eps"]))
                    p.index_add_(0, rows, step, alpha=-group["lr"])

    return LazyAdam


class _TorchTwin(Recommender):
    """What every twin shares: the prepared nanorec model, the torch module, the training loop.

    A subclass sets ``nanorec_class`` and writes
        _module(torch)              the torch.nn.Module, initialised as nanorec's scheme
        _weights()                  nanorec network key -> (torch parameter, map of the nanorec
                                    array to the parameter's layout, or None)
        _batch_loss(torch, batch)   the loss tensor of one nanorec Batch
        score_items(user_index)     (and score_pairs where nanorec has its own)

    Parameters
    ----------
    num_threads : int
        torch.set_num_threads at fit (and for scoring).
    init : {"torch", "copy"}
        "torch": torch draws the initial weights (nanorec's distributions); "copy": the twin starts
        from the prepared nanorec model's initial weights.
    **options
        The nanorec model's constructor arguments (its defaults otherwise); nanorec checks them.

    Attributes
    ----------
    nanorec_ : the prepared nanorec model (its batch stream and fitted facts; never trained)
    network_ : torch.nn.Module, left in eval mode
    history_ : {"loss": the mean batch loss of each epoch};  epoch_seconds_ : list of float
    """

    nanorec_class = None
    sparse_tables = ()  # attribute names of the module's sparse embedding tables (LazyAdam)
    requires = {"torch": "torch"}  # module -> pip package (nanorec run checks it)

    def __init__(self, num_threads=1, init="torch", **options):
        self.num_threads = num_threads
        self.init = init
        self.options = options

    def get_params(self):
        """num_threads, init and the nanorec model's arguments (its defaults, then ``options``):
        what a search or an experiment file may set, random_state included."""
        return {"num_threads": self.num_threads, "init": self.init,
                **self.nanorec_class().get_params(), **self.options}

    def _fit(self, train, valid):
        if valid is not None or self.options.get("early_stopping") is not None:
            raise ValueError(f"{type(self).__name__} trains without validation or early stopping")
        if self.init not in ("torch", "copy"):
            raise ValueError(f"init must be 'torch' or 'copy', got {self.init!r}")
        torch = _torch()
        torch.set_num_threads(self.num_threads)
        self.nanorec_ = prepared_nanorec(self.nanorec_class, self.options, train)
        float64 = np.dtype(self.nanorec_.dtype) == np.float64
        self.dtype_ = torch.float64 if float64 else torch.float32
        torch.manual_seed(self.nanorec_.random_state)
        self.network_ = self._module(torch).to(self.dtype_)
        if self.init == "copy":
            self.copy_weights(self.nanorec_.network_)
        self._train(torch)
        self._predictions = None

    def _train(self, torch):
        network, draw = self.network_, self.nanorec_.twin_draw
        optimizers = self._optimizers(torch)
        self.history_, self.epoch_seconds_ = {"loss": []}, []
        for _ in range(self.nanorec_.n_epochs):
            start = time.perf_counter()
            network.train()
            total, n_samples = 0.0, 0
            for batch in _batches(draw()):
                for optimizer in optimizers:
                    optimizer.zero_grad()
                loss = self._batch_loss(torch, batch)
                loss.backward()
                for optimizer in optimizers:
                    optimizer.step()
                n = _n_samples(batch.inputs)
                total += loss.item() * n
                n_samples += n
            self.epoch_seconds_.append(time.perf_counter() - start)
            self.history_["loss"].append(total / n_samples)
        network.eval()

    def _optimizers(self, torch):
        """Adam (weight decay reg, as nanorec's groups) on the dense parameters, LazyAdam on the
        sparse tables."""
        nanorec = self.nanorec_
        options = dict(lr=nanorec.lr, betas=(0.9, 0.999), eps=1e-8)
        tables = [getattr(self.network_, name).weight for name in self.sparse_tables]
        dense = [p for p in self.network_.parameters()
                 if p.requires_grad and all(p is not table for table in tables)]
        optimizers = [torch.optim.Adam(self._dense_groups(dense), **options,
                                       weight_decay=getattr(nanorec, "reg", 0.0))]
        if tables:
            optimizers.append(lazy_adam(torch)(tables, **options,
                                               weight_decay=getattr(nanorec, "reg", 0.0)))
        return optimizers

    def _dense_groups(self, dense):
        """The dense parameters' Adam groups (one group: every one decayed by reg)."""
        return dense

    def _tensor(self, torch, array, ids=False):
        """A numpy array as a tensor: int64 ids, or floats in the twin's dtype (no copy when the
        dtypes agree)."""
        array = np.asarray(array)
        if not array.flags.writeable:  # torch warns on read-only arrays (a view of the data)
            array = array.copy()
        return torch.as_tensor(array, dtype=torch.long if ids else self.dtype_)

    # ------------------------------------------------------------------ weights
    def parameter_pairs(self, network):
        """(key, nanorec's array in the torch layout, the torch parameter) for every parameter of
        a nanorec network of the same architecture; KeyError unless both name the same ones."""
        weights = self._weights()
        if set(weights) != set(network.params):
            raise KeyError(f"{type(self).__name__}: nanorec's parameters {sorted(network.params)} "
                           f"are not the twin's {sorted(weights)}")
        for key, (param, layout) in weights.items():
            value = network.params[key]
            yield key, (value if layout is None else layout(value)), param

    def copy_weights(self, network):
        """Load a nanorec network's parameters into network_ (see parameter_pairs)."""
        torch = _torch()
        with torch.no_grad():
            for _, value, param in self.parameter_pairs(network):
                param.copy_(torch.as_tensor(np.ascontiguousarray(value)))
        self._predictions = None  # AutoRec's kept predictions are those of the old weights

    def _infer(self, torch, *inputs, method="forward"):
        """network_.<method>(*inputs) in eval mode without autograd, as a numpy array."""
        torch.set_num_threads(self.num_threads)
        self.network_.eval()
        with torch.no_grad():
            return getattr(self.network_, method)(*inputs).numpy()


# ====================================================================== autoencoders
class TorchAutoRec(_TorchTwin):
    """I-AutoRec in PyTorch: r_hat_i = decoder(g(encoder(r_i))), the squared error over the
    observed entries, Adam without weight decay on the biases.

    Same as nanorec's AutoRec                        Different
    -------------------------------------------     ------------------------------------------------
    Linear(U, H) -> g -> Linear(H, U); g sigmoid,    the common differences (module docstring)
    tanh, relu or none; glorot weights, zero biases  dense, as a PyTorch user writes AutoRec: the
    loss: sum over observed entries of the batch     batch's columns as a dense (N, U) tensor,
    of (r - r_hat)^2, divided by the items N         decoded in full (N x U outputs), the loss read
                                                     at the observed entries; nanorec keeps the
                                                     columns sparse (SparseDense) and decodes the
                                                     observed entries only (PairScores)
    Adam(lr, weight_decay=reg) on V and W, 0 on the
    biases (torch parameter groups = nanorec's)
    batches: AutoRec's draw() (items in a new order
    each epoch, batch_size columns per step)
    scoring: every item's decoded column; the mean
    train rating for items and users without train
    ratings; score_pairs clipped to the train range
    """

    nanorec_class = AutoRec
    ACTIVATIONS = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "ReLU", "identity": None}

    def _module(self, torch):
        nn = torch.nn
        n_users, n_hidden = self.n_users_, self.nanorec_.n_hidden
        activation = self.ACTIVATIONS[self.nanorec_.activation]
        layers = [_linear(nn, n_users, n_hidden)]
        layers += [getattr(nn, activation)()] if activation else []
        return nn.Sequential(*layers, _linear(nn, n_hidden, n_users))

    def _weights(self):
        encoder, decoder = self.network_[0], self.network_[-1]
        return {"encoder.W": (encoder.weight, _transposed), "encoder.b": (encoder.bias, None),
                "decoder.W": (decoder.weight, None), "decoder.b": (decoder.bias, None)}

    def _dense_groups(self, dense):
        biases = [layer.bias for layer in self.network_ if hasattr(layer, "bias")]
        weights = [p for p in dense if all(p is not b for b in biases)]
        return [{"params": weights}, {"params": biases, "weight_decay": 0.0}]

    def _batch_loss(self, torch, batch):
        columns, rows, users = batch.inputs
        r_hat = self.network_(self._tensor(torch, columns.to_dense()))
        observed = r_hat[self._tensor(torch, rows, ids=True), self._tensor(torch, users, ids=True)]
        return ((observed - self._tensor(torch, batch.target)) ** 2).sum() / len(r_hat)

    def predicted_ratings(self):
        """r_hat (I, U) of every item and user, with the mean fallback; computed once, then kept."""
        if getattr(self, "_predictions", None) is None:
            torch = _torch()
            csr = self.train_csr_
            columns = np.zeros((self.n_items_, self.n_users_), self.nanorec_.dtype)
            rater = np.repeat(np.arange(self.n_users_), np.diff(csr.indptr))
            columns[csr.indices, rater] = csr.data  # item i's column: its ratings by the users
            r_hat = np.concatenate([self._infer(torch, self._tensor(torch, columns[part]))
                                    for part in _parts(self.n_items_)])
            mean = self.nanorec_.global_mean_
            r_hat[np.bincount(csr.indices, minlength=self.n_items_) == 0, :] = mean
            r_hat[:, np.diff(csr.indptr) == 0] = mean
            self._predictions = r_hat
        return self._predictions

    def score_items(self, user_index):
        return self.predicted_ratings()[:, np.asarray(user_index)].T

    def score_pairs(self, user_index, item_index):
        scores = self.predicted_ratings()[np.asarray(item_index), np.asarray(user_index)]
        return np.clip(scores, *self.nanorec_.rating_range_) if self.nanorec_.clip else scores


class TorchCDAE(_TorchTwin):
    """CDAE in PyTorch: z = decoder(sigmoid(encoder(dropout(y)) + V[u])), BCE on the logits of the
    positives and sampled negatives.

    Same as nanorec's CDAE                           Different
    -------------------------------------------     ------------------------------------------------
    Dropout(q) -> Linear(I, K) glorot, + user node   the corruption masks (torch's Dropout, the same
    V (U, K) ~ N(0, 0.01^2) -> sigmoid ->            inverted scaling 1 / (1 - q))
    Linear(K, I) glorot; zero biases                 the common differences (module docstring)
    loss: sum over the positives and nanorec's       dense, as a PyTorch user writes CDAE: clicks
    sampled negatives of BCE on the logit,           as a dense (N, I) tensor, every logit decoded;
    divided by the users N                           nanorec keeps the clicks sparse and decodes
                                                     the pairs of the loss only
    Adam(lr, weight_decay=reg) on the dense layers;
    V: LazyAdam with weight decay reg on the batch's
    rows (nanorec's row-sparse lazy update)
    batches: CDAE's draw() (users in a new order,
    their clicks, masks with the same negatives)
    scoring: logits of every item, no corruption
    """

    nanorec_class = CDAE
    sparse_tables = ("user_node",)

    def _module(self, torch):
        nn = torch.nn
        n_items, n_factors = self.n_items_, self.nanorec_.n_factors

        class CDAEModule(nn.Module):
            def __init__(self, n_users, corruption):
                super().__init__()
                self.corruption = nn.Dropout(corruption)
                self.encoder = _linear(nn, n_items, n_factors)
                self.user_node = _embedding(nn, n_users, n_factors, 0.01)
                self.decoder = _linear(nn, n_factors, n_items)

            def forward(self, clicks, users):
                code = self.encoder(self.corruption(clicks)) + self.user_node(users)
                return self.decoder(torch.sigmoid(code))

        return CDAEModule(self.n_users_, self.nanorec_.corruption)

    def _weights(self):
        net = self.network_
        return {"encoder.W": (net.encoder.weight, _transposed), "encoder.b": (net.encoder.bias, None),
                "user_node.W": (net.user_node.weight, None),
                "decoder.W": (net.decoder.weight, None), "decoder.b": (net.decoder.bias, None)}

    def _batch_loss(self, torch, batch):
        clicks, users, rows, items = batch.inputs
        logits = self.network_(self._tensor(torch, clicks.to_dense()),
                               self._tensor(torch, users, ids=True))
        pairs = logits[self._tensor(torch, rows, ids=True), self._tensor(torch, items, ids=True)]
        return torch.nn.functional.binary_cross_entropy_with_logits(
            pairs, self._tensor(torch, batch.target), reduction="sum") / len(logits)

    def score_items(self, user_index):
        torch = _torch()
        user_index = np.asarray(user_index)
        csr, scores = self.train_csr_, []
        for start in range(0, len(user_index), ROWS_PER_FORWARD):
            users = user_index[start:start + ROWS_PER_FORWARD]
            clicks = np.zeros((len(users), self.n_items_), self.nanorec_.dtype)
            counts = np.diff(csr.indptr)[users]
            items = np.concatenate([csr.indices[csr.indptr[u]:csr.indptr[u + 1]] for u in users])
            clicks[np.repeat(np.arange(len(users)), counts), items] = 1
            scores.append(self._infer(torch, self._tensor(torch, clicks),
                                      self._tensor(torch, users, ids=True)))
        return np.concatenate(scores) if scores else np.empty((0, self.n_items_))


# ====================================================================== sequences
class TorchCaser(_TorchTwin):
    """Caser in PyTorch. The vertical filters are Conv2d(1, n_v, (L, 1)) as in the authors'
    caser_pytorch; a horizontal filter of height h, their Conv2d(1, n_h, (h, d)), is written as the
    same map Conv1d(d, n_h, h) over the embedding channels.

    Same as nanorec's Caser                          Different
    -------------------------------------------     ------------------------------------------------
    E = item embedding (I + 1, d) ~ N(0, 1/d^2)      the dropout masks (torch's Dropout)
    horizontal: for h = 1..L, Conv1d(d, n_h, h) ->   the common differences (module docstring)
    ReLU -> max over time; vertical: n_v weighted
    sums of the L rows (filter-major); glorot with
    nanorec's fans (fan_in h d, fan_out n_h; L and
    n_v), zero biases
    Dropout(p) -> Linear(L n_h + n_v d, d) -> ReLU,
    [z; P[u]] (P ~ N(0, 1/d^2)), scores x . W'[c] +
    b'[c] (W' ~ N(0, 1/(2d)^2), b' = 0)
    loss: BCE on the logits, mean over the batch's
    (1 + n_negatives) candidates per transition
    Adam(lr, weight_decay=reg) on the dense layers;
    LazyAdam (weight decay on the rows used) on E,
    P, W', b', the tables nanorec updates lazily
    batches: Caser's draw() (transitions, contexts
    and negatives, shuffled, batch_size each)
    scoring: every item after the user's last L
    train items (nanorec_.last_items_), eval mode
    """

    nanorec_class = Caser
    sparse_tables = ("item_embedding", "user_embedding", "output_weights", "output_biases")

    def _module(self, torch):
        nn = torch.nn
        caser = self.nanorec_
        d, L, n_h, n_v = caser.n_factors, caser.seq_len, caser.n_horizontal, caser.n_vertical
        n_items = self.n_items_

        class CaserModule(nn.Module):
            def __init__(self, n_users):
                super().__init__()
                self.item_embedding = _embedding(nn, n_items + 1, d, 1.0 / d)  # row I: padding
                self.horizontal = nn.ModuleList(nn.Conv1d(d, n_h, h) for h in range(1, L + 1))
                for h, conv in enumerate(self.horizontal, start=1):
                    _glorot_(nn, conv.weight, h * d, n_h)
                    nn.init.zeros_(conv.bias)
                self.vertical = nn.Conv2d(1, n_v, (L, 1))
                _glorot_(nn, self.vertical.weight, L, n_v)
                nn.init.zeros_(self.vertical.bias)
                self.dropout = nn.Dropout(caser.dropout)
                self.dense = _linear(nn, L * n_h + n_v * d, d)
                self.user_embedding = _embedding(nn, n_users, d, 1.0 / d)
                self.output_weights = _embedding(nn, n_items, 2 * d, 1.0 / (2 * d))
                self.output_biases = nn.Embedding(n_items, 1, sparse=True)
                nn.init.zeros_(self.output_biases.weight)

            def features(self, contexts, users):
                """x = [z; P[u]] (N, 2 d)."""
                image = self.item_embedding(contexts)  # (N, L, d)
                channels = image.transpose(1, 2)  # (N, d, L): Conv1d slides over the L steps
                o_h = [torch.relu(conv(channels)).max(dim=2).values for conv in self.horizontal]
                o_v = self.vertical(image.unsqueeze(1)).reshape(len(image), -1)  # (N, n_v d)
                z = torch.relu(self.dense(self.dropout(torch.cat([*o_h, o_v], dim=1))))
                return torch.cat([z, self.user_embedding(users)], dim=1)

            def forward(self, contexts, users, candidates):
                x = self.features(contexts, users)
                scores = (self.output_weights(candidates) @ x.unsqueeze(2)).squeeze(2)
                return scores + self.output_biases(candidates).squeeze(2)

            def score_all(self, contexts, users):
                x = self.features(contexts, users)
                return x @ self.output_weights.weight.T + self.output_biases.weight.T

        return CaserModule(self.n_users_)

    def _weights(self):
        net, tower = self.network_, "body.0.0"
        weights = {f"{tower}.0.W": (net.item_embedding.weight, None),
                   f"{tower}.1.{len(net.horizontal)}.w": (net.vertical.weight, _vertical_layout),
                   f"{tower}.1.{len(net.horizontal)}.b": (net.vertical.bias, None),
                   f"{tower}.4.W": (net.dense.weight, _transposed),
                   f"{tower}.4.b": (net.dense.bias, None),
                   "body.0.1.W": (net.user_embedding.weight, None),
                   "output.weights.W": (net.output_weights.weight, None),
                   "output.biases.W": (net.output_biases.weight, None)}
        for index, conv in enumerate(net.horizontal):
            weights[f"{tower}.1.{index}.0.W"] = (conv.weight, _conv1d_layout)
            weights[f"{tower}.1.{index}.0.b"] = (conv.bias, None)
        return weights

    def _batch_loss(self, torch, batch):
        contexts, users, candidates = (self._tensor(torch, a, ids=True) for a in batch.inputs)
        logits = self.network_(contexts, users, candidates)
        return torch.nn.functional.binary_cross_entropy_with_logits(
            logits, self._tensor(torch, batch.target))

    def score_items(self, user_index):
        torch = _torch()
        user_index = np.asarray(user_index)
        contexts = self.nanorec_.last_items_[user_index]
        scores = [self._infer(torch, self._tensor(torch, contexts[part], ids=True),
                              self._tensor(torch, user_index[part], ids=True), method="score_all")
                  for part in _parts(len(user_index))]
        return np.concatenate(scores) if scores else np.empty((0, self.n_items_))


def _conv1d_layout(array):
    """nanorec Conv1d W (width, C_in, C_out) -> torch Conv1d weight (C_out, C_in, width)."""
    return array.transpose(2, 1, 0)


def _vertical_layout(array):
    """nanorec VerticalConv w (L, F) -> torch Conv2d(1, F, (L, 1)) weight (F, 1, L, 1)."""
    return array.T[:, None, :, None]


class TorchRNNRec(_TorchTwin):
    """RNNRec in PyTorch: torch.nn.RNN (tanh, one layer) over the item embeddings, a Linear over
    the catalogue (loss "softmax") or item embeddings scoring candidates (loss "sampled").

    Same as nanorec's RNNRec                         Different
    -------------------------------------------     ------------------------------------------------
    Q (I + 1, K) ~ N(0, 0.01^2); h_t = tanh(x_t W_x  torch.nn.RNN has two biases, b_ih and b_hh:
    + h_{t-1} W_h + b), h_0 = 0, W_x and W_h glorot, b_hh is held at 0 (requires_grad False),
    b = 0; softmax: Linear(H, I) glorot, zero bias;  so b_ih is nanorec's one b (two trained
    sampled: V' ~ N(0, 1/H), c' = 0 per item       biases would take two Adam steps per step)
    loss: cross-entropy over the catalogue (or the   the common differences (module docstring)
    candidates), mean over the real steps, padded
    steps ignored (ignore_index -1)
    Adam(lr, weight_decay=reg) on the RNN and the
    Linear; LazyAdam on Q (and V', c')
    batches: RNNRec's draw() (windows of seq_len
    steps, shuffled, batch_size windows)
    scoring: the logits after the user's last T
    train items (nanorec_.last_items_)
    """

    nanorec_class = RNNRec

    @property
    def sparse_tables(self):
        sampled = self.nanorec_.loss == "sampled"
        return ("item_embedding", "output_weights", "output_biases") if sampled else \
            ("item_embedding",)

    def _module(self, torch):
        nn = torch.nn
        rnnrec = self.nanorec_
        n_items, K, H = self.n_items_, rnnrec.n_factors, rnnrec.n_hidden
        sampled = rnnrec.loss == "sampled"

        class RNNRecModule(nn.Module):
            def __init__(self):
                super().__init__()
                self.item_embedding = _embedding(nn, n_items + 1, K, 0.01)  # row I: padding
                self.rnn = nn.RNN(K, H, nonlinearity="tanh", batch_first=True)
                _glorot_(nn, self.rnn.weight_ih_l0, K, H)
                _glorot_(nn, self.rnn.weight_hh_l0, H, H)
                nn.init.zeros_(self.rnn.bias_ih_l0)
                nn.init.zeros_(self.rnn.bias_hh_l0)
                self.rnn.bias_hh_l0.requires_grad_(False)  # one bias, as nanorec's RNN
                if sampled:
                    self.output_weights = _embedding(nn, n_items, H, H**-0.5)
                    self.output_biases = nn.Embedding(n_items, 1, sparse=True)
                    nn.init.zeros_(self.output_biases.weight)
                else:
                    self.output = _linear(nn, H, n_items)

            def forward(self, windows, candidates=None):
                states, _ = self.rnn(self.item_embedding(windows))  # (N, T, H)
                if candidates is None:
                    return self.output(states)  # (N, T, I)
                weights = self.output_weights(candidates)  # (N, T, C, H)
                scores = (weights @ states.unsqueeze(3)).squeeze(3)
                return scores + self.output_biases(candidates).squeeze(3)

            def score_all(self, windows):
                last = self.rnn(self.item_embedding(windows))[0][:, -1]
                if sampled:
                    return last @ self.output_weights.weight.T + self.output_biases.weight.T
                return self.output(last)

        return RNNRecModule()

    def _weights(self):
        net = self.network_
        weights = {"tower.0.W": (net.item_embedding.weight, None),
                   "tower.1.W_x": (net.rnn.weight_ih_l0, _transposed),
                   "tower.1.W_h": (net.rnn.weight_hh_l0, _transposed),
                   "tower.1.b": (net.rnn.bias_ih_l0, None)}
        if self.nanorec_.loss == "sampled":
            weights.update({"output.weights.W": (net.output_weights.weight, None),
                            "output.biases.W": (net.output_biases.weight, None)})
        else:
            weights.update({"output.W": (net.output.weight, _transposed),
                            "output.b": (net.output.bias, None)})
        return weights

    def _batch_loss(self, torch, batch):
        if self.nanorec_.loss == "sampled":
            windows, candidates = batch.inputs
            logits = self.network_(self._tensor(torch, windows, ids=True),
                                   self._tensor(torch, candidates, ids=True))
        else:
            logits = self.network_(self._tensor(torch, batch.inputs, ids=True))
        targets = self._tensor(torch, batch.target, ids=True)
        return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                 targets.reshape(-1), ignore_index=-1)

    def score_items(self, user_index):
        torch = _torch()
        windows = self.nanorec_.last_items_[np.asarray(user_index)]
        scores = [self._infer(torch, self._tensor(torch, windows[part], ids=True),
                              method="score_all") for part in _parts(len(windows))]
        return np.concatenate(scores) if scores else np.empty((0, self.n_items_))


# ====================================================================== side features
class _TorchSideFeatures(_TorchTwin):
    """ContentBased and Hybrid: BCE on logits over nanorec's batches, Adam, cold-start scoring."""

    cold_start = ("users", "items")  # scores users and items without train rows, as nanorec's

    def _batch_loss(self, torch, batch):
        logits = self.network_(*self._inputs(torch, batch.inputs))
        return torch.nn.functional.binary_cross_entropy_with_logits(
            logits, self._tensor(torch, batch.target))


class TorchContentBased(_TorchSideFeatures):
    """ContentBased in PyTorch: MLP([p | c | p * c | z]) -> a logit.

    Same as nanorec's ContentBased                   Different
    -------------------------------------------     ------------------------------------------------
    [p | c | p * c | z] (ProfileMatch) -> Linear ->  the common differences (module docstring)
    ReLU per hidden size (he normal) -> Linear(., 1) (no embedding tables here)
    (glorot), zero biases
    loss: BCE on the logits, mean over the batch's
    rows and their n_negatives negatives
    Adam(lr, weight_decay=reg) on every parameter
    batches: ContentBased's draw() (leave-one-out
    profiles, cold dropout of profiles and counts,
    negatives among known items)
    scoring: nanorec's profiles and item content
    (with the popularity column; 0 for cold ids),
    through the twin's MLP
    """

    nanorec_class = ContentBased

    def _module(self, torch):
        nn = torch.nn
        content = self.nanorec_
        c = content.n_item_features_ + int(bool(content.popularity_feature))
        mlp = _feature_mlp(nn, 3 * c + content.n_user_features_, tuple(content.hidden), 1)

        class ContentModule(nn.Module):
            def __init__(self):
                super().__init__()
                self.mlp = mlp

            def forward(self, profiles, content, user_features):
                return self.mlp(torch.cat([profiles, content, profiles * content, user_features],
                                          dim=1))

        return ContentModule()

    def _weights(self):
        return _mlp_weights("1.", self.network_.mlp)

    def _inputs(self, torch, inputs):
        return tuple(self._tensor(torch, array) for array in inputs)

    def score_items(self, user_index):
        """Scores (n, I) of every item, the users' inputs as nanorec's ContentBased builds them
        (its NumPy representations: profile, content, features), pushed through the twin."""
        torch = _torch()
        content = self.nanorec_
        user_index = np.asarray(user_index)
        profiles, user_features = content._user_representation(
            user_index, content.user_features_[user_index])
        items = content._item_representation(np.arange(self.n_items_), content.item_features_)
        scores = np.empty((len(user_index), self.n_items_))
        per_block = max(1, PAIRS_PER_FORWARD // self.n_items_)
        for start in range(0, len(user_index), per_block):
            block = slice(start, start + per_block)
            n = len(profiles[block])
            inputs = (np.repeat(profiles[block], self.n_items_, axis=0), np.tile(items, (n, 1)),
                      np.repeat(user_features[block], self.n_items_, axis=0))
            logits = self._infer(torch, *self._inputs(torch, inputs))
            scores[block] = logits.reshape(n, self.n_items_)
        return scores


class TorchHybrid(_TorchSideFeatures):
    """Hybrid in PyTorch: two towers (ID embedding + feature MLP), scored by their dot product.

    Same as nanorec's Hybrid                         Different
    -------------------------------------------     ------------------------------------------------
    v = E_user[id] + MLP_user(z), w = E_item[id] +   the common differences (module docstring)
    MLP_item(x); E (n + 1, K) ~ N(0, 0.01^2) (row n:
    "no id"); MLP: Linear -> ReLU (he normal) per
    hidden size, Linear(., K) glorot; s = v . w
    loss: BCE on the logits, mean over the batch
    Adam(lr, weight_decay=reg) on the MLPs;
    LazyAdam (weight decay on the rows used) on the
    two ID tables
    batches: Hybrid's draw() (negatives among known
    items, ID dropout to the "no id" rows)
    scoring: the "no id" row for users and items
    without train rows, their features otherwise
    """

    nanorec_class = Hybrid
    sparse_tables = ("user_ids", "item_ids")

    def _module(self, torch):
        nn = torch.nn
        hybrid = self.nanorec_
        K, hidden = hybrid.n_factors, tuple(hybrid.hidden)
        n_users, n_items = self.n_users_, self.n_items_

        class HybridModule(nn.Module):
            def __init__(self):
                super().__init__()
                self.user_ids = _embedding(nn, n_users + 1, K, 0.01)  # + the "no id" row
                self.user_mlp = _feature_mlp(nn, hybrid.n_user_features_, hidden, K)
                self.item_ids = _embedding(nn, n_items + 1, K, 0.01)
                self.item_mlp = _feature_mlp(nn, hybrid.n_item_features_, hidden, K)

            def users(self, rows, features):
                return self.user_ids(rows) + self.user_mlp(features)

            def items(self, rows, features):
                return self.item_ids(rows) + self.item_mlp(features)

            def forward(self, user_rows, user_features, item_rows, item_features):
                v, w = self.users(user_rows, user_features), self.items(item_rows, item_features)
                return (v * w).sum(dim=1, keepdim=True)

        return HybridModule()

    def _weights(self):
        net = self.network_
        return {"0.0.0.0.W": (net.user_ids.weight, None),
                **_mlp_weights("0.0.0.1.", net.user_mlp),
                "0.1.0.0.W": (net.item_ids.weight, None),
                **_mlp_weights("0.1.0.1.", net.item_mlp)}

    def _inputs(self, torch, inputs):
        (user_rows, user_features), (item_rows, item_features) = inputs
        return (self._tensor(torch, user_rows, ids=True), self._tensor(torch, user_features),
                self._tensor(torch, item_rows, ids=True), self._tensor(torch, item_features))

    def score_items(self, user_index):
        """v (n, K) @ w (I, K)^T: the "no id" row for users and items without train rows."""
        torch = _torch()
        hybrid, user_index = self.nanorec_, np.asarray(user_index)
        known_users = np.diff(self.train_csr_.indptr) > 0
        known_items = hybrid.item_counts_ > 0
        user_rows = np.where(known_users[user_index], user_index, self.n_users_)
        item_rows = np.where(known_items, np.arange(self.n_items_), self.n_items_)
        v = self._infer(torch, self._tensor(torch, user_rows, ids=True),
                        self._tensor(torch, hybrid.user_features_[user_index]), method="users")
        w = self._infer(torch, self._tensor(torch, item_rows, ids=True),
                        self._tensor(torch, hybrid.item_features_), method="items")
        return v @ w.T


TWINS = {AutoRec: TorchAutoRec, CDAE: TorchCDAE, Caser: TorchCaser, RNNRec: TorchRNNRec,
         ContentBased: TorchContentBased, Hybrid: TorchHybrid}


# ====================================================================== rows of bench_deep.py
TWIN_THREADS = (1, 2)  # torch.set_num_threads of the twin rows
RATIO = "nanorec / twin s/epoch"


def s_per_epoch(model):
    """The median of a fitted model's epoch_seconds_ (training only: draw and steps), or None."""
    seconds = getattr(model, "epoch_seconds_", None)
    return statistics.median(seconds) if seconds else None


def twin_name(label, threads):
    return f"PyTorch twin of {label.split(' (')[0]} ({threads} thread{'s' * (threads > 1)})"


def interval_cell(ours, theirs):
    """Paired bootstrap (10,000 resamples) of mean(ours - theirs): "+d [low, high]", 95%."""
    interval = paired_bootstrap(ours, theirs)
    return f"{interval.difference:+.4f} [{interval.low:+.4f}, {interval.high:+.4f}]"


def model_rows(label, model, train, evaluations, twin_threads=TWIN_THREADS, warm_up=None,
               twin_init="torch"):
    """Fit ``model`` (a nanorec Recommender) on train and, when it has a twin, the twin once per
    thread count in twin_threads: one row per (model, protocol) of ``evaluations``.

    evaluations(fitted) -> [(protocol, {metric: value}, {name: per-unit values}), ...]: the
    per-unit values (per test user, or per test rating) of the nanorec row and of each twin row
    are paired by ``interval_cell`` into "<name>: nanorec - twin [95%]". Rows hold "model",
    "protocol", the metrics, "fit_s", "s/epoch" (the median epoch) and, for a twin, RATIO.
    A twin without torch gives rows whose "fit_s" is "skipped (pip install torch)".
    warm_up : Interactions, optional
        A twin is fitted on it for one epoch first (torch's first-call costs, untimed).
    twin_init : {"torch", "copy"}
        The twins' ``init``: their own draw, or nanorec's initial weights (then the two fits
        differ only by float rounding and the masks of a Dropout layer).
    """
    from _common import Skipped

    start = time.perf_counter()
    model.fit(train)
    fit_s = time.perf_counter() - start
    ours_s, ours = s_per_epoch(model), evaluations(model)
    rows = [{"model": label, "protocol": protocol, **values, "fit_s": round(fit_s, 2),
             **({"s/epoch": ours_s} if ours_s is not None else {})}
            for protocol, values, _ in ours]
    twin_class = TWINS.get(type(model))
    for threads in twin_threads if twin_class is not None else ():
        name, options = twin_name(label, threads), model.get_params()
        try:
            if warm_up is not None:
                twin_class(num_threads=threads, **{**options, "n_epochs": 1}).fit(warm_up)
            twin = twin_class(num_threads=threads, init=twin_init, **options)
            start = time.perf_counter()
            twin.fit(train)
            twin_fit_s = time.perf_counter() - start
        except Skipped as skipped:
            rows += [{"model": name, "protocol": protocol, "fit_s": str(skipped)}
                     for protocol, _, _ in ours]
            continue
        twin_s = s_per_epoch(twin)
        for (protocol, values, theirs), (_, _, paired) in zip(evaluations(twin), ours):
            rows.append({"model": name, "protocol": protocol, **values,
                         "fit_s": round(twin_fit_s, 2), "s/epoch": twin_s, RATIO: ours_s / twin_s,
                         **{f"{key}: nanorec - twin [95%]": interval_cell(paired[key], theirs[key])
                            for key in paired}})
    return rows
