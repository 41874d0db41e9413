"""The engine's speed and memory: every layer's forward + backward against PyTorch on the same
number of threads, every Numba kernel against its NumPy twin (a fused epoch kernel against its
model's composed network), the memory of a steady-state epoch, and the start-up costs (import,
first fit), each beside this machine's measured peak.

Question: how far is nanorec's engine from PyTorch (CPU, eager autograd) at the same thread count,
and from what the machine can do, at batch sizes from 1 (Python overhead rules) to 4096
(arithmetic rules)?

Threads. nanorec's threads are its BLAS threads (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS,
MKL_NUM_THREADS) and Numba's (NUMBA_NUM_THREADS); both libraries read them once, when imported.
So the layers are timed in worker processes, one per library and thread count k of THREAD_COUNTS:
this script again, with the hidden options ``--worker nanorec|torch --threads k --json-out FILE``
and those variables set to k before it starts; PyTorch's worker also calls
torch.set_num_threads(k). Each worker checks that the libraries took the setting; nanorec's
measures the peaks. nanorec's workers never import torch, and PyTorch's never run a nanorec
kernel: both thread through GNU OpenMP (Numba's threading layer and torch each load a libgomp),
and in one process whichever of the two was loaded second ran 2-4x slower on 2 threads here. The
parent merges the workers' times into one table, and measures the kernels, the memory and the
start-up itself (2 BLAS and Numba threads unless the variables are set).

Five tables:

    peaks      per thread count k, in nanorec's worker on k threads: a float32 BLAS matmul of
               2048 x 2048 (GFLOP/s) and a 256 MB copy split over k threads (GB/s): the 100%
               marks of the "% of peak" columns of the rows on k threads. A mark, not a bound:
               arrays that fit in the caches pass it
    layers     forward + backward of one batch (params' gradients zeroed first, as a training step
               does), float32, N in BATCH_SIZES, on k threads: nanorec's layer, PyTorch's module (a
               "skipped (pip install torch)" cell without torch), the ratio nanorec / PyTorch
               (<= 1: nanorec at or under PyTorch's time) and each one's rate and % of peak.
               Work counted: Dense 2 N D H flops per product, three products (y, dW, dx); Conv1d,
               RNN and the MLP the same for each of their products; the elementwise layers,
               Dropout, Embedding and the losses in bytes, each array of the math read or written
               once (the floor of their memory traffic), since they do no flop worth counting.
               Embedding: ids drawn from [0, N/4], so that most of them repeat; its backward
               includes the work that makes the gradient usable by an update: nanorec's
               RowSparseGrad.coalesce() (what the optimizers run: each row once, its contributions
               summed), PyTorch's sparse=True gradient and its .coalesce().
               Dropout(0.5) in training mode, its random draws included. Conv1d + MaxOverTime:
               PyTorch's Conv1d on the transposed (N, C, T) input, then the max over time, as a
               user would write it. RNN: tanh, batch first, the last state. SoftmaxCrossEntropyLoss
               over CLASSES = 1000 classes (a catalogue's items). BPRLoss: PyTorch's
               -logsigmoid(pos - neg).mean()
    kernels    each `*_nb` kernel against its `*_ref` twin on the same inputs: the optimizers'
               dense (10^7 entries) and row-sparse (4096 of 10^5 rows of 64) updates, negative
               sampling (2,000 rows of 4), ItemKNN's neighbour search, the evaluation's tie-aware
               ranks; and each model's fused epoch kernel against its composed network: one
               epoch of BiasedMF, BPRMF, MatrixFactorization and NeuMF on a small fixed problem
               (20,000 rows), the same Samples and starting parameters given to the model's
               ``_fused_epoch`` (fused=True) and to nanorec.training.train_epoch over its network
               (fused=False, the reference the kernel is held equal to). The kernel's first call
               (compile or cache load) is reported apart. The kernels are serial: their "% of
               peak" is of the 1-thread copy
    memory     does a steady-state epoch allocate arrays the size of the data per batch? For
               BPRMF, MatrixFactorization, NeuMF, Caser and AutoRec, each on the small fixed
               problem and on a quarter of its rows (the same users and items): tracemalloc's peak
               during the second epoch of a two-epoch fit (traced from that epoch's draw of samples
               to the end of fit), beside the bytes of the training rows and the peak of one
               training step (forward, loss, backward and update of one batch through the
               composed network, after a first step). The draw makes arrays the size of the data
               once per epoch; a step that allocated by the size of the data would show in the
               step's peak growing with it, and anything kept from batch to batch in the epoch's
               peak passing the draw plus one step. tracemalloc sees NumPy's arrays, not what a
               Numba kernel allocates inside itself: the fused kernels' epochs (fused=True, the
               default) come with the count of Numba's own allocations during the epoch
               (NUMBA_NRT_STATS=1, set by the script); the composed networks' epochs (fused=False)
               are traced whole
    start-up   `import nanorec.models` in a fresh interpreter (target <= 0.5 s); and for BiasedMF and
               BPRMF, the first fit in a fresh process (Numba cache warm) minus a second, identical fit in
               the same process: the one-off cost a user pays per process (target <= 1 s)

Every time is the median of repeats (see _common.measure); JSON with the machine, the load average
at the start and the end, versions, dtype, sizes and seeds goes to
benchmarks/results/bench_engine-<time>.json, and a PNG of GFLOP/s against the batch size beside it.

    python benchmarks/bench_engine.py [--quick] [--out DIR]

--quick    a smoke run: batch size 256 only, 3 repeats, both thread counts (the same four workers),
           a tenth of the small problem for the epochs and the memory, one start-up sample
"""

