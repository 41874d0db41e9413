"""Popularity imbalance on MovieLens-100K: how each modelling choice moves head vs tail accuracy.

Question: where do a model's hits come from (blockbusters or the long tail), how much of the
catalogue does it recommend, and how do the imbalance knobs nanorec has move that?

    Popularity, ItemKNN                           the two baselines
    BPRMF negatives                               distribution uniform (exponent 0) vs
                                                  popularity (count ** popularity_exponent,
                                                  exponent 0.5 and 1)
    MatrixFactorization / NeuMF n_negatives       1, 4, 8 sampled negatives per positive
    MatrixFactorization tail_weight               per-sample loss weights: a positive (u, i)
                                                  weighs (n_i / mean n) ** -tail_weight (mean 1
                                                  over the positives), a negative 1; 0 and 0.5

Every rating is a positive interaction. Items fall into three buckets holding a third of the train
rows each (head = the few most popular items, tail = the many rarely rated ones), see
nanorec.evaluation.imbalance. Ranking is full (every item outside the user's train rows is a
candidate). Two protocols: leave-last-out (each user's latest item is the test item) and a random
80/20 holdout (seed 0). One seed per model; fit times are wall-clock and indicative only (the
machine's load average is printed).

    python benchmarks/bench_imbalance.py [--data PATH] [--quick] [--out DIR]

--quick    fewer epochs
"""

import datetime
import sys
import warnings

import numpy as np

from nanorec.data.split import ColdStartWarning, holdout, leave_last_out
from nanorec.evaluation.imbalance import evaluate_by_popularity
from nanorec.models.baselines import Popularity
from nanorec.models.knn import ItemKNN
from nanorec.models.mf import BPRMF
from nanorec.models.neural import MatrixFactorization, NeuMF

# helpers shared by the bench_* scripts (run as a script, this folder is on sys.path)
from _common import data_bench_main, load_data, machine_info, markdown_table, timed  # noqa: E402  isort: skip

K = 10
BUCKETS = 3
PROTOCOLS = ("leave-last-out", "holdout 80/20")
BPR = dict(n_factors=64, n_epochs=100, lr=0.01, reg=0.01)
MF = dict(n_factors=16, n_epochs=10, batch_size=128, lr=0.001)
NEUMF = dict(n_factors=8, layers=(64, 32, 16, 8), n_epochs=10, batch_size=256, lr=0.001)
BPR_NEGATIVES = [("negatives uniform (exponent 0)", dict(distribution="uniform")),
                 ("negatives popularity (exponent 0.5)",
                  dict(distribution="popularity", popularity_exponent=0.5)),
                 ("negatives popularity (exponent 1)",
                  dict(distribution="popularity", popularity_exponent=1.0))]


