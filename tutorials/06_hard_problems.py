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
# # 06 · The hard problems: imbalance, cold start, explanations, privacy
#
# Lessons 04 and 05 measured models by one average. A deployed recommender meets four problems
# that an average hides:
#
# 1. **imbalance**: a few items take most of the interactions; a model can score well by
#    recommending only them. We measure accuracy per popularity bucket and catalogue coverage,
#    and try two remedies: which negatives BPR samples, and per-sample loss weights;
# 2. **cold start**: users and items without a single training row. A fallback chain serves
#    everyone and says which stage served whom; side features (text, categories, a vector you
#    bring) let a model score an item nobody has seen;
# 3. **explanations**: *why* this item? The user's past items that sit near it (embedding
#    models), or each feature's share of the score (gradient × input), with a check that the
#    shares add up;
# 4. **privacy**: masked ids, opting out, being forgotten, training without collecting the
#    ratings (federated), and training with a provable bound on what one rating can reveal
#    (differential privacy).

# %%
import importlib.util
import logging
import secrets
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from _common import fast_mode, movielens_or_synthetic, pyplot, save_figure

from nanorec.data import datasets
from nanorec.data.features import Categorical, DenseVectors, FeaturePipeline, TfidfText, attach_features
from nanorec.data.interactions import Interactions
from nanorec.data.split import ColdStartWarning, cold_start_split, holdout, leave_last_out
from nanorec.evaluation.cold import evaluate_cold
from nanorec.evaluation.imbalance import evaluate_by_popularity
from nanorec.io import load_arrays
from nanorec.metrics import gini_index
from nanorec.models.base import ColdStartError, Recommender
from nanorec.models.baselines import Popularity
from nanorec.models.coldstart import ColdStartRecommender
from nanorec.models.content import Hybrid
from nanorec.models.mf import BiasedMF, BPRMF
from nanorec.models.neural import MatrixFactorization
from nanorec.nn.activations import sigmoid
from nanorec.nn.losses import BCEWithLogitsLoss
from nanorec.privacy.consent import forget, opt_out
from nanorec.privacy.federated import FederatedMF
from nanorec.privacy.masking import IdMasker

FAST = fast_mode()
plt = pyplot()
warnings.simplefilter("ignore", ColdStartWarning)  # splits leave a few users cold; evaluate skips them
logging.getLogger("absl").setLevel(logging.ERROR)  # dp-accounting's notes on skipped RDP orders
SYNTHETIC = (dict(n_users=300, n_items=200, n_interactions=4000) if FAST
             else dict(n_users=1000, n_items=600, n_interactions=25000))
BPR = dict(n_factors=32, n_epochs=10 if FAST else 60, lr=0.02, reg=0.01, n_negatives=2)
WEIGHTED_MF = dict(n_factors=16, n_epochs=2 if FAST else 5, batch_size=256 if FAST else 1024,
                   lr=0.01, n_negatives=4)
HYBRID = dict(n_factors=16, hidden=(32,), n_epochs=5 if FAST else 15, lr=0.005, n_negatives=4)
K = 10

# %% [markdown]
# ## 1. Imbalance: the long tail
#
# Sort the items by their number of interactions $c_i$, most first. The curve falls steeply: a
# *head* of blockbusters, then a long *tail* of items few people touched. Two numbers sum it
# up: the share of all interactions that the top 10% of the items hold, and the Gini
# coefficient of the counts,
#
# $$ G = \frac{\sum_{i}\sum_{j} |c_i - c_j|}{2 I \sum_i c_i} \in [0, 1) , $$
#
# 0 when every item is equally popular, close to 1 when one item has everything
# (`nanorec.metrics.gini_index`; `evaluate(..., metrics=["gini@10"])` gives the Gini of the
# recommendations).

