"""evaluate() against a per-user reference built from the metric functions, and its protocols."""

import pickle

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nanorec.data.interactions import Interactions
from nanorec.evaluation.protocols import (
    evaluate,
    parse_metrics,
    pessimistic_ranks_nb,
    pessimistic_ranks_ref,
)
from nanorec.metrics import (
    gini_index,
    intra_list_diversity,
    novelty,
    ranking,
    recommendation_counts,
    shannon_entropy,
)
from nanorec.metrics.rating import auc, mae, rmse
from nanorec.models.baselines import Popularity
from nanorec.testing.table_model import TableModel

TOP_K = {"hr": ranking.hit_rate_at_k, "precision": ranking.precision_at_k,
         "recall": ranking.recall_at_k, "ndcg": ranking.ndcg_at_k, "map": ranking.map_at_k}
METRICS = ["hr@1", "hr@3", "precision@2", "recall@3", "ndcg@3", "map@3", "mrr", "auc", "coverage@2"]


def split_by_masks(train_mask, test_mask, ratings=None, item_features=None):
    """(train, test) Interactions of the (U, I) boolean masks, sharing one vocabulary.

    Users and items are their indices; a pair in both masks is one row in both parts. Every user
    and item must appear in some mask (the vocabulary is built from the rows).
    """
    users, items = np.nonzero(train_mask | test_mask)
    log = Interactions.from_arrays(users, items, None if ratings is None else ratings[users, items],
                                   item_features=item_features)
    train = log.subset(np.flatnonzero(train_mask[users, items]))
    test = log.subset(np.flatnonzero(test_mask[users, items]))
    return train, test


def reference(table, train_mask, test_mask, metrics, item_features=None):
    """Means of the per-user metric functions on explicitly sorted candidate lists.

    Candidates: items not in train. Pessimistic order: (-score, relevant after non-relevant, index).
    The metrics of the top-k lists use the recommend order (-score, index); novelty's p(i) comes
    from the train users of each item. Also returns {metric: {user: value}}.
    """
    list_metrics = {
        "novelty": lambda top: novelty([top], train_mask.sum(axis=0), int(train_mask.any(1).sum())),
        "ild": lambda top: intra_list_diversity([top], item_features),
    }
    sums, n_users, cold, no_test, covered = dict.fromkeys(metrics, 0.0), 0, 0, 0, {}
    per_user = {metric: {} for metric in metrics}
    for u in range(len(table)):
        relevant = set(np.flatnonzero(test_mask[u] & ~train_mask[u]).tolist())
        has_train, has_test = train_mask[u].any(), test_mask[u].any()
        cold += has_test and not has_train
        no_test += has_test and has_train and not relevant
        if not (has_train and relevant):
            continue
        n_users += 1
        candidates = np.flatnonzero(~train_mask[u])
        ranked = np.array(sorted(candidates, key=lambda i: (-table[u, i], i in relevant, i)))
        by_index = np.array(sorted(candidates, key=lambda i: (-table[u, i], i)))
        for metric in metrics:
            name, _, k = metric.partition("@")
            if name in TOP_K:
                per_user[metric][u] = TOP_K[name](ranked, relevant, int(k))
            elif name == "mrr":
                per_user[metric][u] = ranking.mrr(ranked, relevant)
            elif name == "auc":
                per_user[metric][u] = auc(np.isin(candidates, list(relevant)), table[u, candidates])
            elif name in list_metrics:
                per_user[metric][u] = float(list_metrics[name](by_index[: int(k)])[0])
            else:
                covered.setdefault(metric, []).append(by_index[: int(k)])
            sums[metric] += per_user[metric].get(u, 0.0)
    values = {m: sums[m] / n_users for m in metrics}
    of_counts = {"coverage": lambda counts: np.count_nonzero(counts) / len(counts),
                 "gini": gini_index, "entropy": shannon_entropy}
    for metric, lists in covered.items():
        counts = recommendation_counts(lists, table.shape[1])
        values[metric] = of_counts[metric.partition("@")[0]](counts)
    return values, n_users, cold, no_test, per_user


