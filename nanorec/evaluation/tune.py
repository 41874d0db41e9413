"""Hyperparameter search: grid, random and successive halving, scored on validation data carved
from the training part, never on the test part. Also reachable as ``nanorec.tune`` (loaded on
first use: ``from nanorec import tune; tune.search(...)``).

    candidates    parameter_grid(grid)                   every combination of the listed values
                  sample_parameters(space, n, seed)      n random draws from lists and ranges
    search        search(make_model, candidates, train)  every candidate on the same folds
                  successive_halving(make_model, candidates, train, min_epochs, eta)

The search is given the TRAIN part of a split and carves its validation folds from it
(:func:`validation_splits`); the test part never enters. A trial is one candidate (a dict of
constructor arguments): ``make_model(**params, random_state=s)`` is fitted on every fold's fit
part for each model seed s = seed, seed + 1, ..., seed + n_seeds - 1 and evaluated on the fold's
validation part with :func:`nanorec.evaluation.evaluate` (the fit part is what each user's
ranking leaves out). Its metrics are the means over folds x seeds, its seconds the sum of their fit
and evaluation times. The best trial has the best mean of ``metric`` (the largest; the smallest for
rmse and mae), ties going to the earlier candidate; with ``refit=True`` its settings are fitted once
more on all of train (random_state = seed), and ``result.best_model`` is that model.

A fit that diverges (FloatingPointError: a learning rate too large) is a trial that failed: its
metrics are NaN, its ``error`` says why, and it is never the best. Any other error stops the search.

Parallel. Every (candidate, fold, seed) fit is a task; with n_jobs=1 they run one after the other
in this process, otherwise through joblib.Parallel(n_jobs), so the joblib backend active around the
call decides where they run (nanorec.evaluation.parallel.run_tasks, as for cross_validate):

    with joblib.parallel_backend("dask"):      # with a dask.distributed Client connected
        search(make_model, candidates, train, n_jobs=-1)

A task's result depends only on its arguments (its seeds included), so the same call gives the same
table serially and on a cluster; only the seconds differ.
"""

import itertools
import math
import time
from dataclasses import dataclass, field

import numpy as np

from nanorec import _checks

from nanorec.data.split import holdout, kfold, leave_last_out
from nanorec.evaluation.parallel import run_tasks
from nanorec.evaluation.protocols import (
    DEFAULT_METRICS,
    RATING_METRICS,
    evaluate,
    markdown_table,
    parse_metrics,
    protocol_label,
)

VALIDATIONS = ("loo", "holdout", "kfold")
VALIDATION_NAMES = {"loo": "leave-last-out", "holdout": "random 20% holdout", "kfold": "k-fold"}
HOLDOUT_TEST_SIZE = 0.2


# ---------------------------------------------------------------------- candidates
def parameter_grid(grid):
    """Every combination of the listed values, as a list of parameter dicts.

    Parameters
    ----------
    grid : dict of str -> non-empty list, or a list of such dicts
        ``{"n_factors": [32, 64], "lr": [0.01, 0.05]}`` gives 4 candidates, the last name varying
        fastest. A list of grids gives the candidates of each grid in turn, for settings that are
        not a product: ``[{"distribution": ["uniform"]}, {"popularity_exponent": [0.25, 0.5]}]``.
        ``{}`` is one candidate without parameters (the model as it is).

    Returns
    -------
    list of dict
    """
    grids = grid if isinstance(grid, list) else [grid]
    if not grids:
        raise ValueError("parameter_grid: the list of grids is empty")
    candidates = []
    for one in grids:
        _check_names(one, "parameter_grid")
        for name, values in one.items():
            if not isinstance(values, (list, tuple)) or len(values) == 0:
                raise ValueError(f"parameter_grid: the values of {name!r} must be a non-empty "
                                 f"list, got {values!r}")
        for combination in itertools.product(*one.values()):
            candidates.append(dict(zip(one, combination)))
    return candidates


