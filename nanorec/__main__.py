"""``python -m nanorec``: the nanorec command line (see nanorec.cli and nanorec._console)."""

from nanorec._console import main

if __name__ == "__main__":
    raise SystemExit(main())