# %%
data, data_name = movielens_or_synthetic(FAST, **SYNTHETIC)
print(data)
train, test = leave_last_out(data)  # each user's latest item is its test item
counts = np.bincount(train.item_index, minlength=train.n_items)
by_count = np.sort(counts)[::-1]
top_decile = by_count[: max(1, len(by_count) // 10)].sum() / by_count.sum()
gini = gini_index(counts)  # G by the equivalent sorted-counts formula, O(I log I)
print(f"train: {len(train)} rows; the top 10% of the items hold {top_decile:.1%} of them; "
      f"Gini of the item counts {gini:.3f}; {np.sum(counts <= 2)} of {len(counts)} items have <= 2 rows")

fig, (ax_curve, ax_share) = plt.subplots(1, 2, figsize=(11, 3.8))
rated = by_count[by_count > 0]  # a log scale has no 0: items without train rows are left out
ax_curve.plot(np.arange(1, len(rated) + 1), rated)
ax_curve.set(title=f"interactions per item ({data_name})", xlabel="item rank", ylabel="train rows",
             yscale="log")
ax_share.plot(np.arange(1, len(by_count) + 1) / len(by_count), np.cumsum(by_count) / by_count.sum())
ax_share.plot([0, 1], [0, 1], ":", color="grey", label="every item equal")
ax_share.set(title="cumulative share of the interactions", xlabel="share of the items (most popular first)",
             ylabel="share of the rows")
ax_share.legend()
save_figure(fig, "06_long_tail.png")

# %% [markdown]
# **Accuracy by bucket.** `evaluate_by_popularity` cuts the items into three buckets that hold
# about a third of the train rows each: a **head** of a few blockbusters, a **mid** and a
# **tail** of many rare items. It ranks every item outside the user's train rows (full ranking,
# as `evaluate`) and reports HR@10 separately for the test rows whose item is in each bucket,
# together with **coverage@10** (the share of the catalogue that appears in at least one top-10
# list) and the share of all top-10 slots that go to the tail.
#
# We compare `Popularity` with BPR matrix factorization under two ways of drawing negatives.
# BPR learns $\hat x_{ui} = P_u \cdot Q_i + b_i$ from triples (user $u$, positive $i$, negative
# $j$) by minimising $-\log\sigma(\hat x_{ui} - \hat x_{uj})$. With **uniform** negatives most
# $j$ are tail items, easy to rank low, so much of what the model learns is "popular beats
# obscure", and its lists tend to crowd into the head. With **popularity-weighted** negatives,
# $P(j) \propto c_j^e$ (`distribution="popularity"`, $e$ = `popularity_exponent`), popular items
# are also pushed *down* whenever the user did not pick them: a correction for popularity itself. The numbers below say how far each goes.

# %%
def bucket_report(name, result):
    """One line per model: HR@K per bucket, coverage and the tail's share of the slots."""
    per_bucket = "  ".join(f"{b.name} {b.metrics[f'hr@{K}']:.3f}" for b in result.buckets)
    print(f"{name:<32} HR@{K} all {result.overall[f'hr@{K}']:.3f} | {per_bucket} | "
          f"coverage@{K} {result.coverage:.3f}, tail slots {result.tail_share:.3f}")


models = {
    "Popularity": Popularity(),
    "BPRMF, uniform negatives": BPRMF(**BPR, distribution="uniform"),
    "BPRMF, popularity negatives e=1": BPRMF(**BPR, distribution="popularity",
                                             popularity_exponent=1.0),
}
imbalance = {}
for name, model in models.items():
    model.fit(train)
    imbalance[name] = evaluate_by_popularity(model, test, train=train, buckets=3, k=K)
print(imbalance["BPRMF, uniform negatives"].to_markdown(), "\n")
for name, result in imbalance.items():
    bucket_report(name, result)

# %% [markdown]
# **Per-sample loss weights.** The other lever is the loss. Every nanorec loss is a mean of
# per-sample losses with optional weights $w_n \ge 0$,
#
# $$ L = \frac{1}{N}\sum_{n=1}^{N} w_n\, \ell_n , \qquad
#    \frac{\partial L}{\partial z_n} = \frac{w_n}{N}\,\frac{\partial \ell_n}{\partial z_n} , $$
#
# so a sample of weight 2 pulls the parameters twice as hard as one of weight 1 (the divisor
# stays $N$: weights of 1 give the plain mean). For binary cross-entropy on a logit $z$,
# $\partial \ell_n / \partial z_n = \sigma(z_n) - y_n$. First the formula against
# `BCEWithLogitsLoss.backward`:

# %%
logits = np.array([[0.3], [-1.2], [2.0]])
labels = np.array([[1.0], [0.0], [1.0]])
weights = np.array([1.0, 2.0, 0.5])
bce = BCEWithLogitsLoss()
bce.forward(logits, labels, weight=weights)
by_formula = weights[:, None] / len(logits) * (sigmoid(logits) - labels)
print("dL/dz from backward:", bce.backward().ravel().round(5).tolist(),
      " by the formula:", by_formula.ravel().round(5).tolist())

# %% [markdown]
# Now weight the positives against popularity: a positive $(u, i)$ weighs
# $w = (c_i / \bar c)^{-\beta}$, rescaled to mean 1 over the positives ($c_i$ = train rows of
# item $i$), and each sampled negative weighs 1. With $\beta = 0$ every sample counts the same;
# with $\beta = 0.5$ a tail item's interaction counts more than a blockbuster's. The model is
# lesson 04's `MatrixFactorization` ($p = \sigma(W\, P_u \cdot Q_i + b)$, BCE on positives and
# uniform negatives, Adam); its hyperparameter `tail_weight` is $\beta$. Its fused kernel
# multiplies each sample's loss and gradient by $w_n$ exactly as above, and its composed path
# (`fused=False`, `nanorec.training.train_epoch`) hands the same weights to the loss in every
# `Batch(inputs, target, weight)`.

# %%
for beta in (0.0, 0.5):
    name = f"MF, tail_weight={beta}"
    weighted_mf = MatrixFactorization(**WEIGHTED_MF, tail_weight=beta, implicit=True).fit(train)
    imbalance[name] = evaluate_by_popularity(weighted_mf, test, train=train, buckets=3, k=K)
    bucket_report(name, imbalance[name])

fig, (ax_hr, ax_coverage) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [3, 1]})
bucket_names = [b.name for b in imbalance["Popularity"].buckets]
width = 0.8 / len(imbalance)
for j, (name, result) in enumerate(imbalance.items()):
    ax_hr.bar(np.arange(len(bucket_names)) + (j - (len(imbalance) - 1) / 2) * width,
              [b.metrics[f"hr@{K}"] for b in result.buckets], width, label=name, color=f"C{j}")
    ax_coverage.bar(j, result.coverage, color=f"C{j}")
