"""Accuracy by item popularity: does a model find the blockbusters only, or the long tail too?

Buckets. Items are ordered by their number of train rows c[i] (most first; equal counts by item
index) and cut into buckets, head first:

    buckets=3 (an int n)    n buckets holding about equal shares of the train rows: the item at
                            position r of that order goes to bucket floor(n * R(r) / R), with R(r)
                            the train rows of the items before it and R all train rows. The head
                            is then a few blockbusters, the tail many rarely seen items.
    buckets=(0.2, 0.5)      cut points over the ITEMS: head = the top 20% of the items (rounded),
                            mid = the next 30%, tail = the rest; the report says what share of the
                            train rows each holds.

Test rows. A test row (u, i) counts where ``evaluate`` counts it: u has train rows and i is not one
of u's train items (full protocol: every item outside u's train rows is a candidate; cold users and
already-seen items are left out). Its 0-based rank r is evaluate's pessimistic rank
(nanorec.evaluation.protocols.pessimistic_ranks_nb: equal scores count against the item, and u's
other test items compete like any candidate). Per test row:

    hr@k     1 if r < k else 0              (the item is in u's top k)
    ndcg@k   1 / log2(r + 2) if r < k else 0
    mrr      1 / (r + 1)

A bucket's value is the mean over the test rows whose item is in the bucket. The metrics add up over
rows: sum over buckets b of (rows of b / all rows) * value_b = the mean over all rows ("all"). With
one test item per user (leave-last-out) the mean over rows IS evaluate's hr@k, ndcg@k and mrr (a
mean over users); with several test items per user it is the row-level (micro) version, e.g. hr@k
becomes the share of test rows found in the top k.

Recommendations. The top-k lists of the evaluated users (train items left out, equal scores ordered
by item index, as in ``recommend`` and evaluate's coverage@k) give

    coverage@k            |items in at least one list| / I            (evaluate's coverage@k)
    share of slots        per bucket, the share of all list entries that are its items
    items recommended     per bucket, the share of its items that are in at least one list

Memory: users are scored chunk_size at a time, (chunk_size, I) float64 scores, as in evaluate.
"""

from dataclasses import dataclass, field

import numpy as np

from nanorec import _checks

from nanorec.evaluation.protocols import (
    check_same_vocabulary,
    markdown_table,
    parse_metrics,
    pessimistic_ranks_nb,
)
from nanorec.metrics import catalogue_coverage
from nanorec.scoring import csr_entries, row_blocks, top_k

# Additive per-row metrics: ranks (R,) 0-based, k -> values (R,).
ROW_METRICS = {
    "hr": lambda ranks, k: (ranks < k).astype(np.float64),
    "ndcg": lambda ranks, k: np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0),
    "mrr": lambda ranks, k: 1.0 / (ranks + 1.0),
}


