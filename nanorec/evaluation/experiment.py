"""Experiment files: a whole comparison in one TOML file, rerun to the same table.

    read_experiment(path)                    the file -> Experiment (every key checked)
    parse_experiment(text, source)           the same from TOML text
    run_experiment(experiment, data, models) -> ExperimentResult: the table, the JSON record
    data_sha256(data)                        the content hash of an Interactions
    Experiment.data_hash(data, tables)       the same with the side columns [features] reads

The file names the data, the split, the models, the metrics, the seeds and the baseline:

    title = "BPRMF against the baselines"       # optional, printed first
    data = "synthetic:300x200x6000"             # what nanorec train --data takes
    data_sha256 = "9f2c..."                     # optional: refuse any other data
    metrics = ["hr@10", "ndcg@10", "gini@10"]   # what evaluate takes
    seeds = [0, 1, 2]                           # each model's random_state (default [0])
    unknown = "skip"                            # rmse, mae: evaluate's unknown (default "skip")
    blas_threads = 1                            # BLAS threads while it runs (default: as started)
    baseline = "Popularity"                     # the model the others are compared with (a label)

    [split]                                     # the test part, which no search ever sees
    protocol = "loo"                            # loo | holdout | kfold | cold-users | cold-items
    seed = 0                                    # all but loo (default 0); or "per-seed"
    test_size = 0.2                             # holdout (default 0.2)
    n_splits = 5                                # kfold (default 5)
    user_fraction = 0.1                         # cold-users, cold-items (default 0.1)
    item_fraction = 0.1                         # cold-users, cold-items (default 0.1)

    [features]                                  # optional: side features from the data's tables
    users = [{ column = "age", kind = "numeric" }, { column = "gender", kind = "categorical" }]
    items = [{ column = "genres", kind = "categorical" },
             { column = "year", kind = "numeric", fill = "mean" },
             { column = "title", kind = "tfidf", max_features = 100 }]

    [bootstrap]                                 # optional
    resamples = 10000                           # (default 10000)
    confidence = 0.95                           # (default 0.95)
    seed = 0                                    # (default 0)

    [[models]]                                  # one table per model, in the order of the table
    name = "popularity"                         # a model of nanorec train --help
    label = "Popularity"                        # optional (default: name), unique

    [[models]]                                  # any Recommender class instead of a name:
    class = "../peers.py:ImplicitBPR"           # FILE.py:Class (FILE from the experiment
    label = "implicit BPR"                      # file's folder) or package.module:Class
    params = { n_factors = 64 }

    [[models]]
    name = "bpr"
    label = "BPRMF (searched)"
    params = { n_factors = 64, n_epochs = 100 } # constructor arguments (default: the model's)
    [models.search]                             # optional: some arguments chosen on validation
    space = { lr = [0.01, 0.05], reg = [0.001, 0.01] }   # lists, or {low, high, log} ranges
    trials = 8                                  # random search: 8 draws (no trials: the grid)
    validation = "loo"                          # loo | holdout | kfold, carved from train
                                                # (default: loo after a loo split, else holdout)
    folds = 1                                   # validation splits (default 1; kfold 5)
    metric = "ndcg@10"                          # what picks the best (default: the first metric)
    seed = 0                                    # the draws, the validation splits (default 0)

A model is either ``name``, a model of nanorec's registry (with the command line's defaults), or
``class``, a nanorec Recommender class (its own defaults): exactly one of the two. ``class`` runs
code: "FILE.py:Class" executes FILE.py, as running it as a script would (its folder goes first on
sys.path, so it imports the modules beside it), and "package.module:Class" imports the module; so
run only experiment files whose code you trust. The JSON record names the class and, for a file,
its SHA-256, so a rerun tells whether the code changed. A class may list the modules its fit
imports in ``requires``, a dict module -> pip package (e.g. {"implicit": "implicit"}): a run checks
them before it reads the data and names the package to install. The classes are loaded by the
command (nanorec.cli.run); this module only checks the key's form.

The protocols (nanorec.data.split): loo holds out each user's latest row; holdout a random
test_size of the rows; kfold cuts the rows into n_splits folds, each the test part once;
cold-users and cold-items hold out a random user_fraction of the users and item_fraction of the
items with all their rows (cold_start_split) and test the cold users (each ranks the items with
train rows) or the cold items (each user who rated one ranks the items without train rows),
measured by nanorec.evaluation.cold.evaluate_cold: its metrics only (hr, precision, recall, ndcg,
map, mrr, auc), and no search (a validation carved from train would rank warm users).

Features. [features] replaces the data's own user features (users = [...]) and item features
(items = [...]) by blocks built from the data's raw side tables (nanorec.data.datasets.side_tables:
MovieLens 100K's age, gender, occupation, zip; title, year, genres), left to right; a side it does
not list keeps the data's own. Each block is {column, kind, options} with the kinds of
nanorec.data.features:

    kind = "tfidf"         TfidfText: TF-IDF words        max_features, min_df, prefix
    kind = "hashed"        HashedText: hashed words       n_buckets, prefix
    kind = "categorical"   Categorical: one-hot           prefix
    kind = "numeric"       Numeric: standardized          fill ("mean" or a number)

The blocks are fitted on each split's TRAIN part only (attach_features with fit_on="interacted":
the users and items with train rows), then every user and item, the test ones included, is
transformed: a held-out item's title words enter no vocabulary, its year no mean. The test parts
keep the data's features (evaluation reads the model's, from train). With [features] the data's
hash (data_sha256, printed and recorded, and what the file's data_sha256 pins) also covers the
side-table columns the blocks read and the ids of their rows: each column's name and values as
JSON text, users then items, after the Interactions' parts (see ``data_sha256``).

What a run does. The data is split once (kfold: into n_splits pairs), with the split's seed; with
seed = "per-seed" once per model seed s instead, with seed s, and the models fitted on that split
with random_state s only (as benchmarks/bench_implicit.py draws its holdouts), so that the spread
over the seeds takes in the split's. For each split and model, a search
(nanorec.evaluation.tune.search, on the split's TRAIN part only) first picks the searched
arguments; then the model is fitted on the train part once per seed of the split (random_state =
seed; once only for models without random_state) and evaluated on the test part with
nanorec.evaluation.evaluate, full ranking, and rmse and mae as evaluate's ``unknown`` says: "skip"
(the default) scores the test rows of the users with train rows, "baseline" every test row, those
a model cannot score by its baseline score; either way the rows depend on the split only, so every
model answers the same rows. A metric's value for one seed is its mean over the splits of that
seed; the table shows the mean and the standard deviation (population, ddof 0) over the seeds.

Differences from the baseline are paired: the same test units for both models, then
nanorec.evaluation.paired_bootstrap over the units. A unit is what is tested, counted once
however many runs (seeds, splits) tested it, its value averaged over them:

    ranking metrics with per-user values (hr, ndcg, recall, precision, map, mrr, auc, novelty,
    ild): one unit per evaluated user; the statistic is the mean
    mae: one unit per test row, a (user, item) pair (|error|); rmse: the same units (squared
    error), the statistic sqrt(mean a) - sqrt(mean b)
    coverage, gini, entropy: a value of all the lists together, no units: the difference of the
    means only

Why a user counts once: the bootstrap resamples independent units, and one user's values under
several seeds, folds or per-seed splits are not independent (the same tastes, often the same test
items). Counting each (seed, user) pair as a unit would treat them so and narrow the interval by
up to the square root of the number of runs; averaging first keeps the user as the unit the
conclusion is about (which users a model serves better), as leave-last-out always did.

With one split and a ranking metric the bootstrap's difference equals the difference of the
table's means; with several splits (k folds, or per-seed splits, users weighted by the runs that
tested them) or for rmse (pooled over rows) it is the pooled value, which can differ from them in
the last digits.

Everything that varies is seeded (split, searches, fits, bootstrap), and the fitted models are
deterministic (serial kernels), so the same file on the same data gives the same table; the data's
hash (data_sha256) tells whether it is the same data. The networks whose products go to BLAS
(ContentBased, Hybrid, RNNRec, the MLPs) sum in an order that follows BLAS's thread count, and a
float32 sum in another order can move a long training's metrics beyond the last digit (the
README's model section gives RNNRec's case). ``blas_threads = N``
holds BLAS to N threads for the whole run (threadpoolctl: ``pip install "nanorec[experiments]"``),
so the file, not the machine, decides: the shipped MovieLens files say 1, as bench_implicit,
bench_deep and bench_coldstart run.
"""

