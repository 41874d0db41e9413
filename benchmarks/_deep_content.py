"""Cold start on MovieLens-100K: users and items with no training rows (rows for bench_deep.py).

Question: when a user or an item has no interactions yet, how well do the content-aware models
rank for it, compared with Popularity? (BPRMF, a pure-ID model, cannot score them at all.)

Protocol (nanorec.data.cold): ``cold_start_split(data, 0.1, 0.1, seed=0)`` holds out 10% of the
users and 10% of the items with all their rows; every rating counts as a positive interaction.

    cold users   each held-out user ranks the items with train rows, from its demographics (age,
                 gender, occupation) alone; relevant = its rated items. HR@10, NDCG@10, AUC.
    cold items   each user who rated a held-out item ranks the held-out items, from their genres
                 and release year (and title words in the "+ titles" row); relevant = the held-out
                 items it rated. AUC, HR@10, NDCG@10. Popularity scores them all 0: AUC 0.5.

Ties count against a model (pessimistic ranks). fit_s is the wall-clock fit time; Numba kernels
are warmed up on a tiny fit first. The titles are read from u.item of the same zip (datasets.py
does not keep them) and turned into TF-IDF columns (nanorec.data.features.add_item_text with
nanorec.data.text.TfidfVectorizer).

    python benchmarks/bench_deep.py --data PATH/ml-100k.zip --only content [--quick]
"""

import time
import zipfile
from pathlib import Path

import numpy as np

from nanorec.data.datasets import load
from nanorec.data.split import cold_start_split
from nanorec.data.features import add_item_text
from nanorec.data.text import TfidfVectorizer
from nanorec.evaluation.cold import evaluate_cold
from nanorec.models import ColdStartError
from nanorec.models.baselines import Popularity
from nanorec.models.content import ContentBased, Hybrid
from nanorec.models.mf import BPRMF

METRICS = {"cold users": ("hr@10", "ndcg@10", "auc"), "cold items": ("auc", "hr@10", "ndcg@10")}
CANNOT_SCORE = "cannot score"


def read_titles(data_path):
    """Raw item id -> title, from u.item in an ml-100k zip or folder (latin-1, "|"-separated)."""
    path = Path(data_path)
    if path.is_file():
        with zipfile.ZipFile(path) as zipped:
            name = next(n for n in zipped.namelist() if n.endswith("u.item"))
            raw = zipped.read(name)
    else:
        raw = next(path.rglob("u.item")).read_bytes()
    fields = (line.split("|") for line in raw.decode("latin-1").splitlines() if line.strip())
    return {int(row[0]): row[1] for row in fields}


def make_models(quick):
    """(label, unfitted model, the data it reads) for each row of the table."""
    epochs = 3 if quick else 10
    return [
        ("Popularity", Popularity(), "plain"),
        ("ContentBased", ContentBased(n_epochs=epochs), "plain"),
        ("ContentBased + titles", ContentBased(n_epochs=epochs), "titles"),
        ("Hybrid", Hybrid(n_epochs=epochs), "plain"),
        ("BPRMF", BPRMF(n_epochs=5 if quick else 50), "plain"),
    ]


def rows(data_path, quick):
    """The cold-start table: one dict per (model, protocol) with the metrics, "model",
    "protocol" and "fit_s"; BPRMF's metrics are the string "cannot score"."""
    data = load("movielens-100k", path=data_path)
    with_titles = add_item_text(data, read_titles(data_path), TfidfVectorizer(max_features=100))
    splits = {name: cold_start_split(d, 0.1, 0.1, seed=0)
              for name, d in (("plain", data), ("titles", with_titles))}
    _warm_up(splits["plain"].train)
    table = []
    for label, model, data_name in make_models(quick):
        train, user_test, item_test = splits[data_name]
        start = time.perf_counter()
        model.fit(train)
        fit_s = time.perf_counter() - start
        for protocol, test in (("cold users", user_test), ("cold items", item_test)):
            kind = protocol.split()[1]
            try:
                values = dict(evaluate_cold(model, test, kind, METRICS[protocol]))
            except ColdStartError:
                values = dict.fromkeys(METRICS[protocol], CANNOT_SCORE)
            table.append({"model": label, "protocol": protocol, **values, "fit_s": round(fit_s, 2)})
    return table


def _warm_up(train):
    """Compile (or load from cache) the Numba kernels before anything is timed."""
    tiny = train.subset(np.arange(min(2000, len(train))))
    for model in (ContentBased(n_epochs=1), Hybrid(n_epochs=1), BPRMF(n_epochs=1)):
        model.fit(tiny)
