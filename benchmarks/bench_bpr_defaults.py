"""How BPRMF's defaults were chosen: validation folds carved from train, the test split beside them.

Question: which negatives (distribution "uniform", or "popularity" with weights count^e,
e = popularity_exponent), how many candidates m and which recent_share does a validation protocol
that never sees the test item prefer, and how do the same settings do on the test item?

Data: MovieLens-100K, every rating a positive. Test: leave-last-out (each user's latest item).
Validation: leave-last-out applied to the train part, then again to what remains, three times:
fold d holds out each user's d-th latest train item and trains only on the rows before it. Each
setting: 3 folds x 2 seeds on validation, 3 seeds on test; 64 factors, 100 epochs, lr 0.01, reg 0.01
(implicit's BPR with the same figures as a reference row when installed). HR@10 / NDCG@10 with full
ranking, means over the fits. The validation column is nanorec.evaluation.tune.search over the
settings (its trials, their seconds included); the test column is fitted here, beside it.

The rule that chose the default: the best validation HR@10 among the settings with m = 1 (m = 2
fits 1.6-2x slower, which would lose the fit-time comparison with implicit). The test column is
shown for transparency; it plays no part in the choice.

    python benchmarks/bench_bpr_defaults.py [--data PATH] [--out DIR] [--jobs N]
"""

import argparse
import functools
import sys
import warnings

import numpy as np

# helpers shared by the bench_* scripts (run as a script, this folder is on sys.path)
from _common import (  # noqa: E402  isort: skip
    RESULTS_DIR,
    Skipped,
    load_data,
    machine_info,
    markdown_table,
    publish,
)
from bench_implicit import BPR_HYPERPARAMETERS  # noqa: E402
from peers import ImplicitBPR  # noqa: E402

from nanorec.data.split import ColdStartWarning, leave_last_out  # noqa: E402
from nanorec.evaluation.protocols import evaluate  # noqa: E402
from nanorec.evaluation.tune import search  # noqa: E402
from nanorec.models.mf import BPRMF  # noqa: E402

SETTINGS = {  # label: BPRMF arguments (the rest are the defaults)
    "uniform, m = 1, 0.2": dict(distribution="uniform"),
    "uniform, m = 2, 0.2": dict(distribution="uniform", negative_candidates=2),
    "uniform, m = 1, 0.4": dict(distribution="uniform", recent_share=0.4),
    "popularity^0.1, m = 1, 0.2": dict(popularity_exponent=0.1),
    "popularity^0.25, m = 1, 0.2": dict(popularity_exponent=0.25),
    "popularity^0.25, m = 1, 0.1": dict(popularity_exponent=0.25, recent_share=0.1),
    "popularity^0.25, m = 1, 0.3": dict(popularity_exponent=0.25, recent_share=0.3),
    "popularity^0.25, m = 1, 0": dict(popularity_exponent=0.25, recent_share=0.0),
    "popularity^0.25, m = 2, 0.2": dict(popularity_exponent=0.25, negative_candidates=2),
    "popularity^0.5, m = 1, 0.2": dict(popularity_exponent=0.5),
    "popularity^0.75, m = 1, 0.2": dict(popularity_exponent=0.75),
}
PEER = "implicit's BPR (same factors, epochs)"
METRICS = ("hr@10", "ndcg@10")
N_VALIDATION_SEEDS, TEST_SEEDS, N_FOLDS = 2, (0, 1, 2), 3


def validation(make_model, candidates, train, n_jobs):
    """The search's trials: every candidate on N_FOLDS leave-last-out folds of train back in
    time, model seeds 0..N_VALIDATION_SEEDS-1; nothing refitted (the rule below chooses)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ColdStartWarning)
        return search(make_model, candidates, train, validation="loo", n_splits=N_FOLDS,
                      metrics=METRICS, n_seeds=N_VALIDATION_SEEDS, refit=False, n_jobs=n_jobs)


def mean_metrics(make, splits, seeds):
    """Mean HR@10 and NDCG@10 of make(seed) fitted on every (train, test) split, every seed."""
    values = [evaluate(make(seed).fit(train), test, train=train, metrics=METRICS)
              for train, test in splits for seed in seeds]
    return {metric: float(np.mean([value[metric] for value in values])) for metric in METRICS}


def compare(data, hyperparameters=BPR_HYPERPARAMETERS, n_jobs=1):
    """(rows of the table, the chosen setting, how validation was done): each setting's
    validation trial and test figures, then the peer's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ColdStartWarning)
        train, test = leave_last_out(data)
    bprmf = functools.partial(BPRMF, **hyperparameters)
    settings = validation(bprmf, list(SETTINGS.values()), train, n_jobs)
    peer = functools.partial(ImplicitBPR, **hyperparameters)
    try:
        peer_trials = validation(peer, [{}], train, n_jobs).trials
    except Skipped as skipped:
        peer_trials = [str(skipped)]
    runs = [(label, functools.partial(bprmf, **options)) for label, options in SETTINGS.items()]
    rows = []
    for (label, make), trial in zip(runs + [(PEER, peer)], settings.trials + peer_trials):
        if isinstance(trial, str):
            rows.append({"setting": label, "skipped": trial})
            continue
        test_figures = mean_metrics(lambda seed: make(random_state=seed), [(train, test)],
                                    TEST_SEEDS)
        rows.append({"setting": label, "validation": trial.metrics,
                     "validation_seconds": trial.seconds, "test": test_figures})
        print(f"  {rows[-1]}", file=sys.stderr)
    fast = [row for row in rows if row["setting"] in SETTINGS and "m = 1" in row["setting"]]
    chosen = max(fast, key=lambda row: row["validation"]["hr@10"])["setting"]
    return rows, chosen, settings.validation


def run(data_path, n_jobs=1):
    rows, chosen, how = compare(load_data(data_path), n_jobs=n_jobs)
    return {"benchmark": "BPRMF defaults: validation folds of train vs the test item",
            "machine": machine_info(), "hyperparameters": BPR_HYPERPARAMETERS,
            "validation": how, "rows": rows, "chosen": chosen}


def report(results):
    def pair(values):
        return f"{values['hr@10']:.4f} / {values['ndcg@10']:.4f}"

    body = [[row["setting"], pair(row["validation"]), f"{row['validation_seconds']:.1f}",
             pair(row["test"]), "chosen" if row["setting"] == results["chosen"] else ""]
            if "skipped" not in row else [row["setting"], row["skipped"], "", "", ""]
            for row in results["rows"]]
    return "\n".join([
        f"## {results['benchmark']}",
        "",
        f"Validation: {results['validation']}.",
        "",
        markdown_table(["negatives, m, recent_share", "validation HR@10 / NDCG@10",
                        "validation s", "test HR@10 / NDCG@10", ""], body),
        "",
        f"Chosen by the best validation HR@10 among the m = 1 settings: {results['chosen']}.",
        f"Machine: {results['machine']['cpu']}; hyperparameters {results['hyperparameters']}.",
    ])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="ml-100k zip or folder (default: data home)")
    parser.add_argument("--out", default=RESULTS_DIR, help="folder for the JSON results")
    parser.add_argument("--jobs", type=int, default=1,
                        help="validation fits at once through joblib (default: %(default)s)")
    args = parser.parse_args(argv)
    results = run(args.data, args.jobs)
    publish("bench_bpr_defaults", results, report(results), args.out)


if __name__ == "__main__":
    main()
