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
# # 05 · Deep recommenders
#
# Lesson 04 scored a pair by one dot product. Deeper models replace or extend it. Three
# families, each built from the same nanorec layers you met in lessons 01-03:
#
# * **NeuMF**: a dot-product-like branch *and* an MLP over the user and item embeddings;
# * **CDAE**: an autoencoder that rebuilds a user's whole row of the interaction matrix;
# * **Caser**: a convolutional network over the *order* of the user's last items.
#
# All are compared with the `Popularity` baseline under one protocol, **leave-last-out**: each
# user's latest interaction is the test item, the rest is train; every item the user has not
# seen in train is a candidate (full ranking); HR@10 = share of users whose test item reaches
# their top 10, NDCG@10 = mean of $1 / \log_2(\text{rank} + 1)$ over those hits.

# %%
import time
import warnings

import numpy as np
from _common import fast_mode, movielens_or_synthetic, pyplot, save_figure

from nanorec.data.split import ColdStartWarning, leave_last_out
from nanorec.evaluation.protocols import evaluate
from nanorec.models.autoencoders import CDAE
from nanorec.models.baselines import Popularity
from nanorec.models.neural import NeuMF
from nanorec.models.sequence import Caser

FAST = fast_mode()
plt = pyplot()
METRICS = ("hr@10", "ndcg@10")

data, data_name = movielens_or_synthetic(FAST, **(dict(n_users=120, n_items=80, n_interactions=2000)
                                                    if FAST else {}))
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ColdStartWarning)  # a few test items have no train row
    train, test = leave_last_out(data)
print(f"{data_name}: {len(train)} train rows, {len(test)} test rows (one per user)")

# %% [markdown]
# ## NeuMF (He et al. 2017)
#
# Two branches read the same pair $(u, i)$, each with its own embeddings:
#
# $$
# \begin{aligned}
# g &= P^g_u \odot Q^g_i && (N, K) && \text{GMF: a dot product before the sum} \\
# h_0 &= [P^m_u \mid Q^m_i] && (N, 2E) && \text{MLP input} \\
# h_l &= \mathrm{ReLU}(h_{l-1} W_l + b_l) && (N, H_l) && \text{tower } 2E \to \dots \to H_L \\
# z &= [g \mid h_L]\, w + b && (N, 1) && p = \sigma(z)
# \end{aligned}
# $$
#
# If $w$ were all ones on $g$ and the MLP absent, $z$ would be $P_u \cdot Q_i$: NeuMF contains
# matrix factorization and lets the MLP learn interactions a dot product cannot express. It is
# trained like lesson 04's model (positives + 4 sampled negatives per positive, Adam) on the
# stable `BCEWithLogitsLoss` of $z$.

# %%
if FAST:
    neumf = NeuMF(n_factors=4, layers=(16, 8), n_epochs=2, implicit=True)
else:
    neumf = NeuMF(n_factors=8, layers=(64, 32, 16, 8), n_epochs=10, implicit=True)
print(neumf)

# %% [markdown]
# ## CDAE (Wu et al. 2016)
#
# A user is their row $y_u \in \{0, 1\}^I$ of the interaction matrix. Drop some of its ones at
# random (corruption $q$, the `Dropout` layer), encode, decode, and ask for the original row:
#
# $$
# \begin{aligned}
# \tilde y_u &= y_u \odot m / (1 - q), \quad m_i \sim \mathrm{Bernoulli}(1 - q) && (N, I) \\
# h_u &= \sigma(\tilde y_u W + V_u + b) && (N, K) && V_u\text{: a per-user node (Embedding)} \\
# z_u &= h_u W' + b' && (N, I) && \hat y_u = \sigma(z_u)
# \end{aligned}
# $$
#
# The loss is the binary cross-entropy over the user's positives and sampled negatives (other
# entries do not count). The rows stay sparse: the encoder (`SparseDense`) reads the stored ones
# only, and the decoder (`PairScores`) computes $z_u$ at the positives and negatives only. To
# recommend, feed the *uncorrupted* row and rank every $z_u$ (`score_all`): items that users with
# similar rows have, and $u$ has not, come first.

