"""What the train, evaluate and recommend commands share: the models, the data, the split.

    REGISTRY          CLI name -> model class (nanorec.models.REGISTRY, filled as the classes
                      are defined; each with its summary, needs and command-line defaults)
    load_data(spec)   "synthetic[:UxIxN]", "toy", "movielens-100k", a standard data set of
                      nanorec.data.datasets.DATASETS by name ("movielens-1m", "amazon-books", ...;
                      "NAME:PATH" for a copy outside the data home), or the path of a MovieLens
                      100K zip or folder or of a CSV/TSV file -> LoadedData: the Interactions and
                      an identity (a name with a size, or a SHA-256 of the contents) that tells
                      evaluate whether it sees the data the model was trained on
    split(...)        the protocol's (train, test): loo = leave-last-out, holdout = a seeded 20%
                      random holdout, none = train on everything

A model file written by ``nanorec train`` or ``nanorec tune`` records data, identity, how a text
file was read (--sep, --columns, --duplicates), protocol and seed in its header metadata
(training_record, Recommender.save), so that ``nanorec evaluate`` can rebuild exactly the
held-out rows.
"""

import argparse
import hashlib
import math
import os
import re
import zipfile
from typing import NamedTuple

import numpy as np

import nanorec.privacy  # noqa: F401  (registers the privacy models beside nanorec.models')
from nanorec import io
from nanorec.data import datasets, delimited
from nanorec.data.interactions import DUPLICATE_POLICIES, Interactions
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
    check_needs(model_class, name, data, data_label)
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


def check_needs(model_class, name, data, data_label):
    """UsageError when ``data`` lacks what ``model_class.needs`` (keys of NEEDS; none when the
    class has no ``needs``) names; ``name`` is the model's name in the message."""
    for need in getattr(model_class, "needs", ()):
        present, what = NEEDS[need]
        if not present(data):
            raise UsageError(f"model {name} needs {what}, and the data {data_label} has none")


# ---------------------------------------------------------------------- data
SYNTHETIC_LIMIT = 10**8  # users, items or rows of "--data synthetic:UxIxN"
# the standard data sets are the keys of datasets.DATASETS: NAME (from the data home) or NAME:PATH
STANDARD_DATA = ", ".join(name if spec.file else f"{name}:PATH"
                          for name, spec in datasets.DATASETS.items())
NAMED_DATA = f"synthetic, synthetic:UxIxN, toy, movielens-100k, {STANDARD_DATA} (or NAME:PATH)"


class LoadedData(NamedTuple):
    """Interactions with where they came from: ``spec`` (a path made absolute) to load them
    again, ``options`` (how a text file was read: sep, columns, duplicates, those given) and
    ``identity``, equal for equal data (a SHA-256 of the contents: moved or copied files match).
    ``layout`` describes how a text file was read (None for other data)."""

    interactions: Interactions
    spec: str
    identity: str
    options: dict = None  # None: no options (not a text file, or none given)
    layout: str = None


