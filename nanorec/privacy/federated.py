"""Federated matrix factorization: every user is a client that keeps its own ratings and factors.

Model        BiasedMF's prediction r_hat[u, i] = mu + b_u[u] + b_i[i] + P[u] . Q[i]
Who holds    client u: its n_u ratings R_u and its user parameters (b_u[u], P[u]), which never
what         leave it. The server: the item parameters (b_i, Q) and mu.
Client loss  F_u = (1 / n_u) * sum over (i, r) in R_u of
                 1/2 (r - r_hat[u, i])^2 + reg / 2 (b_u[u]^2 + |P[u]|^2 + b_i[i]^2 + |Q[i]|^2)
Round        1. The server samples m = max(1, round(client_fraction * U_active)) of the U_active
                clients that have ratings, without replacement, and sends each one the item
                parameters of the items it rated.
             2. Each sampled client takes local_epochs full-batch gradient steps of size lr on F_u,
                over its user parameters and its local copy (b_loc, Q_loc) of the item parameters:
                the steps of BiasedMFNetwork trained by SGD(lr) on its rows, with each row's loss
                and penalty weighted 1 / n_u (``_client_round``).
                It sends back only its item update delta_u = (b_loc, Q_loc) - (b_i, Q).
             3. FedAvg: the server applies the average of the updates weighted by client rows,
                    (b_i, Q) += server_lr * sum over sampled u of (n_u / n_S) * delta_u,
                with n_S the rows of the sampled clients (an item a client did not rate has
                delta_u = 0 there).
Equivalence  With client_fraction = 1, local_epochs = 1 and server_lr = 1 a round is one step of
             full-batch gradient descent on F = sum_u (n_u / N) F_u, the mean of the N per-rating
             terms (McMahan et al.'s FedSGD): step lr on the item parameters, since the weights
             n_u / N cancel the 1 / n_u of each F_u, and step lr * N / n_u on user u's parameters,
             since dF/dP[u] = (n_u / N) dF_u/dP[u] (each client descends its own mean loss).
mu           The mean train rating, which the server gets from each client's rating sum and
             count (in a deployment through secure aggregation); so is the rating range used to
             clip predictions. Neither is learned.
Init         P, Q ~ N(0, init_std^2), b_u = b_i = 0; users and items without ratings keep zero
             factors, as in BiasedMF.
Reference    McMahan et al. (2017), "Communication-efficient learning of deep networks from
             decentralized data"; Chai et al. (2020), "Secure federated matrix factorization"
             (users as clients, item gradients sent to the server).

This is a simulation: the sampled clients of a round run in one process, side by side in one
network whose user table has a row per client and whose item tables have a row per rating (each
client's local copy: a client rates an item at most once), so no client's step touches another's
parameters. At the end the fitted object gathers the user parameters so that it can be evaluated
and saved like any Recommender; in a deployment each row of P and b_u would stay on its device.
"""

import numpy as np

from nanorec import _checks
from nanorec.models.base import explicit_ratings, register
from nanorec.models.mf import BiasedMF, BiasedMFNetwork
from nanorec.nn.losses import MSELoss
from nanorec.optim.optimizers import SGD
from nanorec.training import Batch, train_step


@register("federated-mf", "BiasedMF by federated averaging: one client per user",
          needs=("ratings",))
