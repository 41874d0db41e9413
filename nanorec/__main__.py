"""``python -m nanorec``: the nanorec command line (see nanorec.cli)."""

from nanorec.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