def make_runners(quick):
    """(name, knob, factory) rows; --quick cuts the epochs."""
    epochs = (lambda n: max(1, n // 5)) if quick else (lambda n: n)
    bpr, mf, neumf = ({**h, "n_epochs": epochs(h["n_epochs"])} for h in (BPR, MF, NEUMF))
    runners = [  # every choice explicit: model defaults may move
        ("Popularity", "baseline", lambda: Popularity()),
        ("ItemKNN (k=50)", "baseline", lambda: ItemKNN(k=50)),
    ]
    for knob, options in BPR_NEGATIVES:
        runners.append(("BPRMF", knob, lambda options=options: BPRMF(**bpr, **options)))
    for n in (1, 4, 8):
        runners.append(("MatrixFactorization", f"n_negatives={n}",
                        lambda n=n: MatrixFactorization(**mf, n_negatives=n, implicit=True)))
    for n in (1, 4, 8):
        runners.append(("NeuMF", f"n_negatives={n}",
                        lambda n=n: NeuMF(**neumf, n_negatives=n, implicit=True)))
    for tail_weight in (0.0, 0.5):  # 0 repeats the n_negatives=4 row (bit for bit), beside 0.5
        runners.append(("MatrixFactorization", f"tail_weight={tail_weight}",
                        lambda tail_weight=tail_weight: MatrixFactorization(
                            **mf, n_negatives=4, tail_weight=tail_weight, implicit=True)))
    return runners


def split(data, protocol):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ColdStartWarning)
        if protocol == "leave-last-out":
            return leave_last_out(data)
        return holdout(data, test_size=0.2, seed=0)


def jit_warmup(data):
    """Fit the Numba-backed models once on a tiny subset, so compile time is not in the fits."""
    tiny = data.subset(np.arange(min(2000, len(data))))
    models = (BPRMF(n_factors=4, n_epochs=1), ItemKNN(), MatrixFactorization(n_epochs=1, implicit=True),
              NeuMF(n_epochs=1, implicit=True))
    total = sum(timed(model.fit, tiny)[1] for model in models)
    train, test = split(tiny, "leave-last-out")
    return total + timed(evaluate_by_popularity, models[1].fit(train), test)[1]


def run(data_path, quick):
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    machine = machine_info()
    data = load_data(data_path)
    warmup_s = jit_warmup(data)
    rows, buckets = [], {}
    for protocol in PROTOCOLS:
        train, test = split(data, protocol)
        for name, knob, make in make_runners(quick):
            model, fit_s = timed(make().fit, train)
            result = evaluate_by_popularity(model, test, train=train, buckets=BUCKETS, k=K)
            buckets[protocol] = [{key: value for key, value in vars(b).items()
                                  if key in ("name", "n_items", "min_count", "max_count", "train_share")}
                                 for b in result.buckets]
            rows.append({"protocol": protocol, "model": name, "knob": knob, "fit_s": fit_s,
                         **result.to_dict()})
            print(f"  {protocol} / {name} / {knob}: hr@{K} {result.overall[f'hr@{K}']:.4f}, "
                  f"coverage {result.coverage:.3f}, {fit_s:.1f} s", file=sys.stderr)
    return {
        "benchmark": "imbalance: MovieLens-100K, accuracy by item popularity, full ranking",
        "started_utc": started,
        "machine": machine,
        "config": {"data": {"n_users": data.n_users, "n_items": data.n_items,
                            "n_interactions": len(data)},
                   "k": K, "buckets": BUCKETS, "quick": quick, "bpr": BPR, "mf": MF, "neumf": NEUMF},
        "jit_warmup_s": warmup_s,
        "buckets": buckets,
        "rows": rows,
    }


def report(results):
    parts = [f"## {results['benchmark']}"]
    hr, ndcg = f"hr@{K}", f"ndcg@{K}"
    for protocol in PROTOCOLS:
        definition = ", ".join(
            f"{b['name']} {b['n_items']} items ({b['min_count']}-{b['max_count']} rows each, "
            f"{b['train_share']:.0%} of train rows)" for b in results["buckets"][protocol])
        header = ["model", "choice", f"HR@{K} all", "head", "mid", "tail", f"NDCG@{K} all",
                  f"NDCG@{K} tail", f"coverage@{K}", "tail share of top-k", "fit s"]
        table = []
        for row in (r for r in results["rows"] if r["protocol"] == protocol):
            by_name = {b["name"]: b for b in row["buckets"]}
            table.append([row["model"], row["knob"], f"{row['overall'][hr]:.4f}",
                          *[f"{by_name[b]['metrics'][hr]:.4f}" for b in ("head", "mid", "tail")],
                          f"{row['overall'][ndcg]:.4f}", f"{by_name['tail']['metrics'][ndcg]:.4f}",
                          f"{row['coverage']:.3f}", f"{row['tail_share']:.3f}", f"{row['fit_s']:.1f}"])
        parts += ["", f"### {protocol}", "", f"Buckets: {definition}.", "",
                  markdown_table(header, table)]
    machine = results["machine"]
    parts += ["", "HR@k of a bucket = share of its test rows whose item is in the user's top k; "
              "tail share = share of all top-k slots given to tail items.",
              f"Machine: {machine['cpu']}, {machine['cores']} cores, load average at start "
              f"{machine['load_average_at_start']} (times are indicative); Python {machine['python']}, "
              + ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v),
              f"JIT warm-up (excluded): {results['jit_warmup_s']:.1f} s; quick: {results['config']['quick']}"]
    return "\n".join(parts)


def main(argv=None):
    data_bench_main("bench_imbalance", run, report, __doc__.split("\n\n")[0], "fewer epochs", argv)


if __name__ == "__main__":
    main()
