"""Loss functions: a scalar from predictions and targets, and its gradient with respect to them.

    L  = loss.forward(pred, target, weight=None)     a float
    dp = loss.backward()                             dL/dpred, the shape and dtype of pred

Every loss here is a MEAN over the batch of per-sample losses l_i, optionally weighted:

    L = (1 / N) * sum_i w_i * l_i          (w_i = 1 when weight is None)

Note the divisor is N, not sum_i w_i: weights scale each sample's contribution, and weight = ones
gives exactly the unweighted mean. When a sample has several outputs (pred of shape (N, D)), its
l_i is the mean over those D entries, so the unweighted loss is the mean over all N * D entries.

Shapes: N batch, D outputs per sample, C classes. ``weight`` is (N,), finite and >= 0.
Losses accept float32 or float64 predictions; the gradient comes back in the dtype of pred.
"""

import numpy as np

from nanorec.nn import kernels
from nanorec.nn.activations import sigmoid


class NonFiniteError(ValueError, FloatingPointError):
    """NaN or inf where a loss needs finite numbers: a bad input (a ValueError) or, in training,
    a diverged network (a FloatingPointError, which nanorec.training.run_epochs reports so)."""


class Loss:
    """Base class of the losses.

    forward(pred, target, weight=None) -> float   L = (1/N) sum_i w_i l_i, the MEAN over the batch
    backward() -> dL/dpred                         same shape as pred (RuntimeError before forward)

    ``forward`` caches exactly what ``backward`` needs; the ``_check_*`` helpers validate input.
    """

    def __init__(self):
        self._cache = None

    def forward(self, pred, target, weight=None):
        raise NotImplementedError

    def backward(self):
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def _saved(self):
        if self._cache is None:
            raise RuntimeError(f"{self._name}.backward called before {self._name}.forward")
        return self._cache

    def _check_pred(self, pred, name="pred"):
        """pred as a float ndarray with a batch axis and finite entries."""
        pred = np.asarray(pred)
        if pred.dtype.kind != "f":
            raise TypeError(f"{self._name}: {name} must be a float array, got dtype {pred.dtype}")
        if pred.ndim == 0 or len(pred) == 0:
            raise ValueError(
                f"{self._name}: {name} needs a non-empty batch axis, got shape {pred.shape}"
            )
        if not np.all(np.isfinite(pred)):
            raise NonFiniteError(f"{self._name}: {name} contains NaN or inf (did training diverge?)")
        return pred

    def _check_target(self, target, pred):
        """A real-valued target of pred's shape, finite."""
        target = np.asarray(target)
        if target.dtype.kind not in "fiub":
            raise TypeError(f"{self._name}: target must be numeric, got dtype {target.dtype}")
        if target.shape != pred.shape:
            raise ValueError(
                f"{self._name}: pred has shape {pred.shape} but target has shape {target.shape}"
            )
        if not np.all(np.isfinite(target)):
            raise ValueError(f"{self._name}: target contains NaN or inf")
        return target

    def _check_weight(self, weight, n):
        """None, or per-sample weights (N,) that are finite and >= 0."""
        if weight is None:
            return None
        weight = np.asarray(weight)
        if weight.dtype.kind not in "fiu":
            raise TypeError(f"{self._name}: weight must be numeric, got dtype {weight.dtype}")
        if weight.shape != (n,):
            raise ValueError(
                f"{self._name}: weight must have shape ({n},), one per sample, got {weight.shape}"
            )
        if not np.all(np.isfinite(weight)):
            raise ValueError(f"{self._name}: weight contains NaN or inf")
        if np.any(weight < 0):
            raise ValueError(f"{self._name}: weight must be >= 0, got {weight.min()}")
        return weight

    @property
    def _name(self):
        return type(self).__name__


def _batch_mean(per_entry, weight):
    """L = (1/N) sum_i w_i l_i, with l_i the mean of sample i's entries of per_entry (N, ...)."""
    per_sample = per_entry.reshape(len(per_entry), -1).mean(axis=1)
    if weight is not None:
        per_sample = weight * per_sample
    return float(per_sample.mean())


def _batch_scale(weight, like):
    """dL/d(per_entry[i, j]) = w_i / (N * D): the factor that turns entry gradients into dL/dpred.

    Returned broadcastable against ``like`` (N, ...): a scalar, or w reshaped to (N, 1, ..., 1).
    """
    n = len(like)
    per_entry = 1.0 / like.size  # 1 / (N * D)
    if weight is None:
        return per_entry
    return (weight * per_entry).reshape((n,) + (1,) * (like.ndim - 1))


class _ElementwiseLoss(Loss):
    """A loss with one term per entry of pred: l(pred[i, j], target[i, j]).

    Subclasses give ``_entry_loss(pred, target)`` and ``_entry_grad(pred, target)``, its derivative
    in pred, and may check the values in ``_check_values``; this class validates the shapes,
    reduces with the batch mean and applies the weights.
    """

    def forward(self, pred, target, weight=None):
        pred = self._check_pred(pred)
        target = self._check_target(target, pred)
        self._check_values(pred, target)
        weight = self._check_weight(weight, len(pred))
        self._cache = (pred, target, weight)
        return _batch_mean(self._entry_loss(pred, target), weight)

    def backward(self):
        pred, target, weight = self._saved()
        dpred = self._entry_grad(pred, target) * _batch_scale(weight, pred)
        return dpred.astype(pred.dtype, copy=False)

    def _check_values(self, pred, target):
        """Raise a ValueError for values outside the loss's domain (any finite value by default)."""

    def _entry_loss(self, pred, target):
        raise NotImplementedError

    def _entry_grad(self, pred, target):
        raise NotImplementedError


class MSELoss(_ElementwiseLoss):
    """Mean squared error.

    Loss       l_i = mean_j (pred[i, j] - target[i, j])^2;   L = (1/N) sum_i w_i l_i
    Gradient   dL/dpred[i, j] = 2 (pred[i, j] - target[i, j]) * w_i / (N D)
    Shapes     pred (N,) or (N, D); target the same; weight (N,)
    """

    def _entry_loss(self, pred, target):
        return (pred - target) ** 2

    def _entry_grad(self, pred, target):
        return 2 * (pred - target)


class BCELoss(_ElementwiseLoss):
    """Binary cross-entropy on probabilities (the output of a Sigmoid layer).

    Loss       l_i = mean_j -(y log p + (1 - y) log(1 - p)),  p = clip(pred, eps, 1 - eps), y = target
    Gradient   dL/dpred[i, j] = (p - y) / (p (1 - p)) * w_i / (N D)
    Shapes     pred (N,) or (N, D) with entries in [0, 1]; target the same, entries in [0, 1]
               (soft labels allowed); weight (N,)

    The clip keeps log finite when a Sigmoid saturates to exactly 0 or 1. eps is the machine epsilon
    of pred's dtype (np.finfo: 1.2e-7 for float32, 2.2e-16 for float64), so a single entry's loss is
    at most -log(eps): 15.9 in float32, 36.0 in float64. The gradient is taken at the clipped p (the
    clip counts as the identity in backward), so a confident wrong prediction still gets a large,
    finite push rather than zero. For logits prefer BCEWithLogitsLoss: it needs no clipping.
    """

    def _check_values(self, pred, target):
        if np.any((pred < 0) | (pred > 1)):
            raise ValueError(
                f"BCELoss: pred must be probabilities in [0, 1], got values in "
                f"[{pred.min():g}, {pred.max():g}] (for logits use BCEWithLogitsLoss)"
            )
        _check_binary_target(target, self._name)

    def _clipped(self, pred):
        eps = np.finfo(pred.dtype).eps
        return np.clip(pred, eps, 1 - eps)

    def _entry_loss(self, pred, target):
        p = self._clipped(pred)
        return -(target * np.log(p) + (1 - target) * np.log1p(-p))

    def _entry_grad(self, pred, target):
        p = self._clipped(pred)
        return (p - target) / (p * (1 - p))


class BCEWithLogitsLoss(_ElementwiseLoss):
    """Binary cross-entropy on logits z, i.e. BCE of sigmoid(z), computed stably for any finite z.

    Loss       l_i = mean_j -(y log s(z) + (1 - y) log(1 - s(z))),   s = sigmoid, y = target
                   = mean_j softplus(z) - z y,   softplus(z) = log(1 + exp(z))
                                                = max(z, 0) + log(1 + exp(-|z|))   (stable form)
    Gradient   dL/dz[i, j] = (s(z) - y) * w_i / (N D)
    Shapes     pred = z (N,) or (N, D), any real values; target the same, entries in [0, 1]; weight (N,)

    exp(-|z|) lies in (0, 1], so nothing overflows; for |z| ~ 1e4 it underflows to 0, which is the
    exact limit.
    """

    def _check_values(self, pred, target):
        _check_binary_target(target, self._name)

    def _entry_loss(self, z, target):
        return _softplus(z) - z * target

    def _entry_grad(self, z, target):
        return sigmoid(z) - target


