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
# # 03 · Backpropagation by hand
#
# Lesson 01 ended with a single neuron failing at XOR. One hidden layer fixes that. The network
# of this lesson, for a batch of $N$ inputs with $D$ features and $H$ hidden units:
#
# $$
# \begin{aligned}
# a_1 &= X W_1 + b_1 && (N, H) && \texttt{Dense(D, H)} \\
# h &= \tanh(a_1) && (N, H) && \texttt{Tanh()} \\
# a_2 &= h W_2 + b_2 && (N, 1) && \texttt{Dense(H, 1)} \\
# p &= \sigma(a_2) && (N, 1) && \texttt{Sigmoid()} \\
# L &= -\tfrac{1}{N} \textstyle\sum_n y_n \log p_n + (1 - y_n) \log (1 - p_n)
#   && \text{scalar} && \texttt{BCELoss()}
# \end{aligned}
# $$
#
# Backpropagation computes $\partial L / \partial \theta$ for every parameter by running the
# chain rule **backwards**: each step receives the gradient of $L$ with respect to its output and
# turns it into the gradient with respect to its input (and its parameters). We write every
# step out in NumPy, then check it against nanorec's layers and against finite differences
# (`nanorec.gradcheck`). The exercise `two_layer_network`
# (`tutorials/exercises/two_layer_network.py`, graded by `nanorec exercise check two_layer_network`)
# asks you to write it yourself.

# %%
import numpy as np
from _common import fast_mode, pyplot, save_figure

from nanorec.nn.activations import Sigmoid, Tanh
from nanorec.nn.layers import Dense, Sequential
from nanorec.nn.losses import BCELoss
from nanorec.optim.optimizers import Adam
from nanorec.testing.gradcheck import gradcheck
from nanorec.training import fit, predict

FAST = fast_mode()
plt = pyplot()

# %% [markdown]
# ## Data: a noisy XOR
#
# Points scattered around the four corners of the square; the label is 1 when exactly one
# coordinate is positive. No line separates the classes.

# %%
rng = np.random.default_rng(0)
N, D, H = 200, 2, 8
corners = rng.integers(0, 2, size=(N, D))  # which corner each point comes from
X = (2 * corners - 1) + 0.35 * rng.normal(size=(N, D))  # (N, D), around (+-1, +-1)
y = (corners[:, 0] != corners[:, 1]).astype(np.float64)[:, None]  # (N, 1) XOR labels
print(f"X {X.shape}, y {y.shape}, share of ones {y.mean():.2f}")

# %% [markdown]
# ## Forward, by hand
#
# Small random weights (the initial values do not matter for the check; we use float64
# throughout so that finite differences are accurate).

# %%
W1 = rng.normal(scale=0.5, size=(D, H))
b1 = np.zeros(H)
W2 = rng.normal(scale=0.5, size=(H, 1))
b2 = np.zeros(1)

a1 = X @ W1 + b1  # (N, H)
h = np.tanh(a1)  # (N, H)
a2 = h @ W2 + b2  # (N, 1)
p = 1 / (1 + np.exp(-a2))  # (N, 1)
loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
print(f"loss at the start: {loss:.6f} (answering p = 1/2 everywhere would give log 2 = {np.log(2):.6f})")

# %% [markdown]
# ## Backward, one step at a time
#
# Notation: $dv$ means $\partial L / \partial v$, with the shape of $v$.
#
# **Loss and sigmoid.** $\partial L / \partial p_n = \frac{1}{N} \frac{p_n - y_n}{p_n (1 - p_n)}$
# and $\partial p_n / \partial a_{2,n} = p_n (1 - p_n)$, so the two fold into the famous
#
# $$ da_2 = \frac{1}{N} (p - y) \qquad (N, 1). $$

# %%
dp = (p - y) / (p * (1 - p)) / N  # (N, 1)   BCELoss.backward
da2 = dp * p * (1 - p)  # (N, 1)   Sigmoid.backward
print("da2 == (p - y) / N:", np.allclose(da2, (p - y) / N), " shape", da2.shape)

# %% [markdown]
# **Second dense layer** $a_2 = h W_2 + b_2$. Entry $a_{2,n} = \sum_j h_{nj} W_{2,j} + b_2$, so
#
# $$ dW_2 = h^\top da_2 \;(H, 1), \qquad db_2 = \textstyle\sum_n da_{2,n} \;(1,), \qquad
#    dh = da_2 W_2^\top \;(N, H). $$
#
# A check that catches most mistakes: every gradient has the shape of its variable, and the
# products above are the only way to combine the available arrays into those shapes.

# %%
dW2 = h.T @ da2  # (H, N) @ (N, 1) -> (H, 1)
db2 = da2.sum(axis=0)  # (1,)
dh = da2 @ W2.T  # (N, 1) @ (1, H) -> (N, H)
print("dW2", dW2.shape, " db2", db2.shape, " dh", dh.shape)

# %% [markdown]
# **Tanh**, entry by entry: $\tanh'(a) = 1 - \tanh^2(a) = 1 - h^2$, so $da_1 = dh \odot (1 - h^2)$.
#
# **First dense layer**, the same rule as the second:
#
# $$ dW_1 = X^\top da_1 \;(D, H), \qquad db_1 = \textstyle\sum_n da_{1,n} \;(H,), \qquad
#    dX = da_1 W_1^\top \;(N, D). $$
#
# $dX$ is not needed to train this network (the inputs are data), but a layer deeper down would
# need it, and it is how an embedding receives its gradient in a recommender.

