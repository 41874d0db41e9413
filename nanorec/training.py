"""The training spine: one step, one epoch, and the epoch driver that trains every model.

    train_step(network, loss, optimizer, batch)     forward -> loss -> backward -> step -> zero_grad
    train_epoch(network, loss, optimizer, batches)  the steps of one pass; the epoch's mean loss
    run_epochs(run_epoch, n_epochs, ...)            the epochs: history, progress, validation,
                                                    early stopping, divergence stop
    fit(network, loss, optimizer, x, y, ...)        arrays in: seeded shuffles cut into batches,
                                                    trained by run_epochs over train_epoch
    predict(network, x)                             outputs in eval mode, batch by batch

One step is the whole of backprop training:

    pred = network.forward(inputs)              forward, caching what backward needs
    L    = loss.forward(pred, target, weight)   a float, the batch mean
    network.backward(loss.backward())           dL/dpred flows down; layers fill their grads
    optimizer.step()                            params -= (rule of) grads
    optimizer.zero_grad()                       grads = 0 for the next batch

Every recommender of nanorec.models trains through ``run_epochs``: its epoch is ``train_epoch``
over its batches (the composed network), or a fused Numba kernel that takes the same steps (an
accelerator that a test holds equal to the composed network).
"""

import sys
import time
from functools import partial
from typing import NamedTuple

import numpy as np

from nanorec import _checks
from nanorec.nn.losses import BCELoss, BCEWithLogitsLoss, SoftmaxCrossEntropyLoss


class Batch(NamedTuple):
    """One step's data: the network's ``inputs`` (an array, or a tuple of arrays for a
    multi-input network), the loss's ``target`` (None for BPRLoss) and ``weight`` (per-sample
    loss weights, MaskedLoss's mask, or None)."""

    inputs: object
    target: object = None
    weight: object = None


class Samples(NamedTuple):
    """One epoch's training samples in their order: the arrays a fused kernel reads, and, iterated,
    the Batch steps of the composed network (``batch_size`` samples of ``order`` at a time).

    inputs : array (N, ...) or tuple of arrays;  target, weight : arrays (N, ...) or None
    order : int array (T,) of sample indices;  batch_size : int
    """

    inputs: object
    target: object
    weight: object
    order: np.ndarray
    batch_size: int

    def batches(self):
        return iterate_batches(self.inputs, self.target, self.weight, self.order, self.batch_size)


class Run(NamedTuple):
    """What ``run_epochs`` recorded.

    history : dict of str -> list of float
        One value per epoch: "loss" (the epoch's mean training loss), the epoch's other training
        values, then the validation values ("valid_...").
    epoch_seconds : list of float
        Wall seconds of each epoch's training (not its validation).
    best_epoch : int
        0-based epoch whose parameters the network holds at the end (the last one, or the best
        one on validation with early stopping).
    """

    history: dict
    epoch_seconds: list
    best_epoch: int


def train_step(network, loss, optimizer, batch, transform=None):
    """One gradient step on ``batch`` (a Batch); returns (the batch's loss before the step, the
    network's output). The loss raises a FloatingPointError (nanorec.nn.losses.NonFiniteError) if
    the output holds NaN or inf: training diverged.

    ``transform(network, batch)``, if given, edits ``network.grads`` in place between backward
    and the step: DP-SGD's per-example clipping and noise, a federated client's penalty.
    """
    pred = network.forward(batch.inputs)
    value = loss.forward(pred, batch.target, batch.weight)  # NonFiniteError on NaN or inf in pred
    network.backward(loss.backward())
    if transform is not None:
        transform(network, batch)
    optimizer.step()
    optimizer.zero_grad()
    return value, pred