ax_hr.set_xticks(np.arange(len(bucket_names)), bucket_names)
ax_hr.set(title=f"HR@{K} by item popularity ({data_name}, leave-last-out)", ylabel=f"HR@{K}")
ax_hr.legend(fontsize=8)
ax_coverage.set(title=f"coverage@{K} (colours as on the left)", ylabel="share of the catalogue recommended",
                xticks=[])
save_figure(fig, "06_head_vs_tail.png")

# %% [markdown]
# Read the lines above model by model: where its hits come from, and how much of the catalogue
# it ever shows. A remedy that moves slots from the head to the tail usually gives up some head
# accuracy for tail accuracy and coverage; the per-bucket numbers show whether it did here, and
# by how much. Whether such a trade is worth it is a product decision that an overall HR@10
# alone cannot inform.
#
# ## 2. Cold start
#
# A new user has no rows, so a pure-ID model has no vector for them; a new item likewise.
# `cold_start_split` makes this testable: it holds out **whole users** (all their rows go to
# `user_test`) and **whole items** (all their rows go to `item_test`); `train` keeps the rest.
#
# This section uses the synthetic set in every mode: it needs item text and an item vector
# that carry a known signal, and the synthetic set's planted tastes let us make both (nanorec's
# MovieLens loader keeps genres and years but not the titles).
#
# **Side features.** A `FeaturePipeline` turns a table with one row per item into a feature
# matrix, block by block:
#
# * the title's words by TF-IDF over $D$ titles,
#   $x_{dw} \propto \text{tf}(d, w)\,\big(\ln\frac{1 + D}{1 + \text{df}(w)} + 1\big)$, each row
#   scaled to unit length;
# * the genres one-hot (several per item: multi-hot);
# * a dense vector you bring, here a stand-in for an image embedding of the poster, scaled to
#   unit length.
#
# It is fitted on the training items only and then transforms any item, new ones included.

# %%
GENRE_WORDS = [["space", "robot", "planet"], ["love", "wedding", "heart"], ["murder", "detective", "alibi"],
               ["dragon", "wizard", "quest"], ["war", "soldier", "battle"], ["ghost", "haunted", "scream"],
               ["cowboy", "sheriff", "outlaw"], ["heist", "vault", "getaway"], ["song", "dance", "stage"],
               ["family", "puppy", "holiday"]]
FILLER = ["night", "return", "last", "city", "secret", "day", "story", "road"]


def item_table(data, projection, rng):
    """A table of side features for every item of the synthetic set ``data``: a made-up title (two
    words of its first genre, one filler word), its genres, and a "poster" vector: the planted item
    factors (I, K) times ``projection`` (K, 16), plus noise, as an image model might give."""
    truth = data.planted
    genre_names = np.array(data.item_feature_names)
    titles = [" ".join([*rng.choice(GENRE_WORDS[genre % len(GENRE_WORDS)], 2, replace=False),
                        rng.choice(FILLER)]) for genre in truth.item_genre]
    posters = truth.item_factors @ projection
    posters += 0.5 * posters.std() * rng.standard_normal(posters.shape)
    return {"id": data.item_ids, "title": titles, "poster": posters,
            "genre": [genre_names[flags].tolist() for flags in data.item_features > 0]}


