"""Issue 15, item 8: predict(..., unknown="baseline") answers the pairs a model cannot score with
a documented baseline and flags them; unknown="error" (the default) raises as before."""

import numpy as np
import pytest

from nanorec.data.interactions import Interactions
from nanorec.evaluation.protocols import evaluate
from nanorec.models.mf import BPRMF, BiasedMF
from nanorec.scoring import ColdStartError


@pytest.fixture(scope="module")
def log():
    """Users 1..20 x items 101..115 with ratings; user 21 and item 116 are in the vocabulary
    without a train row."""
    rng = np.random.default_rng(0)
    pairs = {(u, i) for u, i in zip(rng.integers(1, 21, 400), rng.integers(101, 116, 400))}
    users, items = np.array(sorted(pairs)).T
    return Interactions.from_arrays(users, items, rng.integers(1, 6, len(users)),
                                    user_ids=np.arange(1, 22), item_ids=np.arange(101, 117))


def test_issue15_8_rating_models_answer_unknown_pairs_with_the_mean_train_rating(log):
    model = BiasedMF(n_factors=3, n_epochs=2).fit(log)
    users = np.array([1, 99, 2, 21, 3])  # 99: not in the vocabulary; 21: no train rows
    items = np.array([101, 102, 999, 103, 116])  # 999: not in the vocabulary; 116: no rows
    with pytest.raises(KeyError, match="unknown user id 99"):
        model.predict(users, items)  # the default, as before
    with pytest.raises(ColdStartError):
        model.predict([21], [101])
    scores, flags = model.predict(users, items, unknown="baseline", return_flags=True)
    assert flags.tolist() == [False, True, True, True, True]
    np.testing.assert_allclose(scores[flags], float(log.ratings.mean()), rtol=1e-6)
    assert model.baseline_score() == pytest.approx(float(log.ratings.mean()), rel=1e-6)
    assert scores[0] == model.predict([1], [101])[0]
    assert model.predict([1], [101], unknown="baseline").shape == (1,)


def test_issue15_8_ranking_models_answer_with_their_mean_train_pair_score(log):
    model = BPRMF(n_factors=3, n_epochs=2).fit(log)
    train_users = log.user_ids[log.user_index]
    train_items = log.item_ids[log.item_index]
    expected = model.predict(train_users, train_items).mean()  # < BASELINE_PAIRS: all of them
    scores, flags = model.predict([1, 42], [101, 101], unknown="baseline", return_flags=True)
    assert flags.tolist() == [False, True]
    assert scores[1] == pytest.approx(expected, rel=1e-9)


def test_issue15_8_unknown_must_be_error_or_baseline(log):
    model = BiasedMF(n_factors=3, n_epochs=1).fit(log)
    with pytest.raises(ValueError, match="unknown must be one of 'error', 'baseline', got 'skip'"):
        model.predict([1], [101], unknown="skip")


def test_issue15_8_evaluate_counts_the_rows_answered_by_the_baseline(log):
    model = BiasedMF(n_factors=3, n_epochs=2).fit(log)
    rows = [(1, 116, 5.0), (21, 101, 1.0), (2, 101, 4.0), (3, 102, 2.0)]  # 2 rows can't be scored
    test = Interactions.from_arrays(*map(np.array, zip(*rows)), user_ids=log.user_ids,
                                    item_ids=log.item_ids)
    skipped = evaluate(model, test, metrics=["rmse"])  # the default leaves cold users out
    assert skipped.n_baseline == 0 and "baseline" not in skipped.summary()
    result = evaluate(model, test, metrics=["rmse", "mae"], unknown="baseline")
    assert result.n_baseline == 2 and result.baseline == pytest.approx(log.ratings.mean())
    assert "2 test rows the model cannot score got the baseline" in str(result)
    predicted = np.r_[model.baseline_score(), model.baseline_score(),
                      model.predict([2, 3], [101, 102])]
    truth = np.array([5.0, 1.0, 4.0, 2.0])
    assert result["rmse"] == pytest.approx(np.sqrt(np.mean((predicted - truth) ** 2)), rel=1e-6)
    with pytest.raises(ValueError, match="unknown must be one of 'skip', 'baseline'"):
        evaluate(model, test, metrics=["rmse"], unknown="error")
