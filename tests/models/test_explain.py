"""model.explain: every registered model explains; item similarity against hand computations,
ItemKNN's exact split of its score, gradient x input against finite differences (features of the
content models; AutoRec's raters, CDAE's clicks, the context items of Caser and RNNRec, padding
never named), completeness where the score is linear, a user hidden from AutoRec's explanations,
and a planted genre."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nanorec.privacy  # noqa: F401  (registers the privacy models: every model explains)
from nanorec.data.datasets import load
from nanorec.data.interactions import Interactions
from nanorec.models import REGISTRY, UserPrivacy
from nanorec.models.autoencoders import CDAE, AutoRec
from nanorec.models.baselines import Popularity, Random
from nanorec.models.content import ContentBased, Hybrid
from nanorec.models.explain import (
    Explanation,
    attribute_features,
    cosine_to,
    item_vectors,
    top_contributions,
)
from nanorec.models.knn import ItemKNN
from nanorec.models.mf import BPRMF, BiasedMF
from nanorec.models.neural import MatrixFactorization, NeuMF
from nanorec.models.sequence import Caser, RNNRec
from nanorec.nn.layers import Dense, SparseRows
from nanorec.testing.gradcheck import numeric_gradient
from nanorec.testing.verify import small_model, tiny_data


@pytest.fixture(scope="module")
def small():
    return load("synthetic", n_users=40, n_items=30, n_interactions=400, n_genres=3, seed=1)


def user_items(model, user_index):
    csr = model.train_csr_
    return csr.indices[csr.indptr[user_index] : csr.indptr[user_index + 1]]


# ---------------------------------------------------------------------- the Explanation
def test_contributions_are_sorted_by_size_and_cut_at_n():
    pairs = top_contributions(["a", "b", "c", "d"], [0.1, -3.0, 2.0, -0.1], 3)
    assert pairs == [("b", -3.0), ("c", 2.0), ("a", 0.1)]
    text = str(Explanation("u1", "i9", 1.5, "a method", pairs, baseline=0.25))
    assert text.splitlines()[0] == "item i9 for user u1: score 1.5000 (baseline 0.2500)"
    assert "by a method" in text and "b  -3.0000" in text and len(text.splitlines()) == 5


# ---------------------------------------------------------------------- item similarity
def test_biased_mf_explains_by_the_cosine_of_its_item_factors(small):
    model = BiasedMF(n_factors=2, n_epochs=1).fit(small)
    model.item_factors_[:] = 0
    model.item_factors_[:, 0] = 1.0  # every item points along the first axis ...
    target = 7
    history = user_items(model, 0)
    history = history[history != target]
    model.item_factors_[history[0]] = [-2.0, 0.0]  # ... but one past item points the other way
    model.item_factors_[history[1]] = [1.0, 1.0]  # and one sits at 45 degrees
    explanation = model.explain(small.user_ids[0], small.item_ids[target], n=len(history))
    values = dict(explanation.contributions)
    assert f"item {small.item_ids[history[0]]}" not in values  # cos -1: an unlike item is no reason
    assert values[f"item {small.item_ids[history[1]]}"] == pytest.approx(np.sqrt(0.5))
    assert all(values[f"item {small.item_ids[j]}"] == pytest.approx(1.0) for j in history[2:])
    assert f"item {small.item_ids[target]}" not in values  # the item itself explains nothing
    assert explanation.score == pytest.approx(model.predict([small.user_ids[0]], [small.item_ids[target]])[0])
    assert explanation.method.startswith("cosine of item factors") and explanation.baseline is None


@pytest.mark.parametrize("make_model, attribute", [
    (lambda: BPRMF(n_factors=3, n_epochs=1), lambda m: m.item_factors_),
    (lambda: MatrixFactorization(n_factors=3, n_epochs=1, implicit=True),
     lambda m: m.network_.item_embedding.params["W"]),
    (lambda: NeuMF(n_factors=3, layers=(4, 2), n_epochs=1, implicit=True),
     lambda m: m.network_.gmf_item.params["W"]),
    (lambda: NeuMF(n_factors=0, layers=(4, 2), n_epochs=1, implicit=True),
     lambda m: m.network_.mlp_item.params["W"]),
])
def test_embedding_models_read_their_item_vectors(small, make_model, attribute):
    model = make_model().fit(small)
    vectors, _ = item_vectors(model)
    assert vectors is attribute(model)
    user, target = 3, 11
    history = user_items(model, user)
    history = history[history != target]
    explanation = model.explain(small.user_ids[user], small.item_ids[target], n=None)
    cosines = {f"item {small.item_ids[j]}": float(vectors[j] @ vectors[target])
               / (np.linalg.norm(vectors[j]) * np.linalg.norm(vectors[target])) for j in history}
    expected = {label: value for label, value in cosines.items() if value > 0}
    assert dict(explanation.contributions) == pytest.approx(expected, rel=1e-5, abs=1e-6)
    sizes = [abs(value) for _, value in explanation.contributions]
    assert sizes == sorted(sizes, reverse=True)


def test_cosine_of_a_zero_vector_is_zero():
    assert cosine_to(np.array([[0.0, 0.0], [3.0, 4.0]]), np.array([3.0, 4.0])).tolist() == [0.0, 1.0]
    assert cosine_to(np.ones((2, 2)), np.zeros(2)).tolist() == [0.0, 0.0]


def test_item_knn_similarities_split_its_score_exactly(small):
    model = ItemKNN(k=5).fit(small)
    X = np.zeros((small.n_users, small.n_items))
    X[small.user_index, small.item_index] = 1
    counts = X.sum(axis=0)
    cosine = (X.T @ X) / np.sqrt(np.outer(counts, counts))  # the docstring's sim, shrink = 0
    for user in range(5):
        for target in np.flatnonzero(X[user] == 0)[:4]:
            explanation = model.explain(small.user_ids[user], small.item_ids[target], n=small.n_items)
            assert sum(v for _, v in explanation.contributions) == pytest.approx(explanation.score, rel=1e-5)
            for label, value in explanation.contributions:
                past = small.item_to_index(int(label.split()[1]))
                assert value == pytest.approx(cosine[past, target], rel=1e-5)
                assert target in model.neighbours_[past]


@pytest.fixture(scope="module")
def tiny():
    """The train part of the certificate's tiny log: ratings, timestamps, user and item features."""
    return tiny_data(0)[0]


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_registered_model_explains_its_scores(name, tiny):
    model = small_model(REGISTRY[name]).fit(tiny)
    for user, item in ((0, 3), (5, 0), (9, 11)):
        explanation = model.explain(tiny.user_ids[user], tiny.item_ids[item], n=None)
        assert isinstance(explanation, Explanation)
        assert (explanation.user_id, explanation.item_id) == (tiny.user_ids[user], tiny.item_ids[item])
        assert np.isfinite(explanation.score) and explanation.method
        labels = [label for label, _ in explanation.contributions]
        values = [value for _, value in explanation.contributions]
        assert all(isinstance(label, str) for label in labels) and np.all(np.isfinite(values))
        assert [abs(v) for v in values] == sorted((abs(v) for v in values), reverse=True)
        assert str(explanation).startswith(f"item {tiny.item_ids[item]} for user {tiny.user_ids[user]}")


