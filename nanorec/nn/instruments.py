"""Gradient-flow instruments: watch a network's layers during forward and backward, unchanged.

``GradientFlow(network)`` is a context manager. On entry it wraps the ``forward`` and ``backward``
of every leaf layer of the network (a layer without children: Dense, Tanh, ReLU, RNN, ...) by
setting an instance attribute that calls the layer's own method and writes down what passed
through; on exit, even when the block raised, it deletes those attributes, so the layers are
exactly as they were. The layers' code is never touched: what a lesson measures is what the
textbook layer computes.

What is recorded, per watched layer, at each call:

    forward of a Sigmoid    saturated = fraction of the entries of y with y < s or y > 1 - s
                            (s = sigmoid_threshold, 0.01 by default: sigmoid' = y (1 - y) < 0.0099)
    forward of a Tanh       saturated = fraction of the entries of y with |y| > t
                            (t = tanh_threshold, 0.99 by default: tanh' = 1 - y^2 < 0.0199)
    forward of a ReLU       dead = fraction of the units (the last axis of y) that are 0 for every
                            example of the batch (every row of y reshaped to (-1, units)); such a
                            unit passes no gradient to its weights in this batch
    backward of any layer   grad_norm = ||dy||, the Frobenius norm of the gradient arriving at the
                            layer's output (the whole batch; tuples: over all their arrays);
                            param_grad_norms[key] = ||dL/dparam|| that this backward call added
                            to layer.grads[key] (the gradient of this pass, whatever was there)
    backward of an RNN      step_grad_norms[t] = ||dL/dx_t||, the gradient that reaches time step
                            t through the step's input (x[:, t], over the batch and the features),
                            read from the dx that backward returns; t = 0 .. T-1

Saturated units pass almost no gradient (their local derivative is near 0); dead ReLUs pass none.

A watched layer is named by its path of child keys joined by "." (the keys of the containers'
``params``: "0", "1", ... in a Sequential, the part names in a Network; "1.0" is child 0 of child
1); a network that is itself a leaf is named by its class ("RNN"). A layer that appears twice in the
tree is watched once, under its first name, and records every call.

Example
-------
    with GradientFlow(network) as flow:
        loss.forward(network.forward(x), y)
        network.backward(loss.backward())
    flow["0"].grad_norm           # (n_backward_calls,) array of ||dy|| at layer "0"
    print(flow.summary())          # one line per layer: its latest numbers
"""

import numpy as np

from nanorec.nn.activations import LeakyReLU, Sigmoid, Tanh
from nanorec.nn.base import Layer, RowSparseGrad
from nanorec.nn.layers import Network
from nanorec.nn.recurrent import RNN


class LayerTrace:
    """What one watched layer saw, one entry per call, as arrays.

    Attributes
    ----------
    name : str
        The layer's path in the network ("0", "tower.1", ...).
    kind : str
        Its class name ("Dense", "Tanh", ...).
    grad_norm : ndarray (n_backward,)
        ||dy|| arriving at the layer's output, per backward call.
    param_grad_norm : ndarray (n_backward,)
        sqrt(sum over the layer's parameters of ||dL/dparam||^2) added by each backward call
        (0 for a layer without parameters).
    param_grad_norms : dict str -> ndarray (n_backward,)
        The same per parameter key ("W", "b", ...).
    saturated : ndarray (n_forward,)
        Sigmoid and Tanh only: the fraction of saturated entries of y, per forward call.
    dead : ndarray (n_forward,)
        ReLU only: the fraction of units that are 0 for every example, per forward call.
    step_grad_norms : ndarray (n_backward, T)
        RNN only: ||dL/dx_t|| for every step t, per backward call.
    measure : str or None
        "saturated" (Sigmoid, Tanh), "dead" (ReLU) or None: which forward fraction is recorded.
    """

    def __init__(self, name, layer):
        self.name = name
        self.kind = type(layer).__name__
        self.measure = _forward_measure(layer)
        self._is_rnn = isinstance(layer, RNN)
        self._grad_norms, self._forward_values, self._steps = [], [], []
        self._param_norms = {key: [] for key in layer.grads}

    @property
    def grad_norm(self):
        return np.asarray(self._grad_norms, dtype=np.float64)

    @property
    def param_grad_norms(self):
        return {key: np.asarray(norms, dtype=np.float64) for key, norms in self._param_norms.items()}

    @property
    def param_grad_norm(self):
        squares = sum((norms**2 for norms in self.param_grad_norms.values()),
                      np.zeros(len(self._grad_norms)))
        return np.sqrt(squares)

    @property
    def saturated(self):
        return self._forward_series("saturated")

    @property
    def dead(self):
        return self._forward_series("dead")

    @property
    def step_grad_norms(self):
        if not self._is_rnn:
            raise ValueError(f"layer {self.name!r} ({self.kind}) is not an RNN: it has no "
                             "per-step gradient norms")
        if not self._steps:
            return np.empty((0, 0))
        return np.stack(self._steps)

    def _forward_series(self, measure):
        if self.measure != measure:
            needs = {"saturated": "a Sigmoid or a Tanh", "dead": "a ReLU"}[measure]
            raise ValueError(f"layer {self.name!r} ({self.kind}) is not {needs}: it has no "
                             f"{measure} fraction")
        return np.asarray(self._forward_values, dtype=np.float64)

    def __repr__(self):
        return f"LayerTrace({self.name!r}, {self.kind}, {len(self._grad_norms)} backward calls)"


