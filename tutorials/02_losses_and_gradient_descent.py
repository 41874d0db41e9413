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
# # 02 · Losses and gradient descent
#
# Training means: pick a loss $L(\theta)$ that is small when the model is good, then walk
# downhill, $\theta \leftarrow \theta - \eta\, \nabla_\theta L$. Two choices decide whether the
# walk works: the **loss** (its gradient must not vanish when the model is wrong) and the
# **learning rate** $\eta$ (too small crawls, too large diverges).
#
# This lesson uses nanorec's losses (`MSELoss`, `BCELoss`, `BCEWithLogitsLoss`) and optimizer
# (`SGD`), and writes the training loop out step by step.

# %%
import numpy as np
from _common import fast_mode, pyplot, save_figure

from nanorec.nn.activations import Sigmoid
from nanorec.nn.layers import Dense
from nanorec.nn.losses import BCELoss, BCEWithLogitsLoss, MSELoss
from nanorec.optim.optimizers import SGD

FAST = fast_mode()
plt = pyplot()

# %% [markdown]
# ## 1. MSE or cross-entropy on a sigmoid output?
#
# A sigmoid unit turns a logit $z$ into a probability $p = \sigma(z)$; the target is $y = 1$.
# By the chain rule $\partial L / \partial z = \partial L / \partial p \cdot \sigma'(z)$ with
# $\sigma'(z) = p (1 - p)$:
#
# | loss | $L(p)$ | $\partial L / \partial p$ | $\partial L / \partial z$ |
# |---|---|---|---|
# | MSE | $(p - y)^2$ | $2 (p - y)$ | $2 (p - y)\, p (1 - p)$ |
# | cross-entropy | $-y \log p - (1 - y) \log(1 - p)$ | $\frac{p - y}{p (1 - p)}$ | $p - y$ |
#
# When the model is confidently **wrong** ($z \ll 0$, so $p \approx 0$ while $y = 1$), MSE's
# gradient carries the factor $p(1-p) \approx 0$: it vanishes exactly where learning is needed.
# Cross-entropy's $1/(p(1-p))$ cancels the sigmoid's slope and leaves $p - y \approx -1$.
#
# Below, each gradient is computed the way a network does it: the loss's `backward` gives
# $\partial L / \partial p$, the `Sigmoid` layer's `backward` multiplies by $\sigma'(z)$.
# Each $z$ is its own sample ($N$ of them); the losses average over the batch, so we multiply
# by $N$ to read the per-sample gradient.

# %%
z = np.linspace(-10, 10, 201)[:, None]  # (N, 1) logits, one sample each
target = np.ones_like(z)  # y = 1 everywhere


def dloss_dz(loss, z, target):
    """dL/dz of one sample per row: loss.backward() through a Sigmoid layer, times N."""
    sigmoid = Sigmoid()
    loss.forward(sigmoid.forward(z), target)
    return sigmoid.backward(loss.backward()) * len(z)


grad_mse = dloss_dz(MSELoss(), z, target)[:, 0]
grad_ce = dloss_dz(BCELoss(), z, target)[:, 0]
# BCEWithLogitsLoss takes z itself and returns sigmoid(z) - y directly: the same gradient, stable
logits_loss = BCEWithLogitsLoss()
logits_loss.forward(z, target)
grad_logits = logits_loss.backward()[:, 0] * len(z)

for z_value in (-8.0, -2.0, 0.0, 2.0):
    row = np.argmin(np.abs(z[:, 0] - z_value))
    print(f"z = {z_value:+.0f}: dL/dz  MSE {grad_mse[row]:+.6f}   cross-entropy {grad_ce[row]:+.6f}"
          f"   (BCEWithLogitsLoss {grad_logits[row]:+.6f})")
print("max |cross-entropy through Sigmoid - BCEWithLogitsLoss| =",
      f"{np.max(np.abs(grad_ce - grad_logits)):.1e}")

fig, ax = plt.subplots(figsize=(6.5, 3.8))
ax.plot(z[:, 0], np.abs(grad_mse), label="MSE: |2 (p - y) p (1 - p)|")
ax.plot(z[:, 0], np.abs(grad_ce), label="cross-entropy: |p - y|")
ax.set(title="Target y = 1: gradient reaching the logit z", xlabel="logit z (p = sigmoid(z))",
       ylabel="|dL/dz|", yscale="log")
ax.axvspan(-10, -3, color="red", alpha=0.08, label="confidently wrong")
ax.legend()
ax.grid(alpha=0.3)
save_figure(fig, "02_saturation.png")

