"""How training and evaluation costs grow with the data, from 10^5 to 2 * 10^7 interactions.

Question: does a nanorec epoch cost the same per interaction at MovieLens-20M size as at 100K
(cost ~ n^a with a <= 1.1), does BiasedMF (100 factors) stay under 150 ns per rating per epoch in
under 4 GB at 2 * 10^7, and does full-ranking evaluation stay in bounded memory there?

Data: nanorec.datasets.load("synthetic", ...) at each size n, shaped like MovieLens-20M at the top
(138,000 users and 27,000 items for 20M ratings): n_users = n // 145, n_items = 20,000 at every
size, so both an epoch (n samples) and a full ranking (U x I scores) grow linearly in n. The
generator itself is timed too (about 2.5 s per million rows, well below 1 GB at 2 * 10^7: it is
used at every size). Each size is generated once in a fresh process and saved to a temporary .npz.

Per size and model, a fresh process (so that ru_maxrss is that run's peak, Numba-allocated memory
included, which tracemalloc cannot see) loads the arrays, splits leave-last-out (each user's latest
row is the test row), warms Numba up on a tiny fit (not timed), fits for EPOCHS epochs and
evaluates HR@10 and NDCG@10 with full ranking (evaluate's default chunks of users, about 80 MB of
work arrays whatever the size). Reported:

    s/epoch        median of the fit's epoch times (model.epoch_seconds_: each epoch's training,
                   timed by the epoch loop itself)
    setup s        fit s - the sum of the epoch times (init, grouping the rows, negative
                   sampler, ...) + building the train set's CSR (timed before the fit)
    ns/sample      s/epoch / train rows (BiasedMF: per rating)
    eval s         full-ranking evaluation of every test user
    peak RSS       ru_maxrss of the process (data, split, model, evaluation)

Models: BiasedMF (100 factors, float32), BPRMF (64 factors, its default negatives) and the deep
MatrixFactorization (the seed's Keras model, 16 factors, 4 negatives per positive, batch 128,
adam="lazy": Adam moves only the embedding rows a batch used; the dense default updates all U + I
rows at every batch, which makes an epoch cost O(n (U + I) / batch), quadratic here).
The exponent a of cost ~ n^a is the least-squares slope of log(cost) on log(n), per model and
per column, printed and plotted (PNG beside the JSON).

    python benchmarks/bench_scaling.py [--quick] [--out DIR]

--quick    sizes up to 10^6 only (the full run goes to 2 * 10^7)
"""

import argparse
import datetime
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

# helpers shared by the bench_* scripts (run as a script, this folder is on sys.path)
from _common import (  # noqa: E402  isort: skip
    RESULTS_DIR,
    machine_info,
    markdown_table,
    publish,
    run_fresh_python,
    timed,
)

SIZES = (100_000, 300_000, 1_000_000, 3_000_000, 10_000_000, 20_000_000)
QUICK_MAX = 1_000_000
USERS_PER = 145  # interactions per user, as in MovieLens-20M
N_ITEMS = 20_000
SEED = 0
EPOCHS = 3
METRICS = ("hr@10", "ndcg@10")
MODELS = {  # name: (module, class, hyperparameters); EPOCHS is added
    "BiasedMF (K=100)": ("nanorec.models.mf", "BiasedMF", dict(n_factors=100)),
    "BPRMF (K=64)": ("nanorec.models.mf", "BPRMF", dict(n_factors=64)),
    "MatrixFactorization (K=16, deep)": ("nanorec.models.neural", "MatrixFactorization",
                                         dict(n_factors=16, implicit=True, adam="lazy")),
}
TARGETS = {"exponent": 1.1, "biased_mf_ns_per_rating": 150, "biased_mf_rss_gb": 4}

# A fresh interpreter runs one step: this file's ``generate`` or ``fit_and_evaluate``.
WORKER_CODE = """
import json, sys
sys.path.insert(0, {folder!r})
import bench_scaling
print(json.dumps(getattr(bench_scaling, sys.argv[1])(*sys.argv[2:])))
"""


