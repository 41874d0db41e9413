"""TF-IDF of item texts: equal to a brute-force reference, unit rows, vocabulary rules, and
appending text columns to an Interactions."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanorec.data.interactions import Interactions
from nanorec.data.features import add_item_text
from nanorec.data.text import ENGLISH_STOP_WORDS, TfidfVectorizer, tokenize

WORDS = ["love", "war", "star", "night", "story", "dead", "the", "of"]
documents = st.lists(
    st.lists(st.sampled_from(WORDS), min_size=0, max_size=6).map(" ".join), min_size=1, max_size=8
)


def reference_tfidf(texts, min_df=1):
    """Brute force from the module docstring's formulas, with Python loops and dicts."""
    tokenized = [[w for w in t.lower().split() if w not in ENGLISH_STOP_WORDS] for t in texts]
    df = {}
    for words in tokenized:
        for word in set(words):
            df[word] = df.get(word, 0) + 1
    vocabulary = sorted(word for word, count in df.items() if count >= min_df)
    rows = []
    for words in tokenized:
        row = [words.count(w) * (math.log((1 + len(texts)) / (1 + df[w])) + 1) for w in vocabulary]
        norm = math.sqrt(sum(v * v for v in row))
        rows.append([v / norm if norm > 0 else 0.0 for v in row])
    return vocabulary, np.array(rows).reshape(len(texts), len(vocabulary))


@settings(max_examples=40, deadline=None)
@given(texts=documents, min_df=st.integers(1, 3))
def test_tfidf_matches_brute_force(texts, min_df):
    vocabulary, expected = reference_tfidf(texts, min_df)
    vectorizer = TfidfVectorizer(min_df=min_df, dtype=np.float64)
    if not vocabulary:
        with pytest.raises(ValueError, match="no word occurs"):
            vectorizer.fit(texts)
        return
    np.testing.assert_allclose(vectorizer.fit_transform(texts), expected, atol=1e-12)
    assert vectorizer.feature_names() == vocabulary
    norms = np.linalg.norm(vectorizer.transform(texts), axis=1)
    assert np.allclose(norms[norms > 0], 1.0)


def test_tokenize_keeps_words_of_two_or_more_letters():
    assert tokenize("Usual Suspects, The (1995)") == ["usual", "suspects"]
    assert tokenize("Amélie, 8 1/2 Women & a U-571 I") == ["amélie", "women"]
    assert tokenize("The Man", stop_words=None) == ["the", "man"]
    with pytest.raises(TypeError, match="expects a str"):
        tokenize(1995)


def test_transform_of_new_texts_uses_the_fitted_vocabulary():
    vectorizer = TfidfVectorizer().fit(["star wars", "star trek", "love story"])
    new = vectorizer.transform(["star wars: a new hope", "unknown words only", ""])
    columns = vectorizer.vocabulary_
    assert new.shape == (3, 5) and new.dtype == np.float32
    assert set(np.flatnonzero(new[0])) == {columns["star"], columns["wars"]}
    assert new[0, columns["wars"]] > new[0, columns["star"]]  # rarer word, larger idf
    assert not new[1].any() and not new[2].any()  # no known word: a row of zeros


def test_max_features_keeps_the_most_frequent_words_ties_alphabetical():
    texts = ["war peace", "war love", "war night", "love night", "star"]
    vectorizer = TfidfVectorizer(max_features=3).fit(texts)
    assert vectorizer.feature_names("title_") == ["title_love", "title_night", "title_war"]


def test_bad_input_raises_clear_errors():
    with pytest.raises(RuntimeError, match="not fitted"):
        TfidfVectorizer().transform(["a"])
    with pytest.raises(TypeError, match="sequence of strings"):
        TfidfVectorizer().fit("one string, not a list")
    with pytest.raises(TypeError, match="document 1 is a int"):
        TfidfVectorizer().fit(["ok", 3])
    with pytest.raises(ValueError, match="no documents"):
        TfidfVectorizer().fit([])
    with pytest.raises(ValueError, match="min_df"):
        TfidfVectorizer(min_df=0)
    with pytest.raises(ValueError, match="max_features"):
        TfidfVectorizer(max_features=0)


@pytest.fixture
def log_with_genres():
    return Interactions.from_arrays(
        [1, 1, 2], [10, 20, 30], ratings=[5, 3, 4],
        item_features=[[1, 0], [0, 1], [1, 1]], item_feature_names=["genre_a", "genre_b"],
        user_features=[[0.5], [1.0]], user_feature_names=["age"],
    )


def test_add_item_text_appends_named_columns(log_with_genres):
    titles = {10: "Star Wars", 20: "Star Trek", 30: "Love Story"}
    data = add_item_text(log_with_genres, titles)
    assert data.item_feature_names == ["genre_a", "genre_b", "title_love", "title_star",
                                       "title_story", "title_trek", "title_wars"]
    np.testing.assert_array_equal(data.item_features[:, :2], log_with_genres.item_features)
    expected = TfidfVectorizer().fit_transform(["Star Wars", "Star Trek", "Love Story"])
    np.testing.assert_allclose(data.item_features[:, 2:], expected)
    np.testing.assert_array_equal(data.ratings, log_with_genres.ratings)
    np.testing.assert_array_equal(data.user_features, log_with_genres.user_features)


def test_add_item_text_gives_missing_items_zero_rows_and_checks_lengths(log_with_genres):
    data = add_item_text(log_with_genres, {10: "Star Wars", 30: "Star Trek"})
    assert not data.item_features[1, 2:].any()
    with pytest.raises(ValueError, match="2 texts for 3 items"):
        add_item_text(log_with_genres, ["Star Wars", "Star Trek"])
    with pytest.raises(TypeError, match="expects an Interactions"):
        add_item_text({"not": "data"}, [])