import contextlib
import functools
import hashlib
import json
import math
import time
import tomllib
from dataclasses import dataclass, field

import numpy as np

from nanorec import _checks
from nanorec.data.features import (Categorical, FeaturePipeline, HashedText, Numeric, TfidfText,
                                   attach_features)
from nanorec.data.split import cold_start_split, holdout, kfold, leave_last_out
from nanorec.evaluation import tune
from nanorec.evaluation.cold import evaluate_cold, parse_cold_metrics
from nanorec.evaluation.protocols import CATALOGUE, evaluate, markdown_table, parse_metrics
from nanorec.evaluation.significance import paired_bootstrap

RATING_METRICS = ("rmse", "mae")


# ---------------------------------------------------------------------- the file
PER_SEED = "per-seed"  # [split] seed = "per-seed": each model seed draws its own split
COLD_PROTOCOLS = {"cold-users": "users", "cold-items": "items"}  # -> evaluate_cold's kind


@dataclass(frozen=True)
class Split:
    """How the data is split: ``protocol`` with its options (see the module docstring).

    ``seed`` is an integer, or PER_SEED: the split of model seed s is drawn with seed s."""

    protocol: str = "loo"
    seed: object = 0  # int, or PER_SEED
    test_size: float = 0.2
    n_splits: int = 5
    user_fraction: float = 0.1
    item_fraction: float = 0.1

    @property
    def per_seed(self):
        """True when each model seed gets its own split (seed = "per-seed")."""
        return self.seed == PER_SEED

    @property
    def cold(self):
        """evaluate_cold's kind ("users", "items") for a cold-start protocol, else None."""
        return COLD_PROTOCOLS.get(self.protocol)

    def apply(self, data, seed=None):
        """The (train, test) pairs of ``data``: one, or n_splits for kfold. ``seed`` is the model
        seed whose split is drawn when the split's seed is "per-seed" (required then, and
        ignored otherwise)."""
        if self.per_seed:
            if seed is None:
                raise ValueError('a split with seed = "per-seed" is drawn for one model seed: '
                                 "pass it (apply(data, seed))")
        else:
            seed = self.seed
        if self.protocol == "loo":
            return [leave_last_out(data)]
        if self.protocol == "holdout":
            return [holdout(data, test_size=self.test_size, seed=seed)]
        if self.protocol == "kfold":
            return kfold(data, n_splits=self.n_splits, seed=seed)
        train, user_test, item_test = cold_start_split(data, self.user_fraction,
                                                       self.item_fraction, seed=seed)
        return [(train, user_test if self.cold == "users" else item_test)]

    def describe(self):
        """One line: the protocol and its options."""
        seed = ("a split per model seed, drawn with that seed" if self.per_seed
                else f"seed {self.seed}")
        if self.protocol == "loo":
            return "leave-last-out (each user's latest row is the test part)"
        if self.protocol == "holdout":
            return f"random holdout of {self.test_size:.0%} of the rows ({seed})"
        if self.protocol == "kfold":
            return f"{self.n_splits}-fold cross-validation ({seed})"
        return (f"cold {self.cold}: {self.user_fraction:.0%} of the users and "
                f"{self.item_fraction:.0%} of the items held out with all their rows, the "
                f"{self.cold} tested ({seed})")

    def to_dict(self):
        """The protocol and the options it uses."""
        return {name: getattr(self, name) for name in _SPLIT_OPTIONS[self.protocol]}