def train_epoch(network, loss, optimizer, batches, metrics=None):
    """One pass of ``train_step`` over ``batches`` (an iterable of Batch, or Samples) in training
    mode.

    Returns {"loss": mean, name: mean, ...}: the batch losses (and each ``metrics`` function
    f(pred, target) of the batches) averaged with each batch weighted by its number of samples
    (the length of its first input array), i.e. means over the epoch's samples.
    """
    network.train()
    metrics = metrics or {}
    totals, n_samples = dict.fromkeys(["loss", *metrics], 0.0), 0
    if isinstance(batches, Samples):
        batches = batches.batches()
    for batch in batches:
        n = len(_first_array(batch.inputs))
        value, pred = train_step(network, loss, optimizer, batch)
        totals["loss"] += value * n
        for name, metric in metrics.items():
            totals[name] += metric(pred, batch.target) * n
        n_samples += n
    if n_samples == 0:
        raise ValueError("train_epoch: no batches to train on")
    return {name: total / n_samples for name, total in totals.items()}


def run_epochs(run_epoch, n_epochs, validate=None, higher_is_better=False, early_stopping=None,
               params=(), verbose=False, name="training"):
    """Run ``n_epochs`` epochs; record the history; show progress; stop early or on divergence.

    Parameters
    ----------
    run_epoch : callable () -> float or dict
        Trains one epoch; returns its mean training loss, or a dict whose "loss" entry is that
        and whose other entries (training metrics) join the history.
    n_epochs : int
    validate : callable () -> dict of str -> float, optional
        Called after each epoch; its values join the history. With early stopping its FIRST
        entry is watched: better when larger if ``higher_is_better``, else when smaller.
    early_stopping : int or None
        Patience: stop after this many epochs without improvement of the watched value and put
        the best epoch's values back into ``params`` (needs ``validate``).
    params : sequence of arrays
        What early stopping copies at the best epoch and restores at the end (in place).
    verbose : bool
        Show each epoch (a tqdm bar on a terminal, else one line per epoch; see EpochDisplay).
    name : str
        Who is training, for the progress and the divergence error.

    Raises FloatingPointError when an epoch's loss is NaN or infinite (training diverged).
    Returns a Run.
    """
    n_epochs = _checks.positive_int(n_epochs, "n_epochs", name)
    if early_stopping is not None:
        early_stopping = _checks.positive_int(early_stopping, "early_stopping", name)
        if validate is None:
            raise ValueError(f"{name}: early_stopping needs validation data")
    history, epoch_seconds = {"loss": []}, []
    sign = -1.0 if higher_is_better else 1.0
    best_value, best_epoch, best_params = np.inf, 0, None
    with EpochDisplay(name, n_epochs, verbose) as display:
        for epoch in range(n_epochs):
            start = time.perf_counter()
            try:
                values = run_epoch()
            except FloatingPointError as error:  # NaN or inf met within the epoch
                raise FloatingPointError(_diverged(name, epoch, error)) from None
            epoch_seconds.append(time.perf_counter() - start)
            values = dict(values) if isinstance(values, dict) else {"loss": values}
            values["loss"] = _finite_loss(values["loss"], epoch, name)
            if validate is not None:
                validation = validate()
                values.update(validation)
                watched = sign * next(iter(validation.values()))
                if early_stopping is not None and watched < best_value:
                    best_value, best_epoch = watched, epoch
                    best_params = [np.array(array, copy=True) for array in params]
            for key, value in values.items():
                history.setdefault(key, []).append(float(value))
            display.show(epoch, values)
            if early_stopping is not None and epoch - best_epoch >= early_stopping:
                break
    if best_params is None:
        best_epoch = len(history["loss"]) - 1
    else:
        for array, best in zip(params, best_params):
            array[...] = best
    return Run(history, epoch_seconds, best_epoch)


def _finite_loss(loss, epoch, name):
    loss = float(loss)
    if not np.isfinite(loss):
        raise FloatingPointError(_diverged(name, epoch, f"the training loss is {loss}"))
    return loss


def _diverged(name, epoch, what):
    return (f"{name} diverged in epoch {epoch + 1}: {what}; lower the learning rate (lr) or "
            "raise the regularization")


