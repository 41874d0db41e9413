"""Numba accelerators of the engine's layers and losses: their float32 fast paths.

Each layer's NumPy forward and backward, written in the layer, stay the reference its docstring
explains; a kernel here computes the same thing in one compiled pass, and tests hold each equal to
its reference. A layer runs its kernel when ``fits(...)`` says the arrays are float32 and
C-contiguous, the reference otherwise: float64 gradient checks always run the readable NumPy lines.

One thread. Threaded kernels (``parallel=True``) did not pay on a 2-core machine: OpenMP threads
that spin between kernels take the cores BLAS needs for the next matrix product, threads told to
sleep wake too slowly to gain on a million entries, and the policy, set in the one OpenMP library
a process loads, also binds PyTorch in the same process (benchmarks/README.md). The matrix
products, the bulk of every network, run on BLAS's threads.

exp. Numba has no vectorized exp of its own (without Intel's SVML it calls the C library once per
entry), so ``exp_nonpositive`` computes e^x for x <= 0 the way vector math libraries do, and LLVM
vectorizes it:

    n = round(x / ln 2),  r = x - n ln 2  (in two parts, for accuracy),  |r| <= ln 2 / 2
    e^x = 2^n * e^r,      e^r by its Taylor polynomial of degree 6 (error below 2e-8 on |r|)
    2^n                   the float32 whose exponent bits are n + 127 (``float32_from_bits``)

Its relative error is below 1e-7, and the activations built on it agree with NumPy's to a few
float32 ulps (below 1e-6 relative): the tests' tolerance.
"""

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

# fastmath without "nnan" and "ninf": LLVM may reorder and fuse, but NaN and inf stay what they are
# (a diverging network must still show NaN downstream, where the loss reports it)
_JIT = dict(cache=True, fastmath={"nsz", "arcp", "contract", "afn", "reassoc"},
            error_model="numpy", boundscheck=False)


def fits(*arrays):
    """True when every array is float32 and C-contiguous: the kernels' fast path applies."""
    return all(a.dtype == np.float32 and a.flags.c_contiguous for a in arrays)