cold_data = data if data_name == "synthetic" else datasets.load("synthetic", **SYNTHETIC)
table_rng = np.random.default_rng(0)
poster_projection = table_rng.standard_normal((cold_data.planted.item_factors.shape[1], 16))
items = item_table(cold_data, poster_projection, table_rng)
print("three rows of the item table:")
for j in range(3):
    print(f"  id {items['id'][j]}: title {items['title'][j]!r}, genre {items['genre'][j]}, "
          f"poster {np.round(items['poster'][j][:3], 2).tolist()}...")

split = cold_start_split(cold_data, user_fraction=0.1, item_fraction=0.1, seed=0)
pipeline = FeaturePipeline([TfidfText("title", max_features=60), Categorical("genre"),
                            DenseVectors("poster", normalize=True)])
cold_train = attach_features(split.train, pipeline, items, kind="item", ids=items["id"])
n_users_with_rows = np.sum(np.bincount(cold_train.user_index, minlength=cold_train.n_users) > 0)
n_items_with_rows = np.sum(np.bincount(cold_train.item_index, minlength=cold_train.n_items) > 0)
print(f"cold_start_split: train {len(split.train)} rows ({n_users_with_rows} users, {n_items_with_rows} "
      f"items with rows); user_test {len(split.user_test)} rows of "
      f"{len(np.unique(split.user_test.user_index))} cold users; item_test {len(split.item_test)} rows "
      f"on {len(np.unique(split.item_test.item_index))} cold items")
print(f"item features: {len(pipeline.names_)} columns, e.g. {pipeline.names_[:2]}, "
      f"{[name for name in pipeline.names_ if name.startswith('genre=')][:2]}, {pipeline.names_[-1:]}")
print(f"user features (the synthetic set's demographics): {cold_train.user_feature_names}")

# %% [markdown]
# **The fallback chain.** `ColdStartRecommender(primary)` asks, for each user, the first stage
# that applies:
#
# | stage | when | scores |
# |---|---|---|
# | `primary` | the user has train rows | the primary model |
# | `primary_cold` | no rows, features known, a primary that scores by features (Hybrid) | its feature path |
# | `neighbours` | no rows, features known, any other primary (e.g. BPRMF) | the neighbours' vote |
# | `popularity` | nothing known | the most popular items |
#
# The neighbours $N(u)$ are the $k$ train users $v$ whose features $z_v$ are closest to $z_u$
# by cosine, and their vote for item $i$ is, with $m_v = \max(\cos(z_u, z_v), 0)$,
#
# $$ s_{ui} = \frac{\sum_{v \in N(u)} m_v\,[v \text{ has } i]}{\sum_{v \in N(u)} m_v}
#    + 10^{-3}\,\frac{c_i}{\max_j c_j} , $$
#
# the second term a popularity tie-break. `served_by_` records the stage of every user of the
# last call. Below, with BPRMF as the primary: a warm user, a cold user of the vocabulary (its
# demographics are in the data), a brand-new id whose demographics come with the request, and
# a brand-new id with nothing.

# %%
chain = ColdStartRecommender(BPRMF(**BPR, distribution="uniform"), neighbours=50).fit(cold_train)
warm_id = cold_train.user_ids[cold_train.user_index[0]]
cold_id = split.user_test.user_ids[split.user_test.user_index[0]]
new_ids = [warm_id, cold_id, 10**6, 10**6 + 1]
given = np.zeros((len(new_ids), cold_train.user_features.shape[1]))
given[2] = cold_train.user_features[0]  # the new user 10**6 tells us its age bucket and gender
top_items, _ = chain.recommend(new_ids, k=5, user_features=given)
for user_id, stage, row in zip(new_ids, chain.served_by_, top_items):
    print(f"user {user_id:>8}: served by {stage:<11} top 5 {row.tolist()}")

# %% [markdown]
# **Evaluating cold start.** `evaluate_cold(model, split.user_test, kind="users")` ranks, for
# each cold user, every item that has train rows; `kind="items"` ranks, for each user with a
# row on a cold item, only the cold items. A pure-ID model refuses (it would return noise), so
# it is wrapped in the chain; `Hybrid` (two towers, an ID embedding plus an MLP of the side
# features, trained with ID dropout so that the feature paths stand alone) scores both sides
# itself.

