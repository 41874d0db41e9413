"""Evaluation for cold start: rank for users or items that have no training rows.

``nanorec.data.split.cold_start_split`` holds out whole users and whole items; ``evaluate_cold``
then measures how well a fitted model ranks for them, with ties counted pessimistically as in
nanorec.evaluation.protocols:

    kind="users"   each cold user ranks every item that has train rows; relevant = its test items
    kind="items"   each user with a test row on a cold item ranks all items WITHOUT train rows (the
                   cold items); relevant = its cold test items. Popularity scores them all 0 (a
                   tie): its AUC is 0.5 and its hit rate 0, the level of a random guess or worse.

A model is asked only if its class says it can score without rows (``cold_start`` contains "users"
or "items": ContentBased, Hybrid, and the baselines whose scores never read a user's rows).
Pure-ID models (BPRMF, BiasedMF, ...) learn nothing for a user or item without rows, so they
raise ColdStartError instead of returning noise.
"""

from typing import NamedTuple

import numpy as np

from nanorec.evaluation.protocols import (
    FROM_HITS,
    EvaluationResult,
    check_same_vocabulary,
    parse_metrics,
    user_values,
)
from nanorec.scoring import ColdStartError, csr_entries, row_blocks

KINDS = ("users", "items")


def check_cold_ready(model, kind, example_index=0):
    """Raise ColdStartError unless ``model`` can score users (kind="users") or items without rows.

    ``example_index`` names the cold user or item (an index) the message reports.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if kind in model.cold_start:
        return
    singular = kind[:-1]
    raw_id = getattr(model, f"{singular}_ids_")[example_index : example_index + 1].tolist()[0]
    raise ColdStartError(
        f"unknown {singular} id {raw_id!r}; this model ({type(model).__name__}) cannot score "
        f"{kind} without training rows; use Hybrid with {singular}_features"
    )


def parse_cold_metrics(metrics):
    """parse_metrics(metrics), after checking evaluate_cold computes each: ValueError naming the
    first it does not (the metrics of the top-k lists, rmse, mae)."""
    specs = parse_metrics(metrics)
    unsupported = [key for key, name, _ in specs if name not in (*FROM_HITS, "mrr", "auc")]
    if unsupported:
        raise ValueError(f"evaluate_cold does not compute {unsupported}; use hr, precision, "
                         "recall, ndcg, map (@k), mrr or auc")
    return specs


def evaluate_cold(model, test, kind="users", metrics=("hr@10", "ndcg@10"), chunk_size=None):
    """Ranking metrics of a fitted model for cold users or cold items (module docstring).

    Parameters
    ----------
    model : Recommender
        Fitted on the ``train`` part of a cold_start_split (its train rows tell warm from cold).
    test : Interactions
        ``user_test`` for kind="users", ``item_test`` for kind="items"; same id maps as train.
    kind : {"users", "items"}
    metrics : sequence of str
        From hr@k, precision@k, recall@k, ndcg@k, map@k, mrr, auc (nanorec.metrics definitions;
        auc: per user, its relevant items against the other candidates, ties averaged).
    chunk_size : int, optional
        Users scored at once (default: about 2**21 scores per chunk).

    Returns
    -------
    EvaluationResult
        The mean of each metric over the evaluated users. Users whose relevant items are all the
        candidates (nothing to rank them above) are skipped and counted in ``n_skipped_no_test``.
    """
    specs = parse_cold_metrics(metrics)
    users, relevant, candidates = _cold_task(model, test, kind)
    n_relevant = np.diff(relevant.indptr)[users]
    has_negative = n_relevant < candidates.sum()
    n_skipped = int(np.sum(~has_negative))
    users = users[has_negative]
    if len(users) == 0:
        raise ValueError(f"no cold {kind[:-1]} in test has a candidate to rank below its items")
    check_cold_ready(model, kind, users[0] if kind == "users" else relevant.indices[0])
    per_user = {key: np.zeros(len(users)) for key, _, _ in specs}
    for block in row_blocks(len(users), model.n_items_, chunk_size):
        chunk = users[block]
        scores = model.checked_scores(chunk)
        scores[:, ~candidates] = -np.inf
        row, item = csr_entries(relevant.indptr, relevant.indices, chunk)
        for key, value in user_values(scores, row, item, specs, model.user_ids_[chunk]).items():
            per_user[key][block] = value
    values = {key: float(np.mean(value)) for key, value in per_user.items()}
    which = "with" if kind == "users" else "without"
    label = f"cold {kind}: ranking the {int(candidates.sum())} items {which} train rows"
    return EvaluationResult(values, label, len(users), 0, n_skipped, per_user,
                            model.user_ids_[users])


class _Relevant(NamedTuple):
    indptr: np.ndarray
    indices: np.ndarray


def _cold_task(model, test, kind):
    """(users to evaluate (ascending), their relevant items as CSR rows, candidate mask (I,))."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    check_same_vocabulary(model, test, "test")
    train = model.train_csr_
    user_is_warm = np.diff(train.indptr) > 0
    item_is_warm = np.bincount(train.indices, minlength=model.n_items_) > 0
    if kind == "users":
        rows = ~user_is_warm[test.user_index] & item_is_warm[test.item_index]
        candidates = item_is_warm
    else:
        rows = ~item_is_warm[test.item_index]
        candidates = ~item_is_warm
    if not rows.any():
        raise ValueError(f"test holds no row of a cold {kind[:-1]} (one without train rows)")
    cold = test.subset(rows).to_csr()
    users = np.flatnonzero(np.diff(cold.indptr) > 0)
    return users, _Relevant(cold.indptr, cold.indices), candidates
