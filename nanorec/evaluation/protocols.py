"""Evaluate a fitted recommender on held-out interactions, and cross-validate it over k folds.

Every test user u that has train interactions gets a ranking of candidate items:

    full      candidates = every item u has not interacted with in train (train items get the
              score -inf). Relevant = u's test items. The honest default.
    sampled   candidates = u's test items plus n_negatives items drawn uniformly, without
              replacement, among the items u has neither in train nor in test (one draw per user,
              shared by all of u's test items). Cheaper, but it inflates the numbers and can
              reorder models (Krichene & Rendle, "On Sampled Metrics for Item Recommendation",
              KDD 2020), so results say "sampled (N negatives)" wherever they are printed.

Ties. The rank of a relevant item is counted pessimistically: every candidate with a higher score
and every non-relevant candidate with an equal score come before it; relevant items with equal
scores are ordered by item index. A model that scores every item the same therefore finds nothing,
instead of being credited with the luck of a tie-break.

Memory. Users are scored chunk_size at a time (model.score_items on a chunk), so the work arrays
are (chunk_size, I): the float64 scores and a few temporaries of that shape, at most about 40 bytes
per cell (the sampled protocol and the metrics of the top-k lists need the most). The default chunk holds about 2**21
cells (~ 80 MB at the peak), whatever U and I.
"""

import numba
import numpy as np

from nanorec import _checks

from nanorec.data.split import kfold
from nanorec.evaluation.parallel import run_tasks
from nanorec.metrics.beyond_accuracy import (
    catalogue_coverage,
    gini_index,
    intra_list_diversity,
    novelty,
    recommendation_counts,
    shannon_entropy,
)
from nanorec.metrics.ranking import (
    average_precision_from_hits,
    hit_rate_from_hits,
    ndcg_from_hits,
    precision_from_hits,
    recall_from_hits,
)
from nanorec.metrics.rating import auc, check_pair, mae, rmse
from nanorec.scoring import csr_entries, row_blocks, top_k

DEFAULT_METRICS = ("hr@10", "ndcg@10", "recall@20", "mrr")

# Metrics of the top k: (hits (N, k), n_relevant (N,)) -> one value per user.
FROM_HITS = {
    "hr": lambda hits, n_relevant: hit_rate_from_hits(hits),
    "precision": lambda hits, n_relevant: precision_from_hits(hits),
    "recall": recall_from_hits,
    "ndcg": ndcg_from_hits,
    "map": average_precision_from_hits,
}
# Metrics of all the top-k lists together: (lists, n_items) -> one value, no per-user values.
CATALOGUE = {
    "coverage": catalogue_coverage,
    "gini": lambda lists, n_items: gini_index(recommendation_counts(lists, n_items)),
    "entropy": lambda lists, n_items: shannon_entropy(recommendation_counts(lists, n_items)),
}
# Metrics of each top-k list (one value per user); what they need besides the lists is bound by
# _per_list_metrics.
PER_LIST = ("novelty", "ild")
_AT_K = tuple(FROM_HITS) + tuple(CATALOGUE) + PER_LIST
_WHOLE_RANKING = ("mrr", "auc")
# Metrics of predicted ratings against the test ratings: lower is better (every other metric:
# higher is better).
RATING_METRICS = {"rmse": rmse, "mae": mae}
_VALID_NAMES = ", ".join([f"{name}@k" for name in _AT_K] + list(_WHOLE_RANKING)
                         + list(RATING_METRICS))


def parse_metrics(metrics):
    """Metric names -> list of ``(key, name, k)``; k is None for metrics without a cut-off.

    "ndcg@10" -> ("ndcg@10", "ndcg", 10); "mrr" -> ("mrr", "mrr", None). Case is ignored and
    repeats are dropped. Anything else raises a ValueError listing the valid names.
    """
    if isinstance(metrics, str):
        metrics = (metrics,)
    parsed = {}
    for metric in metrics:
        key = str(metric).strip().lower()
        name, at, k_text = key.partition("@")
        if name in _AT_K and k_text.isdigit() and int(k_text) >= 1:
            if name == "ild" and int(k_text) < 2:
                raise ValueError(f"{metric!r}: intra-list diversity compares pairs of items, so "
                                 "it needs k >= 2")
            parsed[key] = (key, name, int(k_text))
        elif (name in _WHOLE_RANKING or name in RATING_METRICS) and not at:
            parsed[key] = (key, name, None)
        else:
            raise ValueError(f"unknown metric {metric!r}; valid metrics: {_VALID_NAMES} (k >= 1)")
    if not parsed:
        raise ValueError(f"no metrics requested; valid metrics: {_VALID_NAMES}")
    return list(parsed.values())