# %%
try:
    evaluate_cold(BPRMF(**BPR).fit(cold_train), split.user_test, kind="users")
except ColdStartError as error:
    print("BPRMF alone:", error)

cold_models = {
    "Popularity": Popularity().fit(cold_train),
    "chain(BPRMF): neighbours": chain,
    "Hybrid": Hybrid(**HYBRID).fit(cold_train),
}
cold_results = {}
for name, model in cold_models.items():
    cold_results[name] = {kind: evaluate_cold(model, test_part, kind=kind, metrics=(f"ndcg@{K}", "auc"))
                          for kind, test_part in (("users", split.user_test), ("items", split.item_test))
                          if kind in model.cold_start}
    print(f"{name:<26}" + "  ".join(f"cold {kind}: NDCG@{K} {result[f'ndcg@{K}']:.3f} AUC {result['auc']:.3f}"
                                    for kind, result in cold_results[name].items()))
chain.score_items(np.unique(split.user_test.user_index))
stages, stage_counts = np.unique(chain.served_by_, return_counts=True)
print("the chain served the cold test users by:", dict(zip(stages.tolist(), stage_counts.tolist())))

fig, ax = plt.subplots(figsize=(7.5, 3.8))
for offset, kind in ((-0.2, "users"), (0.2, "items")):
    heights = [result[kind][f"ndcg@{K}"] if kind in result else 0.0 for result in cold_results.values()]
    ax.bar(np.arange(len(cold_results)) + offset, heights, 0.4, label=f"cold {kind}")
ax.set_xticks(np.arange(len(cold_results)), list(cold_results))
ax.set(title="Cold start (synthetic, cold_start_split); no bar: the model cannot score that side",
       ylabel=f"NDCG@{K}")
ax.legend()
save_figure(fig, "06_cold_start.png")

# %% [markdown]
# **A brand-new item.** An item that was not in any data yet has only its table row. The fitted
# pipeline maps it onto the training columns, and `score_new_items` runs it through Hybrid's
# item tower with the "no id" row. We make one new item per genre and ask whether each warm user
# scores highest the new item of the genre they watched most: chance would be $1/G$.

# %%
hybrid = cold_models["Hybrid"]
genre_names = cold_data.item_feature_names
new_items = {"title": [" ".join(words[:2]) + " returns" for words in GENRE_WORDS[: len(genre_names)]],
             "genre": [[name] for name in genre_names],
                      "poster": cold_data.planted.genre_factors @ poster_projection}
new_features = pipeline.transform(new_items)  # (G, F) on the training columns
print("new items:", new_items["title"][:3], "... ->", new_features.shape)
warm_users = np.flatnonzero(np.bincount(cold_train.user_index, minlength=cold_train.n_users) > 0)
scores = hybrid.score_new_items(cold_train.user_ids[warm_users], new_features)  # (n, G)
genre_columns = [pipeline.names_.index(f"genre={name}") for name in genre_names]
genre_rows = cold_train.item_features[:, genre_columns]  # (I, G) multi-hot genres
seen_genres = np.zeros((cold_train.n_users, len(genre_names)))
np.add.at(seen_genres, cold_train.user_index, genre_rows[cold_train.item_index])
agreement = np.mean(scores.argmax(axis=1) == seen_genres[warm_users].argmax(axis=1))
print(f"{len(warm_users)} users: the new item of their most watched genre scores highest for "
      f"{agreement:.1%} of them (chance {1 / len(genre_names):.1%})")

# %% [markdown]
# ## 3. Explanations
#
# **Embedding models.** `model.explain(user_id, item_id)` on BPRMF lists the user's own train
# items $j$ whose item vectors are closest to the recommended item $i$,
# $\cos(Q_j, Q_i) = Q_j\cdot Q_i / (\lVert Q_j\rVert\,\lVert Q_i\rVert)$: "because you watched
# these". It says which past items sit near $i$ in the model's item space, not how the score
# splits (the score is $P_u \cdot Q_i + b_i$, and $P_u$ is not a sum of past items). The list is
# ordered by $|\cos|$, so a past item pointing the *opposite* way (negative cosine) can appear
# too: something the user had that is unlike $i$.

# %%
bpr = models["BPRMF, uniform negatives"]
user_id = test.user_ids[test.user_index[0]]
recommended = bpr.recommend(user_id, k=1)[0][0]  # the top item's raw id
print(bpr.explain(user_id, recommended, n=5))