# %%
da1 = dh * (1 - h**2)  # (N, H)
dW1 = X.T @ da1  # (D, N) @ (N, H) -> (D, H)
db1 = da1.sum(axis=0)  # (H,)
dX = da1 @ W1.T  # (N, H) @ (H, D) -> (N, D)
by_hand = {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2, "x": dX}
for name, grad in by_hand.items():
    print(f"d{name:<3} shape {str(grad.shape):<8} |d{name}|_max = {np.abs(grad).max():.6f}")

# %% [markdown]
# ## The same network from nanorec's layers
#
# `Sequential(Dense(D, H), Tanh(), Dense(H, 1), Sigmoid())` does exactly these steps: each
# layer's `forward` caches what its `backward` needs, and `Sequential.backward` calls the
# layers in reverse. We copy our weights in and compare every gradient.

# %%
network = Sequential(Dense(D, H, dtype=np.float64), Tanh(), Dense(H, 1, dtype=np.float64), Sigmoid())
for key, value in {"0.W": W1, "0.b": b1, "2.W": W2, "2.b": b2}.items():
    network.params[key][...] = value
bce = BCELoss()
engine_loss = bce.forward(network.forward(X), y)
network.zero_grad()
engine_dX = network.backward(bce.backward())
engine = {"W1": network.grads["0.W"], "b1": network.grads["0.b"], "W2": network.grads["2.W"],
          "b2": network.grads["2.b"], "x": engine_dX}
print(f"loss: by hand {loss:.12f}, engine {engine_loss:.12f}")
for name in by_hand:
    print(f"d{name:<3} max |by hand - engine| = {np.max(np.abs(by_hand[name] - engine[name])):.1e}")

# %% [markdown]
# ## And against finite differences: `nanorec.gradcheck`
#
# `gradcheck` perturbs every input and parameter entry by $\pm h$ and compares
# $\frac{f(\theta + h e_j) - f(\theta - h e_j)}{2h}$ with the analytic gradient, reporting
# $\text{rel error} = \max_j |a_j - n_j| / \max_j (|a_j| + |n_j|)$ per array.
# Given a function and its gradient it checks our hand-written backward; given a layer it checks
# the engine's (with $f = \sum dy \odot \text{layer}(x)$ for a random $dy$).


# %%
def loss_of(W1, b1, W2, b2, X):
    """The forward pass above as a function of the parameters: L (float)."""
    p = 1 / (1 + np.exp(-(np.tanh(X @ W1 + b1) @ W2 + b2)))
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


def gradients_by_hand(W1, b1, W2, b2, X):
    """Our backward steps above, in one function: (dW1, db1, dW2, db2, dX)."""
    h = np.tanh(X @ W1 + b1)
    p = 1 / (1 + np.exp(-(h @ W2 + b2)))
    da2 = (p - y) / len(X)
    dh = da2 @ W2.T
    da1 = dh * (1 - h**2)
    return X.T @ da1, da1.sum(axis=0), h.T @ da2, da2.sum(axis=0), da1 @ W1.T


print(gradcheck(loss_of, W1, b1, W2, b2, X, grad=gradients_by_hand))
print(gradcheck(network, X))

# %% [markdown]
# Rows of the first table are `input 0` = $W_1$, ..., `input 4` = $X$; the second names the
# engine's parameters `0.W` ($W_1$), `2.W` ($W_2$), ... Relative errors of $10^{-8}$ or below
# mean the gradients are right; a bug (a missing $1 - h^2$, a transposed product) shows up as
# $10^{-2}$ or more.
#
# ## Training: the hidden layer solves XOR
#
# The same network, trained by `nanorec.training.fit` (mini-batches, `Adam`). The figure shows
# the decision regions: the tanh units carve the plane into pieces a single line could not.

# %%
model = Sequential(Dense(D, H, rng=1), Tanh(), Dense(H, 1, rng=2), Sigmoid())
n_epochs = 60 if FAST else 300
history = fit(model, BCELoss(), Adam(model, lr=0.02), X.astype(np.float32), y.astype(np.float32),
              n_epochs=n_epochs, batch_size=32, seed=0)
print(f"after {n_epochs} epochs: loss {history['loss'][-1]:.4f}, "
      f"training accuracy {history['accuracy'][-1]:.3f}")

grid = np.linspace(-2.5, 2.5, 151)
gx, gy = np.meshgrid(grid, grid)
probability = predict(model, np.c_[gx.ravel(), gy.ravel()].astype(np.float32)).reshape(gx.shape)
fig, (ax_regions, ax_loss) = plt.subplots(1, 2, figsize=(10, 4))
ax_regions.contourf(gx, gy, probability, levels=20, cmap="RdBu_r", alpha=0.7)
ax_regions.contour(gx, gy, probability, levels=[0.5], colors="k")
ax_regions.scatter(X[:, 0], X[:, 1], c=y[:, 0], cmap="RdBu_r", edgecolors="k", s=18)
ax_regions.set(title="p(y = 1 | x); black line: p = 0.5", xlabel="x1", ylabel="x2")
ax_loss.plot(history["loss"])
ax_loss.set(title="training loss (BCE)", xlabel="epoch", yscale="log")
ax_loss.grid(alpha=0.3)
save_figure(fig, "03_xor_decision_regions.png")
