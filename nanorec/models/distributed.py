"""BiasedMF trained by stratified distributed SGD (DSGD), serially or on a Dask cluster.

Blocks       the users are cut into d groups and the items into d groups (d = n_blocks): the ids
             are shuffled with a seed, then cut where the running count of train ratings passes
             n/d, 2n/d, ..., so that each group holds about n/d of the n ratings (and at least
             one id). Block (a, b) holds the ratings of user group a on item group b.
Strata       stratum s (s = 0 .. d-1) is the d blocks (a, (a + s) mod d), a = 0 .. d-1: no two
             share a user group or an item group, so their SGD steps read and write disjoint rows
             of P, b_u, Q and b_i and can run at the same time; the d strata cover all d * d blocks.
Epoch        the d strata in a new random order; each sub-epoch runs the d blocks of one stratum,
             each with BiasedMF's fused kernel (``biased_mf_epoch_nb``) over its own ratings,
             user by user in a random order (``UserBlocks``, seeded by (seed, epoch, block)) on
             the rows of its groups (user biases travel with P's rows, item biases with Q's).
             mu is the global train mean, fixed, as in BiasedMF.
             Between sub-epochs each item group's rows move on to the block of the next stratum
             that needs them; a user group's rows stay with the worker of its blocks.
Same steps   an epoch is one SGD pass over every rating in one order: stratum by stratum, block by
             block, each block in its own order (``StratifiedPlan.order(epoch)``; iterating an epoch
             gives these steps to the composed network, ``fused=False``; a test holds them
             equal). Since the
             blocks of a stratum touch disjoint rows, running them at once, anywhere, changes no
             bit: the serial schedule (``client=None``) and a cluster's give the same model.
Reference    Gemulla, Nijkamp, Haas & Sismanis (2011), "Large-scale matrix factorization with
             distributed stochastic gradient descent", KDD.

Dask (``pip install "nanorec[parallel]"``) is imported only when a client is given. The ratings
of a block are sent once per fit to the worker of its user group (group a -> worker a mod W), and
so are the groups' rows; each epoch submits its d * d block tasks, stratum after stratum (each
waits only for the rows it reads), and brings back only the epoch's loss; the rows come back
when the fit ends (after every epoch when fit has validation data, for validation and early
stopping).
"""

import itertools
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from nanorec import _checks
from nanorec.models.base import register, tail_weights
from nanorec.models.mf import BiasedMF, UserBlocks
from nanorec.models.mf_kernels import biased_mf_epoch_nb
from nanorec.training import Samples

PARALLEL_EXTRA = 'pip install "nanorec[parallel]"'


class Block(NamedTuple):
    """The ratings of one block (a, b), grouped by user as ``UserBlocks`` groups them.

    users, items : int arrays (m,), ids local to the groups: row r of the block is the rating of
        user user_groups[a][users[r]] on item item_groups[b][items[r]]
    ratings : (m,);  weights : (m,) in the parameters' dtype, or None (all 1)
    user_blocks : UserBlocks of ``users`` (its rows already applied to the arrays)
    """

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    weights: object
    user_blocks: UserBlocks


def block_epoch(block, user_result, item_part, seed, mu, lr, reg, copy=True):
    """One block's SGD pass: BiasedMF's kernel over ``block``'s ratings in the order its
    ``user_blocks`` draws from np.random.default_rng(seed).

    user_result : (user_part, _), the result of user group a's previous block, or (its first
        user_part, None); user_part = (P_a (U_a, K), b_u_a (U_a,), sses), the group's rows and
        the sums of squared errors of its blocks since the rows were sent. (The user rows stay
        on their worker, so the next block of the group takes the whole result; only the item
        part travels on.)
    item_part : (Q_b (I_b, K), b_i_b (I_b,))
    Returns (user_part, item_part) updated, the block's sum of w e^2 appended to sses. With
    ``copy`` the arrays given are left as they are (a Dask task must not change its inputs);
    without, they are updated in place.
    """
    P, bu, sses = user_result[0]
    Q, bi = item_part
    if copy:
        P, bu, Q, bi = (np.array(array) for array in (P, bu, Q, bi))
    order = block.user_blocks.order(np.random.default_rng(seed))
    sse = biased_mf_epoch_nb(block.users, block.items, block.ratings, order, mu, bu, bi, P, Q,
                             lr, reg, block.weights)
    return (P, bu, (*sses, sse)), (Q, bi)