class GradientFlow:
    """Context manager recording the gradient flow through every leaf layer of a network.

    Parameters
    ----------
    network : Layer
        A layer or a container of layers (Sequential, Parallel, Branch, a Network).
    tanh_threshold : float in (0, 1)
        A Tanh output entry is saturated when |y| > tanh_threshold (default 0.99).
    sigmoid_threshold : float in (0, 0.5)
        A Sigmoid output entry is saturated when y < sigmoid_threshold or y > 1 - sigmoid_threshold
        (default 0.01).

    After (or during) the ``with`` block, ``flow[name]`` is the LayerTrace of a layer and
    ``flow.names`` lists the watched layers in the order of the tree. One GradientFlow records one
    ``with`` block; a layer cannot be inside two GradientFlows at once.
    """

    def __init__(self, network, tanh_threshold=0.99, sigmoid_threshold=0.01):
        if not isinstance(network, Layer):
            raise TypeError(f"GradientFlow: expected a nanorec.nn Layer (or a container of layers), "
                            f"got {type(network).__name__}")
        if not 0 < tanh_threshold < 1:
            raise ValueError(f"GradientFlow: tanh_threshold must lie in (0, 1), got {tanh_threshold!r}")
        if not 0 < sigmoid_threshold < 0.5:
            raise ValueError("GradientFlow: sigmoid_threshold must lie in (0, 0.5), got "
                             f"{sigmoid_threshold!r}")
        self.network = network
        self.tanh_threshold = float(tanh_threshold)
        self.sigmoid_threshold = float(sigmoid_threshold)
        self._leaves = _named_leaves(network)
        self._traces = {name: LayerTrace(name, layer) for name, layer in self._leaves}
        self._state = "new"

    @property
    def names(self):
        """The watched layers' names, in the order of the tree."""
        return tuple(self._traces)

    def __getitem__(self, name):
        if name not in self._traces:
            raise KeyError(f"GradientFlow: no watched layer named {name!r}; the layers are "
                           f"{list(self._traces)}")
        return self._traces[name]

    def __enter__(self):
        if self._state != "new":
            raise RuntimeError("GradientFlow: this recorder was already used; make a new one for "
                               "each with block")
        taken = [name for name, layer in self._leaves
                 if "forward" in vars(layer) or "backward" in vars(layer)]
        if taken:
            raise RuntimeError(f"GradientFlow: layer {taken[0]!r} is already wrapped (is it inside "
                               "another GradientFlow?)")
        for name, layer in self._leaves:
            layer.forward = self._watched_forward(layer, self._traces[name])
            layer.backward = self._watched_backward(layer, self._traces[name])
        self._state = "recording"
        return self

    def __exit__(self, *exc_info):
        for _, layer in self._leaves:
            vars(layer).pop("forward", None)  # the class's own methods show through again
            vars(layer).pop("backward", None)
        self._state = "done"
        return False

    def summary(self):
        """A text table, one line per watched layer: its latest ||dy||, parameter-gradient norm
        and saturated or dead fraction (blank where a layer has none or was not called)."""
        width = max(len("layer"), *(len(name) for name in self._traces))
        kind_width = max(len(trace.kind) for trace in self._traces.values())
        lines = [f"{'layer':<{width}} {'kind':<{kind_width}} {'||dy||':>10} {'||dparams||':>11}  units"]
        for trace in self._traces.values():
            units = ""
            if trace.measure:
                fractions = trace._forward_series(trace.measure)
                units = f"{fractions[-1]:.1%} {trace.measure}" if len(fractions) else ""
            param_norm = _latest(trace.param_grad_norm) if trace.param_grad_norms else ""
            lines.append(f"{trace.name:<{width}} {trace.kind:<{kind_width}} {_latest(trace.grad_norm):>10} "
                         f"{param_norm:>11}  {units}")
        return "\n".join(lines)

    def _watched_forward(self, layer, trace):
        forward = layer.forward  # the class's method, bound (no instance attribute yet)

        def watched(x):
            y = forward(x)
            if trace.measure == "saturated":
                trace._forward_values.append(self._saturated_fraction(layer, y))
            elif trace.measure == "dead":
                trace._forward_values.append(_dead_fraction(y))
            return y

        return watched

    def _watched_backward(self, layer, trace):
        backward = layer.backward

        def watched(dy):
            before = {key: _snapshot(grad) for key, grad in layer.grads.items()}
            dx = backward(dy)
            trace._grad_norms.append(_norm(dy))
            for key, grad in layer.grads.items():
                trace._param_norms[key].append(_added_norm(grad, before[key]))
            if trace._is_rnn:
                inputs_grad = dx[0] if isinstance(dx, tuple) else dx  # (dx, dh_0) with h_0 given
                trace._steps.append(np.sqrt(np.sum(np.square(inputs_grad, dtype=np.float64),
                                                   axis=(0, 2))))
            return dx

        return watched

    def _saturated_fraction(self, layer, y):
        if isinstance(layer, Tanh):
            saturated = np.abs(y) > self.tanh_threshold
        else:
            saturated = (y < self.sigmoid_threshold) | (y > 1 - self.sigmoid_threshold)
        return float(np.mean(saturated)) if saturated.size else 0.0


