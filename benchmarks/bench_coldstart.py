"""Cold start: the fallback chain against each of its stages alone and Popularity, on ML-100K and
on planted synthetic data, for users and items that have no training rows.

    python benchmarks/bench_coldstart.py [--data PATH] [--quick] [--only movielens,synthetic]

Protocol (as bench_deep's cold-start table): ``cold_start_split(data, 0.1, 0.1, seed=0)`` holds out
10% of the users and 10% of the items with all their rows; every rating counts as a positive.

    cold users   each held-out user ranks the items with train rows, from its features alone
    cold items   each user who rated a held-out item ranks the held-out items, from their features;
                 Popularity (and the neighbours stage, which inherits its item scores) give them
                 all 0: AUC 0.5, HR@10 0. BPRMF cannot score them (its chain says so).

Rows:
    Popularity                      the last stage alone
    Neighbours                      the demographic-neighbours stage alone: ColdStartRecommender
                                    over Popularity (which has no feature path)
    ContentBased, Hybrid            the primary stage alone, cold path included
    Chain(BPRMF)                    BPRMF for warm users, neighbours for cold ones
    Chain(Hybrid)                   Hybrid with the chain around it (for users without rows the
                                    chain hands over to Hybrid's own cold path: same numbers)
"[pipeline]" rows read features built by nanorec.data.features from the raw tables of
nanorec.data.datasets.side_tables, fitted on the training users and items only: users age
(standardized), gender, occupation (one-hot); items genres (multi-hot), release year
(standardized, missing -> mean) and title words (TF-IDF, 100 words); nanorec run gives the same
cold-item rows from benchmarks/experiments/ml100k-coldstart-items-text.toml. The other rows
read the features datasets.movielens_100k builds (min-max age and year, one-hot, no titles). On
synthetic data the features are the planted one-hot demographics and multi-hot genres.

The number of neighbours is chosen among NEIGHBOUR_CHOICES by NDCG@10 on a cold-user split of the
train part (seed 1), never on the test users. ``served_by`` counts the stage of each cold user.
fit_s is wall-clock fit time after a JIT warm-up; BLAS runs on one thread (see bench_deep).
Results go to benchmarks/results/bench_coldstart-<time>.json with the machine facts.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402

import numpy as np  # noqa: E402
from _common import cell, load_data, machine_info, markdown_table, write_results  # noqa: E402

from nanorec.data.datasets import load, side_tables  # noqa: E402
from nanorec.data.features import (  # noqa: E402
    Categorical,
    FeaturePipeline,
    Numeric,
    TfidfText,
    attach_features,
)
from nanorec.data.split import cold_start_split  # noqa: E402
from nanorec.evaluation.cold import evaluate_cold  # noqa: E402
from nanorec.models import ColdStartError  # noqa: E402
from nanorec.models.baselines import Popularity  # noqa: E402
from nanorec.models.coldstart import ColdStartRecommender  # noqa: E402
from nanorec.models.content import ContentBased, Hybrid  # noqa: E402
from nanorec.models.mf import BPRMF  # noqa: E402

METRICS = ("hr@10", "ndcg@10", "auc")
NEIGHBOUR_CHOICES = (10, 20, 50, 100, 200, 400)
SYNTHETIC = dict(n_users=1000, n_items=500, n_interactions=15000, popularity_exponent=0.5, seed=0)


# ---------------------------------------------------------------------- data
def movielens_splits(data_path):
    """{feature set: ColdStartSplit}: the loader's features, and the pipeline's fitted on train."""
    split = cold_start_split(load_data(data_path), 0.1, 0.1, seed=0)
    user_table, item_table = side_tables("movielens-100k", path=data_path)
    users = FeaturePipeline([Numeric("age"), Categorical("gender"), Categorical("occupation")])
    items = FeaturePipeline([Categorical("genres"), Numeric("year", fill="mean"),
                             TfidfText("title", max_features=100)])
    train = attach_features(split.train, users, user_table, kind="user", ids=user_table["id"])
    train = attach_features(train, items, item_table, kind="item", ids=item_table["id"])
    return {"built-in": split, "pipeline": split._replace(train=train)}


def synthetic_splits():
    return {"built-in": cold_start_split(load("synthetic", **SYNTHETIC), 0.1, 0.1, seed=0)}


# ---------------------------------------------------------------------- models
def choose_neighbours(train):
    """The k of NEIGHBOUR_CHOICES with the best NDCG@10 for cold users of a split of train."""
    inner = cold_start_split(train, 0.1, 0.0, seed=1)
    scores = {k: evaluate_cold(ColdStartRecommender(Popularity(), neighbours=k).fit(inner.train),
                               inner.user_test, "users", ("ndcg@10",))["ndcg@10"]
              for k in NEIGHBOUR_CHOICES}
    return max(scores, key=scores.get)


def make_models(quick, neighbours, feature_sets):
    """(label, unfitted model, feature set) for each row."""
    epochs = 3 if quick else 10
    rows = [("Popularity", Popularity(), "built-in"),
            (f"Neighbours (k={neighbours})", ColdStartRecommender(Popularity(), neighbours), "built-in")]
    for feature_set in feature_sets:
        tag = "" if feature_set == "built-in" else f" [{feature_set}]"
        rows += [(f"ContentBased{tag}", ContentBased(n_epochs=epochs), feature_set),
                 (f"Hybrid{tag}", Hybrid(n_epochs=epochs), feature_set)]
    last = feature_sets[-1]
    tag = "" if last == "built-in" else f" [{last}]"
    rows += [(f"Chain(BPRMF, k={neighbours})",
              ColdStartRecommender(BPRMF(n_epochs=5 if quick else 50), neighbours), "built-in"),
             (f"Chain(Hybrid){tag}", ColdStartRecommender(Hybrid(n_epochs=epochs), neighbours), last)]
    return rows


def served_by(model, user_test, train):
    """'stage count, ...' for the cold users of user_test, or '' for a model without stages."""
    if not isinstance(model, ColdStartRecommender):
        return ""
    cold = np.setdiff1d(user_test.user_index, train.user_index)
    model.recommend(train.user_ids[cold], k=1)
    return ", ".join(f"{stage} {n}" for stage, n in sorted(Counter(model.served_by_.tolist()).items()))


def rows(dataset, splits, quick):
    """One dict per (model, protocol): metrics (or "cannot score"), fit_s, served_by."""
    base = splits["built-in"]
    neighbours = choose_neighbours(base.train)
    _warm_up(base.train)
    table = []
    for label, model, feature_set in make_models(quick, neighbours, list(splits)):
        train, user_test, item_test = splits[feature_set]
        start = time.perf_counter()
        model.fit(train)
        fit_s = round(time.perf_counter() - start, 2)
        for kind, test in (("users", user_test), ("items", item_test)):
            try:
                values = dict(evaluate_cold(model, test, kind, METRICS))
            except ColdStartError:
                values = dict.fromkeys(METRICS, "cannot score")
            stages = served_by(model, user_test, train) if kind == "users" else ""
            table.append({"data": dataset, "protocol": f"cold {kind}", "model": label, **values,
                          "fit_s": fit_s, "served_by": stages})
    return table


def _warm_up(train):
    """Compile (or load from cache) the Numba kernels before anything is timed."""
    tiny = train.subset(np.arange(min(2000, len(train))))
    for model in (ContentBased(n_epochs=1), Hybrid(n_epochs=1), BPRMF(n_epochs=1)):
        model.fit(tiny)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="ml-100k zip or folder (default: data home)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: few epochs")
    parser.add_argument("--only", default="movielens,synthetic", help="comma-separated data sets")
    args = parser.parse_args(argv)
    machine = machine_info()
    makers = {"movielens": lambda: movielens_splits(args.data), "synthetic": synthetic_splits}
    table = []
    for dataset in args.only.split(","):
        if dataset not in makers:
            parser.error(f"unknown data set {dataset!r}; choose from {', '.join(makers)}")
        table += rows(dataset, makers[dataset](), args.quick)
    header = ["model", *METRICS, "fit_s", "served_by"]
    for dataset in dict.fromkeys(row["data"] for row in table):
        for protocol in ("cold users", "cold items"):
            body = [[cell(row[key]) for key in header] for row in table
                    if row["data"] == dataset and row["protocol"] == protocol]
            print(f"\n## {dataset}: {protocol}\n\n{markdown_table(header, body)}")
    print(f"\nMachine: {machine['cpu']}, {machine['cores']} cores, load average at start "
          f"{machine['load_average_at_start']}; BLAS threads 1; quick={args.quick}")
    path = write_results("bench_coldstart", {"machine": machine, "quick": args.quick,
                                             "synthetic": SYNTHETIC, "rows": table})
    print(f"results written to {path}")


if __name__ == "__main__":
    sys.exit(main())
