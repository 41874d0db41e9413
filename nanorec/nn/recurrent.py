"""The simple recurrent layer: a tanh neuron that feeds its own output back at the next step."""

import numpy as np

from nanorec import _checks
from nanorec.nn import kernels
from nanorec.nn.base import (
    Layer,
    check_array,
    check_features,
    check_upstream,
)
from nanorec.nn.init import as_generator, float_dtype, initialize


class RNN(Layer):
    """Elman recurrent layer, unrolled over T steps.

    Forward, for t = 1 .. T (h_0 = 0, or the initial state given with the input):
        a_t = x_t W_x + h_{t-1} W_h + b
        h_t = tanh(a_t)
    Output: all states (h_1 .. h_T) if return_sequences, else the last state h_T.

    Shapes: x (N, T, D) -> y (N, T, H) or (N, H); h_0 (N, H);
            W_x (D, H); W_h (H, H); b (H,)
    Input: x alone, or the tuple (x, h_0); in the second case backward returns (dx, dh_0).

    Backward (backprop through time), given dy = dL/dy. Let g_t = dL/dh_t coming from the output
    at step t (zero for t < T when only h_T was returned). Going from t = T down to 1, with
    dh_{T+1 -> T} = 0:
        dh_t  = g_t + dh_{t+1 -> t}           total gradient reaching h_t (output + next step)
        da_t  = dh_t * (1 - h_t^2)            through the tanh
        dW_x += x_t^T da_t     dW_h += h_{t-1}^T da_t     db += sum over n of da_t
        dx_t  = da_t W_x^T
        dh_{t -> t-1} = da_t W_h^T            what flows back into the previous state
    and dh_0 = dh_{1 -> 0}.

    How: the input terms of every step are one matrix product, A = x W_x + b (N T rows), so the
    loop over t only multiplies by W_h and takes the tanh; backward likewise gathers the da_t of
    every step and then takes dW_x = x^T dA, dW_h = H_prev^T dA and dx = dA W_x^T as one product
    each. The steps are stored time-major, (T, N, H), so each step is one contiguous block.

    Parameters
    ----------
    d_in, hidden : int
        Input features D and state size H.
    return_sequences : bool
        Return every state (N, T, H) instead of the last one (N, H).
    bias, init, rng, dtype
        As in Dense; ``init`` draws both W_x and W_h.
    """

    def __init__(
        self,
        d_in,
        hidden,
        return_sequences=False,
        bias=True,
        init="glorot_uniform",
        rng=None,
        dtype=np.float32,
    ):
        super().__init__()
        self.d_in = _checks.positive_int(d_in, "d_in", "RNN")
        self.hidden = _checks.positive_int(hidden, "hidden", "RNN")
        self.return_sequences = bool(return_sequences)
        dtype = float_dtype(dtype)
        rng = as_generator(rng)
        self._add_param("W_x", initialize(init, (self.d_in, self.hidden), rng, dtype))
        self._add_param("W_h", initialize(init, (self.hidden, self.hidden), rng, dtype))
        if bias:
            self._add_param("b", np.zeros(self.hidden, dtype))

    def forward(self, inputs):
        x, h0 = self._check_inputs(inputs)
        n, t_steps, _ = x.shape
        W_x, W_h = self.params["W_x"], self.params["W_h"]
        dtype = np.result_type(x, W_x, h0)
        pre = (x.reshape(n * t_steps, -1) @ W_x).reshape(n, t_steps, self.hidden)
        pre = np.ascontiguousarray(pre.transpose(1, 0, 2), dtype)  # (T, N, H): a_t = pre[t] + ...
        if "b" in self.params:
            pre += self.params["b"]
        states = np.empty_like(pre)  # states[t] = h_{t+1}, time-major
        h = h0
        for t in range(t_steps):
            a = pre[t] + h @ W_h
            if kernels.fits(a):
                kernels.tanh_forward_nb(a.reshape(-1), states[t].reshape(-1))
            else:
                np.tanh(a, out=states[t])
            h = states[t]
        self._save(x, h0, states, isinstance(inputs, tuple))
        if self.return_sequences:
            return np.ascontiguousarray(states.transpose(1, 0, 2))
        return states[-1].copy()

    def backward(self, dy):
        x, h0, states, given_h0 = self._saved()
        n, t_steps, _ = x.shape
        out_shape = (n, t_steps, self.hidden) if self.return_sequences else (n, self.hidden)
        dy = check_upstream(dy, out_shape, "RNN")
        W_x, W_h = self.params["W_x"], self.params["W_h"]
        d_pre = np.empty_like(states)  # d_pre[t] = da_{t+1}, time-major
        dh_from_next = np.zeros((n, self.hidden), dtype=states.dtype)
        for t in reversed(range(t_steps)):
            dh = dh_from_next  # what flows back from step t + 1, plus the output's own gradient
            if self.return_sequences:
                dh = dh + dy[:, t]
            elif t == t_steps - 1:
                dh = dh + dy
            dh = np.ascontiguousarray(dh, dtype=states.dtype)
            if kernels.fits(dh, states):
                kernels.tanh_backward_nb(states[t].reshape(-1), dh.reshape(-1), d_pre[t].reshape(-1))
            else:
                d_pre[t] = dh * (1 - states[t] * states[t])
            dh_from_next = d_pre[t] @ W_h.T
        dA = d_pre.transpose(1, 0, 2).reshape(n * t_steps, self.hidden)  # (N T, H), batch-major
        h_prev = np.concatenate([h0[None], states[:-1]])  # h_{t-1} of each step, time-major as d_pre
        self.grads["W_x"] += x.reshape(n * t_steps, -1).T @ dA
        self.grads["W_h"] += h_prev.reshape(-1, self.hidden).T @ d_pre.reshape(-1, self.hidden)
        if "b" in self.grads:
            self.grads["b"] += d_pre.sum(axis=(0, 1))
        dx = (dA @ W_x.T).reshape(n, t_steps, -1)
        return (dx, dh_from_next) if given_h0 else dx

    def _check_inputs(self, inputs):
        """x (N, T, D) float and h_0 (N, H): given as (x, h_0), or zeros when only x is given."""
        if isinstance(inputs, tuple):
            if len(inputs) != 2:
                raise TypeError(f"RNN: expected x or a tuple (x, h0), got a tuple of {len(inputs)}")
            x, h0 = inputs
        else:
            x, h0 = inputs, None
        x = check_array(x, 3, "RNN")
        check_features(x, self.d_in, "RNN")
        if x.shape[1] == 0:
            raise ValueError(f"RNN: needs at least one time step, got shape {x.shape}")
        if h0 is None:
            return x, np.zeros((x.shape[0], self.hidden), dtype=x.dtype)
        h0 = check_array(h0, 2, "RNN", "h0")
        if h0.shape != (x.shape[0], self.hidden):
            raise ValueError(f"RNN: expected h0 of shape {(x.shape[0], self.hidden)}, got {h0.shape}")
        return x, h0
