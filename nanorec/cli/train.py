"""``nanorec train MODEL --data ... --save FILE``: fit a model on the train part of a split, save it.

The test part of the protocol (--protocol loo or holdout, seeded by --seed) is held out and never
seen by the model; the file records the data (and how a text file was read), protocol and seed, so
that ``nanorec evaluate`` can rebuild the same split and score the model on rows it has not seen.
Where the model and a --plot go is checked before the data is read: a wrong path fails at once.
"""

import time

from nanorec.cli.common import (
    REGISTRY,
    PROTOCOL_NAMES,
    UsageError,
    add_data_option,
    build_model,
    data_options,
    describe,
    load_data,
    output_file,
    positive_float,
    positive_int,
    split,
    training_record,
)
from nanorec.plotting import image_format, plot_history

HELP = "train a model on a data set and save it to a file"


def add_options(parser):
    width = max(map(len, REGISTRY))
    parser.epilog = "models:\n" + "\n".join(
        f"  {name:<{width}}  {model.summary}"
        + (f" (needs {', '.join(model.needs)})" if model.needs else "")
        for name, model in REGISTRY.items()
    )
    parser.add_argument("model", choices=list(REGISTRY), metavar="MODEL",
                        help="the model to train, one of the names listed below")
    add_data_option(parser, default="synthetic")
    parser.add_argument("--protocol", choices=("loo", "holdout", "none"), default="loo",
                        help="held-out test part: loo = each user's latest row (needs timestamps), "
                             "holdout = a random 20%% of the rows, none = train on every row "
                             "(default: %(default)s)")
    parser.add_argument("--epochs", type=positive_int, help="passes over the data (n_epochs)")
    parser.add_argument("--factors", type=positive_int, help="size of the latent factors (n_factors)")
    parser.add_argument("--lr", type=positive_float, help="learning rate")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the model and of the holdout split (default: %(default)s)")
    parser.add_argument("--save", required=True, metavar="FILE", help="where to write the model (.npz)")
    parser.add_argument("--plot", metavar="IMAGE",
                        help="also draw the learning curve into this image (.png, .svg, .pdf); "
                             'needs matplotlib: pip install "nanorec[plot]"')
    parser.add_argument("--quiet", action="store_true", help="print no progress")


def run(args):
    save = output_file(args.save, "--save", ".npz")  # fail before training, not after
    plot = None
    if args.plot is not None:
        plot = output_file(args.plot, "--plot")
        try:
            image_format(plot)  # needs matplotlib (ImportError), and an extension it can write
        except ValueError as error:
            raise UsageError(f"--plot: {error}") from None
    loaded = load_data(args.data, **data_options(args))
    data = loaded.interactions
    options = {"epochs": args.epochs, "factors": args.factors, "lr": args.lr}
    model = build_model(args.model, data, args.data, options, args.seed, verbose=not args.quiet)
    if plot is not None and "n_epochs" not in model.get_params():
        raise UsageError(f"model {args.model} is not trained in epochs: it has no learning "
                         "curve to --plot")
    train, test = split(data, args.protocol, args.seed)
    say = (lambda *_: None) if args.quiet else print
    say(f"data     {args.data}: {describe(data)}")
    if loaded.layout:
        say(f"read as  {loaded.layout}")
    held_out = "nothing held out" if test is None else f"{len(test):,} test rows held out"
    say(f"split    {PROTOCOL_NAMES[args.protocol]}: {len(train):,} train rows, {held_out}")
    say(f"model    {model!r}")

    start = time.perf_counter()
    model.fit(train)
    seconds = time.perf_counter() - start
    metadata = training_record(args.model, loaded, args.protocol, args.seed)
    path = model.save(save, metadata=metadata)
    print(f"trained {type(model).__name__} in {seconds:.1f} s; saved to {path}")
    if test is not None and len(test):
        say(f"next     nanorec evaluate {path}   (scores it on the {len(test):,} held-out rows)")
    if plot is not None:
        title = f"{type(model).__name__} on {args.data}"
        print(f"learning curve: {plot_history(model.history_, plot, title=title)}")
    return 0