# [features]: kind -> (the nanorec.data.features column, the options it takes)
FEATURE_KINDS = {"tfidf": (TfidfText, ("max_features", "min_df", "prefix")),
                 "hashed": (HashedText, ("n_buckets", "prefix")),
                 "categorical": (Categorical, ("prefix",)),
                 "numeric": (Numeric, ("fill",))}
FEATURE_SIDES = {"users": "user", "items": "item"}  # [features] key -> attach_features' kind


@dataclass(frozen=True)
class Features:
    """The [features] section: per side ("users", "items") the blocks, each a dict with
    "column", "kind" and its options (the module docstring); a side absent keeps the data's
    own features."""

    blocks: dict

    def pipeline(self, side):
        """A new, unfitted FeaturePipeline of ``side``'s blocks."""
        return FeaturePipeline([_feature_column(block) for block in self.blocks[side]])

    def check(self, tables):
        """ValueError naming the block whose column the side table lacks. ``tables`` is
        {"users": table, "items": table}, each with an "id" column."""
        for side, blocks in self.blocks.items():
            table = tables[side]
            for number, block in enumerate(blocks, 1):
                if block["column"] not in table:
                    raise ValueError(f"features.{side}[{number}]: column {block['column']!r} is "
                                     f"not in the data's {FEATURE_SIDES[side]} table; its columns: "
                                     f"{_listed(c for c in table if c != 'id')}")

    def attach(self, train, tables):
        """``train`` with each listed side's features replaced by its blocks, fitted on the
        users (items) with train rows and applied to all (attach_features, fit_on="interacted")."""
        for side, kind in FEATURE_SIDES.items():
            if side in self.blocks:
                table = tables[side]
                train = attach_features(train, self.pipeline(side), table, kind=kind,
                                        ids=table["id"], fit_on="interacted")
        return train

    def describe(self):
        """One line: each side's blocks, e.g. "items: genres categorical, title tfidf
        (max_features=100)", and where they are fitted."""
        def block_text(block):
            options = {key: value for key, value in block.items() if key not in ("column", "kind")}
            return (f"{block['column']} {block['kind']}"
                    + (f" ({_settings(options)})" if options else ""))
        sides = "; ".join(f"{side}: {', '.join(map(block_text, blocks))}"
                          for side, blocks in self.blocks.items())
        return f"{sides} (fitted on each train part)"

    def columns(self, tables):
        """{side: {column: values}}: the ids and the columns the blocks read, what the data's
        hash covers."""
        return {side: {column: tables[side][column] for column in
                       dict.fromkeys(["id"] + [block["column"] for block in self.blocks[side]])}
                for side in FEATURE_SIDES if side in self.blocks}


@dataclass(frozen=True)
class Search:
    """A model's search: the candidates drawn from ``space``, and how they are validated."""

    space: dict
    candidates: list
    validation: str
    folds: int
    metric: str
    seed: int
    trials: int = None  # None: the grid of every combination


@dataclass(frozen=True)
class ModelSpec:
    """One [[models]] table: its label, registry name or class, fixed arguments and optional
    search. Exactly one of ``name`` and ``model_class`` is set."""

    label: str
    name: str  # the CLI registry's name, or None
    params: dict
    search: Search = None
    model_class: str = None  # the key class: "FILE.py:Class" or "package.module:Class"

    @property
    def model(self):
        """What builds the model: the registry name, or the class spec."""
        return self.name if self.name is not None else self.model_class

    def class_parts(self):
        """(module, class name) of ``model_class``: module is a path ending in .py (relative
        ones from the experiment file's folder) or a dotted module name."""
        module, _, class_name = self.model_class.rpartition(":")
        return module, class_name


@dataclass(frozen=True)
class Experiment:
    """A parsed experiment file (see the module docstring); ``text`` and ``sha256`` are the
    file's own, ``source`` names it in error messages."""

    data: str
    metrics: tuple
    seeds: tuple
    split: Split
    models: tuple
    baseline: str = None
    title: str = None
    data_sha256: str = None
    unknown: str = "skip"
    features: Features = None
    blas_threads: int = None
    bootstrap: dict = field(default_factory=lambda: dict(resamples=10_000, confidence=0.95, seed=0))
    source: str = "<experiment>"
    text: str = ""
    sha256: str = ""

    def data_hash(self, data, tables=None):
        """The data_sha256 this experiment prints, records and pins: of ``data``, and with
        [features] of the side-table columns they read (``tables`` as run_experiment takes)."""
        sides = experiment_tables(self, tables)
        return data_sha256(data, None if sides is None else self.features.columns(sides))


def read_experiment(path):
    """The Experiment of the TOML file at ``path``: ValueError, starting with the path, naming
    what is wrong (TOML syntax with its line, an unknown or missing key, a bad value)."""
    path = str(path)
    with open(path, "rb") as handle:
        raw = handle.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 text (byte {error.start}): an experiment file is "
                         "TOML") from None
    return parse_experiment(text, source=path)


