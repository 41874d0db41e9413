"""Can gradcheck check a network of MovieLens-100K size, and how sure is the answer?

    python benchmarks/bench_gradcheck_scale.py [--directions K] [--batch N] [--seed S]

The network is NeuMF's (nanorec.models.neural.NeuMFNetwork) at ML-100K size in float64: 943
users, 1682 items, n_factors = 8, layers = (64, 32, 16, 8), about 1.1e5 parameters, with its
training loss (BCEWithLogitsLoss) on a batch of N synthetic (user, item, label) triples: no data
file is read. gradcheck sees it as one layer, inputs -> [[loss]] (nanorec.testing.verify's
Objective), so every parameter array is a row.

Rows of the table:

    directional          gradcheck(mode="directional", directions=K): wall-clock seconds (the
                         accumulation check's two backward passes included, and the full check
                         of a small array whose direction met a kink), the verdict, and the
                         report's bound on the probability that an error of 1% (2-norm) of
                         some array passed all K directions
    directional, a 1%    the same with the output layer's dW multiplied by 1.01 in backward: it
    error planted        must fail
    full (estimated)     two evaluations of f per entry: the per-entry cost measured on the tower's
                         first weight matrix (full mode on that one array), times the number of
                         entries; full mode is not run on the whole network

JIT warm-up: one directional check runs before the timed one. The machine, its load and the
versions are printed; results go to benchmarks/results/bench_gradcheck_scale-<time>.json.
"""

import argparse
import time

import numpy as np
from _common import machine_info, markdown_table, write_results

from nanorec.models.neural import NeuMFNetwork
from nanorec.nn.losses import BCEWithLogitsLoss
from nanorec.testing.gradcheck import gradcheck
from nanorec.testing.verify import Objective

N_USERS, N_ITEMS, N_FACTORS, LAYERS = 943, 1682, 8, (64, 32, 16, 8)


def objective(batch, seed):
    """NeuMF at ML-100K size in float64 and its mean BCE loss on ``batch`` synthetic triples."""
    rng = np.random.default_rng(seed)
    network = NeuMFNetwork(N_USERS, N_ITEMS, N_FACTORS, LAYERS, rng=rng, dtype=np.float64)
    users, items = rng.integers(0, N_USERS, batch), rng.integers(0, N_ITEMS, batch)
    labels = rng.integers(0, 2, (batch, 1)).astype(np.float64)
    return Objective(network, BCEWithLogitsLoss(), labels, None), (users, items)


def plant_error(network, factor=1.01):
    """Multiply the output layer's weight gradient by ``factor`` in every backward pass."""
    output, right = network.output, network.output.backward

    def backward(dy):
        kept = output.grads["W"].copy()
        dx = right(dy)
        output.grads["W"][...] = kept + factor * (output.grads["W"] - kept)
        return dx

    output.backward = backward


def timed_check(target, inputs, **options):
    start = time.perf_counter()
    report = gradcheck(target, inputs, **options)
    return report, time.perf_counter() - start


def per_entry_seconds(target, inputs, seed):
    """Seconds per entry of full mode, measured on the tower's first weight matrix alone."""
    weights = target.network.tower[0].params["W"]
    kept = target.params
    name = next(name for name, p in kept.items() if p is weights)
    target.params = {name: weights}  # full mode on this one array (input ids are not checked)
    try:
        _, seconds = timed_check(target, inputs, seed=seed)
    finally:
        target.params = kept
    return seconds / weights.size


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--directions", type=int, default=8)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    machine = machine_info()
    print(f"machine: {machine['cpu']}, {machine['cores']} cores, load average at start "
          f"{machine['load_average_at_start']}; python {machine['python']}, numpy "
          f"{machine['versions']['numpy']}, numba {machine['versions']['numba']}")

    target, inputs = objective(args.batch, args.seed)
    n_params = sum(p.size for p in target.params.values())
    print(f"NeuMF network, float64: {N_USERS} users, {N_ITEMS} items, n_factors={N_FACTORS}, "
          f"layers={LAYERS}: {n_params} parameters in {len(target.params)} arrays; "
          f"batch of {args.batch} synthetic triples\n")
    options = {"mode": "directional", "directions": args.directions, "seed": args.seed}
    timed_check(target, inputs, **options)  # warm-up: Numba kernels compiled or loaded
    report, seconds = timed_check(target, inputs, **options)
    miss = max(row.miss_probability for row in report.rows if row.directions)
    in_full = [row.name for row in report.rows if not row.directions]
    entry_seconds = per_entry_seconds(target, inputs, args.seed)
    planted_target, _ = objective(args.batch, args.seed)
    plant_error(planted_target.network)
    planted, planted_seconds = timed_check(planted_target, inputs, **options)

    rows = [
        ["directional", f"{seconds:.2f}", "PASS" if report.passed else "FAIL", f"{miss:.1e}"],
        ["directional, a 1% error planted", f"{planted_seconds:.2f}",
         "PASS" if planted.passed else "FAIL", "-"],
        ["full (estimated)", f"{entry_seconds * n_params:.0f}", "-", "0 (entry by entry)"],
    ]
    print(markdown_table(["check", "seconds", "verdict", "P(1% error passes)"], rows))
    print(f"\nfull mode: {entry_seconds * 1e3:.2f} ms per entry (two evaluations of f), measured "
          f"on the tower's first weight matrix; directional: {args.directions} directions per "
          f"array, two evaluations each; arrays checked again in full after a failed direction "
          f"(a kink, or a bug): {', '.join(in_full) or 'none'}\n")
    print(report)
    results = {
        "machine": machine,
        "network": {"n_users": N_USERS, "n_items": N_ITEMS, "n_factors": N_FACTORS,
                    "layers": LAYERS, "n_parameters": n_params, "batch": args.batch,
                    "dtype": "float64"},
        "directions": args.directions,
        "seed": args.seed,
        "directional_seconds": seconds,
        "directional_passed": report.passed,
        "miss_probability_rho_1e-2": miss,
        "checked_in_full_after_a_failed_direction": in_full,
        "planted_error_seconds": planted_seconds,
        "planted_error_caught": not planted.passed,
        "full_seconds_per_entry": entry_seconds,
        "full_seconds_estimated": entry_seconds * n_params,
        "rows": [{"name": row.name, "shape": row.shape, "rel_error": row.rel_error,
                  "passed": row.passed, "miss_probability": row.miss_probability}
                 for row in report.rows],
    }
    print(f"results written to {write_results('bench_gradcheck_scale', results)}")


if __name__ == "__main__":
    main()
