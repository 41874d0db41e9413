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
# # 07 · Vanishing and exploding gradients
#
# Backpropagation multiplies: the gradient reaching a layer is the upstream gradient times every
# local derivative on the way down. A product of many factors below 1 shrinks to nothing (the
# gradient *vanishes* and the early layers stop learning); a product of factors above 1 blows up
# (it *explodes* and a step of gradient descent throws the weights away). This lesson measures
# both, with `nanorec.nn.GradientFlow`: a context manager that watches every layer of a network
# during forward and backward, without changing the layers, and records per layer
#
# - `grad_norm`: $\lVert \partial L / \partial y \rVert$, the gradient arriving at the layer's output;
# - `param_grad_norm`: the norm of the gradient the layer's parameters received;
# - `saturated`: for Sigmoid and Tanh, the fraction of outputs in the flat tails
#   ($|y| > 0.99$ for tanh, $y < 0.01$ or $y > 0.99$ for the sigmoid: thresholds you can set);
# - `dead`: for ReLU, the fraction of units that output 0 for every example of the batch;
# - `step_grad_norms`: for the RNN, $\lVert \partial L / \partial x_t \rVert$ at every time step.
#
# ```
# with GradientFlow(network) as flow:       # wraps each layer's forward/backward...
#     loss.forward(network.forward(x), y)
#     network.backward(loss.backward())
# flow["0"].grad_norm                       # ...and restores them on exit; the records stay
# ```
#
# Three experiments: the recurrent network over 50 time steps, a sigmoid output trained with MSE
# or with cross-entropy from a saturated start, and deep MLPs with a bad and a good initialisation.

# %%
import numpy as np
from _common import fast_mode, pyplot, save_figure

from nanorec.nn import (
    RNN,
    BCELoss,
    Dense,
    GradientFlow,
    MSELoss,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
)
from nanorec.optim.optimizers import SGD

FAST = fast_mode()
plt = pyplot()

# %% [markdown]
# ## 1. The recurrent network: a product of T Jacobians
#
# The RNN of nanorec (lesson 05's sequence models use it) computes, for $t = 1 \dots T$,
#
# $$ a_t = x_t W_x + h_{t-1} W_h + b, \qquad h_t = \tanh(a_t). $$
#
# Put the loss on the last state, $L = L(h_T)$. Backprop through time sends the gradient one
# step back by
#
# $$ \frac{\partial L}{\partial h_{t-1}} = \Big(\frac{\partial L}{\partial h_t} \odot
#    \tanh'(a_t)\Big)\, W_h^\top, \qquad \tanh'(a_t) = 1 - h_t^2 \in (0, 1]. $$
#
# Two facts bound each step: multiplying a vector entry by entry by $\tanh'(a_t)$ shrinks its norm
# by at most $m = \max \tanh'$, and multiplying by $W_h^\top$ stretches it by at most the largest
# singular value $\sigma_{\max}(W_h)$. So after $T$ steps
#
# $$ \Big\lVert \frac{\partial L}{\partial h_0} \Big\rVert \le
#    \big(\sigma_{\max}(W_h)\; m\big)^T \Big\lVert \frac{\partial L}{\partial h_T} \Big\rVert . $$
#
# If $\sigma_{\max}(W_h)\, m < 1$ the gradient from a step $T$ steps back must vanish
# geometrically: the network cannot learn that an early input mattered. If $\sigma_{\max} > 1$
# the bound allows explosion (it does not force it: the tanh can saturate, $m < 1$).
#
# **What we measure.** `GradientFlow` records, for an RNN, the gradient reaching each step through
# its input, $\lVert \partial L / \partial x_t \rVert$, read off the $dx$ that `RNN.backward`
# returns. We set $W_x = I$ (input size = state size), so that $\partial L / \partial x_t =
# \partial L / \partial a_t$, which obeys the same recursion, $\partial L / \partial a_{t-1} =
# (\partial L / \partial a_t\, W_h^\top) \odot \tanh'(a_{t-1})$, and so the same bound:
#
# $$ r_k = \frac{\lVert \partial L / \partial x_{T-k} \rVert}{\lVert \partial L / \partial x_T \rVert}
#    \;\le\; \prod_{j=1}^{k} \sigma_{\max}(W_h)\, m_{T-j} \;\le\; \sigma_{\max}(W_h)^k ,
#    \qquad m_t = \max \tanh'(a_t) , $$
#
# for $k = 0, 1, \dots, 49$: the gradient that has travelled back $k$ steps of a 50-step sequence.
# $W_h = g\,Q$ with $Q$ a random orthogonal matrix, so that every singular value is $g$: a
# contracting recurrence ($g = 0.9$) and an expanding one ($g = 1.2$). The inputs are small, so the
# states start near 0, where tanh is nearly linear.

