"""One SGD epoch of matrix factorization as a Numba kernel: BiasedMF's and BPRMF's fused paths.

Each kernel takes, in one compiled loop, the steps that the model's composed network
(nanorec.models.mf: BiasedMFNetwork, BPRMFNetwork) takes one sample at a time with SGD; that
network is the readable reference, and a test holds each kernel equal to it in float64. Arrays
and scalars in, the parameters updated in place, the epoch loss out. The random parts of an epoch
(the order of the ratings, the negative items of BPR) are drawn by the caller, so the kernel and
the network walk through exactly the same samples.

Compiler options (benchmarks/README.md has the measurements behind them):
    fastmath=True        lets LLVM reorder the sums of the dot products into SIMD lanes; in
                         float64 a kernel then matches the network to about 1e-12, not bit for bit
    float32 arithmetic   the kernels cast their scalars to the parameters' dtype, so float32
                         parameters give twice as many SIMD lanes as float64
    error_model="numpy"  division by zero gives inf/nan as in NumPy instead of raising (no check)
    boundscheck=False    the ids come from an Interactions, whose indices are checked on creation
    nogil=True           a call releases Python's lock, so threads (a threaded Dask worker running
                         DSGDBiasedMF's blocks, nanorec.models.distributed) run kernels at once
"""

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

_JIT = dict(cache=True, fastmath=True, error_model="numpy", boundscheck=False, nogil=True)
PREFETCH_AHEAD = 16  # samples between asking for an item's factors and using them


