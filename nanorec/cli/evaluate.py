"""``nanorec evaluate FILE``: score a saved model on held-out rows, or cross-validate its settings.

    --protocol loo / holdout   rebuild the split recorded at training (same data, protocol and
                               seed) and rank every item the user has not seen in train (full
                               ranking): HR@k, NDCG@k, Recall@k, MRR, and RMSE / MAE for rating
                               models (test rows whose user or item has no train rows get the
                               model's baseline, and the output says how many). Any other split
                               would put training rows into the test part, so it is refused.
    --protocol kfold           re-fit the model's class with its hyperparameters on 5 folds of the
                               data (nanorec.evaluation.cross_validate): mean and std over folds.
                               The saved parameters are not used, so any data will do.
"""

import functools

from nanorec.cli.common import (
    PROTOCOL_NAMES,
    UsageError,
    add_data_option,
    load_data,
    positive_int,
    split,
)
from nanorec.data.interactions import DUPLICATE_POLICIES
from nanorec.evaluation.protocols import cross_validate, evaluate
from nanorec.models.base import Recommender

HELP = "evaluate a saved model on the held-out part of its split, or cross-validate it"
N_FOLDS = 5


def add_options(parser):
    parser.add_argument("file", metavar="FILE", help="a model saved by nanorec train")
    add_data_option(parser, default=None)
    parser.add_argument("--protocol", choices=("loo", "holdout", "kfold"),
                        help="loo / holdout: the split of training (the default), refused if it "
                             f"differs; kfold: re-fit on {N_FOLDS} folds")
    parser.add_argument("-k", type=positive_int, default=10,
                        help="length of the ranked lists (default: %(default)s)")
    parser.add_argument("--seed", type=int,
                        help="holdout: must be the training seed (the default); kfold: seeds "
                             "the folds")


def run(args):
    model = Recommender.load(args.file)
    record = _record(args.file, model.metadata_)
    protocol = args.protocol or record.get("protocol")
    spec = args.data or record.get("data")
    if protocol is None or spec is None:
        raise UsageError(f"{args.file} records no training data and split (it was not saved by "
                         "nanorec train): give --data and --protocol kfold")
    seed = record.get("seed", 0) if args.seed is None else args.seed
    # how the training file was read, unless this command line says otherwise
    options = dict(record.get("data_options", {})) if args.data is None else {}
    options.update({name: value for name, value in (("sep", args.sep), ("columns", args.columns),
                                                   ("duplicates", args.duplicates))
                    if value is not None})
    options = {name: tuple(value) if isinstance(value, list) else value
               for name, value in options.items()}
    try:
        loaded = load_data(spec, **options)
    except FileNotFoundError:
        if args.data is None:
            raise FileNotFoundError(f"{args.file} was trained on {spec}, which is not there any "
                                    "more: give --data") from None
        raise
    data = loaded.interactions
    metrics = [f"hr@{args.k}", f"ndcg@{args.k}", f"recall@{args.k}", "mrr"]
    if "ratings" in getattr(model, "needs", ()) and data.ratings is not None:
        metrics += ["rmse", "mae"]
    name = type(model).__name__

    if protocol == "kfold":
        params = model.get_params()
        if "verbose" in params:
            params["verbose"] = False
        make_model = functools.partial(type(model), **params)
        result = cross_validate(make_model, data, n_splits=N_FOLDS, metrics=metrics, seed=seed)
        print(f"{name} re-fitted with its hyperparameters: {PROTOCOL_NAMES[protocol]} of {spec} "
              f"(seed {seed}), protocol {result.protocol}")
        width = max(map(len, result.mean))
        for metric in result.mean:
            print(f"  {metric:<{width}}  {result.mean[metric]:.4f} +- {result.std[metric]:.4f}")
        return 0

    _refuse_another_split(args.file, record, loaded, protocol, seed)
    train, test = split(data, protocol, seed)
    if len(test) == 0:
        raise UsageError(f"the {PROTOCOL_NAMES[protocol]} of {spec} holds out no rows: nothing "
                         "to evaluate on; use --protocol kfold")
    result = evaluate(model, test, train=train, metrics=metrics, unknown="baseline")
    print(f"{name} from {args.file} on {spec}, {PROTOCOL_NAMES[protocol]} "
          f"({len(test):,} test rows)")
    print(result)
    return 0


def _record(path, metadata):
    """The training record of a model file, its entries checked (the file may be edited)."""
    checks = {"protocol": lambda v: v in ("loo", "holdout", "none"),
              "data": lambda v: isinstance(v, str), "data_id": lambda v: isinstance(v, str),
              "seed": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "data_options": _good_options}
    for key, good in checks.items():
        if key in metadata and not good(metadata[key]):
            raise UsageError(f"{path} records a {key} of {metadata[key]!r}, which nanorec train "
                             "never writes: give --data and --protocol kfold")
    return metadata


def _good_options(options):
    if not isinstance(options, dict) or set(options) - {"sep", "columns", "duplicates"}:
        return False
    sep, columns = options.get("sep", ","), options.get("columns", ["user", "item"])
    return (isinstance(sep, str) and 0 < len(sep) <= 2
            and isinstance(columns, list) and all(isinstance(c, str) for c in columns)
            and options.get("duplicates", "error") in DUPLICATE_POLICIES)


def _refuse_another_split(path, record, loaded, protocol, seed):
    """UsageError unless loo/holdout rebuild the very split the model was trained on."""
    trained = record.get("protocol")
    if trained is None:
        raise UsageError(f"{path} records no training split (it was not saved by nanorec train): "
                         "only --protocol kfold, which re-fits, can evaluate it honestly")
    if trained == "none":
        raise UsageError(f"{path} was trained on every row (--protocol none): its test rows would "
                         "be training rows; use --protocol kfold, or train with loo or holdout")
    if protocol != trained:
        raise UsageError(f"{path} was trained with --protocol {trained}: a {protocol} test part "
                         f"would hold training rows; use --protocol {trained} or kfold")
    if not _same_data(record.get("data_id"), loaded.identity):
        if record.get("data") == loaded.spec:
            raise UsageError(f"{path} was trained on {loaded.spec} as it was then, and its "
                             "contents have changed since (another SHA-256): the held-out rows "
                             "cannot be rebuilt; evaluate on the data as it was, or use "
                             "--protocol kfold")
        raise UsageError(f"{path} was trained on {record.get('data')}, not on {loaded.spec}: "
                         "evaluate it on the same data, or use --protocol kfold")
    recorded = {name: tuple(value) if isinstance(value, list) else value
                for name, value in record.get("data_options", {}).items()}
    if recorded != (loaded.options or {}):
        raise UsageError(f"{path} was trained on {loaded.spec} read with {_flags(recorded)}, not "
                         f"with {_flags(loaded.options)}: other rows; drop those options, or use "
                         "--protocol kfold")
    if protocol == "holdout" and seed != record.get("seed"):  # loo does not depend on the seed
        raise UsageError(f"{path} was trained on the holdout split of seed {record.get('seed')}: "
                         f"the split of seed {seed} would hold training rows")


def _same_data(recorded, identity):
    """Equal identities; a MovieLens identity of an older file is its bare name."""
    return recorded == identity or (recorded == "movielens-100k"
                                    and identity.startswith("movielens-100k:"))


def _flags(options):
    """{'sep': ';'} -> "--sep ';'"; no options -> 'the defaults'."""
    if not options:
        return "the defaults"
    return " ".join(f"--{name} {','.join(value) if isinstance(value, tuple) else value!r}"
                    for name, value in options.items())