def parse_experiment(text, source="<experiment>"):
    """The Experiment of TOML ``text``; ValueError starting with ``source`` for a bad file."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{source}: invalid TOML: {error}") from None
    try:
        experiment = _parse(document)
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from None
    return Experiment(**experiment, source=source, text=text,
                      sha256=hashlib.sha256(text.encode("utf-8")).hexdigest())


_TOP = {"data": True, "metrics": True, "models": True, "split": True, "seeds": False,
        "baseline": False, "title": False, "data_sha256": False, "bootstrap": False,
        "unknown": False, "features": False, "blas_threads": False}
_COLD_OPTIONS = ("protocol", "seed", "user_fraction", "item_fraction")
_SPLIT_OPTIONS = {"loo": ("protocol",), "holdout": ("protocol", "seed", "test_size"),
                  "kfold": ("protocol", "seed", "n_splits"),
                  **{protocol: _COLD_OPTIONS for protocol in COLD_PROTOCOLS}}
_MODEL = {"name": False, "class": False, "label": False, "params": False, "search": False}
_SEARCH = {"space": True, "trials": False, "validation": False, "folds": False, "metric": False,
           "seed": False}
_BOOTSTRAP = {"resamples": False, "confidence": False, "seed": False}


def _parse(document):
    """The Experiment's fields from the TOML document; ValueError naming the key."""
    _keys(document, _TOP, "the top level")
    data = _text(document["data"], "data")
    data_sha256 = document.get("data_sha256")
    if data_sha256 is not None:
        data_sha256 = _text(data_sha256, "data_sha256").lower()
        if len(data_sha256) != 64 or any(c not in "0123456789abcdef" for c in data_sha256):
            raise ValueError(f"data_sha256 must be 64 hexadecimal digits (a SHA-256), got "
                             f"{document['data_sha256']!r}")
    metrics = document["metrics"]
    if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
        raise ValueError(f"metrics must be a list of names such as [\"hr@10\", \"rmse\"], got "
                         f"{metrics!r}")
    metrics = tuple(key for key, _, _ in _checked("metrics", parse_metrics, metrics))
    seeds = document.get("seeds", [0])
    if (not isinstance(seeds, list) or not seeds or len(set(seeds)) < len(seeds)
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)):
        raise ValueError(f"seeds must be a non-empty list of distinct integers >= 0, got {seeds!r}")
    split = _split(document["split"])
    if split.cold:
        _checked(f"metrics (split protocol {split.protocol})", parse_cold_metrics, metrics)
    models = _models(document["models"], metrics, split.protocol)
    labels = [model.label for model in models]
    baseline = document.get("baseline")
    if baseline is None and len(models) > 1:
        raise ValueError(f"missing key 'baseline': the label of the model the others are "
                         f"compared with, one of {_listed(labels)}")
    if baseline is not None and _text(baseline, "baseline") not in labels:
        raise ValueError(f"baseline {baseline!r} is not the label of a model; the labels: "
                         f"{_listed(labels)}")
    title = document.get("title")
    return dict(data=data, data_sha256=data_sha256, metrics=metrics, seeds=tuple(seeds),
                split=split, models=models, baseline=baseline,
                unknown=_checks.one_of(document.get("unknown", "skip"), "unknown",
                                       ("skip", "baseline")),
                title=None if title is None else _text(title, "title"),
                features=_features(document["features"]) if "features" in document else None,
                blas_threads=(None if "blas_threads" not in document else
                              _checks.positive_int(document["blas_threads"], "blas_threads")),
                bootstrap=_bootstrap(document.get("bootstrap", {})))


def _split(table):
    table = _table(table, "split")
    protocol = table.get("protocol")
    if protocol not in _SPLIT_OPTIONS:
        raise ValueError(f"split.protocol must be one of {_listed(_SPLIT_OPTIONS)}, got "
                         f"{protocol!r}")
    _keys(table, {name: name == "protocol" for name in _SPLIT_OPTIONS[protocol]},
          f"split (protocol {protocol})")
    options = dict(table)
    seed = table.get("seed", 0)
    if seed != PER_SEED and not (isinstance(seed, int) and not isinstance(seed, bool)
                                 and seed >= 0):
        raise ValueError(f'split: seed must be an integer >= 0 or "{PER_SEED}" (each model seed '
                         f"draws its own split), got {seed!r}")
    if "test_size" in table:
        _checks.number(table["test_size"], "test_size", "split", low=0.0, high=1.0,
                       low_open=True, high_open=True)
    if "n_splits" in table:
        _checks.integer(table["n_splits"], "n_splits", "split", low=2)
    for name in ("user_fraction", "item_fraction"):
        if name in table:
            _checks.fraction(table[name], name, "split")
    split = Split(**options)
    if split.cold and getattr(split, f"{split.cold[:-1]}_fraction") == 0:
        raise ValueError(f"split: protocol {protocol} tests cold {split.cold}, and "
                         f"{split.cold[:-1]}_fraction = 0 holds none out")
    return split


def _models(tables, metrics, protocol):
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise ValueError("models must be one or more [[models]] tables")
    models = []
    for number, table in enumerate(tables, 1):
        where = f"models[{number}]"
        _keys(table, _MODEL, where)
        if ("name" in table) == ("class" in table):
            raise ValueError(f"{where} needs exactly one of 'name' (a model of nanorec train "
                             "--help) and 'class' (\"FILE.py:Class\" or \"package.module:Class\")"
                             + (", not both" if "name" in table else ""))
        name = _text(table["name"], f"{where}.name") if "name" in table else None
        model_class = _class_spec(table["class"], where) if "class" in table else None
        label = _text(table.get("label", name or model_class), f"{where}.label")
        where = f"model {label!r}"
        if label in [model.label for model in models]:
            raise ValueError(f"two models have the label {label!r}: give each a label")
        params = _table(table.get("params", {}), f"{where}: params")
        if "random_state" in params:
            raise ValueError(f"{where}: params cannot set random_state: the seeds set it")
        search = None
        if "search" in table:
            if protocol in COLD_PROTOCOLS:
                raise ValueError(f"{where}: no search with split protocol {protocol}: its "
                                 "validation would rank warm users, not cold ones; fix the "
                                 "arguments in params")
            search = _search(table["search"], params, metrics, protocol, where)
        models.append(ModelSpec(label, name, params, search, model_class))
    return tuple(models)


