"""Fused training epochs of the neural recommenders: one compiled call runs a whole epoch.

    mf_epoch_nb      MatrixFactorization (the seed's model): Dot -> Dense(1, 1) -> Sigmoid -> BCELoss
    neumf_epoch_nb   NeuMF: GMF and MLP branches -> Dense(K + H, 1) -> BCEWithLogitsLoss

Trained through its layers (``fused=False``), a mini-batch costs a millisecond of Python and
NumPy calls on samples whose arithmetic takes microseconds; a kernel runs every mini-batch of an
epoch -- forward, loss, backward, Adam -- in one compiled loop with its buffers allocated once.

What they compute: for each mini-batch ``order[start : start + batch_size]`` exactly the step of the
composed network (MFNetwork, NeuMFNetwork of nanorec.models.neural) trained by
nanorec.training.train_epoch with the engine's Adam; the composed network is the reference, and a
test holds each kernel equal to it in float64:

    forward, loss   the layers' forward and the model's loss, a weighted mean over the batch:
                    L = (1 / n) sum_k w_k l_k, as nanorec.nn.losses computes it with weight=w
    backward        the layers' backward formulas, written out for this network
    Adam            nanorec.optim.kernels.adam_row (weight decay 0, step t = one mini-batch),
                    dense on every weight and bias; on the embedding tables (the gradients of a
                    row summed first, as for a RowSparseGrad):
                        lazy=True    only the rows the batch used (PyTorch's SparseAdam)
                        lazy=False   every row, the unused ones with a zero gradient

Every kernel takes the same arguments:

    users, items : int (N,)            each sample's user and item index
    labels : float (N,)                each sample's target in [0, 1], in the parameters' dtype
    weights : float (N,)               each sample's loss weight w >= 0, in the parameters' dtype
    order : int (T,)                   samples to visit, in this order (drawn by the caller)
    batch_size : int                   samples per step; the last batch may be smaller
    params, m, v : ParamGroups         the parameters, and Adam's first and second moments
    adam : (lr, beta1, beta2, eps)
    lazy : bool                        Adam on the tables: the used rows only, or every row
    step : int                         Adam's step count before this epoch
    returns (loss_sum, step)           sum of the visited samples' weighted losses w l; the step
                                       count after

Adam runs in the parameters' dtype under fastmath (float32 SIMD lanes); NeuMF's kernel stores a
batch's activations feature-major, (D, n), so the dense layers loop over the samples in
contiguous memory. benchmarks/README.md has the measurements behind both choices.
"""

from typing import NamedTuple

import numba
import numpy as np
from numba.typed import List

from nanorec.models.mf_kernels import log1p_exp, sigmoid_scalar
from nanorec.optim.kernels import adam_row

_JIT = dict(cache=True, fastmath=True, error_model="numpy", boundscheck=False)


class ParamGroups(NamedTuple):
    """The trained arrays of a network, by how Adam updates them.

    tables   : embedding tables (R, D), updated on the rows a batch used (D may be 0: an absent
               branch, e.g. NeuMF without its GMF part)
    weights  : dense weights (D_in, D_out), the output layer's last
    biases   : dense biases (D_out,), the output layer's last

    The kernels need ``numba.typed.List`` fields (``param_groups``).
    """

    tables: list
    weights: list
    biases: list


def param_groups(tables, weights, biases):
    """ParamGroups of the given arrays, as the typed Lists the kernels take."""
    return ParamGroups(List(tables), List(weights), List(biases))


# ---------------------------------------------------------------------------------------------
# MatrixFactorization: p = sigmoid(w * (P[u] . Q[i]) + b), loss = BCE(p, y)
# ---------------------------------------------------------------------------------------------


