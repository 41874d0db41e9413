"""What every trained model shares: its hyperparameters checked at fit time, and the epoch loop.

Hyperparameters are checked in ``fit``, not in ``__init__`` (scikit-learn's habit: the constructor
only stores them), each failure a ValueError naming the model, the argument and the bound.
"""

import sys
import time

import numpy as np


def check_positive_int(model, name, value=None):
    """``getattr(model, name)`` (or ``value``) must be an integer >= 1."""
    value = getattr(model, name) if value is None else value
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{type(model).__name__}: {name} must be a positive integer, got {value!r}")


def check_number(model, name, low_open=False, high=None):
    """``getattr(model, name)`` must be a finite number >= 0 (> 0 if low_open; < high if given)."""
    value = getattr(model, name)
    is_number = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    ok = is_number and np.isfinite(value) and (value > 0 if low_open else value >= 0)
    if not ok or (high is not None and value >= high):
        bound = f"in [0, {high:g})" if high is not None else "> 0" if low_open else ">= 0"
        raise ValueError(f"{type(model).__name__}: {name} must be a finite number {bound}, "
                         f"got {value!r}")


def check_hyperparameters(model, valid, positive_ints=(), fractions=()):
    """The checks every trained model needs, plus its own integers and fractions in [0, 1).

    Always: n_epochs a positive int, lr > 0, reg >= 0 (when the model has them), dtype float32 or
    float64, and early_stopping (a patience) only with validation data.
    """
    name = type(model).__name__
    for attribute in ("n_epochs", *positive_ints):
        check_positive_int(model, attribute)
    check_number(model, "lr", low_open=True)
    if hasattr(model, "reg"):
        check_number(model, "reg")
    for attribute in fractions:
        check_number(model, attribute, high=1.0)
    if np.dtype(model.dtype) not in (np.float32, np.float64):
        raise ValueError(f"{name}: dtype must be np.float32 or np.float64, got {model.dtype!r}")
    if model.early_stopping is not None:
        check_positive_int(model, "early_stopping")
        if valid is None:
            raise ValueError(f"{name}: early_stopping needs validation data: fit(train, valid)")


def explicit_ratings(data, name, model_name):
    """The ratings of ``data`` (the ``name`` argument of ``model_name``.fit); implicit data fails."""
    if data.ratings is None:
        raise ValueError(
            f"{model_name} needs explicit ratings, but {name} is implicit feedback (ratings=None); "
            "use BPRMF for implicit feedback"
        )
    return data.ratings


def tail_weights(data, tail_weight):
    """Per-row loss weights against the long tail: w (n,) float64, one per row of ``data``.

        w[r] = (n_i / mean n) ** (-tail_weight)   for row r of item i, then rescaled to mean 1
                                                  over the rows
        n_i = rows of item i in ``data``, mean n = their mean over the I items

    tail_weight = 0 gives x ** -0 = 1 for every row and a mean of 1: exactly ones, so w * x = x in
    floating point and a weighted training is the unweighted one bit for bit. tail_weight = 0.5
    makes a row of an item with a quarter of the mean count weigh twice one with the mean count
    (before the rescaling). Used by BiasedMF, BPRMF, MatrixFactorization and NeuMF.
    """
    counts = np.bincount(data.item_index, minlength=data.n_items).astype(np.float64)
    weights = (counts[data.item_index] / counts.mean()) ** -tail_weight
    return weights / weights.mean()


def run_epochs(model, run_epoch, validate, metric_name, sign):
    """Run ``model.n_epochs`` epochs; fill ``history_`` and ``epoch_seconds_``; stop early on the
    validation metric.

    ``run_epoch()`` trains one epoch and returns its mean loss; ``model.epoch_seconds_`` gets the
    wall seconds of each call (training only: not the validation, not the set-up before the
    first epoch). ``validate()`` (or None) returns the validation metric, better when
    ``sign * value`` is smaller (sign = +1 for an error such as RMSE, -1 for a hit rate). With ``model.early_stopping = patience`` training stops after ``patience``
    epochs without improvement and the best epoch's parameters (``model._learned()``, a list of
    arrays) are restored. ``model.verbose`` shows the progress (see ``EpochDisplay``).
    """
    model.history_ = {"loss": []}
    model.epoch_seconds_ = []
    if validate is not None:
        model.history_[metric_name] = []
    best_value, best_epoch, best_params = np.inf, 0, None
    with EpochDisplay(model) as display:
        for epoch in range(model.n_epochs):
            start = time.perf_counter()
            loss = run_epoch()
            model.epoch_seconds_.append(time.perf_counter() - start)
            model.history_["loss"].append(check_finite_loss(model, epoch, loss))
            if validate is not None:
                value = validate()
                model.history_[metric_name].append(value)
                if sign * value < best_value and model.early_stopping is not None:
                    best_value, best_epoch = sign * value, epoch
                    best_params = [array.copy() for array in model._learned()]
            display.show(epoch, {name: curve[-1] for name, curve in model.history_.items()})
            if model.early_stopping is not None and epoch - best_epoch >= model.early_stopping:
                break
    if best_params is None:
        model.best_epoch_ = len(model.history_["loss"]) - 1
    else:
        model.best_epoch_ = best_epoch
        for array, best in zip(model._learned(), best_params):
            array[...] = best


def check_finite_loss(model, epoch, loss):
    """``loss`` as a float; FloatingPointError naming the model and the epoch if it is NaN or
    infinite (training diverged: every later epoch would only spread the NaN)."""
    loss = float(loss)
    if not np.isfinite(loss):
        raise FloatingPointError(
            f"{type(model).__name__} diverged: the training loss is {loss} after epoch {epoch + 1}; "
            "lower the learning rate (lr) or raise the regularization"
        )
    return loss


class EpochDisplay:
    """What ``model.verbose`` shows after each epoch of run_epochs; nothing when it is false.

    On a terminal with tqdm installed (``pip install "nanorec[progress]"``): a progress bar over
    the epochs on stderr, the latest loss and validation metric as its postfix. Otherwise (no
    tqdm, or output to a file or a pipe): one printed line per epoch,
    ``epoch 3/20  loss 0.41230  valid_hr@10 0.21000``. Use it as a context manager, so that the
    bar is closed even when training fails.
    """

    def __init__(self, model):
        self.verbose = bool(model.verbose)
        self.n_epochs = model.n_epochs
        self.bar = _progress_bar(model) if self.verbose else None

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


def _progress_bar(model):
    """A tqdm bar over model.n_epochs when tqdm is installed and stderr is a terminal, else None."""
    if not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is optional: fall back to one line per epoch
        return None
    return tqdm(total=model.n_epochs, desc=type(model).__name__, unit="epoch", file=sys.stderr)
