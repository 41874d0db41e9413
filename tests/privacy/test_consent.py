"""opt_out and forget: the user leaves the rows and the vocabularies (with the items only they
had), exact forgetting equals a fit from scratch without them, approximate forgetting is
BiasedMF.finetune, and no trace reaches the file."""

import copy
import warnings

import numpy as np
import pytest

from nanorec.data.interactions import Interactions
from nanorec.data.split import holdout
from nanorec.models.base import Recommender
from nanorec.models.mf import BiasedMF
from nanorec.privacy.consent import forget, opt_out
from nanorec.privacy.federated import FederatedMF

FORGOTTEN = "user-0000@mail.example"  # the only user who rated "film-only-0"
OPTIONS = dict(n_factors=3, n_epochs=5, random_state=7, dtype=np.float64)


def test_opt_out_removes_rows_vocabulary_and_exclusive_items(rated):
    leaving = [FORGOTTEN, "user-0003@mail.example"]
    kept = opt_out(rated, leaving)
    assert set(kept.user_ids.tolist()) == set(rated.user_ids.tolist()) - set(leaving)
    assert len(kept) == len(rated) - np.isin(rated.user_ids[rated.user_index], leaving).sum()
    assert "film-only-0" not in kept.item_ids
    still_rated = set(kept.item_ids[kept.item_index].tolist())
    assert set(kept.item_ids.tolist()) == still_rated  # no other item was dropped
    raw = set(zip(rated.user_ids[rated.user_index].tolist(), rated.item_ids[rated.item_index].tolist(),
                  rated.ratings.tolist()))
    rows = set(zip(kept.user_ids[kept.user_index].tolist(), kept.item_ids[kept.item_index].tolist(),
                   kept.ratings.tolist()))
    assert rows == {row for row in raw if row[0] not in leaving}


def test_opt_out_keeps_ids_that_never_had_rows_and_cuts_features():
    data = Interactions.from_arrays(
        ["a", "b", "b"], ["x", "x", "y"], ratings=[1.0, 2.0, 3.0], user_ids=["a", "b", "c"],
        item_ids=["x", "y", "z"], user_features=[[1.0], [2.0], [3.0]], item_features=[[1.0], [2.0], [3.0]])
    kept = opt_out(data, "b")
    assert kept.user_ids.tolist() == ["a", "c"] and kept.item_ids.tolist() == ["x", "z"]
    assert kept.user_features[:, 0].tolist() == [1.0, 3.0] and kept.item_features[:, 0].tolist() == [1.0, 3.0]
    with pytest.raises(KeyError, match="unknown user id"):
        opt_out(data, "nobody")


