"""Users' privacy choices: opting out before training, and being forgotten after it.

opt_out(data, user_ids)
    The log without those users: their rows are dropped, they leave the user vocabulary (with
    their feature rows), and so does every item that only they had rated (keeping it would tell
    that one of them had it). Ids without rows to begin with stay. A model fitted on the result
    never learns a parameter for them.

forget(model, train, user_id, mode="exact")
    Machine unlearning of one user from a fitted model.
    exact        theta' = fit(train without the user), from scratch with the same class,
                 hyperparameters and seed: exactly the model that would exist had the user never
                 been there. Cost: one full fit. A model fitted with early stopping is refitted
                 for the epochs early stopping kept (best_epoch_ + 1): forget has no validation
                 data to stop on.
    approximate  (BiasedMF only) BiasedMF.finetune on the log without the user: drop the user's
                 row of P and b_u (and the items only they had), recompute mu and the rating
                 range, then ``finetune_epochs`` of BiasedMF's SGD (weighted as its fit) on the
                 remaining ratings from the current parameters. Cheaper, but NOT exact:
                 the other parameters still carry what the user's ratings taught them, slowly
                 washed out by fine-tuning (Bourtoule et al. 2021 discuss why only retraining
                 guarantees removal). The result says which mode was used.
Both return a ForgetResult(model, train, seconds, mode): the new model, the new train log (use it,
not the old one, from now on), the wall-clock cost and the mode.
Reference: Bourtoule et al. (2021), "Machine unlearning"; GDPR article 17 (right to erasure).
"""

import copy
import time
from typing import NamedTuple

import numpy as np

from nanorec import _checks
from nanorec.data.interactions import Interactions
from nanorec.models.base import Recommender
from nanorec.models.mf import BiasedMF

FORGET_MODES = ("exact", "approximate")


class ForgetResult(NamedTuple):
    model: Recommender  # the model without the user
    train: Interactions  # the train log without the user
    seconds: float  # wall-clock cost of unlearning
    mode: str  # "exact" or "approximate"


def opt_out(data, user_ids):
    """``data`` without the rows, the vocabulary entries and the exclusive items of ``user_ids``.

    Parameters
    ----------
    data : Interactions
    user_ids : a raw user id or a sequence of them (KeyError if one is unknown)

    Returns
    -------
    Interactions with U - len(user_ids) users; row order, ratings, timestamps and the remaining
    feature rows kept.
    """
    if not isinstance(data, Interactions):
        raise TypeError(f"opt_out expects an Interactions, got {type(data).__name__}")
    leaving = np.zeros(data.n_users, dtype=bool)
    leaving[data.user_to_index(np.atleast_1d(np.asarray(user_ids)))] = True
    kept_rows = ~leaving[data.user_index]
    rows_before = np.bincount(data.item_index, minlength=data.n_items)
    rows_after = np.bincount(data.item_index[kept_rows], minlength=data.n_items)
    kept_items = (rows_before == 0) | (rows_after > 0)
    return _restrict(data, kept_rows, ~leaving, kept_items)


def _restrict(data, rows, users, items):
    """The Interactions of the kept rows, with vocabularies (and features) cut to the kept users
    and items (bool masks (U,), (I,)); indices renumbered in the same order."""
    new_user_index = np.cumsum(users) - 1  # old index -> new index, valid where kept
    new_item_index = np.cumsum(items) - 1

    def cut(features, kept):
        return None if features is None else features[kept]

    return Interactions(
        new_user_index[data.user_index[rows]], new_item_index[data.item_index[rows]],
        data.user_ids[users], data.item_ids[items],
        None if data.ratings is None else data.ratings[rows],
        None if data.timestamps is None else data.timestamps[rows],
        cut(data.user_features, users), data.user_feature_names,
        cut(data.item_features, items), data.item_feature_names,
        check_duplicates=False,
    )


def forget(model, train, user_id, mode="exact", finetune_epochs=2):
    """Unlearn ``user_id`` from ``model`` fitted on ``train`` (see the module docstring).

    Parameters
    ----------
    model : fitted Recommender (approximate mode: a BiasedMF)
    train : Interactions the model was fitted on (same vocabularies)
    user_id : raw id of the user to forget (KeyError if unknown)
    mode : {"exact", "approximate"}
    finetune_epochs : int
        Approximate mode: SGD epochs over the remaining ratings.

    Returns
    -------
    ForgetResult(model, train, seconds, mode)
    """
    if mode not in FORGET_MODES:
        raise ValueError(f"forget: mode must be one of {FORGET_MODES}, got {mode!r}")
    if not hasattr(model, "user_ids_"):
        raise RuntimeError(f"forget: {type(model).__name__} is not fitted")
    if len(model.user_ids_) != train.n_users or np.any(model.user_ids_ != train.user_ids):
        raise ValueError("forget: train is not the data the model was fitted on (other user vocabulary)")
    start = time.perf_counter()
    new_train = opt_out(train, [user_id])
    if mode == "exact":
        params = model.get_params()
        if params.get("early_stopping") is not None:  # no validation data: keep its epochs
            params.update(n_epochs=model.best_epoch_ + 1, early_stopping=None)
        new_model = type(model)(**params).fit(new_train)
    else:
        if type(model) is not BiasedMF:
            raise ValueError(f"forget: approximate mode supports BiasedMF only, not "
                             f"{type(model).__name__} (use mode='exact')")
        n_epochs = _checks.integer(finetune_epochs, "finetune_epochs", "forget", low=0)
        new_model = copy.deepcopy(model).finetune(new_train, n_epochs)
    return ForgetResult(new_model, new_train, time.perf_counter() - start, mode)
