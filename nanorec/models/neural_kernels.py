"""Fused training epochs of the neural recommenders: one compiled call runs a whole epoch.

    mf_epoch_ref / mf_epoch_nb         MatrixFactorization (the seed's model):
                                       Dot -> Dense(1, 1) -> Sigmoid -> BCELoss
    neumf_epoch_ref / neumf_epoch_nb   NeuMF: GMF and MLP branches -> Dense(K + H, 1)
                                       -> BCEWithLogitsLoss

Why they exist: trained through its layers (nanorec.models.neural, ``fused=False``), a mini-batch
of the seed's model costs about 1.3 ms, spent in Python and NumPy calls on 128 samples whose
arithmetic takes microseconds: 5 s per epoch of MovieLens-100K, against 0.13 s for the kernel
(NeuMF: 3 to 6 s against 0.9 s). A kernel runs every mini-batch of an epoch -- forward, loss,
backward, Adam -- in one compiled loop with its buffers allocated once.

What they compute: for each mini-batch ``order[start : start + batch_size]`` exactly the step of the
composed network trained by ``nanorec.training.fit`` with the engine's Adam (tests hold the two
equal in float64):

    forward, loss   the layers' forward and the model's loss, a weighted mean over the batch:
                    L = (1 / n) sum_k w_k l_k, as nanorec.nn.losses computes it with weight=w
                    (the divisor is n, not sum w; w = 1 is the plain mean, bit for bit)
    backward        the layers' backward formulas, written out for this network
    Adam            the engine's rule (nanorec.optim), weight decay 0, step t = one mini-batch,
                    dense on every weight and bias; on the embedding tables (the gradients of a
                    row summed first, as for a RowSparseGrad):
                        lazy=True    only the rows the batch used (PyTorch's SparseAdam)
                        lazy=False   every row, the unused ones with a zero gradient: their
                                     moments decay and they keep moving along m / sqrt(v)
                                     (torch.optim.Adam on nn.Embedding, Keras's Adam)

Every kernel and twin takes the same arguments:

    users, items : int (N,)            each sample's user and item index
    labels : float (N,)                each sample's target in [0, 1], in the parameters' dtype
    weights : float (N,)               each sample's loss weight w >= 0, in the parameters' dtype:
                                       its loss and its gradient dL/dz are multiplied by w
    order : int (T,)                   samples to visit, in this order (drawn by the caller)
    batch_size : int                   samples per step; the last batch may be smaller
    params, m, v : ParamGroups         the parameters, and Adam's first and second moments
    adam : (lr, beta1, beta2, eps)
    lazy : bool                        Adam on the tables: the used rows only, or every row
    step : int                         Adam's step count before this epoch
    returns (loss_sum, step)           sum of the visited samples' weighted losses w l; the step
                                       count after

The twins (``*_ref``) are the readable definition: vectorized over a mini-batch, with the engine's
NumPy Adam (adam_sparse_ref, adam_dense_ref). The kernels compute the same with loops, adding each
sample's gradient into per-batch buffers (the rows of a table summed as they arrive), and restate
Adam in ``_adam``. The dense rule on the tables costs a sweep over U + I rows per step: for
MovieLens-100K about 42,000 values for MF (K = 16), 105,000 for NeuMF.

Speed, measured on one epoch of MovieLens-100K leave-last-out (99,057 positives + 4 negatives each;
float32; CPU seconds, best of 5 on a shared 2-core Xeon):

                                               MF (batch 128)   NeuMF (batch 256)
    engine's adam_sparse_nb / adam_dense_nb         0.25             1.31
    Adam restated in ``_adam`` (float32 lanes)      0.13             0.91
    the same without fastmath                       0.14             2.14
    lazy=False: the dense rule on the tables       +0.12            +0.26

    fastmath=True        lets LLVM vectorize the sums over the samples of the dense layers; in
                         float64 a kernel then matches its twin to about 1e-12, not bit for bit.
    feature-major        NeuMF's kernel stores a batch's activations transposed, (D, n), so the
                         dense layers loop over the n samples in contiguous memory (a 64 x 32
                         layer: 14 GMAC/s, against 6 GMAC/s over its 32 outputs sample by sample).
    error_model="numpy"  no zero-division checks.
    boundscheck=False    the ids come from an Interactions, checked on creation.
"""

