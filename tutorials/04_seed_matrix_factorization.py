# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · The seed's matrix factorization, done right
#
# The project began from a document whose example was *"a matrix-factorization recommender (user
# and product embeddings of size 16, a dot product, a dense sigmoid output, binary cross-entropy,
# Adam, 10 epochs, batch 128, evaluated with 5-fold cross-validation)"*, written in a way that
# does not actually run. This lesson builds that model so that it runs and its numbers mean
# something:
#
# 1. raw log → `Interactions` (raw ids mapped to indices $0..n-1$) → the user-item matrix;
# 2. the model as nanorec layers, trained with `nanorec.training.fit` on positives **and**
#    sampled negatives;
# 3. the four classic ways such a snippet goes wrong, each shown with a number;
# 4. the same model packaged as `nanorec.models.MatrixFactorization`;
# 5. 5-fold cross-validation with an honest metric (full-ranking HR@10 and NDCG@10), next to the
#    `Popularity` baseline.

# %%
import warnings
from functools import partial

import numpy as np
from _common import fast_mode, movielens_or_synthetic, pyplot, save_figure

from nanorec.data import datasets
from nanorec.data.sampling import NegativeSampler
from nanorec.data.split import ColdStartWarning, kfold
from nanorec.evaluation.protocols import cross_validate, evaluate
from nanorec.models.base import Recommender
from nanorec.models.baselines import Popularity
from nanorec.models.neural import MatrixFactorization, keras_uniform
from nanorec.nn.activations import Sigmoid, sigmoid
from nanorec.nn.layers import Dense, Dot, Embedding, Parallel, Sequential
from nanorec.nn.losses import BCELoss
from nanorec.optim.optimizers import Adam
from nanorec.training import accuracy, fit

FAST = fast_mode()
plt = pyplot()
warnings.simplefilter("ignore", ColdStartWarning)  # k-fold leaves a few users cold; evaluate skips them
SEED_MODEL = dict(n_factors=16, n_epochs=10, batch_size=128, lr=0.001)  # the seed's settings
N_NEGATIVES = 4  # sampled negatives per positive, as He et al. (2017) do
if FAST:
    SEED_MODEL["n_epochs"] = 2

# %% [markdown]
# ## 1. From a raw log to indices
#
# A log holds **raw ids**: whatever the source uses (MovieLens numbers its users 1..943; other
# logs use strings). An embedding table, however, is indexed by row number $0..R-1$. The seed's
# own toy log (users 1-3, products 1-4) shows the first bug: use the raw ids as rows and the
# last user falls off the end of a 3-row table.

# %%
toy = datasets.load("toy")
print(toy)
users_raw = np.array([1, 2, 3])
try:
    Embedding(toy.n_users, 16).forward(users_raw)
except IndexError as error:
    print("raw ids as rows ->", error)
print("mapped by Interactions: raw user ids", toy.user_ids.tolist(), "-> rows",
      toy.user_to_index(users_raw).tolist())

# %% [markdown]
# A table sized `max id + 1` would hide the error (row 0 never trained, ids with gaps waste
# rows) and string ids would not work at all. `Interactions` maps raw ids to indices once, keeps
# both directions, and every nanorec model speaks raw ids at its surface (`recommend`,
# `predict`) and indices inside.
#
# Now the real data: MovieLens-100K if it is in the data home, else the synthetic set. Every
# rating, whatever its stars, counts as an interaction: this is *implicit feedback*, the
# setting of the seed's model (did the user watch it?).

# %%
data, data_name = movielens_or_synthetic(FAST, **(dict(n_users=150, n_items=120, n_interactions=3000)
                                                    if FAST else {}))
print(data)
for row in range(3):
    u, i = data.user_index[row], data.item_index[row]
    print(f"row {row}: raw user {data.user_ids[u]} -> index {u}, raw item {data.item_ids[i]} -> index {i}")

# %% [markdown]
# ## 2. The user-item matrix
#
# Stack the interactions into a $U \times I$ matrix $R$ with $R_{ui} = 1$ when user $u$
# interacted with item $i$. It is very sparse (most users saw few items) and its columns follow
# a long tail: a few items are very popular. Matrix factorization explains $R$ by
# low-dimensional vectors, $R_{ui} \approx \sigma(w\, P_u \cdot Q_i + b)$, with
# $P \in \mathbb{R}^{U \times K}$, $Q \in \mathbb{R}^{I \times K}$.

