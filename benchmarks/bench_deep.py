"""Deep and content-aware models on MovieLens-100K, in one run: one table per protocol, each
deep model beside its PyTorch twin.

    python benchmarks/bench_deep.py [--data PATH] [--quick] [--only autoencoders,sequence,content]
                                    [--twin-threads 1,2 | none] [--twin-init torch | copy]

Tables:
    holdout 90/10                    AutoRec vs BiasedMF: RMSE, MAE
    leave-last-out, full ranking     CDAE, Caser, RNNRec beside BPRMF, NeuMF and Popularity:
                                     HR@10, NDCG@10
    cold users / cold items          ContentBased, Hybrid vs Popularity (BPRMF: cannot score)

PyTorch twins (_torch_deep_twins.py). Each of AutoRec, CDAE, Caser, RNNRec, ContentBased and Hybrid
is followed by rows of its twin: the same network, initialisation scheme and Adam (weight decay,
lazy embedding rows), trained on the very batches of nanorec's fit, scored the same way, with
torch.set_num_threads at each count of --twin-threads (default 1 and 2). --twin-init torch (the
default) lets torch draw a twin's initial weights from nanorec's distributions; --twin-init copy
starts it from nanorec's initial weights, so that the two fits differ only by float rounding and
the masks of a Dropout layer (CDAE's corruption, Caser's dropout). Columns:
    s/epoch                          median seconds of an epoch's training (batches drawn, steps
                                     taken; no validation): nanorec's epoch_seconds_, the twin's
                                     measured alike
    nanorec / twin s/epoch           the nanorec row's s/epoch over the twin row's
    <metric>: nanorec - twin [95%]   paired bootstrap (nanorec.evaluation.paired_bootstrap, 10,000
                                     resamples) of the mean difference over the test users (over
                                     the test ratings' squared errors for AutoRec: "mse"); it
                                     holds the test users' noise, not the training's: with
                                     --twin-init torch two fits of one seed may differ by more
A twin row says "skipped (pip install torch)" where torch is missing.

Each family's rows come from its own module (``_deep_autoencoders``, ``_deep_sequence``,
``_deep_content``), whose docstrings give the protocol and the hyperparameters and how they were
chosen (on validation splits of the train part, never on the test rows). Fit seconds exclude Numba's
compile or cache load. These models multiply small matrices, where a second BLAS thread on a busy
2-core machine costs more than it gives: the script runs BLAS on one thread unless
OPENBLAS_NUM_THREADS says otherwise (printed under the tables; nanorec's Numba kernels are serial);
the twins' torch threads are in their row names.
Results go to benchmarks/results/bench_deep-<time>.json with the machine facts.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported (see docstring)
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402

import numba  # noqa: E402

import _deep_autoencoders  # noqa: E402
import _deep_content  # noqa: E402
import _deep_sequence  # noqa: E402
from _common import cell, machine_info, markdown_table, write_results  # noqa: E402
from _torch_deep_twins import TWIN_THREADS  # noqa: E402

FAMILIES = {
    "autoencoders": _deep_autoencoders.rows,
    "sequence": _deep_sequence.rows,
    "content": _deep_content.rows,
}


def tables(rows):
    """Group rows by protocol: {protocol: (header, list of rows)} with the columns each needs."""
    grouped = {}
    for row in rows:
        grouped.setdefault(row["protocol"], []).append(row)
    result = {}
    for protocol, members in grouped.items():
        columns = [key for key in dict.fromkeys(k for row in members for k in row)
                   if key not in ("model", "protocol")]
        body = [[row["model"]] + [cell(row.get(key, "")) for key in columns] for row in members]
        result[protocol] = (["model", *columns], body)
    return result


def parse_threads(text, parser):
    """"1,2" -> (1, 2); "none" -> () (no twin rows)."""
    if text.strip().lower() in ("none", ""):
        return ()
    try:
        threads = tuple(int(part) for part in text.split(","))
    except ValueError:
        threads = ()
    if not threads or min(threads) < 1:
        parser.error(f"--twin-threads takes positive integers separated by commas, or none; "
                     f"got {text!r}")
    return threads


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="ml-100k zip or folder (default: data home)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: few epochs")
    parser.add_argument("--only", default=",".join(FAMILIES), help="comma-separated families")
    parser.add_argument("--twin-threads", default=",".join(map(str, TWIN_THREADS)),
                        help="torch threads of the PyTorch twins' rows, comma-separated, or none")
    parser.add_argument("--twin-init", default="torch", choices=("torch", "copy"),
                        help="the twins' initial weights: torch's draw, or a copy of nanorec's")
    args = parser.parse_args(argv)
    twin_threads = parse_threads(args.twin_threads, parser)
    machine = machine_info()
    rows = []
    for family in args.only.split(","):
        if family not in FAMILIES:
            parser.error(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")
        rows += FAMILIES[family](args.data, args.quick, twin_threads, args.twin_init)
    for protocol, (header, body) in tables(rows).items():
        print(f"\n## {protocol}\n\n{markdown_table(header, body)}")
    print(f"\nMachine: {machine['cpu']}, {machine['cores']} cores, load average at start "
          f"{machine['load_average_at_start']}; nanorec: BLAS threads "
          f"{os.environ['OPENBLAS_NUM_THREADS']}, Numba threads "
          f"{numba.config.NUMBA_NUM_THREADS}; twin threads "
          f"{', '.join(map(str, twin_threads)) or 'none'}, init {args.twin_init}; "
          f"quick={args.quick}; "
          + ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v))
    path = write_results("bench_deep", {"machine": machine, "quick": args.quick,
                                        "twin_threads": list(twin_threads),
                                        "twin_init": args.twin_init, "rows": rows})
    print(f"results written to {path}")


if __name__ == "__main__":
    sys.exit(main())
