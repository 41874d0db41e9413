"""Helpers shared by the benchmark scripts: peers that may be missing, machine facts, tables, JSON.

Every script prints the machine (CPU, cores, load average at its start) and the versions beside its
numbers, since timings only compare within one run on one machine.
"""

import argparse
import concurrent.futures
import datetime
import importlib
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from nanorec.data.datasets import load
from nanorec.training import Samples, train_epoch

RESULTS_DIR = Path(__file__).resolve().parent / "results"


class Skipped(Exception):
    """A runner cannot run here (a peer library is missing); the message says what to install."""


def require(module, install_hint):
    """Import ``module`` or raise Skipped("skipped (pip install <hint>)")."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise Skipped(f"skipped (pip install {install_hint})") from None


def package_version(distribution):
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info():
    """CPU model, cores, load average now, OS and Python: what a reader needs to weigh the times."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            names = (line.split(":", 1)[1] for line in cpuinfo if line.startswith("model name"))
            cpu = next(names).strip()
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "versions": {
            name: package_version(name)
            for name in (
                "nanorec", "numpy", "numba", "scikit-surprise", "implicit", "torch", "scipy"
            )
        },
    }


def cell(value):
    """A table cell: floats with four decimals, anything else as it is."""
    return f"{value:.4f}" if isinstance(value, float) else value


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_results(name, results, out_dir=RESULTS_DIR):
    """Write ``results`` as JSON to out_dir/<name>-<UTC time>.json and return the path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"{name}-{stamp}.json"
    path.write_text(json.dumps(results, indent=2, default=float))
    return path


def publish(name, results, text, out_dir=RESULTS_DIR, draw=None):
    """The end of a bench_* run: print ``text`` (its markdown report), write ``results`` as JSON
    and, given ``draw`` (see ``save_figure``), a PNG, each path printed."""
    print(text)
    print(f"\nresults written to {write_results(name, results, out_dir)}")
    if draw is not None:
        figure = save_figure(name, draw, out_dir)
        if figure is not None:
            print(f"figure written to {figure}")


def data_bench_main(name, run, report, description, quick_help, argv=None):
    """The command line of a benchmark on ML-100K: --data PATH, --quick, --out DIR; then
    ``results = run(data, quick)`` and ``publish(name, results, report(results), out)``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", default=None, help="ml-100k zip or folder (default: data home)")
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--out", default=RESULTS_DIR, help="folder for the JSON results")
    args = parser.parse_args(argv)
    results = run(args.data, args.quick)
    publish(name, results, report(results), args.out)


def timed(function, *args):
    """(result, seconds) of one call."""
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def load_data(path):
    """MovieLens-100K from ``path`` (zip or folder), or from the data home when path is None."""
    return load("movielens-100k", path=path)


# ---------------------------------------------------------------- timing, peaks, subprocesses, plots
# (used by bench_engine.py and bench_scaling.py)


def measure(function, repeats=5, min_repeat_s=0.01, budget_s=10.0):
    """Time ``function()``: its first call alone, then the median over ``repeats`` of the time per call.

    The first call pays Numba's compile (or cache load) and cold caches; it is reported apart and
    never enters the median. Each repeat runs ``loops`` calls back to back, enough to last about
    ``min_repeat_s`` (timeit's way), so that microsecond calls are not lost in the timer's jitter.
    Calls so slow that the repeats would pass ``budget_s`` get fewer repeats (at least one).
    Returns {"first_s", "median_s", "repeats", "loops"}.
    """
    _, first_s = timed(function)
    _, once_s = timed(function)
    repeats = max(1, min(repeats, int(budget_s / max(once_s, 1e-9))))
    loops = max(1, int(min_repeat_s / max(once_s, 1e-9)))
    per_call = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(loops):
            function()
        per_call.append((time.perf_counter() - start) / loops)
    return {"first_s": first_s, "median_s": statistics.median(per_call), "repeats": repeats,
            "loops": loops}