# %%
if FAST:
    cdae = CDAE(n_factors=8, n_epochs=2)
else:
    cdae = CDAE(n_factors=50, corruption=0.2, n_epochs=25, lr=0.01, n_negatives=1)
print(cdae)

# %% [markdown]
# ## Caser (Tang & Wang 2018)
#
# Order matters: what someone watched last says much about what comes next. Caser stacks the
# embeddings of the user's last $L$ items into an "image" $E$ of shape $(L, d)$ and convolves it:
#
# $$
# \begin{aligned}
# o_h &= \big[\max_t \mathrm{ReLU}(\mathrm{Conv}_h(E))_t\big]_{h=1..L} && (N, L\, n_h)
#   && \text{horizontal: runs of } h \text{ items} \\
# o_v &= \text{weighted sums of the } L \text{ rows of } E && (N, n_v d) && \text{vertical filters} \\
# x &= \big[\mathrm{ReLU}(W [o_h \mid o_v] + b) \mid P_u\big] && (N, 2d) && \text{plus a user embedding} \\
# \hat y_{ui} &= x \cdot W'_i + b'_i && (N, C) && \text{for each candidate item } i
# \end{aligned}
# $$
#
# It learns from every transition "these $L$ items, then that one" in the train sequences, against
# sampled negatives. Leave-last-out is the natural test: the held-out item is the next one.

# %%
if FAST:
    caser = Caser(n_factors=8, seq_len=3, n_horizontal=4, n_vertical=2, n_epochs=2)
else:
    caser = Caser(n_factors=50, seq_len=5, n_epochs=8, lr=3e-3)
print(caser)

# %% [markdown]
# ## Train and compare
#
# Each `fit` fills `history_["loss"]`, the mean training loss of every epoch. (With
# `fit(train, valid)` it also records the validation HR@10 per epoch, and `early_stopping=patience`
# keeps the best epoch; `valid` must then come from the train part, never from the test rows.)

# %%
models = {"Popularity": Popularity(), "NeuMF": neumf, "CDAE": cdae, "Caser": caser}
results = {}
for name, model in models.items():
    start = time.perf_counter()
    model.fit(train)
    fit_seconds = time.perf_counter() - start
    results[name] = evaluate(model, test, train=train, metrics=METRICS)
    print(f"{name:<11} HR@10 {results[name]['hr@10']:.4f}  NDCG@10 {results[name]['ndcg@10']:.4f}  "
          f"fit {fit_seconds:.1f} s")
print(results["Popularity"].summary())

# %%
trained = [name for name, model in models.items() if hasattr(model, "history_")]
fig, axes = plt.subplots(1, len(trained), figsize=(4 * len(trained), 3.4))
for ax, name in zip(axes, trained):
    loss = models[name].history_["loss"]
    ax.plot(np.arange(1, len(loss) + 1), loss, "o-")
    ax.set(title=f"{name}: training loss", xlabel="epoch")
    ax.grid(alpha=0.3)
save_figure(fig, "05_learning_curves.png")

fig, ax = plt.subplots(figsize=(6.5, 3.8))
width = 0.2
for offset, (name, result) in zip(np.arange(len(results)) - (len(results) - 1) / 2, results.items()):
    ax.bar(np.arange(len(METRICS)) + offset * width, [result[m] for m in METRICS], width, label=name)
ax.set_xticks(np.arange(len(METRICS)), METRICS)
ax.set(title=f"Leave-last-out, full ranking ({data_name})", ylabel="value")
ax.legend()
save_figure(fig, "05_comparison.png")

# %% [markdown]
# How to read it. The losses are of different kinds (NeuMF and Caser: cross-entropy over a
# positive and its sampled negatives; CDAE: summed over a user's row), so compare each curve's
# *shape*, not its level: a curve still falling says more epochs may help, a flat one that they
# will not. For the ranking, the numbers printed above are this run's; on MovieLens-100K the
# sequence model has the advantage of knowing what came last, which is exactly what
# leave-last-out asks about, while NeuMF and CDAE see each user's history as an unordered set.
# A single split has noise: rerun with other `random_state` values (or use `cross_validate`,
# lesson 04) before trusting a small gap.