from typing import NamedTuple

import numba
import numpy as np
from numba.typed import List

from nanorec.models.mf_kernels import _log1p_exp_nb, _sigmoid_nb
from nanorec.nn.activations import sigmoid
from nanorec.optim.kernels import adam_dense_ref, adam_sparse_ref

_JIT = dict(cache=True, fastmath=True, error_model="numpy", boundscheck=False)


class ParamGroups(NamedTuple):
    """The trained arrays of a network, by how Adam updates them.

    tables   : embedding tables (R, D), updated on the rows a batch used (D may be 0: an absent
               branch, e.g. NeuMF without its GMF part)
    weights  : dense weights (D_in, D_out), the output layer's last
    biases   : dense biases (D_out,), the output layer's last

    The kernels need ``numba.typed.List`` fields (``typed=True`` in ``param_groups``); the twins
    take plain lists.
    """

    tables: list
    weights: list
    biases: list


def param_groups(tables, weights, biases, typed):
    """ParamGroups of the given arrays, as typed Lists for the kernels when ``typed``."""
    make = List if typed else list
    return ParamGroups(make(tables), make(weights), make(biases))


def _batches(order, batch_size):
    """The mini-batches of ``order``: consecutive slices of ``batch_size`` samples."""
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def _adam_ref(params, m, v, table_grads, weight_grads, bias_grads, adam, lazy, step):
    """One Adam step on every parameter (NumPy twins of the engine's rules).

    table_grads[t] = (rows (n,), grads (n, D)): one gradient row per sample of the batch; repeated
    rows are summed (as RowSparseGrad.coalesce / to_dense do) before the lazy sparse update
    (``lazy``) or the dense update of the whole table.
    """
    lr, beta1, beta2, eps = adam
    sparse = zip(params.tables, m.tables, v.tables, table_grads)
    for table, table_m, table_v, (rows, grads) in sparse:
        if lazy:
            unique, inverse = np.unique(rows, return_inverse=True)
            summed = np.zeros((len(unique), table.shape[1]), table.dtype)
            np.add.at(summed, inverse, grads)
            adam_sparse_ref(table, unique, summed, table_m, table_v, lr, beta1, beta2, eps, 0.0,
                            step)
        else:
            dense = np.zeros_like(table)
            np.add.at(dense, rows, grads)
            adam_dense_ref(table, dense, table_m, table_v, lr, beta1, beta2, eps, 0.0, step)
    dense = zip(params.weights + params.biases, m.weights + m.biases, v.weights + v.biases,
                weight_grads + bias_grads)
    for param, param_m, param_v, grad in dense:
        adam_dense_ref(param, grad, param_m, param_v, lr, beta1, beta2, eps, 0.0, step)


# ---------------------------------------------------------------------------------------------
# MatrixFactorization: p = sigmoid(w * (P[u] . Q[i]) + b), loss = BCE(p, y)
# ---------------------------------------------------------------------------------------------


