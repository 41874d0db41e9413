"""What every tutorial shares: fast mode, the output folder for figures, and the data choice.

    NANOREC_FAST=1            shrink epochs and data so a tutorial runs in a few seconds (tests, CI)
    NANOREC_TUTORIAL_OUT=DIR  write figures to DIR (default: tutorials/out/, git-ignored)
    NANOREC_DATA_HOME=DIR     where MovieLens-100K is looked for (see nanorec.data.datasets)
"""

import os
from pathlib import Path


def fast_mode():
    """True when NANOREC_FAST is set to anything but "", "0" or "false"."""
    return os.environ.get("NANOREC_FAST", "").strip().lower() not in ("", "0", "false")


def output_dir():
    """The folder for figures: $NANOREC_TUTORIAL_OUT, else tutorials/out/ (created if missing)."""
    folder = Path(os.environ.get("NANOREC_TUTORIAL_OUT") or Path(__file__).parent / "out")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def pyplot():
    """matplotlib.pyplot on the Agg backend (no screen needed), or an ImportError naming the extra."""
    try:
        import matplotlib
    except ImportError as error:
        message = 'the tutorials draw figures with matplotlib: pip install "nanorec[plot]"'
        raise ImportError(message) from error
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, name):
    """Save ``fig`` as ``name`` in the output folder, close it, print and return the path."""
    path = output_dir() / name
    fig.savefig(path, dpi=110, bbox_inches="tight")
    pyplot().close(fig)
    print(f"figure written: {path}")
    return path


def movielens_or_synthetic(fast, **synthetic_options):
    """(data, name): MovieLens-100K when it is in the data home and not in fast mode, else the
    synthetic set built with ``synthetic_options``; prints which one and why."""
    from nanorec.data import datasets

    if not fast and datasets.available()["movielens-100k"]["local"] is not None:
        print("data: MovieLens-100K from", datasets.available()["movielens-100k"]["local"])
        return datasets.load("movielens-100k", download=False), "MovieLens-100K"
    reason = "fast mode" if fast else (
        f"MovieLens-100K is not in the data home {datasets.get_data_home()} (set NANOREC_DATA_HOME "
        "to a folder holding ml-100k.zip to use it)")
    print(f"data: the synthetic set ({reason})")
    return datasets.load("synthetic", **synthetic_options), "synthetic"
