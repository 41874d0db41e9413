"""The feature pipeline: each block against a brute-force reference, new rows on the fitted columns,
stable hashing across processes, save/load, attaching to an Interactions, and use by the models."""

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanorec.data.features import (
    Categorical,
    DenseVectors,
    FeaturePipeline,
    HashedText,
    Numeric,
    TfidfText,
    attach_features,
    word_bucket_and_sign,
)
from nanorec.data.interactions import Interactions
from nanorec.data.text import TfidfVectorizer
from nanorec.io import FormatError

GENRES = ["Action", "Comedy", "Drama", "Horror"]
category_rows = st.lists(
    st.one_of(st.none(), st.sampled_from(GENRES), st.lists(st.sampled_from(GENRES), max_size=3)),
    min_size=1, max_size=8,
)


def as_set(value):
    return set() if value is None else {value} if isinstance(value, str) else set(value)


@settings(max_examples=40, deadline=None)
@given(fitted=category_rows, new=category_rows)
def test_categorical_is_multi_hot_over_fitted_categories(fitted, new):
    seen = sorted(set().union(*map(as_set, fitted)))
    block = Categorical("genre")
    if not seen:
        with pytest.raises(ValueError, match="no category"):
            block.fit(fitted)
        return
    x = block.fit(fitted).transform(new)
    assert block.names() == [f"genre={g}" for g in seen]
    expected = [[float(g in as_set(row)) for g in seen] for row in new]  # unknown genres: no 1
    np.testing.assert_array_equal(x, expected)


def test_categorical_compares_by_string_and_refuses_other_values():
    block = Categorical("occupation", prefix="job_").fit([7, "writer", None, float("nan")])
    assert block.names() == ["job_7", "job_writer"]
    np.testing.assert_array_equal(block.transform(["7", "pilot"]), [[1, 0], [0, 0]])
    with pytest.raises(TypeError, match="row 1 holds a dict"):
        block.transform(["7", {"a": 1}])
    with pytest.raises(RuntimeError, match="not fitted"):
        Categorical("genre").transform(["Action"])


@settings(max_examples=40, deadline=None)
@given(fitted=st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=10),
       new=st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=5))
def test_numeric_standardizes_with_the_fitted_mean_and_std(fitted, new):
    block = Numeric("year").fit(fitted)
    mean, std = np.mean(fitted), np.std(fitted)
    expected = (np.array(new) - mean) / (std if std > 0 else 1.0)
    np.testing.assert_allclose(block.transform(new)[:, 0], expected, rtol=1e-9, atol=1e-9)
    assert block.names() == ["year"]


def test_numeric_missing_values_raise_or_are_filled():
    with pytest.raises(ValueError, match=r"missing value \(NaN\) at row 1; pass fill="):
        Numeric("age").fit([20.0, np.nan, 40.0])
    by_mean = Numeric("age", fill="mean").fit([20.0, None, 40.0])  # mean 30 and std 10 of the present
    np.testing.assert_allclose(by_mean.transform([np.nan, 50.0])[:, 0], [0.0, 2.0])
    by_number = Numeric("age", fill=10.0).fit([20.0, 40.0])
    np.testing.assert_allclose(by_number.transform([None])[:, 0], [-2.0])
    with pytest.raises(ValueError, match="infinite value at row 0"):
        by_number.transform([np.inf])
    with pytest.raises(ValueError, match="fill must be None, 'mean' or a finite number"):
        Numeric("age", fill="median")
    with pytest.raises(TypeError, match="values must be numbers"):
        Numeric("age").fit(["old"])


def reference_hashing(text, n_buckets):
    """Signed word counts from the digest read digit by digit (an independent route to the same
    BLAKE2b hash), then unit length."""
    row = np.zeros(n_buckets)
    for word in text.lower().split():
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        h = sum(byte * 256**position for position, byte in enumerate(digest))
        row[h % n_buckets] += -1.0 if h >= 2**63 else 1.0
    norm = np.linalg.norm(row)
    return row / norm if norm > 0 else row


@settings(max_examples=40, deadline=None)
@given(texts=st.lists(st.lists(st.sampled_from(["love", "war", "star", "night", "ghost"]),
                               max_size=6).map(" ".join), min_size=1, max_size=6),
       n_buckets=st.integers(1, 16))
def test_hashed_text_matches_reference(texts, n_buckets):
    block = HashedText("title", n_buckets=n_buckets).fit(texts)
    expected = np.array([reference_hashing(text, n_buckets) for text in texts])
    np.testing.assert_allclose(block.transform(texts), expected, atol=1e-12)
    assert block.names()[-1] == f"title#{n_buckets - 1}"


