"""Autoencoders on MovieLens-100K (rows for bench_deep.py): AutoRec beside BiasedMF on ratings, CDAE
beside Popularity and BPRMF on top-N ranking.

Question: do the autoencoders, composed from nanorec.nn layers and trained with Adam, reach the
accuracy of the matrix-factorization models on the same splits, and at what fit time?

Protocols (one split each, seed 0)
    rating    holdout(data, test_size=0.1, seed=0): a random 10% of the ratings are test;
              RMSE and MAE of predict (clipped to [1, 5] by both models)
    ranking   leave_last_out(data): each user's latest rating is the test item, every rating a
              positive; HR@10 and NDCG@10 over the full ranking (every item not in the user's
              train history is a candidate; ties count against the model)

Hyperparameters of AutoRec and CDAE were chosen on validation splits carved out of the TRAIN part
only (a further 10% holdout of train with seed 1; leave_last_out of train), never on the test
rows. What was tried (validation RMSE / HR@10, best epoch in brackets):
    AutoRec  H=500, Adam lr 1e-3: reg 0.001 / 0.01 / 0.05 / 0.1 / 0.15 / 0.2 / 1.0 at batch 64-256
             gave 0.905 (12), 0.903 (12), 0.892 (54), 0.887 (73), 0.885 (118), 0.889 (138),
             0.99; tanh 0.97, H=200 0.92, lr 2e-3 0.92. Kept: reg 0.15, batch 256, 100 epochs.
    CDAE     K=50, Adam lr 0.01, 30 epochs: all-item BCE 0.072; sampled negatives 1 / 4 / 8
             per positive 0.114 / 0.106 / 0.104 (last epoch); corruption 0.5, K=100 and lr 3e-3
             within noise (+-0.01). Kept: 1 negative, corruption 0.2, 25 epochs.
BiasedMF and BPRMF use the hyperparameters of bench_explicit.py and bench_implicit.py.

Each of AutoRec and CDAE is followed by its PyTorch twin (_torch_deep_twins.py: the same
network, init scheme, Adam and the very batches of nanorec's fit) on 1 and 2 torch threads:
s/epoch is the median epoch's training seconds (nanorec's epoch_seconds_, the twin's measured
alike), "nanorec / twin s/epoch" their ratio, and "<metric>: nanorec - twin [95%]" a paired
bootstrap (nanorec.evaluation.paired_bootstrap, 10,000 resamples) of the difference: over the
test users for HR@10 and NDCG@10, over the test ratings of the squared error for AutoRec (the
MSE difference).

fit_s is wall-clock; Numba kernels are compiled (or loaded from cache) by a tiny fit first, the
twins fit one epoch on a tiny subset first.

    python benchmarks/bench_deep.py --data PATH/ml-100k.zip --only autoencoders [--quick]
"""

import warnings

import numpy as np

from nanorec.data.datasets import load
from nanorec.data.split import ColdStartWarning, holdout, leave_last_out
from nanorec.evaluation.protocols import evaluate
from nanorec.models.autoencoders import CDAE, AutoRec
from nanorec.models.baselines import Popularity
from nanorec.models.mf import BPRMF, BiasedMF

from _torch_deep_twins import TWIN_THREADS, model_rows  # isort: skip

SEED = 0
AUTOREC = dict(n_hidden=500, n_epochs=100, lr=0.001, reg=0.15, batch_size=256)
CDAE_OPTIONS = dict(n_factors=50, corruption=0.2, n_epochs=25, lr=0.01, n_negatives=1)
BIASED_MF = dict(n_factors=100, n_epochs=20, lr=0.005, reg=0.02)
BPR = dict(n_factors=64, n_epochs=100, lr=0.01, reg=0.01)
RATING = "holdout 90/10, rating prediction"
RANKING = "leave-last-out, full ranking"


def make_models(quick):
    """(label, protocol, unfitted model) per row; --quick divides every epoch count by 5."""
    def epochs(options):
        return dict(options, n_epochs=max(1, options["n_epochs"] // 5)) if quick else options

    return [
        ("AutoRec (I-AutoRec, H=500)", RATING, AutoRec(**epochs(AUTOREC), random_state=SEED)),
        ("BiasedMF", RATING, BiasedMF(**epochs(BIASED_MF), random_state=SEED)),
        ("CDAE (K=50)", RANKING, CDAE(**epochs(CDAE_OPTIONS), random_state=SEED)),
        ("BPRMF", RANKING, BPRMF(**epochs(BPR), random_state=SEED)),
        ("Popularity", RANKING, Popularity()),
    ]


def rows(data_path, quick, twin_threads=TWIN_THREADS, twin_init="torch"):
    """One dict per (model, protocol) on MovieLens-100K: see ``table``."""
    return table(load("movielens-100k", path=data_path), quick, twin_threads, twin_init)


def table(data, quick, twin_threads=TWIN_THREADS, twin_init="torch"):
    """One dict per model: "model", "protocol", its metrics (rmse and mae, or hr@10 and ndcg@10),
    "fit_s", "s/epoch"; AutoRec and CDAE are followed by their PyTorch twins, one row per thread
    count in twin_threads (see _torch_deep_twins.model_rows)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ColdStartWarning)  # a few test items have no train rating
        splits = {RATING: holdout(data, test_size=0.1, seed=SEED), RANKING: leave_last_out(data)}
    tiny = {protocol: train.subset(np.arange(min(2000, len(train))))
            for protocol, (train, _) in splits.items()}
    _warm_up(tiny[RATING])
    rows = []
    for label, protocol, model in make_models(quick):
        train, test = splits[protocol]
        rows += model_rows(label, model, train, EVALUATIONS[protocol](train, test), twin_threads,
                           warm_up=tiny[protocol], twin_init=twin_init)
    return rows


def rating_evaluation(train, test):
    """evaluations(model) for model_rows: RMSE and MAE, and each test rating's squared error (the
    paired unit: the interval is that of the MSE difference)."""
    def evaluations(model):
        values = evaluate(model, test, train=train, metrics=("rmse", "mae"))
        has_train = (np.diff(model.train_csr_.indptr) > 0)[test.user_index]
        predicted = model.score_pairs(test.user_index[has_train], test.item_index[has_train])
        squared_errors = (predicted - test.ratings[has_train]) ** 2
        return [(RATING, dict(values), {"mse": squared_errors})]

    return evaluations


def ranking_evaluation(train, test):
    """evaluations(model) for model_rows: HR@10 and NDCG@10, and their per-user values."""
    def evaluations(model):
        result = evaluate(model, test, train=train, metrics=("hr@10", "ndcg@10"))
        return [(RANKING, dict(result), dict(result.per_user))]

    return evaluations


EVALUATIONS = {RATING: rating_evaluation, RANKING: ranking_evaluation}


def _warm_up(train):
    """Compile (or load from cache) the Numba kernels of the MF models and the negative sampler."""
    tiny = train.subset(np.arange(min(2000, len(train))))
    for model in (BiasedMF(n_epochs=1), BPRMF(n_epochs=1), CDAE(n_epochs=1, n_negatives=1)):
        model.fit(tiny)
