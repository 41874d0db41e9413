"""The engine's speed: every layer's forward + backward, every Numba kernel against its NumPy twin
(a fused epoch kernel against its model's composed network), and the start-up costs (import,
first fit), each beside this machine's measured peak.

Question: how far is nanorec's engine from PyTorch (CPU, eager autograd) and from what the machine
can do, at batch sizes from 1 (Python overhead rules) to 4096 (arithmetic rules)?

Four tables:

    peaks      a float32 BLAS matmul of 2048 x 2048 (GFLOP/s) and a 256 MB np.copyto (GB/s), measured
               at the start of the run: the 100% marks of the "% of peak" columns
    layers     forward + backward of one batch (params' gradients zeroed first, as a training step
               does), float32, for N in BATCH_SIZES: nanorec's layer; PyTorch's module (2 threads;
               skipped without torch); the bare NumPy lines of the same math where they are short
               (no checks, no caches: the floor a Layer's bookkeeping is measured against).
               Work counted: Dense 2 N D H flops per product, three products (y, dW, dx); Conv1d
               and RNN the same per step; the elementwise layers and losses in bytes (their
               arrays read and written once each), since they do no flop worth counting.
               Embedding: nanorec's backward only records (ids, dy) in a RowSparseGrad (the
               optimizer sums repeated rows); PyTorch's sparse=True builds a sparse tensor; the
               NumPy row adds into a dense (R, K) gradient with np.add.at
    kernels    each `*_nb` kernel against its `*_ref` twin on the same inputs: the optimizers'
               dense (10^7 entries) and row-sparse (4096 of 10^5 rows of 64) updates, negative
               sampling (2,000 rows of 4), ItemKNN's neighbour search, the evaluation's tie-aware
               ranks; and each model's fused epoch kernel against its composed network: one
               epoch of BiasedMF, BPRMF, MatrixFactorization and NeuMF on a small fixed problem
               (20,000 rows), the same Samples and starting parameters given to the model's
               ``_fused_epoch`` (fused=True) and to nanorec.training.train_epoch over its network
               (fused=False, the reference the kernel is held equal to). The kernel's first call
               (compile or cache load) is reported apart
    start-up   `import nanorec` in a fresh interpreter (target <= 0.5 s); and for BiasedMF and BPRMF,
               the first fit in a fresh process (Numba cache warm) minus a second, identical fit in
               the same process: the one-off cost a user pays per process (target <= 1 s)

Every time is the median of repeats (see _common.measure); JSON with the machine, versions, dtype,
sizes and seeds goes to benchmarks/results/bench_engine-<time>.json, and a PNG of GFLOP/s against
the batch size beside it.

    python benchmarks/bench_engine.py [--quick] [--out DIR]

--quick    batch sizes 1 and 4096 only, fewer repeats, one start-up sample
"""

import os

# BLAS threads for nanorec's matrix products: as many as PyTorch gets (TORCH_THREADS), unless set.
# On a busy machine pass OPENBLAS_NUM_THREADS=1: spinning BLAS threads then slow small products
# down tenfold. Set before numpy is imported (and only when run as a script).
if __name__ == "__main__":
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
    os.environ.setdefault("OMP_NUM_THREADS", "2")

import argparse  # noqa: E402
import copy  # noqa: E402
import datetime  # noqa: E402
import inspect  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Callable, Optional  # noqa: E402

import numpy as np  # noqa: E402

from nanorec.data.datasets import load  # noqa: E402
from nanorec.data.sampling import NegativeSampler, sample_negatives_nb, sample_negatives_ref  # noqa: E402
from nanorec.evaluation.protocols import pessimistic_ranks_nb, pessimistic_ranks_ref  # noqa: E402
from nanorec.models.knn import item_neighbours_nb, item_neighbours_ref  # noqa: E402
from nanorec.models.mf import BiasedMF, BPRMF  # noqa: E402
from nanorec.models.neural import MatrixFactorization, NeuMF  # noqa: E402
from nanorec.nn.activations import ReLU, Sigmoid, Tanh  # noqa: E402
from nanorec.nn.conv import Conv1d  # noqa: E402
from nanorec.nn.layers import Dense, Embedding, Sequential  # noqa: E402
from nanorec.nn.losses import BCEWithLogitsLoss, BPRLoss, MSELoss, SoftmaxCrossEntropyLoss  # noqa: E402
from nanorec.nn.recurrent import RNN  # noqa: E402
from nanorec.optim import kernels as optim_kernels  # noqa: E402

