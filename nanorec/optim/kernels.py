"""Update rules of the optimizers: each a Numba kernel ``*_nb`` beside its plain NumPy twin ``*_ref``.

Every rule comes in two forms with the same arguments in the same order:

    dense    rule_dense(param, grad, *state, *hyperparameters)
             param, grad and the state arrays have one shape (any shape, C-contiguous for the
             kernels, which walk a raveled view); every entry is updated.
    sparse   rule_sparse(param, rows, values, *state, *hyperparameters)
             param and the state arrays are (R, D) tables; rows (m,) are UNIQUE int64 row ids and
             values (m, D) the gradient of those rows (coalesce repeated rows first). Only the
             listed rows of param and of the state arrays are read and written.

Arrays are updated in place; nothing is returned. The twin is the readable definition (vectorized
NumPy); the kernel computes the same thing with explicit loops, in one pass and without temporaries,
in the parameters' dtype (as NumPy does with float32 arrays and Python scalars: float32 SIMD lanes).
Tests hold each pair equal to 1e-12 in float64.

Weight decay is the L2 kind: it is added to the gradient, g = grad + weight_decay * param, before the
rule sees it (as in PyTorch's SGD, Adam and Adagrad; not AdamW's decoupled decay).

Sparse updates are "lazy" (the semantics of PyTorch's SparseAdam): a row that is absent from a batch
keeps its parameter AND its state unchanged; its momentum is not decayed, no weight decay is applied
to it, and Adam's bias correction still uses the optimizer's global step count. This is what makes a
sparse step cost O(m D) rather than O(R D), and why it differs from a dense step on ``to_dense()``
whenever the rule has state (momentum, Adam): a dense step would also move the rows whose gradient is
zero. For plain SGD (momentum 0) and no weight decay both give the same result.
"""

import numba
import numpy as np

# error_model="numpy": a division by zero gives inf or NaN, as in NumPy, instead of a per-entry
# check that raises ZeroDivisionError; without that check LLVM can use SIMD lanes (4x faster here)
_JIT = dict(cache=True, error_model="numpy")

# ---------------------------------------------------------------------------------------------
# SGD with momentum
#     g = grad + weight_decay * param
#     momentum == 0:   param -= lr * g                      (velocity unused; may be an empty array)
#     momentum  > 0:   velocity = momentum * velocity + g
#                      param   -= lr * velocity
# ---------------------------------------------------------------------------------------------


def sgd_dense_ref(param, grad, velocity, lr, momentum, weight_decay):
    """SGD step on a whole array (NumPy twin of ``sgd_dense_nb``); see the module docstring."""
    g = grad + weight_decay * param
    if momentum == 0:
        param -= lr * g
    else:
        velocity[...] = momentum * velocity + g  # [...]: assign into the caller's array
        param -= lr * velocity


@numba.njit(**_JIT)
def sgd_dense_nb(param, grad, velocity, lr, momentum, weight_decay):
    """SGD step on a whole array (Numba kernel); same arguments as ``sgd_dense_ref``."""
    p, dp = param.reshape(-1), grad.reshape(-1)
    v = velocity.reshape(-1)
    real = param.dtype.type
    lr, momentum, weight_decay = real(lr), real(momentum), real(weight_decay)
    for j in range(p.size):
        g = dp[j] + weight_decay * p[j]
        if momentum == 0:
            p[j] -= lr * g
        else:
            v[j] = momentum * v[j] + g
            p[j] -= lr * v[j]


def sgd_sparse_ref(param, rows, values, velocity, lr, momentum, weight_decay):
    """Lazy SGD step on the given rows (NumPy twin of ``sgd_sparse_nb``); see the module docstring."""
    g = values + weight_decay * param[rows]
    if momentum == 0:
        param[rows] -= lr * g
    else:
        velocity[rows] = momentum * velocity[rows] + g
        param[rows] -= lr * velocity[rows]


@numba.njit(**_JIT)
def sgd_sparse_nb(param, rows, values, velocity, lr, momentum, weight_decay):
    """Lazy SGD step on the given rows (Numba kernel); same arguments as ``sgd_sparse_ref``."""
    real = param.dtype.type
    lr, momentum, weight_decay = real(lr), real(momentum), real(weight_decay)
    for k in range(rows.size):
        r = rows[k]
        for d in range(param.shape[1]):
            g = values[k, d] + weight_decay * param[r, d]
            if momentum == 0:
                param[r, d] -= lr * g
            else:
                velocity[r, d] = momentum * velocity[r, d] + g
                param[r, d] -= lr * velocity[r, d]


# ---------------------------------------------------------------------------------------------
# Adam (Kingma & Ba, 2015), step = t counts from 1
#     g = grad + weight_decay * param
#     m = beta1 * m + (1 - beta1) * g                 first moment
#     v = beta2 * v + (1 - beta2) * g^2               second moment
#     m_hat = m / (1 - beta1^t);  v_hat = v / (1 - beta2^t)      bias correction
#     param -= lr * m_hat / (sqrt(v_hat) + eps)
# ---------------------------------------------------------------------------------------------