def iterate_batches(inputs, target=None, weight=None, order=None, batch_size=32):
    """Batches of the samples ``order`` (default: all, in order), ``batch_size`` at a time.

    ``inputs`` is an array (N, ...) or a tuple of them; ``target`` and ``weight`` are arrays
    (N, ...) or None. Yields Batch(inputs[rows], target[rows], weight[rows]); the last batch may be
    smaller.
    """
    n = len(_first_array(inputs))
    order = np.arange(n) if order is None else order
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        yield Batch(_take(inputs, rows), _take(target, rows), _take(weight, rows))


def fit(network, loss, optimizer, x, y, n_epochs=10, batch_size=32, weight=None, seed=0,
        metrics=None, validation=None, early_stopping=None, verbose=False):
    """Train ``network`` in place by mini-batch gradient descent; return the history.

    Parameters
    ----------
    network : Layer
        Any layer or container (``forward``, ``backward``, ``train``/``eval``).
    loss : Loss
        E.g. BCELoss for a Sigmoid output, SoftmaxCrossEntropyLoss for logits (N, C).
    optimizer : Optimizer
        Built on the same network, e.g. ``Adam(network, lr=0.01)``.
    x : array (N, ...) or tuple of arrays (N, ...)
        Network input; a tuple is passed to the network as a tuple (multi-input networks).
    y : array (N, ...)
        Targets, as the loss expects them.
    n_epochs, batch_size : int
        Passes over the data, and samples per step (the last batch may be smaller).
    weight : array (N,), optional
        Per-sample loss weights.
    seed : int
        Seeds the shuffles (np.random.default_rng(seed)): the same seed gives the same run.
    metrics : sequence of str, optional
        Names among {"accuracy"}; default: ("accuracy",) for BCELoss, BCEWithLogitsLoss and
        SoftmaxCrossEntropyLoss, none otherwise.
    validation : tuple (x_val, y_val), optional
        Evaluated (in eval mode) at the end of every epoch: "valid_loss" and "valid_<metric>".
    early_stopping : int or None
        Patience on "valid_loss" (needs validation); the best epoch's parameters are kept.
    verbose : bool
        Show each epoch.

    Returns
    -------
    dict of str -> list of float
        One value per epoch: "loss" (the mean over the epoch's samples), each metric over the
        training batches as the network saw them, "valid_loss" and "valid_<metric>".
    """
    inputs, y, weight, n = _check_data(x, y, weight, "fit")
    batch_size = _checks.positive_int(batch_size, "batch_size", "fit")
    metric_fns = _metric_functions(metrics, loss)
    rng = np.random.default_rng(seed)

    def run_epoch():
        order = rng.permutation(n)
        return train_epoch(network, loss, optimizer, Samples(inputs, y, weight, order, batch_size),
                           metric_fns)

    validate = None
    if validation is not None:
        x_val, y_val = _check_validation(validation)

        def validate():
            pred = predict(network, x_val)
            values = {"valid_loss": loss.forward(pred, y_val)}
            values.update({f"valid_{name}": metric(pred, y_val) for name, metric in metric_fns.items()})
            return values

    run = run_epochs(run_epoch, n_epochs, validate, False, early_stopping,
                     list(network.params.values()), verbose, "fit")
    return run.history


def predict(network, x, batch_size=1024):
    """Network outputs for every sample of x, computed in eval mode, batch by batch.

    x is an array (N, ...) or a tuple of arrays (N, ...); returns the outputs concatenated along
    the first axis. The network's train/eval mode is restored afterwards.
    """
    inputs, _, _, _ = _check_data(x, None, None, "predict")
    batch_size = _checks.positive_int(batch_size, "batch_size", "predict")
    was_training = network.training
    network.eval()
    try:
        outputs = [network.forward(batch.inputs) for batch in iterate_batches(inputs, batch_size=batch_size)]
    finally:
        if was_training:
            network.train()
    return np.concatenate(outputs)


def accuracy(pred, target, threshold=0.5):
    """Share of samples whose predicted class is the target class.

    pred (N, C), C > 1:   class = argmax_c pred[n, c], against integer targets (N,)
    pred (N,) or (N, 1):  class = [pred >= threshold], against targets rounded at 0.5 (same shape);
                          threshold 0.5 for probabilities, 0 for logits
    """
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.ndim == 2 and pred.shape[1] > 1:
        return float(np.mean(pred.argmax(axis=1) == target))
    return float(np.mean((pred >= threshold) == (target >= 0.5)))


