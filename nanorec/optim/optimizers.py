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

Parameter groups give some parameters other hyperparameters, e.g. no weight decay on the biases:

    Adam(net, lr=1e-3, weight_decay=0.1, groups=[{"params": ["0.b", "2.b"], "weight_decay": 0}])

Each group names parameters (keys of ``model.params``) and the hyperparameters that differ for
them; the others keep the optimizer's own.
"""

from collections import namedtuple

import numpy as np

from nanorec import _checks
from nanorec.nn.base import RowSparseGrad
from nanorec.optim import kernels

_Slot = namedtuple("_Slot", "name param grad state options")


class Optimizer:
    """Base class: validates the model, keeps one state per parameter, dispatches to the kernels.

    Subclasses set ``dense_rule`` and ``sparse_rule`` to ``(NumPy twin, Numba kernel)`` pairs,
    ``state_names`` to the names of their state arrays and ``hyperparameter_names`` to the names
    of their scalar arguments (both in kernel argument order), and check each hyperparameter in
    ``_check_option``.

    Parameters
    ----------
    model : object with ``params`` and ``grads`` dicts
        Typically a Layer (e.g. Sequential). The arrays are read once, here: the dicts hold the live
        arrays that forward/backward use, and they are updated in place.
    hyperparameters : dict
        The subclass's hyperparameters by name (lr, weight_decay, ...), the defaults of every
        parameter; checked here.
    groups : list of dict, optional
        ``{"params": [names], name: value, ...}``: other hyperparameters for those parameters.
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
    hyperparameter_names = ()

    def __init__(self, model, hyperparameters, groups=None, use_numba=True, lazy=True):
        name = type(self).__name__
        self.defaults = {key: self._check_option(key, value) for key, value in hyperparameters.items()}
        self.use_numba = _checks.boolean(use_numba, "use_numba", name)
        self.lazy = _checks.boolean(lazy, "lazy", name)
        self.model = model
        self.step_count = 0
        params, grads = _params_and_grads(model, name)
        options = self._group_options(groups, params)
        self.state = {key: self._new_state(param, options[key]) for key, param in params.items()}
        self._slots = [
            _Slot(key, params[key], grads[key], tuple(self.state[key].values()), options[key])
            for key in params
        ]

    def __getattr__(self, name):  # opt.lr, opt.beta1, ...: the defaults
        defaults = self.__dict__.get("defaults", {})
        if name in defaults:
            return defaults[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def _check_option(self, key, value):
        raise NotImplementedError

    def _group_options(self, groups, params):
        """Each parameter's hyperparameters: the defaults, overridden by its group's."""
        options = {key: dict(self.defaults) for key in params}
        grouped = set()
        for group in groups or ():
            if not isinstance(group, dict) or "params" not in group:
                raise ValueError(f"{type(self).__name__}: a group is a dict with a 'params' list, "
                                 f"got {group!r}")
            overrides = {key: value for key, value in group.items() if key != "params"}
            for key in overrides:
                if key not in self.defaults:
                    raise ValueError(f"{type(self).__name__}: unknown hyperparameter {key!r} in a "
                                     f"group; known: {sorted(self.defaults)}")
            overrides = {key: self._check_option(key, value) for key, value in overrides.items()}
            for name in group["params"]:
                if name not in params:
                    raise ValueError(f"{type(self).__name__}: group names an unknown parameter "
                                     f"{name!r}; the model has {sorted(params)}")
                if name in grouped:
                    raise ValueError(f"{type(self).__name__}: parameter {name!r} is in two groups")
                grouped.add(name)
                options[name].update(overrides)
        return options

    def _new_state(self, param, options):
        """Zero-filled state arrays for one parameter, in the parameter's dtype."""
        return {state_name: np.zeros_like(param) for state_name in self.state_names}

    def _kernel_scalars(self, options):
        """The scalar kernel arguments of one parameter, in kernel order."""
        return tuple(options[name] for name in self.hyperparameter_names)

    def step(self):
        """Apply one update to every parameter, in place, from the gradients now in ``grads``."""
        self.step_count += 1
        pick = 1 if self.use_numba else 0
        dense_update, sparse_update = self.dense_rule[pick], self.sparse_rule[pick]
        for slot in self._slots:
            scalars = self._kernel_scalars(slot.options)
            if not isinstance(slot.grad, RowSparseGrad):
                dense_update(slot.param, slot.grad, *slot.state, *scalars)
                continue
            try:
                rows, values = slot.grad.coalesce()  # the kernels do not bounds-check: coalesce does
            except IndexError as error:
                raise IndexError(f"gradient of {slot.name!r}: {error}") from None
            if self.lazy:
                sparse_update(slot.param, rows, values, *slot.state, *scalars)
            else:
                dense_grad = np.zeros_like(slot.param)  # grad.to_dense(), from the unique rows
                dense_grad[rows] = values
                dense_update(slot.param, dense_grad, *slot.state, *scalars)

    def zero_grad(self):
        """Reset the model's gradients (``model.zero_grad()``)."""
        self.model.zero_grad()

    def __repr__(self):
        options = ", ".join(f"{key}={value:g}" for key, value in self.defaults.items())
        return f"{type(self).__name__}({options}, n_params={len(self._slots)})"


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
    groups, use_numba, lazy
        See Optimizer.
    """

    dense_rule = (kernels.sgd_dense_ref, kernels.sgd_dense_nb)
    sparse_rule = (kernels.sgd_sparse_ref, kernels.sgd_sparse_nb)
    state_names = ("velocity",)
    hyperparameter_names = ("lr", "momentum", "weight_decay")

    def __init__(self, model, lr=0.01, momentum=0.0, weight_decay=0.0, groups=None,
                 use_numba=True, lazy=True):
        super().__init__(model, dict(lr=lr, momentum=momentum, weight_decay=weight_decay), groups,
                         use_numba, lazy)

    def _check_option(self, key, value):
        if key == "momentum":
            return _checks.fraction(value, key, "SGD")
        return _check_lr_or_decay(key, value, "SGD")

    def _new_state(self, param, options):
        if options["momentum"] == 0:  # plain SGD needs no velocity: an empty array of the same rank
            return {"velocity": np.zeros((0,) * param.ndim, param.dtype)}
        return super()._new_state(param, options)


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
    groups, use_numba, lazy
        See Optimizer.
    """

    dense_rule = (kernels.adam_dense_ref, kernels.adam_dense_nb)
    sparse_rule = (kernels.adam_sparse_ref, kernels.adam_sparse_nb)
    state_names = ("m", "v")
    hyperparameter_names = ("lr", "beta1", "beta2", "eps", "weight_decay")

    def __init__(self, model, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                 groups=None, use_numba=True, lazy=True):
        hyperparameters = dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay)
        super().__init__(model, hyperparameters, groups, use_numba, lazy)

    def _check_option(self, key, value):
        if key in ("beta1", "beta2"):
            return _checks.fraction(value, key, "Adam")
        if key == "eps":
            return _checks.positive(value, key, "Adam")
        return _check_lr_or_decay(key, value, "Adam")

    def _kernel_scalars(self, options):
        return super()._kernel_scalars(options) + (self.step_count,)


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
    groups, use_numba, lazy
        See Optimizer.
    """

    dense_rule = (kernels.adagrad_dense_ref, kernels.adagrad_dense_nb)
    sparse_rule = (kernels.adagrad_sparse_ref, kernels.adagrad_sparse_nb)
    state_names = ("sum_sq",)
    hyperparameter_names = ("lr", "eps", "weight_decay")

    def __init__(self, model, lr=0.01, eps=1e-10, weight_decay=0.0, groups=None, use_numba=True,
                 lazy=True):
        super().__init__(model, dict(lr=lr, eps=eps, weight_decay=weight_decay), groups,
                         use_numba, lazy)

    def _check_option(self, key, value):
        if key == "eps":
            return _checks.positive(value, key, "Adagrad")
        return _check_lr_or_decay(key, value, "Adagrad")


def _check_lr_or_decay(key, value, where):
    """lr > 0; weight_decay >= 0."""
    if key == "lr":
        return _checks.positive(value, key, where)
    return _checks.non_negative(value, key, where)


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