@intrinsic
def float32_from_bits(typingctx, bits):
    """The float32 whose IEEE-754 bits are the int32 ``bits`` (a reinterpretation, no arithmetic)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


@numba.njit(inline="always", **_JIT)
def exp_nonpositive(x):
    """e^x for a float32 x <= 0 (module docstring); below -87 it gives about 1.6e-38, not 0."""
    x = max(x, np.float32(-87.0))
    n = np.floor(x * np.float32(1.4426950408889634) + np.float32(0.5))  # round(x / ln 2)
    r = x - n * np.float32(0.693359375) - n * np.float32(-2.12194440e-4)  # ln 2 = hi + lo
    p = np.float32(1 / 720)
    for c in (np.float32(1 / 120), np.float32(1 / 24), np.float32(1 / 6), np.float32(0.5),
              np.float32(1.0), np.float32(1.0)):
        p = p * r + c
    return p * float32_from_bits((np.int32(n) + np.int32(127)) << np.int32(23))


# ---------------------------------------------------------------------- activations
@numba.njit(**_JIT)
def sigmoid_forward_nb(x, y):
    """y = 1 / (1 + e^-x), entry by entry: with z = e^-|x|, 1 / (1 + z) for x >= 0, z / (1 + z)
    else (1-D arrays; Sigmoid.forward is the reference)."""
    for i in range(x.size):
        v = x[i]
        z = exp_nonpositive(-abs(v))
        s = np.float32(1.0) / (np.float32(1.0) + z)
        y[i] = s if v >= 0 else z * s


@numba.njit(**_JIT)
def sigmoid_backward_nb(y, dy, dx):
    """dx = dy * y * (1 - y) (Sigmoid.backward)."""
    for i in range(y.size):
        dx[i] = dy[i] * y[i] * (np.float32(1.0) - y[i])


@numba.njit(**_JIT)
def tanh_forward_nb(x, y):
    """y = tanh(x) (Tanh.forward): for |x| >= 0.3, sign(x) (1 - z) / (1 + z) with z = e^-2|x|;
    below, the Taylor series to x^11 (1 - z would lose digits to cancellation there)."""
    for i in range(x.size):
        v = x[i]
        a = abs(v)
        z = exp_nonpositive(np.float32(-2.0) * a)
        far = (np.float32(1.0) - z) / (np.float32(1.0) + z)
        s = a * a
        near = a * (np.float32(1.0) + s * (np.float32(-1 / 3) + s * (np.float32(2 / 15) + s * (
            np.float32(-17 / 315) + s * (np.float32(62 / 2835) + s * np.float32(-1382 / 155925))))))
        t = far if a >= np.float32(0.3) else near
        y[i] = t if v >= 0 else -t


@numba.njit(**_JIT)
def tanh_backward_nb(y, dy, dx):
    """dx = dy * (1 - y^2) (Tanh.backward)."""
    for i in range(y.size):
        dx[i] = dy[i] * (np.float32(1.0) - y[i] * y[i])


@numba.njit(**_JIT)
def leaky_relu_forward_nb(x, alpha, y):
    """y = x where x > 0, alpha x elsewhere (LeakyReLU.forward)."""
    a = np.float32(alpha)
    for i in range(x.size):
        v = x[i]
        y[i] = v if v > 0 else a * v


@numba.njit(**_JIT)
def leaky_relu_backward_nb(x, dy, alpha, dx):
    """dx = dy where x > 0, alpha dy elsewhere (LeakyReLU.backward)."""
    a = np.float32(alpha)
    for i in range(x.size):
        dx[i] = dy[i] if x[i] > 0 else a * dy[i]


@numba.njit(**_JIT)
def dropout_forward_nb(x, uniforms, p, y, scaled_mask):
    """scaled_mask = [u >= p] / (1 - p);  y = x * scaled_mask (Dropout.forward, from its draws)."""
    scale = np.float32(1.0) / np.float32(1.0 - p)  # as the reference: a float32 division
    for i in range(x.size):
        m = scale if uniforms[i] >= p else np.float32(0.0)
        scaled_mask[i] = m
        y[i] = x[i] * m


@numba.njit(**_JIT)
def multiply_nb(a, b, out):
    """out = a * b, entry by entry (Dropout.backward: dy times the mask)."""
    for i in range(a.size):
        out[i] = a[i] * b[i]


def elementwise(kernel, *arrays, scalars=()):
    """Run an elementwise kernel on the raveled arrays into a new array of their shape."""
    out = np.empty_like(arrays[0])
    kernel(*(a.reshape(-1) for a in arrays), *scalars, out.reshape(-1))
    return out


# ---------------------------------------------------------------------- tables
@numba.njit(**_JIT)
def gather_rows_nb(table, ids, out):
    """out[k] = table[ids[k]] for the 1-D ids (Embedding.forward); returns the position of the
    first id outside [0, R), or -1 when every id is in range (then out is filled)."""
    n_rows = table.shape[0]
    for k in range(ids.size):  # check first: a bad id must not be read
        if ids[k] < 0 or ids[k] >= n_rows:
            return k
    for k in range(ids.size):
        out[k] = table[ids[k]]
    return -1


def coalesce_ref(rows, values):
    """Unique rows (sorted) and the sum of the values given for each (the NumPy twin of
    ``coalesce_nb``): equal rows side by side by a stable sort, then one reduceat per run."""
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    starts = np.flatnonzero(np.r_[True, sorted_rows[1:] != sorted_rows[:-1]])
    return sorted_rows[starts], np.add.reduceat(values[order], starts, axis=0)


@numba.njit(**_JIT)
def coalesce_nb(rows, values, position, unique, sums):
    """Unique rows in order of first appearance into ``unique``, each one's summed values into
    ``sums`` (rows (m,), values (m, D); unique (m,), sums (m, D)); returns their count.

    ``position`` (R,) is scratch, -1 everywhere on entry and on return: a row's place in
    ``sums`` while the rows are read, so that each row is found in O(1), without sorting.
    """
    count = 0
    for k in range(rows.size):
        r = rows[k]
        slot = position[r]
        if slot < 0:
            slot = count
            position[r] = slot
            unique[slot] = r
            sums[slot] = values[k]
            count += 1
        else:
            sums[slot] += values[k]
    for k in range(count):
        position[unique[k]] = -1
    return count


# ---------------------------------------------------------------------- pooling, convolution
@numba.njit(**_JIT)
def max_over_time_forward_nb(x, y, argmax):
    """y[n, c] = max over t of x[n, t, c], argmax[n, c] the first t holding it (MaxOverTime)."""
    n_batch, n_steps, n_channels = x.shape
    for n in range(n_batch):
        for c in range(n_channels):
            best, at = x[n, 0, c], 0
            for t in range(1, n_steps):
                if x[n, t, c] > best:
                    best, at = x[n, t, c], t
            y[n, c] = best
            argmax[n, c] = at


@numba.njit(**_JIT)
def max_over_time_backward_nb(dy, argmax, dx):
    """dx[n, argmax[n, c], c] = dy[n, c], 0 elsewhere (dx (N, T, C) is zeroed here)."""
    n_batch, n_steps, n_channels = dx.shape
    for n in range(n_batch):
        for t in range(n_steps):
            for c in range(n_channels):
                dx[n, t, c] = 0
        for c in range(n_channels):
            dx[n, argmax[n, c], c] = dy[n, c]


@numba.njit(**_JIT)
def windows_nb(x, width, out):
    """out[n, t, k C + c] = x[n, t + k, c]: the flattened windows of a Conv1d (im2col)."""
    n_batch, n_steps, n_channels = x.shape
    for n in range(n_batch):
        for t in range(out.shape[1]):
            for k in range(width):
                for c in range(n_channels):
                    out[n, t, k * n_channels + c] = x[n, t + k, c]


@numba.njit(**_JIT)
def add_windows_nb(dwindows, width, dx):
    """dx[n, t + k, c] = sum over (t, k) of dwindows[n, t, k C + c] (the adjoint of windows_nb;
    dx (N, T, C) is zeroed here)."""
    n_batch, n_steps, n_channels = dx.shape
    for n in range(n_batch):
        for t in range(n_steps):
            for c in range(n_channels):
                dx[n, t, c] = 0
        for t in range(dwindows.shape[1]):
            for k in range(width):
                for c in range(n_channels):
                    dx[n, t + k, c] += dwindows[n, t, k * n_channels + c]


# ---------------------------------------------------------------------- losses
@numba.njit(**_JIT)
def softmax_cross_entropy_nb(z, target, weight, dz):
    """Per row n of logits z (N, C): l_n = logsumexp(z_n) - z_n[t_n] (0 where weight[n] is 0);
    dz[n] = (softmax(z_n) - onehot(t_n)) * weight[n] / N. Returns sum over n of weight[n] l_n.
    (SoftmaxCrossEntropyLoss: forward and backward in one pass per row.)"""
    n_rows, n_classes = z.shape
    losses = np.zeros(n_rows)
    for n in range(n_rows):
        top = z[n, 0]
        for c in range(1, n_classes):
            top = max(top, z[n, c])
        total = np.float32(0.0)
        for c in range(n_classes):
            e = exp_nonpositive(z[n, c] - top)
            dz[n, c] = e
            total += e
        scale = weight[n] / np.float32(n_rows) / total
        for c in range(n_classes):
            dz[n, c] *= scale
        t = target[n]
        dz[n, t] -= weight[n] / np.float32(n_rows)
        if weight[n] != 0:
            losses[n] = weight[n] * (np.log(total) + top - z[n, t])
    return losses.sum()


# ---------------------------------------------------------------------- sparse inputs, pairs
@numba.njit(**_JIT)
def sparse_rows_times_nb(indptr, indices, values, W, out):
    """out[n] += sum over k in row n of values[k] W[indices[k]]  (out (N, D) += X W for X sparse,
    SparseDense.forward)."""
    for n in range(indptr.size - 1):
        for k in range(indptr[n], indptr[n + 1]):
            w = W[indices[k]]
            v = values[k]
            for d in range(out.shape[1]):
                out[n, d] += v * w[d]


@numba.njit(**_JIT)
def sparse_rows_transpose_times_nb(indptr, indices, values, dy, dW):
    """dW[indices[k]] += values[k] dy[n] for k in row n  (dW += X^T dy, SparseDense.backward)."""
    for n in range(indptr.size - 1):
        for k in range(indptr[n], indptr[n + 1]):
            target = dW[indices[k]]
            v = values[k]
            for d in range(dy.shape[1]):
                target[d] += v * dy[n, d]


@numba.njit(**_JIT)
def pair_scores_forward_nb(rows, columns, h, W, b, out):
    """out[k] = h[rows[k]] . W[columns[k]] + b[columns[k]] (PairScores.forward)."""
    for k in range(rows.size):
        hk, wk = h[rows[k]], W[columns[k]]
        total = b[columns[k]]
        for d in range(hk.size):
            total += hk[d] * wk[d]
        out[k] = total


@numba.njit(**_JIT)
def pair_scores_backward_nb(rows, columns, h, W, dy, dh, dW, db):
    """dh[rows[k]] += dy[k] W[columns[k]];  dW[columns[k]] += dy[k] h[rows[k]];
    db[columns[k]] += dy[k]  (PairScores.backward)."""
    for k in range(rows.size):
        r, c, g = rows[k], columns[k], dy[k]
        for d in range(h.shape[1]):
            dh[r, d] += g * W[c, d]
            dW[c, d] += g * h[r, d]
        db[c] += g