# helpers shared by the bench_* scripts (run as a script, this folder is on sys.path)
from _common import (  # noqa: E402  isort: skip
    RESULTS_DIR,
    Skipped,
    composed_epoch,
    epoch_setup,
    fused_epoch,
    machine_info,
    machine_peaks,
    markdown_table,
    measure,
    publish,
    require,
    run_fresh_python,
)

SEED = 0
DTYPE = np.float32
BATCH_SIZES = (1, 64, 512, 4096)
QUICK_BATCH_SIZES = (1, 4096)
TORCH_THREADS = 2
# layer sizes: D features in, H out; R embedding rows, K their width; T steps, C channels or classes
D, H, R, K, T, C_IN, C_OUT, WIDTH, CLASSES = 256, 256, 100_000, 64, 20, 32, 64, 3, 100
MLP_WIDTHS = (256, 256, 256, 1)


# ============================================================================ layers
@dataclass
class LayerCase:
    """One row family of the layer table.

    inputs(rng, n)  -> the batch, as NumPy arrays (x and the upstream gradient or targets)
    nanorec(inputs) -> a function running one forward + backward through nanorec
    torch(torch, inputs), numpy(inputs) -> the same through PyTorch / bare NumPy (None: no such row)
    flops(n) or bytes(n): the work of one forward + backward, for GFLOP/s or GB/s
    """

    name: str
    inputs: Callable
    nanorec: Callable
    torch: Optional[Callable] = None
    numpy: Optional[Callable] = None
    flops: Optional[Callable] = None
    bytes: Optional[Callable] = None


def _normal(rng, *shape):
    return rng.standard_normal(shape).astype(DTYPE)


def layer_step(layer, x, dy):
    """Zero the grads, forward x, backward dy: one training step of a layer (no update)."""
    def step():
        layer.zero_grad()
        layer.forward(x)
        layer.backward(dy)
    return step


def loss_step(loss, pred, target):
    def step():
        loss.forward(pred, target)
        loss.backward()
    return step


def torch_step(torch, module, x, dy):
    """The same with PyTorch's autograd: y = module(x); y.backward(dy); dL/dx for float inputs."""
    x = torch.from_numpy(x)
    if x.is_floating_point():
        x.requires_grad_(True)
    dy = torch.from_numpy(dy)

    def step():
        for param in module.parameters():
            param.grad = None
        x.grad = None
        module(x).backward(dy)
    return step


def torch_loss_step(torch, loss, pred, target):
    pred = torch.from_numpy(pred).requires_grad_(True)
    target = None if target is None else torch.from_numpy(target)

    def step():
        pred.grad = None
        loss(pred, target).backward()
    return step


def _dense_numpy(x, dy):
    W, b = np.zeros((D, H), DTYPE), np.zeros(H, DTYPE)

    def step():  # y = x W + b;  dW = x^T dy;  db = sum dy;  dx = dy W^T
        x @ W + b
        x.T @ dy, dy.sum(axis=0), dy @ W.T
    return step


def _embedding_numpy(ids, dy):
    W, dW = np.zeros((R, K), DTYPE), np.zeros((R, K), DTYPE)

    def step():  # y = W[ids]; dW[ids] += dy, repeated ids adding up (into a dense gradient)
        W[ids]
        np.add.at(dW, ids, dy)
    return step


def _elementwise_numpy(forward, derivative):
    """Bare NumPy y = f(x), dx = dy * f'(from y or x)."""
    def make(x, dy):
        def step():
            y = forward(x)
            dy * derivative(x, y)
        return step
    return make


def _mse_numpy(pred, target):
    def step():  # L = mean (p - t)^2;  dL/dp = 2 (p - t) / N
        error = pred - target
        np.mean(error * error)
        2 * error / error.size
    return step


def _mlp(dtype, rng):
    layers = []
    for d_in, d_out in zip(MLP_WIDTHS[:-2], MLP_WIDTHS[1:-1]):
        layers += [Dense(d_in, d_out, rng=rng, dtype=dtype), ReLU()]
    return Sequential(*layers, Dense(MLP_WIDTHS[-2], MLP_WIDTHS[-1], rng=rng, dtype=dtype))


