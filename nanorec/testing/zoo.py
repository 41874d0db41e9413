"""The bug zoo: classic backprop mistakes, each planted in a real nanorec layer or loss.

Every entry is a MUTANT: a subclass of a real layer or loss (Dense, Embedding, Dropout, Sigmoid,
Tanh, ReLU, RNN, MSELoss, BCEWithLogitsLoss, SoftmaxCrossEntropyLoss, and a small L2-penalised
factor loss built on MSELoss) whose backward carries one mistake, the wrong line shown in its docstring next to the
right one. With it come the hypothesis strategy that draws the cases to check it on, and the bug
class of nanorec.testing.diagnose the checker should name::

    from nanorec.testing.zoo import ZOO

    entry = ZOO[0]                            # dense_transposed_dW: dW = dy.T @ x
    case = entry.cases.example()              # a real Dense(D, D) and an x (N, D) for it
    print(entry.check(case))                  # the mutant: FAIL on most cases, "suspect: transposed"
    print(entry.check(case, mutated=False))   # the real Dense on the same case: PASS

benchmarks/bench_gradcheck.py counts, for each entry, how many drawn cases gradcheck needs to
catch the mutant and whether diagnose names its bug class.

A case holds the REAL layer (float64) and its inputs; ``entry.mutate(layer)`` gives the mutant
twin (the same weights and random stream, the wrong backward), so that the real layer and the
mutant are checked on exactly the same draws.
"""

import copy
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from hypothesis import strategies as st

from nanorec.nn.activations import ReLU, Sigmoid, Tanh, sigmoid
from nanorec.nn.layers import Dense, Dropout, Embedding
from nanorec.nn.losses import BCEWithLogitsLoss, Loss, MSELoss, SoftmaxCrossEntropyLoss
from nanorec.nn.recurrent import RNN
from nanorec.testing.diagnose import BUG_CLASSES
from nanorec.testing.gradcheck import gradcheck
from nanorec.testing.strategies import (
    dims,
    float_arrays,
    id_arrays,
    layers,
    seeds,
    shapes,
)

F64 = np.float64


class RegularizedFactorLoss(Loss):
    """Squared error of a factor model plus an L2 penalty on its factors (weight decay).

    Loss       L = (1/N) sum_n (p_n . q_n - r_n)^2 + reg (1/N) sum_n (|p_n|^2 + |q_n|^2)
    Gradient   dL/dp_n = 2 (p_n . q_n - r_n) q_n / N + 2 reg p_n / N
               dL/dq_n = 2 (p_n . q_n - r_n) p_n / N + 2 reg q_n / N
    Shapes     p (N, K) the users' factors, q (N, K) the items', r (N,) the ratings;
               backward returns (dp, dq)

    The squared error is MSELoss of the scores p_n . q_n; the penalty is the objective's weight
    decay (Koren, Bell & Volinsky 2009), written into the loss so that gradcheck sees it.
    """

    def __init__(self, reg=0.1):
        super().__init__()
        self.reg = float(reg)
        self.error = MSELoss()

    def forward(self, p, q, r):
        p, q = self._check_pred(p, "p"), self._check_pred(q, "q")
        if p.ndim != 2 or p.shape != q.shape:
            raise ValueError(f"{self._name}: p and q must be (N, K) alike, got {p.shape} and "
                             f"{q.shape}")
        self._cache = (p, q)
        penalty = self.reg * float(np.sum(p * p) + np.sum(q * q)) / len(p)
        return self.error.forward(np.sum(p * q, axis=1), r) + penalty

    def backward(self):
        p, q = self._saved()
        d_score = self.error.backward()[:, None]  # dL/d(p_n . q_n) = 2 (p_n . q_n - r_n) / N
        decay = 2 * self.reg / len(p)
        return d_score * q + decay * p, d_score * p + decay * q


