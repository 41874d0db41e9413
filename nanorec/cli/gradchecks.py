"""``nanorec gradcheck [NAME|all] [--directional K]``: check every hand-written backward against
finite differences.

Each entry of CASES builds, from a seeded generator, a small float64 layer or loss with inputs
that fit it; each registered network model adds "<model>-network": the model fitted small in
float64 on a tiny log, its network and loss checked end to end on a batch of its own training
data (nanorec.testing.verify). nanorec.testing.gradcheck compares the backward with centred
differences (see that module for f, h, the relative error and kinks). Inputs sit on kinks too,
since gradcheck handles them: a third of the ReLU and LeakyReLU inputs are within h/2 of 0, and
the input to the max over time ties every line's maximum. Needs numpy and numba only (the
hypothesis strategies of nanorec.testing draw many more shapes, in the test suite).

``--directional K`` checks each array of the layers, losses and model networks along K random
unit directions instead of entry by entry (gradcheck's directional mode), and the table's last
line bounds the chance that an error of 1% passed them all.
"""

import numpy as np

from nanorec.cli.common import REGISTRY, positive_int
from nanorec.models.base import NetworkRecommender
from nanorec.nn.activations import LeakyReLU, ReLU, Sigmoid, Tanh
from nanorec.nn.conv import Conv1d, MaxOverTime, VerticalConv
from nanorec.nn.layers import (
    Add,
    Concatenate,
    Dense,
    Dot,
    Dropout,
    Embedding,
    ItemScores,
    Multiply,
    PairScores,
    ProfileMatch,
    SparseDense,
    SparseRows,
)
from nanorec.nn.losses import (
    BCELoss,
    BCEWithLogitsLoss,
    BPRLoss,
    MaskedLoss,
    MSELoss,
    SoftmaxCrossEntropyLoss,
)
from nanorec.nn.recurrent import RNN
from nanorec.testing.gradcheck import DEFAULT_H, gradcheck
from nanorec.testing.verify import network_gradcheck, small_model, tiny_data

HELP = "check the gradients of the engine's layers, losses and model networks"
F64 = np.float64
N = 4  # batch size of every case


def _on_kinks(rng, shape):
    """Standard normal entries, a third of them within h/2 of 0 (ReLU's kink), the first 0."""
    x = rng.standard_normal(shape)
    on_kink = rng.random(shape) < 1 / 3
    x[on_kink] = rng.uniform(-DEFAULT_H / 2, DEFAULT_H / 2, on_kink.sum())
    x.flat[0] = 0.0
    return x


def _with_ties(rng, shape):
    """Standard normal (N, T, C) entries whose step 1 equals the maximum over the steps: a tie
    in every line (n, :, c) whose maximum is elsewhere."""
    x = rng.standard_normal(shape)
    x[:, 1, :] = x.max(axis=1)
    return x


def _ids(rng, n_rows, shape=(N,)):
    return rng.integers(0, n_rows, shape)


def _pair(rng, shape=(N, 3)):
    return rng.standard_normal(shape), rng.standard_normal(shape)


# name -> rng -> (layer or loss; its inputs as a tuple)
CASES = {
    "dense": lambda rng: (Dense(3, 2, rng=rng, dtype=F64), (rng.standard_normal((N, 3)),)),
    "sigmoid": lambda rng: (Sigmoid(), (rng.standard_normal((N, 3)),)),
    "tanh": lambda rng: (Tanh(), (rng.standard_normal((N, 3)),)),
    "relu": lambda rng: (ReLU(), (_on_kinks(rng, (N, 3)),)),
    "leaky-relu": lambda rng: (LeakyReLU(0.1), (_on_kinks(rng, (N, 3)),)),
    "embedding": lambda rng: (Embedding(5, 3, rng=rng, dtype=F64), (_ids(rng, 5),)),
    "dropout": lambda rng: (Dropout(0.3, rng=rng), (rng.standard_normal((N, 3)),)),
    "dot": lambda rng: (Dot(), (_pair(rng),)),
    "multiply": lambda rng: (Multiply(), (_pair(rng),)),
    "add": lambda rng: (Add(), (_pair(rng),)),
    "concatenate": lambda rng: (Concatenate(), (_pair(rng),)),
    "conv1d": lambda rng: (Conv1d(2, 3, width=2, rng=rng, dtype=F64),
                           (rng.standard_normal((N, 5, 2)),)),
    "max-over-time": lambda rng: (MaxOverTime(), (_with_ties(rng, (N, 5, 2)),)),
    "vertical-conv": lambda rng: (VerticalConv(5, 3, rng=rng, dtype=F64),
                                  (rng.standard_normal((N, 5, 2)),)),
    "item-scores": lambda rng: (ItemScores(6, 3, init_std=1.0, rng=rng, dtype=F64),
                                ((rng.standard_normal((N, 3)), _ids(rng, 6, (N, 4))),)),
    "sparse-dense": lambda rng: (SparseDense(4, 2, rng=rng, dtype=F64),
                                 (SparseRows(np.array([0, 2, 2, 3]), np.array([0, 3, 1]),
                                             rng.standard_normal(3), 4),)),
    "pair-scores": lambda rng: (PairScores(5, 3, rng=rng, dtype=F64),
                                ((rng.standard_normal((N, 3)), _ids(rng, N, (6,)),
                                  _ids(rng, 5, (6,))),)),
    "profile-match": lambda rng: (ProfileMatch(), ((*_pair(rng), rng.standard_normal((N, 2))),)),
    "rnn": lambda rng: (RNN(2, 3, return_sequences=True, rng=rng, dtype=F64),
                        (rng.uniform(-1, 1, (N, 4, 2)),)),
    "mse-loss": lambda rng: (MSELoss(), (rng.standard_normal((N, 3)), rng.standard_normal((N, 3)))),
    "bce-loss": lambda rng: (BCELoss(), (rng.uniform(0.1, 0.9, (N, 1)),
                                         rng.integers(0, 2, (N, 1)).astype(F64))),
    "bce-with-logits-loss": lambda rng: (BCEWithLogitsLoss(),
                                         (rng.standard_normal((N, 1)),
                                          rng.integers(0, 2, (N, 1)).astype(F64),
                                          rng.uniform(0.5, 2.0, N))),
    "softmax-cross-entropy": lambda rng: (SoftmaxCrossEntropyLoss(),
                                          (rng.standard_normal((N, 3)), _ids(rng, 3))),
    "softmax-ce-per-step": lambda rng: (
        SoftmaxCrossEntropyLoss(ignore_index=-1),
        (rng.standard_normal((N, 3, 5)), rng.integers(-1, 5, (N, 3)))),
    "bpr-loss": lambda rng: (BPRLoss(), (rng.standard_normal((N, 2)),)),
    "masked-loss": lambda rng: (MaskedLoss(MSELoss()),
                                (rng.standard_normal((N, 3)), rng.standard_normal((N, 3)),
                                 rng.integers(0, 2, (N, 3)).astype(F64))),
}
# "<model>-network" -> the registered network model checked end to end
NETWORKS = {f"{name}-network": model_class for name, model_class in REGISTRY.items()
            if issubclass(model_class, NetworkRecommender)}


