"""Optimizers: they read a model's gradients and update its parameters in place.

    opt = Adam(model, lr=1e-3)
    loss_value = loss.forward(model.forward(x), y)
    model.backward(loss.backward())
    opt.step()          # param <- rule(param, grad, state) for every parameter
    opt.zero_grad()     # model.zero_grad()

The update rules themselves live in ``nanorec.optim.kernels`` (a Numba kernel beside a NumPy twin
for each rule); an optimizer only holds the hyperparameters and the state arrays and picks the dense
or the row-sparse form of its rule for each gradient:

    grad is an ndarray          the dense form, on the whole array
    grad is a RowSparseGrad     lazy=True (the default): coalesce (sum repeated rows), then the
                                sparse form on those rows only ("lazy" updates, see the kernels
                                module); lazy=False: the dense form on ``grad.to_dense()`` (the
                                coalesced rows, zeros elsewhere), so that every row's state moves
                                (torch.optim.Adam on nn.Embedding)
"""

from collections import namedtuple

import numpy as np

from nanorec.nn.base import RowSparseGrad
from nanorec.optim import kernels

_Slot = namedtuple("_Slot", "name param grad state")


class Optimizer:
    """Base class: validates the model, keeps one state per parameter, dispatches to the kernels.

    Subclasses set ``dense_rule`` and ``sparse_rule`` to ``(NumPy twin, Numba kernel)`` pairs,
    ``state_names`` to the names of their state arrays (in kernel argument order), and implement
    ``_hyperparameters()`` (the scalar kernel arguments, in order).

    Parameters
    ----------
    model : object with ``params`` and ``grads`` dicts
        Typically a Layer (e.g. Sequential). The arrays are read once, here: the dicts hold the live
        arrays that forward/backward use, and they are updated in place.
    lr : float
        Learning rate, > 0.
    weight_decay : float
        L2 penalty coefficient, >= 0 (added to the gradient: g = grad + weight_decay * param).
    use_numba : bool
        True: the Numba kernels; False: their NumPy twins (for tests and benchmarks).
    lazy : bool
        How a row-sparse gradient is applied: True, the sparse form on its rows only; False, the
        dense form on the whole table (unused rows get a zero gradient; O(R D) per step).

    Attributes
    ----------
    state : dict
        Parameter name -> {state name -> array}; each array has the parameter's shape and dtype.
    step_count : int
        Number of ``step()`` calls so far (Adam's t).
    """

    dense_rule = None
    sparse_rule = None
    state_names = ()

    def __init__(self, model, lr, weight_decay, use_numba, lazy=True):
        self.lr = _check_hyperparameter("lr", lr, low=0.0, low_open=True)
        self.weight_decay = _check_hyperparameter("weight_decay", weight_decay, low=0.0)
        self.use_numba = bool(use_numba)
        if not isinstance(lazy, bool):
            raise TypeError(f"lazy must be True or False, got {lazy!r}")
        self.lazy = lazy
        self.model = model
        self.step_count = 0
        params, grads = _params_and_grads(model, type(self).__name__)
        self.state = {name: self._new_state(param) for name, param in params.items()}
        self._slots = [
            _Slot(name, params[name], grads[name], tuple(self.state[name].values()))
            for name in params
        ]

    def _new_state(self, param):
        """Zero-filled state arrays for one parameter, in the parameter's dtype."""
        return {state_name: np.zeros_like(param) for state_name in self.state_names}

    def _hyperparameters(self):
        raise NotImplementedError

    def step(self):
        """Apply one update to every parameter, in place, from the gradients now in ``grads``."""
        self.step_count += 1
        pick = 1 if self.use_numba else 0
        dense_update, sparse_update = self.dense_rule[pick], self.sparse_rule[pick]
        hyperparameters = self._hyperparameters()
        for slot in self._slots:
            if not isinstance(slot.grad, RowSparseGrad):
                dense_update(slot.param, slot.grad, *slot.state, *hyperparameters)
                continue
            rows, values = slot.grad.coalesce()
            _check_rows(rows, slot)
            if self.lazy:
                sparse_update(slot.param, rows, values, *slot.state, *hyperparameters)
            else:
                dense_grad = np.zeros_like(slot.param)  # grad.to_dense(), from the unique rows
                dense_grad[rows] = values
                dense_update(slot.param, dense_grad, *slot.state, *hyperparameters)

    def zero_grad(self):
        """Reset the model's gradients (``model.zero_grad()``)."""
        self.model.zero_grad()

    def __repr__(self):
        return f"{type(self).__name__}(lr={self.lr:g}, n_params={len(self._slots)})"