def test_popularity_and_random_explain_what_their_scores_are(small):
    popularity = Popularity().fit(small).explain(small.user_ids[0], small.item_ids[2])
    count = float(np.sum(small.item_index == 2))
    assert popularity.score == count and popularity.contributions == [("train rows of the item", count)]
    randomly = Random().fit(small)
    explanation = randomly.explain(small.user_ids[0], small.item_ids[2])
    assert explanation.score == randomly.predict(small.user_ids[:1], small.item_ids[2:3])[0]
    assert explanation.contributions == [] and "no reason" in explanation.method


def test_a_model_without_features_or_item_vectors_says_so():
    plain = Interactions.from_arrays([1, 1, 2, 3], [1, 2, 2, 3])
    with pytest.raises(NotImplementedError, match="Hybrid has no explanations"):
        Hybrid(n_epochs=1, hidden=()).fit(plain).explain(1, 3)


def test_bad_requests_are_named(small):
    model = BiasedMF(n_factors=2, n_epochs=1).fit(small)
    with pytest.raises(KeyError, match="unknown item id"):
        model.explain(1, 10_000)
    with pytest.raises(KeyError, match="unknown user id"):
        model.explain("nobody", 1)
    with pytest.raises(ValueError, match="n must be"):
        model.explain(1, 1, n=0)
    with pytest.raises(RuntimeError, match="not fitted"):
        BiasedMF().explain(1, 1)


