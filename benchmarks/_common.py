"""Helpers shared by the benchmark scripts: peers that may be missing, machine facts, tables, JSON.

Every script prints the machine (CPU, cores, load average at its start) and the versions beside its
numbers, since timings only compare within one run on one machine.
"""

import datetime
import importlib
import importlib.metadata
import json
import os
import platform
import sys
import time
from pathlib import Path

from nanorec.data.datasets import load

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


def timed(function, *args):
    """(result, seconds) of one call."""
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def load_data(path):
    """MovieLens-100K from ``path`` (zip or folder), or from the data home when path is None."""
    return load("movielens-100k", path=path)