def machine_peaks(matmul_size=2048, copy_mb=256, repeats=5, threads=1):
    """What this machine reaches now, measured in the run that uses it as the 100% mark.

    flops      a float32 BLAS matmul (n x n) @ (n x n): 2 n^3 flops, GFLOP/s of the median call,
               on the BLAS threads this process was started with (OPENBLAS_NUM_THREADS, ...)
    bandwidth  np.copyto of a float32 array of ``copy_mb`` MB (far beyond the caches), split into
               ``threads`` contiguous parts copied at once by as many Python threads (NumPy
               releases the GIL while it copies): it reads and writes every byte, so 2 * size
               bytes per call, GB/s of the median call
    """
    rng = np.random.default_rng(0)
    a, b = (rng.random((matmul_size, matmul_size), dtype=np.float32) for _ in range(2))
    matmul = measure(lambda: a @ b, repeats=repeats)
    source = np.ones(copy_mb * 2**20 // 4, np.float32)
    target = np.empty_like(source)
    bounds = [len(source) * part // threads for part in range(threads + 1)]
    parts = [slice(start, stop) for start, stop in zip(bounds[:-1], bounds[1:])]
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        def copy_all():
            for done in [pool.submit(np.copyto, target[part], source[part]) for part in parts]:
                done.result()

        copy = measure(copy_all, repeats=repeats)
    return {
        "gflops": 2 * matmul_size**3 / matmul["median_s"] / 1e9,
        "gbytes_per_s": 2 * source.nbytes / copy["median_s"] / 1e9,
        "matmul_size": matmul_size,
        "copy_mb": copy_mb,
        "copy_threads": threads,
    }


def run_fresh_python(code, *args, timeout=3600):
    """Run ``code`` in a new interpreter (python -c code args...); return the JSON its last stdout
    line prints. A fresh process is the only honest way to time imports, first fits and peak RSS."""
    completed = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                               text=True, timeout=timeout)
    if completed.returncode != 0:
        raise RuntimeError(f"subprocess failed ({completed.returncode}):\n{completed.stderr[-2000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def save_figure(name, draw, out_dir=RESULTS_DIR):
    """Draw a figure with ``draw(pyplot)`` and save it as out_dir/<name>-<UTC time>.png.

    Returns the path, or None (after printing a note) when matplotlib is not installed.
    """
    try:
        import matplotlib
    except ImportError:
        print('no PNG: matplotlib is not installed (pip install "nanorec[plot]")')
        return None
    matplotlib.use("Agg")  # no screen
    import matplotlib.pyplot as pyplot

    figure = draw(pyplot)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"{name}-{stamp}.png"
    figure.savefig(path, dpi=120, bbox_inches="tight")
    pyplot.close(figure)
    return path


# ---------------------------------------------------------------------- fused vs composed epochs
def epoch_setup(model, data, n_samples=None):
    """(model, samples, optimizer) for timing one training epoch of a NetworkRecommender both
    ways: ``model`` fitted for one epoch on ``data`` (vocabulary, network and random streams in
    place), the Samples of its next epoch (only the first ``n_samples`` of them in the epoch's
    order, if given) and a fresh optimizer. Deep-copy it to give both ways the same start."""
    model.n_epochs = 1
    model.fit(data)
    samples = model._training_data(data)()
    if n_samples is not None:
        rows = samples.order[:n_samples]

        def take(array):
            return None if array is None else array[rows]

        inputs = (tuple(take(array) for array in samples.inputs)
                  if isinstance(samples.inputs, tuple) else take(samples.inputs))
        samples = Samples(inputs, take(samples.target), take(samples.weight),
                          np.arange(len(rows)), samples.batch_size)
    return model, samples, model._optimizer(model.network_)


def fused_epoch(model, samples, optimizer):
    """fused=True: the model's Numba kernel takes the epoch's steps; returns its mean loss."""
    return model._fused_epoch(samples, optimizer)


def composed_epoch(model, samples, optimizer):
    """fused=False: the same steps through the composed network (forward, loss, backward, step,
    nanorec.training.train_epoch); returns its mean loss."""
    return train_epoch(model.network_, model._loss(), optimizer, samples)["loss"]
