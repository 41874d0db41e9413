"""Top-N recommendation on MovieLens-100K as implicit feedback: BPRMF against implicit's BPR.

Question: does nanorec's BPRMF rank items as well as implicit's BayesianPersonalizedRanking with
the same factors, epochs, learning rate and regularization, and how do both compare with the
Popularity and ItemKNN baselines?

Every rating is a positive interaction. Two protocols, each with three seeds (mean +- std; the seed
is the model's, and the holdout split's too):

    leave-last-out   each user's latest interaction is the test item (ties in time -> the larger
                     item id; nanorec.data.split.leave_last_out); HR@10, NDCG@10, Recall@20, MRR
    holdout 80/20    a random 20% of the interactions; Recall@20, NDCG@20

Ranking is full: every item not in the user's train history is a candidate
(nanorec.evaluation.protocols.evaluate, protocol="full"). One extra column, labelled
"HR@10 (sampled, 100 neg)", ranks each leave-last-out test item against 100 items drawn uniformly
among the user's non-interacted ones (protocol="sampled", seeded by the seed): the protocol of
many papers, shown beside the full one because it inflates the numbers and can reorder models
(Krichene & Rendle, 2020). Fit times are wall-clock; s/epoch =
fit s / epochs. Numba's compile (or cache load) runs on a tiny warm-up fit first and is reported
separately. implicit runs on one thread (nanorec's kernels are serial too).

Is a difference more than noise? Leave-last-out has one test item per user (943 users: one hit
moves HR@10 by 0.001), and all seeds share that test item. For each pair in PAIRED_ROWS (nanorec
row, its peer) the report ends with a paired bootstrap over the users
(nanorec.evaluation.paired_bootstrap, 10,000 resamples) of the HR@10 and NDCG@10 differences,
each user's values averaged over the seeds: the mean difference and its 95% interval. An
interval that holds 0 means this test set cannot tell the two apart.

More peers: implicit's AlternatingLeastSquares (64 factors, 15 iterations, reg 0.01, one thread;
its confidence weight alpha chosen once, by HR@10 on a validation split -- each user's latest
train item -- of the seed-0 leave-last-out train part, from ALS_ALPHAS), and LightFM's WARP and
BPR (64 components; lightfm does not build here, so those rows say how to install it).

    python benchmarks/bench_implicit.py [--data PATH] [--quick] [--only NAMES] [--out DIR]

--quick    one seed only
--only     comma-separated parts of row names, e.g. "BPR,Popularity": only those rows

Adding a model: append a ``Runner`` to ``make_runners`` (a name, a function seed -> unfitted
Recommender and its epoch count). A peer is a Recommender in peers.py whose fit raises Skipped
when its library is missing; a PyTorch twin is one more Runner whose Recommender wraps the torch
model.
"""

import os

# nanorec's kernels and implicit run on one thread; numpy's BLAS too (implicit warns otherwise);
# the PyTorch twins set their own 2 threads
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported

import argparse  # noqa: E402
import copy  # noqa: E402
import datetime  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Callable, Optional  # noqa: E402

import numpy as np  # noqa: E402

from nanorec.data.split import ColdStartWarning, holdout, leave_last_out  # noqa: E402
from nanorec.evaluation.protocols import evaluate  # noqa: E402
from nanorec.evaluation.significance import paired_bootstrap  # noqa: E402
from nanorec.models import knn  # noqa: E402
from nanorec.models.base import Recommender  # noqa: E402
from nanorec.models.baselines import Popularity  # noqa: E402
from nanorec.models.knn import ItemKNN  # noqa: E402
from nanorec.models.mf import BPRMF  # noqa: E402

# helpers shared by the bench_* scripts (run as a script, this folder is on sys.path)
from _common import (  # noqa: E402  isort: skip
    RESULTS_DIR,
    Skipped,
    composed_epoch,
    epoch_setup,
    fused_epoch,
    load_data,
    machine_info,
    markdown_table,
    measure,
    publish,
    require,
    timed,
)
from peers import ImplicitALS, ImplicitBPR, LightFMModel  # noqa: E402  isort: skip

