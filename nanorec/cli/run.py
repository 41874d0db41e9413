"""``nanorec run EXPERIMENT.toml [--out FILE] [--data DATA]``: run an experiment file, print the
comparison table, write every figure to JSON.

The file names the data, the split, the models (fixed arguments or a search space), the metrics,
the seeds and the baseline (and optionally side features, built from the data's own user and
item tables: MovieLens 100K's); its format is in nanorec.evaluation.experiment, and
benchmarks/experiments/ holds examples. A relative data path (or the PATH of NAME:PATH) is read
from the experiment file's folder; --data replaces the file's data (as nanorec train --data takes
it, paths from the current folder).

Standard output gets only what the file and the data decide (the settings, the searched
arguments, the table and the intervals), so the same file on the same data prints the same text;
what was fitted and how long it took goes to standard error. The JSON file (written atomically;
default: the experiment file's name with .json, in the current folder) holds the results, the
resolved arguments of every model, the searches' trials, the fit seconds, the versions of Python,
NumPy, Numba and nanorec, the machine, the data's SHA-256 and the experiment file's own SHA-256
and text. A file with ``data_sha256`` refuses any other data before fitting anything: copy the
hash a run prints into the file to pin its data.
"""

import datetime
import functools
import json
import os
import platform
import sys
import time

from nanorec import __version__, io
from nanorec.cli.common import (REGISTRY, build_model, describe, load_data, output_file,
                                side_tables)
from nanorec.evaluation.experiment import read_experiment, run_experiment

HELP = "run an experiment file (TOML): models compared, intervals against a baseline, JSON"


def add_options(parser):
    parser.add_argument("experiment", metavar="EXPERIMENT",
                        help="the experiment file (TOML; see benchmarks/experiments/)")
    parser.add_argument("--out", metavar="FILE",
                        help="write the results here (.json; default: the experiment file's name "
                             "with .json, in the current folder)")
    parser.add_argument("--data", metavar="DATA",
                        help="use this data instead of the file's (as nanorec train --data takes "
                             "it); the file's data_sha256, if any, still applies")


def run(args):
    started = datetime.datetime.now(datetime.timezone.utc)
    experiment = read_experiment(args.experiment)
    default_out = os.path.splitext(os.path.basename(args.experiment))[0] + ".json"
    out = output_file(args.out or default_out, "--out", ".json")
    for spec in experiment.models:  # before the data is read
        if spec.name not in REGISTRY:
            raise ValueError(f"{experiment.source}: model {spec.label!r}: unknown model "
                             f"{spec.name!r}; the models: {', '.join(REGISTRY)}")
    spec = args.data or _beside(args.experiment, experiment.data)
    loaded = load_data(spec)
    data = loaded.interactions
    tables = side_tables(loaded) if experiment.features is not None else None
    models = {model.label: _builder(model.name, data, spec) for model in experiment.models}
    print(f"experiment  {args.experiment}" + (f": {experiment.title}" if experiment.title else ""))
    print(f"data        {args.data or experiment.data}: {describe(data)}")
    print(f"data sha256 {experiment.data_hash(data, tables)}")
    print(f"split       {experiment.split.describe()}")
    if experiment.features is not None:
        print(f"features    {experiment.features.describe()}")
    start = time.perf_counter()
    result = run_experiment(experiment, data, models, log=_progress, tables=tables)
    seconds = time.perf_counter() - start
    print(f"\n{result.to_markdown()}")
    record = {
        "nanorec_run": 1,
        "started_utc": started.isoformat(timespec="seconds"),
        "seconds": seconds,
        "experiment": {"path": os.path.abspath(args.experiment), "sha256": experiment.sha256,
                       "text": experiment.text},
        "data": {"spec": spec, "path_or_name": loaded.spec, "identity": loaded.identity,
                 "sha256": result.data_sha256, "n_users": data.n_users, "n_items": data.n_items,
                 "n_rows": len(data)},
        "environment": environment(),
        "results": result.to_dict(),
    }
    text = json.dumps(record, indent=2, allow_nan=False) + "\n"
    io.write_atomically(out, lambda handle: handle.write(text.encode("utf-8")))
    print(f"\nwrote {out} ({seconds:.1f} s)", file=sys.stderr)
    return 0


def _beside(experiment_path, data):
    """``data`` with its relative path (the whole of it, or PATH in NAME:PATH) read from the
    experiment file's folder when that file exists there; else as it is (a data set's name, an
    absolute path)."""
    folder = os.path.dirname(os.path.abspath(experiment_path))
    name, colon, path = data.partition(":")
    for prefix, relative in (("", data), (name + colon, path)):
        candidate = os.path.join(folder, relative)
        if relative and not os.path.isabs(relative) and os.path.exists(candidate):
            return prefix + candidate
    return data


def _builder(name, data, data_label):
    """(**params) -> the unfitted model ``name`` with its command-line defaults and params; a
    UsageError when the data lacks what it needs."""
    model = build_model(name, data, data_label, {}, seed=0, verbose=False)
    defaults = {key: value for key, value in model.get_params().items() if key != "random_state"}
    return functools.partial(type(model), **defaults)


def _progress(line):
    print(f"  {line}", file=sys.stderr, flush=True)


def environment():
    """Versions and the machine: what a reader needs to rerun the table and weigh the times."""
    import numba
    import numpy

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next(line.split(":", 1)[1].strip() for line in cpuinfo
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"python": platform.python_version(), "numpy": numpy.__version__,
            "numba": numba.__version__, "nanorec": __version__, "cpu": cpu,
            "cores": os.cpu_count(), "platform": platform.platform(),
            "load_average_at_start": [round(load, 2) for load in os.getloadavg()]}