@numba.njit(**_JIT)
def mf_epoch_nb(users, items, labels, weights, order, batch_size, params, m, v, adam, lazy, step):
    """One epoch of the seed's model; params = ([P, Q], [W (1, 1)], [b (1,)]).

    For a batch of n samples (u, i, y) of weights w, with eps the machine epsilon of the dtype:

        Forward    d = P[u] . Q[i]        z = W d + b        p = sigmoid(z)
        Loss       l = -(y log p_c + (1 - y) log(1 - p_c)),   p_c = clip(p, eps, 1 - eps)
        Backward   dp = w (p_c - y) / (p_c (1 - p_c)) / n     (BCELoss, the weighted batch mean)
                   dz = dp p (1 - p)                          (Sigmoid)
                   dW = sum dz d      db = sum dz             (Dense)
                   dd = dz W;   dP[u] += dd Q[i];   dQ[i] += dd P[u]      (Dot, Embedding)
    """
    P, Q = params.tables[0], params.tables[1]
    W, b = params.weights[0], params.biases[0]
    real = P.dtype.type  # compute in the parameters' dtype: float32 doubles the SIMD lanes
    eps = np.finfo(P.dtype).eps
    weight_grads, bias_grads = [np.zeros_like(W)], [np.zeros_like(b)]
    dW, db = weight_grads[0], bias_grads[0]
    user_rows, item_rows = _row_sums(P, batch_size), _row_sums(Q, batch_size)
    user_sums, item_sums = user_rows[3], item_rows[3]
    loss_sum = 0.0
    for start in range(0, len(order), batch_size):
        n = min(batch_size, len(order) - start)
        for k in range(n):
            s = order[start + k]
            u, i, y, w = users[s], items[s], labels[s], weights[s]
            d = real(0)
            for f in range(P.shape[1]):
                d += P[u, f] * Q[i, f]
            z = d * W[0, 0] + b[0]
            p = real(sigmoid_scalar(z))
            p_c = min(max(p, eps), 1 - eps)
            loss_sum -= w * (y * np.log(p_c) + (1 - y) * np.log1p(-p_c))
            dz = real(w * (p_c - y) / (p_c * (1 - p_c)) / n * p * (1 - p))
            dW[0, 0] += dz * d
            db[0] += dz
            dd = dz * W[0, 0]
            su, si = _row_slot(user_rows, u), _row_slot(item_rows, i)
            for f in range(P.shape[1]):
                user_sums[su, f] += dd * Q[i, f]
                item_sums[si, f] += dd * P[u, f]
        step += 1
        constants = _adam_constants(adam, step, real)
        _row_adam(user_rows, P, m.tables[0], v.tables[0], constants, lazy)
        _row_adam(item_rows, Q, m.tables[1], v.tables[1], constants, lazy)
        _dense_adam(params, m, v, weight_grads, bias_grads, constants)
    return loss_sum, step


# ---------------------------------------------------------------------------------------------
# NeuMF: z = [Pg[u] * Qg[i] | tower([Pm[u] | Qm[i]])] . w + b, loss = BCE with logits(z, y)
# ---------------------------------------------------------------------------------------------


