"""Exercise (after lesson 03): backpropagation through a whole two-layer network and its loss.

The network of lesson 03, for N inputs with D features, H hidden units and 0/1 labels y:

    a1 = x W1 + b1          (N, H)      x (N, D), W1 (D, H), b1 (H,)
    h  = tanh(a1)           (N, H)
    a2 = h W2 + b2          (N, 1)      W2 (H, 1), b2 (1,)
    p  = sigmoid(a2)        (N, 1)
    L  = -1/N sum_n ( y_n log p_n + (1 - y_n) log(1 - p_n) )          a number

``forward((x, labels))`` returns L and saves every intermediate. Write ``backward(dL)``: run the
chain rule from the loss back to the input, one step per line of the forward, in reverse:

    dL/da2 (N, 1): the BCE and the sigmoid together give a famously short answer
    dL/dW2, dL/db2, then dL/dh (N, H)
    dL/da1 (N, H) through the tanh (its derivative written with h)
    dL/dW1, dL/db1, then dL/dx (N, D)

add each parameter's gradient into self.grads (+=) and return (dL/dx, None): the labels are
data and get no gradient. ``dL`` is the gradient of whatever uses the loss (1.0 when L is what
you minimise); multiply it in at the start. The checker passes a random number for it, so a
forgotten factor shows. It uses N = 6, D = 3, H = 4.

Check your work from the repository root (exit status 0 when every gradient is right):

    nanorec exercise check two_layer_network
"""
# BEGIN SOLUTION
# Reference solution (instructors' copy). tutorials/exercises/two_layer_network.py is this file
# with every SOLUTION block replaced by a TODO (nanorec.testing.exercises.student_copy).
# END SOLUTION

import numpy as np

from nanorec.nn.base import Layer


class TwoLayerNetwork(Layer):
    """Dense(D, H) -> Tanh -> Dense(H, 1) -> Sigmoid -> BCE, as one layer whose output is L.

    Shapes: (x (N, D), labels (N,) int 0/1) -> L, a number; W1 (D, H), b1 (H,), W2 (H, 1), b2 (1,).

    Parameters
    ----------
    d_in, hidden : int
        D and H.
    rng : np.random.Generator, int or None
        Source of the initial weights (biases start at 0).
    """

    def __init__(self, d_in, hidden, rng=None):
        super().__init__()
        rng = np.random.default_rng(rng)
        self._add_param("W1", rng.normal(0, 1, (d_in, hidden)))
        self._add_param("b1", np.zeros(hidden))
        self._add_param("W2", rng.normal(0, 1, (hidden, 1)))
        self._add_param("b2", np.zeros(1))

    def forward(self, inputs):
        x, labels = inputs
        y = labels[:, None]  # (N, 1), like p
        h = np.tanh(x @ self.params["W1"] + self.params["b1"])
        p = 1 / (1 + np.exp(-(h @ self.params["W2"] + self.params["b2"])))
        self._save(x, h, p, y)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

    def backward(self, dL=1.0):
        """Add the gradient of every parameter into self.grads; return (dL/dx, None)."""
        x, h, p, y = self._saved()
        # BEGIN SOLUTION: TwoLayerNetwork.backward
        da2 = dL * (p - y) / len(p)  # BCE's (p - y) / (p (1 - p)) times the sigmoid's p (1 - p)
        self.grads["W2"] += h.T @ da2
        self.grads["b2"] += da2.sum(axis=0)
        dh = da2 @ self.params["W2"].T
        da1 = dh * (1 - h**2)
        self.grads["W1"] += x.T @ da1
        self.grads["b1"] += da1.sum(axis=0)
        return da1 @ self.params["W1"].T, None
        # END SOLUTION