# ---------------------------------------------------------------------- gradient x input
def all_values(explanation):
    return dict(explanation.contributions)


@pytest.fixture(scope="module")
def content_model(small):
    return ContentBased(hidden=(6,), n_epochs=2, dtype=np.float64, random_state=3).fit(small)


@pytest.fixture(scope="module")
def hybrid_model(small):
    return Hybrid(n_factors=4, hidden=(5,), n_epochs=2, dtype=np.float64, random_state=3).fit(small)


def finite_difference_attributions(network, inputs, parts, h=1e-6):
    """x_f * (s(x + h e_f) - s(x - h e_f)) / 2h for every named feature, in the order of parts."""
    network.eval()
    values = []
    for path, _, names in parts:
        x = inputs
        for position in path:
            x = x[position]
        for f in range(len(names)):
            original = x[0, f]
            x[0, f] = original + h
            up = network.forward(inputs)[0, 0]
            x[0, f] = original - h
            down = network.forward(inputs)[0, 0]
            x[0, f] = original
            values.append(original * (up - down) / (2 * h))
    return np.array(values)


@settings(max_examples=10, deadline=None)
@given(user=st.integers(0, 39), item=st.integers(0, 29), which=st.sampled_from(["content", "hybrid"]))
def test_gradient_x_input_matches_finite_differences(content_model, hybrid_model, user, item, which):
    model = content_model if which == "content" else hybrid_model
    inputs, parts = model._explained_inputs(np.array([user]), np.array([item]))
    score, labels, values, _ = attribute_features(model.network_, inputs, parts)
    expected = finite_difference_attributions(model.network_, inputs, parts)
    np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-7)
    assert score == pytest.approx(model.score_pairs([user], [item])[0], rel=1e-10)
    names = [name for _, prefix, features in parts for name in features]
    assert [label.split(": ", 1)[1] for label in labels] == names


def test_explaining_leaves_the_model_as_it_was(hybrid_model, small):
    before = hybrid_model.predict(small.user_ids[:5], small.item_ids[:5])
    hybrid_model.explain(small.user_ids[0], small.item_ids[0])
    assert not hybrid_model.network_.training
    assert all(not np.any(g) for g in hybrid_model.network_.grads.values() if isinstance(g, np.ndarray))
    np.testing.assert_array_equal(hybrid_model.predict(small.user_ids[:5], small.item_ids[:5]), before)


