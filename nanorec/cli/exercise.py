"""``nanorec exercise list`` and ``nanorec exercise check NAME [FILE] [--json]``: the backprop
exercises and their grader (nanorec.testing.exercises).

    list                   the exercises in course order: the lesson each follows, what it asks
    check NAME [FILE]      grade FILE (default: tutorials/exercises/NAME.py, from the current
                           folder) against finite differences: per gradient right, or wrong with
                           the relative error, the worst entry and the likely bug; todo while the
                           backward still raises NotImplementedError
    check ... --json       the same as JSON on stdout, for graders

Exit status of check: 0 only when every gradient is right; 1 when one is wrong or still to do,
or the file is missing, does not load or lacks a class (one line on stderr; with --json the
JSON says it too); 2 for a bad command line, such as an unknown exercise.
"""

import json
from pathlib import Path

from nanorec.cli.common import UsageError
from nanorec.testing.exercises import EXERCISES, check

HELP = "list the backprop exercises, or grade one (exit 0 only when every gradient is right)"
EXERCISE_FOLDER = Path("tutorials") / "exercises"


def add_options(parser):
    actions = parser.add_subparsers(title="actions", metavar="ACTION", dest="action",
                                    required=True)
    actions.add_parser("list", help="the exercises in course order",
                       description="The exercises in course order.")
    grade = actions.add_parser(
        "check", help="grade a file (exit 0 only when every gradient is right)",
        description="Grade FILE as the exercise NAME: per gradient right, or wrong with the "
                    "relative error, the worst entry and the likely bug; todo while a backward "
                    "still raises NotImplementedError. Exit status 0 only when every gradient "
                    "is right.")
    grade.add_argument("name", metavar="NAME", help=f"the exercise: {', '.join(EXERCISES)}")
    grade.add_argument("file", nargs="?", metavar="FILE", type=Path,
                       help="the file to grade (default: tutorials/exercises/NAME.py)")
    grade.add_argument("--seed", type=int, default=0, help="seed of the weights and inputs")
    grade.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args):
    if args.action == "list":
        print(exercise_table())
        return 0
    if args.name not in EXERCISES:
        raise UsageError(f"unknown exercise {args.name!r}; the exercises: {', '.join(EXERCISES)}")
    path = args.file or EXERCISE_FOLDER / f"{args.name}.py"
    result = check(args.name, path, seed=args.seed)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2, allow_nan=False))
    elif result.status == "error":
        where = "" if args.file or path.is_file() else (
            " (FILE defaults to tutorials/exercises/NAME.py under the current folder: run from "
            "the repository root, or name the file)")
        raise ValueError(result.summary() + where)  # one line on stderr, exit 1
    else:
        print(result)
    return 0 if result.passed else 1


def exercise_table():
    """The exercises in course order, with the command that grades one."""
    width = max(len(name) for name in EXERCISES)
    lines = ["the backprop exercises, in course order "
             "(grade one: nanorec exercise check NAME [FILE])",
             f"  {'name':<{width}}  after lesson  asks"]
    lines += [f"  {name:<{width}}  {exercise.lesson:<12}  {exercise.asks}"
              for name, exercise in EXERCISES.items()]
    return "\n".join(lines)
