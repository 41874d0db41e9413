"""Differentially private SGD (DP-SGD) for BiasedMF, and its privacy accounting.

Unit of privacy: ONE RATING (example-level DP, add-or-remove-one-rating neighbours). A user with
many ratings is protected far less than epsilon as a whole: user-level DP would need one clipped
gradient per user, not per rating. The id vocabularies (which users and items exist) are treated
as public; only the ratings are protected.

Model        BiasedMFNetwork with a learned mean: r_hat[u, i] = mu + b_u[u] + b_i[i] + P[u] . Q[i];
             theta = (mu, b_u, b_i, P, Q), every part an Embedding table a sample reads one row of
Example loss l(u, i, r) = 1/2 (r - r_hat)^2 + reg / 2 (b_u[u]^2 + b_i[i]^2 + |P[u]|^2 + |Q[i]|^2)
Gradient     g_n, example n's gradient, from the network's own backward: each table's row-sparse
             gradient holds one row per example, in order (``per_example_gradients``), plus
             reg times the rows the example read; |g_n|^2 sums over every table.
Step         (Abadi et al. 2016), with clip bound C = max_grad_norm and noise multiplier sigma:
             1. batch: every rating joins independently with probability q = batch_size / N
                (Poisson sampling; the expected batch size is B = q N = batch_size);
             2. clip: g_n <- g_n * min(1, C / |g_n|) for every example n of the batch;
             3. noise: G = sum_n g_n + z, z ~ N(0, sigma^2 C^2) on EVERY coordinate of theta,
                including the users and items absent from the batch (sparse noise would reveal
                which rows were touched);
             4. update: theta <- theta - lr * G / B   (SGD with lr / B on the gradient G).
             T = n_epochs * round(N / batch_size) steps. Since one rating changes the clipped sum
             by at most C in L2 norm, each step is a subsampled Gaussian mechanism; composing T
             of them gives (epsilon, delta)-DP, computed by the RDP (or PLD) accountant of the
             ``dp-accounting`` package (``pip install "nanorec[privacy]"``).
Init         P, Q ~ N(0, init_std^2) for every id (zeroing the ids without ratings would depend
             on the data); b = 0; mu = the middle of the public ``rating_range``, or 0.
Reference    Abadi et al. (2016), "Deep learning with differential privacy"; Mironov (2017),
             "Renyi differential privacy".

What the fitted model keeps: only DP outputs (theta) and public facts (q, T, the vocabularies,
the rating range given). Two things a Recommender usually keeps would break the guarantee, so
DPBiasedMF drops them: the train matrix ``train_csr_`` is left EMPTY (so ``recommend`` cannot
exclude seen items by itself, every user in the vocabulary can be scored, and ``evaluate`` needs
``train=`` to leave train items out), and the per-epoch training loss, computed without noise,
lives only in memory (``epoch_losses``) and is never saved. The sampling rate q = batch_size / N
reveals N, treated as public as in the usual DP-SGD accounting.

Mind the scale of lr: the step averages gradients over B examples, so an embedding row seen
once in a batch moves by lr / B times its gradient; lr is of the order of B times BiasedMF's
per-rating lr, bounded by the curvature of mu (a step lr on the mean error: lr < 2).
"""

import numpy as np

from nanorec import _checks
from nanorec.data.interactions import CSR
from nanorec.models.base import explicit_ratings, register
from nanorec.models.mf import BiasedMF, BiasedMFNetwork
from nanorec.nn.base import RowSparseGrad
from nanorec.nn.losses import MSELoss
from nanorec.optim.optimizers import SGD
from nanorec.training import Batch, train_step

PRIVACY_EXTRA = 'privacy accounting needs dp-accounting: pip install "nanorec[privacy]"'