class EvaluationResult(dict):
    """Metric name -> value: a mean over the evaluated users (rmse, mae: over their test rows).

    Attributes
    ----------
    protocol : str
        "full", or "sampled (N negatives)".
    n_users : int
        Users evaluated: they have train interactions and at least one test item not in train.
    n_skipped_cold : int
        Users with test rows but no train interactions (cold start), left out.
    n_skipped_no_test : int
        Users whose test items are all among their train items (nothing new to find), left out.
    per_user : dict of str -> float64 array (n_users,)
        Each user's value of the per-user ranking metrics (all but the catalogue metrics coverage,
        gini and entropy; the metric is their mean), the users in the order of ``users``: what
        ``paired_bootstrap`` compares.
    users : array (n_users,)
        Raw ids of the evaluated users.
    n_baseline : int
        Test rows of the rating metrics (rmse, mae) answered by ``model.baseline_score()``
        because the model cannot score them (evaluate's ``unknown="baseline"``); 0 otherwise.
    baseline : float or None
        That score, when n_baseline > 0.
    """

    def __init__(self, values, protocol, n_users, n_skipped_cold, n_skipped_no_test,
                 per_user=None, users=None, n_baseline=0, baseline=None):
        super().__init__(values)
        self.n_baseline, self.baseline = n_baseline, baseline
        self.protocol = protocol
        self.n_users = n_users
        self.n_skipped_cold = n_skipped_cold
        self.n_skipped_no_test = n_skipped_no_test
        self.per_user = {} if per_user is None else per_user
        self.users = users

    def summary(self):
        """One line: the protocol and the user counts."""
        line = (
            f"protocol: {self.protocol}; {self.n_users} users evaluated, {self.n_skipped_cold} "
            f"skipped as cold, {self.n_skipped_no_test} skipped without new test items"
        )
        if self.n_baseline:
            line += (f"; {self.n_baseline} test rows the model cannot score got the baseline "
                     f"{self.baseline:.4g}")
        return line

    def to_markdown(self):
        """The summary line, then a markdown table | metric | value |."""
        rows = [[key, f"{value:.4f}"] for key, value in self.items()]
        return f"{self.summary()}\n\n{markdown_table(['metric', 'value'], rows)}"

    def __str__(self):
        width = max(map(len, self), default=0)
        lines = [f"  {key:<{width}}  {value:.4f}" for key, value in self.items()]
        return "\n".join([f"Evaluation ({self.summary()})"] + lines)

    def __repr__(self):
        return f"EvaluationResult({dict(self)!r}, protocol={self.protocol!r})"