def _class_spec(value, where):
    """``value`` if it reads "FILE.py:Class" or "package.module:Class" (Class an identifier);
    ValueError naming the form otherwise. Nothing is loaded here."""
    spec = _text(value, f"{where}.class")
    module, colon, class_name = spec.rpartition(":")
    dotted = module and all(part.isidentifier() for part in module.split("."))
    if not colon or not class_name.isidentifier() or not (module.endswith(".py") or dotted):
        raise ValueError(f"{where}.class must be \"FILE.py:Class\" (a path from the experiment "
                         f"file's folder) or \"package.module:Class\", got {spec!r}")
    return spec


def _search(table, params, metrics, protocol, where):
    table = _table(table, f"{where}: search")
    where = f"{where}: search"
    _keys(table, _SEARCH, where)
    space = _table(table["space"], f"{where}.space")
    if not space:
        raise ValueError(f"{where}.space is empty: give the values to try, e.g. lr = [0.01, 0.05]")
    both = sorted(set(space) & set(params))
    if both:
        raise ValueError(f"{where}: {both[0]} is both fixed (params) and searched (space)")
    seed = _checks.integer(table.get("seed", 0), "seed", where, low=0)
    default = "loo" if protocol == "loo" else "holdout"
    validation = _checks.one_of(table.get("validation", default), "validation",
                                tune.VALIDATIONS, where)
    folds = _checks.positive_int(table.get("folds", 5 if validation == "kfold" else 1), "folds",
                                 where)
    if validation == "kfold" and folds < 2:
        raise ValueError(f"{where}: validation kfold needs folds >= 2, got {folds}")
    metric = table.get("metric", metrics[0])
    metric = _checked(f"{where}.metric", parse_metrics, _text(metric, f"{where}.metric"))[0][0]
    if metric.partition("@")[0] in CATALOGUE:
        raise ValueError(f"{where}.metric: {metric} describes all the lists together, not how "
                         "good they are; pick the best by a ranking or rating metric")
    trials = table.get("trials")
    if trials is None:
        ranges = [name for name, values in space.items() if isinstance(values, dict)]
        if ranges:
            raise ValueError(f"{where}.space: {ranges[0]} is a range, which only a random search "
                             "draws from: add trials = N, or list its values")
        candidates = _checked(where, tune.parameter_grid, space)
    else:
        trials = _checks.positive_int(trials, "trials", where)
        candidates = _checked(where, tune.sample_parameters, space, trials, seed)
    return Search(space, candidates, validation, folds, metric, seed, trials)


def _features(table):
    table = _table(table, "features")
    _keys(table, dict.fromkeys(FEATURE_SIDES, False), "features")
    if not table:
        raise ValueError("features is empty: list the blocks of users = [...] or items = [...], "
                         'e.g. items = [{ column = "title", kind = "tfidf" }]')
    blocks = {}
    for side, listed in table.items():
        if not isinstance(listed, list) or not listed:
            raise ValueError(f"features.{side} must be a non-empty list of blocks such as "
                             f'{{ column = "title", kind = "tfidf" }}, got {listed!r}')
        blocks[side] = []
        for number, block in enumerate(listed, 1):
            where = f"features.{side}[{number}]"
            block = _table(block, where)
            kind = block.get("kind")
            if kind not in FEATURE_KINDS:
                raise ValueError(f"{where}: kind must be one of {_listed(FEATURE_KINDS)}, got "
                                 f"{kind!r}")
            _keys(block, {"column": True, "kind": True,
                          **dict.fromkeys(FEATURE_KINDS[kind][1], False)}, f"{where} (kind {kind})")
            _text(block["column"], f"{where}.column")
            if "prefix" in block:
                _text(block["prefix"], f"{where}.prefix")
            try:
                _feature_column(block)
            except (TypeError, ValueError) as error:
                raise ValueError(f"{where}: {error}") from None
            blocks[side].append(dict(block))
    return Features(blocks)


def _feature_column(block):
    """The unfitted nanorec.data.features column of one [features] block."""
    options = {key: value for key, value in block.items() if key != "kind"}
    return FEATURE_KINDS[block["kind"]][0](**options)


def _bootstrap(table):
    table = _table(table, "bootstrap")
    _keys(table, _BOOTSTRAP, "bootstrap")
    return dict(
        resamples=_checks.positive_int(table.get("resamples", 10_000), "resamples", "bootstrap"),
        confidence=_checks.number(table.get("confidence", 0.95), "confidence", "bootstrap",
                                  low=0.0, high=1.0, low_open=True, high_open=True),
        seed=_checks.integer(table.get("seed", 0), "seed", "bootstrap", low=0),
    )


def _keys(table, known, where):
    """ValueError for a key of ``table`` not in ``known`` (name -> required) or a required one
    missing."""
    for key in table:
        if key not in known:
            raise ValueError(f"unknown key {key!r} in {where}; known keys: {_listed(known)}")
    for key, required in known.items():
        if required and key not in table:
            raise ValueError(f"missing key {key!r} in {where}")


def _table(value, where):
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be a table (key = value pairs), got {value!r}")
    return value


def _text(value, where):
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where} must be a non-empty string, got {value!r}")
    return value


def _checked(where, check, *args):
    """check(*args), its ValueError with ``where`` in front."""
    try:
        return check(*args)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None


def _listed(names):
    return ", ".join(map(str, names))


