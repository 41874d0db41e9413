"""cold_start_split holds out whole users and items; evaluate_cold ranks as a brute force does and
refuses models that cannot score rows they never saw."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanorec.data.split import cold_start_split
from nanorec.evaluation.cold import evaluate_cold
from nanorec.data.interactions import Interactions
from nanorec.metrics.rating import auc
from nanorec.models.baselines import Popularity
from nanorec.models.base import ColdStartError
from nanorec.models.mf import BPRMF
from nanorec.testing.table_model import TableModel


def random_log(n_users=30, n_items=25, n_rows=200, seed=0):
    rng = np.random.default_rng(seed)
    pairs = np.unique(rng.integers(0, n_users * n_items, n_rows))
    return Interactions.from_arrays(
        pairs // n_items + 100, pairs % n_items + 500,
        user_features=rng.random((n_users, 2)), item_features=rng.random((n_items, 3)),
        user_ids=np.arange(n_users) + 100, item_ids=np.arange(n_items) + 500,
    )


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10**6), user_fraction=st.floats(0, 0.5), item_fraction=st.floats(0, 0.5))
def test_split_holds_out_whole_users_and_items(seed, user_fraction, item_fraction):
    data = random_log(seed=seed % 7)
    train, user_test, item_test = cold_start_split(data, user_fraction, item_fraction, seed=seed)

    def present(part, kind):
        index = getattr(part, f"{kind}_index")
        size = data.n_users if kind == "user" else data.n_items
        return np.bincount(index, minlength=size) > 0

    active_users, active_items = present(data, "user"), present(data, "item")
    cold_users = active_users & ~present(train, "user") & ~present(item_test, "user")
    cold_items = active_items & ~present(train, "item") & ~present(user_test, "item")
    assert cold_users.sum() == math.ceil(user_fraction * active_users.sum())
    assert cold_items.sum() == math.ceil(item_fraction * active_items.sum())
    # user_test: cold users with warm items; item_test: warm users with cold items
    assert cold_users[user_test.user_index].all() and not cold_items[user_test.item_index].any()
    assert cold_items[item_test.item_index].all() and not cold_users[item_test.user_index].any()
    # every row is in exactly one part, except the rows of a cold user with a cold item
    both_cold = cold_users[data.user_index] & cold_items[data.item_index]
    assert len(train) + len(user_test) + len(item_test) == len(data) - both_cold.sum()
    for part in (train, user_test, item_test):  # ids and features kept
        np.testing.assert_array_equal(part.user_ids, data.user_ids)
        np.testing.assert_array_equal(part.item_features, data.item_features)


def test_split_is_repeatable_and_seeded():
    data = random_log()
    first, again = cold_start_split(data, seed=3), cold_start_split(data, seed=3)
    other = cold_start_split(data, seed=4)
    np.testing.assert_array_equal(first.user_test.user_index, again.user_test.user_index)
    assert not np.array_equal(first.user_test.user_index, other.user_test.user_index)


def test_split_rejects_bad_fractions_and_empty_train():
    data = random_log()
    for bad in (-0.1, 1.0, "0.1", True):
        with pytest.raises(ValueError, match="user_fraction must be a finite number in \\[0, 1\\)"):
            cold_start_split(data, user_fraction=bad)
    with pytest.raises(ValueError, match="item_fraction"):
        cold_start_split(data, item_fraction=1.5)
    pair = Interactions.from_arrays([1, 2], [1, 2])  # rows (1, 1) and (2, 2)
    with pytest.raises(ValueError, match="no training rows"):  # seed 1: user 1 and item 2 go cold
        cold_start_split(pair, 0.5, 0.5, seed=1)
    with pytest.raises(TypeError, match="expects an Interactions"):
        cold_start_split([(1, 2)])


class ColdTable(TableModel):
    """A table model that may be asked about cold rows."""

    cold_start = ("users", "items")


@pytest.fixture
def hand_made():
    """Users 0, 1 warm (train rows), user 2 cold; items 0-3 warm, items 4-5 cold."""
    train_users, train_items = [0, 0, 1, 1], [0, 1, 2, 3]
    test_users, test_items = [2, 2, 0, 1, 1], [1, 3, 4, 4, 5]
    data = Interactions.from_arrays(train_users + test_users, train_items + test_items)
    train = data.subset(np.arange(4))
    table = np.array([[9, 9, 1, 2, 3, 7],      # user 0: cold items 5 > 4 (relevant: 4)
                      [9, 9, 9, 9, 6, 6],      # user 1: tie between its relevant 4 and 5
                      [4, 3, 2, 1, 0, 0.]])    # user 2: warm items 0 > 1 > 2 > 3 (relevant: 1, 3)
    return data.subset(np.arange(4, 9)), ColdTable(table).fit(train)


def test_evaluate_cold_users_matches_hand_ranks(hand_made):
    test, model = hand_made
    result = evaluate_cold(model, test, "users", metrics=("hr@1", "hr@2", "ndcg@4", "mrr", "auc"))
    # user 2 ranks the warm items 0, 1, 2, 3: its relevant items 1 and 3 sit at ranks 2 and 4
    ideal = 1 + 1 / math.log2(3)
    assert result["hr@1"] == 0 and result["hr@2"] == 1 and result["mrr"] == 0.5
    assert result["ndcg@4"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / ideal)
    assert result["auc"] == pytest.approx(auc([0, 1, 0, 1], [4, 3, 2, 1]))
    assert result.n_users == 1
    assert result.users.tolist() == [test.user_ids[2]]  # the one evaluated user, per-user values
    assert {key: value[0] for key, value in result.per_user.items()} == pytest.approx(dict(result))


def test_evaluate_cold_items_ranks_only_cold_items(hand_made):
    test, model = hand_made
    result = evaluate_cold(model, test, "items", metrics=("hr@1", "auc"))
    # user 0 ranks items (4, 5) = (3, 7): relevant 4 is second. User 1's relevant items are both
    # cold items, so nothing can rank below them: skipped
    assert result["hr@1"] == 0 and result["auc"] == 0
    assert result.n_users == 1 and result.n_skipped_no_test == 1


def test_pure_id_models_refuse_cold_rows_with_a_clear_message(hand_made):
    test, table_model = hand_made
    bpr = BPRMF(n_factors=2, n_epochs=1).fit(table_model_train(table_model))
    with pytest.raises(ColdStartError) as error:
        evaluate_cold(bpr, test, "users")
    assert str(error.value) == (
        "unknown user id 2; this model (BPRMF) cannot score users without training rows; "
        "use Hybrid with user_features"
    )
    with pytest.raises(KeyError, match="unknown item id 4; .* cannot score items without training rows"):
        evaluate_cold(bpr, test, "items", metrics=("auc",))


def table_model_train(model):
    """The Interactions a fitted model was trained on, rebuilt from its CSR."""
    csr = model.train_csr_
    users = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
    return Interactions(users, csr.indices, model.user_ids_, model.item_ids_)


def test_popularity_is_allowed_and_ties_every_cold_item(hand_made):
    test, table_model = hand_made
    popularity = Popularity().fit(table_model_train(table_model))
    result = evaluate_cold(popularity, test, "items", metrics=("hr@1", "auc"))
    assert result["hr@1"] == 0 and result["auc"] == 0.5  # all cold items score 0: ties
    assert evaluate_cold(popularity, test, "users", metrics=("auc",))["auc"] == 0.5


def test_evaluate_cold_rejects_bad_requests(hand_made):
    test, model = hand_made
    with pytest.raises(ValueError, match="kind must be one of"):
        evaluate_cold(model, test, "products")
    with pytest.raises(ValueError, match="does not compute"):
        evaluate_cold(model, test, "users", metrics=("rmse",))
    with pytest.raises(ValueError, match="no row of a cold user"):
        evaluate_cold(model, test.subset(np.array([2])), "users")  # only user 0's row
    with pytest.raises(ValueError, match="other user ids"):
        evaluate_cold(model, random_log(), "users")
    with pytest.raises(RuntimeError, match="not fitted"):
        evaluate_cold(ColdTable(np.zeros((3, 6))), test, "users")