def evaluate(
    model,
    test,
    train=None,
    metrics=DEFAULT_METRICS,
    protocol="full",
    n_negatives=100,
    chunk_size=None,
    seed=0,
    unknown="skip",
    item_features=None,
):
    """Evaluate a fitted model on held-out interactions.

    Parameters
    ----------
    model : Recommender
        Fitted. score_items ranks the items; score_pairs predicts ratings (rmse, mae).
    test : Interactions
        Held-out rows that share the id maps of the model's train set (splits guarantee it).
    train : Interactions, optional
        The interactions to leave out of each user's candidates and to tell cold users; by
        default the model's own train set.
    metrics : sequence of str
        From hr@k, precision@k, recall@k, ndcg@k, map@k, coverage@k, gini@k, entropy@k,
        novelty@k, ild@k (k >= 2), mrr, auc, rmse, mae; the definitions are in nanorec.metrics.
        auc = per user, AUC of the relevant items against the other candidates (ties averaged),
        then the mean over users. rmse and mae compare model.score_pairs with the test ratings, on
        the test rows of users with train interactions.
        The beyond-accuracy metrics read the top-k list of each evaluated user (its candidates'
        best k, equal scores ordered by item index, as in recommend; shorter when the user has
        fewer than k candidates), not the test items:
        coverage@k, gini@k, entropy@k  of all lists together, over the I items of the model
                                       (catalogue_coverage, gini_index and shannon_entropy of
                                       the recommendation counts);
        novelty@k                      mean over users of the list's novelty, p(i) from the
                                       train users per item and the number of users with
                                       train rows (metrics.novelty);
        ild@k                          mean over users of the list's intra-list diversity (mean
                                       pairwise cosine distance of the items' features,
                                       metrics.intra_list_diversity).
    protocol : {"full", "sampled"}
        See the module docstring.
    n_negatives : int
        Negatives per user for protocol="sampled".
    chunk_size : int, optional
        Users scored at once; peak memory is about 40 * chunk_size * I bytes.
    seed : int
        Seeds the negatives of the sampled protocol. Each user's row of random keys is drawn in user
        order from one generator, so the result does not depend on chunk_size.
    unknown : {"skip", "baseline"}
        The test rows of rmse and mae that the model cannot score (model.scorable_pairs: a user
        or an item without train rows, unless the model's ``cold_start`` names them). "skip"
        (the default): the rows of users without train interactions are left out, the others
        scored by the model. "baseline": every test row counts, those the model cannot score
        with ``model.baseline_score()`` (the mean train rating of rating models);
        ``result.n_baseline`` says how many. Ranking metrics always leave cold users out.
    item_features : array (I, D), optional
        The item feature vectors of ild@k; by default those of ``train`` (when given), else those
        of ``test`` (the parts of one split share their features). ild@k without any is a
        ValueError.

    Returns
    -------
    EvaluationResult
    """
    _checks.one_of(unknown, "unknown", ("skip", "baseline"), "evaluate")
    specs = parse_metrics(metrics)
    label, n_negatives = protocol_label(protocol, n_negatives)
    if chunk_size is not None:
        chunk_size = _checks.positive_int(chunk_size, "chunk_size")
    train_csr = _train_csr(model, train)
    test_csr = check_same_vocabulary(model, test, "test").to_csr()
    users, relevant, n_skipped_cold, n_skipped_no_test = _test_users(train_csr, test_csr)
    per_list = _per_list_metrics(specs, model.n_items_, train_csr, train, test, item_features)

    values, per_user = {}, {}
    ranking_specs = [spec for spec in specs if spec[1] not in RATING_METRICS]
    if ranking_specs:
        if len(users) == 0:
            raise ValueError("no test user has both train interactions and new test items")
        rng = np.random.default_rng(seed)
        values, per_user = _ranking_metrics(
            model, ranking_specs, users, relevant, train_csr, chunk_size, n_negatives, rng, per_list
        )
    n_baseline = 0
    for key, name, _ in specs:
        if name in RATING_METRICS:
            values[key], n_baseline = _rating_metric(model, test, train_csr, name, unknown)
    ordered = {key: values[key] for key, _, _ in specs}
    baseline = model.baseline_score() if n_baseline else None
    return EvaluationResult(ordered, label, len(users), n_skipped_cold, n_skipped_no_test,
                            per_user, model.user_ids_[users], n_baseline, baseline)


def _per_list_metrics(specs, n_items, train_csr, train, test, item_features):
    """{name: lists -> values (N,)} of the per-list metrics in specs, their inputs bound.

    novelty: the train users of each item and the number of users with train rows (train_csr's
    rows are distinct (user, item) pairs). ild: item_features, else train's, else test's.
    """
    names = {name for _, name, _ in specs}
    metrics = {}
    if "novelty" in names:
        item_counts = np.bincount(train_csr.indices, minlength=n_items)
        n_users = int(np.count_nonzero(np.diff(train_csr.indptr)))
        metrics["novelty"] = lambda lists: novelty(lists, item_counts, n_users)
    if "ild" in names:
        if item_features is None:
            item_features = next((data.item_features for data in (train, test)
                                  if data is not None and data.item_features is not None), None)
        if item_features is None:
            raise ValueError("ild@k needs item features: pass evaluate(..., item_features=(I, D) "
                             "array), or data whose Interactions hold item features")
        features = np.asarray(item_features)
        if features.ndim != 2 or len(features) != n_items:
            raise ValueError(f"item_features must have shape ({n_items}, D), one row per item of "
                             f"the model, got {features.shape}")
        metrics["ild"] = lambda lists: intra_list_diversity(lists, features)
    return metrics