SEEDS = (0, 1, 2)
BPR_HYPERPARAMETERS = dict(n_factors=64, n_epochs=100, lr=0.01, reg=0.01)
PROTOCOLS = {
    "leave-last-out": ("hr@10", "ndcg@10", "recall@20", "mrr"),
    "holdout 80/20": ("recall@20", "ndcg@20"),
}
SAMPLED_NEGATIVES = 100
SAMPLED_COLUMN = f"HR@10 (sampled, {SAMPLED_NEGATIVES} neg)"
SAMPLED_PROTOCOLS = ("leave-last-out",)  # protocols that also get the sampled column
PAIRED_PROTOCOL, PAIRED_METRICS = "leave-last-out", ("hr@10", "ndcg@10")
PAIRED_ROWS = (  # (nanorec row, peer row): is the difference more than the test set's noise?
    ("nanorec BPRMF (default", "implicit BPR"),
    ("nanorec MatrixFactorization (seed, dense Adam)", "PyTorch MatrixFactorization twin (2"),
    ("nanorec NeuMF", "PyTorch NeuMF twin"),
)
ALS_HYPERPARAMETERS = dict(n_factors=64, n_iterations=15, reg=0.01)
ALS_ALPHAS = (1.0, 5.0, 10.0, 20.0, 40.0)
LIGHTFM_HYPERPARAMETERS = dict(n_factors=64, n_epochs=30, lr=0.05)  # LightFM's default lr, epochs


@dataclass
class Runner:
    """One row of the tables: how to build the model for a seed, and its epochs (for s/epoch)."""

    name: str
    make: Callable[[int], Recommender]
    n_epochs: Optional[int] = None


# ==== begin: neural models (nanorec.models.neural) and their PyTorch twins ======================
# MatrixFactorization is the seed's Keras model, NeuMF He et al.'s (2017); the twins, in
# benchmarks/_torch_twins.py, share architecture, init, negatives, batch size, Adam and epochs.
from nanorec.models.neural import MatrixFactorization, NeuMF  # noqa: E402

from _torch_twins import TorchMF, TorchNeuMF  # noqa: E402  isort: skip
from _deep_sequence import MODELS as DEEP_SEQUENCE_MODELS  # noqa: E402  isort: skip

SEQUENCE_MODELS = {name: spec for name, spec in DEEP_SEQUENCE_MODELS.items() if "NeuMF" not in name}

NEURAL_HYPERPARAMETERS = {
    "MatrixFactorization": dict(n_factors=16, n_epochs=10, batch_size=128, lr=0.001, n_negatives=4),
    "NeuMF": dict(n_factors=8, layers=(64, 32, 16, 8), n_epochs=20, batch_size=256, lr=0.001,
                  n_negatives=4),
}
NEURAL_PAIRS = (  # (nanorec row, PyTorch row) whose s/epoch are compared
    ("nanorec MatrixFactorization (seed, dense Adam)", "PyTorch MatrixFactorization twin (2 threads)"),
    ("nanorec MatrixFactorization (lazy Adam)",
     "PyTorch MatrixFactorization twin, SparseAdam (2 threads)"),
    ("nanorec NeuMF", "PyTorch NeuMF twin (2 threads)"),
)


