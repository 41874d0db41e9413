"""``nanorec tune MODEL --data ... --grid "n_factors=32,64 lr=0.01,0.05"``: search a model's
hyperparameters on validation data carved from the train part, print every trial, save the best.

The data is split as by ``nanorec train`` (--protocol, --seed); the test part is set aside and the
search never sees it. Validation folds are carved from the train part (--validation: loo, holdout
or kfold, --folds of them), every candidate is scored on them (nanorec.evaluation.tune), and the
best settings are fitted on all of the train part and saved (--save): ``nanorec evaluate FILE``
then scores that model on the test part, as it would a model of ``nanorec train``.

    --grid SPEC        NAME=V1,V2,... separated by spaces: every combination is a candidate;
                       values are numbers, true/false, none or words
    --random N         N candidates drawn from the SPEC instead (seeded by --seed), where a value
                       may also be a range LOW:HIGH (uniform; integers when both ends are) or
                       LOW:HIGH:log (log-uniform)
    --halving ETA      successive halving over epochs: all candidates for 1 epoch, the best 1/ETA
                       for ETA times more, ... up to the model's n_epochs (--epochs)
    --scheduler ADDR   run the fits on a Dask cluster (dask.distributed; every worker must be
                       able to import nanorec)
"""

import argparse
import contextlib
import functools
import re
import time

from nanorec.cli.common import (
    PROTOCOL_NAMES,
    REGISTRY,
    UsageError,
    add_data_option,
    build_model,
    data_options,
    describe,
    integer_at_least,
    load_data,
    output_file,
    positive_int,
    split,
    training_record,
)
from nanorec.evaluation import tune
from nanorec.evaluation.protocols import parse_metrics

HELP = "search a model's hyperparameters on validation data carved from train"
RANKING_METRICS = ("ndcg@10", "hr@10", "recall@20", "mrr")
RATING_METRICS = ("rmse", "mae")
_NUMBER = r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?"