# ------------------------------------------------------------------------------------- mutants
class DenseTransposedWeight(Dense):
    """Dense with dW transposed (silent when D_in == D_out: the shapes agree).

        wrong   self.grads["W"] += dy.T @ x
        right   self.grads["W"] += x.T @ dy
    """

    def backward(self, dy):
        (x,) = self._saved()
        self.grads["W"] += dy.T @ x
        if "b" in self.grads:
            self.grads["b"] += dy.sum(axis=0)
        return dy @ self.params["W"].T


class DenseInputGradientUntransposed(Dense):
    """Dense whose input gradient multiplies by W itself (silent when D_in == D_out).

        wrong   return dy @ self.params["W"]
        right   return dy @ self.params["W"].T
    """

    def backward(self, dy):
        super().backward(dy)
        return dy @ self.params["W"]


class DenseBiasNotSummed(Dense):
    """Dense whose bias gradient keeps one row per sample.

        wrong   self.grads["b"] = self.grads["b"] + dy        (broadcasts to (N, D_out))
        right   self.grads["b"] += dy.sum(axis=0)
    """

    def backward(self, dy):
        (x,) = self._saved()
        self.grads["W"] += x.T @ dy
        self.grads["b"] = self.grads["b"] + dy
        return dy @ self.params["W"].T


class DenseOverwritesGradient(Dense):
    """Dense that assigns dW instead of adding to it: right after zero_grad, wrong when the layer
    is used twice (shared weights, or two passes before a step).

        wrong   self.grads["W"] = x.T @ dy
        right   self.grads["W"] += x.T @ dy
    """

    def backward(self, dy):
        (x,) = self._saved()
        self.grads["W"] = x.T @ dy
        if "b" in self.grads:
            self.grads["b"] += dy.sum(axis=0)
        return dy @ self.params["W"].T


class MSEWrongSign(MSELoss):
    """MSELoss with the derivative of (pred - t)^2 taken the wrong way round.

        wrong   2 * (target - pred)
        right   2 * (pred - target)
    """

    def _entry_grad(self, pred, target):
        return 2 * (target - pred)


class BCEWithLogitsWrongSign(BCEWithLogitsLoss):
    """BCEWithLogitsLoss with the gradient of the log-likelihood (to be maximised) instead of
    the loss (to be minimised).

        wrong   target - sigmoid(z)
        right   sigmoid(z) - target
    """

    def _entry_grad(self, z, target):
        return target - sigmoid(z)


class MSESumForMean(MSELoss):
    """MSELoss whose forward is a mean but whose backward is the gradient of the sum.

        wrong   dpred = 2 * (pred - target)
        right   dpred = 2 * (pred - target) / (N * D)
    """

    def backward(self):
        pred, target, _ = self._saved()
        return self._entry_grad(pred, target)


class SoftmaxMeanTwice(SoftmaxCrossEntropyLoss):
    """Softmax cross-entropy divided by N once more in backward (the forward already did).

        wrong   dz = (softmax(z) - onehot(t)) / N / N
        right   dz = (softmax(z) - onehot(t)) / N
    """

    def backward(self):
        dz = super().backward()
        return dz / len(dz)


class SoftmaxWithoutShift(SoftmaxCrossEntropyLoss):
    """Softmax cross-entropy whose backward takes exp of the raw logits ((N, C) logits, no
    weights): exp(z) is inf above z = 709.8 and 0 below -745 in float64, and inf / inf or
    0 / 0 is NaN.

        wrong   e = np.exp(z)
        right   e = np.exp(z - z.max(axis=1, keepdims=True))      (the same softmax)
    """

    def forward(self, pred, target, weight=None):
        loss = super().forward(pred, target, weight)  # the value itself, computed stably
        self._cache = (np.asarray(pred), np.asarray(target))
        return loss

    def backward(self):
        z, target = self._saved()
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            e = np.exp(z)
            dz = e / e.sum(axis=1, keepdims=True)
        dz[np.arange(len(z)), target] -= 1
        return dz / len(z)


