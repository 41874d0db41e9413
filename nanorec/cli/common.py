"""What the train, evaluate and recommend commands share: the models, the data, the split.

    REGISTRY          CLI name -> model class (nanorec.models.REGISTRY, filled as the classes
                      are defined; each with its summary, needs and command-line defaults)
    load_data(spec)   "synthetic[:UxIxN]", "toy", "movielens-100k" or a CSV path -> LoadedData:
                      the Interactions and an identity (a name, or a CSV's SHA-256) that tells
                      evaluate whether it sees the data the model was trained on
    split(...)        the protocol's (train, test): loo = leave-last-out, holdout = a seeded 20%
                      random holdout, none = train on everything

A model file written by ``nanorec train`` records data, identity, protocol and seed in its header
metadata (Recommender.save), so that ``nanorec evaluate`` can rebuild exactly the held-out rows.
"""

import argparse
import csv
import hashlib
import math
import os
import re
from typing import NamedTuple

import nanorec.privacy  # noqa: F401  (registers the privacy models beside nanorec.models')
from nanorec.data import datasets
from nanorec.data.interactions import Interactions
from nanorec.data.split import holdout, leave_last_out
from nanorec.models import REGISTRY
from nanorec.models.base import NEEDS

HOLDOUT_TEST_SIZE = 0.2
SYNTHETIC_SIZE = (1000, 500, 50_000)  # users, items, rows of "--data synthetic"
PROTOCOL_NAMES = {"loo": "leave-last-out", "holdout": f"random {HOLDOUT_TEST_SIZE:.0%} holdout",
                  "none": "no split (trained on every row)", "kfold": "5-fold cross-validation"}


class UsageError(ValueError):
    """The command line asks for something that cannot be done (exit code 2, not 1)."""


# command-line option -> constructor argument it sets (when the model has that argument)
OPTION_ARGUMENTS = {"epochs": "n_epochs", "factors": "n_factors", "lr": "lr"}


def build_model(name, data, data_label, options, seed, verbose):
    """The unfitted model ``name`` with its command-line defaults, the given options and the seed.

    ``options`` maps OPTION_ARGUMENTS keys to values (None: keep the default). UsageError when the
    data lacks what the model needs, or an option names an argument the model does not have.
    """
    model_class = REGISTRY[name]
    for need in model_class.needs:
        present, what = NEEDS[need]
        if not present(data):
            raise UsageError(f"model {name} needs {what}, and the data {data_label} has none")
    model = model_class(**model_class.cli_defaults)
    arguments = model.get_params()
    for option, value in options.items():
        if value is None:
            continue
        argument = OPTION_ARGUMENTS[option]
        if argument not in arguments:
            raise UsageError(f"model {name} has no {argument} (--{option}); its arguments: "
                             f"{', '.join(arguments) or 'none'}")
        setattr(model, argument, value)
    if "random_state" in arguments:
        model.random_state = seed
    if "verbose" in arguments:
        model.verbose = verbose
    return model


# ---------------------------------------------------------------------- data
class LoadedData(NamedTuple):
    """Interactions with where they came from: ``spec`` (a CSV as an absolute path) to load them
    again, and ``identity``, equal for equal data (a CSV's SHA-256: moved or copied files match)."""

    interactions: Interactions
    spec: str
    identity: str


def load_data(spec):
    """The LoadedData named by ``spec``.

    spec : "synthetic" (SYNTHETIC_SIZE), "synthetic:UxIxN" (U users, I items, N rows), "toy",
        "movielens-100k" (from the data home, see ``nanorec datasets``), or the path of a CSV file
        whose header names the columns user, item and optionally rating and timestamp.
    """
    name, _, size = spec.partition(":")
    if name == "synthetic":
        n_users, n_items, n_rows = _synthetic_size(size) if size else SYNTHETIC_SIZE
        data = datasets.load("synthetic", n_users=n_users, n_items=n_items,
                             n_interactions=n_rows, seed=0)
        return LoadedData(data, spec, f"synthetic:{n_users}x{n_items}x{n_rows}")
    if spec in ("toy", "movielens-100k"):
        return LoadedData(datasets.load(spec), spec, spec)
    if not os.path.isfile(spec):
        if spec.lower().endswith(".csv") or os.sep in spec:
            raise FileNotFoundError(f"no such file: {spec}")
        raise UsageError(f"unknown data {spec!r}: give synthetic, synthetic:UxIxN, toy, "
                         "movielens-100k or the path of a CSV file")
    return LoadedData(_read_csv(spec), os.path.abspath(spec), f"csv:{_sha256(spec)}")


def _synthetic_size(size):
    match = re.fullmatch(r"(\d+)x(\d+)x(\d+)", size)
    if match is None:
        raise UsageError(f"bad synthetic size {size!r}: write USERSxITEMSxROWS, e.g. "
                         "synthetic:200x100x4000")
    return tuple(int(number) for number in match.groups())


def _read_csv(path):
    """A CSV with a header: user, item, and rating / timestamp when the header has them."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            header = [field.strip() for field in next(csv.reader(handle), [])]
        columns = {column: column if column in header else None for column in ("rating", "timestamp")}
        return Interactions.from_csv(path, user="user", item="item", **columns)
    except csv.Error as error:
        raise ValueError(f"{path} is not a readable CSV file: {error}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a UTF-8 text file (a CSV was expected)") from None


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def split(data, protocol, seed):
    """(train, test) of a protocol: loo, holdout (seeded) or none (test is None)."""
    if protocol == "none":
        return data, None
    if protocol == "holdout":
        return holdout(data, test_size=HOLDOUT_TEST_SIZE, seed=seed)
    if data.timestamps is None:
        raise UsageError("--protocol loo holds out each user's latest row and needs timestamps, "
                         "which this data lacks: use --protocol holdout")
    return leave_last_out(data)


def describe(data):
    """'U users, I items, N rows (ratings, timestamps)'."""
    parts = [part for part, present in (("ratings", data.ratings is not None),
                                        ("timestamps", data.timestamps is not None)) if present]
    kind = ", ".join(parts) or "implicit, no timestamps"
    return f"{data.n_users:,} users, {data.n_items:,} items, {len(data):,} rows ({kind})"


# ---------------------------------------------------------------------- option types
def positive_int(text):
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def positive_float(text):
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value
