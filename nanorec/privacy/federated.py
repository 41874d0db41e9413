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
                over its user parameters and its local copy (b_loc, Q_loc) of the item parameters.
                With e = r - r_hat on every row (all right-hand sides read before the step):
                    b_u[u] += lr * (mean(e) - reg * b_u[u])
                    P[u]   += lr * (mean(e * Q_loc[i]) - reg * P[u])
                    b_loc[i] += lr / n_u * (e - reg * b_loc[i])
                    Q_loc[i] += lr / n_u * (e * P[u] - reg * Q_loc[i])
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

This is a simulation: every client runs in one process, vectorized with NumPy (the rows are
sorted by user, so a client's rows are one contiguous segment and per-client sums are
``np.add.reduceat``). At the end the fitted object gathers the user parameters so that it can be
evaluated and saved like any Recommender; in a deployment each row of P and b_u would stay on
its device.
"""

import numpy as np

from nanorec.models.fitting import check_finite_loss, check_number, check_positive_int, explicit_ratings
from nanorec.models.mf import BiasedMF


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
        for it (on MovieLens-100K, 100 with client_fraction 0.1: benchmarks/bench_privacy.py).
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
    global_mean_, user_bias_, item_bias_, user_factors_, item_factors_, rating_range_
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

    def _check_hyperparameters(self):
        for name in ("n_factors", "n_rounds", "local_epochs"):
            check_positive_int(self, name)
        for name in ("lr", "server_lr"):
            check_number(self, name, low_open=True)
        check_number(self, "reg")
        check_number(self, "init_std")
        check_number(self, "client_fraction", low_open=True)
        if self.client_fraction > 1:
            raise ValueError(f"FederatedMF: client_fraction must lie in (0, 1], got {self.client_fraction!r}")
        if np.dtype(self.dtype) not in (np.float32, np.float64):
            raise ValueError(f"FederatedMF: dtype must be np.float32 or np.float64, got {self.dtype!r}")

    def _fit(self, train, valid):
        self._check_hyperparameters()
        ratings = explicit_ratings(train, "train", "FederatedMF")
        if valid is not None:
            explicit_ratings(valid, "valid", "FederatedMF")
        rng = np.random.default_rng(self.random_state)
        dtype = np.dtype(self.dtype)
        self.global_mean_ = float(ratings.astype(np.float64).mean())
        self.rating_range_ = (float(ratings.min()), float(ratings.max()))
        self.user_factors_ = rng.normal(0.0, self.init_std, (self.n_users_, self.n_factors)).astype(dtype)
        self.item_factors_ = rng.normal(0.0, self.init_std, (self.n_items_, self.n_factors)).astype(dtype)
        self.user_bias_ = np.zeros(self.n_users_, dtype)
        self.item_bias_ = np.zeros(self.n_items_, dtype)
        rows_per_user = np.bincount(train.user_index, minlength=self.n_users_)
        self.user_factors_[rows_per_user == 0] = 0
        self.item_factors_[np.bincount(train.item_index, minlength=self.n_items_) == 0] = 0

        by_user = np.argsort(train.user_index, kind="stable")  # client u's rows: one segment
        users, items = train.user_index[by_user], train.item_index[by_user]
        ratings = ratings[by_user].astype(dtype)
        active = np.flatnonzero(rows_per_user)
        n_sampled = max(1, int(round(self.client_fraction * len(active))))
        self.history_ = {"loss": []}
        if valid is not None:
            self.history_["valid_rmse"] = []
        for round_number in range(self.n_rounds):
            clients = np.sort(rng.choice(active, n_sampled, replace=False))
            rows = np.flatnonzero(np.isin(users, clients))
            loss = self._run_round(users[rows], items[rows], ratings[rows])
            loss = check_finite_loss(self, round_number, loss)
            self.history_["loss"].append(loss)
            line = f"round {round_number + 1}/{self.n_rounds}  loss {loss:.5f}"
            if valid is not None:
                errors = valid.ratings - self.score_pairs(valid.user_index, valid.item_index)
                self.history_["valid_rmse"].append(float(np.sqrt(np.mean(errors**2))))
                line += f"  valid_rmse {self.history_['valid_rmse'][-1]:.5f}"
            if self.verbose:
                print(line, flush=True)
        self.best_epoch_ = self.n_rounds - 1

    def _run_round(self, users, items, ratings):
        """One round on the sampled clients' rows (sorted by user); returns the mean 1/2 e^2
        before local training. Updates b_u, P of the sampled users and b_i, Q in place."""
        starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])  # first row of each client
        clients = users[starts]
        rows_per_client = np.diff(np.r_[starts, len(users)])
        row_weight = np.repeat(1.0 / rows_per_client, rows_per_client).astype(ratings.dtype)  # 1 / n_u
        item_bias = self.item_bias_[items]  # the clients' local copies of the item parameters
        item_factors = self.item_factors_[items]
        for epoch in range(self.local_epochs):
            user_bias, user_factors = self.user_bias_[users], self.user_factors_[users]
            errors = ratings - (self.global_mean_ + user_bias + item_bias
                                + np.einsum("nk,nk->n", user_factors, item_factors))
            if epoch == 0:
                loss = float(np.mean(0.5 * errors**2))
            weighted = row_weight * errors  # e / n_u: per-client means are segment sums
            mean_error = np.add.reduceat(weighted, starts)
            mean_error_q = np.add.reduceat(weighted[:, None] * item_factors, starts, axis=0)
            item_bias = item_bias + self.lr * row_weight * (errors - self.reg * item_bias)
            item_factors = item_factors + self.lr * row_weight[:, None] * (
                errors[:, None] * user_factors - self.reg * item_factors)
            self.user_bias_[clients] += self.lr * (mean_error - self.reg * self.user_bias_[clients])
            self.user_factors_[clients] += self.lr * (mean_error_q - self.reg * self.user_factors_[clients])
        # FedAvg: the weight n_u / n_S of client u times its delta, summed per item
        client_weight = (self.server_lr / len(users)) / row_weight  # server_lr * n_u / n_S per row
        self.item_bias_ += _sum_by_index(items, client_weight * (item_bias - self.item_bias_[items]),
                                         self.n_items_)
        self.item_factors_ += _sum_by_index(
            items, client_weight[:, None] * (item_factors - self.item_factors_[items]), self.n_items_)
        return loss


def _sum_by_index(index, values, size):
    """Rows of ``values`` (n,) or (n, K) summed by ``index`` (n,) into (size,) or (size, K)."""
    if values.ndim == 1:
        return np.bincount(index, weights=values, minlength=size).astype(values.dtype)
    columns = [np.bincount(index, weights=values[:, k], minlength=size) for k in range(values.shape[1])]
    return np.stack(columns, axis=1).astype(values.dtype)