def neural_runners():
    """Rows: nanorec MatrixFactorization and NeuMF (every rating a positive; dense Adam, the
    default, as Keras and torch.optim.Adam step every embedding row), then their twins with
    torch.optim.Adam; and MF with lazy Adam beside its twin with SparseAdam on the embeddings
    (the same rule: only the rows of the batch move)."""
    mf, neumf = NEURAL_HYPERPARAMETERS["MatrixFactorization"], NEURAL_HYPERPARAMETERS["NeuMF"]
    ((mf_name, torch_mf_name), (mf_lazy_name, torch_mf_sparse_name),
     (neumf_name, torch_neumf_name)) = NEURAL_PAIRS
    return [
        Runner(mf_name, lambda seed: MatrixFactorization(**mf, implicit=True, random_state=seed),
               mf["n_epochs"]),
        Runner(torch_mf_name, lambda seed: TorchMF(**mf, random_state=seed), mf["n_epochs"]),
        Runner(mf_lazy_name,
               lambda seed: MatrixFactorization(**mf, adam="lazy", implicit=True, random_state=seed),
               mf["n_epochs"]),
        Runner(torch_mf_sparse_name,
               lambda seed: TorchMF(**mf, random_state=seed, sparse_adam=True), mf["n_epochs"]),
        Runner(neumf_name, lambda seed: NeuMF(**neumf, implicit=True, random_state=seed),
               neumf["n_epochs"]),
        Runner(torch_neumf_name, lambda seed: TorchNeuMF(**neumf, random_state=seed),
               neumf["n_epochs"]),
    ]


def neural_warmup_models():
    """Tiny fits that compile (or load from cache) the fused kernels before anything is timed."""
    return (("MatrixFactorization", MatrixFactorization(n_epochs=1, implicit=True)),
            ("NeuMF", NeuMF(n_epochs=1, implicit=True)))


def neural_speed_lines(results):
    """One line per pair: s/epoch of nanorec over s/epoch of its PyTorch twin, per protocol."""
    rows = {row["name"]: row for row in results["rows"] if row["status"] == "ok"}
    lines = []
    for ours, theirs in NEURAL_PAIRS:
        if ours not in rows or theirs not in rows:
            continue
        ratios = []
        for protocol in PROTOCOLS:
            ours_s, theirs_s = (rows[name]["protocols"][protocol]["mean"]["s_per_epoch"]
                                for name in (ours, theirs))
            ratios.append(f"{protocol} {ours_s / theirs_s:.3f}")
        lines.append(f"s/epoch {ours} / {theirs}: " + ", ".join(ratios))
    return lines
# ==== end: neural models ========================================================================


def choose_als_alpha(data):
    """Pick ALS's alpha from ALS_ALPHAS by HR@10 on a validation split of the seed-0 leave-last-out
    train part (each user's latest train item); the test items are never seen. Returns
    (alpha, {alpha: HR@10}), or (None, {}) when implicit is missing (its row is skipped anyway)."""
    try:
        require("implicit", "implicit")
    except Skipped:
        return None, {}
    train, _ = splits(data, "leave-last-out", 0)
    fit_part, valid = splits(train, "leave-last-out", 0)
    scores = {}
    for alpha in ALS_ALPHAS:
        model = ImplicitALS(**ALS_HYPERPARAMETERS, alpha=alpha).fit(fit_part)
        scores[alpha] = float(evaluate(model, valid, train=fit_part, metrics=("hr@10",))["hr@10"])
    return max(scores, key=scores.get), scores


def peer_runners(als_alpha):
    """implicit's ALS (alpha chosen by ``choose_als_alpha``) and LightFM's WARP and BPR."""
    als, lightfm = ALS_HYPERPARAMETERS, LIGHTFM_HYPERPARAMETERS
    chosen = "" if als_alpha is None else f" (alpha {als_alpha:g}, chosen on validation)"
    runners = [Runner("implicit ALS" + chosen,
                      lambda seed: ImplicitALS(**als, alpha=als_alpha, random_state=seed),
                      als["n_iterations"])]
    for loss in ("warp", "bpr"):
        runners.append(Runner(f"LightFM {loss.upper()}",
                              lambda seed, loss=loss: LightFMModel(loss, **lightfm, random_state=seed),
                              lightfm["n_epochs"]))
    return runners