# %%
HIDDEN, N_SEQUENCES, STEPS = 32, 8 if FAST else 32, 50
rng = np.random.default_rng(0)
orthogonal, _ = np.linalg.qr(rng.normal(size=(HIDDEN, HIDDEN)))
inputs = 0.01 * rng.normal(size=(N_SEQUENCES, STEPS, HIDDEN))
upstream = rng.normal(size=(N_SEQUENCES, HIDDEN))  # dL/dh_T


def gradient_reaching_each_step(W_h):
    """Run the RNN over the 50 steps with the loss's gradient on h_T only; return r_k (k = 0 .. 49)
    measured by GradientFlow, the bounds prod_j sigma m_{T-j} and sigma^k, sigma itself, and the
    mean of tanh'(a_t) over the batch and the units at each step t."""
    rnn = RNN(HIDDEN, HIDDEN, return_sequences=True, rng=1, dtype=np.float64)
    rnn.params["W_x"][...] = np.eye(HIDDEN)
    rnn.params["W_h"][...] = W_h
    dy = np.zeros((N_SEQUENCES, STEPS, HIDDEN))
    dy[:, -1] = upstream  # every state is returned; only the last one gets a gradient
    with GradientFlow(rnn) as flow:
        states = rnn.forward(inputs)  # (N, T, H)
        rnn.backward(dy)
    step_norms = flow["RNN"].step_grad_norms[0]  # (T,): ||dL/dx_t||, t = 1 .. T
    ratios = step_norms[::-1] / step_norms[-1]  # r_k, k = 0 .. T-1
    sigma = np.linalg.norm(W_h, 2)  # the largest singular value
    max_slope = (1 - states**2).max(axis=(0, 2))[::-1]  # m_{T-k}, k = 0 .. T-1
    per_step_bound = np.concatenate([[1.0], np.cumprod(sigma * max_slope[1:])])
    mean_slope = (1 - states**2).mean(axis=(0, 2))  # the average unit's tanh' at each step
    return ratios, per_step_bound, sigma ** np.arange(STEPS), sigma, mean_slope


rnn_results = {}
for label, gain in (("contracting", 0.9), ("expanding", 1.2)):
    ratios, per_step_bound, sigma_bound, sigma, mean_slope = gradient_reaching_each_step(
        gain * orthogonal)
    rnn_results[label] = ratios, per_step_bound, sigma_bound
    print(f"{label}: sigma_max(W_h) = {sigma:.3f}; mean tanh' over the first 10 steps "
          f"{mean_slope[:10].mean():.3f}, over the last 10 {mean_slope[-10:].mean():.3f}")
    for k in (1, 10, 20, 30, 49):
        print(f"   k = {k:2d} steps back: r_k = {ratios[k]:.3e}   bound with m_t "
              f"{per_step_bound[k]:.3e}   sigma^k {sigma_bound[k]:.3e}")
    holds = np.all(ratios <= per_step_bound * (1 + 1e-9))
    print(f"   r_k below the bound at every k: {holds}")

fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
for ax, (label, (ratios, per_step_bound, sigma_bound)) in zip(axes, rnn_results.items()):
    k = np.arange(STEPS)
    ax.plot(k, ratios, label="measured r_k (GradientFlow)")
    ax.plot(k, per_step_bound, "--", label="bound prod sigma_max m_t")
    ax.plot(k, sigma_bound, ":", label="bound sigma_max^k")
    ax.set(title=f"{label} W_h", xlabel="k, steps back from the loss", yscale="log")
    ax.grid(alpha=0.3)
axes[0].set_ylabel("||dL/dx_(T-k)|| / ||dL/dx_T||")
axes[0].legend()
save_figure(fig, "07_rnn_gradient_decay.png")

# %% [markdown]
# Read the printed numbers. The contracting recurrence follows its bound $0.9^k$ closely: the
# states stay small, $m_t \approx 1$, and an orthogonal $Q$ stretches every direction equally,
# the worst case the bound assumes. Read $r_{49}$: what is left of the gradient after 49 steps.
#
# The expanding recurrence stays below its bound too, and far below it. Its states grow along the
# sequence, away from the linear part of the tanh, so the slopes fall (compare the mean $\tanh'$
# of the first and the last 10 steps); in the late steps they nearly cancel the stretch of $W_h$,
# and the gradient travelling back through them hardly grows. The bound cannot see this: $m_t$ is
# the largest slope of *any* unit, some unit is always near 0, so $m_t \approx 1$ and the
# per-step bound (dashed) is hardly below $\sigma^k$ (dotted). Once the gradient reaches the
# early steps, where the states were still small, it grows by nearly $1.2$ per step, as fast as
# the bound allows. A bound is a worst case: $\sigma_{\max} m < 1$ makes vanishing certain,
# $\sigma_{\max} > 1$ only makes explosion possible. The usual remedies:
# clipping the gradient's norm against explosion; against vanishing, gated cells (LSTM, GRU),
# whose state has a path back in time that is not multiplied by $W_h$ at every step.

