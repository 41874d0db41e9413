"""Rating prediction on MovieLens-100K: nanorec's BiasedMF against Surprise, 5-fold cross-validation.

Question: does the fused-kernel BiasedMF predict ratings as well as Surprise's SVD with the same
hyperparameters (100 factors, 20 epochs, lr 0.005, reg 0.02), and how much faster does it fit?

Protocol: one fixed permutation of the 100,000 ratings cut into 5 folds (nanorec.data.split.kfold,
seed 0); every row is fitted and tested on exactly the same folds. Fit and predict times are
wall-clock per fold (predict = the test fold's ratings, given by raw ids); the table shows medians
over folds. Numba compiles (or loads from its cache) the kernels on a tiny warm-up set first; that
time is reported separately and excluded from the fit times.

    python benchmarks/bench_explicit.py [--data PATH] [--quick] [--full] [--out DIR]

--data     the ml-100k zip or folder (default: the nanorec data home, see nanorec.data.datasets)
--quick    the first fold only
--full     also Surprise's BaselineOnly, SVD++, NMF and KNNBaseline (default hyperparameters), and
           nanorec's AutoRec (the hyperparameters of bench_deep.py)

Prints a markdown table and writes JSON (with machine info, versions, sizes and seeds) under
benchmarks/results/. The Surprise rows are the Recommenders of peers.py (the same adapters as the
experiment files'); a peer that is not installed gives a "skipped" row, never a crash.

"""

import argparse
import copy
import datetime
import statistics
import sys
import warnings

import numpy as np
from _common import (
    RESULTS_DIR,
    Skipped,
    composed_epoch,
    epoch_setup,
    fused_epoch,
    load_data,
    machine_info,
    markdown_table,
    publish,
    timed,
)
from _deep_autoencoders import AUTOREC
from peers import (
    SurpriseBaselineOnly,
    SurpriseKNNBaseline,
    SurpriseNMF,
    SurpriseSVD,
    SurpriseSVDpp,
)

from nanorec.data.split import ColdStartWarning, kfold
from nanorec.models import mf_kernels
from nanorec.models.autoencoders import AutoRec
from nanorec.models.mf import BiasedMF

SEED = 0
N_FOLDS = 5
SVD_HYPERPARAMETERS = dict(n_factors=100, n_epochs=20, lr=0.005, reg=0.02)


# ----------------------------------------------------------------------------- runners
class Runner:
    """Fit a Recommender (nanorec's, or a peer's from peers.py) on a train fold; predict the test
    fold's ratings by raw id."""

    def __init__(self, name, make_model):
        self.name, self.make_model = name, make_model

    def fit(self, train):
        self.model = self.make_model().fit(train)

    def predict(self, test):
        users, items = test.user_ids[test.user_index], test.item_ids[test.item_index]
        return self.model.predict(users, items)


def make_runners(full):
    """The rows of the table, in order; Surprise's SVD first (the speed-up reference)."""
    h = SVD_HYPERPARAMETERS
    surprise_svd = dict(n_factors=h["n_factors"], n_epochs=h["n_epochs"], lr_all=h["lr"],
                        reg_all=h["reg"], random_state=SEED)
    runners = [
        Runner("Surprise SVD", lambda: SurpriseSVD(**surprise_svd)),
        Runner("nanorec BiasedMF (float32)", lambda: BiasedMF(**h, random_state=SEED)),
        Runner("nanorec BiasedMF (float64)",
               lambda: BiasedMF(**h, random_state=SEED, dtype=np.float64)),
    ]
    if full:
        runners += [
            Runner("Surprise BaselineOnly", SurpriseBaselineOnly),
            Runner("Surprise SVD++", lambda: SurpriseSVDpp(random_state=SEED)),
            Runner("Surprise NMF", lambda: SurpriseNMF(random_state=SEED)),
            Runner("Surprise KNNBaseline", SurpriseKNNBaseline),
            Runner("nanorec AutoRec (I-AutoRec, H=500)",
                   lambda: AutoRec(**AUTOREC, random_state=SEED)),
        ]
    return runners


# ----------------------------------------------------------------------------- measurements
def jit_warmup(data):
    """Fit once on a tiny subset, so that Numba compiles (or loads from its cache) the kernels for
    the argument types of the real runs; that time is reported, and excluded from the fit times."""
    tiny = data.subset(np.arange(min(500, len(data))))
    warmup = {}
    for dtype in (np.float32, np.float64):
        _, warmup[np.dtype(dtype).name] = timed(BiasedMF(n_epochs=1, dtype=dtype).fit, tiny)
    stats = mf_kernels.biased_mf_epoch_nb.stats
    warmup["numba_cache"] = {
        "hits": sum(stats.cache_hits.values()), "misses": sum(stats.cache_misses.values())
    }
    return warmup


