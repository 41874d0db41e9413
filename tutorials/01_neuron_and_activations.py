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
# # 01 · A single neuron and its activations
#
# A neuron takes a vector $x \in \mathbb{R}^D$, weighs it, adds a bias and bends the result with
# a non-linear function $f$:
#
# $$ y = f(w \cdot x + b) = f(z), \qquad z = \sum_{d=1}^{D} w_d x_d + b . $$
#
# For a batch of $N$ inputs stacked as rows of $X$ (shape $N \times D$) this is one matrix
# product, $z = X W + b$ with $W$ of shape $D \times 1$: exactly nanorec's `Dense(D, 1)` layer,
# followed by an activation layer.
#
# This lesson: (1) a neuron's forward pass with nanorec layers, (2) the four activations and their
# derivatives, (3) each activation's hand-written `backward` checked against a finite difference,
# (4) one neuron learning the logical AND and OR by gradient descent, and failing at XOR.

# %%
import numpy as np
from _common import fast_mode, pyplot, save_figure

from nanorec.nn.activations import LeakyReLU, ReLU, Sigmoid, Tanh
from nanorec.nn.layers import Dense, Sequential
from nanorec.nn.losses import BCELoss
from nanorec.optim.optimizers import SGD
from nanorec.training import fit, predict

FAST = fast_mode()
plt = pyplot()

# %% [markdown]
# ## 1. One neuron, forward
#
# We set $w = (2, -1)$ and $b = 0.5$ by hand (a layer's `params` are plain arrays we may write
# into) and push three inputs through $\mathrm{sigmoid}(w \cdot x + b)$.

# %%
neuron = Sequential(Dense(2, 1, dtype=np.float64), Sigmoid())
neuron.params["0.W"][:] = [[2.0], [-1.0]]  # W: (D, 1) = (2, 1)
neuron.params["0.b"][:] = [0.5]  # b: (1,)
X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0]])  # (N, D) = (3, 2)
y = neuron.forward(X)  # (N, 1)
z_by_hand = X @ np.array([2.0, -1.0]) + 0.5
for x_row, z_row, y_row in zip(X, z_by_hand, y[:, 0]):
    print(f"x = {x_row}  z = w.x + b = {z_row:+.2f}  y = sigmoid(z) = {y_row:.4f}")

# %% [markdown]
# ## 2. Four activations and their derivatives
#
# | name | $f(z)$ | $f'(z)$ |
# |---|---|---|
# | sigmoid | $\sigma(z) = 1 / (1 + e^{-z})$ | $\sigma(z)\,(1 - \sigma(z))$ |
# | tanh | $\tanh z$ | $1 - \tanh^2 z$ |
# | ReLU | $\max(z, 0)$ | $1$ if $z > 0$ else $0$ |
# | leaky ReLU | $z$ if $z > 0$ else $\alpha z$ | $1$ if $z > 0$ else $\alpha$ |
#
# An activation is applied entry by entry, so its `backward` is the chain rule with the local
# derivative: given the upstream gradient $dy = \partial L / \partial y$, it returns
# $dz = dy \odot f'(z)$. Feeding $dy = 1$ therefore reads $f'(z)$ straight out of `backward`.
#
# Sigmoid's derivative is at most $1/4$ and tanh's at most $1$; both fade to $0$ for large
# $|z|$ (the neuron *saturates* and stops learning). ReLU passes gradients unchanged for $z > 0$
# but gives exactly $0$ for $z < 0$; leaky ReLU keeps a small slope $\alpha$ there.

# %%
ACTIVATIONS = {"sigmoid": Sigmoid(), "tanh": Tanh(), "ReLU": ReLU(), "leaky ReLU (alpha=0.1)": LeakyReLU(0.1)}
z = np.linspace(-5, 5, 401)  # (401,): steps of 0.025, one of them exactly 0
z = z[z != 0]  # ReLU has a kink at 0, where its derivative is not defined


def value_and_derivative(activation, z):
    """f(z) from forward and f'(z) from backward with dy = 1, both shaped like z."""
    value = activation.forward(z)
    return value, activation.backward(np.ones_like(z))


fig, (ax_value, ax_slope) = plt.subplots(1, 2, figsize=(10, 3.8))
for name, activation in ACTIVATIONS.items():
    value, slope = value_and_derivative(activation, z)
    ax_value.plot(z, value, label=name)
    ax_slope.plot(z, slope, label=name)