class SigmoidDerivativeAtInput(Sigmoid):
    """Sigmoid that caches its input and writes y (1 - y) with it.

        wrong   dx = dy * x * (1 - x)
        right   dx = dy * y * (1 - y),   y = sigmoid(x)
    """

    def forward(self, x):
        y = super().forward(x)
        self._save(np.asarray(x))
        return y

    def backward(self, dy):
        (x,) = self._saved()
        return dy * x * (1 - x)


class TanhDerivativeOfOutput(Tanh):
    """Tanh that applies tanh' to its output, i.e. tanh twice.

        wrong   dx = dy * (1 - np.tanh(y) ** 2)
        right   dx = dy * (1 - y ** 2),   y = tanh(x)
    """

    def backward(self, dy):
        (y,) = self._saved()
        return dy * (1 - np.tanh(y) ** 2)


class ReLUMaskFromOutput(ReLU):
    """ReLU whose mask tests the output with >=, which every output passes.

        wrong   dx = dy * (np.maximum(x, 0) >= 0)       (all ones: slope 1 for x < 0)
        right   dx = dy * (x > 0)
    """

    def backward(self, dy):
        (x,) = self._saved()
        return dy * (np.maximum(x, 0) >= 0)


class DropoutFreshMask(Dropout):
    """Dropout that draws a new mask in backward instead of using the forward's.

        wrong   mask = (self.rng.random(shape) >= self.p) / (1 - self.p)
        right   mask = the scaled mask the forward cached
    """

    def backward(self, dy):
        shape, _ = self._saved()
        mask = (self.rng.random(shape) >= self.p) / (1 - self.p)
        return dy * mask


class EmbeddingLastIdWins(Embedding):
    """Embedding whose gradient is a fancy-index +=, which writes a repeated id once.

        wrong   dW[ids] += dy                   (the last sample of each id wins)
        right   np.add.at(dW, ids, dy)          (every sample adds its row)
    """

    def backward(self, dy):
        (ids,) = self._saved()
        dW = np.zeros_like(self.params["W"])
        dW[ids] += dy
        self.grads["W"].add(np.arange(self.n_rows), dW)
        return None


class RNNSkipsFirstStep(RNN):
    """RNN whose backprop through time stops before the first step (float64 NumPy).

        wrong   for t in reversed(range(1, T)):
        right   for t in reversed(range(T)):
    """

    def backward(self, dy):
        x, h0, states, given_h0 = self._saved()  # states[t] = h_{t+1}, time-major (T, N, H)
        W_x, W_h = self.params["W_x"], self.params["W_h"]
        upstream = np.zeros_like(states)  # g_t, the output's own gradient at each step
        if self.return_sequences:
            upstream[:] = dy.transpose(1, 0, 2)
        else:
            upstream[-1] = dy
        d_pre = np.zeros_like(states)
        dh_from_next = np.zeros_like(h0)
        for t in reversed(range(1, len(states))):
            d_pre[t] = (upstream[t] + dh_from_next) * (1 - states[t] ** 2)
            dh_from_next = d_pre[t] @ W_h.T
        h_prev = np.concatenate([h0[None], states[:-1]])
        self.grads["W_x"] += np.einsum("ntd,tnh->dh", x, d_pre)
        self.grads["W_h"] += np.einsum("tni,tnh->ih", h_prev, d_pre)
        if "b" in self.grads:
            self.grads["b"] += d_pre.sum(axis=(0, 1))
        dx = np.einsum("tnh,dh->ntd", d_pre, W_x)
        return (dx, dh_from_next) if given_h0 else dx


class FactorLossWithoutDecay(RegularizedFactorLoss):
    """RegularizedFactorLoss whose backward forgets the penalty.

        wrong   dp = d_score * q
        right   dp = d_score * q + 2 * reg * p / N      (and dq likewise)
    """

    def backward(self):
        p, q = self._saved()
        d_score = self.error.backward()[:, None]
        return d_score * q, d_score * p


# ---------------------------------------------------------------------------------- strategies
class Case(NamedTuple):
    """A real float64 layer or loss and what to call it with: gradcheck(target, *inputs)."""

    target: object
    inputs: tuple


def layer_cases(kind):
    """The cases of nanorec.testing.strategies.layers([kind]) (one layer and its input)."""
    return layers([kind]).map(lambda case: Case(case.layer, (case.x,)))


@st.composite
def square_dense(draw):
    """Dense(D, D) with a bias, and x (N, D): a transposed dW has the right shape."""
    n, d = draw(dims()), draw(dims())
    return Case(Dense(d, d, rng=draw(seeds()), dtype=F64), (draw(float_arrays((n, d))),))


@st.composite
def dense_with_bias(draw):
    """Dense(D_in, D_out) with a bias, and x (N, D_in)."""
    n, d_in, d_out = draw(dims()), draw(dims()), draw(dims())
    layer = Dense(d_in, d_out, bias=True, rng=draw(seeds()), dtype=F64)
    return Case(layer, (draw(float_arrays((n, d_in))),))


def _steps(x):
    return np.shape(x[0] if isinstance(x, tuple) else x)[1]


def sequences():
    """RNN cases of at least two time steps (with one step there is no time to backprop
    through)."""
    return layer_cases("rnn").filter(lambda case: _steps(case.inputs[0]) >= 2)


@st.composite
def regressions(draw):
    """MSELoss with pred and target of one shape, (N,) or (N, D)."""
    shape = draw(shapes(max_dims=2))
    return Case(MSELoss(), (draw(float_arrays(shape)), draw(float_arrays(shape))))


@st.composite
def binary_labels(draw):
    """BCEWithLogitsLoss with logits z and soft labels in [0, 1] of one shape, (N,) or (N, D)."""
    shape = draw(shapes(max_dims=2))
    labels = draw(float_arrays(shape, lo=0, hi=1))
    return Case(BCEWithLogitsLoss(), (draw(float_arrays(shape)), labels))


ROW_SHIFTS = (0.0, 750.0, -750.0)  # exp(z) is inf above 709.8 and 0 below -745 in float64


@st.composite
def large_logits(draw):
    """SoftmaxCrossEntropyLoss with logits z (N, C) of which some rows sit near +-750 (values in
    [-3, 3] plus a row shift from ROW_SHIFTS), and class ids t (N,). A stable softmax does not
    care; an unshifted one overflows in those rows."""
    n, n_classes = draw(dims()), draw(dims(2, 5))
    shift = np.array(draw(st.lists(st.sampled_from(ROW_SHIFTS), min_size=n, max_size=n)))
    z = draw(float_arrays((n, n_classes))) + shift[:, None]
    return Case(SoftmaxCrossEntropyLoss(), (z, draw(id_arrays(n_classes, (n,)))))


@st.composite
def factor_batches(draw):
    """RegularizedFactorLoss(reg=0.1) with factors p, q (N, K), K >= 2, entries |v| >= 0.1 (the
    penalty's gradient 2 reg p / N vanishes with p), and ratings r (N,)."""
    n, k = draw(dims()), draw(dims(2, 5))
    p, q = (draw(float_arrays((n, k), min_abs=0.1)) for _ in range(2))
    return Case(RegularizedFactorLoss(reg=0.1), (p, q, draw(float_arrays((n,)))))


