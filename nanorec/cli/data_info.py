"""``nanorec datasets``: the data home, and each known data set with its size and where it is."""

from nanorec.cli.common import SYNTHETIC_SIZE
from nanorec.data import datasets

HELP = "list the known data sets, where they are and their sizes"


def add_options(parser):
    pass  # nothing to choose


def run(args):
    home = datasets.get_data_home()
    print(f"data home: {home}")
    print("  (set NANOREC_DATA_HOME to use another folder; the default is ~/.cache/nanorec)")
    for name, info in datasets.available().items():
        if info["local"] is not None:
            local = info["local"]
        elif info.get("url"):
            local = f"not in the data home yet: downloaded on first use from {info['url']}"
        else:
            local = (f"no official download: give the file, --data {name}:PATH (Python: "
                     f"load({name!r}, path=...))")
        print(f"\n{name}: {info['description']}")
        print(f"  size   {info['size']}")
        print(f"  where  {local}")
    users, items, rows = SYNTHETIC_SIZE
    print(f"\nIn other commands: --data synthetic ({users:,} users, {items:,} items, {rows:,} rows), "
          "--data synthetic:UxIxN (U users, I items, N rows, e.g. synthetic:200x100x4000), "
          "--data toy, --data movielens-100k, --data path/to/ml-100k.zip (or its folder), "
          "--data NAME for any data set above (--data NAME:PATH for its archive, folder or "
          "ratings file elsewhere, e.g. --data movielens-1m:path/to/ml-1m.zip or --data "
          "recbole:path/to/file.inter), or --data FILE.csv (a CSV or TSV file: separator and "
          "header detected; columns user, item[, rating][, timestamp]; --sep, --columns and "
          "--duplicates say otherwise).")
    return 0
