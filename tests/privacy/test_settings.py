"""UserPrivacy, each switch: not trained on (the model never sees their rows), not personalised
(the popularity list, no predictions), not named in explanations (AutoRec, ColdStartRecommender);
unknown ids, set_privacy's limits, and the choices saved with the model."""

import numpy as np
import pytest

from nanorec.data.interactions import Interactions
from nanorec.models import AutoRec, BiasedMF, BPRMF, ColdStartRecommender, Recommender, UserPrivacy
from nanorec.privacy import DPBiasedMF

OPTIONS = dict(n_factors=3, n_epochs=4, random_state=7, dtype=np.float64)
ALICE, BOB, CAROL = (f"user-{u:04d}@mail.example" for u in (0, 1, 2))  # from conftest's log


def popularity_list(data, k):
    """(item ids, counts) of the k items with the most rows of ``data``; ties: smaller index first."""
    counts = np.bincount(data.item_index, minlength=data.n_items)
    top = np.argsort(-counts, kind="stable")[:k]
    return data.item_ids[top], counts[top].astype(np.float64)


def seen(data, user_id):
    return set(data.item_ids[data.item_index[data.user_ids[data.user_index] == user_id]].tolist())


# ---------------------------------------------------------------------- not_trained_on
def test_not_trained_on_equals_a_fit_without_their_rows_on_the_same_vocabulary(log, rated):
    model = BiasedMF(**OPTIONS).fit(rated, privacy=UserPrivacy(not_trained_on=[ALICE, BOB]))
    users, items, ratings = log
    others = ~np.isin(users, [ALICE, BOB])
    without = Interactions.from_arrays(users[others], items[others], ratings[others],
                                       user_ids=rated.user_ids, item_ids=rated.item_ids)
    reference = BiasedMF(**OPTIONS).fit(without)
    for name in ("user_ids_", "item_ids_", "user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        np.testing.assert_array_equal(getattr(model, name), getattr(reference, name))
    assert model.global_mean_ == reference.global_mean_
    assert not np.any(model.user_factors_[model._to_index([ALICE, BOB], "user")])  # never trained
    assert model.privacy_["not_trained_on"] == [ALICE, BOB]

    item_ids, scores = model.recommend([ALICE, BOB], k=5)
    expected_items, expected_counts = popularity_list(without, 5)
    for row in range(2):  # served the most popular items of the rows the model was trained on
        np.testing.assert_array_equal(item_ids[row], expected_items)
        np.testing.assert_array_equal(scores[row], expected_counts)
    with pytest.raises(ValueError, match="not to be personalised"):
        model.predict([ALICE], ["film-0001"])


def test_no_rows_left_to_train_on_is_an_error():
    data = Interactions.from_arrays(["a", "a", "b"], ["x", "y", "x"], ratings=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="no train rows are left"):
        BiasedMF(**OPTIONS).fit(data, privacy=UserPrivacy(not_trained_on=["a", "b"]))


# ---------------------------------------------------------------------- not_personalised
def test_not_personalised_users_get_the_popularity_list(rated):
    private = UserPrivacy(not_personalised=[ALICE, BOB])
    model = BiasedMF(**OPTIONS).fit(rated, privacy=private)
    plain = BiasedMF(**OPTIONS).fit(rated)
    np.testing.assert_array_equal(model.user_factors_, plain.user_factors_)  # trained on them

    k = 12
    item_ids, scores = model.recommend([ALICE, CAROL, BOB], k=k)
    expected_items, expected_counts = popularity_list(rated, k)
    for row in (0, 2):  # one list, the same for every such user
        np.testing.assert_array_equal(item_ids[row], expected_items)
        np.testing.assert_array_equal(scores[row], expected_counts)
    assert seen(rated, ALICE) & set(expected_items.tolist())  # seen items are not excluded
    np.testing.assert_array_equal(item_ids[1], plain.recommend(CAROL, k=k)[0])  # others: as usual
    single = model.recommend(BOB, k=3)
    np.testing.assert_array_equal(single[0], expected_items[:3])

    with pytest.raises(ValueError, match=f"user id '{BOB}' chose not to be personalised"):
        model.predict([CAROL, BOB], ["film-0001", "film-0002"])
    np.testing.assert_array_equal(model.predict([CAROL], ["film-0001"]),
                                  plain.predict([CAROL], ["film-0001"]))
    explanation = model.explain(ALICE, "film-0001")
    assert "not personalised" in explanation.method
    assert explanation.score == float(np.sum(rated.item_ids[rated.item_index] == "film-0001"))


# ---------------------------------------------------------------------- not_in_explanations
def names_in_explanations(model, data, hidden, user_ids):
    """The raw user ids named in the explanations of every (user, item) pair of ``user_ids``
    and the items ``hidden`` rated."""
    named = set()
    for user_id in user_ids:
        for item_id in sorted(seen(data, hidden)):
            for label, _ in model.explain(user_id, item_id, n=None).contributions:
                named |= {raw for raw in data.user_ids.tolist() if raw in label}
    return named


def test_autorec_explanations_never_name_a_hidden_user(rated):
    others = [raw for raw in rated.user_ids.tolist() if raw != ALICE][:10]
    options = dict(n_hidden=4, n_epochs=2, batch_size=8, dtype=np.float64)
    plain = AutoRec(**options).fit(rated)
    assert ALICE in names_in_explanations(plain, rated, ALICE, others)  # ALICE would be named
    model = AutoRec(**options).fit(rated, privacy=UserPrivacy(not_in_explanations=[ALICE]))
    named = names_in_explanations(model, rated, ALICE, others)
    assert ALICE not in named and len(named) > 1  # the other raters still are
    explanation = model.explain(BOB, "film-only-0", n=None)  # only ALICE rated it: nobody to name
    assert explanation.contributions == []


def features_log():
    """Users u0..u5 with rows and the features [1, 0] (u0-u2) or [0, 1] (u3-u5), and "cold",
    with no rows and the features [1, 0]: its neighbours are u0, u1 and u2."""
    users = ["u0", "u0", "u1", "u1", "u2", "u3", "u3", "u4", "u5", "u5"]
    items = ["a", "b", "a", "c", "a", "d", "e", "d", "e", "b"]
    user_ids = ["cold", "u0", "u1", "u2", "u3", "u4", "u5"]
    features = [[1.0, 0.0]] * 4 + [[0.0, 1.0]] * 3
    return Interactions.from_arrays(users, items, user_ids=user_ids, user_features=features,
                                    user_feature_names=["group a", "group b"])


def test_cold_start_neighbours_explanations_never_name_a_hidden_user():
    data = features_log()
    model = ColdStartRecommender(BPRMF(n_factors=2, n_epochs=1), neighbours=10).fit(data)
    labels = [label for label, _ in model.explain("cold", "a", n=None).contributions]
    assert "neighbours" in model.explain("cold", "a").method
    assert sorted(labels) == [f"user {u}, a neighbour by features" for u in ("u0", "u1", "u2")]
    model.set_privacy(UserPrivacy(not_in_explanations=["u1"]))
    explanation = model.explain("cold", "a", n=None)
    assert sorted(label for label, _ in explanation.contributions) == [
        f"user {u}, a neighbour by features" for u in ("u0", "u2")]
    assert model.recommend("cold", k=1)[0].tolist() == ["a"]  # the vote itself is unchanged


# ---------------------------------------------------------------------- ids and set_privacy
@pytest.mark.parametrize("choice", ["not_trained_on", "not_personalised", "not_in_explanations"])
def test_unknown_ids_raise_key_error(rated, choice):
    with pytest.raises(KeyError, match="nobody"):
        BiasedMF(**OPTIONS).fit(rated, privacy=UserPrivacy(**{choice: ["nobody"]}))
    model = BiasedMF(**OPTIONS).fit(rated)
    if choice != "not_trained_on":
        with pytest.raises(KeyError, match="unknown user id 'nobody'"):
            model.set_privacy(UserPrivacy(**{choice: ["nobody"]}))


def test_privacy_arguments_are_checked(rated):
    with pytest.raises(TypeError, match="sequence of raw user ids"):
        UserPrivacy(not_personalised=ALICE)  # a bare string is not a list of ids
    with pytest.raises(TypeError, match="UserPrivacy"):
        BiasedMF(**OPTIONS).fit(rated, privacy={"not_personalised": [ALICE]})


def test_set_privacy_changes_the_serving_choices_but_not_who_was_trained_on(rated):
    model = BiasedMF(**OPTIONS).fit(rated, privacy=UserPrivacy(not_trained_on=[ALICE]))
    for other in (UserPrivacy(), UserPrivacy(not_trained_on=[ALICE, BOB])):
        with pytest.raises(ValueError, match="cannot change not_trained_on"):
            model.set_privacy(other)
    model.set_privacy(UserPrivacy(not_trained_on=[ALICE], not_personalised=[BOB]))
    assert model.privacy_ == {"not_trained_on": [ALICE], "not_personalised": [BOB],
                              "not_in_explanations": []}
    with pytest.raises(ValueError, match="not to be personalised"):
        model.predict([BOB], ["film-0001"])
    model.set_privacy(UserPrivacy(not_trained_on=[ALICE]))  # BOB changes his mind
    assert model.predict([BOB], ["film-0001"]).shape == (1,)


# ---------------------------------------------------------------------- save / load
def test_privacy_survives_save_and_load(rated, tmp_path):
    private = UserPrivacy(not_trained_on=[ALICE], not_personalised=[BOB], not_in_explanations=[CAROL])
    model = BiasedMF(**OPTIONS).fit(rated, privacy=private)
    loaded = Recommender.load(model.save(tmp_path / "private"))
    assert loaded.privacy_ == model.privacy_ == private.as_dict()
    for user_id in (ALICE, BOB):
        np.testing.assert_array_equal(loaded.recommend(user_id, k=4)[0], model.recommend(user_id, k=4)[0])
        with pytest.raises(ValueError, match="not to be personalised"):
            loaded.predict([user_id], ["film-0001"])
    with pytest.raises(ValueError, match="cannot change not_trained_on"):
        loaded.set_privacy(UserPrivacy())


def test_cold_start_privacy_survives_save_and_load(tmp_path):
    data = features_log()
    private = UserPrivacy(not_personalised=["u4"], not_in_explanations=["u1"])
    model = ColdStartRecommender(BPRMF(n_factors=2, n_epochs=1), neighbours=10).fit(data, privacy=private)
    loaded = Recommender.load(model.save(tmp_path / "chain"))
    assert isinstance(loaded, ColdStartRecommender) and loaded.privacy_ == private.as_dict()
    labels = [label for label, _ in loaded.explain("cold", "a", n=None).contributions]
    assert labels and not any("u1" in label for label in labels)
    assert "not personalised" in loaded.explain("u4", "a").method
    np.testing.assert_array_equal(loaded.recommend("u4", k=5)[0], popularity_list(data, 5)[0])


def test_dp_model_serves_not_personalised_users_by_its_item_biases(rated):
    """A DP model keeps no train counts (they are private): its item biases rank instead."""
    user = rated.user_ids[0]
    model = DPBiasedMF(n_factors=2, n_epochs=2, batch_size=20, noise_multiplier=0.5,
                       rating_range=(1, 5)).fit(rated, privacy=UserPrivacy(not_personalised=[user]))
    items, scores = model.recommend(user, k=5)
    best = np.argsort(-model.item_bias_, kind="stable")[:5]
    np.testing.assert_array_equal(items, model.item_ids_[best])
    np.testing.assert_allclose(scores, model.item_bias_[best])
