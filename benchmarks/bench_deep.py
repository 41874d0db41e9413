"""Deep and content-aware models on MovieLens-100K, in one run: one table per protocol.

    python benchmarks/bench_deep.py [--data PATH] [--quick] [--only autoencoders,sequence,content]

Tables:
    holdout 90/10                    AutoRec vs BiasedMF: RMSE, MAE
    leave-last-out, full ranking     CDAE, Caser, RNNRec beside BPRMF, NeuMF and Popularity: HR@10, NDCG@10
    cold users / cold items          ContentBased, Hybrid vs Popularity (BPRMF: cannot score)

Each family's rows come from its own module (``_deep_autoencoders``, ``_deep_sequence``,
``_deep_content``), whose docstrings give the protocol and the hyperparameters and how they were
chosen (on validation splits of the train part, never on the test rows). Fit seconds exclude Numba's
compile or cache load. These models multiply small matrices, where a second BLAS thread on a busy
2-core machine costs more than it gives: the script runs BLAS on one thread, as every peer row here.
Results go to benchmarks/results/bench_deep-<time>.json with the machine facts.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported (see docstring)
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402

import _deep_autoencoders  # noqa: E402
import _deep_content  # noqa: E402
import _deep_sequence  # noqa: E402
from _common import cell, machine_info, markdown_table, write_results  # noqa: E402

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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="ml-100k zip or folder (default: data home)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: few epochs")
    parser.add_argument("--only", default=",".join(FAMILIES), help="comma-separated families")
    args = parser.parse_args(argv)
    machine = machine_info()
    rows = []
    for family in args.only.split(","):
        if family not in FAMILIES:
            parser.error(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")
        rows += FAMILIES[family](args.data, args.quick)
    for protocol, (header, body) in tables(rows).items():
        print(f"\n## {protocol}\n\n{markdown_table(header, body)}")
    print(f"\nMachine: {machine['cpu']}, {machine['cores']} cores, load average at start "
          f"{machine['load_average_at_start']}; BLAS threads 1; quick={args.quick}")
    path = write_results("bench_deep", {"machine": machine, "quick": args.quick, "rows": rows})
    print(f"results written to {path}")


if __name__ == "__main__":
    sys.exit(main())