# %% [markdown]
# **Feature models: gradient × input.** For a model that scores features, run the network
# forward on the one (user, item) pair, then backward with $dy = 1$ on its score $s$ (a logit):
# the same backprop as in training gives $\partial s / \partial x_f$ for every input feature,
# and feature $f$ gets the attribution $a_f = x_f\, \partial s / \partial x_f$.
#
# **Completeness.** If $s$ is linear in the features, $s(x) = w\cdot x + s(0)$, then
# $\sum_f a_f = \sum_f x_f w_f = s(x) - s(0)$: the attributions split the score exactly against
# the baseline $s(0)$ (all features zero, ids kept). Hybrid's score is a dot product of two
# towers, $s = v_u \cdot w_i$, so with features on *both* sides it is bilinear and the sum
# misses (the cross terms are counted twice), and a ReLU layer makes it merely local. With item
# features only and a linear item tower (`hidden=()`), $w_i = E_i + W x_i + b$ and
# $s = v_u\cdot E_i + v_u \cdot b + (W^\top v_u)\cdot x_i$ is linear in $x_i$: exact.


# %%
def completeness(model, user_id, item_id, label):
    """Explain one pair with every attribution and compare their sum with s(x) - s(0)."""
    explanation = model.explain(user_id, item_id, n=None)  # n=None: every attribution
    total = sum(value for _, value in explanation.contributions)
    gap = explanation.score - explanation.baseline
    print(f"{label}: sum of attributions {total:+.5f}, s(x) - s(0) {gap:+.5f}, "
          f"difference {abs(total - gap):.1e}")
    return explanation


explained_user = cold_train.user_ids[warm_users[0]]
explained_item = cold_train.item_ids[cold_train.item_index[0]]
completeness(hybrid, explained_user, explained_item, "Hybrid, MLP towers, user and item features")
print(hybrid.explain(explained_user, explained_item, n=8))
item_side_only = Interactions(cold_train.user_index, cold_train.item_index, cold_train.user_ids,
                              cold_train.item_ids, item_features=cold_train.item_features,
                              item_feature_names=cold_train.item_feature_names, check_duplicates=False)
linear = Hybrid(**{**HYBRID, "hidden": ()}).fit(item_side_only)
linear_explanation = completeness(linear, explained_user, explained_item,
                                  "Hybrid, linear item tower, item features")

fig, ax = plt.subplots(figsize=(7.5, 4))
top = linear_explanation.contributions[:12][::-1]
ax.barh([label for label, _ in top], [value for _, value in top],
        color=["tab:green" if value > 0 else "tab:red" for _, value in top])
ax.set(title=f"Why item {explained_item} for user {explained_user}: gradient x input (linear Hybrid)",
       xlabel="attribution x_f ds/dx_f (logit)")
save_figure(fig, "06_explanations.png")

# %% [markdown]
# ## 4. Privacy
#
# **Masked ids.** Raw ids can identify people (an e-mail, a customer number). An `IdMasker`
# replaces each id, on ingest, by the first 16 hex digits of $\text{HMAC-SHA256}(\text{salt},
# \text{id})$. Without the salt nobody can compute the mask of a guessed id, so a leaked model
# file does not say who its users are; with it, the owner finds a user's row by masking again.
# The salt is a secret: it lives only in the masker, never in a model or a file (here a random
# one per run; in production it comes from a secret store).

# %%
ratings_train, ratings_test = holdout(data, test_size=0.2, seed=0)
salt = secrets.token_bytes(32)
masker = IdMasker(salt)
masked_train = masker.mask_interactions(ratings_train)
masked_model = BiasedMF(n_factors=16, n_epochs=5 if FAST else 20, random_state=0).fit(masked_train)
with tempfile.TemporaryDirectory() as folder:
    path = masked_model.save(Path(folder) / "masked.npz")
    file_bytes = Path(path).read_bytes()
    header, arrays = load_arrays(path)
    loaded = Recommender.load(path)
stored_ids = {str(value) for value in arrays["user_ids_"].ravel()}
raw_ids = {str(raw) for raw in ratings_train.user_ids.tolist()}
print(f"{masker!r}; user {ratings_train.user_ids[0]} -> {masker.mask(ratings_train.user_ids[0])}")
print(f"saved file: {len(stored_ids)} user ids stored ({arrays['user_ids_'].dtype}), "
      f"{len(stored_ids & raw_ids)} of them a raw user id; the salt in the file: "
      f"{salt in file_bytes or salt.hex().encode() in file_bytes}")