def popularity_buckets(item_counts, buckets=3):
    """Bucket of every item by popularity, head first (the rules are in the module docstring).

    Parameters
    ----------
    item_counts : int array (I,)
        Train rows per item, c[i] >= 0.
    buckets : int >= 2, or an increasing sequence of item shares in (0, 1)

    Returns
    -------
    bucket : int64 (I,)
        0 = head ... B - 1 = tail.
    names : list of str (B,)
        "head", "mid" (or "mid 1", "mid 2", ...), "tail".
    """
    counts = np.asarray(item_counts)
    if counts.ndim != 1 or counts.dtype.kind not in "iu" or (len(counts) and counts.min() < 0):
        raise ValueError("item_counts must be a 1-D array of integer counts >= 0")
    order = np.argsort(-counts, kind="stable")  # most popular first, equal counts by item index
    if isinstance(buckets, (int, np.integer)) and not isinstance(buckets, bool):
        if buckets < 2:
            raise ValueError(f"buckets must be at least 2, got {buckets}")
        total = int(counts.sum())
        if total == 0:
            raise ValueError("buckets by train rows need train rows: every item count is 0")
        rows_before = np.cumsum(counts[order]) - counts[order]
        position_bucket = np.minimum(buckets - 1, buckets * rows_before // total)
        n_buckets = int(buckets)
    else:
        shares = _checked_shares(buckets)
        cut_positions = np.round(shares * len(counts))  # items above each cut
        position_bucket = np.searchsorted(cut_positions, np.arange(len(counts)), side="right")
        n_buckets = len(shares) + 1
    bucket = np.empty(len(counts), dtype=np.int64)
    bucket[order] = position_bucket
    return bucket, _bucket_names(n_buckets)


def _checked_shares(buckets):
    """Item shares (B - 1,) float64, after checking they increase strictly inside (0, 1)."""
    shares = np.asarray(buckets)
    valid = shares.dtype.kind in "iuf" and shares.ndim == 1 and len(shares) > 0
    if not (valid and np.all((shares > 0) & (shares < 1)) and np.all(np.diff(shares) > 0)):
        raise ValueError("buckets must be an integer >= 2 or increasing item shares in (0, 1), "
                         f"e.g. (0.2, 0.5); got {buckets!r}")
    return shares.astype(np.float64)


def _bucket_names(n_buckets):
    middle = ["mid"] if n_buckets == 3 else [f"mid {j}" for j in range(1, n_buckets - 1)]
    return ["head", *middle, "tail"]


@dataclass
class PopularityBucket:
    """One bucket of items: what it holds and how the model does on it (values in [0, 1]).

    metrics are NaN for a bucket without test rows.
    """

    name: str
    n_items: int
    min_count: int  # train rows of its least popular item
    max_count: int  # ... and of its most popular one
    train_share: float  # share of all train rows that are on its items
    n_test_rows: int
    metrics: dict = field(default_factory=dict)
    slot_share: float = 0.0  # share of the top-k list entries that are its items
    items_recommended: float = 0.0  # share of its items in at least one top-k list


@dataclass
class ImbalanceResult:
    """What ``evaluate_by_popularity`` returns.

    Attributes
    ----------
    buckets : list of PopularityBucket, head first
    overall : dict metric -> mean over all counted test rows
    coverage : float
        coverage@k of the top-k lists.
    k, n_users, n_test_rows : int
        The cut-off of the lists, the users evaluated and the test rows counted.
    """

    buckets: list
    overall: dict
    coverage: float
    k: int
    n_users: int
    n_test_rows: int

    @property
    def tail_share(self):
        """Share of the top-k list entries that go to tail items."""
        return self.buckets[-1].slot_share

    def to_dict(self):
        """Plain numbers, lists and dicts (for JSON)."""
        return {
            "k": self.k, "n_users": self.n_users, "n_test_rows": self.n_test_rows,
            "coverage": self.coverage, "tail_share": self.tail_share, "overall": dict(self.overall),
            "buckets": [vars(bucket).copy() for bucket in self.buckets],
        }

    def to_markdown(self):
        """A markdown table, one row per bucket and one for all rows, then coverage@k."""
        keys = list(self.overall)
        header = ["bucket", "items", "train rows/item", "train share", "test rows", *keys,
                  f"top-{self.k} slots", "items recommended"]
        rows = []
        for bucket in self.buckets:
            rows.append([bucket.name, str(bucket.n_items), f"{bucket.min_count}-{bucket.max_count}",
                         f"{bucket.train_share:.3f}", str(bucket.n_test_rows),
                         *[f"{bucket.metrics[key]:.4f}" for key in keys],
                         f"{bucket.slot_share:.3f}", f"{bucket.items_recommended:.3f}"])
        n_items = sum(bucket.n_items for bucket in self.buckets)
        rows.append(["all", str(n_items), "", "1.000", str(self.n_test_rows),
                     *[f"{self.overall[key]:.4f}" for key in keys], "1.000", f"{self.coverage:.3f}"])
        return (markdown_table(header, rows)
                + f"\n\ncoverage@{self.k} = {self.coverage:.4f} ({self.n_users} users)")

    __str__ = to_markdown


def evaluate_by_popularity(model, test, train=None, buckets=3, k=10, metrics=None, chunk_size=None):
    """Ranking metrics of the test rows split by their item's popularity bucket, and where the
    top-k recommendations go (definitions in the module docstring).

    Parameters
    ----------
    model : Recommender
        Fitted; score_items ranks the items.
    test : Interactions
        Held-out rows sharing the model's id maps.
    train : Interactions, optional
        Gives the item counts, the items left out of each user's candidates and who is cold; by
        default the model's own train set.
    buckets : int or sequence of float
        n buckets of about equal train rows, or cut points over the items (module docstring).
    k : int
        Length of the top-k lists for coverage and the shares of slots.
    metrics : sequence of str, optional
        Among hr@n, ndcg@n and mrr (additive over test rows); default (hr@k, ndcg@k, mrr).
    chunk_size : int, optional
        Users scored at once.

    Returns
    -------
    ImbalanceResult
    """
    k = _checks.positive_int(k, "k")
    specs = _row_metric_specs((f"hr@{k}", f"ndcg@{k}", "mrr") if metrics is None else metrics)
    if chunk_size is not None:
        chunk_size = _checks.positive_int(chunk_size, "chunk_size")
    test_csr = check_same_vocabulary(model, test, "test").to_csr()
    if train is None:
        train_csr = model.train_csr_
    else:
        train_csr = check_same_vocabulary(model, train, "train").to_csr()
    n_items = model.n_items_
    item_counts = np.bincount(train_csr.indices, minlength=n_items)
    bucket, names = popularity_buckets(item_counts, buckets)

    ranks, items, recommended, n_users = _ranks_and_top_items(
        model, train_csr, test_csr, min(k, n_items), chunk_size)
    values = {key: ROW_METRICS[name](ranks, cut) for key, name, cut in specs}
    slots = np.bincount(bucket[recommended], minlength=len(names))
    is_recommended = np.zeros(n_items, dtype=bool)
    is_recommended[recommended] = True
    result_buckets = []
    for b, name in enumerate(names):
        members, rows = bucket == b, bucket[items] == b
        counts = item_counts[members]
        result_buckets.append(PopularityBucket(
            name=name,
            n_items=len(counts),
            min_count=int(counts.min()) if len(counts) else 0,
            max_count=int(counts.max()) if len(counts) else 0,
            train_share=float(counts.sum() / item_counts.sum()),
            n_test_rows=int(rows.sum()),
            metrics={key: _mean(v[rows]) for key, v in values.items()},
            slot_share=float(slots[b] / max(1, len(recommended))),
            items_recommended=_mean(is_recommended[members]),
        ))
    return ImbalanceResult(
        buckets=result_buckets,
        overall={key: float(v.mean()) for key, v in values.items()},
        coverage=catalogue_coverage([recommended], n_items),
        k=k,
        n_users=n_users,
        n_test_rows=len(ranks),
    )


def _mean(values):
    """The mean as a float, NaN for no values (an empty bucket)."""
    return float(values.mean()) if len(values) else float("nan")


def _row_metric_specs(metrics):
    """parse_metrics' (key, name, k) of each name, after checking it is additive over test rows."""
    specs = parse_metrics(metrics)
    for key, name, _ in specs:
        if name not in ROW_METRICS:
            raise ValueError(
                f"evaluate_by_popularity: {key!r} is not additive over test rows; choose among "
                "hr@k, ndcg@k and mrr"
            )
    return specs


def _ranks_and_top_items(model, train_csr, test_csr, k, chunk_size):
    """The counted test rows and the top-k lists, one chunk of users at a time.

    Returns ``ranks`` and ``items`` (R,) (evaluate's pessimistic rank and the item of each counted
    test row), ``recommended`` (every entry of the evaluated users' top-k lists, -inf scores left
    out) and the number of evaluated users. A user is evaluated when it has train rows and a test
    item outside them.
    """
    has_rows = (np.diff(train_csr.indptr) > 0) & (np.diff(test_csr.indptr) > 0)
    users = np.flatnonzero(has_rows)
    ranks, items, recommended, n_users = [], [], [], 0
    for block in row_blocks(len(users), model.n_items_, chunk_size):
        chunk = users[block]
        scores = model.checked_scores(chunk)  # finite (checked) ...
        model.mask_seen(scores, chunk, train_csr)  # ... but train items now score -inf
        row, item = csr_entries(test_csr.indptr, test_csr.indices, chunk)
        new = np.isfinite(scores[row, item])  # test items that are not train items
        row, item = row[new], item[new]
        is_relevant = np.zeros(scores.shape, dtype=bool)
        is_relevant[row, item] = True
        ranks.append(pessimistic_ranks_nb(scores, row, item, is_relevant))
        items.append(item)
        evaluated = np.unique(row)
        top_items, top_scores = top_k(scores[evaluated], k)
        recommended.append(top_items[np.isfinite(top_scores)])
        n_users += len(evaluated)
    if n_users == 0:
        raise ValueError("no test user has both train interactions and new test items")
    return np.concatenate(ranks), np.concatenate(items), np.concatenate(recommended), n_users