@numba.njit(**_JIT)
def neumf_epoch_nb(users, items, labels, weights, order, batch_size, params, m, v, adam, lazy, step):
    """One epoch of NeuMF.

    params = ([Pg (U, K), Qg (I, K), Pm (U, E), Qm (I, E)], [W_1 .. W_L, w (K + H, 1)],
    [b_1 .. b_L, b (1,)]): the GMF tables, the MLP tables, the tower and the output layer.
    K = 0 (no GMF branch) or E = 0 and L = 0 (no MLP branch) leave that branch out.
    For a batch of n samples (u, i, y) of loss weights c:

        Forward    g = Pg[u] * Qg[i]                      (GMF, n x K)
                   h_0 = [Pm[u] | Qm[i]];  h_l = relu(h_{l-1} W_l + b_l)     (MLP, n x H = h_L)
                   z = [g | h_L] w + b;    l = softplus(z) - z y    (BCE of sigmoid(z), stable)
        Backward   dz = c (sigmoid(z) - y) / n
                   dw = [g | h_L]^T dz;  db = sum dz;  [dg | dh_L] = dz w^T
                   da_l = dh_l * [h_l > 0];  dW_l = h_{l-1}^T da_l;  db_l = sum da_l;
                   dh_{l-1} = da_l W_l^T
                   dPg[u] += dg * Qg[i];  dQg[i] += dg * Pg[u];  [dPm[u] | dQm[i]] += dh_0

    The batch's activations are stored feature-major, transposed: gT (K, n), hT[l] (D_l, n).
    """
    gmf_user, gmf_item = params.tables[0], params.tables[1]
    mlp_user, mlp_item = params.tables[2], params.tables[3]
    n_layers = len(params.weights) - 1
    out_weight, out_bias = params.weights[n_layers], params.biases[n_layers]
    n_factors, half = gmf_user.shape[1], mlp_user.shape[1]
    real = out_weight.dtype.type
    weight_grads = [np.zeros_like(W) for W in params.weights]
    bias_grads = [np.zeros_like(b) for b in params.biases]
    rows = [_row_sums(table, batch_size) for table in params.tables]
    sums = [row_sums[3] for row_sums in rows]
    gT = np.zeros((n_factors, batch_size), out_weight.dtype)
    hT = [np.zeros((2 * half, batch_size), out_weight.dtype)]  # h_0 .. h_L, and their gradients
    for layer in range(n_layers):
        hT.append(np.zeros((params.weights[layer].shape[1], batch_size), out_weight.dtype))
    dhT = [np.zeros_like(h) for h in hT]
    dz = np.zeros(batch_size, out_weight.dtype)
    loss_sum = 0.0
    for start in range(0, len(order), batch_size):
        n = min(batch_size, len(order) - start)
        batch = order[start : start + n]
        # forward: embeddings, tower, logit z; the loss and dz = dL/dz of each sample
        for k in range(n):
            u, i = users[batch[k]], items[batch[k]]
            for f in range(n_factors):
                gT[f, k] = gmf_user[u, f] * gmf_item[i, f]
            for f in range(half):
                hT[0][f, k], hT[0][half + f, k] = mlp_user[u, f], mlp_item[i, f]
        for layer in range(n_layers):
            _relu_dense_forward_t(hT[layer], params.weights[layer], params.biases[layer],
                                  hT[layer + 1], n)
        top = hT[n_layers]
        dz[:n] = out_bias[0]  # dz holds z until it is turned into dL/dz below
        for f in range(n_factors):
            _axpy(out_weight[f, 0], gT[f], dz, n)
        for f in range(top.shape[0]):
            _axpy(out_weight[n_factors + f, 0], top[f], dz, n)
        for k in range(n):
            z, y, c = dz[k], labels[batch[k]], weights[batch[k]]
            loss_sum += c * (log1p_exp(z) - z * y)
            dz[k] = c * (real(sigmoid_scalar(z)) - y) / n
        # backward: output layer, tower, then the embedding rows
        bias_grads[n_layers][0] += dz[:n].sum()
        for f in range(n_factors):
            weight_grads[n_layers][f, 0] += _dot(gT[f], dz, n)
            gT[f, :n] = dz[:n] * out_weight[f, 0]  # gT now holds dL/dg
        for f in range(top.shape[0]):
            weight_grads[n_layers][n_factors + f, 0] += _dot(top[f], dz, n)
            dhT[n_layers][f, :n] = dz[:n] * out_weight[n_factors + f, 0]
        for layer in range(n_layers - 1, -1, -1):
            _relu_dense_backward_t(hT[layer], params.weights[layer], hT[layer + 1],
                                   dhT[layer + 1], weight_grads[layer], bias_grads[layer],
                                   dhT[layer], n)
        for k in range(n):
            u, i = users[batch[k]], items[batch[k]]
            su, si = _row_slot(rows[0], u), _row_slot(rows[1], i)
            for f in range(n_factors):
                sums[0][su, f] += gT[f, k] * gmf_item[i, f]
                sums[1][si, f] += gT[f, k] * gmf_user[u, f]
            su, si = _row_slot(rows[2], u), _row_slot(rows[3], i)
            for f in range(half):
                sums[2][su, f] += dhT[0][f, k]
                sums[3][si, f] += dhT[0][half + f, k]
        step += 1
        constants = _adam_constants(adam, step, real)
        for t in range(len(rows)):
            _row_adam(rows[t], params.tables[t], m.tables[t], v.tables[t], constants, lazy)
        _dense_adam(params, m, v, weight_grads, bias_grads, constants)
    return loss_sum, step


@numba.njit(**_JIT)
def _axpy(a, x, y, n):
    """y[:n] += a * x[:n]"""
    for k in range(n):
        y[k] += a * x[k]


@numba.njit(**_JIT)
def _dot(x, y, n):
    """sum over k < n of x[k] y[k], accumulated in the dtype of x."""
    total = x.dtype.type(0)
    for k in range(n):
        total += x[k] * y[k]
    return total


@numba.njit(**_JIT)
def _relu_dense_forward_t(xT, W, b, outT, n):
    """Dense then ReLU on the first n samples, feature-major: out^T = max(W^T x^T + b, 0).

    xT (D_in, B), W (D_in, D_out), b (D_out,), outT (D_out, B).
    """
    for j in range(W.shape[1]):
        outT[j, :n] = b[j]
        for d in range(W.shape[0]):
            _axpy(W[d, j], xT[d], outT[j], n)
        for k in range(n):
            if outT[j, k] < 0:
                outT[j, k] = 0