import os

# Thread counts of the layer table, and the variables that fix nanorec's threads to one of them.
THREAD_COUNTS = (1, 2)
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")

# The parent's threads (kernels, memory, start-up): 2, unless set. Numba's allocation counts on,
# for the memory table. Set before numpy and numba are imported (and only when run as a script;
# a worker gets its variables from the parent, see worker_command).
if __name__ == "__main__":
    for _name in THREAD_VARIABLES:
        os.environ.setdefault(_name, "2")
    os.environ.setdefault("NUMBA_NRT_STATS", "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import copy  # noqa: E402
import datetime  # noqa: E402
import inspect  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable, Optional  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402
from numba.core.runtime import rtsys  # noqa: E402

from nanorec.data.datasets import load  # noqa: E402
from nanorec.data.sampling import NegativeSampler, sample_negatives_nb, sample_negatives_ref  # noqa: E402
from nanorec.evaluation.protocols import pessimistic_ranks_nb, pessimistic_ranks_ref  # noqa: E402
from nanorec.models.autoencoders import AutoRec  # noqa: E402
from nanorec.models.knn import item_neighbours_nb, item_neighbours_ref  # noqa: E402
from nanorec.models.mf import BiasedMF, BPRMF  # noqa: E402
from nanorec.models.neural import MatrixFactorization, NeuMF  # noqa: E402
from nanorec.models.sequence import Caser  # noqa: E402
from nanorec.nn.activations import LeakyReLU, ReLU, Sigmoid, Tanh  # noqa: E402
from nanorec.nn.conv import Conv1d, MaxOverTime  # noqa: E402
from nanorec.nn.layers import Dense, Dropout, Embedding, Sequential  # noqa: E402
from nanorec.nn.losses import BCEWithLogitsLoss, BPRLoss, MSELoss, SoftmaxCrossEntropyLoss  # noqa: E402
from nanorec.nn.recurrent import RNN  # noqa: E402
from nanorec.optim import kernels as optim_kernels  # noqa: E402
from nanorec.training import Samples, train_step  # noqa: E402

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
BATCH_SIZES = (1, 256, 4096)
QUICK_BATCH_SIZES = (256,)
# layer sizes: D features in, H out; R embedding rows, K their width; the Conv1d's T steps,
# C_IN -> C_OUT channels and WIDTH; the RNN's RNN_T steps, RNN_D -> RNN_H; the softmax's CLASSES
D, H, R, K = 256, 256, 100_000, 64
T, C_IN, C_OUT, WIDTH = 20, 32, 64, 3
RNN_T, RNN_D, RNN_H = 30, 64, 128
CLASSES = 1000
DROPOUT, LEAKY_SLOPE = 0.5, 0.01
MLP_WIDTHS = (256, 256, 256, 1)
FLOAT_BYTES = np.dtype(DTYPE).itemsize


# ============================================================================ layers
@dataclass
class LayerCase:
    """One row family of the layer table.

    inputs(rng, n)       -> the batch, as NumPy arrays (x and the upstream gradient, or the loss's
                            predictions and targets)
    nanorec(*inputs)     -> a function running one forward + backward through nanorec
    torch(torch, *inputs) -> the same through PyTorch
    flops(n) or bytes(n): the work of one forward + backward, for GFLOP/s or GB/s
    """

    name: str
    inputs: Callable
    nanorec: Callable
    torch: Callable
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


def embedding_step(layer, ids, dy):
    """layer_step, then the coalesce an optimizer runs on the RowSparseGrad before its update
    (each row once, repeated ids summed): the gradient an update can use."""
    def step():
        layer.zero_grad()
        layer.forward(ids)
        layer.backward(dy)
        layer.grads["W"].coalesce()
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


def torch_embedding_step(torch, ids, dy):
    """torch.nn.Embedding(sparse=True): forward, backward, then .coalesce() of the sparse
    gradient (repeated ids summed), as embedding_step."""
    table = torch.nn.Embedding(R, K, sparse=True)
    ids, dy = torch.from_numpy(ids), torch.from_numpy(dy)

    def step():
        table.weight.grad = None
        table(ids).backward(dy)
        table.weight.grad.coalesce()
    return step


def torch_loss_step(torch, loss, pred, target):
    pred = torch.from_numpy(pred).requires_grad_(True)
    target = None if target is None else torch.from_numpy(target)

    def step():
        pred.grad = None
        loss(pred, target).backward()
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


def _torch_conv_max(torch):
    """torch's Conv1d and a max over time on nanorec's (N, T, C) layout, as a user writes it."""
    class ConvMaxOverTime(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv1d(C_IN, C_OUT, WIDTH)

        def forward(self, x):  # x (N, T, C_in) -> (N, C_out, T') -> (N, C_out)
            return self.conv(x.transpose(1, 2)).max(dim=2).values

    return ConvMaxOverTime()


def _torch_rnn(torch):
    """torch's tanh RNN, batch first, returning the last state (N, H) as nanorec's RNN does."""
    class LastStateRNN(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.RNN(RNN_D, RNN_H, batch_first=True)

        def forward(self, x):
            return self.rnn(x)[0][:, -1]

    return LastStateRNN()


def _torch_bpr(torch):
    def bpr(pred, _):  # -log sigmoid(positive - negative), its mean
        return -torch.nn.functional.logsigmoid(pred[:, 0] - pred[:, 1]).mean()
    return bpr


def _dense_inputs(d_in, d_out):
    return lambda rng, n: (_normal(rng, n, d_in), _normal(rng, n, d_out))


def _elementwise_case(name, make_layer, make_torch):
    return LayerCase(
        f"{name} ({D} wide)", _dense_inputs(D, D),
        lambda x, dy: layer_step(make_layer(), x, dy),
        lambda torch, x, dy: torch_step(torch, make_torch(torch), x, dy),
        bytes=lambda n: 5 * n * D * FLOAT_BYTES,  # read x, write y; read dy and the cache, write dx
    )


def _loss_case(name, make_loss, make_torch_loss, inputs, n_bytes):
    return LayerCase(name, inputs, lambda pred, target: loss_step(make_loss(), pred, target),
                     lambda torch, pred, target: torch_loss_step(torch, make_torch_loss(torch),
                                                                 pred, target),
                     bytes=n_bytes)


def _regression_inputs(rng, n):
    return _normal(rng, n, 1), _normal(rng, n, 1)


def _binary_inputs(rng, n):
    return _normal(rng, n, 1), rng.integers(0, 2, (n, 1)).astype(DTYPE)


def _class_inputs(rng, n):
    return _normal(rng, n, CLASSES), rng.integers(0, CLASSES, n)


def _repeated_ids(rng, n):
    """N ids from [0, N/4]: each id about four times, as a batch of popular items."""
    return rng.integers(0, n // 4 + 1, n), _normal(rng, n, K)


def layer_cases():
    rng = np.random.default_rng(SEED)
    conv_steps = T - WIDTH + 1
    return [
        LayerCase(
            f"Dense {D}->{H}", _dense_inputs(D, H),
            lambda x, dy: layer_step(Dense(D, H, rng=rng, dtype=DTYPE), x, dy),
            lambda torch, x, dy: torch_step(torch, torch.nn.Linear(D, H), x, dy),
            flops=lambda n: 3 * 2 * n * D * H,
        ),
        _elementwise_case("Sigmoid", Sigmoid, lambda torch: torch.nn.Sigmoid()),
        _elementwise_case("Tanh", Tanh, lambda torch: torch.nn.Tanh()),
        _elementwise_case("ReLU", ReLU, lambda torch: torch.nn.ReLU()),
        _elementwise_case(f"LeakyReLU({LEAKY_SLOPE})", lambda: LeakyReLU(LEAKY_SLOPE),
                          lambda torch: torch.nn.LeakyReLU(LEAKY_SLOPE)),
        LayerCase(
            f"Embedding {R}x{K}, repeated ids (+ coalesce)", _repeated_ids,
            lambda ids, dy: embedding_step(Embedding(R, K, rng=rng, dtype=DTYPE), ids, dy),
            torch_embedding_step,
            # gather: read N rows, write y; coalesce: read dy (the m <= N/4 + 1 sums written
            # are not counted)
            bytes=lambda n: 3 * n * K * FLOAT_BYTES,
        ),
        LayerCase(
            f"Dropout({DROPOUT}), training ({D} wide)", _dense_inputs(D, D),
            lambda x, dy: layer_step(Dropout(DROPOUT, rng=SEED), x, dy),
            lambda torch, x, dy: torch_step(torch, torch.nn.Dropout(DROPOUT).train(), x, dy),
            # read x, write y and the mask; read dy and the mask, write dx (draws not counted)
            bytes=lambda n: 6 * n * D * FLOAT_BYTES,
        ),
        LayerCase(
            f"Conv1d T={T} {C_IN}->{C_OUT} width {WIDTH} + MaxOverTime",
            lambda rng, n: (_normal(rng, n, T, C_IN), _normal(rng, n, C_OUT)),
            lambda x, dy: layer_step(Sequential(Conv1d(C_IN, C_OUT, WIDTH, rng=rng, dtype=DTYPE),
                                                MaxOverTime()), x, dy),
            lambda torch, x, dy: torch_step(torch, _torch_conv_max(torch), x, dy),
            flops=lambda n: 3 * 2 * n * conv_steps * WIDTH * C_IN * C_OUT,
        ),
        LayerCase(
            f"RNN T={RNN_T} {RNN_D}->{RNN_H} (last state)",
            lambda rng, n: (_normal(rng, n, RNN_T, RNN_D), _normal(rng, n, RNN_H)),
            lambda x, dy: layer_step(RNN(RNN_D, RNN_H, rng=rng, dtype=DTYPE), x, dy),
            lambda torch, x, dy: torch_step(torch, _torch_rnn(torch), x, dy),
            flops=lambda n: 3 * 2 * n * RNN_T * (RNN_D * RNN_H + RNN_H * RNN_H),
        ),
        # losses: read the predictions (and targets), write their gradient
        _loss_case("MSELoss", MSELoss, lambda torch: torch.nn.MSELoss(), _regression_inputs,
                   lambda n: 3 * n * FLOAT_BYTES),
        _loss_case("BCEWithLogitsLoss", BCEWithLogitsLoss,
                   lambda torch: torch.nn.BCEWithLogitsLoss(), _binary_inputs,
                   lambda n: 3 * n * FLOAT_BYTES),
        _loss_case(f"SoftmaxCrossEntropyLoss ({CLASSES} classes)", SoftmaxCrossEntropyLoss,
                   lambda torch: torch.nn.CrossEntropyLoss(), _class_inputs,
                   lambda n: 2 * n * CLASSES * FLOAT_BYTES + 8 * n),
        LayerCase(
            "MLP " + "-".join(map(str, MLP_WIDTHS)) + " (ReLU)", _dense_inputs(MLP_WIDTHS[0], 1),
            lambda x, dy: layer_step(_mlp(DTYPE, rng), x, dy),
            lambda torch, x, dy: torch_step(torch, _torch_mlp(torch), x, dy),
            flops=lambda n: 3 * 2 * n * sum(a * b for a, b in zip(MLP_WIDTHS[:-1], MLP_WIDTHS[1:])),
        ),
        # pred (N, 2) = [positive, negative] scores and no target
        _loss_case("BPRLoss", BPRLoss, _torch_bpr, lambda rng, n: (_normal(rng, n, 2), None),
                   lambda n: 2 * 2 * n * FLOAT_BYTES),
    ]


def _torch_or_skip(threads):
    torch = require("torch", "torch")
    torch.set_num_threads(threads)
    return torch


def _rate(work, seconds):
    return None if work is None else work / seconds / 1e9


def time_layers(batch_sizes, repeats, torch=None):
    """[{case, n, seconds}]: the median time of each case's forward + backward at each batch
    size, through nanorec, or through PyTorch when ``torch`` is given; inputs drawn from SEED, so
    both libraries get the same ones."""
    times = []
    for case in layer_cases():
        for n in batch_sizes:
            inputs = case.inputs(np.random.default_rng(SEED), n)
            step = case.nanorec(*inputs) if torch is None else case.torch(torch, *inputs)
            times.append({"case": case.name, "n": n, "seconds": measure(step, repeats)["median_s"]})
            print(f"  {'nanorec' if torch is None else 'PyTorch'} {times[-1]}", file=sys.stderr)
    return times


def thread_environment(threads):
    """The variables that fix nanorec's BLAS and Numba threads to ``threads``."""
    return {name: str(threads) for name in THREAD_VARIABLES}


def threads_in_effect():
    """The threads this process's libraries took: Numba's, and the BLAS libraries' (threadpoolctl,
    when installed: None otherwise)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        blas = None
    else:
        blas = sorted({info["num_threads"] for info in threadpool_info()
                       if info["user_api"] == "blas"})
    return {"numba": numba.config.NUMBA_NUM_THREADS, "blas": blas}


def layer_worker(library, threads, quick):
    """The worker of one library and thread count: check that BLAS and Numba run on ``threads``
    threads (the variables must be set before this process imported them: worker_command); then
    nanorec's: the peaks and nanorec's times; PyTorch's: torch.set_num_threads(threads) and its
    times, or why there are none ("skipped", without torch)."""
    in_effect = threads_in_effect()
    if in_effect["numba"] != threads or in_effect["blas"] not in (None, [threads]):
        raise SystemExit(f"bench_engine worker for {threads} thread(s) runs on {in_effect}: set "
                         f"{', '.join(THREAD_VARIABLES)} to {threads} before starting it (the "
                         "parent, python benchmarks/bench_engine.py, does)")
    batch_sizes, repeats = (QUICK_BATCH_SIZES, 3) if quick else (BATCH_SIZES, 7)
    result = {"library": library, "threads": threads, "threads_in_effect": in_effect}
    if library == "nanorec":
        result["peaks"] = machine_peaks(repeats=repeats, threads=threads)
        print(f"  peaks on {threads} thread(s): {result['peaks']}", file=sys.stderr)
        result["times"] = time_layers(batch_sizes, repeats)
        return result
    try:
        torch = _torch_or_skip(threads)
    except Skipped as skipped:
        return {**result, "skipped": str(skipped), "times": []}
    in_effect["torch"] = torch.get_num_threads()
    return {**result, "times": time_layers(batch_sizes, repeats, torch)}


def worker_command(library, threads, quick, json_out):
    """(argv, environment) of the worker process that times ``library`` on ``threads`` (without
    Numba's allocation counts, which only the memory table needs)."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--worker", library, "--threads",
            str(threads), "--json-out", str(json_out)] + (["--quick"] if quick else [])
    return argv, {**os.environ, **thread_environment(threads), "NUMBA_NRT_STATS": "0"}


def run_layer_worker(library, threads, quick):
    """Run the worker of ``library`` on ``threads`` (its progress on our stderr); its results."""
    with tempfile.TemporaryDirectory() as folder:
        json_out = Path(folder) / f"{library}-{threads}-threads.json"
        argv, environment = worker_command(library, threads, quick, json_out)
        completed = subprocess.run(argv, env=environment, check=False)
        if completed.returncode != 0:
            raise RuntimeError(f"the {library} worker on {threads} thread(s) failed "
                               f"({completed.returncode}); its error is above")
        return json.loads(json_out.read_text())


def layer_rows(workers):
    """The layer table from the workers' results: a row per case (in the order of layer_cases),
    N and thread count, the thread counts of a case and N side by side; nanorec's and PyTorch's
    seconds (or why PyTorch has none), and each one's rate and % of that thread count's peak."""
    cases = {case.name: case for case in layer_cases()}
    peaks = {worker["threads"]: worker["peaks"] for worker in workers
             if worker["library"] == "nanorec"}
    torch_s = {(entry["case"], entry["n"], worker["threads"]): entry["seconds"]
               for worker in workers if worker["library"] == "torch" for entry in worker["times"]}
    skipped = {worker["threads"]: worker["skipped"] for worker in workers
               if worker["library"] == "torch" and "skipped" in worker}
    rows = []
    for worker in workers:
        if worker["library"] != "nanorec":
            continue
        threads = worker["threads"]
        for entry in worker["times"]:
            case, n = cases[entry["case"]], entry["n"]
            row = {"case": case.name, "n": n, "threads": threads, "nanorec_s": entry["seconds"],
                   "torch_s": torch_s.get((case.name, n, threads),
                                          skipped.get(threads, "not measured"))}
            if case.flops is not None:
                work, row["unit"], peak = case.flops(n), "GFLOP/s", peaks[threads]["gflops"]
            else:
                work, row["unit"], peak = case.bytes(n), "GB/s", peaks[threads]["gbytes_per_s"]
            for side in ("nanorec", "torch"):
                if isinstance(row[f"{side}_s"], float):
                    row[f"{side}_rate"] = _rate(work, row[f"{side}_s"])
                    row[f"{side}_pct"] = 100 * row[f"{side}_rate"] / peak
            rows.append(row)
    order = list(cases)
    return sorted(rows, key=lambda row: (order.index(row["case"]), row["n"], row["threads"]))


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


def small_problem(quick=False):
    """The fixed data of the epoch kernels: a synthetic log of N_SAMPLES rows (seed 0), or a tenth
    of it (and of its users and items) with --quick."""
    scale = 10 if quick else 1
    return load("synthetic", n_users=1000 // scale, n_items=500 // scale,
                n_interactions=N_SAMPLES // scale, seed=SEED)


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
import nanorec.models  # every model and the engine under them (import nanorec alone loads nothing)
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


# ============================================================================ memory
# the models whose steady-state epoch is traced: name -> (class, arguments besides n_epochs)
MEMORY_MODELS = {
    "BPRMF (K=64, one triple per step)": (BPRMF, {"n_factors": 64}),
    "MatrixFactorization (K=16, 4 negatives, batch 128)":
        (MatrixFactorization, {"n_factors": 16, "batch_size": 128, "n_negatives": 4,
                               "implicit": True}),
    "NeuMF (8 + 64-32-16-8, 4 negatives, batch 256)":
        (NeuMF, {"n_factors": 8, "layers": (64, 32, 16, 8), "batch_size": 256, "n_negatives": 4,
                 "implicit": True}),
    "Caser (d=50, L=5, 3 negatives, batch 512)": (Caser, {}),
    "AutoRec (H=500, batch 256 items)": (AutoRec, {}),
}
TRACED_EPOCH = 2  # the last epoch of the fit: the first one builds what stays (optimizer state)


def numba_allocations():
    """Allocations Numba's runtime (NRT) has made in this process, which tracemalloc does not
    see; None when its statistics are off (NUMBA_NRT_STATS=1 must be set before numba is
    imported: the script does)."""
    try:
        return rtsys.get_allocation_stats().alloc
    except RuntimeError:
        return None


class SteadyStateEpoch:
    """Mixin of a NetworkRecommender: tracemalloc starts at the draw of samples of epoch
    TRACED_EPOCH, the last of the fit (traced_fit stops it)."""

    def _training_data(self, train):
        draw = super()._training_data(train)
        epochs = itertools.count(1)

        def traced_draw():
            if next(epochs) == TRACED_EPOCH:
                self.numba_allocations_before_ = numba_allocations()
                tracemalloc.start()
            return draw()

        return traced_draw


def traced_fit(model_class, options, data):
    """``model_class(**options)`` fitted on ``data`` for TRACED_EPOCH epochs, the last one traced
    from its draw of samples to the end of fit. Returns (model, peak bytes, Numba's allocations
    meanwhile or None)."""
    traced_class = type(f"Traced{model_class.__name__}", (SteadyStateEpoch, model_class), {})
    try:
        model = traced_class(**options, n_epochs=TRACED_EPOCH).fit(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    after = numba_allocations()
    return model, peak, None if after is None else after - model.numba_allocations_before_


def step_peak(model, data):
    """(peak bytes of one training step, batches per epoch) of a fitted model's composed network:
    a fresh epoch's batches, a first step on one (optimizer state and caches in place), then
    tracemalloc around the next: forward, loss, backward, update."""
    samples = model._training_data(data)()
    batches = list(samples.batches() if isinstance(samples, Samples) else samples)
    network, loss = model.network_, model._loss()
    optimizer = model._optimizer(network)
    network.train()
    train_step(network, loss, optimizer, batches[0])
    tracemalloc.start()
    train_step(network, loss, optimizer, batches[min(1, len(batches) - 1)])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    network.eval()
    return peak, len(batches)


def training_bytes(data):
    """Bytes of the arrays with one entry per training row (ids, ratings, timestamps)."""
    return sum(array.nbytes for array in vars(data).values()
               if isinstance(array, np.ndarray) and len(array) == len(data))


def memory_rows(problems, models=None):
    """For each model, on each data set of ``problems``: the training rows and their bytes, the
    traced epoch's peak through the composed network (fused=False) and one step's peak, and, for
    a model with a fused kernel, its epoch's traced peak and Numba allocations."""
    rows = []
    for name, (model_class, options) in (models or MEMORY_MODELS).items():
        has_kernel = "fused" in inspect.signature(model_class).parameters
        for data in problems:
            composed, epoch_peak, _ = traced_fit(
                model_class, {**options, **({"fused": False} if has_kernel else {})}, data)
            peak, n_batches = step_peak(composed, data)
            row = {"model": name, "rows": len(data), "train_bytes": training_bytes(data),
                   "batches": n_batches, "composed_epoch_peak": epoch_peak, "step_peak": peak,
                   "fused_epoch_peak": None, "fused_numba_allocations": None}
            if has_kernel:
                _, row["fused_epoch_peak"], row["fused_numba_allocations"] = traced_fit(
                    model_class, {**options, "fused": True}, data)
            print(f"  memory {row}", file=sys.stderr)
            rows.append(row)
    return rows


def memory_problems(quick):
    """The memory table's data: the small fixed problem and a quarter of its rows (the same users
    and items: only the data's size changes), or a tenth of both with --quick."""
    data = small_problem(quick)
    quarter = np.sort(np.random.default_rng(SEED).choice(len(data), len(data) // 4, replace=False))
    return [data.subset(quarter), data]


# ============================================================================ run and report
def load_average():
    return [round(x, 2) for x in os.getloadavg()]


def run(quick):
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    machine = machine_info()
    thread_counts = [k for k in THREAD_COUNTS if k <= (os.cpu_count() or 1)]
    with section("layers"):
        workers = [run_layer_worker(library, threads, quick)
                   for threads in thread_counts for library in ("nanorec", "torch")]
    peaks = {str(worker["threads"]): worker["peaks"] for worker in workers
             if worker["library"] == "nanorec"}
    rng = np.random.default_rng(SEED)
    repeats = 3 if quick else 7
    with section("kernels"):
        kernel_cases = optimizer_cases(rng) + epoch_cases(small_problem(quick), rng)
        kernels = benchmark_kernels(kernel_cases, 1 if quick else 3, repeats, peaks["1"])
    with section("memory"):
        memory = memory_rows(memory_problems(quick))
    with section("start-up"):
        startup = benchmark_startup(1 if quick else 5)
    machine["load_average_at_end"] = load_average()
    return {
        "benchmark": "engine: layers against PyTorch, kernels against twins, memory, start-up",
        "started_utc": started,
        "machine": machine,
        "config": {
            "dtype": np.dtype(DTYPE).name, "seed": SEED, "repeats": repeats,
            "batch_sizes": list(QUICK_BATCH_SIZES if quick else BATCH_SIZES),
            "thread_counts": thread_counts,
            "threads_in_effect": {f"{worker['library']}, {worker['threads']}":
                                  worker["threads_in_effect"] for worker in workers},
            "parent_threads": {name: os.environ.get(name, "default (all cores)")
                               for name in THREAD_VARIABLES},
            "sizes": {"D": D, "H": H, "R": R, "K": K, "T": T, "C_in": C_IN, "C_out": C_OUT,
                      "width": WIDTH, "rnn": [RNN_T, RNN_D, RNN_H], "classes": CLASSES,
                      "dropout": DROPOUT, "leaky_slope": LEAKY_SLOPE, "mlp": list(MLP_WIDTHS),
                      "dense_entries": DENSE_ENTRIES,
                      "sparse": [SPARSE_USED, SPARSE_ROWS, SPARSE_WIDTH],
                      "epoch_samples": len(small_problem(quick))},
        },
        "peaks": peaks,
        "layers": layer_rows(workers),
        "kernels": kernels,
        "memory": memory,
        "startup": startup,
    }


@contextlib.contextmanager
def section(name):
    """Say on stderr when a part of the run starts and how long it took."""
    print(f"{name} ...", file=sys.stderr)
    start = time.perf_counter()
    yield
    print(f"{name}: {time.perf_counter() - start:.0f} s", file=sys.stderr)


def _ms(seconds):
    """Seconds as milliseconds for a cell, 3 significant digits; a status text stays as it is."""
    if isinstance(seconds, str):
        return seconds
    ms = 1e3 * seconds
    return f"{ms:.3g}" if ms < 100 else f"{ms:,.0f}"


def _pct(value):
    return f"{value:.0f}%" if value >= 10 else f"{value:.2g}%"


def layer_table(rows):
    header = ["layer (fwd + bwd)", "N", "threads", "nanorec ms", "PyTorch ms", "nanorec / PyTorch",
              "nanorec rate", "nanorec % of peak", "PyTorch rate", "PyTorch % of peak"]
    body = []
    for row in rows:
        torch_s = row["torch_s"]
        ratio = f"{row['nanorec_s'] / torch_s:.2f}" if isinstance(torch_s, float) else ""
        cells = [row["case"], row["n"], row["threads"], _ms(row["nanorec_s"]), _ms(torch_s), ratio]
        for side in ("nanorec", "torch"):
            if f"{side}_rate" in row:
                cells += [f"{row[f'{side}_rate']:.3g} {row['unit']}", _pct(row[f"{side}_pct"])]
            else:
                cells += ["", ""]
        body.append(cells)
    return markdown_table(header, body)


def peaks_table(peaks, threads_in_effect):
    """Per thread count: the peaks, and the threads each library's worker ran on."""
    header = ["threads", "float32 matmul GFLOP/s", "copy GB/s", "threads in effect"]
    body = []
    for threads, peak in peaks.items():
        in_effect = "; ".join(
            f"{library} worker: " + ", ".join(f"{name} {value}" for name, value in
                                              threads_in_effect[f"{library}, {threads}"].items())
            for library in ("nanorec", "torch") if f"{library}, {threads}" in threads_in_effect)
        body.append([threads, f"{peak['gflops']:.1f}", f"{peak['gbytes_per_s']:.1f}", in_effect])
    return markdown_table(header, body)


def kernel_table(rows):
    header = ["kernel", "twin ms (NumPy twin or composed network)", "Numba kernel ms", "speed-up",
              "first call s (JIT)",
              "kernel GB/s (% of 1-thread peak) or ns per unit"]
    body = []
    for row in rows:
        work = (f"{row['gbytes_per_s']:.2f} GB/s ({row['pct_of_peak']:.0f}%)" if "gbytes_per_s" in row
                else f"{row['ns_per_sample']:.0f} ns/{row['unit']}")
        body.append([row["case"], f"{1e3 * row['twin_s']:,.2f}", f"{1e3 * row['kernel_s']:,.3f}",
                     f"{row['speedup']:.1f}x", f"{row['kernel_first_s']:.3f}", work])
    return markdown_table(header, body)


def _bytes(value):
    return "—" if value is None else f"{value:,}"


def memory_table(rows):
    header = ["model", "training rows", "their bytes", "batches per epoch",
              "epoch peak, composed network (bytes)", "one step's peak (bytes)",
              "epoch peak, fused kernel (bytes)", "Numba allocations in the fused epoch"]
    body = []
    for row in rows:
        if row["fused_epoch_peak"] is None:
            allocations = "—"
        elif row["fused_numba_allocations"] is None:
            allocations = "not counted (NUMBA_NRT_STATS off)"
        else:
            allocations = f"{row['fused_numba_allocations']:,}"
        body.append([row["model"], f"{row['rows']:,}", _bytes(row["train_bytes"]), row["batches"],
                     _bytes(row["composed_epoch_peak"]), _bytes(row["step_peak"]),
                     _bytes(row["fused_epoch_peak"]), allocations])
    return markdown_table(header, body)


def startup_lines(startup):
    verdict = "meets" if startup["import_s"] <= 0.5 else "misses"
    lines = [f"`import nanorec.models` in a fresh interpreter: {startup['import_s']:.3f} s "
             f"(median; target <= 0.5 s: {verdict})"]
    for name, fit in startup["fits"].items():
        verdict = "meets" if fit["overhead_s"] <= 1 else "misses"
        lines.append(f"{name}: first fit in a fresh process {fit['first_fit_s']:.3f} s, second fit "
                     f"{fit['second_fit_s']:.3f} s, overhead {fit['overhead_s']:.3f} s "
                     f"(median; target <= 1 s: {verdict})")
    return lines


def slower_than_torch(rows):
    """{threads: [(case, N), ...]} of the rows where nanorec takes longer than PyTorch."""
    slower = {}
    for row in rows:
        if isinstance(row["torch_s"], float) and row["nanorec_s"] > row["torch_s"]:
            slower.setdefault(row["threads"], []).append((row["case"], row["n"]))
    return slower


def report(results):
    machine, config, peaks = results["machine"], results["config"], results["peaks"]
    slower = slower_than_torch(results["layers"])
    slower_lines = [f"- {threads} thread(s): " + (", ".join(f"{case} (N={n})" for case, n in
                                                            slower.get(threads, [])) or "none")
                    for threads in config["thread_counts"]]
    return "\n".join([
        f"## {results['benchmark']} ({config['dtype']}, median of {config['repeats']} repeats)",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores; load average (1, 5, 15 min) "
        f"{machine['load_average_at_start']} at the start, {machine['load_average_at_end']} at "
        f"the end; Python {machine['python']}, "
        + ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v) + ".",
        "",
        "### Peaks, measured per thread count in nanorec's worker on that many threads",
        "",
        peaks_table(peaks, config["threads_in_effect"]),
        "",
        "### Layers: forward + backward of one batch, nanorec and PyTorch on the same threads",
        "",
        ("Threads: BLAS and Numba for nanorec, torch.set_num_threads for PyTorch. Rates: GFLOP/s "
         "of the products (% of the matmul peak), or GB/s of the arrays read and written once "
         "(% of the copy peak, which arrays that fit in the caches pass), on the row's thread "
         "count."),
        "",
        layer_table(results["layers"]),
        "",
        "nanorec slower than PyTorch (ratio > 1):",
        *slower_lines,
        "",
        "### Numba kernels against their NumPy twins, fused epochs against their networks",
        "",
        "Threads of this (the parent) process: "
        + ", ".join(f"{name}={value}" for name, value in config["parent_threads"].items()) + ".",
        "",
        kernel_table(results["kernels"]),
        "",
        f"### Memory of a steady-state epoch (the last of {TRACED_EPOCH}, tracemalloc)",
        "",
        ("Each model on the small problem and on a quarter of its rows (the same users and "
         "items). The epoch's peak holds its draw of samples (arrays the size of the data, once "
         "per epoch) and its steps; one step's peak is one batch's forward, loss, backward and "
         "update through the composed network: the same on both sizes when no step allocates "
         "by the size of the data. tracemalloc does not see allocations inside Numba kernels: "
         "the last column counts those of the fused epoch."),
        "",
        memory_table(results["memory"]),
        "",
        "### Start-up",
        "",
        *startup_lines(results["startup"]),
        "",
        f"Sizes: {config['sizes']}; batch sizes {config['batch_sizes']}; seed {config['seed']}.",
    ])


def plot_rates(results):
    """GFLOP/s against batch size for the flop-counted layers, one panel per thread count:
    nanorec solid, PyTorch dashed, the panel's matmul peak in black."""
    layers = results["layers"]
    flop_cases = list(dict.fromkeys(row["case"] for row in layers if row["unit"] == "GFLOP/s"))
    thread_counts = results["config"]["thread_counts"]

    def draw(pyplot):
        figure, panels = pyplot.subplots(1, len(thread_counts), figsize=(6 * len(thread_counts), 4.5),
                                         sharey=True, squeeze=False)
        for axes, threads in zip(panels[0], thread_counts):
            for index, case in enumerate(flop_cases):
                rows = [row for row in layers if row["case"] == case and row["threads"] == threads]
                color = f"C{index}"
                axes.plot([row["n"] for row in rows], [row["nanorec_rate"] for row in rows], "o-",
                          color=color, label=f"nanorec {case}")
                torch_rows = [row for row in rows if "torch_rate" in row]
                if torch_rows:
                    axes.plot([row["n"] for row in torch_rows],
                              [row["torch_rate"] for row in torch_rows], "x--", color=color,
                              label=f"PyTorch {case}")
            axes.axhline(results["peaks"][str(threads)]["gflops"], color="k", lw=0.8,
                         label="float32 matmul peak")
            axes.set(xscale="log", yscale="log", xlabel="batch size N", ylabel="GFLOP/s (fwd + bwd)",
                     title=f"{threads} thread(s)")
        panels[0][-1].legend(fontsize=7)
        return figure

    return draw


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: batch size 256, 3 repeats, a small memory problem")
    parser.add_argument("--out", default=RESULTS_DIR, help="folder for the JSON and PNG results")
    # a worker: one library on one thread count (run by the parent, with the thread variables set)
    parser.add_argument("--worker", choices=("nanorec", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--json-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        if args.threads is None or args.json_out is None:
            parser.error("--worker needs --threads and --json-out")
        result = layer_worker(args.worker, args.threads, args.quick)
        Path(args.json_out).write_text(json.dumps(result))
        return
    results = run(args.quick)
    publish("bench_engine", results, report(results), args.out, plot_rates(results))


if __name__ == "__main__":
    main()