class StratifiedPlan:
    """The blocks of a train set and the order of an epoch's SGD steps (see the module docstring).

    Parameters
    ----------
    train : Interactions with ratings
    n_blocks : int
        d, in [1, min(U, I)].
    seed : int
        Seeds the groups, the row order within users, and (with the epoch) the strata and blocks.
    weights : (n,) array or None
        Each train row's loss weight w (None: all 1).

    Attributes
    ----------
    user_groups, item_groups : lists of d sorted int arrays, the ids of each group
    n_rows : int, the train rows
    blocks : d x d list of Block;  rows : d x d list of int arrays, the train rows of each block
        (rows[a][b][r] is row r of blocks[a][b])
    """

    def __init__(self, train, n_blocks, seed, weights=None):
        rng = np.random.default_rng([seed, 0])
        self.n_blocks, self.seed, self.n_rows = n_blocks, seed, len(train)
        self.user_groups, user_group, user_local = _groups(train.user_index, train.n_users,
                                                          n_blocks, rng)
        self.item_groups, item_group, item_local = _groups(train.item_index, train.n_items,
                                                          n_blocks, rng)
        block_of_row = user_group[train.user_index] * n_blocks + item_group[train.item_index]
        by_block = np.argsort(block_of_row, kind="stable")
        starts = np.searchsorted(block_of_row[by_block], np.arange(n_blocks * n_blocks + 1))
        self.blocks = [[] for _ in range(n_blocks)]
        self.rows = [[] for _ in range(n_blocks)]
        for a in range(n_blocks):
            for b in range(n_blocks):
                rows = by_block[starts[a * n_blocks + b]: starts[a * n_blocks + b + 1]]
                users = user_local[train.user_index[rows]]
                grouped = UserBlocks(users, len(self.user_groups[a]), rng)
                rows = rows[grouped.rows]
                self.rows[a].append(rows)
                self.blocks[a].append(Block(
                    users[grouped.rows], item_local[train.item_index[rows]], train.ratings[rows],
                    None if weights is None else weights[rows], grouped))

    def strata(self, epoch):
        """The shifts s of the d strata in epoch ``epoch``'s order (stratum s: blocks (a, a+s))."""
        return np.random.default_rng([self.seed, 1, epoch]).permutation(self.n_blocks)

    def block_seed(self, epoch, a, b):
        """The seed of block (a, b)'s order in epoch ``epoch``."""
        return [self.seed, 2, epoch, a, b]

    def schedule(self, epoch):
        """Epoch ``epoch``'s blocks in their order: (a, b, seed) stratum by stratum."""
        d = self.n_blocks
        return [(a, (a + s) % d, self.block_seed(epoch, a, (a + s) % d))
                for s in self.strata(epoch) for a in range(d)]

    def order(self, epoch):
        """(n,) int64: the train rows in the order epoch ``epoch`` visits them."""
        return np.concatenate([
            self.rows[a][b][self.blocks[a][b].user_blocks.order(np.random.default_rng(seed))]
            for a, b, seed in self.schedule(epoch)])


def _groups(index, n_ids, n_blocks, rng):
    """Shuffle ids 0 .. n_ids-1 and cut them into n_blocks groups of about equal rating counts.

    Returns (groups: list of sorted id arrays, group (n_ids,): each id's group,
    local (n_ids,): each id's position in its group).
    """
    shuffled = rng.permutation(n_ids)
    running = np.cumsum(np.bincount(index, minlength=n_ids)[shuffled])
    targets = running[-1] * np.arange(1, n_blocks) / n_blocks
    cuts = [0]
    for k, cut in enumerate(np.searchsorted(running, targets, side="right"), start=1):
        cuts.append(min(max(int(cut), cuts[-1] + 1), n_ids - (n_blocks - k)))  # none empty
    cuts.append(n_ids)
    groups = [np.sort(shuffled[start:end]) for start, end in zip(cuts[:-1], cuts[1:])]
    group, local = np.empty(n_ids, dtype=np.int64), np.empty(n_ids, dtype=np.int64)
    for g, ids in enumerate(groups):
        group[ids], local[ids] = g, np.arange(len(ids))
    return groups, group, local


@dataclass(frozen=True)
class StratifiedEpoch:
    """What ``draw()`` gives for one epoch: the plan, the epoch number and where the blocks run.

    Iterated, it yields the composed network's steps (one rating at a time, in the plan's order).
    """

    plan: StratifiedPlan
    epoch: int
    runner: object
    samples: Samples  # the train arrays, whose order is filled in when iterated

    def __iter__(self):
        return iter(self.samples._replace(order=self.plan.order(self.epoch)).batches())


def item_part(result):
    """The item part of a block's result (what moves on to the next stratum)."""
    return result[1]


def block_sums(user_result):
    """The sums of squared errors a user group's blocks left so far."""
    return user_result[0][2]