def add_options(parser):
    parser.add_argument("model", choices=list(REGISTRY), metavar="MODEL",
                        help="the model to tune (see nanorec train --help)")
    add_data_option(parser, default="synthetic")
    space = parser.add_argument_group("search")
    space.add_argument("--grid", required=True, type=search_space, metavar="SPEC",
                       help='the candidates: "NAME=V1,V2,... NAME=..." (constructor arguments of '
                            "the model); with --random a value may be LOW:HIGH or LOW:HIGH:log")
    space.add_argument("--random", type=positive_int, metavar="N",
                       help="draw N candidates from the SPEC instead of trying every combination")
    space.add_argument("--halving", type=integer_at_least(2), metavar="ETA",
                       help="successive halving over epochs, keeping the best 1/ETA each round")
    space.add_argument("--epochs", type=positive_int,
                       help="n_epochs of every candidate (with --halving: of the last round)")
    split_group = parser.add_argument_group("splits")
    split_group.add_argument("--protocol", choices=("loo", "holdout", "none"), default="loo",
                             help="the test part set aside, as in nanorec train "
                                  "(default: %(default)s)")
    split_group.add_argument("--validation", choices=tune.VALIDATIONS,
                             help="how the validation folds are carved from the train part "
                                  "(default: loo with --protocol loo, else holdout)")
    split_group.add_argument("--folds", type=positive_int, metavar="N",
                             help="number of validation folds (default: 1; kfold: 5)")
    split_group.add_argument("--seed", type=int, default=0,
                             help="seed of the splits, the models and --random "
                                  "(default: %(default)s)")
    parser.add_argument("--metric", metavar="METRIC",
                        help="what ranks the trials, e.g. ndcg@10, recall@20, rmse (default: "
                             "rmse for rating models, else ndcg@10)")
    parser.add_argument("--save", metavar="FILE",
                        help="write the best settings, fitted on the train part, here (.npz)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="address of a Dask scheduler (e.g. tcp://10.0.0.5:8786): the fits "
                             "run on its workers")
    parser.add_argument("--jobs", type=int, metavar="N",
                        help="fits at once through joblib (default: 1; with --scheduler: every "
                             "worker)")


def search_space(text):
    """argparse type of --grid: ``"n_factors=32,64 lr=0.001:0.1:log"`` -> {name: list or range}.

    A range ``LOW:HIGH[:log]`` becomes ``{"low", "high", "log"}`` (nanorec.evaluation.tune's
    range); the other values are parsed as int, float, true/false, none or kept as words.
    """
    space = {}
    for term in text.split():
        name, equals, values = term.partition("=")
        if not equals or not name.isidentifier() or not values:
            raise _bad_spec(f"{term!r} is not NAME=VALUES")
        if name in space:
            raise _bad_spec(f"{name} is given twice")
        if ":" in values:
            space[name] = _range(name, values)
        else:
            if "" in values.split(","):
                raise _bad_spec(f"{term!r} has an empty value")
            space[name] = [_value(value) for value in values.split(",")]
    if not space:
        raise _bad_spec("no NAME=VALUES")
    return space


def _bad_spec(problem):
    return argparse.ArgumentTypeError(f'{problem}; write "NAME=V1,V2 NAME=LOW:HIGH[:log] ..."')


def _range(name, text):
    match = re.fullmatch(f"({_NUMBER}):({_NUMBER})(:log)?", text)
    if match is None:
        raise _bad_spec(f"{name}={text} is not a range LOW:HIGH or LOW:HIGH:log")
    low, high = (_value(part) for part in (match.group(1), match.group(4)))
    return {"low": low, "high": high, "log": match.group(7) is not None}


def _value(text):
    """'32' -> 32, '0.01' -> 0.01, 'true' -> True, 'none' -> None, other words stay text."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def run(args):
    save = output_file(args.save, "--save", ".npz") if args.save else None
    if args.validation == "kfold" and args.folds == 1:
        raise UsageError("--validation kfold needs --folds 2 or more")
    if args.metric is not None:
        try:
            parse_metrics(args.metric)
        except ValueError as error:
            raise UsageError(f"--metric: {error}") from None
    candidates = _candidates(args)
    model_class = REGISTRY[args.model]
    probe = functools.partial(model_class, **model_class.cli_defaults)
    try:  # unknown names fail here, before the data is read
        tune.check_candidates(probe, candidates, epochs_searched=args.halving is not None)
    except ValueError as error:
        raise UsageError(str(error)) from None
    with _cluster(args.scheduler) as backend:
        loaded = load_data(args.data, **data_options(args))
        data = loaded.interactions
        model = build_model(args.model, data, args.data, {"epochs": args.epochs}, args.seed,
                            verbose=False)
        fixed = {name: value for name, value in model.get_params().items()
                 if name != "random_state" and not (args.halving and name == "n_epochs")}
        make_model = functools.partial(type(model), **fixed)
        train, test = split(data, args.protocol, args.seed)
        validation = args.validation or ("loo" if args.protocol == "loo" else "holdout")
        options = dict(validation=validation, n_splits=args.folds, seed=args.seed,
                       refit=save is not None, n_jobs=args.jobs or (-1 if backend else 1),
                       **_metrics(model, args.metric))
        print(f"data     {args.data}: {describe(data)}")
        held_out = "nothing held out" if test is None else f"{len(test):,} test rows set aside"
        print(f"split    {PROTOCOL_NAMES[args.protocol]}: {len(train):,} train rows, {held_out}")
        plural = "s" * (len(candidates) > 1)
        print(f"search   {len(candidates)} candidate{plural} of {type(model).__name__}"
              + (f", successive halving (eta {args.halving})" if args.halving else "")
              + (f" on the Dask cluster at {args.scheduler}" if backend else ""))
        start = time.perf_counter()
        if args.halving:
            result = tune.successive_halving(make_model, candidates, train, eta=args.halving,
                                             max_epochs=model.n_epochs, **options)
        else:
            result = tune.search(make_model, candidates, train, **options)
    seconds = time.perf_counter() - start
    print(f"\n{result.to_markdown()}\n")
    print(f"best     {_settings(result.best_params)}: {result.metric} "
          f"{result.best.metrics[result.metric]:.4f} ({seconds:.1f} s in all)")
    if save is not None:
        path = result.best_model.save(save, metadata=_record(args, loaded, result))
        print(f"saved    the best settings fitted on the train part to {path}")
        if test is not None and len(test):
            print(f"next     nanorec evaluate {path}   (scores it on the {len(test):,} test rows)")
    return 0


def _candidates(args):
    has_range = [name for name, spec in args.grid.items() if isinstance(spec, dict)]
    if args.random is None:
        if has_range:
            raise UsageError(f"--grid: {has_range[0]} is a range, which only --random N can "
                             "draw from; list its values instead (V1,V2,...)")
        return tune.parameter_grid(args.grid)
    try:
        return tune.sample_parameters(args.grid, args.random, seed=args.seed)
    except ValueError as error:
        raise UsageError(f"--grid: {error}") from None


def _metrics(model, metric):
    """metrics= and metric= of the search: the model's kind of metrics, --metric first."""
    metrics = RATING_METRICS if "ratings" in model.needs else RANKING_METRICS
    if metric is None:
        return {"metrics": metrics, "metric": metrics[0]}
    return {"metrics": (metric, *metrics), "metric": metric}


def _settings(params):
    return ", ".join(f"{name}={value}" for name, value in params.items()) or "the defaults"


def _record(args, loaded, result):
    """The model file's metadata: what ``nanorec train`` records, and the search."""
    search = {"best": result.best_params, "validation": result.validation,
              "metric": result.metric, "trials": len(result.trials)}
    return {**training_record(args.model, loaded, args.protocol, args.seed), "search": search}


@contextlib.contextmanager
def _cluster(address):
    """With an address: a dask.distributed Client connected to it and joblib's "dask" backend
    active (yields True); without: nothing (yields False)."""
    if address is None:
        yield False
        return
    try:
        import joblib
        from dask.distributed import Client
    except ImportError:
        raise ImportError('--scheduler needs dask.distributed and joblib: pip install '
                          '"dask[distributed]" joblib') from None
    with Client(address, timeout="10s"), joblib.parallel_backend("dask"):
        yield True