# %% [markdown]
# ## 2. The learning rate
#
# We fit a linear model $\hat y = X w + b$ (a `Dense(D, 1)` layer) to noisy linear data by
# full-batch gradient descent on $L = \frac{1}{N} \lVert \hat y - y \rVert^2$ (`MSELoss`).
# One step is the whole of training:
#
# ```
# pred = layer.forward(X)           # (N, 1)
# loss = mse.forward(pred, y)       # a float
# layer.backward(mse.backward())    # fills layer.grads["W"] (D, 1) and ["b"] (1,)
# sgd.step(); sgd.zero_grad()       # W -= lr * dW, b -= lr * db; then grads = 0
# ```
#
# For this loss the rate that is too large can be computed. With $A = [X \mid 1]$ (the inputs
# plus a column of ones for the bias) the loss is quadratic with Hessian $H = \frac{2}{N} A^\top A$.
# Gradient descent shrinks the error along each eigenvector of $H$ by the factor
# $1 - \eta \lambda$, so it converges only when $|1 - \eta \lambda| < 1$ for every eigenvalue:
#
# $$ \eta < \eta_{\max} = \frac{2}{\lambda_{\max}(H)} . $$
#
# We try $\eta = 0.01\,\eta_{\max}$ (too small), $0.45\,\eta_{\max}$ (good) and
# $1.05\,\eta_{\max}$ (divergent).

# %%
rng = np.random.default_rng(0)
N, D = 200, 5
X = rng.normal(size=(N, D)) * np.array([1.0, 2.0, 0.5, 3.0, 1.0])  # features of unequal scale
true_w = rng.normal(size=(D, 1))
y = X @ true_w + 0.7 + 0.1 * rng.normal(size=(N, 1))  # (N, 1)

A = np.hstack([X, np.ones((N, 1))])
hessian = 2 / N * A.T @ A  # (D + 1, D + 1)
eta_max = 2 / np.linalg.eigvalsh(hessian).max()
print(f"lambda_max(H) = {2 / eta_max:.3f}, so eta_max = 2 / lambda_max = {eta_max:.4f}")
n_steps = 60 if FAST else 300


def gradient_descent(lr, n_steps, seed=0):
    """Full-batch SGD on the MSE of a Dense(D, 1); the loss before each step (stops if it blows up)."""
    layer = Dense(D, 1, rng=seed, dtype=np.float64)
    mse, sgd = MSELoss(), SGD(layer, lr=lr)
    losses = []
    for _ in range(n_steps):
        loss = mse.forward(layer.forward(X), y)
        losses.append(loss)
        if loss > 1e8:  # diverged: the next steps would overflow
            break
        layer.backward(mse.backward())
        sgd.step()
        sgd.zero_grad()
    return losses


noise_floor = float(np.mean((A @ np.linalg.lstsq(A, y, rcond=None)[0] - y) ** 2))
print(f"least-squares loss (the best any w, b can do): {noise_floor:.5f}")
fig, ax = plt.subplots(figsize=(6.5, 3.8))
for label, factor in (("too small", 0.01), ("good", 0.45), ("divergent", 1.05)):
    losses = gradient_descent(factor * eta_max, n_steps)
    print(f"{label:>10}: lr = {factor:.2f} eta_max = {factor * eta_max:.5f}, loss {losses[0]:.3f} -> "
          f"{losses[-1]:.5g} after {len(losses)} steps")
    ax.plot(losses, label=f"{label} (lr = {factor:g} eta_max)")
ax.axhline(noise_floor, color="gray", linestyle=":", label="least-squares optimum")
ax.set(title="Full-batch gradient descent on MSE", xlabel="step", ylabel="loss", yscale="log",
       ylim=(noise_floor / 2, 1e4))
ax.legend()
ax.grid(alpha=0.3)
save_figure(fig, "02_learning_rates.png")

# %% [markdown]
# Read the printed losses: the small rate has barely moved after all its steps, the good one sits
# on the least-squares optimum, and the divergent one grows by the factor $|1 - \eta
# \lambda_{\max}| > 1$ at every step. With mini-batches and non-quadratic losses there is no
# closed form for $\eta_{\max}$, but the three behaviours are the same; adaptive optimizers such as
# `Adam` (used by the recommenders of lessons 04 and 05) scale each parameter's step by its own
# gradient history, which makes them far less sensitive to the choice of $\eta$.