# ------------------------------------------------------------------------------ one step
def per_example_gradients(network, n_examples, scale=1.0, reg=0.0):
    """Each example's gradient, table by table, from the gradients a backward left in
    ``network.grads``: {name: (rows (n,), values (n, D))}.

    Every parameter must be a table that each example reads exactly one row of (an Embedding
    looked up once per example): its row-sparse gradient then holds one (row, value) pair per
    example, in order. values = scale * (the backward's value) + reg * (the row read): ``scale``
    undoes a mean over the batch (scale = n for a mean loss), ``reg`` adds the gradient of the
    example's reg / 2 |row|^2 -- one coefficient for every table, or a dict {name: coefficient}
    (tables not named get none).
    """
    gradients = {}
    for name, grad in network.grads.items():
        coefficient = reg.get(name, 0.0) if isinstance(reg, dict) else reg
        if not isinstance(grad, RowSparseGrad) or len(grad.rows) != n_examples:
            raise ValueError(
                f"per-example gradients need every parameter read once per example (an "
                f"Embedding); {name!r} is not")
        rows = grad.rows
        gradients[name] = (rows, scale * grad.values + coefficient * network.params[name][rows])
    return gradients


def privatize(network, n_examples, reg, max_grad_norm, noise_multiplier, noise_rng):
    """Replace ``network.grads`` by DP-SGD's noisy sum of clipped per-example gradients.

    G = sum over examples n of g_n min(1, C / |g_n|) + N(0, (sigma C)^2) on every coordinate,
    with g_n from ``per_example_gradients`` of a batch-mean loss (scale n) plus reg; the noise is
    drawn table by table in the order of ``network.params`` (also when sigma = 0, so the stream
    stays aligned). G is written back as a row-sparse gradient of every row.
    """
    gradients = per_example_gradients(network, n_examples, n_examples, reg) if n_examples else {}
    squared = np.zeros(n_examples)
    for rows, values in gradients.values():
        squared += np.square(values).reshape(n_examples, -1).sum(axis=1)
    clip = np.minimum(1.0, max_grad_norm / np.maximum(np.sqrt(squared), 1e-300))
    noise_std = noise_multiplier * max_grad_norm
    for name, param in network.params.items():
        total = (noise_std * noise_rng.standard_normal(param.shape)).astype(param.dtype, copy=False)
        if name in gradients:
            rows, values = gradients[name]
            np.add.at(total, rows, clip.reshape(-1, *[1] * (values.ndim - 1)) * values)
        grad = network.grads[name]
        grad.clear()
        grad.add(np.arange(len(param)), total)


def poisson_batches(rng, n_rows, sampling_rate, n_steps):
    """Yield ``n_steps`` batches: row indices, each row kept independently with probability q."""
    for _ in range(n_steps):
        yield np.flatnonzero(rng.random(n_rows) < sampling_rate)