class SoftmaxCrossEntropyLoss(Loss):
    """Cross-entropy of a softmax over C classes, from logits and integer class ids.

    Loss       l_i = -log softmax(z_i)[t_i] = logsumexp(z_i) - z_i[t_i];   L = (1/N) sum_i w_i l_i
               with logsumexp(z) = max(z) + log sum_c exp(z_c - max(z))    (stable)
    Gradient   dL/dz[i, c] = (softmax(z_i)[c] - [c == t_i]) * w_i / N
    Shapes     pred = z (N, C) logits; target = t (N,) integer ids in [0, C); weight (N,)
               or per step: z (N, T, C), t (N, T), no weight; every step is a sample (N T of them)
    Ignored    with ``ignore_index`` set, samples whose target equals it (padding) have no loss
               and a zero gradient, and N counts the others only (PyTorch's ignore_index).
    """

    def __init__(self, ignore_index=None):
        super().__init__()
        self.ignore_index = ignore_index

    def forward(self, pred, target, weight=None):
        z = self._check_pred(pred)
        if z.ndim not in (2, 3) or (z.ndim == 3 and weight is not None):
            raise ValueError(f"{self._name}: pred must be logits of shape (N, C), or (N, T, C) "
                             f"without weights, got {z.shape}")
        target = np.asarray(target)
        if target.dtype.kind not in "iu":
            raise TypeError(f"{self._name}: target must be integer class ids, got dtype {target.dtype}")
        if target.shape != z.shape[:-1]:
            raise ValueError(f"{self._name}: target must have shape {z.shape[:-1]}, got {target.shape}")
        pred_shape = z.shape
        z, target = z.reshape(-1, z.shape[-1]), target.reshape(-1)
        n, n_classes = z.shape
        weight = self._check_weight(weight, n)
        if self.ignore_index is not None:
            real = target != self.ignore_index
            # the mean over the real samples: weight n / S on each of the S real ones, 0 on the rest
            scale = real * (n / max(int(real.sum()), 1))
            weight = scale if weight is None else weight * scale
            target = np.where(real, target, 0)
        if np.any((target < 0) | (target >= n_classes)):
            bad = target[(target < 0) | (target >= n_classes)][0]
            raise ValueError(f"{self._name}: class id {bad} is outside [0, {n_classes})")
        if kernels.fits(z):  # loss and gradient in one pass per row
            dz = np.empty_like(z)
            w = np.ones(n, z.dtype) if weight is None else np.asarray(weight, z.dtype)
            total = kernels.softmax_cross_entropy_nb(z, target.astype(np.int64), w, dz)
            self._cache = (dz.reshape(pred_shape),)
            return float(total / n)
        shifted = z - z.max(axis=1, keepdims=True)  # the largest logit becomes 0: exp cannot overflow
        with np.errstate(under="ignore"):
            exp_shifted = np.exp(shifted)
        sum_exp = exp_shifted.sum(axis=1, keepdims=True)
        log_probs = shifted - np.log(sum_exp)
        dz = exp_shifted / sum_exp  # the softmax, then minus the one-hot target
        dz[np.arange(n), target] -= 1
        # l_i sums over the classes rather than averaging them: scale as one entry per sample, (N, 1)
        dz = (dz * _batch_scale(weight, dz[:, :1])).astype(dz.dtype, copy=False)
        self._cache = (dz.reshape(pred_shape),)
        return _batch_mean(-log_probs[np.arange(n), target], weight)

    def backward(self):
        (dz,) = self._saved()  # computed with the loss: dL/dz = (softmax(z) - onehot(t)) w / N
        return dz