def _torch_mlp(torch):
    layers = []
    for d_in, d_out in zip(MLP_WIDTHS[:-2], MLP_WIDTHS[1:-1]):
        layers += [torch.nn.Linear(d_in, d_out), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers, torch.nn.Linear(MLP_WIDTHS[-2], MLP_WIDTHS[-1]))


def _dense_inputs(d_in, d_out):
    return lambda rng, n: (_normal(rng, n, d_in), _normal(rng, n, d_out))


def _elementwise_case(name, layer_class, torch_module, forward, derivative):
    return LayerCase(
        name, _dense_inputs(D, D),
        lambda x, dy: layer_step(layer_class(), x, dy),
        lambda torch, x, dy: torch_step(torch, getattr(torch.nn, torch_module)(), x, dy),
        _elementwise_numpy(forward, derivative),
        bytes=lambda n: 5 * n * D * 4,  # read x, write y; read dy and the cache, write dx
    )


def _loss_case(name, loss_class, torch_loss, target_kind, n_columns=1):
    """A loss on (N, n_columns) predictions; BPRLoss takes pred (N, 2) = [positive, negative]
    scores and no target."""
    def inputs(rng, n):
        pred = _normal(rng, n, n_columns)
        if target_kind == "class":
            return pred, rng.integers(0, n_columns, n)
        if target_kind == "binary":
            return pred, rng.integers(0, 2, (n, n_columns)).astype(DTYPE)
        if target_kind == "pairs":
            return pred, None
        return pred, _normal(rng, n, n_columns)

    def torch_row(torch, pred, target):
        if target_kind == "pairs":  # BPR: -log sigmoid(pos - neg), its mean
            def bpr(p, _):
                return -torch.nn.functional.logsigmoid(p[:, 0] - p[:, 1]).mean()
            return torch_loss_step(torch, bpr, pred, target)
        return torch_loss_step(torch, getattr(torch.nn, torch_loss)(), pred, target)

    return LayerCase(name, inputs, lambda pred, target: loss_step(loss_class(), pred, target),
                     torch_row, _mse_numpy if loss_class is MSELoss else None,
                     bytes=lambda n: 4 * n * n_columns * 4)


def layer_cases():
    rng = np.random.default_rng(SEED)
    t_out = T - WIDTH + 1
    return [
        LayerCase(
            f"Dense {D}->{H}", _dense_inputs(D, H),
            lambda x, dy: layer_step(Dense(D, H, rng=rng, dtype=DTYPE), x, dy),
            lambda torch, x, dy: torch_step(torch, torch.nn.Linear(D, H), x, dy),
            _dense_numpy, flops=lambda n: 3 * 2 * n * D * H,
        ),
        LayerCase(
            f"Embedding {R}x{K} (sparse grad)",
            lambda rng, n: (rng.integers(0, R, n), _normal(rng, n, K)),
            lambda ids, dy: layer_step(Embedding(R, K, rng=rng, dtype=DTYPE), ids, dy),
            lambda torch, ids, dy: torch_step(torch, torch.nn.Embedding(R, K, sparse=True), ids, dy),
            _embedding_numpy, bytes=lambda n: 3 * n * K * 4,  # gather: read, write; scatter: read dy
        ),
        _elementwise_case(f"Sigmoid ({D} wide)", Sigmoid, "Sigmoid",
                          lambda x: 1 / (1 + np.exp(-x)), lambda x, y: y * (1 - y)),
        _elementwise_case(f"Tanh ({D} wide)", Tanh, "Tanh", np.tanh, lambda x, y: 1 - y * y),
        _elementwise_case(f"ReLU ({D} wide)", ReLU, "ReLU",
                          lambda x: np.maximum(x, 0), lambda x, y: x > 0),
        LayerCase(
            f"Conv1d T={T} {C_IN}->{C_OUT} width {WIDTH}",
            lambda rng, n: (_normal(rng, n, T, C_IN), _normal(rng, n, t_out, C_OUT)),
            lambda x, dy: layer_step(Conv1d(C_IN, C_OUT, WIDTH, rng=rng, dtype=DTYPE), x, dy),
            lambda torch, x, dy: torch_step(torch, _torch_conv1d(torch), x, dy),
            flops=lambda n: 3 * 2 * n * t_out * WIDTH * C_IN * C_OUT,
        ),
        LayerCase(
            f"RNN T={T} {C_IN}->{C_OUT}",
            lambda rng, n: (_normal(rng, n, T, C_IN), _normal(rng, n, C_OUT)),
            lambda x, dy: layer_step(RNN(C_IN, C_OUT, rng=rng, dtype=DTYPE), x, dy),
            lambda torch, x, dy: torch_step(torch, _torch_rnn(torch), x, dy),
            flops=lambda n: 3 * 2 * n * T * (C_IN * C_OUT + C_OUT * C_OUT),
        ),
        _loss_case("MSELoss", MSELoss, "MSELoss", "real"),
        _loss_case("BCEWithLogitsLoss", BCEWithLogitsLoss, "BCEWithLogitsLoss", "binary"),
        _loss_case(f"SoftmaxCrossEntropyLoss ({CLASSES} classes)", SoftmaxCrossEntropyLoss,
                   "CrossEntropyLoss", "class", CLASSES),
        _loss_case("BPRLoss", BPRLoss, None, "pairs", n_columns=2),
        LayerCase(
            "MLP " + "-".join(map(str, MLP_WIDTHS)) + " (ReLU)", _dense_inputs(MLP_WIDTHS[0], 1),
            lambda x, dy: layer_step(_mlp(DTYPE, rng), x, dy),
            lambda torch, x, dy: torch_step(torch, _torch_mlp(torch), x, dy),
            flops=lambda n: 3 * 2 * n * sum(a * b for a, b in zip(MLP_WIDTHS[:-1], MLP_WIDTHS[1:])),
        ),
    ]