@st.composite
def logs(draw):
    """Random train/test masks (overlaps and cold users included) and a score table with ties."""
    n_users, n_items = draw(st.integers(2, 6)), draw(st.integers(3, 8))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    train_mask = rng.random((n_users, n_items)) < 0.3
    test_mask = rng.random((n_users, n_items)) < 0.25
    train_mask[0, :] = False  # user 0 is cold
    test_mask[0, 0] = True
    train_mask[1, :3] = [True, False, False]  # user 1 is evaluated: item 1 is new, item 2 is free
    test_mask[1, :3] = [False, True, False]
    # every user and item needs a row somewhere, or it is not in the vocabulary
    lonely_users = np.flatnonzero(~(train_mask | test_mask).any(axis=1))
    train_mask[lonely_users, rng.integers(0, n_items, len(lonely_users))] = True
    test_mask[0, ~(train_mask | test_mask).any(axis=0)] = True  # lonely items: cold user 0
    table = rng.integers(0, 3, (n_users, n_items)).astype(float)  # many ties
    return table, train_mask, test_mask


@settings(max_examples=50, deadline=None)
@given(case=logs())
def test_full_protocol_matches_the_per_user_reference(case):
    table, train_mask, test_mask = case
    train, test = split_by_masks(train_mask, test_mask)
    for u in range(len(table)):  # auc needs a negative candidate for every evaluated user
        relevant = test_mask[u] & ~train_mask[u]
        assume(not (train_mask[u].any() and relevant.any()) or (~train_mask[u] & ~relevant).any())
    values, n_users, cold, no_test, per_user = reference(table, train_mask, test_mask, METRICS)
    model = TableModel(table).fit(train)
    result = evaluate(model, test, metrics=METRICS)
    assert list(result) == METRICS
    for metric in METRICS:
        assert result[metric] == pytest.approx(values[metric], abs=1e-12), metric
    assert sorted(result.per_user) == sorted(m for m in METRICS if not m.startswith("coverage"))
    for metric, got in result.per_user.items():  # each user's value, in the order of result.users
        expected = [per_user[metric][user] for user in result.users]
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12, err_msg=metric)
    counts = (result.n_users, result.n_skipped_cold, result.n_skipped_no_test)
    assert counts == (n_users, cold, no_test)
    chunked = evaluate(model, test, train=train, metrics=METRICS, chunk_size=1)
    assert dict(chunked) == pytest.approx(dict(result), abs=1e-12)


@settings(max_examples=50, deadline=None)
@given(case=logs(), seed=st.integers(0, 2**32 - 1))
def test_sampled_ranks_are_never_worse_and_do_not_depend_on_chunks(case, seed):
    table, train_mask, test_mask = case
    train, test = split_by_masks(train_mask, test_mask)
    evaluated = train_mask.any(axis=1) & (test_mask & ~train_mask).any(axis=1)
    n_free = int((~(train_mask | test_mask)).sum(axis=1)[evaluated].min())
    assume(n_free >= 1)
    model = TableModel(table).fit(train)
    metrics = ["hr@2", "recall@3", "mrr"]
    full = evaluate(model, test, metrics=metrics)
    sampled = evaluate(model, test, metrics=metrics, protocol="sampled", n_negatives=n_free,
                       seed=seed)
    for metric in metrics:  # fewer candidates: every relevant item ranks as high or higher
        assert sampled[metric] >= full[metric] - 1e-12
    one_by_one = evaluate(model, test, metrics=metrics, protocol="sampled", n_negatives=n_free,
                          seed=seed, chunk_size=1)
    assert dict(one_by_one) == dict(sampled)


BEYOND = ["coverage@3", "gini@2", "entropy@3", "novelty@2", "ild@3", "ild@2", "hr@2"]