# %% [markdown]
# ## 2. Sigmoid + MSE against sigmoid + cross-entropy, from a saturated start
#
# Lesson 02 showed the gradient each loss sends to one logit $z$. Here a whole logistic
# regression, `Dense(D, 1) -> Sigmoid`, trains by gradient descent from a **saturated start**:
# the weights point the wrong way and are large, so most outputs sit in the sigmoid's flat tails,
# confidently wrong. With $p = \sigma(z)$ and target $y$:
#
# $$ \text{MSE: } \frac{\partial L}{\partial z} = \frac{2}{N} (p - y)\, p (1 - p), \qquad
#    \text{cross-entropy: } \frac{\partial L}{\partial z} = \frac{1}{N} (p - y) . $$
#
# The factor $p(1-p) \le 0.25$, and near 0 in the tails, is the sigmoid's derivative: MSE keeps
# it, cross-entropy cancels it. `GradientFlow` records, at every step, the gradient reaching the
# logits (`grad_norm` of the Dense layer), the weights' gradient (`param_grad_norm`) and the
# fraction of saturated outputs (`saturated` of the Sigmoid).

# %%
N_POINTS, FEATURES, LEARNING_RATE = 200, 2, 1.0
TRAIN_STEPS = 150 if FAST else 600
data_rng = np.random.default_rng(1)
points = data_rng.normal(size=(N_POINTS, FEATURES))
true_direction = np.array([[1.0], [-2.0]]) / np.sqrt(5)
labels = (points @ true_direction > 0).astype(np.float64)  # (N, 1) zeros and ones


def logit_gradient(loss, p):
    """dL/dz from the formulas above, (N, 1)."""
    if isinstance(loss, MSELoss):
        return 2 / len(p) * (p - labels) * p * (1 - p)
    return (p - labels) / len(p)


def train_logistic(loss):
    """Gradient descent on Dense(2, 1) -> Sigmoid from W = -8 * the true direction; per step the
    loss, the accuracy and what GradientFlow recorded; and ||dL/dz|| at step 0 by the formula."""
    dense = Dense(FEATURES, 1, dtype=np.float64)
    dense.params["W"][...] = -8 * true_direction  # confidently wrong: saturated and reversed
    model = Sequential(dense, Sigmoid())
    optimizer = SGD(model, lr=LEARNING_RATE)
    losses, accuracies = [], []
    with GradientFlow(model) as flow:
        for step in range(TRAIN_STEPS):
            p = model.forward(points)
            if step == 0:
                formula = np.linalg.norm(logit_gradient(loss, p))
            losses.append(loss.forward(p, labels))
            accuracies.append(np.mean((p > 0.5) == labels))
            model.backward(loss.backward())
            optimizer.step()
            optimizer.zero_grad()
    p = model.forward(points)
    confidently_wrong = np.mean(np.abs(p - labels) > 0.99)  # saturated on the wrong side
    return {"loss": np.array(losses), "accuracy": np.array(accuracies),
            "logit_grad": flow["0"].grad_norm, "weight_grad": flow["0"].param_grad_norm,
            "saturated": flow["1"].saturated, "saturated_wrong": confidently_wrong,
            "logit_grad_formula": formula}


runs = {"sigmoid + MSE": train_logistic(MSELoss()), "sigmoid + cross-entropy": train_logistic(BCELoss())}
for name, run in runs.items():
    reached = np.flatnonzero(run["accuracy"] >= 0.95)
    when = f"reached at step {reached[0]}" if len(reached) else f"not reached in {TRAIN_STEPS} steps"
    print(f"{name}:")
    print(f"   step 0: accuracy {run['accuracy'][0]:.2f}, saturated outputs {run['saturated'][0]:.0%}, "
          f"||dL/dz|| {run['logit_grad'][0]:.2e} (the formula: {run['logit_grad_formula']:.2e}), "
          f"||dL/dW|| {run['weight_grad'][0]:.2e}")
    print(f"   95% accuracy {when}; after {TRAIN_STEPS} steps: accuracy {run['accuracy'][-1]:.2f}, "
          f"saturated {run['saturated'][-1]:.0%}, confidently wrong {run['saturated_wrong']:.0%}, "
          f"loss {run['loss'][-1]:.4f}")
