"""The Recommender base class (raw ids, top-k, seen items, errors), the registry of models and the
two baselines. (The users' privacy choices are tested in tests/privacy/test_settings.py.)"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nanorec.privacy  # noqa: F401  (registers the privacy models)
import nanorec.scoring as scoring
from nanorec.data.interactions import Interactions
from nanorec.models import (
    REGISTRY,
    ColdStartError,
    Recommender,
    base,
    register,
)
from nanorec.models.baselines import Popularity, Random
from nanorec.scoring import csr_entries, top_k
from nanorec.testing.table_model import TableModel


def tiny_log():
    """Users "ann", "bob", "cy"; items 10, 20, 30, 40 (indices 0..3 in sorted order)."""
    users = ["ann", "ann", "bob", "cy", "cy", "cy"]
    items = [10, 20, 30, 10, 30, 40]
    return Interactions.from_arrays(users, items, ratings=np.array([5, 3, 4, 1, 2, 5.0]))


def brute_top_k(row, k):
    """Indices of the k best scores: sort by (-score, index)."""
    order = sorted(range(len(row)), key=lambda i: (-row[i], i))
    return np.array(order[:k])


@settings(max_examples=50, deadline=None)
@given(
    n_rows=st.integers(1, 5),
    n_items=st.integers(1, 12),
    data=st.data(),
    seed=st.integers(0, 2**32 - 1),
)
def test_top_k_matches_brute_force_with_ties(n_rows, n_items, data, seed):
    scores = np.random.default_rng(seed).integers(0, 3, (n_rows, n_items)).astype(float)
    scores[0, 0] = -np.inf  # a left-out item
    k = data.draw(st.integers(1, n_items))
    items, values = top_k(scores, k)
    for row in range(n_rows):
        np.testing.assert_array_equal(items[row], brute_top_k(scores[row], k))
        np.testing.assert_array_equal(values[row], scores[row, items[row]])


def test_csr_entries_lists_the_rows_entries():
    csr = tiny_log().to_csr()  # ann: items 0, 1; bob: 2; cy: 0, 2, 3
    block_row, item = csr_entries(csr.indptr, csr.indices, np.array([2, 0]))
    np.testing.assert_array_equal(block_row, [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(item, [0, 2, 3, 0, 1])


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 6))
def test_recommend_excludes_seen_items_and_ranks_the_rest(seed, k):
    rng = np.random.default_rng(seed)
    n_users, n_items = 4, 6
    seen = rng.random((n_users, n_items)) < 0.4
    seen[np.arange(n_items) % n_users, np.arange(n_items)] = True  # every user and item has a row
    users, items = np.nonzero(seen)
    data = Interactions.from_arrays(users, items)
    table = rng.integers(0, 3, (n_users, n_items)).astype(float)  # ties
    model = TableModel(table).fit(data)
    item_ids, scores = model.recommend(list(range(n_users)), k=k)
    for u in range(n_users):
        masked = np.where(seen[u], -np.inf, table[u])
        expected = brute_top_k(masked, k)
        np.testing.assert_array_equal(item_ids[u], expected)  # item ids == indices here
        np.testing.assert_array_equal(scores[u], masked[expected])
        n_unseen = int((~seen[u]).sum())
        assert not seen[u, item_ids[u, : min(k, n_unseen)]].any()
        assert np.all(np.isneginf(scores[u, n_unseen:]))  # seen items only fill the tail


def test_recommend_single_user_raw_ids_and_ties():
    data = tiny_log()
    model = TableModel(np.zeros((3, 4))).fit(data)  # all tied: smaller item index first
    item_ids, scores = model.recommend("bob", k=2)
    np.testing.assert_array_equal(item_ids, [10, 20])  # bob has seen 30
    assert item_ids.shape == scores.shape == (2,)
    item_ids, _ = model.recommend("bob", k=2, exclude_seen=False)
    np.testing.assert_array_equal(item_ids, [10, 20])
    item_ids, scores = model.recommend(["ann", "cy"], k=4)
    assert item_ids.shape == scores.shape == (2, 4)
    np.testing.assert_array_equal(item_ids[1], [20, 10, 30, 40])  # cy's unseen 20 first
    np.testing.assert_array_equal(scores[1], [0, -np.inf, -np.inf, -np.inf])


def test_recommend_in_several_blocks_equals_one_block(monkeypatch):
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 30, 200), rng.integers(0, 9, 200)
    data = Interactions.from_arrays(users, items, duplicates="last")
    model = TableModel(rng.random((data.n_users, data.n_items))).fit(data)
    whole = model.recommend(data.user_ids, k=4)
    monkeypatch.setattr(scoring, "SCORES_PER_BLOCK", 2 * data.n_items)  # 2 users per block
    blocked = model.recommend(data.user_ids, k=4)
    np.testing.assert_array_equal(whole[0], blocked[0])
    np.testing.assert_array_equal(whole[1], blocked[1])
    np.testing.assert_allclose(model.predict(users, items), model.table[users, items])


def test_predict_gathers_scores_by_raw_id():
    model = TableModel(np.arange(12.0).reshape(3, 4)).fit(tiny_log())
    np.testing.assert_array_equal(model.predict(["cy", "ann"], [40, 20]), [11.0, 1.0])
    np.testing.assert_array_equal(model.predict("bob", 10), [4.0])
    with pytest.raises(ValueError, match="2 user ids but 1 item ids"):
        model.predict(["cy", "ann"], [40])


def test_unknown_ids_raise_key_errors_naming_them():
    model = TableModel(np.zeros((3, 4))).fit(tiny_log())
    with pytest.raises(KeyError, match="unknown user id 'dan'"):
        model.recommend("dan")
    with pytest.raises(KeyError, match="unknown user id 'dan'"):
        model.recommend(["ann", "dan"])
    with pytest.raises(KeyError, match="unknown item id 50"):
        model.predict(["ann"], [50])


def test_bad_k_and_calls_before_fit():
    model = TableModel(np.zeros((3, 4)))
    with pytest.raises(RuntimeError, match="not fitted"):
        model.recommend("ann")
    with pytest.raises(RuntimeError, match="not fitted"):
        model.predict(["ann"], [10])
    model.fit(tiny_log())
    with pytest.raises(ValueError, match="larger than the catalogue"):
        model.recommend("ann", k=5)
    with pytest.raises(ValueError, match="k must be"):
        model.recommend("ann", k=0)


def test_bad_models_and_bad_train_sets_are_caught():
    with pytest.raises(ValueError, match="NaN or inf"):
        TableModel(np.full((3, 4), np.nan)).fit(tiny_log()).recommend("ann", k=2)
    with pytest.raises(ValueError, match=r"shape \(1, 3\), expected \(1, 4\)"):
        TableModel(np.zeros((3, 3))).fit(tiny_log()).recommend("ann", k=2)
    with pytest.raises(TypeError, match="Interactions"):
        TableModel(np.zeros((3, 4))).fit(np.zeros((3, 4)))
    with pytest.raises(NotImplementedError, match="score_items"):
        Recommender().score_items(np.array([0]))


def test_popularity_counts_train_rows():
    model = Popularity().fit(tiny_log())  # item 10: 2 rows, 20: 1, 30: 2, 40: 1
    np.testing.assert_array_equal(model.item_counts_, [2, 1, 2, 1])
    item_ids, scores = model.recommend("bob", k=3)  # bob saw 30
    np.testing.assert_array_equal(item_ids, [10, 20, 40])
    np.testing.assert_array_equal(scores, [2, 1, 1])
    np.testing.assert_array_equal(model.predict(["ann", "cy"], [30, 40]), [2, 1])
    assert repr(model) == "Popularity()"


def test_random_is_repeatable_per_user_and_differs_by_seed():
    rng = np.random.default_rng(1)
    users, items = rng.integers(0, 5, 60), rng.integers(0, 40, 60)
    data = Interactions.from_arrays(users, items, duplicates="last")
    first = Random(random_state=3).fit(data)
    again = Random(random_state=3).fit(data)
    other = Random(random_state=4).fit(data)
    users = data.user_ids  # raw ids (== indices here)
    np.testing.assert_array_equal(first.recommend(users, k=5)[0], again.recommend(users, k=5)[0])
    assert not np.array_equal(first.recommend(users, k=5)[0], other.recommend(users, k=5)[0])
    lists = first.recommend(users, k=5, exclude_seen=False)[0]
    assert len({tuple(row) for row in lists}) > 1  # a different order for each user
    table = first.score_items(np.arange(data.n_users))
    predicted = first.predict(users[[1, 2]], data.item_ids[[7, 9]])
    np.testing.assert_array_equal(predicted, table[[1, 2], [7, 9]])
    assert repr(first) == "Random(random_state=3)"


def test_pure_id_models_refuse_users_without_train_rows():
    data = tiny_log()
    train = data.subset(data.user_index != 0)  # the first user keeps an index but loses its rows
    cold_user = data.user_ids[0]
    model = TableModel(np.zeros((data.n_users, data.n_items))).fit(train)
    with pytest.raises(ColdStartError, match="has no training rows; this model .TableModel."):
        model.recommend(cold_user, k=2)
    with pytest.raises(ColdStartError, match="cannot score users without training rows"):
        model.predict([cold_user], [data.item_ids[0]])
    assert len(Popularity().fit(train).recommend(cold_user, k=2)[0]) == 2  # it needs no rows


# ---------------------------------------------------------------------- the registry
def test_every_registered_class_knows_its_name_summary_needs_and_defaults():
    """(Which names the registry holds: tests/testing/test_verify.py.)"""
    for name, model_class in REGISTRY.items():
        assert issubclass(model_class, Recommender) and model_class.registered_name == name
        assert model_class.summary and set(model_class.needs) <= set(base.NEEDS)
        assert isinstance(model_class.cli_defaults, dict)
        model_class(**model_class.cli_defaults)  # the command line's defaults are arguments
    assert REGISTRY["autorec"].needs == ("ratings",) and REGISTRY["rnn"].needs == ("timestamps",)


def test_register_names_a_class_once(monkeypatch):
    monkeypatch.setattr(base, "REGISTRY", {})  # leave the real registry alone

    @register("table", "scores from a table", needs=("ratings",), cli_defaults={"table": [[0.0]]})
    class RegisteredTable(TableModel):
        pass

    assert base.REGISTRY == {"table": RegisteredTable}
    assert RegisteredTable.registered_name == "table" and RegisteredTable.needs == ("ratings",)
    assert register("table", "the same class again")(RegisteredTable) is RegisteredTable
    with pytest.raises(ValueError, match="the name 'table' is taken by RegisteredTable"):
        register("table", "another class")(type("OtherTable", (TableModel,), {}))
    with pytest.raises(ValueError, match=r"unknown needs \['stars'\]"):
        register("starred", "a model", needs=("stars",))


def test_every_model_file_is_imported_so_its_classes_register():
    """A new model is one file in nanorec/models: importing the package imports it, so its
    @register runs and the command line, load and verify find it."""
    import pkgutil
    import sys

    import nanorec.models

    for module in pkgutil.iter_modules(nanorec.models.__path__):
        assert f"nanorec.models.{module.name}" in sys.modules