def test_hashing_is_the_same_in_another_process_with_another_hash_seed():
    words = ["love", "war", "amélie", "star"]
    here = [word_bucket_and_sign(word, 1000) for word in words]
    code = ("from nanorec.data.features import word_bucket_and_sign as f; "
            f"print([f(w, 1000) for w in {words!r}])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert out.stdout.strip() == str(here)


def test_hashed_text_checks_its_input():
    with pytest.raises(ValueError, match="n_buckets must be an integer >= 1"):
        HashedText("title", n_buckets=0)
    with pytest.raises(TypeError, match="row 1 is a int"):
        HashedText("title").transform(["ok", 3])


def test_tfidf_text_is_the_vectorizer_with_prefixed_names():
    titles = ["Star Wars", "Star Trek", "Love Story"]
    block = TfidfText("title").fit(titles)
    expected = TfidfVectorizer(dtype=np.float64).fit_transform(titles)
    np.testing.assert_allclose(block.transform(titles), expected)
    assert block.names() == ["title:love", "title:star", "title:story", "title:trek", "title:wars"]


def test_dense_vectors_are_shape_checked_and_optionally_unit_length():
    vectors = np.array([[3.0, 4.0], [0.0, 0.0]])
    block = DenseVectors("emb", normalize=True).fit(vectors)
    np.testing.assert_allclose(block.transform(vectors), [[0.6, 0.8], [0.0, 0.0]])
    assert block.names() == ["emb[0]", "emb[1]"]
    np.testing.assert_array_equal(DenseVectors("emb").fit(vectors).transform(vectors), vectors)
    with pytest.raises(ValueError, match="vectors of 3 numbers, fitted on 2"):
        block.transform(np.ones((1, 3)))
    with pytest.raises(ValueError, match="NaN or infinite"):
        block.transform([[np.nan, 1.0]])
    with pytest.raises(ValueError, match=r"expected shape \(N, D\)"):
        block.fit(np.ones(3))


# ---------------------------------------------------------------------- the pipeline
ITEMS = {
    "id": [30, 10, 20, 40],
    "title": ["Star Wars", "Love Story", "Star Trek", "Ghost Story"],
    "genre": [["Action", "SciFi"], "Drama", "SciFi", "Horror"],
    "year": [1977.0, 1970.0, 1979.0, 1990.0],
    "emb": np.arange(8.0).reshape(4, 2) + 1,
}


def make_pipeline():
    return FeaturePipeline([Categorical("genre"), TfidfText("title"), HashedText("title", 4),
                            Numeric("year"), DenseVectors("emb", normalize=True)])


def test_pipeline_puts_the_blocks_side_by_side():
    pipeline = make_pipeline()
    x = pipeline.fit_transform(ITEMS)
    blocks = [block.transform(ITEMS[block.column]) for block in pipeline.columns]
    np.testing.assert_allclose(x, np.hstack(blocks), rtol=1e-6)
    assert x.dtype == np.float32 and x.shape == (4, len(pipeline.names_))
    assert pipeline.names_[:4] == ["genre=Action", "genre=Drama", "genre=Horror", "genre=SciFi"]
    assert "title:love" in pipeline.names_ and "title#3" in pipeline.names_
    assert pipeline.names_[-3:] == ["year", "emb[0]", "emb[1]"]


def test_pipeline_errors_name_the_problem():
    with pytest.raises(TypeError, match="non-empty list of FeatureColumn"):
        FeaturePipeline([])
    with pytest.raises(KeyError, match="no column 'genre'"):
        make_pipeline().fit({"title": ITEMS["title"]})
    with pytest.raises(ValueError, match="different lengths"):
        make_pipeline().fit({**ITEMS, "year": [1.0]})
    with pytest.raises(ValueError, match="column names repeat, e.g. 'title:ghost'"):
        FeaturePipeline([TfidfText("title"), TfidfText("title")]).fit(ITEMS)
    with pytest.raises(RuntimeError, match="not fitted"):
        make_pipeline().transform(ITEMS)


def test_pipeline_save_load_transforms_new_rows_identically(tmp_path):
    pipeline = make_pipeline().fit(ITEMS)
    new = {"title": ["Star Ghost", "Unknown Words"], "genre": ["Horror", "Western"],
           "year": [2000.0, 1950.0], "emb": [[1.0, 0.0], [2.0, 2.0]]}
    loaded = FeaturePipeline.load(pipeline.save(tmp_path / "features"))
    assert loaded.names_ == pipeline.names_
    np.testing.assert_array_equal(loaded.transform(new), pipeline.transform(new))
    np.testing.assert_array_equal(pipeline.transform(new)[1, :4], 0)  # an unknown genre: zeros
    with pytest.raises(RuntimeError, match="nothing to save"):
        make_pipeline().save(tmp_path / "unfitted")
    not_a_pipeline = tmp_path / "other.npz"
    np.savez(not_a_pipeline, x=np.zeros(2))
    with pytest.raises(FormatError):
        FeaturePipeline.load(not_a_pipeline)


def test_pipeline_reads_a_dataframe():
    pd = pytest.importorskip("pandas")
    table = {key: value for key, value in ITEMS.items() if key != "emb"}
    pipeline = FeaturePipeline([Categorical("genre"), Numeric("year"), TfidfText("title")])
    np.testing.assert_array_equal(pipeline.fit_transform(pd.DataFrame(table)),
                                  pipeline.fit_transform(table))


# ---------------------------------------------------------------------- attaching to Interactions
@pytest.fixture
def log():
    """Items 10, 20, 30 have rows; item 40 (in the vocabulary) has none: it is cold."""
    return Interactions.from_arrays([1, 1, 2], [10, 20, 30], item_ids=[10, 20, 30, 40],
                                    item_features=np.ones((4, 1)), item_feature_names=["bias"],
                                    user_features=[[0.5], [1.0]], user_feature_names=["age"])


def test_attach_features_fits_on_interacted_items_and_transforms_the_cold_ones(log):
    pipeline = FeaturePipeline([Categorical("genre"), TfidfText("title"), Numeric("year")])
    data = attach_features(log, pipeline, ITEMS, kind="item", ids=ITEMS["id"])
    assert "genre=Horror" not in data.item_feature_names  # only item 40, the cold one, is Horror
    assert "title:ghost" not in data.item_feature_names
    assert pipeline.columns[2].mean_ == pytest.approx(np.mean([1970.0, 1979.0, 1977.0]))
    in_vocabulary_order = {key: [values[ITEMS["id"].index(i)] for i in (10, 20, 30, 40)]
                           for key, values in ITEMS.items() if key != "emb"}
    np.testing.assert_array_equal(data.item_features, pipeline.transform(in_vocabulary_order))
    assert data.item_features[3, :3].sum() == 0  # cold item: no known genre
    np.testing.assert_array_equal(data.user_features, log.user_features)
    np.testing.assert_array_equal(data.item_ids, log.item_ids)
    np.testing.assert_array_equal(data.item_index, log.item_index)
    appended = attach_features(log, pipeline, ITEMS, ids=ITEMS["id"], fit_on="all", append=True)
    assert appended.item_feature_names[0] == "bias" and "genre=Horror" in appended.item_feature_names


def test_attach_features_user_side_and_errors(log):
    pipeline = FeaturePipeline([Numeric("age")])
    data = attach_features(log, pipeline, {"age": [20.0, 40.0]}, kind="user")
    assert data.user_feature_names == ["age"] and data.item_feature_names == ["bias"]
    np.testing.assert_allclose(data.user_features[:, 0], [-1.0, 1.0])
    with pytest.raises(ValueError, match="3 rows for 2 users; pass ids="):
        attach_features(log, pipeline, {"age": [1.0, 2.0, 3.0]}, kind="user")
    with pytest.raises(KeyError, match="1 user id.*no table row, e.g. 2"):
        attach_features(log, pipeline, {"age": [1.0, 2.0]}, kind="user", ids=[1, 5])
    with pytest.raises(ValueError, match="ids repeat 1 id"):
        attach_features(log, pipeline, {"age": [1.0, 2.0]}, kind="user", ids=[1, 1])
    with pytest.raises(ValueError, match="kind must be 'user' or 'item'"):
        attach_features(log, pipeline, {"age": [1.0, 2.0]}, kind="users")
    with pytest.raises(ValueError, match="fit_on must be one of"):
        attach_features(log, pipeline, {"age": [1.0, 2.0]}, kind="user", fit_on="train")
    with pytest.raises(TypeError, match="expects an Interactions"):
        attach_features({"not": "data"}, pipeline, {"age": [1.0]})


def test_models_score_a_new_item_from_pipeline_features_as_the_cold_item_it_copies(log):
    from nanorec.models.content import ContentBased, Hybrid

    pipeline = FeaturePipeline([Categorical("genre"), TfidfText("title"), Numeric("year")])
    data = attach_features(log, pipeline, ITEMS, kind="item", ids=ITEMS["id"])
    copy_of_40 = {key: [values[3]] for key, values in ITEMS.items()}  # item 40's table row
    for model in (Hybrid(n_epochs=1, n_factors=2, hidden=()), ContentBased(n_epochs=1, hidden=(2,))):
        model.fit(data)
        assert model.item_feature_names_ == pipeline.names_
        new = model.score_new_items([1, 2], pipeline.transform(copy_of_40))[:, 0]
        np.testing.assert_allclose(new, model.predict([1, 2], [40, 40]), rtol=1e-5)
