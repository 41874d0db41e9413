"""Exercise (after lesson 05): backpropagation through time in a simple recurrent layer.

A tanh neuron that feeds its state back in at the next step. For N sequences of T steps with D
features each, and a state of H units, starting from h_0 = 0:

    a_t = x_t W_x + h_{t-1} W_h + b          x_t (N, D), h_t (N, H), a_t (N, H)
    h_t = tanh(a_t)                          for t = 1 .. T
    W_x (D, H),  W_h (H, H),  b (H,)

The layer returns every state: y (N, T, H) with y[:, t - 1] = h_t (Python counts from 0). The
forward saves x and the states, with h_0 in front: states (N, T + 1, H), states[:, t] = h_t.

Given dy = dL/dy (N, T, H), write ``backward``: add dL/dW_x, dL/dW_h, dL/db into self.grads and
return dL/dx (N, T, D). Go backwards in time, t = T down to 1, carrying the gradient that flows
from step t + 1 into h_t:

    dL/dh_t = (dL/dy at step t) + (what came back from step t + 1; nothing for t = T)
    then through the tanh to dL/da_t, and from a_t to W_x, W_h, b (shared by every step, so
    their gradients sum over the steps), to x_t, and to h_{t-1}: what you carry to step t - 1.

Mind which state each step multiplies W_h with (h_{t-1}, not h_t): the checker uses T = 4 steps,
N = 3, D = 2, H = 3, and an off-by-one step shows.

Check your work from the repository root (exit status 0 when every gradient is right):

    nanorec exercise check rnn
"""

import numpy as np

from nanorec.nn.base import Layer


class RNN(Layer):
    """Elman recurrent layer returning every state.   Shapes: x (N, T, D) -> y (N, T, H);
    W_x (D, H), W_h (H, H), b (H,).

    Parameters
    ----------
    d_in, hidden : int
        D and H.
    rng : np.random.Generator, int or None
        Source of the initial W_x and W_h (b starts at 0).
    """

    def __init__(self, d_in, hidden, rng=None):
        super().__init__()
        rng = np.random.default_rng(rng)
        self._add_param("W_x", rng.normal(0, 1 / np.sqrt(d_in), (d_in, hidden)))
        self._add_param("W_h", rng.normal(0, 1 / np.sqrt(hidden), (hidden, hidden)))
        self._add_param("b", np.zeros(hidden))

    def forward(self, x):
        n, t_steps, _ = x.shape
        states = np.zeros((n, t_steps + 1, self.params["b"].shape[0]))  # states[:, 0] = h_0 = 0
        for t in range(1, t_steps + 1):
            a = (x[:, t - 1] @ self.params["W_x"] + states[:, t - 1] @ self.params["W_h"]
                 + self.params["b"])
            states[:, t] = np.tanh(a)
        self._save(x, states)
        return states[:, 1:].copy()

    def backward(self, dy):
        """Add dL/dW_x, dL/dW_h and dL/db into self.grads; return dL/dx (N, T, D)."""
        x, states = self._saved()
        raise NotImplementedError("TODO: write RNN.backward")