def kernel_versus_network(train, n_samples=20000):
    """BiasedMF's epoch over ``n_samples`` train ratings (float32, K = 100), from the same
    parameters: through the composed network one rating per step (fused=False, the reference),
    then the fused kernel (fused=True); seconds of each and the ratio."""
    setup = epoch_setup(BiasedMF(**SVD_HYPERPARAMETERS, random_state=SEED), train, n_samples)
    seconds = {}
    for name, epoch in (("network_s", composed_epoch), ("fused_s", fused_epoch)):
        model, samples, optimizer = copy.deepcopy(setup)
        _, seconds[name] = timed(epoch, model, samples, optimizer)  # the kernel is warm already
    return {"n_samples": len(setup[1].order), **seconds,
            "speedup": seconds["network_s"] / seconds["fused_s"]}


def run_fold(runner, train, test):
    _, fit_s = timed(runner.fit, train)
    predictions, predict_s = timed(runner.predict, test)
    errors = test.ratings - predictions
    return {
        "rmse": float(np.sqrt(np.mean(errors**2))),
        "mae": float(np.mean(np.abs(errors))),
        "fit_s": fit_s,
        "predict_s": predict_s,
    }


def run(data_path, quick, full):
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    machine = machine_info()
    data = load_data(data_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ColdStartWarning)  # a few test items unseen in train
        folds = kfold(data, n_splits=N_FOLDS, seed=SEED)
    folds = folds[:1] if quick else folds
    warmup = jit_warmup(data)
    rows = []
    for runner in make_runners(full):
        row = {"name": runner.name, "status": "ok", "folds": []}
        try:
            for k, (train, test) in enumerate(folds):
                row["folds"].append(run_fold(runner, train, test))
                progress = f"  {runner.name}: fold {k + 1}/{len(folds)} {row['folds'][-1]}"
                print(progress, file=sys.stderr)
        except Skipped as skipped:
            row["status"], row["folds"] = str(skipped), []
        for metric in ("rmse", "mae", "fit_s", "predict_s"):
            values = [fold[metric] for fold in row["folds"]]
            row[f"median_{metric}"] = statistics.median(values) if values else None
        rows.append(row)
    return {
        "benchmark": "explicit: MovieLens-100K, 5-fold CV",
        "started_utc": started,
        "machine": machine,
        "config": {
            "data": {"n_users": data.n_users, "n_items": data.n_items, "n_ratings": len(data)},
            "folds": {"n_splits": N_FOLDS, "run": len(folds), "seed": SEED,
                      "train_sizes": [len(train) for train, _ in folds]},
            "hyperparameters": SVD_HYPERPARAMETERS,
            "model_seed": SEED,
            "dtype": "float32 (float64 row: same model in float64)",
            "kernel_options": mf_kernels._JIT,
        },
        "jit_warmup_s": warmup,
        "kernel_vs_network": kernel_versus_network(folds[0][0]),
        "rows": rows,
    }


def report(results):
    rows = results["rows"]
    reference = next((r for r in rows if r["name"] == "Surprise SVD" and r["median_fit_s"]), None)
    table = []
    for row in rows:
        if row["median_rmse"] is None:
            table.append([row["name"], row["status"], "", "", "", ""])
            continue
        speedup = ""
        if reference is not None:
            speedup = f"{reference['median_fit_s'] / row['median_fit_s']:.1f}x"
        table.append([
            row["name"], f"{row['median_rmse']:.4f}", f"{row['median_mae']:.4f}",
            f"{row['median_fit_s']:.3f}", f"{row['median_predict_s']:.3f}", speedup,
        ])
    header = ["model", "RMSE", "MAE", "fit s", "predict s", "fit speed-up vs Surprise SVD"]
    machine, config = results["machine"], results["config"]
    epochs = results["kernel_vs_network"]
    return "\n".join([
        f"## {results['benchmark']} (medians over {config['folds']['run']} folds)",
        "",
        markdown_table(header, table),
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, load average at start "
        f"{machine['load_average_at_start']}; Python {machine['python']}, "
        + ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v),
        f"Data: {config['data']}; hyperparameters {config['hyperparameters']}; seeds: folds "
        f"{config['folds']['seed']}, models {config['model_seed']}.",
        f"JIT warm-up (excluded above): {results['jit_warmup_s']}",
        f"Fused kernel vs composed network (fused=False), one epoch over {epochs['n_samples']} "
        f"ratings: {epochs['network_s']:.2f} s vs {epochs['fused_s']:.4f} s ({epochs['speedup']:.0f}x)",
    ])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="ml-100k zip or folder (default: data home)")
    parser.add_argument("--quick", action="store_true", help="run the first fold only")
    parser.add_argument(
        "--full", action="store_true",
        help="add Surprise SVD++, NMF, KNNBaseline, BaselineOnly and nanorec AutoRec"
    )
    parser.add_argument("--out", default=RESULTS_DIR, help="folder for the JSON results")
    args = parser.parse_args(argv)
    results = run(args.data, args.quick, args.full)
    publish("bench_explicit", results, report(results), args.out)


if __name__ == "__main__":
    main()