def mf_epoch_ref(users, items, labels, weights, order, batch_size, params, m, v, adam, lazy, step):
    """One epoch of the seed's model, in NumPy; params = ([P, Q], [W (1, 1)], [b (1,)]).

    For a batch of n samples (u, i, y) of weights w, with eps the machine epsilon of the dtype:

        Forward    d = P[u] . Q[i]        z = W d + b        p = sigmoid(z)
        Loss       l = -(y log p_c + (1 - y) log(1 - p_c)),   p_c = clip(p, eps, 1 - eps)
                   L = (1 / n) sum w l
        Backward   dp = w (p_c - y) / (p_c (1 - p_c)) / n     (BCELoss, the weighted batch mean)
                   dz = dp p (1 - p)                          (Sigmoid)
                   dW = sum dz d      db = sum dz             (Dense)
                   dd = dz W;   dP[u] += dd Q[i];   dQ[i] += dd P[u]      (Dot, Embedding)
    """
    P, Q = params.tables
    W, b = params.weights[0], params.biases[0]
    eps = np.finfo(P.dtype).eps
    loss_sum = 0.0
    for batch in _batches(order, batch_size):
        u, i, y, w = users[batch], items[batch], labels[batch], weights[batch]
        d = np.sum(P[u] * Q[i], axis=1)
        z = d * W[0, 0] + b[0]
        p = sigmoid(z)
        p_c = np.clip(p, eps, 1 - eps)
        loss_sum += float(-np.sum(w * (y * np.log(p_c) + (1 - y) * np.log1p(-p_c))))
        dp = w * (p_c - y) / (p_c * (1 - p_c)) / len(batch)
        dz = dp * p * (1 - p)
        dd = (dz * W[0, 0])[:, None]
        step += 1
        _adam_ref(params, m, v, [(u, dd * Q[i]), (i, dd * P[u])],
                  [np.full((1, 1), dz @ d, W.dtype)], [np.full(1, dz.sum(), b.dtype)], adam, lazy,
                  step)
    return loss_sum, step


@numba.njit(**_JIT)
def mf_epoch_nb(users, items, labels, weights, order, batch_size, params, m, v, adam, lazy, step):
    """Numba kernel of ``mf_epoch_ref``: same arguments, same updates, same return value."""
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
            p = real(_sigmoid_nb(z))
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


def neumf_epoch_ref(users, items, labels, weights, order, batch_size, params, m, v, adam, lazy, step):
    """One epoch of NeuMF, in NumPy.

    params = ([Pg (U, K), Qg (I, K), Pm (U, E), Qm (I, E)], [W_1 .. W_L, w (K + H, 1)],
    [b_1 .. b_L, b (1,)]): the GMF tables, the MLP tables, the tower and the output layer.
    K = 0 (no GMF branch) or E = 0 and L = 0 (no MLP branch) leave that branch out.
    For a batch of n samples (u, i, y) of loss weights c:

        Forward    g = Pg[u] * Qg[i]                      (GMF, n x K)
                   h_0 = [Pm[u] | Qm[i]];  h_l = relu(h_{l-1} W_l + b_l)     (MLP, n x H = h_L)
                   z = [g | h_L] w + b;    l = softplus(z) - z y    (BCE of sigmoid(z), stable)
                   L = (1 / n) sum c l
        Backward   dz = c (sigmoid(z) - y) / n
                   dw = [g | h_L]^T dz;  db = sum dz;  [dg | dh_L] = dz w^T
                   da_l = dh_l * [h_l > 0];  dW_l = h_{l-1}^T da_l;  db_l = sum da_l;
                   dh_{l-1} = da_l W_l^T
                   dPg[u] += dg * Qg[i];  dQg[i] += dg * Pg[u];  [dPm[u] | dQm[i]] += dh_0
    """
    gmf_user, gmf_item, mlp_user, mlp_item = params.tables
    *tower_weights, out_weight = params.weights
    *tower_biases, out_bias = params.biases
    n_factors, half = gmf_user.shape[1], mlp_user.shape[1]
    loss_sum = 0.0
    for batch in _batches(order, batch_size):
        u, i, y, c = users[batch], items[batch], labels[batch], weights[batch]
        g = gmf_user[u] * gmf_item[i]
        hidden = [np.concatenate([mlp_user[u], mlp_item[i]], axis=1)]
        for W, b in zip(tower_weights, tower_biases):
            hidden.append(np.maximum(hidden[-1] @ W + b, 0))
        joint = np.concatenate([g, hidden[-1]], axis=1)
        z = joint @ out_weight[:, 0] + out_bias[0]
        loss_sum += float(np.sum(c * (np.logaddexp(0, z) - z * y)))
        dz = c * (sigmoid(z) - y) / len(batch)
        weight_grads = [None] * len(tower_weights) + [joint.T @ dz[:, None]]
        bias_grads = [None] * len(tower_biases) + [dz.sum(keepdims=True)]
        d_joint = dz[:, None] * out_weight[:, 0]
        dg, dh = d_joint[:, :n_factors], d_joint[:, n_factors:]
        for layer in reversed(range(len(tower_weights))):
            da = dh * (hidden[layer + 1] > 0)
            weight_grads[layer] = hidden[layer].T @ da
            bias_grads[layer] = da.sum(axis=0)
            dh = da @ tower_weights[layer].T
        table_grads = [(u, dg * gmf_item[i]), (i, dg * gmf_user[u]),
                       (u, dh[:, :half]), (i, dh[:, half:])]
        step += 1
        _adam_ref(params, m, v, table_grads, weight_grads, bias_grads, adam, lazy, step)
    return loss_sum, step