def sample_parameters(space, n_trials, seed=0):
    """``n_trials`` random candidates drawn from ``space`` (draws may repeat).

    Parameters
    ----------
    space : dict of str -> list or range
        A list: one of its values, uniformly. A range, ``{"low": a, "high": b}`` with an optional
        ``"log": True``: uniform on [a, b], or log-uniform (exp of a uniform on [log a, log b],
        needs 0 < a) for scales such as learning rates and regularisation. When a and b are both
        integers the draw is an integer in [a, b] (uniform; log: a log-uniform draw rounded).
        Plain dicts and lists, so a space reads the same from Python, JSON or TOML.
    n_trials : int
    seed : int
        One ``np.random.default_rng(seed)`` draws candidate after candidate, each name in the
        order of ``space``.

    Returns
    -------
    list of dict, ``n_trials`` candidates of Python scalars (or the listed values)
    """
    _check_names(space, "sample_parameters")
    n_trials = _checks.positive_int(n_trials, "n_trials", "sample_parameters")
    draws = {name: _distribution(name, spec) for name, spec in space.items()}
    rng = np.random.default_rng(seed)
    return [{name: draw(rng) for name, draw in draws.items()} for _ in range(n_trials)]


def _distribution(name, spec):
    """rng -> one value of a parameter's spec (a list, or a {low, high, log} range)."""
    if isinstance(spec, (list, tuple)):
        if len(spec) == 0:
            raise ValueError(f"sample_parameters: the list of values of {name!r} is empty")
        values = list(spec)
        return lambda rng: values[int(rng.integers(len(values)))]
    if not isinstance(spec, dict) or not {"low", "high"} <= set(spec) <= {"low", "high", "log"}:
        raise ValueError(f"sample_parameters: {name!r} must be a list of values or a range "
                         f"{{'low': a, 'high': b[, 'log': True]}}, got {spec!r}")
    where = f"sample_parameters, {name}"
    low = _checks.number(spec["low"], "low", where)
    high = _checks.number(spec["high"], "high", where, low=low)
    log = _checks.boolean(spec.get("log", False), "log", where)
    if log and low <= 0:
        raise ValueError(f"{where}: a log range needs low > 0, got {spec['low']!r}")
    integer = all(isinstance(spec[end], int) and not isinstance(spec[end], bool)
                  for end in ("low", "high"))
    if log:
        def draw(rng):  # clipped: exp(log(x)) may round just outside [low, high]
            value = min(max(math.exp(rng.uniform(math.log(low), math.log(high))), low), high)
            return round(value) if integer else value
    elif integer:
        def draw(rng):
            return int(rng.integers(spec["low"], spec["high"] + 1))
    else:
        def draw(rng):
            return float(rng.uniform(low, high))
    return draw


def _check_names(parameters, where):
    if not isinstance(parameters, dict):
        raise ValueError(f"{where}: expected a dict of parameter name -> values, got "
                         f"{type(parameters).__name__}")
    for name in parameters:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{where}: {name!r} is not a parameter name")


def check_candidates(make_model, candidates, epochs_searched=False):
    """``candidates`` as a list of dicts after checking them against the model's arguments.

    ValueError for an empty list, a candidate that is not a dict, a name the model's constructor
    does not take (the message lists those it takes), ``random_state`` (the search's seeds set it)
    and, when ``epochs_searched`` (successive halving sets the epochs), ``n_epochs`` or a model
    without it. Nothing is fitted.
    """
    if not callable(make_model):
        raise TypeError(f"make_model must build a new model, got a {type(make_model).__name__}")
    candidates = list(candidates)
    if not candidates:
        raise ValueError("no candidates to search: the grid or the sample is empty")
    probe = make_model()
    known = probe.get_params()
    name = type(probe).__name__
    if epochs_searched and "n_epochs" not in known:
        raise ValueError(f"successive halving sets n_epochs, and {name} is not trained in epochs")
    fixed = {"random_state": "the search's seeds set it"}
    if epochs_searched:
        fixed["n_epochs"] = "successive halving sets it"
    for candidate in candidates:
        _check_names(candidate, "search")
        for parameter in candidate:
            if parameter not in known:
                raise ValueError(f"unknown parameter {parameter!r} for {name}; its parameters: "
                                 f"{', '.join(known) or 'none'}")
            if parameter in fixed:
                raise ValueError(f"{parameter} cannot be searched: {fixed[parameter]}")
    return candidates


