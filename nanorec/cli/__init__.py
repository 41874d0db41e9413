"""The ``nanorec`` command line.

    nanorec [demo] [--seed S] [--quiet]     train four recommenders on synthetic data, compare them
                                            (the default command)
    nanorec train MODEL --data D --save F   fit a model on the train part of a split, save it
    nanorec evaluate F [--protocol P]       score it on the held-out part, or cross-validate it
    nanorec recommend F --user ID           its top-k items for a user (--explain: why)
    nanorec datasets                        the known data sets and where they live
    nanorec gradcheck [NAME|all]            backward vs finite differences, layer by layer
    nanorec verify [MODEL|all]              a certificate per model
    python -m nanorec ...                   the same

Each subcommand is a module with HELP, ``add_options(parser)`` and ``run(args) -> exit code``;
COMMANDS lists them. Errors a user can cause print ONE line, ``nanorec: error: ...``, on stderr:
exit code 2 for a bad command line (argparse's checks, UsageError), 1 for a run that failed on the
package's own errors (a missing or corrupt file, an unknown user, data a model cannot use). Any
other exception is a bug and keeps its traceback.
"""

import argparse
import contextlib
import sys
import warnings

from nanorec import __version__
from nanorec.cli import data_info, demo, evaluate, gradchecks, recommend, train, verify
from nanorec.cli.common import UsageError

DEFAULT_COMMAND = "demo"
COMMANDS = {
    "demo": demo,
    "train": train,
    "evaluate": evaluate,
    "recommend": recommend,
    "datasets": data_info,
    "gradcheck": gradchecks,
    "verify": verify,
}
# what a user can provoke: bad files and paths (OSError), bad values and ids, a missing extra
RUN_ERRORS = (ValueError, KeyError, OSError, ImportError, FloatingPointError)


def main(argv=None):
    """Parse ``argv`` (default: sys.argv[1:]), run the subcommand, return its exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = [DEFAULT_COMMAND, *argv]
    args = build_parser().parse_args(argv)  # a bad command line exits here with code 2
    try:
        with _one_line_warnings():
            return args.command.run(args)
    except UsageError as error:
        return _fail(error, 2)
    except RUN_ERRORS as error:
        return _fail(error, 1)


def build_parser():
    parser = CommandLineParser(
        prog="nanorec",
        description="A from-scratch neural-network engine and recommenders built from it.",
    )
    parser.add_argument("--version", action="version", version=f"nanorec {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name, command in COMMANDS.items():
        default = " (the default)" if name == DEFAULT_COMMAND else ""
        subparser = subparsers.add_parser(
            name, help=command.HELP + default, description=command.__doc__.replace("``", ""),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.add_options(subparser)
        subparser.set_defaults(command=command)
    return parser


class CommandLineParser(argparse.ArgumentParser):
    """argparse, with its errors on one line: ``nanorec: error: ... (see 'nanorec train --help')``."""

    def error(self, message):
        self.exit(2, f"nanorec: error: {message} (see '{self.prog} --help')\n")


def _fail(error, exit_code):
    # a KeyError's str() quotes its message; its first argument is the message itself
    message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
    print(f"nanorec: error: {message}", file=sys.stderr)
    return exit_code


@contextlib.contextmanager
def _one_line_warnings():
    """Show warnings (e.g. a split's ColdStartWarning) as ``nanorec: warning: ...``, one line each."""
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"nanorec: warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield
