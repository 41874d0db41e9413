"""Next-item recommenders that read each user's items in time order: Caser and RNNRec.

    Caser      convolutions over the "image" of the user's last L item embeddings (Tang & Wang 2018)
    RNNRec     a recurrent network over the item sequence, GRU4Rec-style, on the engine's tanh RNN

Sequences. A user's sequence is their train items sorted by timestamp; items with the same
timestamp are ordered by item index (``user_sequences``), which is the order of the raw ids when
the vocabulary is sorted (as ``Interactions.from_arrays`` builds it), so the item that
``leave_last_out`` holds out of a tie (the larger raw id) is the one that would come last. Both
models learn to predict item s[j + 1] from the items before it, and ``score_items(u)`` scores
every item as the NEXT one after the last ``seq_len`` train items of u. Evaluate them with
``leave_last_out`` and the full protocol: the test item is the last one, the history is the train
sequence.

Padding. A context shorter than seq_len (the start of a sequence) is filled on the LEFT with the
padding id I = n_items, an extra row of the input item embedding that is learned like the others
(it reads as "no earlier item").

Both networks are made of nanorec.nn layers: Caser's of Conv1d, MaxOverTime, VerticalConv and
ItemScores; RNNRec's of an Embedding, the RNN and a Dense (or ItemScores) output.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from nanorec import _checks
from nanorec.data.sampling import NegativeSampler
from nanorec.models.base import NetworkRecommender, register
from nanorec.nn.activations import ReLU
from nanorec.nn.conv import Conv1d, MaxOverTime, VerticalConv
from nanorec.nn.init import normal
from nanorec.nn.layers import (
    Branch,
    Concatenate,
    Dense,
    Dropout,
    Embedding,
    ItemScores,
    Network,
    Parallel,
    Sequential,
)
from nanorec.nn.losses import BCEWithLogitsLoss, SoftmaxCrossEntropyLoss
from nanorec.nn.recurrent import RNN
from nanorec.optim.optimizers import Adam
from nanorec.training import Samples

MASKED = -1  # target of a padded step: no loss there


# ---------------------------------------------------------------------- sequences
def user_sequences(data):
    """Each user's items in time order, as a CSR-like pair ``(indptr (U + 1,), items (N,))``.

    User u's sequence is ``items[indptr[u]:indptr[u + 1]]``, sorted by timestamp, then by item index
    among equal timestamps. Raises ValueError when ``data`` has no timestamps.
    """
    if data.timestamps is None:
        raise ValueError("sequence models need timestamps to order each user's items; these "
                         "interactions have none")
    order = np.lexsort((data.item_index, data.timestamps, data.user_index))
    counts = np.bincount(data.user_index, minlength=data.n_users)
    return np.r_[0, np.cumsum(counts)], data.item_index[order].astype(np.int64)


def _left_padded(indptr, items, length, pad):
    """All sequences in one array, each after ``length`` pad ids.

    User u's block is [pad] * length + s_u, so the ``length`` entries before any item, or before
    the end of a block, are that item's (or the next item's) context, already left-padded.
    Returns padded (N + U length,), position (N,) of each item in it, block_end (U,) exclusive.
    """
    n_users = len(indptr) - 1
    user_of_item = np.repeat(np.arange(n_users), np.diff(indptr))
    position = np.arange(len(items)) + (user_of_item + 1) * length
    padded = np.full(len(items) + n_users * length, pad, dtype=np.int64)
    padded[position] = items
    return padded, position, indptr[1:] + np.arange(1, n_users + 1) * length


def next_item_examples(indptr, items, length, pad):
    """One example per transition: the ``length`` items before s[j] (left-padded), and s[j], j >= 1.

    Returns users (M,), contexts (M, length) and targets (M,), M = number of transitions.
    """
    padded, position, _ = _left_padded(indptr, items, length, pad)
    not_first = np.ones(len(items), dtype=bool)
    not_first[indptr[:-1][np.diff(indptr) > 0]] = False
    users = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))[not_first]
    windows = sliding_window_view(padded, length)  # windows[p] = padded[p : p + length]
    return users, windows[position[not_first] - length], items[not_first]


def last_items(indptr, items, length, pad):
    """The context of the item after each sequence: (U, length), its last items, left-padded."""
    padded, _, block_end = _left_padded(indptr, items, length, pad)
    return sliding_window_view(padded, length)[block_end - length]


def step_windows(indptr, items, length, pad):
    """Non-overlapping windows of ``length`` steps that cover every transition once.

    Window inputs x[t] and targets y[t] = the item after x[t]. A user's n items give n - 1
    transitions, cut from the END into ceil((n - 1) / length) windows; the earliest window is
    left-padded, its padded steps have target MASKED (-1).
    Returns users (M,), inputs (M, length), targets (M, length).
    """
    padded, _, block_end = _left_padded(indptr, items, length, pad)
    n_windows = -(-np.maximum(np.diff(indptr) - 1, 0) // length)  # ceil, 0 for n <= 1
    users = np.repeat(np.arange(len(indptr) - 1), n_windows)
    # window k (k = 0 the latest) of user u ends its targets at block_end[u] - k * length
    rank_from_end = np.arange(len(users)) - np.repeat(np.cumsum(n_windows) - n_windows, n_windows)
    target_end = block_end[users] - rank_from_end * length
    windows = sliding_window_view(padded, length)
    inputs, targets = windows[target_end - length - 1], windows[target_end - length]
    targets[inputs == pad] = MASKED  # a padded input has no real item to predict from
    return users, inputs, targets


# ---------------------------------------------------------------------- networks
class CaserNetwork(Network):
    """Caser's network: (contexts (N, L), users (N,), candidates (N, C)) -> logits (N, C).

    Forward, with E = item_embedding(context) the (L, d) image of the last L items:
        o_h  = [max over t of ReLU(Conv1d_h(E))[t] for h = 1..L]   horizontal, n_h filters each
        o_v  = VerticalConv(E)                                     vertical, n_v d values
        z    = ReLU(Dense(Dropout([o_h; o_v])))                    (N, d)
        x    = [z; P[u]]                                           (N, 2 d), P = user_embedding
        y[c] = x . W'[c] + b'[c]                                   ItemScores, per candidate
    ``body`` (everything up to x) is engine containers; ``output`` is ItemScores.
    Backward: output.backward gives dx; body.backward sends it down through Concatenate,
    Parallel, the Branch of filters (their gradients to E add up) and the Embeddings.
    """

    def __init__(self, n_users, n_items, n_factors, seq_len, n_horizontal, n_vertical, dropout,
                 rng, dtype):
        d, L = n_factors, seq_len

        def embedding_init(shape, rng, dtype):  # N(0, 1/d^2), as in the authors' code
            return normal(shape, rng, dtype, std=1.0 / d)

        horizontal = [
            Sequential(Conv1d(d, n_horizontal, width=h, rng=rng, dtype=dtype), ReLU(),
                       MaxOverTime())
            for h in range(1, L + 1)
        ]
        sequence_tower = Sequential(
            Embedding(n_items + 1, d, init=embedding_init, rng=rng, dtype=dtype),  # row I: padding
            Branch(*horizontal, VerticalConv(L, n_vertical, rng=rng, dtype=dtype)),
            Concatenate(),
            Dropout(dropout, rng=rng),
            Dense(L * n_horizontal + n_vertical * d, d, rng=rng, dtype=dtype),
            ReLU(),
        )
        user_embedding = Embedding(n_users, d, init=embedding_init, rng=rng, dtype=dtype)
        super().__init__(
            body=Sequential(Parallel(sequence_tower, user_embedding), Concatenate()),
            output=ItemScores(n_items, 2 * d, init_std=1.0 / (2 * d), rng=rng, dtype=dtype),
        )

    def forward(self, inputs):
        if not isinstance(inputs, tuple) or len(inputs) != 3:
            raise TypeError("CaserNetwork: expected a tuple (contexts (N, L), users (N,), "
                            "candidates (N, C)) of int ids")
        contexts, users, candidates = inputs
        x = self.parts["body"].forward((contexts, users))
        return self.parts["output"].forward((x, candidates))

    def backward(self, dy):
        dx, _ = self.parts["output"].backward(dy)
        self.parts["body"].backward(dx)
        return None  # ids have no gradient

    @property
    def item_embedding(self):
        """The Embedding of the context items (the first layer of the sequence tower)."""
        return self.parts["body"].layers[0].layers[0].layers[0]

    @property
    def user_embedding(self):
        return self.parts["body"].layers[0].layers[1]

    def score_all(self, contexts, users):
        """Logits of every item, (N, I), in the current mode (eval for inference)."""
        return self.parts["output"].score_all(self.parts["body"].forward((contexts, users)))


class RNNRecNetwork(Network):
    """RNNRec's network: windows (N, T) of item ids -> next-item logits at every step.

    Forward:
        x_t = item_embedding(s_t)                      (N, T, K)
        h_t = tanh(x_t W_x + h_{t-1} W_h + b)          RNN, every state (N, T, H)
        rows n T + t of H_flat = h_t of window n       (N T, H): each step is one prediction
        softmax: logits = Dense(H_flat)                (N T, I), the whole catalogue
        sampled: logits = ItemScores(H_flat, cand)     (N T, C)
                 (then the input is the tuple (windows, candidates (N, T, C)))
        the logits reshaped to (N, T, I) or (N, T, C): step t of window n
    Backward: the output layer gives dH_flat (from dy flattened the same way); reshaped to
    (N, T, H) it enters the RNN's backprop through time, whose dx reaches the item embedding.
    """

    def __init__(self, n_items, n_factors, n_hidden, sampled, rng, dtype):
        self.sampled = sampled
        output = (ItemScores(n_items, n_hidden, init_std=n_hidden**-0.5, rng=rng, dtype=dtype)
                  if sampled else Dense(n_hidden, n_items, rng=rng, dtype=dtype))
        super().__init__(
            tower=Sequential(
                Embedding(n_items + 1, n_factors, rng=rng, dtype=dtype),  # row I: padding
                RNN(n_factors, n_hidden, return_sequences=True, rng=rng, dtype=dtype),
            ),
            output=output,
        )

    def forward(self, inputs):
        if self.sampled and (not isinstance(inputs, tuple) or len(inputs) != 2):
            raise TypeError("RNNRecNetwork (sampled): expected a tuple (windows (N, T), "
                            "candidates (N, T, C)) of int ids")
        windows, candidates = inputs if self.sampled else (inputs, None)
        states = self.parts["tower"].forward(windows)  # (N, T, H)
        self._save(states.shape)
        flat_states = states.reshape(-1, states.shape[-1])
        if self.sampled:
            candidates = candidates.reshape(len(flat_states), -1)  # (N T, C), rows as the states
            logits = self.parts["output"].forward((flat_states, candidates))
        else:
            logits = self.parts["output"].forward(flat_states)
        return logits.reshape(*states.shape[:2], -1)

    def backward(self, dy):
        (states_shape,) = self._saved()
        dflat = self.parts["output"].backward(dy.reshape(-1, dy.shape[-1]))
        dflat = dflat[0] if self.sampled else dflat
        self.parts["tower"].backward(dflat.reshape(states_shape))
        return None  # ids have no gradient

    @property
    def item_embedding(self):
        """The Embedding of the window's items (the first layer of the tower)."""
        return self.parts["tower"].layers[0]

    def score_all(self, windows):
        """Logits of every item after the last step of each window, (N, I)."""
        last_state = self.parts["tower"].forward(windows)[:, -1]
        output = self.parts["output"]
        return output.score_all(last_state) if self.sampled else output.forward(last_state)