class Runner:
    """Where the blocks run, and the groups' rows between epochs.

    A subclass gives ``blocks`` (d x d, the plan's or handles to them) and four primitives:
    send(parts, groups) -> handles, part k placed with user group groups[k]; call(a, function,
    *args) -> handle of function(*args) run with user group a; gather(handles) -> values; close().
    ``users``, ``items``: the handles of the groups' rows once sent, None when the model's tables
    hold the latest values (``pull`` writes them back).
    """

    copy = True  # whether block tasks copy their inputs
    users = items = None

    def __init__(self, plan):
        self.plan = plan

    def run_epoch(self, tables, epoch, step):
        """One epoch's blocks, stratum by stratum, from the rows last sent (sent now from
        ``tables`` = (P, b_u, Q, b_i) if none are out); returns the epoch's sum of w e^2, summed
        stratum by stratum, block by block."""
        plan, d = self.plan, self.plan.n_blocks
        schedule = plan.schedule(epoch)
        if self.users is None:
            P, bu, Q, bi = tables
            first_user = [a for a, _, _ in sorted(schedule[:d], key=lambda block: block[1])]
            parts = self.send([((P[ids], bu[ids], ()), None) for ids in plan.user_groups]
                              + [(Q[ids], bi[ids]) for ids in plan.item_groups],
                              [*range(d), *first_user])  # item group b goes where it starts
            self.users, self.items = parts[:d], parts[d:]
        users, items = self.users, self.items
        for a, b, seed in schedule:
            users[a] = self.call(a, block_epoch, self.blocks[a][b], users[a], items[b], seed,
                                 *step, self.copy)
            items[b] = self.call(a, item_part, users[a])
        sums = self.gather([self.call(a, block_sums, users[a]) for a in range(d)])
        # the s-th stratum's block of user group a left the s-th of a's last d sums
        return sum(sums[a][s - d] for s in range(d) for a in range(d))

    def pull(self, tables):
        """Write the rows out on the runner into ``tables`` (P, b_u, Q, b_i)."""
        if self.users is None:
            return
        d, (P, bu, Q, bi) = self.plan.n_blocks, tables
        parts = self.gather(self.users + self.items)  # one round trip
        for ids, ((P_a, bu_a, _), _) in zip(self.plan.user_groups, parts[:d]):
            P[ids], bu[ids] = P_a, bu_a
        for ids, (Q_b, bi_b) in zip(self.plan.item_groups, parts[d:]):
            Q[ids], bi[ids] = Q_b, bi_b
        self.users = self.items = None


class SerialRunner(Runner):
    """Runs each call at once, in this process; block tasks update the rows in place."""

    copy = False

    def __init__(self, plan):
        super().__init__(plan)
        self.blocks = plan.blocks

    def send(self, parts, groups):
        return parts

    def call(self, a, function, *args):
        return function(*args)

    def gather(self, handles):
        return handles

    def close(self):
        pass


class DaskRunner(Runner):
    """Runs calls on a dask.distributed cluster, user group a's on worker a mod W, where its
    blocks' ratings were sent once; the rows go from task to task as futures (per block a task,
    and one that splits off its item part)."""

    def __init__(self, plan, client):
        super().__init__(plan)
        self.client, self.own = client, isinstance(client, str)
        if self.own:
            from distributed import Client

            self.client = Client(client)
        # nthreads(): its own answer (scheduler_info() returns a cache that a periodic update
        # may have just emptied of workers)
        self.workers = sorted(self.client.nthreads())
        if not self.workers:
            raise RuntimeError("DSGDBiasedMF: the Dask cluster has no workers")
        self.blocks = [self.client.scatter(plan.blocks[a], workers=self._worker(a), hash=False)
                       for a in range(plan.n_blocks)]

    def _worker(self, group):
        return [self.workers[group % len(self.workers)]]

    def send(self, parts, groups):
        """One scatter per worker."""
        futures = [None] * len(parts)
        for worker in self.workers:
            mine = [k for k, group in enumerate(groups) if self._worker(group) == [worker]]
            if mine:  # fewer groups than workers: some get none
                sent = self.client.scatter([parts[k] for k in mine], workers=[worker], hash=False)
                for k, future in zip(mine, sent):
                    futures[k] = future
        return futures

    def call(self, a, function, *args):
        return self.client.submit(function, *args, pure=False, workers=self._worker(a))

    def gather(self, handles):
        return self.client.gather(handles)

    def close(self):
        if self.own:
            self.client.close()


@register("dsgd-biased-mf", "BiasedMF by stratified distributed SGD (DSGD; Dask)",
          needs=("ratings",))