@settings(max_examples=50, deadline=None)
@given(case=logs(), n_features=st.integers(1, 3), chunk_size=st.integers(1, 4))
def test_beyond_accuracy_metrics_match_the_reference(case, n_features, chunk_size):
    table, train_mask, test_mask = case
    n_items = table.shape[1]
    features = np.random.default_rng(n_items).integers(0, 3, (n_items, n_features)).astype(float)
    features[features.sum(axis=1) == 0, 0] = 1.0  # a cosine needs a non-zero vector
    evaluated = train_mask.any(axis=1) & (test_mask & ~train_mask).any(axis=1)
    assume(np.all((~train_mask[evaluated]).sum(axis=1) >= 2))  # ild: 2 candidates per user
    train, test = split_by_masks(train_mask, test_mask, item_features=features)
    values, _, _, _, per_user = reference(table, train_mask, test_mask, BEYOND, features)
    model = TableModel(table).fit(train)
    result = evaluate(model, test, train=train, metrics=BEYOND, chunk_size=chunk_size)
    assert dict(result) == pytest.approx(values, abs=1e-12)
    assert sorted(result.per_user) == ["hr@2", "ild@2", "ild@3", "novelty@2"]
    for metric in ("novelty@2", "ild@3"):
        expected = [per_user[metric][user] for user in result.users]
        np.testing.assert_allclose(result.per_user[metric], expected, rtol=0, atol=1e-12)
    plain = split_by_masks(train_mask, test_mask)  # no features: the argument gives them
    by_argument = evaluate(TableModel(table).fit(plain[0]), plain[1], metrics=BEYOND,
                           item_features=features)
    assert dict(by_argument) == pytest.approx(values, abs=1e-12)


def hand_built_log():
    """Train and test of 6 users on items A..E, with Popularity's results worked out by hand.

    train: u1 A B | u2 A C | u3 A B D | u4 B | u6 E        counts A3 B3 C1 D1 E1
    test:  u1 C   | u2 B   | u3 E     | u4 A | u5 A (cold) | u6 E (already in train)
    """
    train_rows = [("u1", "A"), ("u1", "B"), ("u2", "A"), ("u2", "C"), ("u3", "A"), ("u3", "B"),
                  ("u3", "D"), ("u4", "B"), ("u6", "E")]
    test_rows = [("u1", "C"), ("u2", "B"), ("u3", "E"), ("u4", "A"), ("u5", "A"), ("u6", "E")]
    rows = list(dict.fromkeys(train_rows + test_rows))  # ("u6", "E") once
    log = Interactions.from_arrays([u for u, _ in rows], [i for _, i in rows])
    train = log.subset([rows.index(row) for row in train_rows])
    test = log.subset([rows.index(row) for row in test_rows])
    return train, test


def test_popularity_on_a_hand_built_log():
    train, test = hand_built_log()
    result = evaluate(Popularity().fit(train), test, metrics=["hr@1", "hr@2", "hr@3", "mrr"])
    # u1: unseen C1 D1 E1 tie; D and E (not relevant) go first -> C at rank 3
    # u2: unseen B3 D1 E1 -> B at rank 1;  u3: unseen C1 E1 tie -> E at rank 2
    # u4: unseen A3 C1 D1 E1 -> A at rank 1
    assert result["hr@1"] == pytest.approx(2 / 4)
    assert result["hr@2"] == pytest.approx(3 / 4)
    assert result["hr@3"] == pytest.approx(4 / 4)
    assert result["mrr"] == pytest.approx((1 / 3 + 1 + 1 / 2 + 1) / 4)
    assert (result.n_users, result.n_skipped_cold, result.n_skipped_no_test) == (4, 1, 1)


