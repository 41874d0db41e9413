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
# # 03 · Exercise: write the backward pass yourself
#
# The network of lesson 03, for $N$ inputs with $D$ features and $H$ hidden units:
#
# $$ a_1 = x W_1 + b_1,\quad h = \tanh(a_1),\quad a_2 = h W_2 + b_2,\quad p = \sigma(a_2),\quad
#    L = -\tfrac{1}{N} \textstyle\sum_n y_n \log p_n + (1 - y_n) \log(1 - p_n) $$
#
# with shapes $x$ $(N, D)$, $W_1$ $(D, H)$, $b_1$ $(H,)$, $W_2$ $(H, 1)$, $b_2$ $(1,)$,
# $p$ and $y$ $(N, 1)$. The forward pass is written for you. **Your task:** fill in the three
# functions marked `TODO`. The checker then compares each gradient with finite differences and
# prints, for dW1, db1, dW2, db2 and dx, `OK` or `WRONG` with the relative error and the entry
# where your gradient is furthest off.
#
# Run it:
#
# ```
# python tutorials/03_exercise_backprop.py              # checks your functions
# python tutorials/03_exercise_backprop.py --solution   # checks the reference solution (all OK)
# ```
#
# Hints: every gradient has the shape of its variable; $\sigma'(a) = p(1-p)$ and
# $\tanh'(a) = 1 - h^2$; do not forget the $\frac{1}{N}$ of the mean. Lesson 03 derives
# everything if you are stuck.

# %%
import sys

import numpy as np
from _checker import check_backprop, report


def make_problem(n=6, d=3, n_hidden=4, seed=0):
    """Random float64 parameters {"W1", "b1", "W2", "b2"}, inputs x (n, d) and 0/1 targets y (n, 1)."""
    rng = np.random.default_rng(seed)
    params = {
        "W1": rng.normal(size=(d, n_hidden)),
        "b1": rng.normal(size=n_hidden),
        "W2": rng.normal(size=(n_hidden, 1)),
        "b2": rng.normal(size=1),
    }
    x = rng.normal(size=(n, d))
    y = rng.integers(0, 2, size=(n, 1)).astype(np.float64)
    return params, x, y


def forward(params, x, y):
    """The loss L (float) and the cache that backward reads."""
    h = np.tanh(x @ params["W1"] + params["b1"])  # (N, H)
    p = 1 / (1 + np.exp(-(h @ params["W2"] + params["b2"])))  # (N, 1)
    loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    cache = {"x": x, "h": h, "p": p, "y": y, "W1": params["W1"], "W2": params["W2"]}
    return loss, cache


# %% [markdown]
# ## Your part

# %%
def bce_sigmoid_backward(p, y):
    """dL/da2 (N, 1) of the mean binary cross-entropy of p = sigmoid(a2) against y (both (N, 1))."""
    raise NotImplementedError  # TODO


def tanh_backward(dh, h):
    """dL/da1 (N, H) given dh = dL/dh (N, H) and the output h = tanh(a1) (N, H)."""
    raise NotImplementedError  # TODO


def dense_backward(da, inputs, W):
    """The gradients of a = inputs W + b, given da = dL/da (N, D_out), inputs (N, D_in), W (D_in, D_out).

    Returns (d_inputs (N, D_in), dW (D_in, D_out), db (D_out,)).
    """
    raise NotImplementedError  # TODO


# %% [markdown]
# ## The chain (given): the three rules in reverse order of the forward pass

# %%
def backward(cache):
    """All gradients of the network from the forward's cache, by the functions above."""
    da2 = bce_sigmoid_backward(cache["p"], cache["y"])
    dh, dW2, db2 = dense_backward(da2, cache["h"], cache["W2"])
    da1 = tanh_backward(dh, cache["h"])
    dx, dW1, db1 = dense_backward(da1, cache["x"], cache["W1"])
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2, "dx": dx}


# %% [markdown]
# ## Check

# %%
if __name__ == "__main__":
    if "--solution" in sys.argv[1:]:
        print("checking the reference solution (tutorials/_backprop_solution.py)")
        from _backprop_solution import bce_sigmoid_backward, dense_backward, tanh_backward  # noqa: F401, F811
    params, x, y = make_problem()
    print(report(check_backprop(forward, backward, params, x, y)))