def load_data(spec, sep=None, columns=None, duplicates=None):
    """The LoadedData named by ``spec``.

    spec : "synthetic" (SYNTHETIC_SIZE), "synthetic:UxIxN" (U users, I items, N rows), "toy",
        "movielens-100k" (from the data home, see ``nanorec datasets``), a key of
        datasets.DATASETS ("movielens-1m", "amazon-books", "lastfm-1k", ...: from the data
        home) or "NAME:PATH" (its archive, folder or ratings file at PATH; "recbole:FILE.inter"
        always needs one), or a path: a MovieLens 100K zip in the GroupLens layout or its
        extracted folder, or a delimited text file (CSV, TSV, MovieLens' u.data), read by
        Interactions.from_delimited.
    sep, columns, duplicates : how to read a text file (--sep, --columns, --duplicates); None:
        detect the separator and the columns, refuse repeated (user, item) pairs.
    """
    options = {name: value for name, value in
               (("sep", sep), ("columns", columns), ("duplicates", duplicates)) if value is not None}
    name, _, size = spec.partition(":")
    if name in datasets.DATASETS:
        _no_text_options(options, spec)
        return _standard_data(name, spec)
    if name == "synthetic" or spec in ("toy", "movielens-100k"):
        _no_text_options(options, spec)
        if name == "synthetic":
            n_users, n_items, n_rows = _synthetic_size(size) if size else SYNTHETIC_SIZE
            data = datasets.load("synthetic", n_users=n_users, n_items=n_items,
                                 n_interactions=n_rows, seed=0)
            return LoadedData(data, spec, f"synthetic:{n_users}x{n_items}x{n_rows}")
        data = datasets.load(spec)
        if spec == "toy":
            return LoadedData(data, spec, spec)
        return LoadedData(data, spec, f"movielens-100k:{datasets.movielens_100k_checksum()}")
    if not os.path.exists(spec):
        if os.sep in spec or "/" in spec or os.path.splitext(spec)[1]:
            raise FileNotFoundError(f"no such file: {spec}")
        raise UsageError(f"unknown data {spec!r}: give {NAMED_DATA}, or the path of a CSV/TSV "
                         "file or of a MovieLens zip or folder")
    path = os.path.abspath(spec)
    if not os.path.isdir(spec) and not os.path.isfile(spec):
        raise UsageError(f"{spec} is not a regular file (a pipe or a device?): --data reads a "
                         "file twice (to train, then to evaluate), so save the data to a file")
    official = [name for name, standard in datasets.DATASETS.items()
                if standard.file == os.path.basename(path)]
    if official:  # ml-1m.zip, ratings_Books.csv, ...: read by their own parser, not as 100K or CSV
        raise UsageError(f"{spec} is the file of the data set {official[0]}: give "
                         f"--data {official[0]}:{spec}")
    if os.path.isdir(spec) or zipfile.is_zipfile(spec):
        _no_text_options(options, f"{spec} (a MovieLens {'folder' if os.path.isdir(spec) else 'zip'})")
        if os.path.isdir(spec) and not _holds_movielens(spec):
            raise UsageError(f"{spec} is a folder without MovieLens' u.data: --data takes a "
                             "MovieLens folder or zip (GroupLens ml-100k layout), a CSV/TSV "
                             f"file, or {NAMED_DATA}")
        data = datasets.load("movielens-100k", path=spec)
        checksum = datasets.movielens_100k_checksum(path=spec)
        return LoadedData(data, path, f"movielens-100k:{checksum}")
    parsed = delimited.read_delimited(spec, sep=sep, columns=columns)
    data = Interactions.from_parsed(parsed, duplicates=duplicates or "error")
    return LoadedData(data, path, f"csv:{_sha256(spec)}", options, parsed.layout.describe())


def side_tables(loaded):
    """(user table, item table) of LoadedData (nanorec.data.datasets.side_tables), read from
    where it was: MovieLens 100K's zip, folder or data home copy; ValueError for other data."""
    if loaded.identity.startswith("movielens-100k:"):
        path = None if loaded.spec == "movielens-100k" else loaded.spec
        return datasets.side_tables("movielens-100k", path=path)
    return datasets.side_tables(loaded.spec)


def _standard_data(name, spec):
    """A data set of datasets.DATASETS: ``name`` from the data home, or ``name:PATH``. Its
    identity is the name and a SHA-256 of the Interactions read (the same for the archive, its
    extracted folder and its ratings file)."""
    _, colon, path = spec.partition(":")
    path = os.path.expanduser(path)
    if colon and not path:
        raise UsageError(f"{spec!r} names no path after the colon: give {name}:PATH")
    if not colon and datasets.DATASETS[name].file is None:
        raise UsageError(f"{name} has no official download: give its file, --data {name}:PATH")
    try:
        data = datasets.load(name, path=path or None)
    except FileNotFoundError as error:
        if path:
            raise
        raise FileNotFoundError(f"{error} (on the command line: --data {name}:PATH)") from None
    spec = f"{name}:{os.path.abspath(path)}" if path else name
    return LoadedData(data, spec, f"{name}:{_interactions_sha256(data)}")


def _interactions_sha256(data):
    """SHA-256 of the rows and id maps of an Interactions (ratings and timestamps included)."""
    digest = hashlib.sha256()
    for array in (data.user_ids, data.item_ids, data.user_index, data.item_index, data.ratings,
                  data.timestamps):
        if array is None:
            digest.update(b"none;")
            continue
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _holds_movielens(folder):
    return any(os.path.isfile(os.path.join(folder, *parts, "u.data"))
               for parts in ((), ("ml-100k",)))


def _no_text_options(options, what):
    if options:
        given = ", ".join(f"--{name}" for name in options)
        raise UsageError(f"{given} tell how to read a CSV/TSV file; {what} is not one")