def test_exact_forget_equals_a_fit_from_scratch_without_the_user(log, rated, tmp_path):
    model = BiasedMF(**OPTIONS).fit(rated)
    result = forget(model, rated, FORGOTTEN)
    assert result.mode == "exact" and result.seconds > 0
    users, items, ratings = log
    others = users != FORGOTTEN
    scratch = BiasedMF(**OPTIONS).fit(Interactions.from_arrays(users[others], items[others], ratings[others]))
    for name in ("user_ids_", "item_ids_", "user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        np.testing.assert_array_equal(getattr(result.model, name), getattr(scratch, name))
    assert result.model.global_mean_ == scratch.global_mean_

    path = result.model.save(tmp_path / "forgotten")
    data = open(path, "rb").read()
    for text in (FORGOTTEN, "film-only-0"):
        assert all(pattern not in data for pattern in (text.encode(), text.encode("utf-32-le")))
    assert FORGOTTEN.encode("utf-32-le") in open(model.save(tmp_path / "before"), "rb").read()
    loaded = Recommender.load(path)
    with pytest.raises(KeyError, match=f"unknown user id '{FORGOTTEN}'"):
        loaded.recommend(FORGOTTEN)
    with pytest.raises(KeyError, match="unknown item id 'film-only-0'"):
        loaded.predict(["user-0001@mail.example"], ["film-only-0"])


def test_exact_forget_works_for_any_model_class(rated):
    model = FederatedMF(n_rounds=3, client_fraction=0.5).fit(rated)
    result = forget(model, rated, FORGOTTEN)
    assert type(result.model) is FederatedMF and result.model.get_params() == model.get_params()
    assert FORGOTTEN not in result.model.user_ids_


def test_approximate_forget_drops_the_user_and_fine_tunes(rated):
    model = BiasedMF(**OPTIONS).fit(rated)
    result = forget(model, rated, FORGOTTEN, mode="approximate", finetune_epochs=2)
    new = result.model
    assert result.mode == "approximate" and FORGOTTEN not in new.user_ids_
    assert "film-only-0" not in new.item_ids_
    assert new.global_mean_ == pytest.approx(float(result.train.ratings.mean()))
    assert len(new.history_["loss"]) == 2
    kept_user = "user-0001@mail.example"
    old_row = model.user_factors_[model.user_index([kept_user])[0]]
    new_row = new.user_factors_[new.user_index([kept_user])[0]]
    assert 0 < np.abs(new_row - old_row).max() < 0.5  # started from the old parameters
    untuned = forget(model, rated, FORGOTTEN, mode="approximate", finetune_epochs=0).model
    np.testing.assert_array_equal(untuned.user_factors_[new.user_index([kept_user])[0]], old_row)
    with pytest.raises(KeyError, match="unknown user id"):
        new.recommend(FORGOTTEN)


def test_forget_checks_its_arguments(rated):
    model = BiasedMF(**OPTIONS).fit(rated)
    with pytest.raises(ValueError, match="mode"):
        forget(model, rated, FORGOTTEN, mode="fast")
    with pytest.raises(KeyError, match="unknown user id"):
        forget(model, rated, "nobody")
    other = opt_out(rated, "user-0005@mail.example")
    with pytest.raises(ValueError, match="not the data the model was fitted on"):
        forget(model, other, FORGOTTEN)
    federated = FederatedMF(n_rounds=1).fit(rated)
    with pytest.raises(ValueError, match="BiasedMF only"):
        forget(federated, rated, FORGOTTEN, mode="approximate")


def test_forget_on_a_split_keeps_the_vocabulary_of_the_others(rated):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train, _ = holdout(rated, 0.3, seed=1)
    result = forget(BiasedMF(**OPTIONS).fit(train), train, FORGOTTEN)
    assert result.train.n_users == train.n_users - 1


# ---------------------------------------------------------------------- issue 13
def test_issue13_approximate_forget_fine_tunes_with_the_tail_weights(rated):
    model = BiasedMF(**OPTIONS, tail_weight=0.8).fit(rated)
    result = forget(model, rated, FORGOTTEN, mode="approximate", finetune_epochs=2)
    finetuned = copy.deepcopy(model).finetune(result.train, 2)
    for name in ("user_ids_", "item_ids_", "user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        np.testing.assert_array_equal(getattr(result.model, name), getattr(finetuned, name))
    assert result.model.global_mean_ == finetuned.global_mean_
    assert result.model.history_ == finetuned.history_
    unweighted = copy.deepcopy(model)  # forget before issue 13: the SGD epochs without the weights
    unweighted.tail_weight = 0.0
    unweighted.finetune(result.train, 2)
    assert np.abs(result.model.item_factors_ - unweighted.item_factors_).max() > 1e-6
    assert result.model.tail_weight == 0.8  # the fine-tuned model keeps its hyperparameters


def test_issue13_exact_forget_of_an_early_stopped_model_refits_its_best_epochs(rated):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train, valid = holdout(rated, 0.2, seed=1)
    options = {**OPTIONS, "n_epochs": 40}
    model = BiasedMF(**options, early_stopping=2).fit(train, valid)
    assert len(model.history_["loss"]) > model.best_epoch_ + 1  # it did stop early, on valid
    result = forget(model, train, FORGOTTEN)
    assert result.mode == "exact" and FORGOTTEN not in result.model.user_ids_
    assert result.model.n_epochs == model.best_epoch_ + 1 and result.model.early_stopping is None
    scratch = BiasedMF(**{**options, "n_epochs": model.best_epoch_ + 1}).fit(opt_out(train, FORGOTTEN))
    for name in ("user_ids_", "item_ids_", "user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        np.testing.assert_array_equal(getattr(result.model, name), getattr(scratch, name))
    assert result.model.history_["loss"] == scratch.history_["loss"]