# %%
matrix = (data.to_dense() > 0).astype(np.float32)  # (U, I)
popularity = matrix.sum(axis=0)
top_decile_share = np.sort(popularity)[::-1][: len(popularity) // 10].sum() / popularity.sum()
print(f"R: {matrix.shape}, density {matrix.mean():.4f}; the top 10% of items hold "
      f"{top_decile_share:.1%} of the interactions")
fig, (ax_matrix, ax_tail) = plt.subplots(1, 2, figsize=(11, 4))
by_popularity = np.argsort(-popularity)
ax_matrix.imshow(matrix[:100][:, by_popularity[:200]], aspect="auto", cmap="Greys", interpolation="nearest")
ax_matrix.set(title="R: first 100 users x 200 most popular items", xlabel="item (by popularity)",
              ylabel="user")
ax_tail.plot(popularity[by_popularity])
ax_tail.set(title="interactions per item (long tail)", xlabel="item rank", ylabel="interactions",
            yscale="log")
save_figure(fig, "04_user_item_matrix.png")

# %% [markdown]
# ## 3. The model as layers
#
# | step | layer | shape (batch of $N$ pairs) |
# |---|---|---|
# | rows $P_u$, $Q_i$ | `Parallel(Embedding(U, K), Embedding(I, K))` | $(N,), (N,) \to (N, K), (N, K)$ |
# | $d = P_u \cdot Q_i$ | `Dot()` | $(N, 1)$ |
# | $z = w d + b$ | `Dense(1, 1)` | $(N, 1)$ |
# | $p = \sigma(z)$ | `Sigmoid()` | $(N, 1)$ |
#
# trained on $L = -\frac{1}{N}\sum_n y_n \log p_n + (1 - y_n)\log(1 - p_n)$ (`BCELoss`) with
# `Adam`. The embeddings start uniform in $[-0.05, 0.05]$, as Keras initialises them, and Adam
# moves every embedding row at every step (`lazy=False`), as Keras's Adam does: a row the batch
# did not use has gradient 0 but its running moments still push it.
#
# **Samples.** Implicit data has only positives. A model trained on positives alone learns the
# constant answer "1" (pitfall 2 below), so for every positive $(u, i)$ we draw `N_NEGATIVES`
# items $u$ has not interacted with and label them 0, fresh ones each epoch
# (`NegativeSampler`). We evaluate on fold 0 of the 5-fold split used later.

# %%
train, test = kfold(data, n_splits=5, seed=0)[0]
print(f"fold 0: {len(train)} train rows, {len(test)} test rows")


def mf_layers(n_users, n_items, n_factors, seed=0):
    rng = np.random.default_rng(seed)
    return Sequential(
        Parallel(Embedding(n_users, n_factors, init=keras_uniform, rng=rng),
                 Embedding(n_items, n_factors, init=keras_uniform, rng=rng)),
        Dot(), Dense(1, 1, rng=rng), Sigmoid())


network = mf_layers(data.n_users, data.n_items, SEED_MODEL["n_factors"])
print(network)
demo_users, demo_items = train.user_index[:4], train.item_index[:4]
print("forward on 4 pairs ->", network.forward((demo_users, demo_items)).shape)

# %%
def samples_with_negatives(train, sampler):
    """One epoch of samples: every train pair with label 1, then N_NEGATIVES sampled pairs with 0."""
    users, items = train.user_index, train.item_index
    negatives = sampler.sample(users)  # (n, N_NEGATIVES) item indices
    all_users = np.r_[users, np.repeat(users, N_NEGATIVES)]
    all_items = np.r_[items, negatives.ravel()]
    labels = np.r_[np.ones(len(users)), np.zeros(negatives.size)].astype(np.float32)
    return (all_users, all_items), labels[:, None]


# the composed layers take 1-3 ms per mini-batch of Python and NumPy: a few epochs here, the full
# 10 below with MatrixFactorization's fused kernel (the same steps)
n_layer_epochs = 1 if FAST else 3
sampler = NegativeSampler(train, N_NEGATIVES, seed=0)
optimizer, bce = Adam(network, lr=SEED_MODEL["lr"], lazy=False), BCELoss()
layer_losses = []
for epoch in range(n_layer_epochs):
    x, y = samples_with_negatives(train, sampler)
    history = fit(network, bce, optimizer, x, y, n_epochs=1, batch_size=SEED_MODEL["batch_size"],
                  seed=epoch)
    layer_losses.append(history["loss"][0])
    print(f"epoch {epoch + 1}: {len(y)} samples, loss {history['loss'][0]:.4f}, "
          f"accuracy {history['accuracy'][0]:.4f}")

# %% [markdown]
# To *evaluate* it we rank items per user. A nanorec `Recommender` needs only `score_items`
# (scores of every item for some users); the base class adds `recommend`, raw ids, and the
# bookkeeping `evaluate` relies on. For this network the scores of all items at once are
#
# $$ p_{u\cdot} = \sigma\big(w\, (P_u Q^\top) + b\big) \qquad (n, I) . $$


# %%
class TrainedLayers(Recommender):
    """A Recommender around an already trained MF network (fit only records the train set)."""

    def __init__(self, network):
        self.network = network

    def _fit(self, train, valid):
        pass  # trained above, layer by layer

    def score_items(self, user_index):
        P = self.network.params["0.0.W"]  # (U, K) user embeddings
        Q = self.network.params["0.1.W"]  # (I, K) item embeddings
        w, b = self.network.params["2.W"][0, 0], self.network.params["2.b"][0]
        return sigmoid((w * (P[user_index] @ Q.T) + b).astype(np.float64))


layers_model = TrainedLayers(network).fit(train)
some_users, some_items = test.user_index[:5], test.item_index[:5]
from_formula = layers_model.score_items(some_users)[np.arange(5), some_items]
from_layers = network.eval().forward((some_users, some_items))[:, 0]
network.train()
print("max |formula - network forward| on 5 pairs:", f"{np.max(np.abs(from_formula - from_layers)):.1e}")

METRICS = ("hr@10", "ndcg@10")


def scores(result):
    """One line of an evaluation result: HR@10 ... NDCG@10 ..."""
    return "  ".join(f"{key.upper()} {value:.4f}" for key, value in result.items())


layers_result = evaluate(layers_model, test, train=train, metrics=METRICS)
popularity_result = evaluate(Popularity().fit(train), test, train=train, metrics=METRICS)
print(f"layers, after {n_layer_epochs} epoch(s): {scores(layers_result)}")
print(f"Popularity:             {scores(popularity_result)}")
print(layers_result.summary())

# %% [markdown]
# **Full ranking.** For each test user, *every* item not in their train history is a candidate;
# HR@10 is 1 when one of their held-out items reaches the top 10, NDCG@10 also rewards a high
# rank ($1/\log_2(\text{rank}+1)$). Ties count against the model. This answers the question a
# recommender is for: *among everything, which items should we show?*
#
# ## 4. What goes wrong in a snippet like the seed's
#
# **Pitfall 1, ids as indices**: shown above, an `IndexError` at best, silently wasted or
# shifted rows at worst.
#
# **Pitfall 2, positives only.** With no negatives every label is 1, and the model that answers
# "1" to everything is perfect. Training on positives finds it within an epoch:

# %%
positives_only = mf_layers(data.n_users, data.n_items, SEED_MODEL["n_factors"], seed=1)
positive_history = fit(positives_only, BCELoss(), Adam(positives_only, lr=SEED_MODEL["lr"], lazy=False),
                       (train.user_index, train.item_index), np.ones((len(train), 1), np.float32),
                       n_epochs=1, batch_size=SEED_MODEL["batch_size"])
always_one_accuracy = accuracy(np.ones(len(train)), np.ones(len(train)))
print(f"positives only: training accuracy {positive_history['accuracy'][0]:.4f} "
      f"(the constant answer 1 scores {always_one_accuracy:.4f})")
positives_result = evaluate(TrainedLayers(positives_only).fit(train), test, train=train, metrics=METRICS)
print(f"positives only, ranking: {scores(positives_result)}  (Popularity: {scores(popularity_result)})")

# %% [markdown]
# **Pitfall 3, accuracy as the metric.** Even with negatives, accuracy on a 1 : 4 mix of held-out
# positives and sampled negatives mostly measures the mix: the constant answer "0" already
# scores 80%. It also says nothing about the *order* of the items a user is shown.

# %%
test_sampler = NegativeSampler(data, N_NEGATIVES, seed=1)  # negatives outside train AND test
(test_users, test_items), test_labels = samples_with_negatives(test, test_sampler)
model_accuracy = accuracy(network.eval().forward((test_users, test_items)), test_labels)
network.train()
print(f"held-out accuracy (1 positive : {N_NEGATIVES} negatives): model {model_accuracy:.4f}, "
      f"constant 0 {accuracy(np.zeros_like(test_labels), test_labels):.4f}")

# %% [markdown]
# **Pitfall 4, leakage and seen items.** A fold's test rows must not be in its training data,
# and the items a user already has must not be counted as recommendations. Train on *all* rows
# (test included) and evaluate on the test fold, and the score is inflated by memory, not by
# generalisation:

# %%
honest = MatrixFactorization(**SEED_MODEL, n_negatives=N_NEGATIVES, implicit=True).fit(train)
leaky = MatrixFactorization(**SEED_MODEL, n_negatives=N_NEGATIVES, implicit=True).fit(data)
honest_result = evaluate(honest, test, train=train, metrics=METRICS)
leaky_result = evaluate(leaky, test, train=train, metrics=METRICS)
print(f"trained without the test fold:        {scores(honest_result)}")
print(f"trained WITH the test fold (leakage): {scores(leaky_result)}")

# %% [markdown]
# And the seen items: without `exclude_seen`, items from the user's own train history, which the
# model was taught to score high, take places in the top 10 and crowd out the new items a
# recommender is for. `evaluate` leaves them out of the candidates, as `recommend` does by default.

# %%
user = train.user_index[0]
user_id = data.user_ids[user]
seen = set(train.item_ids[train.item_index[train.user_index == user]].tolist())  # raw item ids
for exclude_seen in (False, True):
    top_10, _ = honest.recommend(user_id, k=10, exclude_seen=exclude_seen)
    n_seen = sum(item in seen for item in top_10.tolist())
    print(f"user {user_id} ({len(seen)} train items), exclude_seen={exclude_seen}: "
          f"{n_seen} of the top 10 are items the user already has")

# %% [markdown]
# ## 5. Packaged: `MatrixFactorization`
#
# `nanorec.models.MatrixFactorization` is the network of section 3 (`network_` is an
# `MFNetwork`, the same `Sequential`), the same sampling and Adam, with one Numba kernel per
# epoch that takes the same steps as the layers (`fused=False` runs the layers; a test holds the
# two equal). `history_["loss"]` holds the loss of each epoch.

# %%
print(honest.network_)
print("loss per epoch:", np.round(honest.history_["loss"], 4).tolist())
print(f"after {SEED_MODEL['n_epochs']} epochs: {scores(honest_result)}")

fig, ax = plt.subplots(figsize=(6.5, 3.8))
ax.plot(np.arange(1, n_layer_epochs + 1), layer_losses, "o-", label="layers + fit (section 3)")
ax.plot(np.arange(1, len(honest.history_["loss"]) + 1), honest.history_["loss"], "s--",
        label="MatrixFactorization (fused)")
ax.set(title=f"Training loss, {data_name}, fold 0", xlabel="epoch", ylabel="BCE loss")
ax.legend()
ax.grid(alpha=0.3)
save_figure(fig, "04_training_loss.png")

# %% [markdown]
# ## 6. 5-fold cross-validation, honestly
#
# `cross_validate` splits the rows into 5 folds (`kfold`); for each fold it fits a **fresh**
# model on the other four and evaluates on that fold with full ranking, leaving each user's
# train items out of the candidates. The spread over folds (std) says how much of a difference
# between two models is noise.

# %%
make_mf = partial(MatrixFactorization, **SEED_MODEL, n_negatives=N_NEGATIVES, implicit=True)
results = {"Popularity": cross_validate(Popularity, data, n_splits=5, metrics=METRICS),
           "MatrixFactorization": cross_validate(make_mf, data, n_splits=5, metrics=METRICS)}
for name, result in results.items():
    print(f"\n{name}\n{result.to_markdown()}")

fig, ax = plt.subplots(figsize=(6.5, 3.8))
width = 0.35
for offset, (name, result) in zip((-width / 2, width / 2), results.items()):
    ax.bar(np.arange(len(METRICS)) + offset, [result.mean[m] for m in METRICS], width,
           yerr=[result.std[m] for m in METRICS], capsize=4, label=name)
ax.set_xticks(np.arange(len(METRICS)), METRICS)
ax.set(title=f"5-fold cross-validation, full ranking ({data_name})", ylabel="mean over folds (± std)")
ax.legend()
save_figure(fig, "04_cross_validation.png")

# %% [markdown]
# The verdict, computed from the two tables: the difference of the means, and how many standard
# deviations of the fold-to-fold spread it amounts to. This honest comparison, not the training
# accuracy of section 3, says whether the factorization learned anything personal. Lesson 05
# tries deeper models.

# %%
for metric in METRICS:
    gap = results["MatrixFactorization"].mean[metric] - results["Popularity"].mean[metric]
    spread = max(results["MatrixFactorization"].std[metric], results["Popularity"].std[metric])
    print(f"{metric}: MatrixFactorization - Popularity = {gap:+.4f} "
          f"({gap / spread:+.1f} x the larger fold std, {spread:.4f})")
