"""The ``nanorec`` command line.

    nanorec [demo] [--seed S] [--quiet]     train four recommenders on synthetic data, compare them
                                            (the default command)
    nanorec train MODEL --data D --save F   fit a model on the train part of a split, save it
    nanorec evaluate F [--protocol P]       score it on the held-out part, or cross-validate it
    nanorec tune MODEL --grid SPEC          search settings on folds of train, save the best
    nanorec run EXPERIMENT.toml             models, search spaces, seeds from a file: table, JSON
    nanorec recommend F --user ID           its top-k items for a user (--explain: why)
    nanorec datasets                        the known data sets and where they live
    nanorec gradcheck [NAME|all]            backward vs finite differences, layer by layer
    nanorec verify [MODEL|all]              a certificate per model
    nanorec exercise list|check NAME [FILE] grade a backprop exercise (exit 0: every gradient right)
    python -m nanorec ...                   the same

Each subcommand is a module with HELP, ``add_options(parser)`` and ``run(args) -> exit code``;
COMMANDS lists them. Errors a user can cause print ONE line, ``nanorec: error: ...``, on stderr:
exit code 2 for a bad command line (argparse's checks, UsageError), 1 for a run that failed on the
package's own errors (a missing or corrupt file, an unknown user, data a model cannot use, no
memory left). Any other exception is a bug and keeps its traceback.

Ctrl-C (SIGINT) prints ``nanorec: interrupted`` and exits with 130, as a shell does; files are
written atomically, so one being saved is left as it was. When the reader of the output goes away
(``nanorec train ... | head -2``) the command still runs to its end, so a model is saved, and then
exits with 141 (128 + SIGPIPE), the status a Unix tool killed by the closed pipe would have.
"""

import argparse
import contextlib
import os
import sys
import warnings

from nanorec import __version__
from nanorec.cli import (
    data_info,
    demo,
    evaluate,
    exercise,
    gradchecks,
    recommend,
    run,
    train,
    tune,
    verify,
)
from nanorec.cli.common import UsageError

DEFAULT_COMMAND = "demo"
COMMANDS = {
    "demo": demo,
    "train": train,
    "evaluate": evaluate,
    "tune": tune,
    "run": run,
    "recommend": recommend,
    "datasets": data_info,
    "gradcheck": gradchecks,
    "verify": verify,
    "exercise": exercise,
}
# what a user can provoke: bad files and paths (OSError), bad values and ids, a missing extra,
# data too big for the machine
RUN_ERRORS = (ValueError, KeyError, OSError, ImportError, FloatingPointError, MemoryError)
INTERRUPTED, CLOSED_PIPE = 130, 141  # 128 + SIGINT, 128 + SIGPIPE


def main(argv=None):
    """Parse ``argv`` (default: sys.argv[1:]), run the subcommand, return its exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = [DEFAULT_COMMAND, *argv]
    stdout = sys.stdout
    guard = sys.stdout = _ClosedPipeGuard(stdout)
    try:
        args = build_parser().parse_args(argv)  # a bad command line exits here with code 2
        with _one_line_warnings():
            code = args.command.run(args)
        guard.flush()  # a closed pipe shows here at the latest
    except UsageError as error:
        code = _fail(error, 2)
    except RUN_ERRORS as error:
        code = _fail(error, 1)
    except KeyboardInterrupt:
        print("nanorec: interrupted", file=sys.stderr)
        code = INTERRUPTED
    finally:
        sys.stdout = stdout
    return CLOSED_PIPE if guard.broken and code == 0 else code


class _ClosedPipeGuard:
    """sys.stdout that survives its reader going away: the first BrokenPipeError points the
    stream's file at /dev/null (so neither later writes nor Python's flush at exit fail) and
    sets ``broken``; the command goes on, and saves what it was asked to save."""

    def __init__(self, stream):
        self._stream, self.broken = stream, False

    def write(self, text):
        if not self.broken and self._stream is not None:  # None: started with stdout closed
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._close()
        return len(text)

    def flush(self):
        if not self.broken and self._stream is not None:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._close()

    def _close(self):
        self.broken = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):  # a stream without a file (a StringIO)
            pass

    def __getattr__(self, name):
        return getattr(self._stream, name)


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
    if isinstance(error, MemoryError):
        message = (f"out of memory ({message or 'no details'}): use smaller data, or a machine "
                   "with more memory")
    print(f"nanorec: error: {message or type(error).__name__}", file=sys.stderr)
    return exit_code


@contextlib.contextmanager
def _one_line_warnings():
    """Show warnings (e.g. a split's ColdStartWarning) as ``nanorec: warning: ...``, one line each."""
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"nanorec: warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield
