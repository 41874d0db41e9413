"""ContentBased and Hybrid: exact gradients through the whole network, cold-start quality on planted
data, the fallback order of recommend, new items, repeatability, save/load, early stopping and
clear errors."""

import re

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nanorec.data.datasets import load
from nanorec.data.interactions import Interactions
from nanorec.data.split import cold_start_split
from nanorec.evaluation.cold import evaluate_cold
from nanorec.evaluation.protocols import evaluate
from nanorec.models import ColdStartError, Recommender
from nanorec.models.baselines import Popularity
from nanorec.models.content import (
    ContentBased,
    Hybrid,
    _negatives_among_known_items,
)
from nanorec.nn.activations import ReLU
from nanorec.testing.gradcheck import gradcheck
from nanorec.testing.strategies import dims, float_arrays, id_arrays, seeds

hidden_sizes = st.lists(st.integers(1, 4), min_size=0, max_size=2).map(tuple)


def smallest_pre_relu(mlp, x):
    """min |input| of the ReLUs of a Sequential MLP at x: gradchecks stay off the kink at 0."""
    smallest = np.inf
    for layer in mlp.layers:
        if isinstance(layer, ReLU):
            smallest = min(smallest, float(np.abs(x).min()))
        x = layer.forward(x)
    return smallest


@settings(max_examples=10, deadline=None)
@given(n=dims(), d=dims(1, 3), f=dims(1, 3), hidden=hidden_sizes, seed=seeds(), data=st.data())
def test_content_based_network_gradients(n, d, f, hidden, seed, data):
    model = ContentBased(hidden=hidden, popularity_feature=False, random_state=seed, dtype=np.float64)
    model.n_item_features_, model.n_user_features_ = d, f
    network = model._build_network()
    inputs = tuple(data.draw(float_arrays(shape, lo=-2, hi=2)) for shape in [(n, d), (n, d), (n, f)])
    assume(smallest_pre_relu(network.layers[1], network.layers[0].forward(inputs)) > 1e-3)
    report = gradcheck(network, inputs)  # through ProfileMatch into p, x and z, and every weight
    report.check()
    assert [row.name for row in report.rows][:3] == ["input 0", "input 1", "input 2"]


@settings(max_examples=10, deadline=None)
@given(n=dims(), n_users=dims(1, 4), n_items=dims(1, 4), f_user=dims(1, 3), f_item=dims(1, 3),
       k=dims(1, 3), hidden=hidden_sizes, seed=seeds(), data=st.data())
def test_hybrid_network_gradients(n, n_users, n_items, f_user, f_item, k, hidden, seed, data):
    model = Hybrid(n_factors=k, hidden=hidden, random_state=seed, dtype=np.float64)
    model.n_users_, model.n_items_ = n_users, n_items
    model.n_user_features_, model.n_item_features_ = f_user, f_item
    network = model._build_network()
    for row in network.params.values():  # embeddings of the size of the MLP outputs, not N(0, 0.01^2)
        row[...] = np.random.default_rng(seed).normal(0, 1, row.shape) if row.ndim == 2 else row
    sides = []
    for n_ids, n_features in ((n_users, f_user), (n_items, f_item)):
        ids = data.draw(id_arrays(n_ids + 1, (n,)))  # row n_ids is the "no id" row
        sides.append((ids, data.draw(float_arrays((n, n_features), lo=-2, hi=2))))
    for tower, (_, features) in zip(network.layers[0].layers, sides):
        assume(smallest_pre_relu(tower.layers[0].layers[1], features) > 1e-3)
    gradcheck(network, tuple(sides)).check()  # Dot -> both towers -> Add -> embeddings and MLPs


# ---------------------------------------------------------------------- cold start, planted data
@pytest.fixture(scope="module")
def cold_split():
    """Planted data whose popularity does not drown the demographics: with the default Zipf
    exponent 1, even an oracle knowing each demographic group's mean taste ties Popularity's
    NDCG@10 on cold users (measured); at 0.5 it beats it by 8%."""
    data = load("synthetic", n_users=1000, n_items=500, n_interactions=15000,
                popularity_exponent=0.5, seed=0)
    return cold_start_split(data, user_fraction=0.2, item_fraction=0.2, seed=0)


@pytest.fixture(scope="module")
def fitted(cold_split):
    train = cold_split.train
    return {
        "popularity": Popularity().fit(train),
        "content": ContentBased(n_epochs=10).fit(train),
        "hybrid": Hybrid(n_epochs=10, hidden=()).fit(train),
    }


def test_loss_falls(fitted):
    for name in ("content", "hybrid"):
        loss = fitted[name].history_["loss"]
        assert len(loss) == 10 and loss[-1] < 0.85 * loss[0], name  # measured: 0.81, 0.76


@pytest.mark.parametrize("name", ["content", "hybrid"])
def test_cold_users_ranked_better_than_by_popularity(fitted, cold_split, name):
    metrics = ("ndcg@10", "auc")
    model = evaluate_cold(fitted[name], cold_split.user_test, "users", metrics)
    popularity = evaluate_cold(fitted["popularity"], cold_split.user_test, "users", metrics)
    # measured on these 200 cold users: Popularity 0.186 / 0.703; ContentBased 0.204 / 0.712;
    # Hybrid 0.203 / 0.718 (the demographic-taste oracle: 0.202 / 0.732)
    assert model["ndcg@10"] > 1.05 * popularity["ndcg@10"]
    assert model["auc"] > popularity["auc"] + 0.005


@pytest.mark.parametrize("name", ["content", "hybrid"])
def test_cold_items_ranked_better_than_by_popularity(fitted, cold_split, name):
    metrics = ("hr@10", "auc")
    model = evaluate_cold(fitted[name], cold_split.item_test, "items", metrics)
    popularity = evaluate_cold(fitted["popularity"], cold_split.item_test, "items", metrics)
    # Popularity scores every cold item 0: AUC 0.5, HR@10 0 (ties count against it). Measured:
    # ContentBased 0.32 / 0.64, Hybrid 0.32 / 0.65 (the planted truth's own scores: AUC 0.77)
    assert popularity["auc"] == 0.5 and popularity["hr@10"] == 0
    assert model["auc"] > 0.6 and model["hr@10"] > 0.25


# ---------------------------------------------------------------------- the serving API
@pytest.fixture(scope="module")
def small():
    """A small planted log, cold-split; the fits on it take well under a second."""
    data = load("synthetic", n_users=150, n_items=80, n_interactions=1500, seed=1)
    return cold_start_split(data, 0.1, 0.1, seed=0)


@pytest.fixture(scope="module", params=["content", "hybrid"])
def small_model(request, small):
    make = {"content": lambda: ContentBased(n_epochs=2, hidden=(8,)),
            "hybrid": lambda: Hybrid(n_epochs=2, n_factors=4, hidden=(8,))}[request.param]
    return make().fit(small.train)


def cold_ids(split, kind):
    """Raw ids of the users (items) with test rows but no train rows."""
    index = getattr(split.user_test if kind == "user" else split.item_test, f"{kind}_index")
    train_index = getattr(split.train, f"{kind}_index")
    cold = np.setdiff1d(index, train_index)
    return getattr(split.train, f"{kind}_ids")[cold]


def test_fallback_order_known_id_then_features_then_popularity(small_model, small):
    train = small.train
    known, cold = train.user_ids[train.user_index[0]], cold_ids(small, "user")[0]
    # 1. a known id: the model's scores with its train items left out (the base-class recommend)
    np.testing.assert_array_equal(small_model.recommend(known, k=5)[0],
                                  Recommender.recommend(small_model, known, k=5)[0])
    # 2. features: a brand-new id with a cold user's features is ranked as that cold user
    features, new_user = train.user_features[train.user_to_index(cold)], 10**6
    new_items, new_scores = small_model.recommend(new_user, k=5, user_features=features)
    cold_items, cold_scores = small_model.recommend(cold, k=5)
    np.testing.assert_array_equal(new_items, cold_items)
    np.testing.assert_allclose(new_scores, cold_scores, rtol=1e-6)
    # 3. nothing known: the most popular items
    popular = Popularity().fit(train).recommend(cold, k=5)[0]
    np.testing.assert_array_equal(small_model.recommend(new_user + 1, k=5)[0], popular)
    # several users at once give the rows of the single calls
    items, _ = small_model.recommend([known, new_user], k=5, user_features=[features, features])
    np.testing.assert_array_equal(items, [small_model.recommend(known, k=5)[0], new_items])


def test_new_items_are_scored_from_their_features(small_model, small):
    train = small.train
    cold_item = train.item_to_index(cold_ids(small, "item")[:1])
    users = train.user_ids[:4]
    expected = small_model.score_items(train.user_to_index(users))[:, cold_item[0]]
    features = train.item_features[cold_item]  # a new item described like a cold one
    scores = small_model.score_new_items(users, np.vstack([features, features]))
    assert scores.shape == (4, 2)
    np.testing.assert_allclose(scores[:, 0], expected, rtol=1e-5)
    one = small_model.score_new_items("brand new", features[0], user_features=train.user_features[0])
    assert one.shape == (1,) and np.isfinite(one).all()
    with pytest.raises(ColdStartError, match="unknown user id 'brand new': pass user_features"):
        small_model.score_new_items("brand new", features)


def test_feature_checks(small_model, small):
    n_user_features = small.train.user_features.shape[1]
    with pytest.raises(ValueError, match=rf"user_features must have shape \(1, {n_user_features}\)"):
        small_model.recommend("new", user_features=np.ones(n_user_features + 1))
    with pytest.raises(ValueError, match="NaN or infinite"):
        small_model.recommend("new", user_features=np.full(n_user_features, np.nan))
    with pytest.raises(TypeError, match="must be numbers"):
        small_model.score_new_items(small.train.user_ids[0], [["action"]])
    with pytest.raises(ValueError, match="larger than the catalogue"):
        small_model.recommend(small.train.user_ids[0], k=small.train.n_items + 1)


def test_save_load_gives_identical_recommendations(small_model, small, tmp_path):
    loaded = Recommender.load(small_model.save(tmp_path / "model"))
    assert type(loaded) is type(small_model)
    users = list(small.train.user_ids[:3]) + list(cold_ids(small, "user")[:2])
    (items, scores), (loaded_items, loaded_scores) = (m.recommend(users, k=6) for m in (small_model, loaded))
    np.testing.assert_array_equal(loaded_items, items)
    np.testing.assert_array_equal(loaded_scores, scores)
    features = small.train.item_features[:3]
    np.testing.assert_array_equal(loaded.score_new_items(users, features),
                                  small_model.score_new_items(users, features))
    assert loaded.history_ == small_model.history_


def test_same_seed_same_model_other_seed_other_model(small):
    def scores(model_class, seed):
        model = model_class(n_epochs=1, hidden=(8,), random_state=seed).fit(small.train)
        return model.score_items(np.arange(5))

    for model_class in (ContentBased, Hybrid):
        np.testing.assert_array_equal(scores(model_class, 3), scores(model_class, 3))
        assert not np.allclose(scores(model_class, 3), scores(model_class, 4))


def test_validation_history_and_early_stopping_keeps_the_best_epoch(small):
    train, valid = small.train, small.item_test  # any rows of known users serve as validation
    model = Hybrid(n_epochs=12, n_factors=4, hidden=(), lr=0.03, early_stopping=1).fit(train, valid)
    history = model.history_["valid_hr@10"]
    assert len(history) == len(model.history_["loss"]) == model.best_epoch_ + 2 < 12
    assert history[model.best_epoch_] == max(history) > history[-1]
    # the best epoch's parameters are back in the network
    final = evaluate(model, valid, train=train, metrics=("hr@10",))["hr@10"]
    assert final == pytest.approx(max(history), rel=1e-12)


# ---------------------------------------------------------------------- training details
def test_profiles_leave_the_scored_item_out():
    """make_batch gives each row (u, i) the rating-weighted mean content of u's OTHER items."""
    rng = np.random.default_rng(0)
    data = Interactions.from_arrays([0, 0, 0, 1, 1, 2], [0, 1, 2, 1, 3, 0],
                                    ratings=[5, 1, 2, 4, 3, 5], item_features=rng.random((4, 3)))
    model = ContentBased(n_epochs=1, profile="rating", popularity_feature=False, cold_dropout=0.0,
                         n_negatives=1, dtype=np.float64).fit(data)
    x, w = data.item_features.astype(np.float64), data.ratings.astype(np.float64)
    for u in range(3):  # the fitted profile: over all of u's rows
        mine = data.user_index == u
        expected = (w[mine, None] * x[data.item_index[mine]]).sum(0) / w[mine].sum()
        np.testing.assert_allclose(model.user_profiles_[u], expected, rtol=1e-6)
    make_batch = model._prepare(data, rng)
    rows = np.arange(len(data))
    items = np.column_stack([data.item_index, np.zeros(len(data), int)])
    profiles = make_batch(rows, data.user_index, items)[0][::2]  # one per row (rows and negatives)
    for row in rows:
        others = (data.user_index == data.user_index[row]) & (rows != row)
        expected = (w[others, None] * x[data.item_index[others]]).sum(0) / max(w[others].sum(), 1)
        np.testing.assert_allclose(profiles[row], expected, rtol=1e-6)  # user 2: no other rows, 0


def test_negatives_come_from_known_items_the_user_has_not_seen():
    data = Interactions.from_arrays([0, 0, 1, 2], [0, 1, 2, 3], item_ids=np.arange(8))
    draw = _negatives_among_known_items(data, 50, np.random.default_rng(0))
    negatives = draw(np.array([0, 1, 2]))
    assert set(negatives[0]) == {2, 3} and set(negatives[1]) == {0, 1, 3}
    assert set(negatives[2]) == {0, 1, 2}  # items 4-7 have no train rows: never drawn


def test_without_side_features_cold_users_get_the_no_id_vector():
    data = Interactions.from_arrays([1, 1, 2, 3], [1, 2, 2, 3], user_ids=[1, 2, 3, 4])
    model = Hybrid(n_epochs=1, n_factors=2, hidden=()).fit(data)
    assert model.user_feature_names_ is None and model.user_features_.shape == (4, 1)
    assert model.recommend(4, k=2)[0].shape == (2,)  # user 4: no rows, no features
    with pytest.raises(ValueError, match="fitted without user features"):
        model.recommend("new", user_features=[1.0])
    with pytest.raises(ValueError, match="ContentBased needs item features"):
        ContentBased(n_epochs=1).fit(data)


@pytest.mark.parametrize("model_class, options, message", [
    (ContentBased, {"hidden": 64}, "hidden must be a tuple of integers >= 1, got 64"),
    (ContentBased, {"hidden": (8, 0)}, "every entry of hidden must be an integer >= 1, got 0"),
    (ContentBased, {"lr": 0}, "lr must be a finite number in (0, inf), got 0"),
    (ContentBased, {"reg": -1.0}, "reg must be a finite number in [0, inf), got -1.0"),
    (ContentBased, {"n_negatives": 0}, "n_negatives must be an integer >= 1, got 0"),
    (ContentBased, {"batch_size": 2.5}, "batch_size must be an integer >= 1, got 2.5"),
    (ContentBased, {"profile": "median"}, "profile must be one of 'mean', 'rating', got 'median'"),
    (ContentBased, {"cold_dropout": 1.0}, "cold_dropout must be a finite number in [0, 1), got 1.0"),
    (ContentBased, {"early_stopping": 2}, "early_stopping needs validation data"),
    (Hybrid, {"n_factors": 0}, "n_factors must be an integer >= 1, got 0"),
    (Hybrid, {"id_dropout": -0.1}, "id_dropout must be a finite number in [0, 1), got -0.1"),
    (Hybrid, {"dtype": np.int32}, "dtype must be np.float32 or np.float64"),
])
def test_bad_hyperparameters_raise_clear_errors(model_class, options, message, small):
    with pytest.raises(ValueError, match=re.escape(f"{model_class.__name__}: {message}")):
        model_class(n_epochs=1, **options).fit(small.train)