def protocol_label(protocol, n_negatives):
    """``(label, n_negatives)`` of a protocol ("full" or "sampled"), checked: the label results
    print ("full", "sampled (100 negatives)") and n_negatives, None for the full protocol.
    ValueError for another protocol or a bad n_negatives."""
    if protocol == "full":
        return "full", None
    if protocol == "sampled":
        n_negatives = _checks.positive_int(n_negatives, "n_negatives")
        return f"sampled ({n_negatives} negatives)", n_negatives
    raise ValueError(f"unknown protocol {protocol!r}; choose 'full' or 'sampled'")


def _check_fitted(model):
    if not hasattr(model, "train_csr_"):
        name = type(model).__name__
        raise RuntimeError(f"{name} is not fitted yet: call fit(train) before evaluate")


def check_same_vocabulary(model, data, name):
    """``data`` after checking that it uses the id maps of the (fitted) model."""
    _check_fitted(model)
    for kind in ("user", "item"):
        ids, model_ids = np.asarray(getattr(data, f"{kind}_ids")), getattr(model, f"{kind}_ids_")
        if len(ids) != len(model_ids) or not np.array_equal(ids, model_ids):
            raise ValueError(
                f"{name} has {len(ids)} {kind}s but the model was fitted on {len(model_ids)} "
                f"(or on other {kind} ids): split one Interactions so that train and test share "
                "its id maps"
            )
    return data


def _train_csr(model, train):
    if train is None:
        _check_fitted(model)
        return model.train_csr_
    return check_same_vocabulary(model, train, "train").to_csr()


