"""Peer libraries behind nanorec's Recommender API: implicit's BPR and ALS, LightFM, and Surprise's
SVD, SVD++, NMF, KNNBaseline and BaselineOnly, fitted on a nanorec Interactions and scored by its
raw ids, so that the bench scripts and the experiment files run them like any nanorec model:

    python benchmarks/bench_implicit.py, bench_explicit.py      import them from here
    [[models]] class = "../peers.py:ImplicitBPR"                 in benchmarks/experiments/*.toml

Each class imports its library when it fits (benchmarks/_common.require: a missing one raises
Skipped, "skipped (pip install <package>)", which the bench scripts print as the row) and names it
in ``requires`` (module -> pip package), which ``nanorec run`` checks before it reads the data.
The PyTorch twins of nanorec's models are Recommenders too, in _torch_twins.py and
_torch_deep_twins.py.

Hyperparameters keep the nanorec names where the model has a nanorec counterpart (n_factors,
n_epochs, lr, reg) and the library's own names for Surprise's algorithms (lr_all, reg_all, ...);
the defaults are the library's.
"""

import numpy as np

from nanorec.models.base import Recommender

from _common import require  # isort: skip  (benchmarks/ is on sys.path, as for a script)


def user_items_matrix(train):
    """The train interactions as a scipy CSR of ones, (U, I), users as rows."""
    sparse = require("scipy.sparse", "scipy")
    return sparse.csr_matrix(
        (np.ones(len(train), np.float32), (train.user_index, train.item_index)),
        shape=(train.n_users, train.n_items),
    )


# ---------------------------------------------------------------------- implicit, LightFM
class _ImplicitModel(Recommender):
    """An implicit (CPU) model behind the Recommender API: ``_make(module)`` builds it.

    implicit >= 0.5 fits a user-item CSR (users as rows); older versions took item-user.
    Scores are user_factors @ item_factors.T (BPR's item bias rides in a factor column).
    """

    module = None
    requires = {"implicit": "implicit", "scipy": "scipy"}

    def _fit(self, train, valid):
        version_text = require("implicit", "implicit").__version__
        version = tuple(int(part) for part in version_text.split(".")[:2])
        user_items = user_items_matrix(train)
        self.model_ = self._make(require(self.module, "implicit"))
        self.model_.fit(user_items if version >= (0, 5) else user_items.T.tocsr(),
                        show_progress=False)

    def score_items(self, user_index):
        return self.model_.user_factors[np.asarray(user_index)] @ self.model_.item_factors.T


class ImplicitBPR(_ImplicitModel):
    """implicit's BayesianPersonalizedRanking. Its item factors carry the item bias in a last
    column (the user's is 1), so scores are a plain dot."""

    module = "implicit.cpu.bpr"

    def __init__(self, n_factors=100, n_epochs=100, lr=0.01, reg=0.01, random_state=0,
                 num_threads=1):
        self.n_factors, self.n_epochs, self.lr, self.reg = n_factors, n_epochs, lr, reg
        self.random_state, self.num_threads = random_state, num_threads

    def _make(self, implicit_bpr):
        return implicit_bpr.BayesianPersonalizedRanking(
            factors=self.n_factors, learning_rate=self.lr, regularization=self.reg,
            iterations=self.n_epochs, random_state=self.random_state, num_threads=self.num_threads,
        )


class ImplicitALS(_ImplicitModel):
    """implicit's AlternatingLeastSquares (Hu, Koren & Volinsky, 2008): weighted least squares on
    the 0/1 preference matrix, each train interaction's confidence scaled by alpha (implicit
    multiplies the user-item matrix by alpha)."""

    module = "implicit.cpu.als"

    def __init__(self, n_factors=100, n_iterations=15, reg=0.01, alpha=1.0, random_state=0,
                 num_threads=1):
        self.n_factors, self.n_iterations, self.reg, self.alpha = n_factors, n_iterations, reg, alpha
        self.random_state, self.num_threads = random_state, num_threads

    def _make(self, implicit_als):
        return implicit_als.AlternatingLeastSquares(
            factors=self.n_factors, regularization=self.reg, alpha=self.alpha,
            iterations=self.n_iterations, random_state=self.random_state,
            num_threads=self.num_threads,
        )


class LightFMModel(Recommender):
    """LightFM (Kula, 2015) without side features: pure collaborative filtering, one thread.

    score(u, i) = b_u + b_i + e_u . e_i from its user and item representations.
    """

    requires = {"lightfm": "lightfm", "scipy": "scipy"}

    def __init__(self, loss="logistic", n_factors=10, n_epochs=1, lr=0.05, random_state=0,
                 num_threads=1):
        self.loss, self.n_factors, self.n_epochs, self.lr = loss, n_factors, n_epochs, lr
        self.random_state, self.num_threads = random_state, num_threads

    def _fit(self, train, valid):
        lightfm = require("lightfm", "lightfm")
        self.model_ = lightfm.LightFM(no_components=self.n_factors, loss=self.loss,
                                      learning_rate=self.lr, random_state=self.random_state)
        self.model_.fit(user_items_matrix(train).tocoo(), epochs=self.n_epochs,
                        num_threads=self.num_threads)

    def score_items(self, user_index):
        user_bias, user_embedding = self.model_.get_user_representations()
        item_bias, item_embedding = self.model_.get_item_representations()
        user_index = np.asarray(user_index)
        return (user_embedding[user_index] @ item_embedding.T + user_bias[user_index, None]
                + item_bias)


