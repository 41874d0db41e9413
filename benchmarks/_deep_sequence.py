"""Rows of benchmarks/bench_deep.py for the next-item models: Caser and RNNRec on MovieLens-100K.

Protocol: leave-last-out (each user's latest rating is the test item; nanorec.data.split) with
full ranking (every item not in the user's train history is a candidate), HR@10 and NDCG@10,
seed 0. The models read each user's train items in time order; the hyperparameters are those of
the papers where they fit ML-100K (Caser: d = 50, L = 5, 16 horizontal and 4 vertical filters,
dropout 0.5, 3 negatives), with the epochs chosen on a validation split (the last train item of
each user), never on the test items. Fit seconds exclude Numba's compile or cache load, done
first on a tiny subset.

    rows(data_path, quick) -> [{"model", "protocol", "hr@10", "ndcg@10", "fit_s", "s/epoch",
                                "epochs"}, ...]

Caser and RNNRec are each followed by their PyTorch twin (_torch_deep_twins.py: the same network,
init scheme, Adam and the very batches of nanorec's fit) on 1 and 2 torch threads: s/epoch is the
median epoch's training seconds, "nanorec / twin s/epoch" their ratio, and "<metric>: nanorec -
twin [95%]" a paired bootstrap over the test users (nanorec.evaluation.paired_bootstrap, 10,000
resamples) of the per-user difference.

quick=True trains 2 epochs only (a smoke run; the numbers mean nothing).
"""

import warnings

import numpy as np

from nanorec.data.datasets import load
from nanorec.data.split import ColdStartWarning, leave_last_out
from nanorec.evaluation.protocols import evaluate
from nanorec.models.neural import NeuMF
from nanorec.models.sequence import Caser, RNNRec

from _torch_deep_twins import TWIN_THREADS, model_rows  # isort: skip

PROTOCOL = "leave-last-out, full ranking"
METRICS = ("hr@10", "ndcg@10")
# epochs and lr picked on the validation split (HR@10): Caser peaks near 0.22 after 12 epochs at
# lr 3e-3 (30 epochs at the paper's 1e-3 reach 0.23 at 2.5 times the cost); RNNRec near 0.20-0.21
# after 13-15 epochs at lr 1e-3 with 20-step windows (at lr 2e-3 it overfits after 6 epochs).
MODELS = {
    "Caser (d=50, L=5)": (Caser, dict(n_factors=50, seq_len=5, n_epochs=12, lr=3e-3)),
    "RNNRec (tanh RNN, H=100, K=64, T=20, softmax)": (
        RNNRec, dict(n_hidden=100, n_factors=64, seq_len=20, n_epochs=15, lr=1e-3)
    ),
    # reference row, non-sequential: bench_implicit's NeuMF settings (He et al. 2017)
    "NeuMF (K=8, MLP 64-32-16-8, 4 negatives)": (NeuMF, dict(n_epochs=20, implicit=True)),
}


def rows(data_path=None, quick=False, twin_threads=TWIN_THREADS, twin_init="torch"):
    """One dict per model on MovieLens-100K: see ``table``."""
    return table(load("movielens-100k", path=data_path), quick, twin_threads, twin_init)


def table(data, quick=False, twin_threads=TWIN_THREADS, twin_init="torch"):
    """One dict per model: metric name -> value, plus "model", "protocol", "fit_s", "s/epoch",
    "epochs"; Caser and RNNRec are followed by their PyTorch twins, one row per thread count in
    twin_threads (see _torch_deep_twins.model_rows)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ColdStartWarning)
        train, test = leave_last_out(data)
    tiny = train.subset(np.flatnonzero(train.user_index < 20))

    def evaluations(model):
        result = evaluate(model, test, train=train, metrics=METRICS)
        return [(PROTOCOL, dict(result), dict(result.per_user))]

    results = []
    for name, (model_class, options) in MODELS.items():
        options = {**options, "n_epochs": 2} if quick else options
        model_class(**{**options, "n_epochs": 1}).fit(tiny)  # JIT compile / cache load, untimed
        rows = model_rows(name, model_class(random_state=0, **options), train, evaluations,
                          twin_threads, warm_up=tiny, twin_init=twin_init)
        results += [{**row, "epochs": options["n_epochs"]} for row in rows]
    return results