def random_streams(random_state):
    """Independent generators (init, batches, noise) derived from one seed (SeedSequence.spawn)."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(random_state).spawn(3)]


# ------------------------------------------------------------------------------ the model
@register("dp-biased-mf", "BiasedMF by DP-SGD: (epsilon, delta)-private per rating",
          needs=("ratings",))
class DPBiasedMF(BiasedMF):
    """BiasedMF trained with DP-SGD: (epsilon, delta)-DP per rating (see the module docstring).

    Parameters
    ----------
    n_factors : int
    n_epochs : int
        T = n_epochs * round(N / batch_size) steps.
    batch_size : int
        Expected batch size B (Poisson sampling rate q = B / N).
    lr, reg : float
    max_grad_norm : float
        C, the bound on each example's gradient norm.
    noise_multiplier : float
        sigma; the noise on every coordinate of the summed gradient has std sigma * C. 0 turns the
        privacy off (epsilon = inf).
    rating_range : (float, float) or None
        Public bounds of the ratings (e.g. (1, 5)): mu starts at their middle and ``predict``
        clips to them. None: mu starts at 0, no clipping (the train min/max are private).
    init_std : float
    random_state : int
        Seed of the three streams of ``random_streams``: init, batches, noise.
    dtype : np.float32 or np.float64
    verbose : bool

    Attributes
    ----------
    network_ : BiasedMFNetwork (learn_mean=True)
    global_mean_ (float, learned), user_bias_, item_bias_, user_factors_, item_factors_ : as BiasedMF
    sampling_rate_ : float
        q.
    n_steps_ : int
        T.
    train_csr_ : CSR (U, I) with no entries (see the module docstring)
    epoch_losses : list of float
        Mean over each epoch's steps of the batch mean 1/2 e^2 before the step. NOT private:
        in memory only (``save`` skips it; a loaded model has none).
    """

    cold_start = ("users", "items")  # every id has (noisy) parameters; which ones had rows is private

    def __init__(self, n_factors=20, n_epochs=20, batch_size=1000, lr=1.0, reg=0.02,
                 max_grad_norm=1.0, noise_multiplier=1.0, rating_range=None, init_std=0.1,
                 random_state=0, dtype=np.float64, verbose=False):
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.reg = reg
        self.max_grad_norm = max_grad_norm
        self.noise_multiplier = noise_multiplier
        self.rating_range = rating_range
        self.init_std = init_std
        self.random_state = random_state
        self.dtype = dtype
        self.verbose = verbose

    @property
    def epoch_losses(self):
        """The non-private training losses of the last fit in this process (see Attributes)."""
        if not hasattr(self, "_epoch_losses"):
            raise AttributeError("epoch_losses exist only after fit, in memory (never saved)")
        return self._epoch_losses

    @property
    def clip(self):
        """Predictions are clipped only to a public rating range (used by BiasedMF.score_pairs)."""
        return self.rating_range is not None

    def _check_hyperparameters(self, n_rows):
        name = "DPBiasedMF"
        self._check_common(None)
        _checks.positive_int(self.n_factors, "n_factors", name)
        _checks.positive(self.max_grad_norm, "max_grad_norm", name)
        _checks.non_negative(self.noise_multiplier, "noise_multiplier", name)
        _checks.non_negative(self.init_std, "init_std", name)
        if self.batch_size > n_rows:
            raise ValueError(f"DPBiasedMF: batch_size {self.batch_size} exceeds the {n_rows} train ratings")
        if self.rating_range is not None:
            bounds = np.asarray(self.rating_range, dtype=float)
            if bounds.shape != (2,) or not np.isfinite(bounds).all() or bounds[0] >= bounds[1]:
                raise ValueError(f"DPBiasedMF: rating_range must be (low, high) with low < high, "
                                 f"got {self.rating_range!r}")

    def _fit(self, train, valid):
        ratings = explicit_ratings(train, "train", "DPBiasedMF")
        self._check_hyperparameters(len(train))
        init_rng, batch_rng, noise_rng = random_streams(self.random_state)
        middle = 0.0 if self.rating_range is None else float(np.mean(self.rating_range))
        network = self.network_ = BiasedMFNetwork(
            self.n_users_, self.n_items_, self.n_factors, middle, self.init_std, init_rng,
            self.dtype, learn_mean=True)
        steps_per_epoch = max(1, int(round(len(train) / self.batch_size)))
        self.sampling_rate_ = self.batch_size / len(train)
        self.n_steps_ = self.n_epochs * steps_per_epoch
        users, items = train.user_index, train.item_index
        ratings = ratings.astype(self.dtype)[:, None]
        batches = poisson_batches(batch_rng, len(train), self.sampling_rate_, self.n_steps_)
        loss, optimizer = MSELoss(), SGD(network, lr=self.lr / self.batch_size)
        # reg on b_u, b_i, P and Q: the example's loss penalises the rows it reads, not mu
        penalties = {name: self.reg for name in network.params if not name.startswith("global")}

        def dp_step(rows):
            """One DP-SGD step on the Poisson batch ``rows``; its mean 1/2 e^2 (0 if empty)."""
            def transform(network, batch):
                privatize(network, len(rows), penalties, self.max_grad_norm,
                          self.noise_multiplier, noise_rng)

            if len(rows) == 0:  # an empty batch still takes its step: the noise alone
                transform(network, None)
                optimizer.step()
                optimizer.zero_grad()
                return 0.0
            batch = Batch((users[rows], items[rows]), ratings[rows], np.full(len(rows), 0.5))
            return train_step(network, loss, optimizer, batch, transform)[0]

        def run_epoch():
            network.train()
            return float(np.mean([dp_step(next(batches)) for _ in range(steps_per_epoch)]))

        self._run_epochs(run_epoch, train, None, self.n_epochs, [])
        network.eval()
        self._epoch_losses = self.history_.pop("loss")  # not private: kept out of saved files
        del self.history_
        self.global_mean_ = float(network.parts["global_bias"].params["W"][0, 0])
        self.rating_range_ = None if self.rating_range is None else tuple(map(float, self.rating_range))
        self.train_csr_ = CSR(np.zeros(self.n_users_ + 1, np.int64), np.zeros(0, np.int32),
                              np.zeros(0, np.float32), (self.n_users_, self.n_items_))

    def _build_network(self, rng=None):
        return BiasedMFNetwork(self.n_users_, self.n_items_, self.n_factors, self.global_mean_,
                               self.init_std, rng, self.dtype, learn_mean=True)

    def _popularity(self):
        """The item biases: the non-personalised ranking (train counts would be private)."""
        return self.item_bias_.astype(np.float64)

    def finetune(self, train, n_epochs=1):
        raise NotImplementedError("DPBiasedMF cannot be fine-tuned: more epochs would spend "
                                  "privacy budget that epsilon() does not count; fit it again")

    def epsilon(self, delta=1e-5, accountant="rdp"):
        """epsilon of the fitted model at ``delta`` (per rating): compute_epsilon of its q, T, sigma."""
        if not hasattr(self, "n_steps_"):
            raise RuntimeError("DPBiasedMF is not fitted yet: call fit(train) first")
        return compute_epsilon(self.noise_multiplier, self.sampling_rate_, self.n_steps_, delta,
                               accountant)


# ------------------------------------------------------------------------------ accounting
def _dp_accounting():
    try:
        import dp_accounting
    except ImportError as error:
        raise ImportError(PRIVACY_EXTRA) from error
    return dp_accounting


def dp_sgd_event(noise_multiplier, sampling_rate, n_steps):
    """The DpEvent of DP-SGD: T self-compositions of a Poisson-subsampled Gaussian mechanism."""
    dp = _dp_accounting()
    step = dp.PoissonSampledDpEvent(sampling_rate, dp.GaussianDpEvent(noise_multiplier))
    return dp.SelfComposedDpEvent(step, int(n_steps))


def _make_accountant(accountant):
    dp = _dp_accounting()
    if accountant == "rdp":
        return dp.rdp.RdpAccountant()
    if accountant == "pld":
        return dp.pld.PLDAccountant()
    raise ValueError(f"accountant must be 'rdp' or 'pld', got {accountant!r}")


def _check_accounting(sampling_rate, n_steps, delta):
    _checks.number(sampling_rate, "sampling_rate", low=0.0, high=1.0, low_open=True)
    _checks.positive_int(n_steps, "n_steps")
    _checks.number(delta, "delta", low=0.0, high=1.0, low_open=True, high_open=True)


def compute_epsilon(noise_multiplier, sampling_rate, n_steps, delta, accountant="rdp"):
    """epsilon such that T steps of DP-SGD with (sigma, q) are (epsilon, delta)-DP.

    accountant: "rdp" (Renyi DP, Mironov 2017) or "pld" (privacy loss distributions, tighter).
    noise_multiplier = 0 gives inf.
    """
    _check_accounting(sampling_rate, n_steps, delta)
    if noise_multiplier < 0:
        raise ValueError(f"noise_multiplier must be >= 0, got {noise_multiplier!r}")
    if noise_multiplier == 0:
        return float("inf")
    event = dp_sgd_event(noise_multiplier, sampling_rate, n_steps)
    return float(_make_accountant(accountant).compose(event).get_epsilon(delta))


def noise_multiplier_for_epsilon(target_epsilon, sampling_rate, n_steps, delta, accountant="rdp",
                                 tol=1e-4):
    """The smallest sigma (within ``tol``) whose T steps at rate q stay within (target_epsilon, delta).

    Solved by dp-accounting's ``calibrate_dp_mechanism`` (a bracket, then Brent's method on
    epsilon(sigma) - target, which falls as sigma grows). target_epsilon = inf gives 0.
    """
    _check_accounting(sampling_rate, n_steps, delta)
    if not target_epsilon > 0:
        raise ValueError(f"target_epsilon must be > 0, got {target_epsilon!r}")
    if np.isinf(target_epsilon):
        return 0.0
    dp = _dp_accounting()
    return float(dp.calibrate_dp_mechanism(
        lambda: _make_accountant(accountant),
        lambda sigma: dp_sgd_event(sigma, sampling_rate, n_steps),
        target_epsilon, delta,
        bracket_interval=dp.LowerEndpointAndGuess(0.1, 1.0),
        tol=tol,
    ))