class SGD(Optimizer):
    """Stochastic gradient descent with (heavy-ball) momentum and L2 weight decay.

    Update, for each parameter p with gradient grad:
        g = grad + weight_decay * p
        momentum == 0:  p -= lr * g
        momentum  > 0:  velocity = momentum * velocity + g;   p -= lr * velocity

    Row-sparse gradients update only their rows, and only those rows' velocity (lazy momentum),
    unless lazy=False. With momentum == 0 no velocity is stored (its state array is empty).

    Parameters
    ----------
    model : object with ``params`` and ``grads`` dicts
    lr : float, > 0
    momentum : float, in [0, 1)
    weight_decay : float, >= 0
    use_numba, lazy : bool
        See Optimizer.
    """

    dense_rule = (kernels.sgd_dense_ref, kernels.sgd_dense_nb)
    sparse_rule = (kernels.sgd_sparse_ref, kernels.sgd_sparse_nb)
    state_names = ("velocity",)

    def __init__(self, model, lr=0.01, momentum=0.0, weight_decay=0.0, use_numba=True, lazy=True):
        self.momentum = _check_hyperparameter("momentum", momentum, low=0.0, high=1.0)
        super().__init__(model, lr, weight_decay, use_numba, lazy)

    def _new_state(self, param):
        if self.momentum == 0:  # plain SGD needs no velocity: keep an empty array of the same rank
            return {"velocity": np.zeros((0,) * param.ndim, param.dtype)}
        return super()._new_state(param)

    def _hyperparameters(self):
        return (self.lr, self.momentum, self.weight_decay)


class Adam(Optimizer):
    """Adam: per-entry step sizes from running moments of the gradient, with bias correction.

    Update at step t = 1, 2, ... for each parameter p with gradient grad:
        g = grad + weight_decay * p                       (L2 decay, not AdamW's decoupled decay)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g^2
        p -= lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)

    Row-sparse gradients follow PyTorch's SparseAdam: only the rows in the batch change (p, m and
    v); absent rows' moments are not decayed; t is the optimizer's global step count. lazy=False
    follows torch.optim.Adam (and Keras's Adam) on embeddings instead: every row's m and v decay
    and every row moves by lr m_hat / (sqrt(v_hat) + eps), also when its gradient is zero.
    Reference: Kingma & Ba (2015), "Adam: A Method for Stochastic Optimization".

    Parameters
    ----------
    model : object with ``params`` and ``grads`` dicts
    lr : float, > 0
    beta1, beta2 : float, in [0, 1)
    eps : float, > 0
    weight_decay : float, >= 0
    use_numba, lazy : bool
        See Optimizer.
    """

    dense_rule = (kernels.adam_dense_ref, kernels.adam_dense_nb)
    sparse_rule = (kernels.adam_sparse_ref, kernels.adam_sparse_nb)
    state_names = ("m", "v")

    def __init__(self, model, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                 use_numba=True, lazy=True):
        self.beta1 = _check_hyperparameter("beta1", beta1, low=0.0, high=1.0)
        self.beta2 = _check_hyperparameter("beta2", beta2, low=0.0, high=1.0)
        self.eps = _check_hyperparameter("eps", eps, low=0.0, low_open=True)
        super().__init__(model, lr, weight_decay, use_numba, lazy)

    def _hyperparameters(self):
        return (self.lr, self.beta1, self.beta2, self.eps, self.weight_decay, self.step_count)