def make_runners(als_alpha=None):
    h = BPR_HYPERPARAMETERS
    return [
        Runner("Popularity", lambda seed: Popularity()),
        Runner("nanorec ItemKNN (k=50)", lambda seed: ItemKNN(k=50)),
        Runner("nanorec BPRMF (default: popularity^0.25 negatives, latest 20% of rows twice)",
               lambda seed: BPRMF(**h, random_state=seed), h["n_epochs"]),
        Runner("nanorec BPRMF (+ dynamic negatives, best of 2)",
               lambda seed: BPRMF(**h, negative_candidates=2, random_state=seed), h["n_epochs"]),
        Runner("nanorec BPRMF (plain BPR: uniform negatives, every row once)",
               lambda seed: BPRMF(**h, distribution="uniform", recent_share=0.0, random_state=seed),
               h["n_epochs"]),
        Runner("nanorec BPRMF (popularity^1 negatives, every row once, as implicit)",
               lambda seed: BPRMF(**h, distribution="popularity", popularity_exponent=1.0,
                                  recent_share=0.0, random_state=seed), h["n_epochs"]),
        Runner("implicit BPR", lambda seed: ImplicitBPR(**h, random_state=seed), h["n_epochs"]),
        *peer_runners(als_alpha),
        *neural_runners(),
        *sequence_runners(),
    ]


def sequence_runners():
    """Caser and RNNRec with bench_deep's settings (benchmarks/_deep_sequence.py): next-item models
    that read each user's train items in time order."""
    return [Runner(f"nanorec {name}", lambda seed, c=model_class, o=options: c(**o, random_state=seed),
                   options["n_epochs"])
            for name, (model_class, options) in SEQUENCE_MODELS.items()]


def splits(data, protocol, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ColdStartWarning)
        if protocol == "leave-last-out":
            return leave_last_out(data)
        return holdout(data, test_size=0.2, seed=seed)


def jit_warmup(data):
    """Fit the Numba-backed models once on a tiny subset (compile or cache load), timed apart."""
    tiny = data.subset(np.arange(min(2000, len(data))))
    warmup = {}
    models = (("BPRMF", BPRMF(n_factors=4, n_epochs=1)), ("ItemKNN", ItemKNN()),
              *neural_warmup_models(),
              *((name, model_class(**{**options, "n_epochs": 1}))
                for name, (model_class, options) in SEQUENCE_MODELS.items()))
    for name, model in models:
        _, warmup[name] = timed(model.fit, tiny)
    return warmup


def kernels_versus_twins(train, n_triples=10000):
    """Median seconds (first call, with its compile, excluded: _common.measure) of BPRMF's epoch
    over the first ``n_triples`` triples of an epoch, through the composed network (fused=False)
    and the fused kernel (fused=True), from the same parameters; and of ItemKNN's neighbour
    search, NumPy twin and Numba kernel."""
    setup = epoch_setup(BPRMF(n_factors=64, recent_share=0.0), train, n_samples=n_triples)
    result = {}
    for name, epoch in (("bpr_composed_network", composed_epoch), ("bpr_fused_kernel", fused_epoch)):
        model, samples, optimizer = copy.deepcopy(setup)
        result[name] = measure(lambda: epoch(model, samples, optimizer), repeats=3)["median_s"]
    model = ItemKNN().fit(train)  # for its CSR; then the neighbour search alone, both ways
    csr = model.train_csr_
    by_item = np.argsort(csr.indices, kind="stable")
    item_users = np.repeat(np.arange(model.n_users_), np.diff(csr.indptr))[by_item]
    item_indptr = np.r_[0, np.cumsum(np.bincount(csr.indices, minlength=model.n_items_))]
    for kernel in (knn.item_neighbours_ref, knn.item_neighbours_nb):
        arrays = (csr.indptr, csr.indices, item_indptr, item_users)
        result[kernel.__name__] = measure(lambda: kernel(*arrays, 50, 0.0), repeats=3)["median_s"]
    result["bpr_triples"] = len(setup[1].order)
    return result