# ---------------------------------------------------------------------- the data
def data_sha256(data, side_columns=None):
    """SHA-256 of what an Interactions holds: each row's raw user id, raw item id, rating and
    timestamp in row order, and the user and item features; then, when given, the side-table
    columns an experiment's [features] read.

    Equal data gives the same hash however it was stored (a zip or its extracted folder, a file
    moved or renamed); a changed row, id, rating, time or feature changes it. Numbers are hashed
    as little-endian int64 or float64, text ids as UTF-8, each part with its name and shape.
    ``side_columns`` ({side: {column: values}}, Features.columns) adds each column as its side,
    name and values in JSON text (UTF-8; NaN as null), so a changed title or age changes it too.
    """
    parts = {
        "users": data.user_ids[data.user_index], "items": data.item_ids[data.item_index],
        "ratings": data.ratings, "timestamps": data.timestamps,
        "user_features": data.user_features, "item_features": data.item_features,
    }
    digest = hashlib.sha256()
    for name, values in parts.items():
        if values is None:
            digest.update(f"{name}:none;".encode())
            continue
        values = np.asarray(values)
        if values.dtype.kind in "biu":
            kind, content = "int64", values.astype("<i8").tobytes()
        elif values.dtype.kind == "f":
            kind, content = "float64", values.astype("<f8").tobytes()
        else:  # text or mixed ids
            kind, content = "text", "\0".join(map(str, values.ravel().tolist())).encode("utf-8")
        digest.update(f"{name}:{kind}:{values.shape}:{len(content)};".encode())
        digest.update(content)
    for side, table in (side_columns or {}).items():
        for column, values in table.items():
            content = json.dumps(_jsonable(values), ensure_ascii=False).encode("utf-8")
            digest.update(f"{side}.{column}:json:{len(content)};".encode())
            digest.update(content)
    return digest.hexdigest()


# ---------------------------------------------------------------------- the run
def experiment_tables(experiment, tables):
    """{"users": user table, "items": item table} for an experiment with [features], its columns
    checked (ValueError naming the block); None for one without (``tables`` unused)."""
    if experiment.features is None:
        return None
    if tables is None:
        raise ValueError(f"{experiment.source}: [features] reads the data's side tables: pass "
                         "them (tables=nanorec.data.datasets.side_tables(...))")
    sides = dict(zip(FEATURE_SIDES, tables))
    _checked(experiment.source, experiment.features.check, sides)
    return sides


def run_experiment(experiment, data, models, log=None, tables=None):
    """Run ``experiment`` on ``data``: search, fit and evaluate every model on every split and
    seed, then compare each with the baseline.

    Parameters
    ----------
    experiment : Experiment
    data : Interactions
        The experiment's data (its ``data_sha256``, when given, must match: ValueError).
    models : dict of label -> callable (**params) -> unfitted Recommender
        One per model of the experiment, e.g. functools.partial(ModelClass, **defaults); the
        experiment's params and the searched ones are passed to it, and random_state per seed.
    log : callable (str) -> None, optional
        Told what is being fitted and how long it took (the table itself holds no times).
    tables : (user table, item table), optional
        The data's side tables (nanorec.data.datasets.side_tables), which [features] reads
        (required then, unused otherwise).

    Returns
    -------
    ExperimentResult

    ValueError before anything is fitted: other data than data_sha256 names, a parameter a model
    does not take (fixed or searched), a [features] column the tables lack.
    """
    log = log or (lambda line: None)
    sides = experiment_tables(experiment, tables)
    sha256 = experiment.data_hash(data, tables)
    if experiment.data_sha256 is not None and sha256 != experiment.data_sha256:
        raise ValueError(f"{experiment.source}: the data has sha256 {sha256}, but data_sha256 "
                         f"is {experiment.data_sha256}: the data changed since the experiment "
                         "was written, or it is other data")
    missing = [spec.label for spec in experiment.models if spec.label not in models]
    if missing:
        raise ValueError(f"run_experiment: no model builder for {_listed(missing)}")
    for spec in experiment.models:
        where = f"{experiment.source}: model {spec.label!r} ({spec.model})"
        _checked(where, tune.check_candidates, models[spec.label], [spec.params])
        if spec.search is not None:
            _checked(f"{where}: search", tune.check_candidates,
                     functools.partial(models[spec.label], **spec.params),
                     spec.search.candidates)
    split = experiment.split
    # (the seeds fitted on it, train, test) per split: every seed on every split, or with
    # seed = "per-seed" each seed on the splits drawn with it
    if split.per_seed:
        parts = [((seed,), train, test) for seed in experiment.seeds
                 for train, test in split.apply(data, seed)]
    else:
        parts = [(experiment.seeds, train, test) for train, test in split.apply(data)]
    if sides is not None:  # each train part's own features, fitted on it alone
        parts = [(seeds, experiment.features.attach(train, sides), test)
                 for seeds, train, test in parts]
    runs = {spec.label: [] for spec in experiment.models}
    with blas_threads(experiment.blas_threads):
        for number, (seeds, train, test) in enumerate(parts, 1):
            for spec in experiment.models:
                where = f"{spec.label}, split {number}/{len(parts)}"
                run = _run_model(experiment, spec, models[spec.label], train, test, seeds, where,
                                 log)
                runs[spec.label].append({**run, "split_seed": seeds[0] if split.per_seed else None})
    return ExperimentResult(experiment, sha256, runs, len(parts))


def require_threadpoolctl():
    """The threadpoolctl module, which an experiment's blas_threads needs; ImportError naming the
    extra when it is missing."""
    try:
        import threadpoolctl
    except ImportError:
        raise ImportError('blas_threads needs threadpoolctl: pip install "nanorec[experiments]"'
                          ) from None
    return threadpoolctl


@contextlib.contextmanager
def blas_threads(n_threads):
    """BLAS (OpenBLAS, MKL, ...) held to ``n_threads`` threads inside the block, through
    threadpoolctl; None leaves it as the process started."""
    if n_threads is None:
        yield
        return
    with require_threadpoolctl().threadpool_limits(limits=n_threads, user_api="blas"):
        yield