class DSGDBiasedMF(BiasedMF):
    """BiasedMF trained by stratified distributed SGD over d x d blocks (the module docstring).

    Prediction, objective, SGD step, init, save/load, predict and recommend are BiasedMF's; only
    the order of the SGD steps differs: stratum by stratum, so that the d blocks of a stratum can
    run on d workers at once. Without a client the same schedule runs in this process and gives
    the cluster's model bit for bit. With n_blocks = 1 the one block is every rating, visited
    user by user as BiasedMF does, but not in BiasedMF's random order: BiasedMF draws its orders
    from the one generator that drew the initial factors, DSGD each block's from (seed, epoch,
    block), so that a worker needs no shared stream.

    Parameters
    ----------
    n_factors, n_epochs, lr, reg, tail_weight, init_std, random_state, dtype, early_stopping,
    clip, fused, verbose
        As BiasedMF. ``fused=False`` takes the same steps through the composed network, in this
        process (slow; the reference).
    n_blocks : int
        d, the user and item groups; d <= the number of users and of items.
    client : dask.distributed.Client, str or None
        Where the blocks run: a Client, a scheduler address ("tcp://host:port", connected for the
        fit), or None (in this process). Not saved with the model.

    Attributes
    ----------
    As BiasedMF.
    """

    def __init__(self, n_factors=100, n_epochs=20, lr=0.005, reg=0.02, tail_weight=0.0,
                 init_std=0.1, random_state=0, dtype=np.float32, early_stopping=None, clip=True,
                 fused=True, verbose=False, n_blocks=2, client=None):
        super().__init__(n_factors, n_epochs, lr, reg, tail_weight, init_std, random_state, dtype,
                         early_stopping, clip, fused, verbose)
        self.n_blocks = n_blocks
        self.client = client

    def _check_hyperparameters(self, valid):
        super()._check_hyperparameters(valid)
        name = type(self).__name__
        _checks.positive_int(self.n_blocks, "n_blocks", name)
        if self.n_blocks > min(self.n_users_, self.n_items_):
            raise ValueError(
                f"{name}: n_blocks = {self.n_blocks} exceeds the {self.n_users_} users or the "
                f"{self.n_items_} items: each of the d user groups and d item groups needs an id")
        client = self.client
        if not (client is None or isinstance(client, str)
                or (hasattr(client, "submit") and hasattr(client, "scatter"))):
            raise ValueError(f"{name}: client must be a dask.distributed Client, a scheduler "
                             f"address or None, got {type(client).__name__}")

    def _train(self, train, valid, n_epochs):
        # without validation nothing reads the tables between epochs: the rows stay on the
        # runner until the fit ends
        self._pull_every_epoch, self._runner = valid is not None, None
        try:
            super()._train(train, valid, n_epochs)
            if self._runner is not None:
                self._runner.pull(self._tables())
        finally:  # _training_data opened it
            if self._runner is not None:
                self._runner.close()
                self._runner = None

    def _tables(self):
        return self.user_factors_, self.user_bias_, self.item_factors_, self.item_bias_

    def _training_data(self, train):
        """Each epoch: a StratifiedEpoch (its blocks, or iterated, its steps one rating each)."""
        weights = tail_weights(train, self.tail_weight).astype(self.dtype)  # ones for 0
        self._plan = plan = StratifiedPlan(train, self.n_blocks, int(self._rng.integers(2**62)),
                                           None if self.tail_weight == 0 else weights)
        self._runner = None  # the composed network (fused=False) runs in this process
        if self.fused:
            self._runner = SerialRunner(plan) if self.client is None \
                else _dask_runner(plan, self.client)
        samples = Samples((train.user_index, train.item_index), train.ratings[:, None],
                          0.5 * weights, None, 1)  # MSELoss's weight w / 2: the step w e
        epochs = itertools.count()
        return lambda: StratifiedEpoch(plan, next(epochs), self._runner, samples)

    def _fused_epoch(self, samples, optimizer):
        runner = samples.runner
        sse = runner.run_epoch(self._tables(), samples.epoch, (self.global_mean_, self.lr,
                                                                self.reg))
        if self._pull_every_epoch:
            runner.pull(self._tables())
        return sse / (2 * samples.plan.n_rows)

    def _state(self, metadata=None):
        arrays, header = super()._state(metadata)
        header["params"]["client"] = None  # where it was trained is not part of the model
        return arrays, header


def _dask_runner(plan, client):
    try:
        import distributed  # noqa: F401
    except ImportError as error:
        raise ImportError(f"DSGDBiasedMF(client=...) runs its blocks on Dask, which is not "
                          f"installed: {PARALLEL_EXTRA}, or use client=None") from error
    return DaskRunner(plan, client)