@numba.njit(**_JIT)
def _relu_dense_backward_t(xT, W, outT, d_outT, dW, db, dxT, n):
    """Backward of ``_relu_dense_forward_t``; d_outT = dL/d(out)^T becomes da^T in place.

        da = d_out * [out > 0];   dW += x^T da;   db += sum over samples of da;   dx = da W^T
    """
    for j in range(W.shape[1]):
        for k in range(n):
            if outT[j, k] <= 0:
                d_outT[j, k] = 0
        db[j] += d_outT[j, :n].sum()
    for d in range(W.shape[0]):
        x, dx = xT[d], dxT[d]
        dx[:n] = 0
        for j in range(W.shape[1]):
            da, w = d_outT[j], W[d, j]
            total = x.dtype.type(0)
            for k in range(n):  # one pass over the samples for dW[d, j] and dx[d, :]
                total += x[k] * da[k]
                dx[k] += w * da[k]
            dW[d, j] += total


@numba.njit(**_JIT)
def _adam_constants(adam, step, real):
    """adam_row's scalars in the parameters' dtype: (lr, beta1, beta2, eps, 1 - beta1^t,
    1 - beta2^t); the weight decay, 0, is a literal at each call (so the compiler drops it)."""
    lr, beta1, beta2, eps = adam
    return (real(lr), real(beta1), real(beta2), real(eps), real(1 - beta1**step),
            real(1 - beta2**step))


@numba.njit(**_JIT)
def _dense_adam(params, m, v, weight_grads, bias_grads, constants):
    """Adam on every weight and bias, then zero their gradient buffers for the next batch."""
    lr, beta1, beta2, eps, correction1, correction2 = constants
    decay = params.weights[0].dtype.type(0)
    for j in range(len(params.weights)):
        adam_row(params.weights[j].reshape(-1), weight_grads[j].reshape(-1),
                 m.weights[j].reshape(-1), v.weights[j].reshape(-1), lr, beta1, beta2, eps, decay,
                 correction1, correction2)
        adam_row(params.biases[j], bias_grads[j], m.biases[j], v.biases[j], lr, beta1, beta2, eps,
                 decay, correction1, correction2)
        weight_grads[j][:] = 0
        bias_grads[j][:] = 0


@numba.njit(**_JIT)
def _row_sums(table, batch_size):
    """Buffers that sum one embedding table's gradient over a batch, row by row:

    position (R,)   table row -> its place in ``sums``, -1 while the batch has not used it
    rows (B,)       the rows the batch used, in order of first use; count[0] of them
    sums (B + 1, D) the summed gradient of each of those rows; the last row stays zero (the
                    gradient of an unused row, for the dense rule)
    """
    position = np.full(table.shape[0], -1, np.int64)
    return position, np.zeros(batch_size, np.int64), np.zeros(1, np.int64), np.zeros(
        (batch_size + 1, table.shape[1]), table.dtype)


@numba.njit(**_JIT)
def _row_slot(row_sums, row):
    """The place of ``row`` in the sums (a row seen for the first time gets the next place), so
    that a row's gradients add up there, in sample order."""
    position, rows, count, _ = row_sums
    if position[row] < 0:
        position[row] = count[0]
        rows[count[0]] = row
        count[0] += 1
    return position[row]


@numba.njit(**_JIT)
def _row_adam(row_sums, table, table_m, table_v, constants, lazy):
    """Adam on a table, then clear the buffers for the next batch: lazy, on the rows the batch
    used; dense, on every row (an unused row's gradient is the zero row of the sums)."""
    lr, beta1, beta2, eps, correction1, correction2 = constants
    decay = table.dtype.type(0)
    position, rows, count, sums = row_sums
    if lazy:
        for k in range(count[0]):
            r = rows[k]
            adam_row(table[r], sums[k], table_m[r], table_v[r], lr, beta1, beta2, eps, decay,
                     correction1, correction2)
    else:
        zero = sums[len(sums) - 1]
        for r in range(table.shape[0]):
            k = position[r]
            adam_row(table[r], sums[k] if k >= 0 else zero, table_m[r], table_v[r], lr, beta1,
                     beta2, eps, decay, correction1, correction2)
    for k in range(count[0]):
        position[rows[k]] = -1
    sums[: count[0]] = 0
    count[0] = 0