def run_checks(names, seed=0, directions=None):
    """[(name, GradcheckReport)] for the named CASES (each built from default_rng((seed, i)))
    and NETWORKS (fitted on tiny_data(seed)); given ``directions``, each is checked in
    directional mode along that many directions per array."""
    options = {} if directions is None else {"mode": "directional", "directions": directions}
    reports = []
    for position, name in enumerate(names):
        if name in NETWORKS:
            train, _ = tiny_data(seed)
            model = small_model(NETWORKS[name], random_state=seed).fit(train)
            reports.append((name, network_gradcheck(model, train, **options)))
        else:
            target, inputs = CASES[name](np.random.default_rng((seed, position)))
            reports.append((name, gradcheck(target, *inputs, seed=seed, **options)))
    return reports


def report_table(reports):
    """The table: name, max abs error, max rel error, entries that passed on a kink, PASS/FAIL,
    under a line saying how; in directional mode a last line bounds the chance that a 1% error
    passed."""
    first = reports[0][1]
    how = (f"{first.directions} random directions per array (float64, h chosen per array"
           if first.mode == "directional" else f"centred differences (float64, h={first.h:g}")
    lines = [f"gradient check: backward vs {how}, pass if rel error < {first.tol:g})",
             f"  {'name':<24}{'max abs error':>14}{'max rel error':>15}{'kinks':>7}  result"]
    for name, report in reports:
        max_abs = max((row.max_abs_error for row in report.rows), default=0.0)
        kinks = sum(row.kinks for row in report.rows)
        verdict = "PASS" if report.passed else "FAIL"
        lines.append(f"  {name:<24}{max_abs:>14.2e}{report.max_rel_error:>15.2e}{kinks:>7}"
                     f"  {verdict}")
    bounds = [row.miss_probability for _, report in reports for row in report.rows
              if row.miss_probability is not None]
    if bounds:
        lines.append(f"an error of {first.rho:g} (relative, 2-norm) of an array passes all its "
                     f"directions with probability <= {max(bounds):.1e}")
    return "\n".join(lines)


def summary_line(reports):
    """One line: how many checks pass, and the largest relative error."""
    n_passed = sum(report.passed for _, report in reports)
    worst = max(report.max_rel_error for _, report in reports)
    failed = [name for name, report in reports if not report.passed]
    tail = f"; FAILED: {', '.join(failed)}" if failed else ""
    return (f"gradient checks: {n_passed}/{len(reports)} layers, losses and networks pass "
            f"(largest rel error {worst:.1e}; details: nanorec gradcheck){tail}")


def add_options(parser):
    names = [*CASES, *NETWORKS]
    parser.add_argument("name", nargs="?", default="all", choices=["all", *names], metavar="NAME",
                        help=f"what to check (default: all): {', '.join(names)}")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights and inputs")
    parser.add_argument("--directional", type=positive_int, metavar="K",
                        help="check each array of the layers and losses along K random "
                             "directions instead of entry by entry (networks stay in full mode)")


def run(args):
    reports = run_checks([*CASES, *NETWORKS] if args.name == "all" else [args.name], seed=args.seed,
                         directions=args.directional)
    print(report_table(reports))
    return 0 if all(report.passed for _, report in reports) else 1