def _run_model(experiment, spec, make_model, train, test, seeds, where, log):
    """One model on one split: its search (on train), then a fit and an evaluation per seed of
    ``seeds`` (once, unseeded, for a model without random_state)."""
    params, search = dict(spec.params), None
    if spec.search is not None:
        start = time.perf_counter()
        found = tune.search(functools.partial(make_model, **spec.params), spec.search.candidates,
                            train, validation=spec.search.validation, n_splits=spec.search.folds,
                            metrics=(spec.search.metric,), seed=spec.search.seed, refit=False)
        params.update(found.best_params)
        search = {"validation": found.validation, "metric": found.metric, "best": found.best_params,
                  "trials": [{"params": trial.params, "value": trial.metrics[found.metric],
                              "error": trial.error} for trial in found.trials],
                  "seconds": time.perf_counter() - start}
        log(f"{where}: searched {len(found.trials)} candidates in {search['seconds']:.1f} s, "
            f"best {_settings(found.best_params)}")
    seeded = "random_state" in make_model(**params).get_params()
    runs = []
    for seed in seeds if seeded else (None,):
        model = make_model(**params, **({} if seed is None else {"random_state": seed}))
        start = time.perf_counter()
        model.fit(train)
        fit_seconds = time.perf_counter() - start
        if experiment.split.cold:
            result = evaluate_cold(model, test, experiment.split.cold, experiment.metrics)
        else:
            result = evaluate(model, test, train=train, metrics=experiment.metrics,
                              unknown=experiment.unknown)
        units = {key: (result.users, np.asarray(values, dtype=np.float64))
                 for key, values in result.per_user.items()}
        if any(key in result for key in RATING_METRICS):
            rows, errors = _rating_errors(model, train, test, experiment.unknown)
            units.update({"rmse": (rows, errors**2), "mae": (rows, np.abs(errors))})
        runs.append({"seed": seed, "metrics": dict(result), "units": units, "users": result.users,
                     "fit_seconds": fit_seconds})
        seed_text = "no seed" if seed is None else f"seed {seed}"
        log(f"{where}: {seed_text}: fit {fit_seconds:.1f} s, "
            + ", ".join(f"{key} {value:.4f}" for key, value in result.items()))
    resolved = {name: value for name, value in model.get_params().items()
                if name != "random_state"}
    return {"params": resolved, "search": search, "seeds": runs}


def _rating_errors(model, train, test, unknown):
    """(row keys, rating - prediction), each (n,), of the test rows evaluate's rmse and mae
    score: with unknown="skip" the rows of users with train rows, predicted by the model; with
    "baseline" every row, the pairs the model cannot score answered by its baseline score
    (Recommender.predict). A row's key, user index * n_items + item index, names the same
    (user, item) in every split of the data (the parts keep the data's id maps)."""
    rows = np.ones(len(test), dtype=bool)
    if unknown == "skip":
        rows = (np.diff(train.to_csr().indptr) > 0)[test.user_index]
    user_index, item_index = test.user_index[rows], test.item_index[rows]
    users, items = test.user_ids[user_index], test.item_ids[item_index]
    predicted = model.predict(users, items, unknown="error" if unknown == "skip" else "baseline")
    keys = user_index.astype(np.int64) * test.n_items + item_index
    return keys, test.ratings[rows] - predicted