def _forward_measure(layer):
    """"saturated" for Sigmoid and Tanh, "dead" for ReLU (a LeakyReLU with alpha 0), else None."""
    if isinstance(layer, (Sigmoid, Tanh)):
        return "saturated"
    if isinstance(layer, LeakyReLU) and layer.alpha == 0:
        return "dead"
    return None


def _named_leaves(network):
    """[(name, layer)] for every leaf of the tree, depth first, each layer object once."""
    if not network.children:
        return [(type(network).__name__, network)]
    found, seen = [], set()

    def visit(layer, path):
        if not layer.children:
            if id(layer) not in seen:
                seen.add(id(layer))
                found.append((path, layer))
            return
        keys = list(layer.parts) if isinstance(layer, Network) else range(len(layer.children))
        for key, child in zip(keys, layer.children):
            visit(child, f"{path}.{key}" if path else str(key))

    visit(network, "")
    return found


def _latest(values):
    """The last value of a series, formatted, or "" for an empty one."""
    return f"{values[-1]:.3e}" if len(values) else ""


def _dead_fraction(y):
    """Fraction of the units (last axis) that are 0 for every example (all other axes)."""
    units = np.asarray(y).reshape(-1, np.shape(y)[-1] if np.ndim(y) > 1 else 1)
    if units.size == 0:
        return 0.0
    return float(np.mean(np.all(units == 0, axis=0)))


def _norm(arrays):
    """Frobenius norm of an array, or of all the arrays of a tuple (None entries skipped)."""
    if arrays is None:
        return 0.0
    parts = arrays if isinstance(arrays, tuple) else (arrays,)
    return float(np.sqrt(sum(np.sum(np.square(part, dtype=np.float64))
                             for part in parts if part is not None)))


def _snapshot(grad):
    """What a gradient holds before a backward call: a copy, or a row-sparse gradient's length."""
    return len(grad.rows) if isinstance(grad, RowSparseGrad) else grad.copy()


def _added_norm(grad, before):
    """||what backward added to grad|| since its snapshot ``before``."""
    if isinstance(grad, RowSparseGrad):
        added = RowSparseGrad(grad.shape, grad.dtype)
        added.add(grad.rows[before:], grad.values[before:])
        return _norm(added.coalesce()[1])  # repeated rows summed first, as the dense gradient has
    return _norm(grad - before)