def _torch_conv1d(torch):
    """torch's Conv1d on nanorec's (N, T, C) layout: transposed in and out, as a user would."""
    class ChannelsLastConv1d(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv1d(C_IN, C_OUT, WIDTH)

        def forward(self, x):
            return self.conv(x.transpose(1, 2)).transpose(1, 2)

    return ChannelsLastConv1d()


def _torch_rnn(torch):
    """torch's tanh RNN, batch first, returning the last state (N, H) as nanorec's RNN does."""
    class LastStateRNN(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.RNN(C_IN, C_OUT, batch_first=True)

        def forward(self, x):
            return self.rnn(x)[0][:, -1]

    return LastStateRNN()


def _torch_or_skip():
    torch = require("torch", "torch")
    torch.set_num_threads(TORCH_THREADS)
    return torch


def _rate(work, seconds):
    return None if work is None else work / seconds / 1e9


def benchmark_layers(batch_sizes, repeats, peaks):
    """Rows {case, n, nanorec_s, torch_s, numpy_s, gflops | gbytes_per_s, pct_of_peak}."""
    try:
        torch = _torch_or_skip()
        torch_status = "ok"
    except Skipped as skipped:
        torch, torch_status = None, str(skipped)
    rows = []
    for case in layer_cases():
        for n in batch_sizes:
            inputs = case.inputs(np.random.default_rng(SEED), n)
            row = {"case": case.name, "n": n,
                   "nanorec_s": measure(case.nanorec(*inputs), repeats)["median_s"]}
            if case.torch is not None and torch is not None:
                row["torch_s"] = measure(case.torch(torch, *inputs), repeats)["median_s"]
            elif case.torch is not None:
                row["torch_s"] = torch_status
            if case.numpy is not None:
                row["numpy_s"] = measure(case.numpy(*inputs), repeats)["median_s"]
            if case.flops is not None:
                row["gflops"] = _rate(case.flops(n), row["nanorec_s"])
                row["pct_of_peak"] = 100 * row["gflops"] / peaks["gflops"]
            else:
                row["gbytes_per_s"] = _rate(case.bytes(n), row["nanorec_s"])
                row["pct_of_peak"] = 100 * row["gbytes_per_s"] / peaks["gbytes_per_s"]
            print(f"  layer {row}", file=sys.stderr)
            rows.append(row)
    return rows


# ============================================================================ kernels vs twins
N_SAMPLES = 20_000  # rows of the small fixed problem the epoch kernels run on
N_SAMPLED_USERS = 2000  # rows of negatives drawn by the sampling kernel and its twin
RANKED_USERS = 256  # rows of scores ranked by the evaluation kernel and its twin
DENSE_ENTRIES = 10**7  # 40 MB per float32 array: beyond the caches, as the copy peak
SPARSE_ROWS, SPARSE_USED, SPARSE_WIDTH = 100_000, 4096, 64


@dataclass
class KernelCase:
    """A kernel and its twin (a NumPy ``*_ref``, or a model's composed network);
    ``arguments(for_kernel)`` builds fresh inputs for the kernel's call (True) or the twin's
    (False); ``bytes`` (optimizer rules) or ``samples`` of ``unit`` measures the work."""

    name: str
    twin: Callable
    kernel: Callable
    arguments: Callable
    bytes: Optional[int] = None
    samples: Optional[int] = None
    unit: str = "sample"


def by_name(function, given):
    """The values of ``given`` in the order of ``function``'s parameters (a clear error if one is
    missing): kernel and twin share that signature, so the arguments follow its changes."""
    names = list(inspect.signature(function).parameters)
    missing = [name for name in names if name not in given]
    if missing:
        raise TypeError(f"{function.__name__}: no benchmark input for parameter(s) {missing}")
    return tuple(given[name] for name in names)


def optimizer_cases(rng):
    """Dense rules on DENSE_ENTRIES entries, lazy sparse rules on SPARSE_USED rows of a table.

    Bytes counted: param, grad and every state array read once, param and state written once.
    """
    dense_shape = (DENSE_ENTRIES // 1000, 1000)
    table = (SPARSE_ROWS, SPARSE_WIDTH)
    rows = np.sort(rng.choice(SPARSE_ROWS, SPARSE_USED, replace=False)).astype(np.int64)
    values = _normal(rng, SPARSE_USED, SPARSE_WIDTH)
    rules = {  # name: (number of state arrays, hyperparameters after them)
        "sgd": ("SGD momentum", 1, (0.01, 0.9, 0.0)),
        "adam": ("Adam", 2, (1e-3, 0.9, 0.999, 1e-8, 0.0, 3)),
        "adagrad": ("Adagrad", 1, (0.01, 1e-10, 0.0)),
    }
    cases = []
    for rule, (label, n_state, hyper) in rules.items():
        def dense(for_kernel, n_state=n_state, hyper=hyper):
            state = [np.zeros(dense_shape, DTYPE) for _ in range(n_state)]
            return (_normal(rng, *dense_shape), _normal(rng, *dense_shape), *state, *hyper)

        def sparse(for_kernel, n_state=n_state, hyper=hyper):
            state = [np.zeros(table, DTYPE) for _ in range(n_state)]
            return (_normal(rng, *table), rows, values, *state, *hyper)

        for kind, make, entries in (("dense", dense, DENSE_ENTRIES),
                                    ("sparse", sparse, SPARSE_USED * SPARSE_WIDTH)):
            cases.append(KernelCase(
                f"{label}, {kind}" + (f" ({SPARSE_USED} of {SPARSE_ROWS} rows)" if kind == "sparse"
                                      else f" ({entries} entries)"),
                getattr(optim_kernels, f"{rule}_{kind}_ref"),
                getattr(optim_kernels, f"{rule}_{kind}_nb"),
                make, bytes=(3 + 2 * n_state) * entries * 4,
            ))
    return cases


def small_problem():
    """The fixed data of the epoch kernels: a synthetic log of N_SAMPLES rows (seed 0)."""
    return load("synthetic", n_users=1000, n_items=500, n_interactions=N_SAMPLES, seed=SEED)


# the models whose fused epoch is timed against their composed network: name -> unfitted model
EPOCH_MODELS = {
    "BiasedMF epoch (K=100, one rating per step)":
        lambda: BiasedMF(n_factors=100, random_state=SEED, dtype=DTYPE),
    "BPRMF epoch (K=64, one triple per step)":
        lambda: BPRMF(n_factors=64, recent_share=0.0, random_state=SEED, dtype=DTYPE),
    "MatrixFactorization epoch (K=16, 4 negatives, batch 128)":
        lambda: MatrixFactorization(n_factors=16, batch_size=128, n_negatives=4, implicit=True,
                                    random_state=SEED, dtype=DTYPE),
    "NeuMF epoch (8 + 64-32-16-8, 4 negatives, batch 256)":
        lambda: NeuMF(n_factors=8, layers=(64, 32, 16, 8), batch_size=256, n_negatives=4,
                      implicit=True, random_state=SEED, dtype=DTYPE),
}


def epoch_cases(data, rng):
    """Negative sampling, ItemKNN's neighbour search, the evaluation's ranks (kernel vs NumPy
    twin), and one epoch of each model of EPOCH_MODELS over the rows of ``data`` (fused kernel vs
    composed network, from the same parameters on the same samples)."""
    users = data.user_index
    sampler = NegativeSampler(data, n_negatives=4, seed=SEED)
    sampled_users = users[:N_SAMPLED_USERS]  # the twin loops in Python: fewer rows
    # the stream NegativeSampler.sample would draw for these users (expected draws, plus margin)
    uniforms = rng.random(int(1.2 * 4 * np.sum(1 / sampler.acceptance[sampled_users])) + 64)

    csr = data.to_csr()  # and the same matrix by columns, for the neighbour search
    item_users = np.repeat(np.arange(data.n_users), np.diff(csr.indptr))[np.argsort(csr.indices,
                                                                                   kind="stable")]
    item_indptr = np.r_[0, np.cumsum(np.bincount(csr.indices, minlength=data.n_items))]

    n_neighbours = min(50, data.n_items)

    def neighbours(for_kernel):
        return (csr.indptr, csr.indices, item_indptr, item_users, n_neighbours, 0.0)

    scores = rng.standard_normal((RANKED_USERS, data.n_items))  # a chunk of users, as evaluate's
    relevant_row = np.repeat(np.arange(RANKED_USERS), 10)
    relevant_item = rng.integers(0, data.n_items, len(relevant_row))
    is_relevant = np.zeros(scores.shape, bool)
    is_relevant[relevant_row, relevant_item] = True

    def ranks(for_kernel):
        return (scores, relevant_row, relevant_item, is_relevant)

    def sampling(for_kernel):
        # the kernel's tables (CSR of the positives, the item distribution) are the sampler's
        # attributes of the same names
        given = {"users": sampled_users, "n_negatives": 4, "uniforms": uniforms}
        names = inspect.signature(sample_negatives_ref).parameters
        given.update({name: getattr(sampler, name) for name in names if name not in given})
        return by_name(sample_negatives_ref, given)

    cases = [
        KernelCase("negative sampling (4 per row, uniform)", sample_negatives_ref,
                   sample_negatives_nb, sampling, samples=N_SAMPLED_USERS),
        KernelCase(f"ItemKNN neighbours (k={n_neighbours}, {data.n_items} items)", item_neighbours_ref,
                   item_neighbours_nb, neighbours, samples=data.n_items, unit="item"),
        KernelCase(f"evaluation ranks ({RANKED_USERS} users x {data.n_items} items, 10 relevant each)",
                   pessimistic_ranks_ref, pessimistic_ranks_nb, ranks, samples=len(relevant_row),
                   unit="pair"),
    ]
    for name, make_model in EPOCH_MODELS.items():
        setup = epoch_setup(make_model(), data)

        def arguments(for_kernel, setup=setup):  # the same start for the kernel and the network
            return copy.deepcopy(setup)

        cases.append(KernelCase(f"{name}: fused kernel vs composed network", composed_epoch,
                                fused_epoch, arguments, samples=len(setup[1].order)))
    return cases


def benchmark_kernels(cases, twin_repeats, kernel_repeats, peaks):
    """Rows {case, twin_s, kernel_s, kernel_first_s, speedup, and GB/s + % of peak or ns/sample}."""
    rows = []
    for case in cases:
        twin = case.arguments(False)
        kernel = case.arguments(True)
        twin_time = measure(lambda: case.twin(*twin), twin_repeats, min_repeat_s=0)
        kernel_time = measure(lambda: case.kernel(*kernel), kernel_repeats)
        row = {"case": case.name, "twin_s": twin_time["median_s"],
               "kernel_s": kernel_time["median_s"], "kernel_first_s": kernel_time["first_s"],
               "speedup": twin_time["median_s"] / kernel_time["median_s"]}
        if case.bytes is not None:
            row["gbytes_per_s"] = _rate(case.bytes, row["kernel_s"])
            row["pct_of_peak"] = 100 * row["gbytes_per_s"] / peaks["gbytes_per_s"]
        else:
            row["samples"], row["unit"] = case.samples, case.unit
            row["ns_per_sample"] = 1e9 * row["kernel_s"] / case.samples
        print(f"  kernel {row}", file=sys.stderr)
        rows.append(row)
    return rows


# ============================================================================ start-up
IMPORT_CODE = """
import json, time
start = time.perf_counter()
import nanorec
print(json.dumps(time.perf_counter() - start))
"""

# argv[1]: the model class. Two identical fits in one process: the first loads Numba's cache and
# touches every code path once; the second shows what a fit costs once the process is warm.
TWO_FITS_CODE = """
import json, sys, time
from nanorec.data.datasets import load
from nanorec.models.mf import BPRMF, BiasedMF
data = load("synthetic", n_users=1000, n_items=500, n_interactions=20000, seed=0)
model_class = {"BiasedMF": BiasedMF, "BPRMF": BPRMF}[sys.argv[1]]
seconds = []
for _ in range(2):
    start = time.perf_counter()
    model_class(n_epochs=5, random_state=0).fit(data)
    seconds.append(time.perf_counter() - start)
print(json.dumps(seconds))
"""
STARTUP_MODELS = ("BiasedMF", "BPRMF")


def benchmark_startup(samples):
    """Import time and first-fit overhead, each the median over ``samples`` fresh processes."""
    imports = [run_fresh_python(IMPORT_CODE) for _ in range(samples)]
    result = {"import_s": statistics.median(imports), "import_samples_s": imports, "fits": {}}
    for name in STARTUP_MODELS:
        run_fresh_python(TWO_FITS_CODE, name)  # fills Numba's cache if it was cold: not counted
        pairs = [run_fresh_python(TWO_FITS_CODE, name) for _ in range(samples)]
        result["fits"][name] = {
            "first_fit_s": statistics.median(first for first, _ in pairs),
            "second_fit_s": statistics.median(second for _, second in pairs),
            "overhead_s": statistics.median(first - second for first, second in pairs),
            "samples": pairs,
        }
    return result


# ============================================================================ run and report
def run(quick):
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    machine = machine_info()
    peaks = machine_peaks(repeats=3 if quick else 7)
    print(f"  peaks {peaks}", file=sys.stderr)
    rng = np.random.default_rng(SEED)
    batch_sizes = QUICK_BATCH_SIZES if quick else BATCH_SIZES
    repeats = 3 if quick else 7
    layers = benchmark_layers(batch_sizes, repeats, peaks)
    kernel_cases = optimizer_cases(rng) + epoch_cases(small_problem(), rng)
    kernels = benchmark_kernels(kernel_cases, 1 if quick else 3, repeats, peaks)
    startup = benchmark_startup(1 if quick else 5)
    return {
        "benchmark": "engine: layers, kernels vs twins and networks, start-up",
        "started_utc": started,
        "machine": machine,
        "config": {
            "dtype": np.dtype(DTYPE).name, "seed": SEED, "batch_sizes": list(batch_sizes),
            "repeats": repeats, "torch_threads": TORCH_THREADS,
            "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default (all cores)"),
            "sizes": {"D": D, "H": H, "R": R, "K": K, "T": T, "C_in": C_IN, "C_out": C_OUT,
                      "width": WIDTH, "classes": CLASSES, "mlp": list(MLP_WIDTHS),
                      "dense_entries": DENSE_ENTRIES,
                      "sparse": [SPARSE_USED, SPARSE_ROWS, SPARSE_WIDTH],
                      "epoch_samples": N_SAMPLES},
        },
        "peaks": peaks,
        "layers": layers,
        "kernels": kernels,
        "startup": startup,
    }


def _us(value):
    """Seconds as microseconds for a cell; a status text (skipped ...) stays as it is."""
    return value if isinstance(value, str) else f"{1e6 * value:,.1f}"


def layer_table(rows):
    header = ["layer (fwd + bwd)", "N", "nanorec µs", "PyTorch µs", "NumPy µs",
              "nanorec / PyTorch", "nanorec GFLOP/s or GB/s", "% of peak"]
    body = []
    for row in rows:
        torch_s = row.get("torch_s", "—")
        ratio = f"{row['nanorec_s'] / torch_s:.3g}" if isinstance(torch_s, float) else ""
        rate = (f"{row['gflops']:.3g} GFLOP/s" if "gflops" in row
                else f"{row['gbytes_per_s']:.3g} GB/s")
        body.append([row["case"], row["n"], _us(row["nanorec_s"]), _us(torch_s),
                     _us(row.get("numpy_s", "—")), ratio, rate, f"{row['pct_of_peak']:.2g}"])
    return markdown_table(header, body)


def kernel_table(rows):
    header = ["kernel", "twin ms (NumPy twin or composed network)", "Numba kernel ms", "speed-up",
              "first call s (JIT)",
              "kernel GB/s (% of peak) or ns per unit"]
    body = []
    for row in rows:
        work = (f"{row['gbytes_per_s']:.2f} GB/s ({row['pct_of_peak']:.0f}%)" if "gbytes_per_s" in row
                else f"{row['ns_per_sample']:.0f} ns/{row['unit']}")
        body.append([row["case"], f"{1e3 * row['twin_s']:,.2f}", f"{1e3 * row['kernel_s']:,.3f}",
                     f"{row['speedup']:.1f}x", f"{row['kernel_first_s']:.3f}", work])
    return markdown_table(header, body)


def startup_lines(startup):
    verdict = "meets" if startup["import_s"] <= 0.5 else "misses"
    lines = [f"`import nanorec` in a fresh interpreter: {startup['import_s']:.3f} s "
             f"(median; target <= 0.5 s: {verdict})"]
    for name, fit in startup["fits"].items():
        verdict = "meets" if fit["overhead_s"] <= 1 else "misses"
        lines.append(f"{name}: first fit in a fresh process {fit['first_fit_s']:.3f} s, second fit "
                     f"{fit['second_fit_s']:.3f} s, overhead {fit['overhead_s']:.3f} s "
                     f"(median; target <= 1 s: {verdict})")
    return lines


def report(results):
    machine, config, peaks = results["machine"], results["config"], results["peaks"]
    return "\n".join([
        f"## {results['benchmark']} ({config['dtype']}, median of {config['repeats']} repeats)",
        "",
        f"Peaks measured in this run: {peaks['gflops']:.1f} GFLOP/s (float32 matmul "
        f"{peaks['matmul_size']}^2), {peaks['gbytes_per_s']:.1f} GB/s (np.copyto of "
        f"{peaks['copy_mb']} MB). PyTorch: {config['torch_threads']} threads; BLAS threads: "
        f"{config['blas_threads']}.",
        "",
        "### Layers: forward + backward of one batch",
        "",
        layer_table(results["layers"]),
        "",
        "### Numba kernels against their NumPy twins, fused epochs against their networks",
        "",
        kernel_table(results["kernels"]),
        "",
        "### Start-up",
        "",
        *startup_lines(results["startup"]),
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, load average at start "
        f"{machine['load_average_at_start']}; Python {machine['python']}, "
        + ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v),
        f"Sizes: {config['sizes']}; seed {config['seed']}.",
    ])


def plot_rates(results):
    """GFLOP/s against batch size for the flop-counted layers: nanorec solid, PyTorch dashed."""
    flop_cases = list(dict.fromkeys(row["case"] for row in results["layers"] if "gflops" in row))

    def draw(pyplot):
        figure, axes = pyplot.subplots(figsize=(7, 4.5))
        for index, case in enumerate(flop_cases):
            rows = [row for row in results["layers"] if row["case"] == case]
            n = [row["n"] for row in rows]
            color = f"C{index}"
            axes.plot(n, [row["gflops"] for row in rows], "o-", color=color, label=f"nanorec {case}")
            torch_rows = [row for row in rows if isinstance(row.get("torch_s"), float)]
            if torch_rows:
                axes.plot([row["n"] for row in torch_rows],
                          [row["gflops"] * row["nanorec_s"] / row["torch_s"] for row in torch_rows],
                          "x--", color=color, label=f"PyTorch {case}")
        axes.axhline(results["peaks"]["gflops"], color="k", lw=0.8, label="float32 matmul peak")
        axes.set(xscale="log", yscale="log", xlabel="batch size N", ylabel="GFLOP/s (fwd + bwd)",
                 title="Achieved GFLOP/s against batch size")
        axes.legend(fontsize=7)
        return figure

    return draw


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="batch sizes 1 and 4096, few repeats")
    parser.add_argument("--out", default=RESULTS_DIR, help="folder for the JSON and PNG results")
    args = parser.parse_args(argv)
    results = run(args.quick)
    publish("bench_engine", results, report(results), args.out, plot_rates(results))


if __name__ == "__main__":
    main()