ratio = runs["sigmoid + cross-entropy"]["weight_grad"][0] / runs["sigmoid + MSE"]["weight_grad"][0]
print(f"at the saturated start cross-entropy's weight gradient is {ratio:.1f} times MSE's")

fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
for name, run in runs.items():
    axes[0].plot(run["accuracy"], label=name)
    axes[1].plot(run["weight_grad"], label=name)
    axes[2].plot(run["saturated"], label=name)
axes[0].set(title="accuracy", xlabel="step", ylim=(0, 1.02))
axes[1].set(title="||dL/dW|| (GradientFlow)", xlabel="step", yscale="log")
axes[2].set(title="saturated sigmoid outputs", xlabel="step", ylim=(0, 1.02))
for ax in axes:
    ax.grid(alpha=0.3)
axes[0].legend()
save_figure(fig, "07_mse_vs_cross_entropy.png")

# %% [markdown]
# Both runs start from the same weights, with the same learning rate; the printed numbers show how
# far apart they end. MSE's gradient starts small because most outputs are saturated
# ($p(1-p) \approx 0$) and wrong. It slowly turns the weights, but the points that stay
# confidently wrong send it almost nothing, so it spends its steps making the points it already
# has right more confident: the saturated fraction climbs again, much of it on the wrong side.
# Cross-entropy's gradient is largest exactly when an output is most wrong, so the wrong
# saturation is gone within a few steps; its outputs saturate again later, on the right side
# (confident and correct: what training wants). This is why classifiers and recommenders trained
# on clicks use cross-entropy (`BCEWithLogitsLoss`) on a sigmoid output, never MSE.

# %% [markdown]
# ## 3. Deep MLPs: saturated tanh units and dead ReLUs
#
# A Dense layer's backward sends $\partial L / \partial x = \partial L / \partial y\, W^\top$ down,
# and an activation multiplies it by its derivative. Over many layers the gradient's size is again
# a product, now of the weights' scale and the activations' slopes. The initialisation sets both:
#
# - **tanh, bad**: $W \sim \mathcal N(0, 1)$. With 64 inputs per unit the pre-activations have a
#   standard deviation near 8, so most units sit in the flat tails (saturated);
# - **tanh, good**: Glorot, $W \sim U(-a, a)$ with $a = \sqrt{6 / (\text{fan}_{in} + \text{fan}_{out})}$,
#   which keeps the pre-activations' variance near 1 layer after layer;
# - **ReLU, bad**: He weights but every bias set to $-1$. A unit whose pre-activation is negative
#   for every example of the batch outputs 0 and gets no gradient: it is **dead** for that batch;
# - **ReLU, good**: He, $W \sim \mathcal N(0, 2 / \text{fan}_{in})$, biases 0.
#
# Each network has 6 hidden layers of 64 units, initialised as named, and one Glorot output unit,
# on 256 random inputs with random targets and MSE. One forward and backward pass each, recorded by
# `GradientFlow`:

# %%
DEPTH, WIDTH, INPUTS, BATCH = 6, 64, 16, 256
MLP_STEPS = 15 if FAST else 300


def standard_normal(shape, rng, dtype):
    """The bad init: W ~ N(0, 1) whatever the layer's width."""
    return rng.standard_normal(shape).astype(dtype)


def make_mlp(activation, init, bias):
    """DEPTH x (Dense(., WIDTH) with ``init`` and every bias ``bias`` -> activation), then a
    Glorot Dense(WIDTH, 1)."""
    layers, fan_in, init_rng = [], INPUTS, np.random.default_rng(2)
    for _ in range(DEPTH):
        dense = Dense(fan_in, WIDTH, init=init, rng=init_rng, dtype=np.float64)
        dense.params["b"][...] = bias
        layers += [dense, activation()]
        fan_in = WIDTH
    layers.append(Dense(fan_in, 1, rng=init_rng, dtype=np.float64))
    return Sequential(*layers)


def units_fraction(trace):
    """The fraction GradientFlow records for an activation: saturated (tanh) or dead (ReLU)."""
    return trace.saturated if trace.measure == "saturated" else trace.dead


