"""The plain training loop, and batched prediction.

One epoch of ``fit`` is the whole of backprop training:

    for each mini-batch (x_b, y_b) of a seeded shuffle:
        pred = model.forward(x_b)              forward, caching what backward needs
        L    = loss.forward(pred, y_b, w_b)    a float, the batch mean
        model.backward(loss.backward())        dL/dpred flows down; layers fill their grads
        optimizer.step()                       params -= (rule of) grads
        optimizer.zero_grad()                  grads = 0 for the next batch

``x`` is one array (N, ...) or, for a model with several inputs, a tuple of arrays that share their
first axis, e.g. ``(user_ids, item_ids)`` for matrix factorization.
"""

from dataclasses import dataclass, field
from functools import partial

import numpy as np

from nanorec.nn.losses import BCELoss, BCEWithLogitsLoss, SoftmaxCrossEntropyLoss


@dataclass
class History:
    """What ``fit`` recorded, one entry per epoch.

    Attributes
    ----------
    loss : list of float
        Mean training loss of each epoch, (1/N) sum_i w_i l_i over the epoch's batches.
    metrics : dict of str -> list of float
        Each metric over the training batches as the model saw them during the epoch.
    val_loss, val_metrics
        The same on the validation data at the end of each epoch (empty without validation).
    """

    loss: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    val_loss: list = field(default_factory=list)
    val_metrics: dict = field(default_factory=dict)


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


def fit(
    model,
    loss,
    optimizer,
    x,
    y,
    n_epochs=10,
    batch_size=32,
    weight=None,
    seed=0,
    metrics=None,
    validation=None,
    verbose=False,
):
    """Train ``model`` in place by mini-batch gradient descent; return the per-epoch History.

    Parameters
    ----------
    model : Layer
        Any layer or container (``forward``, ``backward``, ``train``/``eval``).
    loss : Loss
        E.g. BCELoss for a Sigmoid output, SoftmaxCrossEntropyLoss for logits (N, C).
    optimizer : Optimizer
        Built on the same model, e.g. ``Adam(model, lr=0.01)``.
    x : array (N, ...) or tuple of arrays (N, ...)
        Model input; a tuple is passed to the model as a tuple (multi-input models).
    y : array (N, ...)
        Targets, as the loss expects them.
    n_epochs, batch_size : int
        Passes over the data, and samples per step (the last batch may be smaller).
    weight : array (N,), optional
        Per-sample loss weights.
    seed : int
        Seeds the shuffle (np.random.default_rng(seed)): the same seed gives the same run.
    metrics : sequence of str, optional
        Names among {"accuracy"}; default: ("accuracy",) for BCELoss, BCEWithLogitsLoss and
        SoftmaxCrossEntropyLoss, none otherwise.
    validation : tuple (x_val, y_val), optional
        Evaluated (in eval mode) at the end of every epoch.
    verbose : bool
        Print one line per epoch.
    """
    inputs, y, weight, n = _check_data(x, y, weight, "fit")
    n_epochs = _check_positive_int(n_epochs, "n_epochs")
    batch_size = _check_positive_int(batch_size, "batch_size")
    metric_fns = _metric_functions(metrics, loss)
    history = History(metrics={name: [] for name in metric_fns})
    if validation is not None:
        x_val, y_val = _check_validation(validation)
        history.val_metrics = {name: [] for name in metric_fns}
    rng = np.random.default_rng(seed)
    model.train()
    optimizer.zero_grad()
    for epoch in range(n_epochs):
        totals = dict.fromkeys(["loss", *metric_fns], 0.0)
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            batch = order[start : start + batch_size]
            pred = model.forward(_take(inputs, batch))
            totals["loss"] += loss.forward(pred, y[batch], _take(weight, batch)) * len(batch)
            model.backward(loss.backward())
            optimizer.step()
            optimizer.zero_grad()
            for name, metric in metric_fns.items():
                totals[name] += metric(pred, y[batch]) * len(batch)
        history.loss.append(totals.pop("loss") / n)
        for name, total in totals.items():
            history.metrics[name].append(total / n)
        if validation is not None:
            val_pred = predict(model, x_val)
            history.val_loss.append(loss.forward(val_pred, y_val))
            for name, metric in metric_fns.items():
                history.val_metrics[name].append(metric(val_pred, y_val))
        if verbose:
            print(_epoch_line(history, epoch, n_epochs))
    return history


def predict(model, x, batch_size=1024):
    """Model outputs for every sample of x, computed in eval mode, batch by batch.

    x is an array (N, ...) or a tuple of arrays (N, ...); returns the outputs concatenated along
    the first axis. The model's train/eval mode is restored afterwards.
    """
    inputs, _, _, n = _check_data(x, None, None, "predict")
    batch_size = _check_positive_int(batch_size, "batch_size")
    was_training = model.training
    model.eval()
    try:
        batches = (slice(start, start + batch_size) for start in range(0, n, batch_size))
        outputs = [model.forward(_take(inputs, batch)) for batch in batches]
    finally:
        if was_training:
            model.train()
    return np.concatenate(outputs)


def _take(data, index):
    """Rows ``index`` of an array, of every array in a tuple, or None of None."""
    if data is None:
        return None
    if isinstance(data, tuple):
        return tuple(a[index] for a in data)
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


def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


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


def _epoch_line(history, epoch, n_epochs):
    parts = [f"epoch {epoch + 1:>{len(str(n_epochs))}}/{n_epochs}", f"loss {history.loss[-1]:.4f}"]
    parts += [f"{name} {values[-1]:.4f}" for name, values in history.metrics.items()]
    if history.val_loss:
        parts.append(f"val_loss {history.val_loss[-1]:.4f}")
        parts += [f"val_{name} {values[-1]:.4f}" for name, values in history.val_metrics.items()]
    return "  ".join(parts)