def adam_dense_ref(param, grad, m, v, lr, beta1, beta2, eps, weight_decay, step):
    """Adam step on a whole array (NumPy twin of ``adam_dense_nb``); see the formulas above."""
    g = grad + weight_decay * param
    m[...] = beta1 * m + (1 - beta1) * g
    v[...] = beta2 * v + (1 - beta2) * g * g
    m_hat = m / (1 - beta1**step)
    v_hat = v / (1 - beta2**step)
    param -= lr * m_hat / (np.sqrt(v_hat) + eps)


@numba.njit(inline="always", **_JIT)  # inlined into its callers, who set its precision
def adam_row(param, grad, m, v, lr, beta1, beta2, eps, weight_decay, correction1, correction2):
    """Adam on 1-D arrays of one length, in place: a table row, or a whole array raveled.

    The one Adam update of nanorec's kernels: adam_dense_nb and adam_sparse_nb call it, and so do
    the fused training kernels of nanorec.models. correction1 = 1 - beta1^t and correction2 =
    1 - beta2^t come from the caller, and so does the arithmetic's precision: the scalars' dtype
    (the parameters' dtype, for float32 SIMD lanes).
    """
    for d in range(param.size):
        g = grad[d] + weight_decay * param[d]
        m[d] = beta1 * m[d] + (1 - beta1) * g
        v[d] = beta2 * v[d] + (1 - beta2) * g * g
        param[d] -= lr * (m[d] / correction1) / (np.sqrt(v[d] / correction2) + eps)


@numba.njit(**_JIT)
def adam_dense_nb(param, grad, m, v, lr, beta1, beta2, eps, weight_decay, step):
    """Adam step on a whole array (Numba kernel); same arguments as ``adam_dense_ref``."""
    real = param.dtype.type
    adam_row(param.reshape(-1), grad.reshape(-1), m.reshape(-1), v.reshape(-1), real(lr),
             real(beta1), real(beta2), real(eps), real(weight_decay), real(1 - beta1**step),
             real(1 - beta2**step))


def adam_sparse_ref(param, rows, values, m, v, lr, beta1, beta2, eps, weight_decay, step):
    """Lazy Adam step on the given rows (NumPy twin of ``adam_sparse_nb``)."""
    g = values + weight_decay * param[rows]
    m[rows] = beta1 * m[rows] + (1 - beta1) * g
    v[rows] = beta2 * v[rows] + (1 - beta2) * g * g
    m_hat = m[rows] / (1 - beta1**step)
    v_hat = v[rows] / (1 - beta2**step)
    param[rows] -= lr * m_hat / (np.sqrt(v_hat) + eps)


@numba.njit(**_JIT)
def adam_sparse_nb(param, rows, values, m, v, lr, beta1, beta2, eps, weight_decay, step):
    """Lazy Adam step on the given rows (Numba kernel); same arguments as ``adam_sparse_ref``."""
    real = param.dtype.type
    correction1, correction2 = real(1 - beta1**step), real(1 - beta2**step)
    lr, beta1, beta2, eps = real(lr), real(beta1), real(beta2), real(eps)
    weight_decay = real(weight_decay)
    for k in range(rows.size):
        r = rows[k]
        adam_row(param[r], values[k], m[r], v[r], lr, beta1, beta2, eps, weight_decay,
                 correction1, correction2)


# ---------------------------------------------------------------------------------------------
# Adagrad (Duchi, Hazan & Singer, 2011)
#     g = grad + weight_decay * param
#     sum_sq += g^2                                   running sum of squared gradients
#     param  -= lr * g / (sqrt(sum_sq) + eps)
# ---------------------------------------------------------------------------------------------


def adagrad_dense_ref(param, grad, sum_sq, lr, eps, weight_decay):
    """Adagrad step on a whole array (NumPy twin of ``adagrad_dense_nb``)."""
    g = grad + weight_decay * param
    sum_sq += g * g
    param -= lr * g / (np.sqrt(sum_sq) + eps)


@numba.njit(**_JIT)
def adagrad_dense_nb(param, grad, sum_sq, lr, eps, weight_decay):
    """Adagrad step on a whole array (Numba kernel); same arguments as ``adagrad_dense_ref``."""
    p, dp, s = param.reshape(-1), grad.reshape(-1), sum_sq.reshape(-1)
    real = param.dtype.type
    lr, eps, weight_decay = real(lr), real(eps), real(weight_decay)
    for j in range(p.size):
        g = dp[j] + weight_decay * p[j]
        s[j] += g * g
        p[j] -= lr * g / (np.sqrt(s[j]) + eps)


def adagrad_sparse_ref(param, rows, values, sum_sq, lr, eps, weight_decay):
    """Lazy Adagrad step on the given rows (NumPy twin of ``adagrad_sparse_nb``)."""
    g = values + weight_decay * param[rows]
    sum_sq[rows] += g * g
    param[rows] -= lr * g / (np.sqrt(sum_sq[rows]) + eps)


@numba.njit(**_JIT)
def adagrad_sparse_nb(param, rows, values, sum_sq, lr, eps, weight_decay):
    """Lazy Adagrad step on the given rows (Numba kernel); same arguments as ``adagrad_sparse_ref``."""
    real = param.dtype.type
    lr, eps, weight_decay = real(lr), real(eps), real(weight_decay)
    for k in range(rows.size):
        r = rows[k]
        for d in range(param.shape[1]):
            g = values[k, d] + weight_decay * param[r, d]
            sum_sq[r, d] += g * g
            param[r, d] -= lr * g / (np.sqrt(sum_sq[r, d]) + eps)