mlp_rng = np.random.default_rng(3)
mlp_x, mlp_y = mlp_rng.normal(size=(BATCH, INPUTS)), mlp_rng.normal(size=(BATCH, 1))
setups = {
    "tanh, N(0, 1)": (Tanh, standard_normal, 0.0),
    "tanh, Glorot": (Tanh, "glorot_uniform", 0.0),
    "ReLU, He, bias -1": (ReLU, "he_normal", -1.0),
    "ReLU, He": (ReLU, "he_normal", 0.0),
}
per_layer = {}
for name, (activation, init, bias) in setups.items():
    mlp, mse = make_mlp(activation, init, bias), MSELoss()
    with GradientFlow(mlp) as flow:
        mse.forward(mlp.forward(mlp_x), mlp_y)
        mlp.backward(mse.backward())
    print(f"{name}: one pass; layers 0, 2, .. 10 are the hidden Dense layers, 12 the output")
    print(flow.summary())
    dense_names, activation_names = flow.names[0:-1:2], flow.names[1::2]
    per_layer[name] = (np.array([flow[n].param_grad_norm[0] for n in dense_names]),
                       np.array([units_fraction(flow[n])[0] for n in activation_names]))

# %% [markdown]
# Read the tables. With $\mathcal N(0, 1)$ weights half or more of the tanh units of every layer
# are saturated, and yet the gradient is not small: the large weights multiply it by about
# $\sqrt{64}$ per layer on the way down, more than the saturated slopes take away, so it grows
# toward the input side (it *explodes*) while most units pass almost nothing. With the negative
# biases the ReLUs die layer by layer; once a whole layer is dead, no gradient reaches any layer
# below it (their norms print as 0). Glorot (tanh) and He (ReLU) keep the gradient's size within
# a small factor from the output to the input: every layer learns at a similar speed. Even He
# leaves some units of the deep layers dead for this batch (a deep ReLU layer's inputs are all
# non-negative and alike from one example to the next), but far fewer, and no whole layer.
#
# Can training repair the dead network? A dead unit gets no gradient, and neither does anything
# below a dead layer. Both ReLU networks train with the same SGD; `GradientFlow` records the
# dead fraction of every hidden layer at every step.

# %%
relu_runs = {}
for name in ("ReLU, He, bias -1", "ReLU, He"):
    mlp, mse = make_mlp(*setups[name]), MSELoss()
    optimizer = SGD(mlp, lr=0.003)
    losses = []
    with GradientFlow(mlp) as flow:
        for _ in range(MLP_STEPS):
            losses.append(mse.forward(mlp.forward(mlp_x), mlp_y))
            mlp.backward(mse.backward())
            optimizer.step()
            optimizer.zero_grad()
    dead = np.stack([flow[n].dead for n in flow.names[1::2]])  # (hidden layers, steps)
    relu_runs[name] = np.array(losses), dead
    print(f"{name}: loss {losses[0]:.3f} -> {losses[-1]:.3f} in {MLP_STEPS} steps of SGD")
    print("   dead units per hidden layer, first step: "
          + " ".join(f"{fraction:.0%}" for fraction in dead[:, 0]))
    print("   dead units per hidden layer, last step:  "
          + " ".join(f"{fraction:.0%}" for fraction in dead[:, -1]))

fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
layer_numbers = np.arange(1, DEPTH + 1)
for name, (weight_grads, fractions) in per_layer.items():
    axes[0].plot(layer_numbers, weight_grads, "o-", label=name)
    axes[1].plot(layer_numbers, fractions, "o-", label=name)
for name, (losses, _) in relu_runs.items():
    axes[2].plot(losses, label=name)
axes[0].set(title="||dL/dW|| per hidden layer (one pass)", xlabel="hidden layer (1 = input side)")
axes[0].set_yscale("symlog", linthresh=1e-3)
axes[1].set(title="saturated (tanh) or dead (ReLU) units", xlabel="hidden layer", ylim=(-0.02, 1.02))
axes[2].set(title="training loss, the two ReLU networks", xlabel="step")
for ax in axes:
    ax.grid(alpha=0.3)
handles, legend_labels = axes[1].get_legend_handles_labels()
fig.legend(handles, legend_labels, loc="lower center", ncol=4, bbox_to_anchor=(0.5, -0.14))
axes[2].legend()
save_figure(fig, "07_mlp_init.png")

# %% [markdown]
# The printed rows tell the story: the network with the negative biases keeps its dead layers
# dead, its loss hardly moves, and only the output unit's bias learns (it moves toward the mean of
# the targets: the last hidden layer gives the output weights nothing to learn from).
# The He network's loss falls, and its few dead units can come back, since the layers below them
# still learn and change their inputs (compare its two rows).
#
# `GradientFlow` works on any nanorec network, the recommenders of lessons 04 and 05 included:
# wrap one training step of a model's network to see where its gradient goes.