# ---------------------------------------------------------------------- validation folds
def validation_splits(train, validation="holdout", n_splits=None, seed=0):
    """(fit part, validation part) pairs carved from ``train`` alone.

    validation : {"loo", "holdout", "kfold"}
        loo      leave_last_out(train); with n_splits = d > 1, d times back in time: split j
                 holds out each user's j-th latest train row and fits on the rows before it only
                 (needs timestamps)
        holdout  holdout(train, 0.2, seed + j) for j < n_splits (repeated random holdout)
        kfold    kfold(train, n_splits, seed)
    n_splits : int, optional
        Default 1 (loo, holdout) or 5 (kfold).

    Returns
    -------
    list of (Interactions, Interactions), n_splits pairs sharing train's id maps
    """
    _checks.one_of(validation, "validation", VALIDATIONS, "validation_splits")
    if n_splits is None:
        n_splits = 5 if validation == "kfold" else 1
    n_splits = _checks.positive_int(n_splits, "n_splits", "validation_splits")
    if validation == "kfold":
        return kfold(train, n_splits=n_splits, seed=seed)
    if validation == "holdout":
        return [holdout(train, test_size=HOLDOUT_TEST_SIZE, seed=seed + j) for j in range(n_splits)]
    splits, rest = [], train
    for _ in range(n_splits):
        rest, held_out = leave_last_out(rest)
        splits.append((rest, held_out))
    return splits


# ---------------------------------------------------------------------- results
@dataclass(frozen=True)
class Trial:
    """One candidate's validation figures.

    params : dict     its constructor arguments (with n_epochs in successive halving)
    metrics : dict    metric -> mean over folds x seeds (NaN when the trial failed)
    seconds : float   fit + evaluation time of its fits, summed
    rung : int        successive halving's round (0 in a plain search)
    error : str       why a fit failed (diverged), or None
    """

    params: dict
    metrics: dict
    seconds: float
    rung: int = 0
    error: str = None


@dataclass
class SearchResult:
    """Every trial, the best one, and the best settings refitted on all of train.

    Attributes
    ----------
    trials : list of Trial
        In the order they were run (candidate order; rung after rung for successive halving).
    metric : str
        The metric that ranks the trials; ``higher_is_better`` says which way.
    best_index : int
        Position of the best trial in ``trials``.
    best_model : Recommender or None
        The best settings fitted on all of train (None with refit=False).
    validation : str
        How the validation folds were made, and the seeds.
    """

    trials: list
    metric: str
    higher_is_better: bool
    best_index: int
    validation: str
    best_model: object = field(default=None, repr=False)

    @property
    def best(self):
        return self.trials[self.best_index]

    @property
    def best_params(self):
        return dict(self.best.params)

    def to_markdown(self):
        """A title line, then one table row per trial: its parameters, metrics and seconds; the
        best marked."""
        names = list(dict.fromkeys(name for trial in self.trials for name in trial.params))
        metrics = list(self.trials[0].metrics)
        halving = any(trial.rung for trial in self.trials)
        header = ["#"] + (["rung"] if halving else []) + names + metrics + ["seconds", ""]
        rows = []
        for number, trial in enumerate(self.trials, 1):
            note = "best" if number - 1 == self.best_index else (trial.error or "")
            rows.append([str(number)] + ([str(trial.rung)] if halving else [])
                        + [_cell(trial.params.get(name, "")) for name in names]
                        + [f"{trial.metrics[key]:.4f}" for key in metrics]
                        + [f"{trial.seconds:.2f}", note])
        order = "largest" if self.higher_is_better else "smallest"
        title = (f"{len(self.trials)} trials, validation: {self.validation}; best = {order} "
                 f"{self.metric}")
        return f"{title}\n\n{markdown_table(header, rows)}"

    __str__ = to_markdown


def _cell(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value)


# ---------------------------------------------------------------------- the searches
def search(make_model, candidates, data, validation="holdout", n_splits=None,
           metrics=DEFAULT_METRICS, metric=None, protocol="full", n_negatives=100, seed=0,
           n_seeds=1, refit=True, n_jobs=1):
    """Score every candidate on validation folds carved from ``data``, the training part.

    Parameters
    ----------
    make_model : callable (**params) -> Recommender
        Builds an unfitted model: a class, or functools.partial(Class, **fixed arguments).
    candidates : list of dict
        Constructor arguments to try, e.g. from :func:`parameter_grid` or
        :func:`sample_parameters`.
    data : Interactions
        The TRAIN part only; the validation folds are carved from it.
    validation, n_splits
        See :func:`validation_splits` (seeded with ``seed``).
    metrics, protocol, n_negatives
        As in :func:`nanorec.evaluation.evaluate`; split j is evaluated with seed + j.
    metric : str, optional
        The metric that ranks the trials; default the first of ``metrics``.
    seed, n_seeds : int
        The folds' seed, and each candidate is fitted with random_state = seed, ..., seed +
        n_seeds - 1 (models without random_state: once per fold).
    refit : bool
        Fit the best settings on all of ``data`` (random_state = seed): ``result.best_model``.
    n_jobs : int
        1: serial, joblib not needed. Otherwise passed to joblib.Parallel (-1: all workers).

    Returns
    -------
    SearchResult
    """
    plan = _Plan(make_model, candidates, data, validation, n_splits, metrics, metric, protocol,
                 n_negatives, seed, n_seeds, n_jobs, epochs_searched=False)
    trials = plan.run(plan.candidates)
    return plan.result(trials, trials, refit)


