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
are warmed up on a tiny fit first, the twins fit one epoch on a tiny subset first.

Each ContentBased and Hybrid row is followed by its PyTorch twin (_torch_deep_twins.py: the same
network, init scheme, Adam and the very batches of nanorec's fit) on 1 and 2 torch threads, in
both protocols: s/epoch is the median epoch's training seconds, "nanorec / twin s/epoch" their
ratio, "<metric>: nanorec - twin [95%]" a paired bootstrap over the evaluated users
(nanorec.evaluation.paired_bootstrap, 10,000 resamples).

The titles are read from u.item of the same zip (nanorec.data.datasets.side_tables) and turned into
TF-IDF columns (nanorec.data.features.add_item_text with nanorec.data.text.TfidfVectorizer).

    python benchmarks/bench_deep.py --data PATH/ml-100k.zip --only content [--quick]
"""

import numpy as np

from nanorec.data.datasets import load, side_tables
from nanorec.data.split import cold_start_split
from nanorec.data.features import add_item_text
from nanorec.data.text import TfidfVectorizer
from nanorec.evaluation.cold import evaluate_cold
from nanorec.models import ColdStartError
from nanorec.models.baselines import Popularity
from nanorec.models.content import ContentBased, Hybrid
from nanorec.models.mf import BPRMF

from _torch_deep_twins import TWIN_THREADS, model_rows  # isort: skip

METRICS = {"cold users": ("hr@10", "ndcg@10", "auc"), "cold items": ("auc", "hr@10", "ndcg@10")}
CANNOT_SCORE = "cannot score"


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


def rows(data_path, quick, twin_threads=TWIN_THREADS, twin_init="torch"):
    """The cold-start table on MovieLens-100K (with its titles): see ``table``."""
    _, items = side_tables("movielens-100k", path=data_path)
    return table(load("movielens-100k", path=data_path), quick, twin_threads,
                 titles=dict(zip(items["id"], items["title"])), twin_init=twin_init)


def table(data, quick, twin_threads=TWIN_THREADS, titles=None, twin_init="torch"):
    """One dict per (model, protocol) with the metrics, "model", "protocol", "fit_s" and
    "s/epoch"; BPRMF's metrics are the string "cannot score". ContentBased and Hybrid are followed
    by their PyTorch twins, one row per thread count in twin_threads (_torch_deep_twins.model_rows).
    titles : raw item id -> title, or None (then no "+ titles" row)."""
    datasets = {"plain": data}
    if titles is not None:
        datasets["titles"] = add_item_text(data, titles, TfidfVectorizer(max_features=100))
    splits = {name: cold_start_split(d, 0.1, 0.1, seed=0) for name, d in datasets.items()}
    tiny = {name: split.train.subset(np.arange(min(2000, len(split.train))))
            for name, split in splits.items()}
    _warm_up(tiny["plain"])
    rows = []
    for label, model, data_name in make_models(quick):
        if data_name not in splits:
            continue
        train, user_test, item_test = splits[data_name]
        rows += model_rows(label, model, train, cold_evaluation(user_test, item_test),
                           twin_threads, warm_up=tiny[data_name],
                           twin_init=twin_init)
    return rows


def cold_evaluation(user_test, item_test):
    """evaluations(model) for model_rows: the metrics of each protocol and their per-user values
    (none for a model that cannot score cold ids)."""
    def evaluations(model):
        results = []
        for protocol, test in (("cold users", user_test), ("cold items", item_test)):
            try:
                result = evaluate_cold(model, test, protocol.split()[1], METRICS[protocol])
            except ColdStartError:
                results.append((protocol, dict.fromkeys(METRICS[protocol], CANNOT_SCORE), {}))
                continue
            results.append((protocol, dict(result), dict(result.per_user)))
        return results

    return evaluations


def _warm_up(tiny):
    """Compile (or load from cache) the Numba kernels before anything is timed."""
    for model in (ContentBased(n_epochs=1), Hybrid(n_epochs=1), BPRMF(n_epochs=1)):
        model.fit(tiny)