first_user = ratings_train.user_ids[0]
print(f"the owner finds user {first_user} in the loaded model by its mask: top 3 "
      f"{loaded.recommend(masker.mask(first_user), k=3)[0].tolist()}")

# %% [markdown]
# **Opting out.** `opt_out(data, user_ids)` returns the log without those users: their rows go,
# they leave the user vocabulary, and so does every item that only they had (keeping it would
# reveal that one of them had it). A model fitted on the result never holds a parameter for them.
#
# **Being forgotten.** After training, `forget(model, train, user_id, mode="exact")` refits from
# scratch without the user, with the same class, hyperparameters and seed:
# $\theta' = \text{fit}(D \setminus D_u)$ is exactly the model that would exist had the user
# never been there, and it costs one full fit. `mode="approximate"` (BiasedMF) drops the user's
# row and fine-tunes a few epochs from the current parameters (`BiasedMF.finetune` on the log
# without them, weighted as the fit was): cheaper, but not exact.

# %%
leaving = ratings_train.user_ids[:3].tolist()
kept = opt_out(ratings_train, leaving)
print(f"opt_out({leaving}): users {ratings_train.n_users} -> {kept.n_users}, items "
      f"{ratings_train.n_items} -> {kept.n_items}, rows {len(ratings_train)} -> {len(kept)}")
central_options = dict(n_factors=16, n_epochs=5 if FAST else 20, lr=0.005, reg=0.02, random_state=0,
                       dtype=np.float64)
start = time.perf_counter()
central = BiasedMF(**central_options).fit(ratings_train)
fit_seconds = time.perf_counter() - start
try:
    BiasedMF(**central_options).fit(kept).recommend(leaving[0])
except KeyError as error:
    print(f"a model fitted after opt_out does not know user {leaving[0]}: KeyError {error}")

forgotten_id = ratings_train.user_ids[np.argmax(np.bincount(ratings_train.user_index))].item()
exact = forget(central, ratings_train, forgotten_id, mode="exact")
never_there = BiasedMF(**central_options).fit(opt_out(ratings_train, [forgotten_id]))
approximate = forget(central, ratings_train, forgotten_id, mode="approximate", finetune_epochs=2)
print(f"forget user {forgotten_id} (the most active): exact took {exact.seconds:.2f} s (a fit takes "
      f"{fit_seconds:.2f} s); identical to a model that never saw them: "
      f"{np.array_equal(exact.model.item_factors_, never_there.item_factors_)}")
print(f"approximate took {approximate.seconds:.2f} s; its item factors differ from the exact ones "
      f"by up to {np.max(np.abs(approximate.model.item_factors_ - exact.model.item_factors_)):.3f}")

# %% [markdown]
# **Federated training.** In `FederatedMF` the ratings never leave the users' devices: each
# round the server sends the item parameters to a sample of clients (one per user), each client
# takes gradient steps on its own ratings, keeps its user vector and sends back only its item
# update $\delta_u$, and the server applies the average weighted by the clients' rows,
# $(b, Q) \mathrel{+}= \eta_s \sum_{u \in S} \frac{n_u}{n_S}\,\delta_u$ (FedAvg). An item is
# rated by few of the sampled clients, so the weighted average shrinks its step; the server
# step $\eta_s$ makes up for it (100 on MovieLens-100K with 10% of the clients per round, see
# `benchmarks/bench_privacy.py`; 30 on the smaller, denser synthetic set, where 100 diverges).
# How much test RMSE does federation cost against centralized `BiasedMF`? The curve is the test
# RMSE after each round (monitoring only: nothing is tuned on it).

# %%
def rmse(model, test):
    errors = test.ratings - model.score_pairs(test.user_index, test.item_index)
    return float(np.sqrt(np.mean(errors**2)))


central_rmse = rmse(central, ratings_test)
print(f"centralized BiasedMF ({central_options['n_epochs']} epochs): test RMSE {central_rmse:.4f}")
federated = FederatedMF(n_factors=16, n_rounds=30 if FAST else 200, client_fraction=0.1, lr=0.5,
                        server_lr=100.0 if data_name == "MovieLens-100K" else 30.0, reg=0.05, random_state=0)
federated.fit(ratings_train, ratings_test)
print(f"FederatedMF, 10% of the clients per round, {federated.n_rounds} rounds, server_lr "
      f"{federated.server_lr:g}: test RMSE {rmse(federated, ratings_test):.4f}")

