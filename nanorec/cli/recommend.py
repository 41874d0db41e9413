"""``nanorec recommend FILE --user ID``: the top-k items of a saved model for one user.

Items the user interacted with in train are left out, and so the list is shorter when fewer
items are left (a -k above the catalogue gives the whole catalogue). The id typed on the command
line is text;
it is matched to the model's ids by their type (an integer when the model's user ids are integers).
``--explain`` prints, under each item, why the model scores it so (``model.explain``, see
nanorec.models.explain); a model without explanations prints its list, then one line saying so
(exit code 1).
"""

import sys

import numpy as np

from nanorec.cli.common import positive_int
from nanorec.models.base import Recommender

HELP = "recommend items to a user with a saved model"


def add_options(parser):
    parser.add_argument("file", metavar="FILE", help="a model saved by nanorec train")
    parser.add_argument("--user", required=True, metavar="ID", help="the user's raw id")
    parser.add_argument("-k", type=positive_int, default=10,
                        help="number of items (default: %(default)s)")
    parser.add_argument("--explain", action="store_true",
                        help="explain each recommendation (models that support it)")


def run(args):
    model = Recommender.load(args.file)
    user = parse_id(args.user, model.user_ids_, "user")
    items, scores = model.recommend(user, k=min(args.k, model.n_items_))
    unseen = np.isfinite(scores)  # -inf: items the user has seen, placed last when too few are left
    items, scores = items[unseen], scores[unseen]
    explanations, missing = _explanations(model, user, items) if args.explain else ([], None)
    note = ""
    if len(items) < args.k:
        note = f"; only {len(items)} {'item' if len(items) == 1 else 'items'} the user has not seen"
        if args.k > model.n_items_:
            note += f" in a catalogue of {model.n_items_}"
    print(f"top {len(items)} items for user {user} ({type(model).__name__}, {args.file}{note})")
    print(f"  {'rank':>4}  {'item':<12}  score")
    for rank, (item, score) in enumerate(zip(items.tolist(), scores.tolist()), start=1):
        print(f"  {rank:>4}  {str(item):<12}  {score:.4f}")
        if rank <= len(explanations):
            print("\n".join("        " + line for line in str(explanations[rank - 1]).splitlines()))
    if missing is not None:
        print(f"nanorec: error: {missing}", file=sys.stderr)
        return 1
    return 0


def parse_id(text, known_ids, kind):
    """The raw id typed as ``text``, with the type of the model's ids (an int for integer ids).

    KeyError naming the id when it cannot be one of them (the model then reports unknown ids).
    """
    if known_ids.dtype.kind in "iu":
        try:
            return int(text)
        except ValueError:
            raise KeyError(f"unknown {kind} id {text!r}: this model's {kind} ids are integers") from None
    if known_ids.dtype.kind == "f":
        try:
            return float(text)
        except ValueError:
            raise KeyError(f"unknown {kind} id {text!r}: this model's {kind} ids are numbers") from None
    return text


def _explanations(model, user, items):
    """(explanation of each item, None), or ([], message) when the model has no explanations."""
    explain = getattr(model, "explain", None)
    if explain is None:
        return [], f"{type(model).__name__} has no explanations"
    try:
        return [explain(user, item) for item in items.tolist()], None
    except NotImplementedError as error:
        return [], str(error) or f"{type(model).__name__} has no explanations"