def _synthetic_size(size):
    match = re.fullmatch(r"(\d+)x(\d+)x(\d+)", size)
    if match is None:
        raise UsageError(f"bad synthetic size {size!r}: write USERSxITEMSxROWS, e.g. "
                         "synthetic:200x100x4000")
    n_users, n_items, n_rows = (int(number) for number in match.groups())
    example = f"e.g. synthetic:{max(n_users, 1)}x{max(n_items, 2)}x{max(n_users, 1)}"
    if n_users < 1 or n_items < 2 or n_rows < 1:
        raise UsageError(f"bad synthetic size {size!r}: at least 1 user, 2 items and 1 row "
                         f"({example})")
    if max(n_users, n_items, n_rows) > SYNTHETIC_LIMIT:
        raise UsageError(f"bad synthetic size {size!r}: at most {SYNTHETIC_LIMIT:,} users, items "
                         "or rows")
    if n_rows > n_users * (n_items - 1):
        raise UsageError(f"bad synthetic size {size!r}: {n_users:,} users can have at most "
                         f"{n_users * (n_items - 1):,} rows (each keeps one of the {n_items:,} "
                         "items unrated)")
    return n_users, n_items, n_rows


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def training_record(model_name, loaded, protocol, seed):
    """What a model file records of its training (the header metadata that ``nanorec evaluate``
    reads to rebuild the held-out rows): the model's CLI name, the data (``loaded.spec`` and
    ``loaded.identity``), how a text file was read (``data_options``, lists for tuples, only when
    options were given), the protocol and the seed."""
    record = {"model": model_name, "data": loaded.spec, "data_id": loaded.identity,
              "protocol": protocol, "seed": seed}
    if loaded.options:
        record["data_options"] = {name: list(value) if isinstance(value, tuple) else value
                                  for name, value in loaded.options.items()}
    return record


def output_file(path, option, extension=None):
    """``path`` for a file to write (``extension`` appended when missing), checked before any
    work is done: UsageError naming ``option`` for an empty path, a folder, a folder that does
    not exist or cannot be written."""
    try:
        path = io.output_path(path, extension)
    except (ValueError, FileNotFoundError) as error:
        raise UsageError(f"{option}: {error}") from None
    folder = os.path.dirname(os.path.abspath(path))
    if not os.access(folder, os.W_OK):
        raise UsageError(f"{option}: cannot write {path}: the folder {folder} is not writable")
    return path


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
def separator(text):
    """argparse type of --sep: a character, or tab, comma, semicolon, pipe, space."""
    try:
        return delimited.parse_separator_option(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def column_roles(text):
    """argparse type of --columns: user,item[,rating][,timestamp] in file order, - to skip."""
    try:
        return delimited.parse_columns_option(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_data_option(parser, default):
    """--data, and --sep, --columns, --duplicates for text files."""
    parser.add_argument(
        "--data", default=default, metavar="DATA",
        help="synthetic (1000 users, 500 items, 50,000 rows), synthetic:UxIxN (U users, I items, "
             "N rows), toy, movielens-100k (from the data home), a standard data set by name "
             f"({STANDARD_DATA}: from the data home; NAME:PATH reads its archive, folder or "
             "ratings file at PATH; see nanorec datasets), a MovieLens 100K zip or "
             "folder (GroupLens ml-100k layout), or a CSV/TSV file: separator and header "
             "detected, columns user, item[, rating][, timestamp]"
             + (f" (default: {default})" if default else ""),
    )
    parser.add_argument("--sep", type=separator, metavar="SEP",
                        help="the separator of a text file: a character, or tab, comma, "
                             "semicolon, pipe, space (default: detected)")
    parser.add_argument("--columns", type=column_roles, metavar="ROLES",
                        help="the role of each column of a text file, in order: user, item, "
                             "rating, timestamp, or - to skip one; e.g. user,item,-,rating "
                             "(default: from the header, else user,item,rating,timestamp)")
    parser.add_argument("--duplicates", choices=DUPLICATE_POLICIES, metavar="POLICY",
                        help="repeated (user, item) pairs in a text file: error (the default), "
                             "last (keep the latest row) or sum (add up their ratings)")


def data_options(args):
    """The text-file options of the command line, as load_data's keyword arguments."""
    return {"sep": args.sep, "columns": args.columns, "duplicates": args.duplicates}

def integer_at_least(minimum):
    """An argparse type: an integer >= minimum (the error says which)."""
    wanted = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"

    def integer(text):
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {wanted}, got {text!r}")
        return value

    return integer


positive_int = integer_at_least(1)


def positive_float(text):
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value