# %% [markdown]
# **Differential privacy.** DP-SGD (Abadi et al. 2016) bounds what the trained model can reveal
# about any one rating. Each step draws a batch by Poisson sampling (each rating joins with
# probability $q = B/N$), clips every example's gradient to norm $C$,
# $g_n \leftarrow g_n \min(1, C / \lVert g_n \rVert)$, adds Gaussian noise to the sum,
# $G = \sum_n g_n + \mathcal N(0, \sigma^2 C^2 I)$, and steps $\theta \leftarrow \theta -
# \eta\, G / B$. One rating moves the clipped sum by at most $C$, so each step is a subsampled
# Gaussian mechanism; an **accountant** composes the $T$ steps into an
# $(\varepsilon, \delta)$ guarantee: for any two data sets that differ in one rating and any set
# of outcomes $S$, $P[\text{model} \in S] \le e^{\varepsilon} P'[\text{model} \in S] + \delta$.
# Smaller $\varepsilon$ means more noise ($\sigma$) and a worse model. The unit is one rating:
# a user with many ratings is protected less than $\varepsilon$ as a whole.

# %%
dp_rows = []
if importlib.util.find_spec("dp_accounting") is None:
    print('skipped: the DP part needs dp-accounting (pip install "nanorec[privacy]")')
else:
    from nanorec.privacy.dp import DPBiasedMF, compute_epsilon, noise_multiplier_for_epsilon

    DELTA = 1e-5
    dp_options = dict(n_factors=16, n_epochs=5 if FAST else 40, batch_size=100 if FAST else 1000,
                      lr=1.5 if not FAST else 0.5, reg=0.02, max_grad_norm=1.0, rating_range=(1, 5),
                      random_state=0)
    for sigma in (4.0, 2.0, 1.0, 0.0):
        model = DPBiasedMF(**dp_options, noise_multiplier=sigma).fit(ratings_train)
        dp_rows.append((sigma, model.epsilon(DELTA), rmse(model, ratings_test)))
        print(f"sigma {sigma:.1f}: q = {model.sampling_rate_:.4f}, T = {model.n_steps_} steps -> "
              f"epsilon {dp_rows[-1][1]:.2f} at delta {DELTA:g}; test RMSE {dp_rows[-1][2]:.4f}")
    q, n_steps = model.sampling_rate_, model.n_steps_  # the same for every sigma
    sigma_for_one = noise_multiplier_for_epsilon(1.0, q, n_steps, DELTA, tol=1e-3)
    print(f"the accountant backwards: epsilon = 1 needs sigma {sigma_for_one:.3f} "
          f"(check: epsilon {compute_epsilon(sigma_for_one, q, n_steps, DELTA):.3f})")

fig, (ax_fed, ax_dp) = plt.subplots(1, 2, figsize=(11, 3.8))
curve = federated.history_["valid_rmse"]
ax_fed.plot(np.arange(1, len(curve) + 1), curve, label="FederatedMF, 10% of the clients per round")
ax_fed.axhline(central_rmse, color="black", linestyle=":", label="centralized BiasedMF")
ax_fed.set(title=f"Federated vs centralized ({data_name})", xlabel="round", ylabel="test RMSE")
ax_fed.legend(fontsize=8)
if dp_rows:
    finite = [(epsilon, error) for _, epsilon, error in dp_rows if np.isfinite(epsilon)]
    ax_dp.plot(*zip(*finite), "o-", label="DPBiasedMF")
    ax_dp.axhline(dp_rows[-1][2], color="grey", linestyle="--", label="same DP-SGD, no noise")
    ax_dp.axhline(central_rmse, color="black", linestyle=":", label="centralized BiasedMF")
    ax_dp.set(xscale="log", xlabel="epsilon (delta = 1e-5, per rating)", ylabel="test RMSE")
    ax_dp.set_xticks([epsilon for epsilon, _ in finite], [f"{epsilon:.2f}" for epsilon, _ in finite])
    ax_dp.minorticks_off()
    ax_dp.legend(fontsize=8)
ax_dp.set(title="Differential privacy: the price of a smaller epsilon")
save_figure(fig, "06_privacy.png")

# %% [markdown]
# What each tool protects, and what it does not: masking hides identities, not behaviour (a
# user's ratings still shape the model); opt-out and exact forgetting remove a user's influence
# at the cost of a refit; federated training keeps the raw ratings on the devices but the
# updates they send can still leak (the usual answer is secure aggregation plus DP); DP-SGD
# gives a number, $\varepsilon$, that bounds the leak per rating, paid for in accuracy, as the
# last figure shows.
