"""save -> load gives the same model; files of another model, version or a broken file fail clearly."""

import json

import numpy as np
import pytest

from nanorec.data.interactions import Interactions
from nanorec.io import FormatError, save_arrays
from nanorec.models.base import Recommender
from nanorec.models.baselines import Popularity
from nanorec.models.mf import BiasedMF, BPRMF
from nanorec.models.neural import MatrixFactorization, NeuMF


@pytest.fixture(scope="module")
def ratings():
    rng = np.random.default_rng(0)
    users = rng.integers(0, 30, 600)
    items = rng.integers(0, 40, 600)
    keep = np.unique(users * 100 + items, return_index=True)[1]
    raw_users = np.array([f"u{u}" for u in users[keep]])  # string raw ids survive the round trip
    return Interactions.from_arrays(raw_users, items[keep] + 1000, rng.integers(1, 6, len(keep)))


MODELS = [
    lambda: Popularity(),
    lambda: BiasedMF(n_factors=4, n_epochs=3),
    lambda: BPRMF(n_factors=4, n_epochs=3),
    lambda: MatrixFactorization(n_factors=4, n_epochs=2, implicit=True),
    lambda: NeuMF(n_factors=4, layers=(8, 4), n_epochs=2, implicit=True),
]


@pytest.mark.parametrize("make_model", MODELS)
def test_round_trip_gives_identical_recommendations(make_model, ratings, tmp_path):
    model = make_model().fit(ratings)
    path = model.save(tmp_path / "model")
    loaded = Recommender.load(path)
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    users = ratings.user_ids[:5]
    np.testing.assert_array_equal(loaded.recommend(users, k=5)[0], model.recommend(users, k=5)[0])
    np.testing.assert_allclose(loaded.recommend(users, k=5)[1], model.recommend(users, k=5)[1])
    items = ratings.item_ids[:5]
    np.testing.assert_allclose(loaded.predict(users, items), model.predict(users, items))


def test_loading_a_file_of_another_model_fails_clearly(ratings, tmp_path):
    path = Popularity().fit(ratings).save(tmp_path / "pop.npz")
    with pytest.raises(FormatError, match="holds a Popularity, not a BiasedMF"):
        BiasedMF.load(path)


def test_unfitted_model_cannot_be_saved(tmp_path):
    with pytest.raises(RuntimeError, match="not fitted"):
        BiasedMF().save(tmp_path / "m.npz")


def test_truncated_model_file_fails_clearly(ratings, tmp_path):
    path = BiasedMF(n_factors=4, n_epochs=1).fit(ratings).save(tmp_path / "m.npz")
    data = open(path, "rb").read()
    open(path, "wb").write(data[:-100])
    with pytest.raises(FormatError, match="truncated or corrupt"):
        BiasedMF.load(path)


def test_a_model_file_of_format_1_asks_for_a_new_fit(ratings, tmp_path):
    """Format 1 models (before models were networks) held their factors as attributes: a clear
    refusal, not an AttributeError deep in the loader."""
    model = BiasedMF(n_factors=4, n_epochs=1).fit(ratings)
    arrays, header = model._state()
    path = save_arrays(tmp_path / "old.npz", "BiasedMF", arrays, **header)
    with np.load(path) as archive:
        members = dict(archive)
    document = json.loads(members["__header__"].tobytes())
    members["__header__"] = np.frombuffer(json.dumps({**document, "version": 1}).encode(), np.uint8)
    np.savez(path, **members)
    with pytest.raises(FormatError, match="file format 1, saved before nanorec's models were networks"):
        Recommender.load(path)