class ExperimentResult:
    """The figures of a run: per model, metric and seed, and the differences from the baseline.

    Attributes
    ----------
    experiment : Experiment
    data_sha256 : str
    values : dict label -> metric -> list over seeds of the mean over splits
    mean, std : dict label -> metric -> float, over the seeds (std: ddof 0)
    differences : dict label -> metric -> BootstrapInterval, or a float (the difference of the
        means) for the catalogue metrics; the baseline has none
    n_units : dict metric -> int, the paired units of each metric (users, or rows)
    runs : dict label -> list over splits of {"params", "search", "seeds", "split_seed"}: the
        resolved parameters, the search's trials, each seed's metrics, fit seconds and per-unit
        values ((unit keys, values)), and the seed the split was drawn with (seed = "per-seed";
        else None)
    """

    def __init__(self, experiment, data_sha256, runs, n_splits):
        self.experiment, self.data_sha256, self.runs = experiment, data_sha256, runs
        self.n_splits = n_splits
        metrics = experiment.metrics
        self.values = {label: {key: self._per_seed(splits, key) for key in metrics}
                       for label, splits in runs.items()}
        self.mean = {label: {key: float(np.mean(v)) for key, v in values.items()}
                     for label, values in self.values.items()}
        self.std = {label: {key: float(np.std(v)) for key, v in values.items()}
                    for label, values in self.values.items()}
        self.differences, self.n_units = {}, {}
        if experiment.baseline is None:
            return
        baseline_units = self._units(experiment.baseline)
        for label in runs:
            if label == experiment.baseline:
                continue
            units = self._units(label)
            self.differences[label] = {}
            for key in metrics:
                if key not in units:  # a catalogue metric: no per-unit values
                    self.differences[label][key] = self.mean[label][key] - self.mean[
                        experiment.baseline][key]
                    continue
                self.n_units[key] = len(units[key])
                self.differences[label][key] = paired_bootstrap(
                    units[key], baseline_units[key], n_resamples=experiment.bootstrap["resamples"],
                    confidence=experiment.bootstrap["confidence"],
                    seed=experiment.bootstrap["seed"],
                    statistic="rmse" if key == "rmse" else "mean")

    def _per_seed(self, splits, key):
        """A metric's value per seed: its mean over the splits of that seed (every split, or with
        seed = "per-seed" the splits drawn with it); one value for a model without a seed fitted
        on one shared split (or shared folds)."""
        columns = {}
        for split in splits:
            for run in split["seeds"]:
                column = split["split_seed"] if self.experiment.split.per_seed else run["seed"]
                columns.setdefault(column, []).append(run["metrics"][key])
        return [float(np.mean(values)) for values in columns.values()]

    def _units(self, label):
        """metric -> each unit's value averaged over every run (seed, split) that tested it, in
        the order of the units' keys; the users of each split checked against the baseline's
        (the pairs must match)."""
        splits = self.runs[label]
        baseline = self.runs[self.experiment.baseline]
        for j, split in enumerate(splits):
            for run in split["seeds"]:
                ours, theirs = run["users"], baseline[j]["seeds"][0]["users"]
                if run["units"] and not np.array_equal(ours, theirs):
                    raise ValueError(f"model {label!r} was evaluated on other test users than the "
                                     f"baseline {self.experiment.baseline!r} in split {j + 1}: "
                                     "their per-user values cannot be paired")
        units = {}
        for key in splits[0]["seeds"][0]["units"]:
            pairs = [run["units"][key] for split in splits for run in split["seeds"]]
            _, unit = np.unique(np.concatenate([keys for keys, _ in pairs]), return_inverse=True)
            values = np.concatenate([values for _, values in pairs])
            units[key] = np.bincount(unit, weights=values) / np.bincount(unit)
        return units

    # ------------------------------------------------------------------ output
    def to_markdown(self):
        """The searched settings, the table of means (+- std over seeds), and the differences
        from the baseline with their intervals: the same text for the same file and data."""
        experiment, metrics = self.experiment, self.experiment.metrics
        lines = []
        for label, splits in self.runs.items():
            if splits[0]["search"] is None:
                continue
            chosen = {}  # settings -> the splits that chose them
            for j, split in enumerate(splits, 1):
                chosen.setdefault(_settings(split["search"]["best"]), []).append(str(j))
            search = splits[0]["search"]
            lines.append(f"searched  {label}: best {search['metric']} on the "
                         f"{search['validation']}")
            for settings, numbers in chosen.items():
                where = (f" in split {', '.join(numbers)}" if len(chosen) > 1
                         else f" in all {len(splits)} splits" if len(splits) > 1 else "")
                lines.append(f"          {settings}{where}")
        rows = []
        for label in self.runs:
            several = len(self.values[label][metrics[0]]) > 1
            name = f"{label} (baseline)" if label == experiment.baseline else label
            rows.append([name] + [f"{self.mean[label][key]:.4f}"
                                  + (f" ± {self.std[label][key]:.4f}" if several else "")
                                  for key in metrics])
        seeds = ", ".join(map(str, experiment.seeds))
        if lines:
            lines.append("")
        fitted = ("each seed on its own split, models without a seed fitted on each"
                  if experiment.split.per_seed else "models without a seed: fitted once")
        lines += [f"mean ± std over the seeds {seeds} ({fitted})", "",
                  markdown_table(["model"] + list(metrics), rows)]
        if self.differences:
            differences = [[label] + [_difference(self.differences[label][key]) for key in metrics]
                           for label in self.differences]
            lines += ["", self._differences_title(), "",
                      markdown_table(["model"] + list(metrics), differences)]
        return "\n".join(lines)

    __str__ = to_markdown

    def _differences_title(self):
        bootstrap = self.experiment.bootstrap
        units = []
        ranking = [key for key in self.n_units if key not in RATING_METRICS]
        if ranking:
            units.append(f"{self.n_units[ranking[0]]:,} test users")
        rating = [key for key in self.n_units if key in RATING_METRICS]
        if rating:
            units.append(f"{self.n_units[rating[0]]:,} test rows ({', '.join(rating)})")
        over = f" over {' and '.join(units)}" if units else ""
        catalogue = [key for key in self.experiment.metrics
                     if key.partition("@")[0] in CATALOGUE]
        note = (f"; {', '.join(catalogue)}: difference of the means, no interval"
                if catalogue else "")
        return (f"difference from {self.experiment.baseline} [{bootstrap['confidence']:.0%} "
                f"paired bootstrap interval{over}, {bootstrap['resamples']:,} resamples, each "
                f"unit averaged over the seeds{' and splits' if self.n_splits > 1 else ''} "
                f"that tested it{note}]")

    def to_dict(self):
        """A JSON-able record: the experiment's settings, every figure, the resolved parameters
        and searches, and the fit seconds (per split and seed)."""
        experiment = self.experiment
        models = []
        for spec in experiment.models:
            splits = self.runs[spec.label]
            models.append({
                "label": spec.label,
                **({"name": spec.name} if spec.name is not None else {"class": spec.model_class}),
                "params": [split["params"] for split in splits],
                "search": [split["search"] for split in splits] if spec.search else None,
                "seeds": list(dict.fromkeys(run["seed"] for split in splits
                                            for run in split["seeds"])),
                "per_seed": self.values[spec.label],
                "per_split": [[run["metrics"] for run in split["seeds"]] for split in splits],
                "split_seeds": ([split["split_seed"] for split in splits]
                                if experiment.split.per_seed else None),
                "mean": self.mean[spec.label], "std": self.std[spec.label],
                "fit_seconds": [[run["fit_seconds"] for run in split["seeds"]] for split in splits],
                "difference_from_baseline": {
                    key: (value._asdict() if hasattr(value, "_asdict") else {"difference": value})
                    for key, value in self.differences.get(spec.label, {}).items()},
            })
        return _jsonable({
            "title": experiment.title, "metrics": list(experiment.metrics),
            "unknown": experiment.unknown, "blas_threads": experiment.blas_threads,
            "seeds": list(experiment.seeds), "split": experiment.split.to_dict(),
            "features": None if experiment.features is None else experiment.features.blocks,
            "n_splits": self.n_splits, "baseline": experiment.baseline,
            "bootstrap": experiment.bootstrap, "paired_units": self.n_units, "models": models,
            "table": self.to_markdown(),
        })


def _difference(value):
    if isinstance(value, float):
        return f"{value:+.4f}"
    return f"{value.difference:+.4f} [{value.low:+.4f}, {value.high:+.4f}]"


def _settings(params):
    return ", ".join(f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}"
                     for name, value in params.items()) or "defaults"


def _jsonable(value):
    """``value`` with NumPy scalars as Python numbers, tuples as lists, types (a dtype argument)
    as their names and NaN as None: what json.dumps writes as standard JSON."""
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, type):
        return value.__name__
    if isinstance(value, np.dtype):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


__all__ = ["read_experiment", "parse_experiment", "run_experiment", "data_sha256", "Experiment",
           "ExperimentResult", "Features", "ModelSpec", "Search", "Split"]