@intrinsic
def prefetch(typingctx, matrix, row, column):
    """Ask the CPU to start loading the cache line of ``matrix[row, column]`` (2-D, C order).

    A hint, nothing else: it reads no value and changes nothing (LLVM's ``llvm.prefetch``, an x86
    ``prefetcht0``). BiasedMF's kernel calls it for the item of the rating PREFETCH_AHEAD steps
    later, so that its factors are in cache by the time they are used (it pays once the item
    table outgrows the cache; benchmarks/README.md).
    """
    def codegen(context, builder, signature, args):
        matrix_type, row_type, column_type = signature.args
        array = context.make_array(matrix_type)(context, builder, args[0])
        indices = [context.cast(builder, value, kind, types.intp)
                   for value, kind in ((args[1], row_type), (args[2], column_type))]
        address = cgutils.get_item_pointer2(
            context, builder, array.data, cgutils.unpack_tuple(builder, array.shape),
            cgutils.unpack_tuple(builder, array.strides), matrix_type.layout, indices,
        )
        byte_pointer, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        # the name carries the pointer type, spelled as llvmlite writes it (i8*): the name LLVM 14
        # expects, and one newer LLVMs (opaque pointers, "p0") still accept and rename
        llvm_prefetch = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32]),
            "llvm.prefetch.p0i8",
        )
        # arguments: address, 0 = for reading, 3 = keep in all cache levels, 1 = data (not code)
        builder.call(llvm_prefetch, [builder.bitcast(address, byte_pointer), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.none(matrix, row, column), codegen


@numba.njit(**_JIT)
def prefetch_row(matrix, row):
    """``prefetch`` every 64-byte cache line of ``matrix[row]``."""
    step = max(64 // matrix.itemsize, 1)
    for column in range(0, matrix.shape[1], step):
        prefetch(matrix, row, column)


@numba.njit(**_JIT)
def biased_mf_epoch_nb(users, items, ratings, order, mu, bu, bi, P, Q, lr, reg, weights=None):
    """One epoch of BiasedMF's SGD: for each sample s = order[t], u = users[s], i = items[s],

        e = ratings[s] - (mu + bu[u] + bi[i] + P[u] . Q[i]);   w = weights[s] (1 when None)
        bu[u] += lr * (w e - reg bu[u]);   bi[i] += lr * (w e - reg bi[i])
        P[u]  += lr * (w e Q[i] - reg P[u]);   Q[i] += lr * (w e P[u] - reg Q[i])

    every right-hand side read before the step. Shapes: users, items, ratings (n,); order (T,);
    bu (U,), bi (I,), P (U, K), Q (I, K), updated in place; weights (n,) or None. Returns the
    sum over the visited samples of w e^2, each e taken before its step.
    """
    real = P.dtype.type  # compute in the parameters' dtype: float32 doubles the SIMD lanes
    mu, lr, reg = real(mu), real(lr), real(reg)
    n_factors = P.shape[1]
    sse = 0.0
    for t in range(order.shape[0]):
        if t + PREFETCH_AHEAD < order.shape[0]:  # a hint for later; no effect on the arithmetic
            prefetch_row(Q, items[order[t + PREFETCH_AHEAD]])
        s = order[t]
        u, i = users[s], items[s]
        dot = real(0.0)
        for f in range(n_factors):
            dot += P[u, f] * Q[i, f]
        e = real(ratings[s]) - (mu + bu[u] + bi[i] + dot)
        we = e if weights is None else real(weights[s]) * e  # None is pruned at compile time
        sse += we * e
        bu[u] += lr * (we - reg * bu[u])
        bi[i] += lr * (we - reg * bi[i])
        for f in range(n_factors):  # one loop for both, so P[u, f] is read before it changes
            p, q = P[u, f], Q[i, f]
            P[u, f] += lr * (we * q - reg * p)
            Q[i, f] += lr * (we * p - reg * q)
    return sse


@numba.njit(**_JIT)
def log1p_exp(z):
    """log(1 + exp(z)) of a scalar without overflow: max(z, 0) + log(1 + exp(-|z|))."""
    return max(z, 0.0) + np.log1p(np.exp(-abs(z)))


@numba.njit(**_JIT)
def sigmoid_scalar(z):
    """1 / (1 + exp(-z)) of a scalar without overflow: exp is only taken of -|z|."""
    ez = np.exp(-abs(z))
    return 1.0 / (1.0 + ez) if z >= 0 else ez / (1.0 + ez)


@numba.njit(**_JIT)
def bpr_epoch_nb(users, pos_items, neg_items, P, Q, item_bias, lr, reg, weights=None):
    """One epoch of BPRMF's SGD over the triples in order: for t = 0 .. n - 1, u = users[t],
    i = pos_items[t], and j the candidate of neg_items[t] (m of them) with the highest
    x_hat[u, c] = P[u] . Q[c] + b[c] (the first of equals):

        x = x_hat[u, i] - x_hat[u, j];   g = w sigmoid(-x);   w = weights[t] (1 when None)
        b[i] += lr (g - reg b[i]);   b[j] += lr (-g - reg b[j])
        P[u] += lr (g (Q[i] - Q[j]) - reg P[u])
        Q[i] += lr (g P[u] - reg Q[i]);   Q[j] += lr (-g P[u] - reg Q[j])

    every right-hand side read before the step; every candidate must differ from its positive
    (NegativeSampler never draws a positive). Shapes: users, pos_items (n,); neg_items (n, m);
    P (U, K), Q (I, K), item_bias (I,), updated in place; weights (n,) or None. Returns the sum of
    w log(1 + exp(-x)), each x taken before its step. The choice among the candidates is written
    inline (a helper function measured slower).
    """
    real = P.dtype.type  # compute in the parameters' dtype: float32 doubles the SIMD lanes
    lr, reg = real(lr), real(reg)
    n_factors = P.shape[1]
    candidates = neg_items.reshape((users.shape[0], -1))  # (n,) -> (n, 1): one code for both
    n_candidates = candidates.shape[1]
    loss = 0.0
    for t in range(users.shape[0]):
        u, i, j = users[t], pos_items[t], candidates[t, 0]
        if n_candidates > 1:  # j = the candidate c of highest x_hat[u, c], the first of equals
            best_score = real(-np.inf)
            for k in range(n_candidates):
                c = candidates[t, k]
                score = item_bias[c]
                for f in range(n_factors):
                    score += P[u, f] * Q[c, f]
                if score > best_score:
                    j, best_score = c, score
        x = item_bias[i] - item_bias[j]
        for f in range(n_factors):
            x += P[u, f] * (Q[i, f] - Q[j, f])
        w = 1.0 if weights is None else weights[t]  # None is pruned at compile time
        loss += w * log1p_exp(-x)
        g = real(w * sigmoid_scalar(-x))
        item_bias[i] += lr * (g - reg * item_bias[i])
        item_bias[j] += lr * (-g - reg * item_bias[j])
        for f in range(n_factors):  # one loop, so every right-hand side is read before it changes
            p, qi, qj = P[u, f], Q[i, f], Q[j, f]
            P[u, f] += lr * (g * (qi - qj) - reg * p)
            Q[i, f] += lr * (g * p - reg * qi)
            Q[j, f] += lr * (-g * p - reg * qj)
    return loss


def user_block_order_ref(starts, user_order, shifts):
    """The SGD order of one epoch over rows grouped by user, in plain NumPy (the reference).

    Rows are stored grouped by user: user u's rows are positions starts[u] .. starts[u + 1] - 1.
    The epoch visits the users in ``user_order``, each user's block whole, beginning at its
    (shifts[u] mod length)-th row and wrapping around to the block's start:

        block u of length L = starts[u + 1] - starts[u]:
            starts[u] + (shifts[u] + k) mod L        for k = 0 .. L - 1

    Why blocks: in a random order of all rows, every rating fetches a user's factor row and an
    item's from main memory once the tables outgrow the cache. Within a block the user's row
    stays in cache and the rows are read in sequence (benchmarks/README.md has the figures).

    Parameters
    ----------
    starts : int array (U + 1,)
        Block boundaries, starts[0] = 0 and starts[U] = n (users without rows: empty blocks).
    user_order : int array (U,)
        A permutation of the users: the order of the blocks.
    shifts : int array (U,)
        Non-negative rotation of each user's block.

    Returns
    -------
    int64 array (n,)
        A permutation of 0 .. n - 1.
    """
    lengths = np.diff(starts)[user_order]
    ends = np.cumsum(lengths)
    within = np.arange(ends[-1] if len(ends) else 0) - np.repeat(ends - lengths, lengths)
    rotated = (within + np.repeat(shifts[user_order], lengths)) % np.repeat(lengths, lengths)
    return (np.repeat(starts[user_order], lengths) + rotated).astype(np.int64)


@numba.njit(cache=True)
def user_block_order_nb(starts, user_order, shifts):
    """Numba kernel of ``user_block_order_ref``: same arguments, same permutation."""
    order = np.empty(starts[-1], dtype=np.int64)
    t = 0
    for u in user_order:
        first, length = starts[u], starts[u + 1] - starts[u]
        if length == 0:
            continue
        shift = shifts[u] % length
        for k in range(shift, length):  # from the shifted row to the block's end ...
            order[t] = first + k
            t += 1
        for k in range(shift):  # ... then from its start
            order[t] = first + k
            t += 1
    return order


def rows_by_user_ref(user_index, rows, n_users):
    """``rows`` grouped by user, in plain NumPy (the reference): a stable sort on user_index[rows].

    Parameters
    ----------
    user_index : int array (n,)
        User of each row of a data set, in [0, n_users).
    rows : int array (m,)
        Positions into ``user_index`` (any order, repeats allowed).
    n_users : int

    Returns
    -------
    int64 array (m,)
        The same positions, user 0's first, then user 1's, ...; each user's in their order in
        ``rows`` (stable).
    """
    return np.asarray(rows, dtype=np.int64)[np.argsort(user_index[rows], kind="stable")]


@numba.njit(cache=True)
def rows_by_user_nb(user_index, rows, n_users):
    """Numba kernel of ``rows_by_user_ref``: a counting sort, O(m + U) instead of O(m log m)."""
    next_slot = np.zeros(n_users + 1, dtype=np.int64)
    for r in rows:  # count each user's rows, one slot ahead ...
        next_slot[user_index[r] + 1] += 1
    for u in range(n_users):  # ... so that the running sum is where each user's block starts
        next_slot[u + 1] += next_slot[u]
    grouped = np.empty(len(rows), dtype=np.int64)
    for r in rows:
        u = user_index[r]
        grouped[next_slot[u]] = r
        next_slot[u] += 1
    return grouped