class Adagrad(Optimizer):
    """Adagrad: each entry's step shrinks with the sum of its squared gradients so far.

    Update for each parameter p with gradient grad:
        g = grad + weight_decay * p
        sum_sq += g^2
        p -= lr * g / (sqrt(sum_sq) + eps)

    Row-sparse gradients update only their rows and those rows' sum_sq (unless lazy=False).
    Reference: Duchi, Hazan & Singer (2011).

    Parameters
    ----------
    model : object with ``params`` and ``grads`` dicts
    lr : float, > 0
    eps : float, > 0
    weight_decay : float, >= 0
    use_numba, lazy : bool
        See Optimizer.
    """

    dense_rule = (kernels.adagrad_dense_ref, kernels.adagrad_dense_nb)
    sparse_rule = (kernels.adagrad_sparse_ref, kernels.adagrad_sparse_nb)
    state_names = ("sum_sq",)

    def __init__(self, model, lr=0.01, eps=1e-10, weight_decay=0.0, use_numba=True, lazy=True):
        self.eps = _check_hyperparameter("eps", eps, low=0.0, low_open=True)
        super().__init__(model, lr, weight_decay, use_numba, lazy)

    def _hyperparameters(self):
        return (self.lr, self.eps, self.weight_decay)


def _check_hyperparameter(name, value, low, high=None, low_open=False):
    """``value`` as a float after checking low <= value (low < value if low_open) and value < high."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    too_low = value <= low if low_open else value < low
    if not np.isfinite(value) or too_low or (high is not None and value >= high):
        interval = f"{'(' if low_open else '['}{low:g}, {'inf)' if high is None else f'{high:g})'}"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return value


def _params_and_grads(model, optimizer_name):
    """The model's params and grads dicts, after checking they fit the kernels."""
    params, grads = getattr(model, "params", None), getattr(model, "grads", None)
    if not isinstance(params, dict) or not isinstance(grads, dict):
        raise TypeError(
            f"{optimizer_name} needs a model with `params` and `grads` dicts (a Layer), "
            f"got {type(model).__name__}"
        )
    if not params:
        raise ValueError(f"{optimizer_name}: the model has no parameters to optimize")
    if params.keys() != grads.keys():
        raise ValueError(
            f"{optimizer_name}: params and grads have different keys: "
            f"{sorted(params)} vs {sorted(grads)}"
        )
    for name, param in params.items():
        _check_param(name, param, grads[name], optimizer_name)
    return params, grads


def _check_param(name, param, grad, optimizer_name):
    where = f"{optimizer_name}: parameter {name!r}"
    if not isinstance(param, np.ndarray) or param.dtype.kind != "f":
        raise TypeError(f"{where} must be a float ndarray, got {type(param).__name__}")
    if not param.flags.c_contiguous:  # the kernels walk a raveled view; a copy would be updated
        raise ValueError(f"{where} must be C-contiguous (np.ascontiguousarray it once)")
    if isinstance(grad, RowSparseGrad):
        if param.ndim != 2 or grad.shape != param.shape:
            raise ValueError(
                f"{where}: a row-sparse gradient needs a 2-d parameter of the same shape, "
                f"got parameter {param.shape} and gradient {grad.shape}"
            )
    elif not isinstance(grad, np.ndarray) or grad.shape != param.shape:
        raise ValueError(
            f"{where}: gradient must be an ndarray of shape {param.shape} or a RowSparseGrad, "
            f"got {getattr(grad, 'shape', type(grad).__name__)}"
        )


def _check_rows(rows, slot):
    """Row ids in range (rows are sorted by coalesce): the kernels do not bounds-check."""
    n_rows = slot.param.shape[0]
    if rows.size and (rows[0] < 0 or rows[-1] >= n_rows):
        bad = rows[0] if rows[0] < 0 else rows[-1]
        raise IndexError(f"gradient of {slot.name!r} has row {bad}, outside [0, {n_rows})")
