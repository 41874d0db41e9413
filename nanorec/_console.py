"""The ``nanorec`` command's entry point: a Ctrl-C while Python imports the models is one line too.

The package's __init__ imports nothing heavy, so this module starts at once; the command line
(nanorec.cli) and every model load inside the try.
"""

import sys

INTERRUPTED = 130  # 128 + SIGINT, as nanorec.cli exits on a Ctrl-C later on


def main():
    try:
        from nanorec.cli import main as run
    except KeyboardInterrupt:
        print("nanorec: interrupted", file=sys.stderr)
        return INTERRUPTED
    return run()