# ---------------------------------------------------------------------- models
class _SequenceRecommender(NetworkRecommender):
    """What Caser and RNNRec share: the sequences, Adam, and scoring from each user's last
    seq_len train items.

    A subclass implements ``_build_network()``, ``_examples(indptr, items)`` -> the fixed arrays
    of the training examples, ``_loss()``, ``_epoch_samples(examples, sampler)`` -> (inputs,
    targets) of one epoch (with fresh negatives) and ``_score_contexts(user_index)``.
    Random streams: the initial weights and the dropout masks come from one child of
    SeedSequence(random_state), the negatives and the batch orders from the other.
    """

    _positive_ints = ()  # model-specific integer hyperparameters that must be >= 1

    def _fit(self, train, valid):
        self._check_hyperparameters(valid)
        indptr, items = user_sequences(train)
        self.last_items_ = last_items(indptr, items, self.seq_len, pad=self.n_items_)
        self.network_ = self._build_network()
        self._train(train, valid, self.n_epochs)

    def _optimizer(self, network):
        return Adam(network, lr=self.lr, weight_decay=self.reg)

    def _training_data(self, train):
        """Each epoch: the examples with fresh negatives, shuffled, batch_size per Adam step."""
        examples = self._examples(*user_sequences(train))
        draws = np.random.default_rng(self._seeds()[1])
        sampler = NegativeSampler(train, self.n_negatives, seed=int(draws.integers(2**31)))

        def draw():
            inputs, targets = self._epoch_samples(examples, sampler)
            order = np.random.default_rng(int(draws.integers(2**31))).permutation(len(targets))
            return Samples(inputs, targets, None, order, self.batch_size)

        return draw

    def _seeds(self):
        """Two independent seeds from random_state: (network, training draws)."""
        return np.random.SeedSequence(self.random_state).spawn(2)

    def _context_contributions(self, rows, values):
        """Labels and values of the looked-up context items, padding left out: "item X (k back)"
        for the k-th last item."""
        real = np.flatnonzero(rows != self.n_items_)
        labels = [f"item {raw} ({len(rows) - position} back)"
                  for raw, position in zip(self.item_ids_[rows[real]].tolist(), real)]
        return labels, values[real]

    def score_items(self, user_index):
        """Logits (n, I) of every item as the next one after the user's last seq_len train items."""
        self.network_.eval()  # no dropout
        return self._score_contexts(np.asarray(user_index))

    def _check_hyperparameters(self, valid):
        self._check_common(valid)
        for name in ("n_factors", "seq_len", "n_negatives", *self._positive_ints):
            _checks.positive_int(getattr(self, name), name, type(self).__name__)


@register("caser", "next item by convolutions (Tang & Wang 2018)", needs=("timestamps",))
class Caser(_SequenceRecommender):
    """Caser: convolutional sequence embedding for next-item recommendation.

    The user's last L items form an "image" E (L, d) of their embeddings. Horizontal filters
    (heights h = 1..L, n_horizontal of each) look for sequential patterns of h consecutive items;
    vertical filters (n_vertical) take weighted sums of the L rows. With d = n_factors:

    Prediction   o_h = [max over t of ReLU(Conv1d_h(E))[t]]_{h=1..L}          (L n_horizontal,)
                 o_v = VerticalConv(E)                                         (n_vertical d,)
                 z   = ReLU(W [o_h; o_v] + b)              (dropout on [o_h; o_v] in training)
                 y_hat[u, i] = [z; P[u]] . W'[i] + b'[i]
    Objective    mean over transitions (u, context, i) and n_negatives items j the user has not
                 seen in train (new ones each epoch) of the binary cross-entropy
                 -log sigmoid(y_hat[u, i]) - sum over j of log(1 - sigmoid(y_hat[u, j])),
                 divided by 1 + n_negatives; plus reg as Adam's L2 weight decay (on the dense
                 weights, and on the embedding rows a batch uses)
    Update       Adam (nanorec.optim) on mini-batches of batch_size transitions; gradients by
                 the layers' backward (CaserNetwork)
    Examples     every transition s[j-1] -> s[j] (j >= 1) of every train sequence, with the L items
                 before s[j] (left-padded) as context: the next item only (the paper's T = 1)
    Reference    Tang & Wang (2018), "Personalized Top-N Sequential Recommendation via
                 Convolutional Sequence Embedding", WSDM.

    Shapes: E (L, d); P (U, d) user embeddings; W' (I, 2 d) output item embeddings, b' (I,);
    input item embeddings (I + 1, d) (row I pads short contexts). Items are ordered as in
    ``user_sequences`` (timestamp, then item index).

    Parameters
    ----------
    n_factors : int
        d, the embedding size.
    seq_len : int
        L, the number of previous items the model reads.
    n_horizontal, n_vertical : int
        Horizontal filters per height, and vertical filters.
    dropout : float in [0, 1)
        Dropout rate on the concatenated filter outputs.
    n_epochs, lr, reg, batch_size : training (Adam, L2 weight decay reg). The defaults, 12
        epochs at lr 3e-3, were chosen on a validation split carved from the train part of
        MovieLens-100K (benchmarks/_deep_sequence.py); the paper's lr 1e-3 needs about 30 epochs
        for the same HR@10.
    n_negatives : int
        Negatives per transition.
    random_state : int
        Seeds the initial weights, the negatives, the batches and the dropout masks.
    dtype : np.float32 or np.float64
    early_stopping : int or None
        Patience on the validation HR@10 when ``fit(train, valid)``; the best epoch is kept.
    verbose : bool

    Attributes
    ----------
    network_ : CaserNetwork
    last_items_ : int64 (U, L)
        Each user's last L train items (left-padded with I): the context ``score_items`` reads.
    history_ : dict
        "loss" per epoch (and "valid_hr@10" with validation data); best_epoch_ : int
    """

    _positive_ints = ("n_horizontal", "n_vertical")

    def __init__(self, n_factors=50, seq_len=5, n_horizontal=16, n_vertical=4, dropout=0.5,
                 n_epochs=12, lr=3e-3, reg=1e-6, n_negatives=3, batch_size=512, random_state=0,
                 dtype=np.float32, early_stopping=None, verbose=False):
        self.n_factors = n_factors
        self.seq_len = seq_len
        self.n_horizontal = n_horizontal
        self.n_vertical = n_vertical
        self.dropout = dropout
        self.n_epochs = n_epochs
        self.lr = lr
        self.reg = reg
        self.n_negatives = n_negatives
        self.batch_size = batch_size
        self.random_state = random_state
        self.dtype = dtype
        self.early_stopping = early_stopping
        self.verbose = verbose

    def _check_hyperparameters(self, valid):
        super()._check_hyperparameters(valid)
        _checks.fraction(self.dropout, "dropout", "Caser")

    def _build_network(self):
        return CaserNetwork(self.n_users_, self.n_items_, self.n_factors, self.seq_len,
                            self.n_horizontal, self.n_vertical, self.dropout,
                            rng=np.random.default_rng(self._seeds()[0]), dtype=self.dtype)

    def _examples(self, indptr, items):
        users, contexts, targets = next_item_examples(indptr, items, self.seq_len, self.n_items_)
        _check_transitions(users, "Caser")
        labels = np.zeros((len(users), 1 + self.n_negatives), dtype=self.dtype)
        labels[:, 0] = 1  # column 0: the true next item; the others: negatives
        return users, contexts, targets, labels

    def _loss(self):
        return BCEWithLogitsLoss()

    def _epoch_samples(self, examples, sampler):
        users, contexts, targets, labels = examples
        candidates = np.concatenate([targets[:, None], sampler.sample(users)], axis=1)
        return (contexts, users, candidates), labels

    def _score_contexts(self, user_index):
        return self.network_.score_all(self.last_items_[user_index], user_index)

    def _explain(self, user_index, item_index):
        """Gradient x input at the embeddings of the user's last L items and of the user."""
        from nanorec.models.explain import attribute_lookups

        network = self.network_
        inputs = (self.last_items_[[user_index]], np.array([user_index]), np.array([[item_index]]))
        score, lookups = attribute_lookups(network, inputs, (0, 0),
                                           (network.item_embedding, network.user_embedding))
        labels, values = self._context_contributions(*lookups[0])
        method = ("gradient x input at the embeddings of the user's last items (and of the "
                  "user) on the logit")
        return score, method, labels + ["the user's own embedding"], \
            np.r_[values, lookups[1][1]], None


