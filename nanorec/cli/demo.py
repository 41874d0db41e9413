"""``nanorec demo``: four recommenders trained on synthetic data, compared on held-out items.

The data is nanorec's synthetic log (planted low-rank tastes, long-tail popularity, drifting
timestamps); each user's latest row is held out (leave-last-out). Every model ranks all the items
the user has not seen in train, and the table shows

    HR@10     share of users whose held-out item is in their top 10
    NDCG@10   the same, discounted by its position: 1 / log2(1 + rank)
    RMSE      root mean squared error of the predicted rating of the held-out rows (rating models)

Popularity is the baseline to beat. A last line runs the gradient checks of the engine's layers,
losses and model networks (``nanorec gradcheck`` prints the full table).
"""

import contextlib
import time

import numpy as np
from numba.core import event

from nanorec.cli import gradchecks
from nanorec.cli.common import describe
from nanorec.data import datasets
from nanorec.data.split import leave_last_out
from nanorec.evaluation.protocols import evaluate
from nanorec.metrics.rating import rmse
from nanorec.models.baselines import Popularity
from nanorec.models.mf import BiasedMF, BPRMF
from nanorec.models.neural import MatrixFactorization

HELP = "train four recommenders on synthetic data and compare them, then check gradients"
# 1000 users x 300 items x 60,000 rows: dense enough (60 rows per user) for the factor models
# to beat popularity clearly, small enough to train in seconds
DATA_SIZE = {"n_users": 1000, "n_items": 300, "n_interactions": 60_000}
# (name, builder seed -> unfitted model, predicts ratings?)
DEMO_MODELS = [
    ("Popularity", lambda seed: Popularity(), False),
    ("BPRMF", lambda seed: BPRMF(n_factors=16, n_epochs=20, lr=0.05, reg=0.05,
                                 random_state=seed), False),
    ("MatrixFactorization", lambda seed: MatrixFactorization(n_factors=16, n_epochs=10, lr=0.005,
                                                             implicit=True, random_state=seed),
     False),
    ("BiasedMF", lambda seed: BiasedMF(n_factors=16, n_epochs=20, random_state=seed), True),
]


def add_options(parser):
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and the models")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch progress")


def run(args):
    print(f"nanorec demo: {len(DEMO_MODELS)} recommenders trained by hand-written backprop\n")
    data = datasets.load("synthetic", seed=args.seed, **DATA_SIZE)
    train, test = leave_last_out(data)
    print(f"data    synthetic: {describe(data)}")
    print(f"split   leave-last-out: each user's latest row is held out ({len(test):,} test rows)\n")
    rows = []
    compiling = CompileTimer()
    for name, build, predicts_ratings in DEMO_MODELS:
        model = build(args.seed)
        if hasattr(model, "verbose"):
            model.verbose = not args.quiet
            if model.verbose:
                print(f"training {name} ({model.n_epochs} epochs)", flush=True)
        start = time.perf_counter()
        with compiling:
            model.fit(train)
        seconds = time.perf_counter() - start
        metrics = ["hr@10", "ndcg@10"] + (["rmse"] if predicts_ratings else [])
        result = evaluate(model, test, train=train, metrics=metrics)
        rows.append((name, result, seconds, getattr(model, "history_", {}).get("loss")))
    if not args.quiet:
        print()
    print(comparison_table(rows))
    mean_rating = float(train.ratings.mean())
    mean_error = rmse(test.ratings, np.full(len(test), mean_rating))
    print(f"  BiasedMF is trained to predict ratings, not to rank: its RMSE beats always predicting "
          f"the mean train rating {mean_rating:.2f} (RMSE {mean_error:.3f}).")
    if compiling.seconds > 0:
        print("  Fit times include Numba's one-off compilation on a first run (cached afterwards).\n")
    else:
        print("  Fit times include no compilation: Numba's kernels came from its cache.\n")
    reports = gradchecks.run_checks([*gradchecks.CASES, *gradchecks.NETWORKS], seed=args.seed)
    print(gradchecks.summary_line(reports))
    return 0 if all(report.passed for _, report in reports) else 1


class CompileTimer:
    """A context manager adding up, in ``seconds``, the time Numba spends compiling inside it
    (loading a kernel from Numba's cache is no compilation and counts 0)."""

    def __init__(self):
        self.seconds = 0.0
        self._stack = None

    def _add(self, seconds):
        self.seconds += seconds

    def __enter__(self):
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(event.install_timer("numba:compile", self._add))
        return self

    def __exit__(self, *exc_info):
        return self._stack.__exit__(*exc_info)


def comparison_table(rows):
    """rows of (model name, EvaluationResult, fit seconds, per-epoch losses or None) -> the table."""
    lines = [f"  {'model':<21}{'HR@10':>7}{'NDCG@10':>9}{'RMSE':>8}{'fit (s)':>9}"
             "   training loss, first -> last epoch"]
    for name, result, seconds, losses in rows:
        error = f"{result['rmse']:.3f}" if "rmse" in result else "-"
        curve = "-" if not losses else f"{losses[0]:.3f} -> {losses[-1]:.3f}"
        lines.append(f"  {name:<21}{result['hr@10']:>7.3f}{result['ndcg@10']:>9.3f}{error:>8}"
                     f"{seconds:>9.1f}   {curve}")
    return "\n".join(lines)