class BPRLoss(Loss):
    """Bayesian personalized ranking: a positive item should score above a sampled negative one.

    Loss       l_i = -log sigmoid(d_i) = softplus(-d_i),   d_i = pred[i, 0] - pred[i, 1]
               L = (1/N) sum_i w_i l_i
    Gradient   dL/dpred[i, 0] = -sigmoid(-d_i) * w_i / N   (= (sigmoid(d_i) - 1) * w_i / N)
               dL/dpred[i, 1] = -dL/dpred[i, 0]
    Shapes     pred (N, 2): the positive item's score, then the negative's; target None (the
               order of the columns is the label); weight (N,)
    Reference  Rendle et al. (2009), "BPR: Bayesian Personalized Ranking from Implicit Feedback".
    """

    def forward(self, pred, target=None, weight=None):
        pred = self._check_pred(pred)
        if pred.ndim != 2 or pred.shape[1] != 2:
            raise ValueError(f"{self._name}: pred must be (N, 2) scores [positive, negative], "
                             f"got shape {pred.shape}")
        if target is not None:
            raise ValueError(f"{self._name} takes no target: column 0 of pred is the positive")
        weight = self._check_weight(weight, len(pred))
        d = pred[:, 0] - pred[:, 1]
        self._cache = (d, weight)
        return _batch_mean(_softplus(-d), weight)

    def backward(self):
        d, weight = self._saved()
        dpos = (-sigmoid(-d) * _batch_scale(weight, d)).astype(d.dtype, copy=False)
        return np.stack([dpos, -dpos], axis=1)


class MaskedLoss(Loss):
    """An elementwise loss summed over the chosen entries of each sample, averaged over the batch.

    Loss       L = (1/N) sum_n sum_d m[n, d] * l(pred[n, d], target[n, d])
               with l the entry loss of ``base``:
                   MSELoss             l(p, t) = (p - t)^2
                   BCEWithLogitsLoss   l(z, y) = softplus(z) - z y   (BCE of sigmoid(z), stable)
    Gradient   dL/dpred[n, d] = m[n, d] * l'(pred[n, d], target[n, d]) / N
    Shapes     pred (N, D); target (N, D); weight = the mask m (N, D), finite and >= 0 (1 marks an
               entry that counts, 0 one that does not; other values weigh the entry)

    A SUM over a sample's entries, not a mean: a row with more observed entries weighs more, as in
    AutoRec's objective sum over observed (u, i) of (r - r_hat)^2. Entries with m = 0 get a zero
    gradient, so a network never learns from the unobserved entries it was fed as zeros.

    Parameters
    ----------
    base : MSELoss, BCELoss or BCEWithLogitsLoss
        Gives l, l' and the checks of pred and target.
    """

    def __init__(self, base):
        super().__init__()
        if not isinstance(base, _ElementwiseLoss):
            raise TypeError(
                f"MaskedLoss needs an elementwise loss such as MSELoss() or BCEWithLogitsLoss(), "
                f"got {type(base).__name__}"
            )
        self.base = base

    def forward(self, pred, target, weight):
        pred = self.base._check_pred(pred)
        if pred.ndim != 2:
            raise ValueError(f"MaskedLoss: pred must have shape (N, D), got {pred.shape}")
        target = self.base._check_target(target, pred)
        self.base._check_values(pred, target)
        mask = np.asarray(weight)
        if mask.shape != pred.shape:
            raise ValueError(f"MaskedLoss: the mask (weight) has shape {mask.shape}, pred has {pred.shape}")
        if mask.dtype.kind not in "fiub" or not np.all(np.isfinite(mask)) or np.any(mask < 0):
            raise ValueError("MaskedLoss: the mask must hold finite numbers >= 0 (1 = entry counts)")
        self._cache = (pred, target, mask)
        return float(np.sum(mask * self.base._entry_loss(pred, target)) / len(pred))

    def backward(self):
        pred, target, mask = self._saved()
        dpred = mask * self.base._entry_grad(pred, target) / len(pred)
        return dpred.astype(pred.dtype, copy=False)


def _softplus(x):
    """log(1 + exp(x)) = max(x, 0) + log(1 + exp(-|x|)): exp of a non-positive number never overflows."""
    with np.errstate(under="ignore"):  # exp(-|x|) underflows to 0 for |x| > ~745: the exact limit
        return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _check_binary_target(target, name):
    if np.any((target < 0) | (target > 1)):
        raise ValueError(
            f"{name}: target must lie in [0, 1], got values in [{target.min():g}, {target.max():g}]"
        )