def test_beyond_accuracy_of_popularity_on_the_hand_built_log():
    train, test = hand_built_log()
    genres = np.array([[1, 0], [1, 0], [0, 1], [1, 1], [0, 1]])  # items A..E
    model = Popularity().fit(train)
    metrics = ["coverage@1", "gini@1", "entropy@1", "novelty@1", "ild@2"]
    result = evaluate(model, test, metrics=metrics, item_features=genres)
    # top 1 (train items left out, equal counts by index): u1 C, u2 B, u3 C, u4 A
    # counts A1 B1 C2 D0 E0: coverage 3/5; sorted 0 0 1 1 2 -> G = (0 + 2 + 8) / (5 * 4) = 0.5;
    # p = 1/4, 1/4, 1/2 -> H = 1.5 bits
    assert result["coverage@1"] == pytest.approx(3 / 5)
    assert result["gini@1"] == pytest.approx(0.5)
    assert result["entropy@1"] == pytest.approx(1.5)
    # 5 users with train rows; A and B have 3 of them, C one: -log2((c + 1) / 6)
    assert result["novelty@1"] == pytest.approx((2 * np.log2(3) + 2 * np.log2(1.5)) / 4)
    # top 2: u1 C D, u2 B D, u3 C E, u4 A C -> distances 1 - 1/√2, 1 - 1/√2, 0, 1
    assert result["ild@2"] == pytest.approx((3 - np.sqrt(2)) / 4)
    with pytest.raises(ValueError, match="ild@k needs item features"):
        evaluate(model, test, metrics=["ild@2"])
    with pytest.raises(ValueError, match=r"item_features must have shape \(5, D\)"):
        evaluate(model, test, metrics=["ild@2"], item_features=genres[:4])
    with pytest.raises(ValueError, match="needs k >= 2"):
        evaluate(model, test, metrics=["ild@1"], item_features=genres)
    # user 1 has seen 2 of the 3 items: one candidate is left, and no pair
    train, test = split_by_masks(np.array([[1, 0, 0], [1, 1, 0]], bool),
                                 np.array([[0, 1, 1], [0, 0, 1]], bool))
    with pytest.raises(ValueError, match=r"ild@2: user 1 has 1 candidate item\(s\)"):
        evaluate(Popularity().fit(train), test, metrics=["ild@2"], item_features=np.eye(3))


def test_train_items_are_never_hits():
    train, test = hand_built_log()
    table = np.zeros((train.n_users, train.n_items))
    csr = train.to_csr()
    for u in range(train.n_users):
        table[u, csr.indices[csr.indptr[u]: csr.indptr[u + 1]]] = 100.0  # the past scores highest
    best_past = evaluate(TableModel(table).fit(train), test, metrics=["hr@1", "ndcg@3", "mrr"])
    worst_past = evaluate(TableModel(-table).fit(train), test, metrics=["hr@1", "ndcg@3", "mrr"])
    assert dict(best_past) == dict(worst_past)
    assert best_past.n_skipped_no_test == 1  # u6's test item E is a train item: nothing to find


def test_equal_scores_earn_nothing():
    train, test = hand_built_log()
    flat = TableModel(np.ones((train.n_users, train.n_items))).fit(train)
    result = evaluate(flat, test, metrics=["hr@1", "precision@1", "ndcg@1", "map@1"])
    assert all(value == 0.0 for value in result.values())


def test_sampled_protocol_labels_itself_everywhere():
    train, test = hand_built_log()
    model = Popularity().fit(train)
    result = evaluate(model, test, metrics=["hr@2", "mrr"], protocol="sampled", n_negatives=1)
    assert list(result) == ["hr@2", "mrr"]  # key names stay
    assert result.protocol == "sampled (1 negatives)"
    assert "sampled (1 negatives)" in str(result)
    assert "sampled (1 negatives)" in result.to_markdown()
    assert "sampled" in repr(result)
    assert evaluate(model, test, metrics=["mrr"]).protocol == "full"
    with pytest.raises(ValueError, match="fewer than n_negatives=3"):
        evaluate(model, test, protocol="sampled", n_negatives=3)


def test_sampled_with_every_free_item_equals_full():
    # 5 users, 8 items: each user has 2 train items and 1 test item, so 5 items are free
    train_mask, test_mask = np.zeros((5, 8), bool), np.zeros((5, 8), bool)
    for u, (train_items, test_item) in enumerate(
        [((0, 1), 2), ((2, 3), 4), ((4, 5), 6), ((6, 7), 0), ((1, 3), 5)]
    ):
        train_mask[u, train_items] = True
        test_mask[u, test_item] = True
    table = np.random.default_rng(0).integers(0, 3, (5, 8)).astype(float)
    train, test = split_by_masks(train_mask, test_mask)
    model = TableModel(table).fit(train)
    full = evaluate(model, test, metrics=METRICS)
    sampled = evaluate(model, test, metrics=METRICS, protocol="sampled", n_negatives=5, seed=7)
    assert dict(sampled) == pytest.approx(dict(full), abs=1e-12)