# -------------------------------------------------------------------------------------- the zoo
@dataclass(frozen=True)
class ZooEntry:
    """One mutant: its name, bug class, a one-line description, the real class it mutates, the
    mutant class and the strategy of cases (Case with a ``parent`` instance) to check it on."""

    name: str
    bug_class: str
    description: str
    parent: type
    mutant: type
    cases: st.SearchStrategy

    def __post_init__(self):
        if self.bug_class not in BUG_CLASSES:
            raise ValueError(f"{self.name}: unknown bug class {self.bug_class!r}")
        if self.parent not in self.mutant.__mro__:
            raise TypeError(f"{self.name}: {self.mutant.__name__} does not subclass "
                            f"{self.parent.__name__}")

    def mutate(self, target):
        """A twin of ``target`` (a ``parent``) with the mutant's backward: a deep copy (its own
        weights, its random stream in the same state) whose class is the mutant."""
        if type(target) is not self.parent:
            raise TypeError(f"{self.name} mutates a {self.parent.__name__}, got "
                            f"{type(target).__name__}")
        twin = copy.deepcopy(target)
        twin.__class__ = self.mutant
        return twin

    def check(self, case, mutated=True, **options):
        """gradcheck of the mutant (or, with mutated=False, a copy of the real target) at the
        case's inputs; ``options`` go to gradcheck. Returns the GradcheckReport."""
        target = self.mutate(case.target) if mutated else copy.deepcopy(case.target)
        return gradcheck(target, *case.inputs, **options)


ZOO = (
    ZooEntry("dense_transposed_dW", "transposed", "dW = dy.T @ x instead of x.T @ dy",
             Dense, DenseTransposedWeight, square_dense()),
    ZooEntry("dense_dx_untransposed", "transposed", "dx = dy @ W instead of dy @ W.T",
             Dense, DenseInputGradientUntransposed, square_dense()),
    ZooEntry("dense_bias_per_sample", "bias_not_summed", "db = dy, one row per sample, not summed",
             Dense, DenseBiasNotSummed, dense_with_bias()),
    ZooEntry("dense_dW_assigned", "overwritten", "grads['W'] = x.T @ dy instead of +=",
             Dense, DenseOverwritesGradient, layer_cases("dense")),
    ZooEntry("mse_wrong_sign", "wrong_sign", "d(pred - t)^2 / dpred as 2 (t - pred)",
             MSELoss, MSEWrongSign, regressions()),
    ZooEntry("bce_logits_wrong_sign", "wrong_sign", "sigmoid(z) - t written t - sigmoid(z)",
             BCEWithLogitsLoss, BCEWithLogitsWrongSign, binary_labels()),
    ZooEntry("mse_sum_for_mean", "batch_scaling", "the gradient of the sum for a mean loss",
             MSELoss, MSESumForMean, regressions()),
    ZooEntry("softmax_mean_twice", "batch_scaling", "softmax cross-entropy divided by N twice",
             SoftmaxCrossEntropyLoss, SoftmaxMeanTwice, large_logits()),
    ZooEntry("softmax_no_max_shift", "softmax_overflow", "exp(z) without subtracting max(z)",
             SoftmaxCrossEntropyLoss, SoftmaxWithoutShift, large_logits()),
    ZooEntry("sigmoid_derivative_at_input", "derivative_at_wrong_point",
             "y (1 - y) evaluated at the input x", Sigmoid, SigmoidDerivativeAtInput,
             layer_cases("sigmoid")),
    ZooEntry("tanh_derivative_of_output", "derivative_at_wrong_point",
             "tanh' applied to the output y (tanh twice)", Tanh, TanhDerivativeOfOutput,
             layer_cases("tanh")),
    ZooEntry("relu_mask_from_output", "relu_negative_slope",
             "mask max(x, 0) >= 0: slope 1 for x < 0", ReLU, ReLUMaskFromOutput,
             layer_cases("relu")),
    ZooEntry("dropout_fresh_mask", "fresh_dropout_mask", "a new mask drawn in backward",
             Dropout, DropoutFreshMask, layer_cases("dropout")),
    ZooEntry("embedding_last_id_wins", "repeated_ids_dropped", "dW[ids] += dy for np.add.at",
             Embedding, EmbeddingLastIdWins, layer_cases("embedding")),
    ZooEntry("rnn_bptt_skips_first_step", "bptt_off_by_one",
             "the BPTT loop stops before step 1", RNN, RNNSkipsFirstStep, sequences()),
    ZooEntry("factor_loss_without_decay", "weight_decay_missing",
             "the L2 penalty's 2 reg p / N left out of dp", RegularizedFactorLoss,
             FactorLossWithoutDecay, factor_batches()),
)