def run_runner(runner, data, protocols, seeds):
    """Per protocol: the metrics and times of each seed, then mean and std. Skipped (from the
    model's fit) when a peer library is missing."""
    results = {}
    for protocol, metrics in protocols.items():
        per_seed, per_user = [], []
        for seed in seeds:
            train, test = splits(data, protocol, seed)
            model, fit_s = timed(runner.make(seed).fit, train)
            evaluation = evaluate(model, test, train=train, metrics=metrics)
            values = dict(evaluation)
            if protocol == PAIRED_PROTOCOL:
                per_user.append({metric: evaluation.per_user[metric] for metric in PAIRED_METRICS})
            if protocol in SAMPLED_PROTOCOLS:
                sampled = evaluate(model, test, train=train, metrics=("hr@10",), protocol="sampled",
                                   n_negatives=SAMPLED_NEGATIVES, seed=seed)
                values[SAMPLED_COLUMN] = sampled["hr@10"]
            values["fit_s"] = fit_s
            if runner.n_epochs:
                values["s_per_epoch"] = fit_s / runner.n_epochs
            per_seed.append(values)
            print(f"  {runner.name} / {protocol} / seed {seed}: {values}", file=sys.stderr)
        results[protocol] = {
            "per_seed": per_seed,
            # leave-last-out tests the same item of each user whatever the seed: its per-user
            # values, averaged over the seeds, are paired across rows (see paired_lines)
            **({"per_user_mean": {metric: np.mean([values[metric] for values in per_user], axis=0)
                                  .tolist() for metric in PAIRED_METRICS}}
               if protocol == PAIRED_PROTOCOL else {}),
            "mean": {key: statistics.mean(v[key] for v in per_seed) for key in per_seed[0]},
            "std": {key: float(np.std([v[key] for v in per_seed])) for key in per_seed[0]},
        }
    return results


def run(data_path, quick, only=()):
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    machine = machine_info()
    data = load_data(data_path)
    seeds = SEEDS[:1] if quick else SEEDS
    warmup = jit_warmup(data)
    als_alpha, als_validation = choose_als_alpha(data)
    rows = []
    for runner in make_runners(als_alpha):
        if only and not any(part.lower() in runner.name.lower() for part in only):
            continue
        row = {"name": runner.name, "status": "ok"}
        try:
            row["protocols"] = run_runner(runner, data, PROTOCOLS, seeds)
        except Skipped as skipped:
            row["status"] = str(skipped)
        rows.append(row)
    train, _ = splits(data, "leave-last-out", 0)
    return {
        "benchmark": "implicit: MovieLens-100K, full ranking",
        "started_utc": started,
        "machine": machine,
        "config": {
            "data": {"n_users": data.n_users, "n_items": data.n_items, "n_interactions": len(data)},
            "seeds": list(seeds),
            "bpr_hyperparameters": BPR_HYPERPARAMETERS,
            "neural_hyperparameters": NEURAL_HYPERPARAMETERS,
            "dtype": "float32",
            "implicit_threads": 1,
            "als_hyperparameters": ALS_HYPERPARAMETERS,
            "als_alpha": {"chosen": als_alpha, "validation_hr@10": als_validation},
            "lightfm_hyperparameters": LIGHTFM_HYPERPARAMETERS,
            "sampled_column": {"protocols": list(SAMPLED_PROTOCOLS),
                               "n_negatives": SAMPLED_NEGATIVES, "seed": "the row's seed"},
            "protocols": {name: list(metrics) for name, metrics in PROTOCOLS.items()},
        },
        "jit_warmup_s": warmup,
        "kernels_vs_twins_s": kernels_versus_twins(train),
        "rows": rows,
    }


def mean_std(summary, key):
    if key not in summary["mean"]:
        return ""
    return f"{summary['mean'][key]:.4f} ± {summary['std'][key]:.4f}"