class EpochDisplay:
    """What ``verbose`` training shows after each epoch; nothing when verbose is false.

    On a terminal with tqdm installed (``pip install "nanorec[progress]"``): a progress bar over
    the epochs on stderr, the latest values as its postfix. Otherwise (no tqdm, or output to a
    file or a pipe): one printed line per epoch, ``epoch 3/20  loss 0.41230  valid_hr@10 0.21000``.
    Use it as a context manager, so that the bar is closed even when training fails.
    """

    def __init__(self, name, n_epochs, verbose):
        self.n_epochs = n_epochs
        self.verbose = bool(verbose)
        self.bar = _progress_bar(name, n_epochs) if self.verbose else None

    def show(self, epoch, values):
        """Report 0-based ``epoch`` with its {name: value} (loss first)."""
        if self.bar is not None:
            self.bar.set_postfix({name: f"{value:.5f}" for name, value in values.items()},
                                 refresh=False)
            self.bar.update(1)
        elif self.verbose:
            numbers = "  ".join(f"{name} {value:.5f}" for name, value in values.items())
            print(f"epoch {epoch + 1}/{self.n_epochs}  {numbers}", flush=True)

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        if self.bar is not None:
            self.bar.close()


def _progress_bar(name, n_epochs):
    """A tqdm bar over n_epochs when tqdm is installed and stderr is a terminal, else None."""
    if not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is optional: fall back to one line per epoch
        return None
    return tqdm(total=n_epochs, desc=name, unit="epoch", file=sys.stderr)


def _first_array(inputs):
    """The first array of an input (the first element of a tuple, recursively)."""
    while isinstance(inputs, tuple):
        inputs = inputs[0]
    return inputs


def _take(data, index):
    """Rows ``index`` of an array, of every array in a (nested) tuple, or None of None."""
    if data is None:
        return None
    if isinstance(data, tuple):
        return tuple(_take(a, index) for a in data)
    return data[index]


def _check_data(x, y, weight, caller):
    """x (an array, or a tuple of arrays), y and weight as arrays, and their common length N >= 1."""
    if isinstance(x, tuple):
        inputs = tuple(np.asarray(a) for a in x)
        named = {f"x[{k}]": a for k, a in enumerate(inputs)}
    else:
        inputs = np.asarray(x)
        named = {"x": inputs}
    y = None if y is None else np.asarray(y)
    weight = None if weight is None else np.asarray(weight)
    named.update({name: a for name, a in (("y", y), ("weight", weight)) if a is not None})
    lengths = {name: len(a) if a.ndim else "no sample axis" for name, a in named.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"{caller}: x, y and weight must share their first axis, got lengths {lengths}")
    n = next(iter(lengths.values()), 0)
    if not isinstance(n, int) or n == 0:
        raise ValueError(f"{caller}: no samples (lengths {lengths})")
    return inputs, y, weight, n


def _check_validation(validation):
    if not isinstance(validation, (tuple, list)) or len(validation) != 2:
        raise ValueError("fit: validation must be a pair (x_val, y_val)")
    inputs, y, _, _ = _check_data(validation[0], validation[1], None, "fit (validation)")
    return inputs, y


def _metric_functions(names, loss):
    """name -> f(pred, target) per requested metric; accuracy cuts logits at 0, probabilities at 0.5."""
    if names is None:
        classifies = isinstance(loss, (BCELoss, BCEWithLogitsLoss, SoftmaxCrossEntropyLoss))
        names = ("accuracy",) if classifies else ()
    names = (names,) if isinstance(names, str) else tuple(names)
    threshold = 0.0 if isinstance(loss, BCEWithLogitsLoss) else 0.5
    known = {"accuracy": partial(accuracy, threshold=threshold)}
    for name in names:
        if name not in known:
            raise ValueError(f"unknown metric {name!r}; known metrics: {sorted(known)}")
    return {name: known[name] for name in names}