def test_rmse_and_mae_use_score_pairs_on_warm_users():
    rng = np.random.default_rng(0)
    train_mask = rng.random((5, 6)) < 0.5
    train_mask[:4, 0] = True
    train_mask[4] = False  # user 4: cold
    test_mask = ~train_mask
    ratings = rng.integers(1, 6, (5, 6)).astype(float)
    train, test = split_by_masks(train_mask, test_mask, ratings)
    table = rng.random((5, 6)) * 5
    result = evaluate(TableModel(table).fit(train), test, metrics=["rmse", "mae"])
    warm = test_mask & train_mask.any(axis=1, keepdims=True)
    assert result["rmse"] == pytest.approx(rmse(ratings[warm], table[warm]))
    assert result["mae"] == pytest.approx(mae(ratings[warm], table[warm]))
    implicit_train, implicit_test = split_by_masks(train_mask, test_mask)
    with pytest.raises(ValueError, match="rmse needs explicit ratings"):
        evaluate(TableModel(table).fit(implicit_train), implicit_test, metrics=["rmse"])


@settings(max_examples=50, deadline=None)
@given(n_rows=st.integers(1, 4), n_items=st.integers(1, 9), seed=st.integers(0, 2**32 - 1))
def test_rank_kernel_equals_its_numpy_twin(n_rows, n_items, seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 3, (n_rows, n_items)).astype(float)
    is_relevant = rng.random((n_rows, n_items)) < 0.4
    scores[~is_relevant & (rng.random((n_rows, n_items)) < 0.2)] = -np.inf  # left-out items
    relevant_row, relevant_item = np.nonzero(is_relevant)
    expected = pessimistic_ranks_ref(scores, relevant_row, relevant_item, is_relevant)
    np.testing.assert_array_equal(
        pessimistic_ranks_nb(scores, relevant_row, relevant_item, is_relevant), expected
    )
    for r, (b, i) in enumerate(zip(relevant_row, relevant_item)):  # the rule, item by item
        before = [j for j in range(n_items) if scores[b, j] > scores[b, i]
                  or (scores[b, j] == scores[b, i] and (not is_relevant[b, j] or j < i))]
        assert expected[r] == len(before)


def test_parse_metrics():
    assert parse_metrics(["HR@10", "mrr", "hr@10"]) == [("hr@10", "hr", 10), ("mrr", "mrr", None)]
    assert parse_metrics("ndcg@5") == [("ndcg@5", "ndcg", 5)]
    for bad in ["hr", "ndcg@0", "mrr@10", "recall@x", "f1@10", "auc@"]:
        with pytest.raises(ValueError, match="valid metrics: hr@k, precision@k"):
            parse_metrics([bad])


def test_bad_calls_get_clear_errors():
    train, test = hand_built_log()
    model = Popularity().fit(train)
    with pytest.raises(ValueError, match="unknown metric 'hit@10'"):
        evaluate(model, test, metrics=["hit@10"])
    with pytest.raises(ValueError, match="unknown protocol 'loo'"):
        evaluate(model, test, protocol="loo")
    with pytest.raises(ValueError, match="chunk_size must be an integer >= 1"):
        evaluate(model, test, chunk_size=0)
    with pytest.raises(ValueError, match="n_negatives must be an integer >= 1"):
        evaluate(model, test, protocol="sampled", n_negatives=0)
    with pytest.raises(RuntimeError, match="not fitted"):
        evaluate(Popularity(), test)
    other = Interactions.from_arrays(["x"], ["A"])
    with pytest.raises(ValueError, match="share its id maps"):
        evaluate(model, other)
    nan_model = TableModel(np.full((train.n_users, train.n_items), np.nan)).fit(train)
    with pytest.raises(ValueError, match="NaN or inf"):
        evaluate(nan_model, test)


def test_result_prints_and_pickles():
    train, test = hand_built_log()
    result = evaluate(Popularity().fit(train), test, metrics=["hr@2", "mrr"])
    assert "hr@2" in str(result) and "0.7500" in str(result)
    assert "| hr@2 | 0.7500 |" in result.to_markdown()
    assert "4 users evaluated, 1 skipped as cold, 1 skipped without new test items" in str(result)
    copy = pickle.loads(pickle.dumps(result))
    assert dict(copy) == dict(result) and copy.protocol == "full" and copy.n_users == 4