# ---------------------------------------------------------------------- Surprise
class _SurpriseModel(Recommender):
    """A Surprise algorithm behind the Recommender API; a subclass names it in ``algorithm`` and
    takes its constructor arguments (the same names), which ``fit`` passes on.

    fit       a Surprise trainset of the train rows by raw id, rating scale (min, max) of train
    predict   Surprise's own estimate of each (raw user, raw item) pair, clipped to the scale;
              a pair it cannot estimate (an item or user without train rows, for most
              algorithms) gets its default, the mean train rating, as Surprise's test() answers
    score_items  every item's estimate, one pair at a time: Surprise has no batched scoring, so
              ranking all items is slow; these models are for rating prediction
    """

    algorithm = None
    fixed = {}  # arguments always passed (verbosity)
    needs = ("ratings",)  # the data must have ratings (nanorec run checks); baseline: mean rating
    requires = {"surprise": "scikit-surprise", "pandas": "pandas"}

    def _fit(self, train, valid):
        surprise = require("surprise", "scikit-surprise")
        pandas = require("pandas", '"nanorec[pandas]"')
        frame = pandas.DataFrame({
            "user": train.user_ids[train.user_index],
            "item": train.item_ids[train.item_index],
            "rating": train.ratings.astype(np.float64),
        })
        reader = surprise.Reader(rating_scale=(float(train.ratings.min()),
                                               float(train.ratings.max())))
        trainset = surprise.Dataset.load_from_df(frame, reader).build_full_trainset()
        arguments = {name: {} if value is None and name.endswith("_options") else value
                     for name, value in self.get_params().items()}  # None: Surprise's default {}
        self.algorithm_ = getattr(surprise, self.algorithm)(**arguments, **self.fixed)
        self.algorithm_.fit(trainset)

    def score_pairs(self, user_index, item_index):
        users = self.user_ids_[np.asarray(user_index)].tolist()
        items = self.item_ids_[np.asarray(item_index)].tolist()
        return np.array([self.algorithm_.predict(user, item).est
                         for user, item in zip(users, items)], dtype=np.float64)

    def score_items(self, user_index):
        user_index = np.asarray(user_index)
        return self.score_pairs(np.repeat(user_index, self.n_items_),
                                np.tile(np.arange(self.n_items_), len(user_index))
                                ).reshape(len(user_index), self.n_items_)


class SurpriseSVD(_SurpriseModel):
    """Surprise's SVD (Funk's biased MF by SGD): r_hat = mu + b_u + b_i + q_i . p_u."""

    algorithm = "SVD"

    def __init__(self, n_factors=100, n_epochs=20, lr_all=0.005, reg_all=0.02, init_std_dev=0.1,
                 random_state=0):
        self.n_factors, self.n_epochs, self.lr_all, self.reg_all = n_factors, n_epochs, lr_all, reg_all
        self.init_std_dev, self.random_state = init_std_dev, random_state


class SurpriseSVDpp(_SurpriseModel):
    """Surprise's SVD++: SVD whose user vector adds the implicit feedback of the items rated."""

    algorithm = "SVDpp"

    def __init__(self, n_factors=20, n_epochs=20, lr_all=0.007, reg_all=0.02, init_std_dev=0.1,
                 random_state=0):
        self.n_factors, self.n_epochs, self.lr_all, self.reg_all = n_factors, n_epochs, lr_all, reg_all
        self.init_std_dev, self.random_state = init_std_dev, random_state


class SurpriseNMF(_SurpriseModel):
    """Surprise's NMF: non-negative factors by multiplicative updates."""

    algorithm = "NMF"

    def __init__(self, n_factors=15, n_epochs=50, random_state=0):
        self.n_factors, self.n_epochs, self.random_state = n_factors, n_epochs, random_state


class SurpriseKNNBaseline(_SurpriseModel):
    """Surprise's KNNBaseline: the baseline mu + b_u + b_i plus a k-neighbour weighted mean of
    the neighbours' deviations from their baselines (deterministic: no random_state)."""

    algorithm = "KNNBaseline"
    fixed = {"verbose": False}

    def __init__(self, k=40, min_k=1, sim_options=None, bsl_options=None):
        self.k, self.min_k, self.sim_options, self.bsl_options = k, min_k, sim_options, bsl_options


class SurpriseBaselineOnly(_SurpriseModel):
    """Surprise's BaselineOnly: mu + b_u + b_i by ALS (deterministic)."""

    algorithm = "BaselineOnly"
    fixed = {"verbose": False}

    def __init__(self, bsl_options=None):
        self.bsl_options = bsl_options