@settings(max_examples=20, deadline=None)
@given(d=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_completeness_of_a_linear_network(d, seed):
    rng = np.random.default_rng(seed)
    network = Dense(d, 1, rng=rng, dtype=np.float64)
    network.params["b"][:] = rng.normal(size=1)
    x = rng.normal(size=(1, d))
    score, _, values, baseline = attribute_features(network, x, [((), "x", list("abcdef"[:d]))])
    assert baseline == pytest.approx(network.params["b"][0])
    assert values.sum() == pytest.approx(score - baseline, abs=1e-12)


def test_completeness_of_a_content_model_linear_in_its_features(small):
    model = ContentBased(hidden=(), n_epochs=1, dtype=np.float64).fit(small)
    n_content = len(model.item_feature_names_) + 1  # + popularity
    weights = model.network_.layers[1].layers[0].params["W"]  # Dense(3 C + F, 1)
    match_rows = slice(2 * n_content, 3 * n_content)  # the p * c block: products of inputs
    nonlinear = model.explain(small.user_ids[2], small.item_ids[4], n=100)
    gap = sum(all_values(nonlinear).values()) - (nonlinear.score - nonlinear.baseline)
    weights[match_rows] = 0  # without it the score is linear in p, c and z
    linear = model.explain(small.user_ids[2], small.item_ids[4], n=100)
    assert sum(all_values(linear).values()) == pytest.approx(linear.score - linear.baseline, abs=1e-10)
    assert abs(gap) > 1e-6  # the products break completeness: the test can tell


def test_a_planted_genre_drives_the_attribution():
    """Synthetic data with 4 genres and no popularity skew: for users whose history is mostly
    genre g, the recommended items that carry g and another genre the user rarely watches owe
    more to g than to the other genre."""
    data = load("synthetic", n_users=300, n_items=120, n_interactions=6000, n_genres=4, seed=0,
                popularity_exponent=0.0)
    model = ContentBased(hidden=(16,), n_epochs=5, random_state=0).fit(data)
    genres = data.item_features
    n_cases = n_top_overall = 0
    for user in range(0, 300, 3):
        profile = genres[user_items(model, user)].mean(axis=0)
        g = int(profile.argmax())
        recommended = data.item_to_index(model.recommend(data.user_ids[user], k=5)[0])
        for item in recommended:
            others = [h for h in np.flatnonzero(genres[item]) if h != g]
            if not genres[item, g] or not others or profile[g] < 0.6 or profile[others].max() > 0.25:
                continue
            values = all_values(model.explain(data.user_ids[user], data.item_ids[item], n=100))
            item_values = {label: v for label, v in values.items() if label.startswith("item: ")}
            genre_values = {label: v for label, v in item_values.items() if "genre" in label}
            assert max(genre_values, key=genre_values.get) == f"item: genre_{g}"
            n_top_overall += max(item_values, key=item_values.get) == f"item: genre_{g}"
            n_cases += 1
    assert n_cases >= 10
    assert n_top_overall >= 0.75 * n_cases  # otherwise the item's popularity feature leads


# ---------------------------------------------------------------------- gradient x input of networks
SEQ_LEN = 6  # user index 5 of the tiny log has 4 train items: its context starts with 2 pads


@pytest.fixture(scope="module")
def networks(tiny):
    """Float64 fits of the models explained by gradient x input over their network's inputs."""
    return {
        "autorec": small_model(AutoRec).fit(tiny),
        "cdae": small_model(CDAE).fit(tiny),
        "caser": small_model(Caser, seq_len=SEQ_LEN).fit(tiny),
        "rnn": small_model(RNNRec, seq_len=SEQ_LEN).fit(tiny),
        "rnn-sampled": small_model(RNNRec, seq_len=SEQ_LEN, loss="sampled").fit(tiny),
    }


def rows_of(data, index, by="item"):
    """The train rows of one item (by="item") or one user (by="user")."""
    return np.flatnonzero(getattr(data, f"{by}_index") == index)


def every_entry(row):
    """A (1, D) array as SparseRows storing all D entries (zeros included)."""
    return SparseRows(np.array([0, row.shape[1]]), np.arange(row.shape[1]), row[0], row.shape[1])


def explained(model, data, user, item):
    """The full explanation of one index pair, as {label: value}, and its score."""
    explanation = model.explain(data.user_ids[user], data.item_ids[item], n=None)
    return dict(explanation.contributions), explanation.score


@pytest.mark.parametrize("user, item", [(0, 3), (4, 4), (5, 10)])
def test_autorec_credits_each_rater_with_rating_times_derivative(networks, tiny, user, item):
    """value(v) = r[v, i] * d r_hat[u, i] / d r[v, i], measured by finite differences on the
    item's column of ratings; one value per rater of the item, nobody else."""
    model = networks["autorec"]
    raters = rows_of(tiny, item)
    column = np.zeros((1, tiny.n_users))
    column[0, tiny.user_index[raters]] = tiny.ratings[raters]

    def score():  # every entry of the column stored, so that each can be perturbed
        return float(model.network_.score_all(every_entry(column))[0, user])

    derivative = numeric_gradient(score, column)
    values, explained_score = explained(model, tiny, user, item)
    expected = {f"user {tiny.user_ids[v]}'s rating": column[0, v] * derivative[0, v]
                for v in tiny.user_index[raters]}
    assert values == pytest.approx(expected, rel=1e-5, abs=1e-9)
    assert explained_score == pytest.approx(score(), rel=1e-12)
    assert explained_score == pytest.approx(model.score_items([user])[0, item], rel=1e-12)


@pytest.mark.parametrize("user, item", [(0, 3), (4, 4), (5, 10)])
def test_cdae_credits_each_click_with_its_derivative(networks, tiny, user, item):
    """value(j) = y[j] * dz[i] / dy[j] for the user's train items j (y[j] = 1), measured by
    finite differences on the user's row of clicks (no corruption at inference)."""
    model = networks["cdae"]
    clicks = np.zeros((1, tiny.n_items))
    items = tiny.item_index[rows_of(tiny, user, by="user")]
    clicks[0, items] = 1.0

    def score():
        return float(model.network_.score_all((every_entry(clicks), np.array([user])))[0, item])

    derivative = numeric_gradient(score, clicks)
    values, explained_score = explained(model, tiny, user, item)
    assert values == pytest.approx({f"item {tiny.item_ids[j]}": derivative[0, j] for j in items},
                                   rel=1e-5, abs=1e-9)
    assert explained_score == pytest.approx(model.score_items([user])[0, item], rel=1e-12)


def context_labels(model, data, user):
    """{position in the context: label} of the real (not padding) items of a user's context."""
    context = model.last_items_[user]
    return {p: f"item {data.item_ids[row]} ({len(context) - p} back)"
            for p, row in enumerate(context) if row != data.n_items}


@pytest.mark.parametrize("name", ["caser", "rnn", "rnn-sampled"])
@pytest.mark.parametrize("user, item", [(1, 3), (5, 10)])
def test_sequence_models_credit_each_context_item_with_row_times_gradient(networks, tiny, name,
                                                                          user, item):
    """value(item k back) = E[row] . ds/dE[row] for the embedding row E[row] the context read,
    the gradient measured by finite differences on the table (Caser: also the user's own
    embedding); the padding rows never appear."""
    model = networks[name]
    network = model.network_
    context = model.last_items_[[user]]
    if name == "caser":
        inputs, at = (context, np.array([user]), np.array([[item]])), (0, 0)
    elif name == "rnn":
        inputs, at = context, (0, SEQ_LEN - 1, item)
    else:  # sampled: the item is the one candidate of every step
        inputs, at = (context, np.full((1, SEQ_LEN, 1), item)), (0, SEQ_LEN - 1, 0)

    def score():
        return float(network.forward(inputs)[at])

    table = network.item_embedding.params["W"]
    gradient = numeric_gradient(score, table)
    labels = context_labels(model, tiny, user)
    expected = {label: table[context[0, p]] @ gradient[context[0, p]]
                for p, label in labels.items()}
    if name == "caser":
        user_table = network.user_embedding.params["W"]
        user_gradient = numeric_gradient(score, user_table)
        expected["the user's own embedding"] = user_table[user] @ user_gradient[user]
    values, explained_score = explained(model, tiny, user, item)
    assert values == pytest.approx(expected, rel=1e-5, abs=1e-9)
    assert explained_score == pytest.approx(model.score_items([user])[0, item], rel=1e-9)
    n_real = min(SEQ_LEN, len(rows_of(tiny, user, by="user")))
    assert len(labels) == n_real  # user 5: 4 real items of 6, the rest padding, never named


def test_autorec_never_names_a_user_who_chose_not_to_be_named(tiny):
    item = 3
    raters = tiny.user_index[rows_of(tiny, item)]
    hidden, asking = raters[0], next(u for u in range(tiny.n_users) if u not in raters)
    label = f"user {tiny.user_ids[hidden]}'s rating"
    plain = small_model(AutoRec).fit(tiny)
    private = small_model(AutoRec).fit(
        tiny, privacy=UserPrivacy(not_in_explanations=[tiny.user_ids[hidden]]))
    named, _ = explained(plain, tiny, asking, item)
    unnamed, _ = explained(private, tiny, asking, item)
    assert label in named and label not in unnamed
    assert unnamed == {key: value for key, value in named.items() if key != label}
    own, _ = explained(private, tiny, hidden, item)  # their own rating still explains their score
    assert label in own
    plain.set_privacy(UserPrivacy(not_in_explanations=[tiny.user_ids[hidden]]))
    assert explained(plain, tiny, asking, item)[0] == unnamed