class FederatedMF(BiasedMF):
    """BiasedMF trained by federated averaging, one client per user (see the module docstring).

    Shapes: P (U, K), Q (I, K), b_u (U,), b_i (I,) with K = n_factors.

    Parameters
    ----------
    n_factors : int
        K.
    n_rounds : int
        Communication rounds.
    client_fraction : float in (0, 1]
        Share of the clients with ratings sampled in each round.
    local_epochs : int
        Full-batch gradient steps each sampled client takes on its own rows per round.
    lr : float
        Client step size (on the mean loss F_u, so larger than BiasedMF's per-rating lr).
    server_lr : float
        Multiplier of the averaged item update (1 = plain FedAvg). With one client per user an
        item is rated by few of the sampled clients, so the row-weighted average shrinks its step
        by about n_i / n_S (its rows among the sampled rows); a server_lr of 10 to 100 makes up
        for it (benchmarks/bench_privacy.py).
    reg : float
        L2 regularization of every per-rating term.
    init_std : float
    random_state : int
        Seed of the initial factors and of the clients sampled in each round.
    dtype : np.float32 or np.float64
    clip : bool
        Clip ``predict`` to the train rating range, as BiasedMF.
    verbose : bool

    Attributes
    ----------
    network_, global_mean_, user_bias_, item_bias_, user_factors_, item_factors_, rating_range_
        As BiasedMF.
    history_ : dict of lists
        "loss": mean over the sampled clients' rows of 1/2 e^2 at the start of each round;
        "valid_rmse" after each round when ``fit(train, valid)``.
    """

    def __init__(self, n_factors=20, n_rounds=100, client_fraction=0.1, local_epochs=1, lr=0.5,
                 server_lr=1.0, reg=0.02, init_std=0.1, random_state=0, dtype=np.float64,
                 clip=True, verbose=False):
        self.n_factors = n_factors
        self.n_rounds = n_rounds
        self.client_fraction = client_fraction
        self.local_epochs = local_epochs
        self.lr = lr
        self.server_lr = server_lr
        self.reg = reg
        self.init_std = init_std
        self.random_state = random_state
        self.dtype = dtype
        self.clip = clip
        self.verbose = verbose

    def _check_hyperparameters(self, valid):
        name = "FederatedMF"
        self._check_common(valid)
        for attribute in ("n_factors", "n_rounds", "local_epochs"):
            _checks.positive_int(getattr(self, attribute), attribute, name)
        _checks.positive(self.server_lr, "server_lr", name)
        _checks.non_negative(self.init_std, "init_std", name)
        _checks.number(self.client_fraction, "client_fraction", name, low=0.0, high=1.0,
                       low_open=True)

    def _fit(self, train, valid):
        self._check_hyperparameters(valid)
        ratings = explicit_ratings(train, "train", "FederatedMF")
        if valid is not None:
            explicit_ratings(valid, "valid", "FederatedMF")
        rng = np.random.default_rng(self.random_state)
        self.global_mean_ = float(ratings.astype(np.float64).mean())
        self.rating_range_ = (float(ratings.min()), float(ratings.max()))
        self.network_ = self._build_network(rng)
        rows_per_user = np.bincount(train.user_index, minlength=self.n_users_)
        self.user_factors_[rows_per_user == 0] = 0
        self.item_factors_[np.bincount(train.item_index, minlength=self.n_items_) == 0] = 0

        by_user = np.argsort(train.user_index, kind="stable")  # client u's rows: one segment
        users, items = train.user_index[by_user], train.item_index[by_user]
        ratings = ratings[by_user].astype(self.dtype)
        active = np.flatnonzero(rows_per_user)
        n_sampled = max(1, int(round(self.client_fraction * len(active))))

        def run_round():
            clients = np.sort(rng.choice(active, n_sampled, replace=False))
            rows = np.flatnonzero(np.isin(users, clients))
            return self._client_round(users[rows], items[rows], ratings[rows])

        self._run_epochs(run_round, train, valid, self.n_rounds, [])

    def _client_round(self, users, items, ratings):
        """One round on the sampled clients' rows (sorted by user): their local steps, then
        FedAvg. Returns the mean 1/2 e^2 before local training.

        The clients train side by side in one BiasedMFNetwork: user row c is client c, item row n
        is the local copy of row n's item. Row n of client u weighs w_n = 1 / n_u: MSELoss with
        weight N w_n / 2 gives each row the gradient w_n dl/dr_hat, and ``penalty`` adds
        reg w_n times each row it reads, so every client steps on its own F_u.
        """
        starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])  # first row of each client
        clients = users[starts]
        rows_per_client = np.diff(np.r_[starts, len(users)])
        weight = np.repeat(1.0 / rows_per_client, rows_per_client)  # 1 / n_u
        n = len(users)
        local = BiasedMFNetwork(len(clients), n, self.n_factors, self.global_mean_, init_std=0.0,
                                dtype=self.dtype)
        local.table("user_factors")[...] = self.user_factors_[clients]
        local.table("user_bias")[...] = self.user_bias_[clients]
        local.table("item_factors")[...] = self.item_factors_[items]
        local.table("item_bias")[...] = self.item_bias_[items]
        batch = Batch((np.repeat(np.arange(len(clients)), rows_per_client), np.arange(n)),
                      ratings[:, None], n / 2 * weight)

        def penalty(network, batch):
            for name, grad in network.grads.items():
                rows, values = grad.rows, grad.values  # one per example, in order
                grad.clear()
                grad.add(rows, values + self.reg * weight[:, None] * network.params[name][rows])

        optimizer = SGD(local, lr=self.lr)
        for step in range(self.local_epochs):  # a local epoch is one full-batch step
            _, pred = train_step(local, MSELoss(), optimizer, batch, penalty)
            if step == 0:
                loss = float(np.mean(0.5 * (pred[:, 0] - ratings) ** 2))
        self.user_factors_[clients] = local.table("user_factors")
        self.user_bias_[clients] = local.table("user_bias")
        # FedAvg: the weight n_u / n_S of client u times its delta, summed per item
        client_weight = self.server_lr / (n * weight)  # server_lr * n_u / n_S per row
        delta_bias = local.table("item_bias") - self.item_bias_[items]
        delta_factors = local.table("item_factors") - self.item_factors_[items]
        self.item_bias_[...] += _sum_by_index(items, client_weight * delta_bias, self.n_items_)
        self.item_factors_[...] += _sum_by_index(items, client_weight[:, None] * delta_factors,
                                                 self.n_items_)
        return loss

    def finetune(self, train, n_epochs=1):
        raise NotImplementedError("FederatedMF cannot be fine-tuned centrally: the server holds "
                                  "no ratings; run more rounds by fitting again")


def _sum_by_index(index, values, size):
    """Rows of ``values`` (n,) or (n, K) summed by ``index`` (n,) into (size,) or (size, K)."""
    if values.ndim == 1:
        return np.bincount(index, weights=values, minlength=size).astype(values.dtype)
    columns = [np.bincount(index, weights=values[:, k], minlength=size) for k in range(values.shape[1])]
    return np.stack(columns, axis=1).astype(values.dtype)