def dataset_shape(n_interactions):
    """(n_users, n_items) of the synthetic set with n interactions."""
    return max(n_interactions // USERS_PER, 10), N_ITEMS


def peak_rss_gb():
    """This process's peak resident memory (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def generate(n_interactions, path):
    """Worker: make the synthetic set of n interactions, save its arrays to ``path`` (.npz)."""
    from nanorec.data.datasets import load

    n_interactions = int(n_interactions)
    n_users, n_items = dataset_shape(n_interactions)
    start = time.perf_counter()
    data = load("synthetic", n_users=n_users, n_items=n_items, n_interactions=n_interactions,
                seed=SEED)
    seconds = time.perf_counter() - start
    np.savez(path, user_index=data.user_index, item_index=data.item_index, ratings=data.ratings,
             timestamps=data.timestamps, shape=np.array([data.n_users, data.n_items]))
    return {"generate_s": seconds, "generate_peak_rss_gb": peak_rss_gb(),
            "n_users": data.n_users, "n_items": data.n_items}


def load_saved(path):
    """The Interactions saved by ``generate`` (raw ids 1..U and 1..I, as the generator's)."""
    from nanorec.data.interactions import Interactions

    arrays = np.load(path)
    n_users, n_items = arrays["shape"]
    return Interactions(arrays["user_index"], arrays["item_index"], np.arange(1, n_users + 1),
                        np.arange(1, n_items + 1), arrays["ratings"], arrays["timestamps"],
                        check_duplicates=False)


def fit_and_evaluate(model_name, path):
    """Worker: split, warm up, fit and evaluate one model on the saved set; times and peak RSS."""
    import importlib

    from nanorec.data.split import ColdStartWarning, leave_last_out
    from nanorec.evaluation.protocols import evaluate

    module, class_name, hyperparameters = MODELS[model_name]
    model_class = getattr(importlib.import_module(module), class_name)
    data = load_saved(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ColdStartWarning)
        train, test = leave_last_out(data)
    rss_data_gb = peak_rss_gb()
    # JIT warm-up (compile or cache load) on a small subset, not timed
    model_class(**hyperparameters, n_epochs=1).fit(train.subset(np.arange(min(2000, len(train)))))
    _, csr_s = timed(train.to_csr)  # cached by train, used by fit and evaluate
    model = model_class(**hyperparameters, n_epochs=EPOCHS, random_state=SEED)
    _, fit_s = timed(model.fit, train)
    s_per_epoch = float(np.median(model.epoch_seconds_))
    peak_before_eval_gb = peak_rss_gb()
    start = time.perf_counter()
    values = evaluate(model, test, train=train, metrics=METRICS)
    eval_s = time.perf_counter() - start
    return {"n_train": len(train), "n_test_users": values.n_users, "s_per_epoch": s_per_epoch,
            "setup_s": csr_s + fit_s - sum(model.epoch_seconds_),
            "ns_per_sample": 1e9 * s_per_epoch / len(train), "eval_s": eval_s,
            **{metric: float(values[metric]) for metric in METRICS},
            "peak_rss_gb": peak_rss_gb(), "peak_after_split_gb": rss_data_gb,
            "peak_before_eval_gb": peak_before_eval_gb}


def in_fresh_process(step, *args):
    code = WORKER_CODE.format(folder=str(Path(__file__).resolve().parent))
    return run_fresh_python(code, step, *args)


def growth_exponent(sizes, costs):
    """Least-squares slope a of log(cost) = a log(n) + c: cost ~ n^a.

    Points whose cost is not positive (a difference of two fit times lost in the noise) are left
    out; None when fewer than 2 points remain.
    """
    sizes, costs = np.asarray(sizes, dtype=float), np.asarray(costs, dtype=float)
    kept = costs > 0
    if kept.sum() < 2:
        return None
    slope, _ = np.polyfit(np.log(sizes[kept]), np.log(costs[kept]), 1)
    return float(slope)


def run(quick):
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    machine = machine_info()
    sizes = [n for n in SIZES if not quick or n <= QUICK_MAX]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for n in sizes:
            path = str(Path(folder) / f"synthetic-{n}.npz")
            generated = in_fresh_process("generate", n, path)
            print(f"  n={n}: {generated}", file=sys.stderr)
            for model_name in MODELS:
                row = {"n": n, "model": model_name, **generated,
                       **in_fresh_process("fit_and_evaluate", model_name, path)}
                print(f"  {row}", file=sys.stderr)
                rows.append(row)
            Path(path).unlink()
    return {
        "benchmark": "scaling: synthetic data, 1e5 to 2e7 interactions",
        "started_utc": started,
        "machine": machine,
        "config": {"sizes": sizes, "users_per": USERS_PER, "n_items": N_ITEMS, "seed": SEED,
                   "epochs": EPOCHS, "dtype": "float32", "metrics": list(METRICS),
                   "models": {name: spec[2] for name, spec in MODELS.items()},
                   "split": "leave-last-out", "protocol": "full ranking", "targets": TARGETS},
        "rows": rows,
        "exponents": exponents(rows),
    }


COSTS = ("s_per_epoch", "eval_s", "peak_rss_gb", "generate_s")


def exponents(rows):
    """{model: {cost: a}} over the sizes measured."""
    result = {}
    for model_name in dict.fromkeys(row["model"] for row in rows):
        mine = [row for row in rows if row["model"] == model_name]
        result[model_name] = {cost: growth_exponent([r["n"] for r in mine], [r[cost] for r in mine])
                              for cost in COSTS}
    return result


def _exponent_cell(value):
    return "" if value is None else f"{value:.2f}"


def report(results):
    rows, machine, config = results["rows"], results["machine"], results["config"]
    header = ["n", "model", "users", "s/epoch", "ns/sample", "setup s", "eval s",
              "HR@10", "peak RSS GB", "generate s"]
    body = [[f"{row['n']:.0e}", row["model"], row["n_users"], f"{row['s_per_epoch']:.3f}",
             f"{row['ns_per_sample']:.0f}",
             f"{row['setup_s']:.3f}", f"{row['eval_s']:.2f}",
             f"{row['hr@10']:.4f}",
             f"{row['peak_rss_gb']:.2f}", f"{row['generate_s']:.1f}"] for row in rows]
    fits = [[name] + [_exponent_cell(values[cost]) for cost in COSTS]
            for name, values in results["exponents"].items()]
    return "\n".join([
        f"## {results['benchmark']} (s/epoch: median of {config['epochs']} epochs, float32)",
        "",
        markdown_table(header, body),
        "",
        f"### Growth exponent a of cost ~ n^a (least squares on log-log; target a <= "
        f"{TARGETS['exponent']})",
        "",
        markdown_table(["model", "s/epoch", "eval s", "peak RSS", "generator s"], fits),
        "",
        *target_lines(results),
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, load average at start "
        f"{machine['load_average_at_start']}; Python {machine['python']}, "
        + ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v),
        f"Data: synthetic, n_users = n // {config['users_per']}, n_items = {config['n_items']}, "
        f"seed {config['seed']}; split {config['split']}; {config['protocol']}.",
    ])


def target_lines(results):
    """BiasedMF at the largest size measured, against the targets."""
    biased = [row for row in results["rows"] if row["model"].startswith("BiasedMF")]
    if not biased:
        return []
    largest = biased[-1]
    ns_target, rss_target = TARGETS["biased_mf_ns_per_rating"], TARGETS["biased_mf_rss_gb"]
    ns_verdict = "met" if largest["ns_per_sample"] <= ns_target else "missed"
    rss_verdict = "met" if largest["peak_rss_gb"] <= rss_target else "missed"
    return [f"BiasedMF at n = {largest['n']:.0e}: {largest['ns_per_sample']:.0f} ns per rating per "
            f"epoch (target <= {ns_target}: {ns_verdict}), peak RSS {largest['peak_rss_gb']:.2f} GB (target <= {rss_target} GB: "
            f"{rss_verdict}); full-ranking evaluation {largest['eval_s']:.1f} s."]


def plot_costs(results):
    """Seconds per epoch and evaluation seconds against n, log-log, with the fitted n^a lines."""
    def draw(pyplot):
        figure, axes = pyplot.subplots(1, 2, figsize=(11, 4.5))
        for index, (model_name, fitted) in enumerate(results["exponents"].items()):
            rows = [row for row in results["rows"] if row["model"] == model_name]
            n = np.array([row["n"] for row in rows], dtype=float)
            for ax, cost, label in ((axes[0], "s_per_epoch", "s per epoch"),
                                    (axes[1], "eval_s", "full-ranking evaluation s")):
                seconds = np.array([row[cost] for row in rows])
                a, kept = fitted[cost], seconds > 0
                ax.plot(n[kept], seconds[kept], "o", color=f"C{index}")
                if a is not None:
                    c = np.mean(np.log(seconds[kept]) - a * np.log(n[kept]))
                    ax.plot(n, np.exp(c) * n**a, "-", color=f"C{index}",
                            label=f"{model_name}: a = {a:.2f}")
                ax.set(xscale="log", yscale="log", xlabel="interactions n", ylabel=label)
        for ax in axes:
            ax.legend(fontsize=7)
        figure.suptitle("cost ~ n^a on synthetic data")
        figure.tight_layout()
        return figure

    return draw


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"sizes up to {QUICK_MAX:.0e} only")
    parser.add_argument("--out", default=RESULTS_DIR, help="folder for the JSON and PNG results")
    args = parser.parse_args(argv)
    results = run(args.quick)
    publish("bench_scaling", results, report(results), args.out, plot_costs(results))


if __name__ == "__main__":
    main()
