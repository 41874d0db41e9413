"""The per-example part of a DP-SGD step for BiasedMF: gradients, clipping, and their sum.

Parameters theta = (mu (1,), b_u (U,), b_i (I,), P (U, K), Q (I, K)). For an example (u, i, r)
with e = r - r_hat[u, i] and the loss 1/2 e^2 + reg / 2 (b_u[u]^2 + b_i[i]^2 + |P[u]|^2 + |Q[i]|^2):

    g_mu = -e,  g_bu = -e + reg b_u[u],  g_bi = -e + reg b_i[i]
    g_P[u] = -e Q[i] + reg P[u],  g_Q[i] = -e P[u] + reg Q[i]
    |g|^2 = g_mu^2 + g_bu^2 + g_bi^2 + |g_P|^2 + |g_Q|^2
    clipped g = g * min(1, C / |g|)                      so |clipped g| <= C

``clipped_gradient_sum_ref`` (NumPy, built from the readable per-example functions) and
``clipped_gradient_sum_nb`` (one compiled loop over the batch) add the clipped gradients of a batch
into five accumulator arrays (the caller fills them with the Gaussian noise first) and return the
batch's sum of 1/2 e^2. All examples read the parameters before the step, so the order does not
matter and both agree to rounding.
"""

import numba
import numpy as np


def per_example_gradients(params, users, items, ratings, reg):
    """The gradient of each example's loss, block by block.

    Parameters
    ----------
    params : tuple (mu (1,), b_u (U,), b_i (I,), P (U, K), Q (I, K))
    users, items : int arrays (n,);  ratings : float array (n,);  reg : float

    Returns
    -------
    (g_mu (n,), g_bu (n,), g_bi (n,), g_P (n, K), g_Q (n, K)), and e (n,)
    """
    mu, user_bias, item_bias, user_factors, item_factors = params
    b_u, b_i = user_bias[users], item_bias[items]
    p, q = user_factors[users], item_factors[items]
    errors = ratings - (mu[0] + b_u + b_i + np.einsum("nk,nk->n", p, q))
    gradients = (-errors, -errors + reg * b_u, -errors + reg * b_i,
                 -errors[:, None] * q + reg * p, -errors[:, None] * p + reg * q)
    return gradients, errors


def example_norms(gradients):
    """|g_n| (n,): the L2 norm of each example's gradient over all five blocks."""
    return np.sqrt(sum(np.square(g).reshape(len(g), -1).sum(axis=1) for g in gradients))


def clip_gradients(gradients, max_grad_norm):
    """Each example's gradient times min(1, C / |g_n|): its norm becomes at most C."""
    scale = np.minimum(1.0, max_grad_norm / np.maximum(example_norms(gradients), 1e-300))
    return tuple(g * (scale if g.ndim == 1 else scale[:, None]) for g in gradients)


def clipped_gradient_sum_ref(mu, user_bias, item_bias, user_factors, item_factors,
                             users, items, ratings, reg, max_grad_norm,
                             sum_mu, sum_user_bias, sum_item_bias, sum_user_factors, sum_item_factors):
    """Add the clipped per-example gradients of the batch into the ``sum_*`` arrays (in place,
    same shapes as the parameters); return sum over the batch of 1/2 e^2."""
    params = (mu, user_bias, item_bias, user_factors, item_factors)
    gradients, errors = per_example_gradients(params, users, items, ratings, reg)
    g_mu, g_bu, g_bi, g_P, g_Q = clip_gradients(gradients, max_grad_norm)
    sum_mu[0] += g_mu.sum()
    np.add.at(sum_user_bias, users, g_bu)  # add.at: a user twice in the batch adds twice
    np.add.at(sum_item_bias, items, g_bi)
    np.add.at(sum_user_factors, users, g_P)
    np.add.at(sum_item_factors, items, g_Q)
    return float(0.5 * np.sum(errors**2))


@numba.njit(cache=True)
def clipped_gradient_sum_nb(mu, user_bias, item_bias, user_factors, item_factors,
                            users, items, ratings, reg, max_grad_norm,
                            sum_mu, sum_user_bias, sum_item_bias, sum_user_factors, sum_item_factors):
    """Compiled twin of ``clipped_gradient_sum_ref`` (same arguments, same result)."""
    n_factors = user_factors.shape[1]
    half_squared_errors = 0.0
    for n in range(len(users)):
        u, i = users[n], items[n]
        dot = 0.0
        for k in range(n_factors):
            dot += user_factors[u, k] * item_factors[i, k]
        error = ratings[n] - (mu[0] + user_bias[u] + item_bias[i] + dot)
        half_squared_errors += 0.5 * error * error
        g_bu = -error + reg * user_bias[u]
        g_bi = -error + reg * item_bias[i]
        squared_norm = error * error + g_bu * g_bu + g_bi * g_bi
        for k in range(n_factors):  # first pass: the norm of the factor blocks
            g_p = -error * item_factors[i, k] + reg * user_factors[u, k]
            g_q = -error * user_factors[u, k] + reg * item_factors[i, k]
            squared_norm += g_p * g_p + g_q * g_q
        scale = min(1.0, max_grad_norm / max(np.sqrt(squared_norm), 1e-300))
        sum_mu[0] += -error * scale
        sum_user_bias[u] += g_bu * scale
        sum_item_bias[i] += g_bi * scale
        for k in range(n_factors):  # second pass: recompute and add (cheaper than storing)
            p_k, q_k = user_factors[u, k], item_factors[i, k]
            sum_user_factors[u, k] += (-error * q_k + reg * p_k) * scale
            sum_item_factors[i, k] += (-error * p_k + reg * q_k) * scale
    return half_squared_errors