def successive_halving(make_model, candidates, data, min_epochs=1, eta=3, max_epochs=None,
                       **options):
    """Successive halving over epochs: fit every candidate for a few epochs, keep the best 1/eta,
    give them eta times more epochs, and so on (Jamieson & Talwalkar, AISTATS 2016).

    Rung r fits its candidates with n_epochs = min(min_epochs * eta**r, max_epochs) and keeps the
    ceil(n / eta) best by ``metric`` (ties to the earlier candidate; failed trials are dropped) for
    rung r + 1. It stops after the rung that has one candidate left or that reached max_epochs (None: no
    cap); the best trial is the best of that last rung.

    Epochs are continued by refitting: no nanorec model resumes a fit, so a survivor is fitted
    again from its initialisation with the larger n_epochs (same seeds). The search costs the sum
    over rungs of (candidates x epochs) epochs per split and seed, instead of the sum of the
    epochs gained; with eta = 3 and 27 candidates from 1 epoch: 27 + 9 x 3 + 3 x 9 + 1 x 27 = 108
    epochs, against 27 x 27 = 729 for a plain search at 27 epochs.

    Parameters
    ----------
    make_model, candidates, data
        As in :func:`search`; the model must have n_epochs, and the candidates must not set it.
    min_epochs : int
        Epochs of rung 0.
    eta : int >= 2
        Keep the best 1/eta, multiply the epochs by eta.
    max_epochs : int, optional
        The epochs of the last rung at most.
    **options
        validation, n_splits, metrics, metric, protocol, n_negatives, seed, n_seeds, refit,
        n_jobs: as in :func:`search`. Each rung's fits fan out through joblib.

    Returns
    -------
    SearchResult
        ``trials`` holds every rung's trials (``rung``, and ``params["n_epochs"]``).
    """
    min_epochs = _checks.positive_int(min_epochs, "min_epochs", "successive_halving")
    eta = _checks.integer(eta, "eta", "successive_halving", low=2)
    if max_epochs is not None:
        max_epochs = _checks.integer(max_epochs, "max_epochs", "successive_halving",
                                     low=min_epochs)
    refit = options.pop("refit", True)
    plan = _Plan(make_model, candidates, data, epochs_searched=True, **options)
    survivors, epochs, trials = plan.candidates, min_epochs, []
    for rung in itertools.count():
        rung_trials = plan.run([dict(params, n_epochs=epochs) for params in survivors], rung)
        trials += rung_trials
        if len(survivors) == 1 or (max_epochs is not None and epochs >= max_epochs):
            return plan.result(trials, rung_trials, refit)
        n_kept = math.ceil(len(survivors) / eta)
        kept = [position for position in plan.ranking(rung_trials)[:n_kept]
                if rung_trials[position].error is None]
        if not kept:
            return plan.result(trials, rung_trials, refit)  # raises: every trial failed
        survivors = [survivors[position] for position in sorted(kept)]
        epochs = epochs * eta if max_epochs is None else min(epochs * eta, max_epochs)