@numba.njit(**_JIT)
def neumf_epoch_nb(users, items, labels, weights, order, batch_size, params, m, v, adam, lazy, step):
    """Numba kernel of ``neumf_epoch_ref``: same arguments, same updates, same return value.

    The batch's activations are stored feature-major, transposed: gT (K, n), hT[l] (D_l, n), so
    the inner loops of the dense layers run over the batch's samples, in contiguous memory, and
    vectorize (about 2.5x faster than sample-major loops over 32 or 8 features).
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
            loss_sum += c * (_log1p_exp_nb(z) - z * y)
            dz[k] = c * (real(_sigmoid_nb(z)) - y) / n
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
    """(lr, beta1, beta2, eps, 1 - beta1^t, 1 - beta2^t) in the parameters' dtype, for ``_adam``."""
    lr, beta1, beta2, eps = adam
    return (real(lr), real(beta1), real(beta2), real(eps),
            real(1 - beta1**step), real(1 - beta2**step))


@numba.njit(inline="always", **_JIT)  # inlined: it runs once per embedding row
def _adam(param, grad, m, v, constants):
    """One Adam step on 1-D arrays, in place: a row of a table, or a weight raveled.

        m = beta1 m + (1 - beta1) g;   v = beta2 v + (1 - beta2) g^2
        param -= lr (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)

    The rule of nanorec.optim.kernels (weight decay 0), restated to compute in the parameters'
    dtype under fastmath: float32 lanes and free reordering make the update about twice as fast
    as calling adam_sparse_nb / adam_dense_nb, which compute in float64 in strict IEEE order.
    """
    lr, beta1, beta2, eps, correction1, correction2 = constants
    for d in range(param.size):
        g = grad[d]
        m[d] = beta1 * m[d] + (1 - beta1) * g
        v[d] = beta2 * v[d] + (1 - beta2) * g * g
        param[d] -= lr * (m[d] / correction1) / (np.sqrt(v[d] / correction2) + eps)


@numba.njit(**_JIT)
def _dense_adam(params, m, v, weight_grads, bias_grads, constants):
    """Adam on every weight and bias, then zero their gradient buffers for the next batch."""
    for j in range(len(params.weights)):
        _adam(params.weights[j].reshape(-1), weight_grads[j].reshape(-1),
              m.weights[j].reshape(-1), v.weights[j].reshape(-1), constants)
        _adam(params.biases[j], bias_grads[j], m.biases[j], v.biases[j], constants)
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
    position, rows, count, sums = row_sums
    if lazy:
        for k in range(count[0]):
            r = rows[k]
            _adam(table[r], sums[k], table_m[r], table_v[r], constants)
    else:
        zero = sums[len(sums) - 1]
        for r in range(table.shape[0]):
            k = position[r]
            _adam(table[r], sums[k] if k >= 0 else zero, table_m[r], table_v[r], constants)
    for k in range(count[0]):
        position[rows[k]] = -1
    sums[: count[0]] = 0
    count[0] = 0