ax_value.set(title="f(z)", xlabel="z", ylim=(-1.5, 5))
ax_slope.set(title="f'(z) from backward (dy = 1)", xlabel="z")
ax_value.legend()
ax_value.grid(alpha=0.3)
ax_slope.grid(alpha=0.3)
save_figure(fig, "01_activations.png")

# %% [markdown]
# ## 3. Is `backward` right? Compare with a finite difference
#
# The centred difference approximates the derivative without any calculus:
#
# $$ f'(z) \approx \frac{f(z + h) - f(z - h)}{2h}, \qquad \text{error} = O(h^2). $$
#
# With $h = 10^{-6}$ in float64 a correct derivative agrees to about $10^{-9}$. We stay away from
# $z = 0$, where ReLU's slope jumps and the two sides of the difference disagree.

# %%
h = 1e-6
print(f"{'activation':<24}{'max |backward - finite difference|':>36}")
for name, activation in ACTIVATIONS.items():
    _, slope = value_and_derivative(activation, z)
    numeric = (activation.forward(z + h) - activation.forward(z - h)) / (2 * h)
    print(f"{name:<24}{np.max(np.abs(slope - numeric)):>36.2e}")

# %% [markdown]
# ## 4. A neuron learns AND and OR
#
# Inputs are the four corners $x \in \{0, 1\}^2$; the target is $t = x_1 \wedge x_2$ (AND) or
# $t = x_1 \vee x_2$ (OR). The neuron outputs a probability $p = \sigma(w \cdot x + b)$ and we
# minimise the binary cross-entropy averaged over the four samples,
#
# $$ L = -\frac{1}{4} \sum_{n} \big( t_n \log p_n + (1 - t_n) \log (1 - p_n) \big), $$
#
# by gradient descent, $w \leftarrow w - \eta\, \partial L / \partial w$ (nanorec's `SGD`), with
# the whole batch at every step. Lesson 02 explains why cross-entropy suits a sigmoid output.
#
# AND and OR are *linearly separable*: a line $w \cdot x + b = 0$ splits the ones from the zeros.
# XOR is not, so a single neuron cannot get all four corners right; lesson 03 adds a hidden layer.

# %%
CORNERS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)  # (4, 2)
TARGETS = {
    "AND": np.array([0, 0, 0, 1.0]),
    "OR": np.array([0, 1, 1, 1.0]),
    "XOR": np.array([0, 1, 1, 0.0]),
}
n_steps = 300 if FAST else 3000


def train_neuron(targets, n_steps, lr=1.0, seed=0):
    """A Dense(2, 1) + Sigmoid neuron trained by full-batch SGD on BCE; returns it and its history
    (a dict of per-epoch lists: "loss", "accuracy")."""
    model = Sequential(Dense(2, 1, rng=seed, dtype=np.float64), Sigmoid())
    history = fit(model, BCELoss(), SGD(model, lr=lr), CORNERS, targets[:, None],
                  n_epochs=n_steps, batch_size=len(CORNERS), seed=seed)
    return model, history


fig, ax = plt.subplots(figsize=(6, 3.8))
for gate, targets in TARGETS.items():
    model, history = train_neuron(targets, n_steps)
    p = predict(model, CORNERS)[:, 0]
    w, b = model.params["0.W"][:, 0], model.params["0.b"][0]
    print(f"{gate}: w = ({w[0]:+.2f}, {w[1]:+.2f}), b = {b:+.2f}, final loss {history['loss'][-1]:.4f}, "
          f"accuracy {history['accuracy'][-1]:.2f}")
    print("     p(x) at the corners 00 01 10 11:", np.round(p, 3), " targets:", targets)
    ax.plot(history["loss"], label=gate)
ax.set(title="One neuron, full-batch gradient descent (lr = 1)", xlabel="step", ylabel="BCE loss",
       yscale="log")
ax.legend()
ax.grid(alpha=0.3)
save_figure(fig, "01_and_or_training.png")

# %% [markdown]
# AND and OR reach accuracy 1 and a loss that keeps falling towards 0 (the weights grow to make
# the probabilities ever more confident). XOR's loss stalls near $\log 2 \approx 0.693$, the loss
# of answering $p = 1/2$ everywhere: no line separates its classes, so the best a single neuron
# can do is hedge.