def _test_users(train_csr, test_csr):
    """Who is evaluated, and their relevant items.

    Returns ``users`` (evaluated user indices, ascending), ``relevant`` = (indptr, indices), a CSR
    holding each user's test items that are not among its train items, and the numbers of users
    skipped as cold and skipped without new test items.
    """
    test_key, train_key = _pair_keys(test_csr), _pair_keys(train_csr)  # both ascending
    if len(train_key):
        position = np.minimum(np.searchsorted(train_key, test_key), len(train_key) - 1)
        new = train_key[position] != test_key
    else:
        new = np.ones(len(test_key), dtype=bool)
    n_relevant = np.bincount(test_key[new] // test_csr.shape[1], minlength=test_csr.shape[0])
    relevant = (np.r_[0, np.cumsum(n_relevant)], test_csr.indices[new])
    has_train = np.diff(train_csr.indptr) > 0
    has_test = np.diff(test_csr.indptr) > 0
    users = np.flatnonzero(has_train & (n_relevant > 0))
    n_cold = int(np.sum(has_test & ~has_train))
    n_no_new_item = int(np.sum(has_test & has_train & (n_relevant == 0)))
    return users, relevant, n_cold, n_no_new_item


def _pair_keys(csr):
    """key = u * I + i of every entry of a CSR; ascending (rows in order, columns sorted)."""
    user = np.repeat(np.arange(csr.shape[0], dtype=np.int64), np.diff(csr.indptr))
    return user * csr.shape[1] + csr.indices


def _ranking_metrics(model, specs, users, relevant, train_csr, chunk_size, n_negatives, rng,
                     per_list):
    """({metric: mean over users}, {metric: value per user (n_users,)}) of the ranking metrics,
    computed one chunk of users at a time (the catalogue metrics, properties of all lists, have
    no per-user values).

    n_negatives=None is the full protocol; an int, the sampled one (negatives drawn with rng).
    per_list: what ``_per_list_metrics`` returns.
    """
    n_items = model.n_items_
    per_user = {key: np.zeros(len(users)) for key, name, _ in specs if name not in CATALOGUE}
    recommended = {key: [] for key, name, _ in specs if name in CATALOGUE}
    list_k = max([k for _, name, k in specs if name in CATALOGUE or name in PER_LIST], default=0)
    for block in row_blocks(len(users), n_items, chunk_size):
        chunk = users[block]
        scores = model.checked_scores(chunk)
        relevant_row, relevant_item = csr_entries(*relevant, chunk)
        if n_negatives is None:
            model.mask_seen(scores, chunk, train_csr)
        else:
            _keep_sampled_candidates(scores, chunk, train_csr, relevant_row, relevant_item,
                                     n_negatives, rng)
        chunk_values = user_values(scores, relevant_row, relevant_item, specs,
                                   model.user_ids_[chunk])
        for key, value in chunk_values.items():
            per_user[key][block] = value
        if list_k == 0:
            continue
        # one top list per user, its first k items are the top k for every k <= list_k
        top_items, top_scores = top_k(scores, min(list_k, n_items))
        for key, name, k in specs:
            if name in CATALOGUE:
                recommended[key].append(top_items[:, :k][np.isfinite(top_scores[:, :k])])
            elif name in PER_LIST:
                lists = _top_lists(top_items[:, :k], top_scores[:, :k], key,
                                   model.user_ids_[chunk])
                per_user[key][block] = per_list[name](lists)
    values = {key: float(np.mean(value)) for key, value in per_user.items()}
    for key, entries in recommended.items():  # entries of all lists: counts are all they need
        values[key] = CATALOGUE[key.partition("@")[0]]([np.concatenate(entries)], n_items)
    return values, per_user


def _top_lists(top_items, top_scores, key, raw_user_ids):
    """Each user's top list without its non-candidates (score -inf): (B, k) when none is shorter,
    else a list of B arrays. ild@k refuses a list of fewer than 2 items, naming its user."""
    candidate = np.isfinite(top_scores)
    if candidate.all():
        return top_items
    length = candidate.sum(axis=1)
    if key.startswith("ild@") and np.any(length < 2):
        b = int(np.argmax(length < 2))
        raise ValueError(f"{key}: user {raw_user_ids[b].tolist()!r} has {length[b]} candidate item(s), "
                         "too few for the pairs of intra-list diversity")
    return [items[keep] for items, keep in zip(top_items, candidate)]


def user_values(scores, relevant_row, relevant_item, specs, raw_user_ids):
    """Each row's value of the per-user metrics of ``specs`` that read the ranks of the relevant
    items (hr, precision, recall, ndcg, map, mrr, auc; not the metrics of the top-k lists).

    Parameters
    ----------
    scores : float64 (B, I)
        One row per user; the items that are not candidates hold -inf.
    relevant_row, relevant_item : int arrays (R,)
        The relevant (row, item) pairs; every row has at least one.
    specs : parsed metrics (``parse_metrics``)
    raw_user_ids : (B,)
        For the error message of auc.

    Returns
    -------
    dict metric key -> float64 (B,)
    """
    n_rows, n_items = scores.shape
    is_relevant = np.zeros(scores.shape, dtype=bool)
    is_relevant[relevant_row, relevant_item] = True
    ranks = pessimistic_ranks_nb(scores, relevant_row, relevant_item, is_relevant)
    n_relevant = np.bincount(relevant_row, minlength=n_rows)
    k_max = max([k for _, name, k in specs if name in FROM_HITS], default=1)
    hits = np.zeros((n_rows, k_max), dtype=bool)
    in_top = ranks < k_max
    hits[relevant_row[in_top], ranks[in_top]] = True
    values = {}
    for key, name, k in specs:
        if name in FROM_HITS:
            values[key] = FROM_HITS[name](hits[:, :k], n_relevant)
        elif name == "mrr":  # 1 / rank of the first relevant item, as metrics.ranking.mrr
            first_rank = np.full(n_rows, n_items)
            np.minimum.at(first_rank, relevant_row, ranks)
            values[key] = 1.0 / (first_rank + 1)
        elif name == "auc":
            values[key] = _user_auc(scores, is_relevant, raw_user_ids)
    return values


def pessimistic_ranks_ref(scores, relevant_row, relevant_item, is_relevant):
    """0-based rank of each relevant item within its user's row of scores, ties counted against it.

    For a relevant pair (b, i) with s = scores[b, i], item j comes before it when

        scores[b, j] > s                                       (higher)
        or scores[b, j] == s and j is not relevant for b       (ties go first)
        or scores[b, j] == s and j is relevant and j < i       (equal relevant items: by index)

    and the rank is the number of such j. Left-out items (score -inf) never count, because s is
    finite. This NumPy version compares R x I pairs, B = len(scores) relevant pairs at a time, so
    its temporaries stay (B, I).

    Parameters
    ----------
    scores : float64 array (B, I)
    relevant_row, relevant_item : int arrays (R,)
        Row of scores and item of each relevant pair.
    is_relevant : bool array (B, I)
        is_relevant[b, j]: item j is relevant for row b.

    Returns
    -------
    int64 array (R,)
    """
    n_rows, n_items = scores.shape
    item = np.arange(n_items)
    ranks = np.empty(len(relevant_row), dtype=np.int64)
    for block in row_blocks(len(relevant_row), n_items, max(1, n_rows)):
        rows, items = relevant_row[block], relevant_item[block]
        user_scores = scores[rows]  # (pairs in block, I)
        own_score = scores[rows, items][:, None]
        tied = user_scores == own_score
        before = (user_scores > own_score) | (tied & (~is_relevant[rows] | (item < items[:, None])))
        ranks[block] = before.sum(axis=1)
    return ranks


@numba.njit(cache=True)
def pessimistic_ranks_nb(scores, relevant_row, relevant_item, is_relevant):
    """Numba twin of :func:`pessimistic_ranks_ref`: the same rule, one loop over each row, no
    temporaries (about 10x faster)."""
    ranks = np.empty(len(relevant_row), dtype=np.int64)
    for r in range(len(relevant_row)):
        b, i = relevant_row[r], relevant_item[r]
        own_score = scores[b, i]
        rank = 0
        for j in range(scores.shape[1]):
            score = scores[b, j]
            if score > own_score or (score == own_score and (not is_relevant[b, j] or j < i)):
                rank += 1
        ranks[r] = rank
    return ranks


def _keep_sampled_candidates(scores, chunk, train_csr, relevant_row, relevant_item, n_negatives,
                             rng):
    """Sampled protocol: set to -inf, in place, every score but those of the relevant items and of
    n_negatives items per user drawn uniformly, without replacement, among the items that are
    neither train items nor relevant.

    Each user gets a row of I uniform keys; interacted items get the key +inf, and the n_negatives
    smallest keys win (a uniform draw without replacement).
    """
    keys = rng.random(scores.shape)
    train_row, train_item = csr_entries(train_csr.indptr, train_csr.indices, chunk)
    keys[train_row, train_item] = np.inf
    keys[relevant_row, relevant_item] = np.inf
    n_available = np.sum(np.isfinite(keys), axis=1)
    if np.any(n_available < n_negatives):
        b = int(np.argmin(n_available))
        raise ValueError(
            f"user index {chunk[b]} has only {n_available[b]} items it has not interacted with, "
            f"fewer than n_negatives={n_negatives}; lower n_negatives or use protocol='full'"
        )
    negatives = np.argpartition(keys, n_negatives - 1, axis=1)[:, :n_negatives]
    candidate = np.zeros(scores.shape, dtype=bool)
    candidate[relevant_row, relevant_item] = True
    np.put_along_axis(candidate, negatives, True, axis=1)
    scores[~candidate] = -np.inf


def _user_auc(scores, is_relevant, raw_user_ids):
    """Per row: auc(relevant items vs the other candidates, i.e. finite scores), (B,)."""
    values = np.zeros(len(raw_user_ids))
    for b, raw_user_id in enumerate(raw_user_ids):
        candidates = np.isfinite(scores[b])
        if np.all(is_relevant[b, candidates]):
            raise ValueError(f"auc is undefined for user {raw_user_id!r}: no candidate is negative")
        values[b] = auc(is_relevant[b, candidates], scores[b, candidates])
    return values


def _rating_metric(model, test, train_csr, name, unknown):
    """(rmse or mae, rows answered by the baseline): unknown="skip" scores the test rows of the
    users with train interactions by model.score_pairs; "baseline" scores every test row, those
    the model cannot score by model.baseline_score()."""
    if test.ratings is None:
        raise ValueError(f"{name} needs explicit ratings, but the test set is implicit")
    label = f"{type(model).__name__} predictions"
    if unknown == "baseline":
        scorable = model.scorable_pairs(test.user_index, test.item_index)
        predicted = np.full(len(test), model.baseline_score())
        if scorable.any():
            predicted[scorable] = model.score_pairs(test.user_index[scorable],
                                                    test.item_index[scorable])
        value = RATING_METRICS[name](*check_pair(test.ratings, predicted, pred_name=label))
        return value, int(np.count_nonzero(~scorable))
    rows = (np.diff(train_csr.indptr) > 0)[test.user_index]
    if not np.any(rows):
        raise ValueError(f"{name}: no test row belongs to a user with train interactions")
    predicted = model.score_pairs(test.user_index[rows], test.item_index[rows])
    return RATING_METRICS[name](*check_pair(test.ratings[rows], predicted, pred_name=label)), 0


def cross_validate(
    make_model,
    data,
    n_splits=5,
    metrics=DEFAULT_METRICS,
    protocol="full",
    n_jobs=1,
    seed=0,
    n_negatives=100,
    chunk_size=None,
):
    """k-fold cross-validation: fit a fresh model on each fold's train part, evaluate on its test.

    Folds come from nanorec.data.split.kfold(data, n_splits, seed). With n_jobs=1 they run one after
    the other in this process; otherwise through joblib.Parallel(n_jobs)
    (nanorec.evaluation.parallel.run_tasks), so the joblib backend active around the call decides
    where they run, e.g. on a Dask cluster:

        with joblib.parallel_backend("dask"):      # with a dask.distributed Client connected
            cross_validate(make_model, data, n_jobs=-1)

    Parameters
    ----------
    make_model : callable () -> Recommender
        Builds an unfitted model: a class, or functools.partial(Class, **hyperparameters).
    data : Interactions
    n_splits : int
    metrics, protocol, n_negatives, chunk_size
        As in :func:`evaluate`; fold f is evaluated with seed + f.
    n_jobs : int
        1: serial, joblib not needed. Otherwise passed to joblib.Parallel (-1: all workers).
    seed : int
        Seeds the folds (and the sampled negatives).

    Returns
    -------
    CrossValidationResult
    """
    if not callable(make_model):
        raise TypeError(f"make_model must build a new model, got a {type(make_model).__name__}")
    parse_metrics(metrics)  # fail before fitting anything
    protocol_label(protocol, n_negatives)
    options = dict(metrics=metrics, protocol=protocol, n_negatives=n_negatives)
    folds = kfold(data, n_splits=n_splits, seed=seed)
    tasks = [
        (make_model, train, test, dict(options, chunk_size=chunk_size, seed=seed + f))
        for f, (train, test) in enumerate(folds)
    ]
    folds = run_tasks(_fit_and_evaluate, tasks, n_jobs, f"cross_validate(n_jobs={n_jobs})")
    return CrossValidationResult(folds)


def _fit_and_evaluate(make_model, train, test, options):
    return evaluate(make_model().fit(train), test, train=train, **options)


class CrossValidationResult:
    """The EvaluationResult of each fold, with the mean and standard deviation over folds.

    Attributes
    ----------
    folds : list of EvaluationResult
    mean, std : dict metric -> float
        std is the sample standard deviation over folds (ddof=1).
    protocol : str
    """

    def __init__(self, folds):
        self.folds = list(folds)
        self.protocol = self.folds[0].protocol
        keys = list(self.folds[0])
        table = np.array([[fold[key] for key in keys] for fold in self.folds])
        ddof = 1 if len(self.folds) > 1 else 0
        self.mean = {key: float(v) for key, v in zip(keys, table.mean(axis=0))}
        self.std = {key: float(v) for key, v in zip(keys, table.std(axis=0, ddof=ddof))}

    def to_markdown(self):
        """A title line, then a markdown table: one row per fold (with its users), mean and std."""
        keys = list(self.mean)
        rows = [
            [str(f + 1), str(fold.n_users)] + [f"{fold[key]:.4f}" for key in keys]
            for f, fold in enumerate(self.folds)
        ]
        rows.append(["mean", ""] + [f"{self.mean[key]:.4f}" for key in keys])
        rows.append(["std", ""] + [f"{self.std[key]:.4f}" for key in keys])
        title = f"{len(self.folds)}-fold cross-validation, protocol: {self.protocol}"
        return f"{title}\n\n{markdown_table(['fold', 'users'] + keys, rows)}"

    __str__ = to_markdown

    def __repr__(self):
        return f"CrossValidationResult({len(self.folds)} folds, {self.protocol!r}, {self.mean!r})"


def markdown_table(header, rows):
    """A markdown table: ``header`` (list of str) and ``rows`` (lists of str, as many cells)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
