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

A [[models]] table with ``class = "FILE.py:Class"`` runs the code of FILE.py (read from the
experiment file's folder when relative), as ``python FILE.py`` would run it: its folder goes first
on sys.path, so that it imports the modules beside it, and whatever the file does when it is
executed is done. Run only experiment files whose code you trust. ``"package.module:Class"``
imports an installed module. The class must be a nanorec Recommender; the libraries named by its
``requires`` (module -> pip package) must be importable; both are checked before the data is read.
Standard output names each class with its file's SHA-256, and so does the JSON record (with the
file's absolute path): a rerun tells whether the code changed.
"""

import datetime
import functools
import hashlib
import importlib
import importlib.util
import json
import os
import platform
import re
import sys
import time
from typing import NamedTuple

from nanorec import __version__, io
from nanorec.cli.common import (
    REGISTRY,
    build_model,
    check_needs,
    describe,
    load_data,
    output_file,
    side_tables,
)
from nanorec.evaluation.experiment import read_experiment, require_threadpoolctl, run_experiment
from nanorec.models.base import Recommender

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
    classes = {}  # label -> LoadedClass, for the models given by class
    for spec in experiment.models:  # before the data is read
        if spec.model_class is not None:
            classes[spec.label] = load_class(spec, args.experiment)
            check_requires(classes[spec.label].cls, f"{experiment.source}: model {spec.label!r}")
        elif spec.name not in REGISTRY:
            raise ValueError(f"{experiment.source}: model {spec.label!r}: unknown model "
                             f"{spec.name!r}; the models: {', '.join(REGISTRY)}")
    if experiment.blas_threads is not None:  # before the data is read
        require_threadpoolctl()
    spec = args.data or _beside(args.experiment, experiment.data)
    loaded = load_data(spec)
    data = loaded.interactions
    tables = side_tables(loaded) if experiment.features is not None else None
    models = {}
    for model in experiment.models:
        if model.label in classes:
            check_needs(classes[model.label].cls, model.label, data, spec)
            models[model.label] = classes[model.label].cls
        else:
            models[model.label] = _builder(model.name, data, spec)
    print(f"experiment  {args.experiment}" + (f": {experiment.title}" if experiment.title else ""))
    print(f"data        {args.data or experiment.data}: {describe(data)}")
    print(f"data sha256 {experiment.data_hash(data, tables)}")
    print(f"split       {experiment.split.describe()}")
    if experiment.blas_threads is not None:
        print(f"blas        {experiment.blas_threads} thread(s) (blas_threads)")
    if experiment.features is not None:
        print(f"features    {experiment.features.describe()}")
    for label, model_class in classes.items():
        code = f", sha256 {model_class.record['sha256']}" if "sha256" in model_class.record else ""
        print(f"class       {label}: {model_class.record['class']}{code}")
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
        "classes": {label: model_class.record for label, model_class in classes.items()},
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


class LoadedClass(NamedTuple):
    """A [[models]] table's class: ``cls``, and ``record``, what the JSON keeps of it (the class
    spec; for a file its absolute path and SHA-256)."""

    cls: type
    record: dict


def load_class(spec, experiment_path):
    """The LoadedClass of ModelSpec ``spec`` (its ``model_class``, "FILE.py:Class" with FILE
    from the folder of the experiment file at ``experiment_path``, or "package.module:Class").

    Executes FILE.py (see the module docstring) or imports the module. ValueError, one line naming
    the model, for a missing file, a module that cannot be imported, a file with a syntax error,
    no such class, or a class that is not a nanorec Recommender. The libraries of its
    ``requires`` are not imported (see check_requires).
    """
    where = f"{experiment_path}: model {spec.label!r} ({spec.model_class})"
    module_name, class_name = spec.class_parts()
    record = {"class": spec.model_class}
    if module_name.endswith(".py"):
        folder = os.path.dirname(os.path.abspath(experiment_path))
        path = os.path.normpath(os.path.join(folder, module_name))
        if not os.path.isfile(path):
            raise ValueError(f"{where}: no file {path} (a relative path is read from the "
                             "experiment file's folder)")
        with open(path, "rb") as handle:
            code = handle.read()
        record.update(file=path, sha256=hashlib.sha256(code).hexdigest())
        module = _run_file(path, code, record["sha256"], where)
    else:
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise ValueError(f"{where}: cannot import {module_name}: {error}") from None
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        raise ValueError(f"{where}: {module_name} defines no class {class_name}")
    if not issubclass(cls, Recommender):
        raise ValueError(f"{where}: {class_name} is not a nanorec Recommender (a subclass of "
                         "nanorec.models.base.Recommender: fit, predict, recommend, get_params)")
    return LoadedClass(cls, record)


def check_requires(cls, where):
    """ImportError, ``where`` first, naming the pip package of the first module of
    ``cls.requires`` (module -> pip package; none when the class has no ``requires``) that is not
    installed. Nothing is imported: the modules are only looked up."""
    for module, package in getattr(cls, "requires", {}).items():
        try:
            found = importlib.util.find_spec(module) is not None
        except ImportError:  # a dotted name whose parent package is missing
            found = False
        if not found:
            raise ImportError(f"{where}: {cls.__name__} needs the module {module}, which is not "
                              f"installed: pip install {package}")


def _run_file(path, code, sha256, where):
    """The module of the file at ``path`` whose bytes are ``code``: executed once per content (a
    module named after the file and its SHA-256, kept in sys.modules), its folder first on
    sys.path as for a script."""
    stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    name = f"nanorec_run_{stem}_{sha256[:16]}"
    if name in sys.modules:
        return sys.modules[name]
    folder = os.path.dirname(path)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    module = importlib.util.module_from_spec(importlib.util.spec_from_file_location(name, path))
    sys.modules[name] = module  # as an import does: dataclasses and pickle look the module up
    try:
        exec(compile(code, path, "exec"), module.__dict__)
    except (SyntaxError, ImportError) as error:
        del sys.modules[name]
        line = f", line {error.lineno}" if isinstance(error, SyntaxError) else ""
        raise ValueError(f"{where}: {path}{line} failed to load: {type(error).__name__}: "
                         f"{error.msg if isinstance(error, SyntaxError) else error}") from None
    except BaseException:
        del sys.modules[name]
        raise
    return module


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