class _Plan:
    """What a search fixes before fitting anything: checked candidates, folds, seeds, options."""

    def __init__(self, make_model, candidates, data, validation="holdout", n_splits=None,
                 metrics=DEFAULT_METRICS, metric=None, protocol="full", n_negatives=100, seed=0,
                 n_seeds=1, n_jobs=1, epochs_searched=False):
        specs = parse_metrics(metrics)
        keys = [key for key, _, _ in specs]
        metric = keys[0] if metric is None else str(metric).strip().lower()
        if metric not in keys:
            raise ValueError(f"metric {metric!r} is not among the metrics computed: "
                             f"{', '.join(keys)}")
        protocol_label(protocol, n_negatives)
        n_seeds = _checks.positive_int(n_seeds, "n_seeds", "search")
        self.candidates = check_candidates(make_model, candidates, epochs_searched)
        self.make_model, self.metric, self.n_jobs = make_model, metric, n_jobs
        self.higher_is_better = specs[keys.index(metric)][1] not in RATING_METRICS
        self.splits = validation_splits(data, validation, n_splits, seed)
        seeded = "random_state" in make_model().get_params()
        self.seeds = [seed + s for s in range(n_seeds)] if seeded else [None]
        self.options = dict(metrics=keys, protocol=protocol, n_negatives=n_negatives)
        self.data, self.seed = data, seed
        seeds = (f"model seeds {self.seeds[0]}..{self.seeds[-1]}" if len(self.seeds) > 1
                 else f"model seed {self.seeds[0]}" if seeded else "no model seed")
        self.validation = (f"{VALIDATION_NAMES[validation]} of the train part, "
                           f"{len(self.splits)} split{'s' * (len(self.splits) > 1)} (seed {seed}), "
                           f"{seeds}, protocol {protocol_label(protocol, n_negatives)[0]}")

    def run(self, candidates, rung=0):
        """A Trial per candidate: every (candidate, split, seed) fit is one task."""
        tasks = [(self.make_model, _seeded(params, model_seed), fit_part, valid_part,
                  dict(self.options, seed=self.seed + j))
                 for params in candidates
                 for j, (fit_part, valid_part) in enumerate(self.splits)
                 for model_seed in self.seeds]
        outcomes = run_tasks(_fit_and_score, tasks, self.n_jobs,
                             f"a search with n_jobs={self.n_jobs}")
        per_candidate = len(self.splits) * len(self.seeds)
        return [_trial(params, outcomes[c * per_candidate:(c + 1) * per_candidate], rung,
                       self.options["metrics"])
                for c, params in enumerate(candidates)]

    def ranking(self, trials):
        """Positions of ``trials`` from the best to the worst; failed last, ties by position."""
        sign = -1.0 if self.higher_is_better else 1.0

        def key(position):
            value = trials[position].metrics[self.metric]
            return (math.isnan(value), 0.0 if math.isnan(value) else sign * value, position)

        return sorted(range(len(trials)), key=key)

    def result(self, trials, last_round, refit):
        """The SearchResult whose best is the best of ``last_round`` (the tail of ``trials``)."""
        best_in_round = self.ranking(last_round)[0]
        if last_round[best_in_round].error is not None:
            raise FloatingPointError(f"every trial failed; the first: {last_round[0].error}")
        best_index = len(trials) - len(last_round) + best_in_round
        best_model = None
        if refit:
            params = _seeded(trials[best_index].params, self.seeds[0])
            best_model = self.make_model(**params).fit(self.data)
        return SearchResult(trials, self.metric, self.higher_is_better, best_index,
                            self.validation, best_model)


def _seeded(params, model_seed):
    return dict(params) if model_seed is None else dict(params, random_state=model_seed)


def _trial(params, outcomes, rung, keys):
    """A Trial from the (metrics, seconds, error) of its fits; ``keys`` names the metrics."""
    seconds = float(sum(seconds for _, seconds, _ in outcomes))
    errors = [error for _, _, error in outcomes if error is not None]
    if errors:
        return Trial(dict(params), {key: math.nan for key in keys}, seconds, rung, errors[0])
    means = {key: float(np.mean([values[key] for values, _, _ in outcomes])) for key in keys}
    return Trial(dict(params), means, seconds, rung)


def _fit_and_score(make_model, params, fit_part, valid_part, options):
    """(metrics dict, seconds, None) of one fit, or (None, seconds, why) when it diverged."""
    start = time.perf_counter()
    try:
        model = make_model(**params).fit(fit_part)
        values = dict(evaluate(model, valid_part, train=fit_part, **options))
    except FloatingPointError as error:
        return None, time.perf_counter() - start, f"failed: {error}"
    return values, time.perf_counter() - start, None


__all__ = ["parameter_grid", "sample_parameters", "check_candidates", "validation_splits",
           "search", "successive_halving", "SearchResult", "Trial"]