def report(results):
    config, machine = results["config"], results["machine"]
    parts = [f"## {results['benchmark']} (mean ± std over seeds {config['seeds']})"]
    for protocol, metrics in PROTOCOLS.items():
        sampled = [SAMPLED_COLUMN] if protocol in SAMPLED_PROTOCOLS else []
        columns = list(metrics) + sampled + ["fit_s", "s_per_epoch"]
        table = []
        for row in results["rows"]:
            if row["status"] != "ok":
                table.append([row["name"], row["status"]] + [""] * (len(columns) - 1))
                continue
            summary = row["protocols"][protocol]
            table.append([row["name"]] + [mean_std(summary, key) for key in columns])
        parts += ["", f"### {protocol}", "", markdown_table(["model"] + columns, table)]
    twins = results["kernels_vs_twins_s"]
    parts += [
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, load average at start "
        f"{machine['load_average_at_start']}; Python {machine['python']}, "
        + ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v),
        f"Data: {config['data']}; BPR hyperparameters (both libraries): "
        f"{config['bpr_hyperparameters']}; implicit threads: {config['implicit_threads']}.",
        f"implicit ALS: {config['als_hyperparameters']}, one thread; alpha "
        f"{config['als_alpha']['chosen']} chosen from {list(ALS_ALPHAS)} by validation HR@10 "
        f"{config['als_alpha']['validation_hr@10']}. LightFM: {config['lightfm_hyperparameters']}.",
        f"{SAMPLED_COLUMN}: protocol='sampled', {SAMPLED_NEGATIVES} uniform negatives per test "
        "user, seeded by the row's seed; the other columns rank all items.",
        f"JIT warm-up (excluded above): {results['jit_warmup_s']}",
        f"BPRMF epoch over {twins['bpr_triples']} triples: composed network (fused=False) "
        f"{twins['bpr_composed_network']:.2f} s vs fused kernel {twins['bpr_fused_kernel']:.4f} s; "
        f"ItemKNN neighbours, NumPy twin vs kernel: {twins['item_neighbours_ref']:.2f} s vs "
        f"{twins['item_neighbours_nb']:.3f} s",
        *neural_speed_lines(results),
        *paired_lines(results),
    ]
    return "\n".join(parts)


def paired_lines(results):
    """Paired bootstrap over the test users (10,000 resamples) of nanorec row - peer row, on
    leave-last-out, per-user values averaged over the seeds: the difference and its 95% interval.
    """
    rows = [row for row in results["rows"] if row["status"] == "ok"]
    lines = []
    for ours_prefix, theirs_prefix in PAIRED_ROWS:
        ours = next((row for row in rows if row["name"].startswith(ours_prefix)), None)
        theirs = next((row for row in rows if row["name"].startswith(theirs_prefix)), None)
        if ours is None or theirs is None:
            continue
        parts = []
        for metric in PAIRED_METRICS:
            a, b = (row["protocols"][PAIRED_PROTOCOL]["per_user_mean"][metric]
                    for row in (ours, theirs))
            interval = paired_bootstrap(a, b)
            parts.append(f"{metric} {interval.difference:+.4f} [{interval.low:+.4f}, "
                         f"{interval.high:+.4f}]")
        lines.append(f"{ours['name']} - {theirs['name']} on {PAIRED_PROTOCOL}, paired bootstrap "
                     "over users, 95%: " + ", ".join(parts))
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="ml-100k zip or folder (default: data home)")
    parser.add_argument("--quick", action="store_true", help="one seed only")
    parser.add_argument("--out", default=RESULTS_DIR, help="folder for the JSON results")
    parser.add_argument("--only", default="", help="comma-separated parts of row names to run "
                        "(e.g. 'BPR,Popularity'); default: every row")
    args = parser.parse_args(argv)
    results = run(args.data, args.quick, [part for part in args.only.split(",") if part])
    publish("bench_implicit", results, report(results), args.out)


if __name__ == "__main__":
    main()