@register("rnn", "next item by a recurrent network (GRU4Rec style)", needs=("timestamps",))
class RNNRec(_SequenceRecommender):
    """RNNRec: a recurrent next-item model in the style of GRU4Rec, on the engine's tanh RNN.

    Prediction   x_t = Q[s_t];   h_t = tanh(x_t W_x + h_{t-1} W_h + b),  h_0 = 0
                 logits of the item after s_t:  h_t V + c  (V (H, I), c (I,): Dense(H, I))
                 score_items(u): the logits after the last seq_len train items of u
    Objective    "softmax": mean over every real step of every window of the cross-entropy
                     -log softmax(h_t V + c)[s_{t+1}] over the whole catalogue
                 "sampled": the same softmax taken over the true next item and n_negatives items
                     the user has not seen in train (new ones at every step and epoch), the
                     output side being item embeddings V'[i] (I, H) and biases c'[i] scored by
                     dot products (ItemScores); cheaper for large catalogues. No correction for
                     the sampling distribution (uniform), so the logits are not calibrated.
                 plus reg as Adam's L2 weight decay
    Backward     the loss's dlogits -> the output layer -> dh_t at every step -> backprop through
                 time (nanorec.nn.recurrent.RNN) -> dQ of the items read
    Windows      each user's n train items give n - 1 transitions, cut from the end into
                 non-overlapping windows of seq_len steps (the first one left-padded, its padded
                 steps carry no loss); every window starts from h_0 = 0, so a step sees the items
                 of its own window only, as score_items does. Adam on batch_size windows.
    Reference    Hidasi et al. (2016), "Session-based Recommendations with Recurrent Neural
                 Networks", ICLR (GRU4Rec; here a plain tanh RNN instead of a GRU).

    Shapes: Q (I + 1, K) input item embeddings (row I pads), K = n_factors; W_x (K, H),
    W_h (H, H), b (H,) with H = n_hidden; T = seq_len.

    Parameters
    ----------
    n_hidden : int
        H, the state size.
    n_factors : int
        K, the input embedding size.
    seq_len : int
        T, steps per training window, and train items read by score_items.
    loss : {"softmax", "sampled"}
    n_negatives : int
        Negatives per step for loss="sampled" (unused by "softmax").
    n_epochs, lr, reg, batch_size, random_state, dtype, early_stopping, verbose
        As in Caser (batch_size counts windows).

    Attributes
    ----------
    network_ : RNNRecNetwork
    last_items_ : int64 (U, T)
    history_ : dict;  best_epoch_ : int
    """

    _positive_ints = ("n_hidden",)

    def __init__(self, n_hidden=100, n_factors=64, seq_len=20, loss="softmax", n_negatives=50,
                 n_epochs=15, lr=1e-3, reg=0.0, batch_size=32, random_state=0, dtype=np.float32,
                 early_stopping=None, verbose=False):
        self.n_hidden = n_hidden
        self.n_factors = n_factors
        self.seq_len = seq_len
        self.loss = loss
        self.n_negatives = n_negatives
        self.n_epochs = n_epochs
        self.lr = lr
        self.reg = reg
        self.batch_size = batch_size
        self.random_state = random_state
        self.dtype = dtype
        self.early_stopping = early_stopping
        self.verbose = verbose

    def _check_hyperparameters(self, valid):
        super()._check_hyperparameters(valid)
        _checks.one_of(self.loss, "loss", ("softmax", "sampled"), "RNNRec")

    def _build_network(self):
        return RNNRecNetwork(self.n_items_, self.n_factors, self.n_hidden,
                             sampled=self.loss == "sampled",
                             rng=np.random.default_rng(self._seeds()[0]), dtype=self.dtype)

    def _examples(self, indptr, items):
        users, windows, targets = step_windows(indptr, items, self.seq_len, pad=self.n_items_)
        _check_transitions(users, "RNNRec")
        return users, windows, targets

    def _loss(self):
        return SoftmaxCrossEntropyLoss(ignore_index=MASKED)

    def _epoch_samples(self, examples, sampler):
        users, windows, targets = examples
        if self.loss == "softmax":
            return windows, targets
        n_windows, steps = windows.shape
        negatives = sampler.sample(np.repeat(users, steps)).reshape(n_windows, steps, -1)
        candidates = np.concatenate([targets[:, :, None].clip(0), negatives], axis=2)
        # the true next item sits in column 0 of each step's candidates
        return (windows, candidates), np.where(targets == MASKED, MASKED, 0)

    def _score_contexts(self, user_index):
        return self.network_.score_all(self.last_items_[user_index])

    def _explain(self, user_index, item_index):
        """Gradient x input at the embeddings of the user's last T items (the window)."""
        from nanorec.models.explain import attribute_lookups

        network = self.network_
        window = self.last_items_[[user_index]]
        inputs, output_index = window, (0, self.seq_len - 1, item_index)
        if self.loss == "sampled":  # score just the item, at every step
            inputs = (window, np.full((1, self.seq_len, 1), item_index))
            output_index = (0, self.seq_len - 1, 0)
        score, lookups = attribute_lookups(network, inputs, output_index, (network.item_embedding,))
        labels, values = self._context_contributions(*lookups[0])
        return score, "gradient x input at the embeddings of the user's last items on the logit", \
            labels, values, None


def _check_transitions(example_users, model_name):
    if len(example_users) == 0:
        raise ValueError(
            f"{model_name}: no user has two or more train interactions (nothing to learn)")
