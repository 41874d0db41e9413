"""Why does a model recommend an item to a user? Explanations a reader, or the CLI, can print.

    model.explain(user_id, item_id, n=5) -> Explanation(user_id, item_id, score, method,
                                                         contributions, baseline)

``contributions`` are (label, value) pairs, largest |value| first, at most n of them (all of them
with n=None). Every model explains its scores:

Item similarity (embedding models and ItemKNN). Which of the user's train items j (the item itself
left out) are most like the target item i in the model's item space:

    embedding models   value(j) = cos(Q[j], Q[i]) = Q[j] . Q[i] / (|Q[j]| |Q[i]|)   (0 if a row is 0);
                       only items with value(j) > 0 are listed (an unlike item is no reason)
                       Q = the item vectors of ``item_vectors(model)``: item_factors_ of BiasedMF
                       and BPRMF, the item embedding of MatrixFactorization, the GMF item
                       embedding of NeuMF (its MLP item embedding when it has no GMF branch).
                       Biases and NeuMF's tower are not in Q: the values say which past items sit
                       near i in item space, not how the score splits.
    ItemKNN            value(j) = sim(j, i) if i is one of j's k neighbours, else 0 (and left
                       out). Here the values DO split the score: s[u, i] = sum_j value(j).

Gradient x input (the other networks). The network runs forward on the one pair, in inference
mode with its caches kept, and backward with dy = 1 on the score s (one output), which gives ds/dx
for every float input x; each entry gets value = x * ds/dx:

    ContentBased, Hybrid   the named user and item features (nanorec.models.content)
    CDAE                   the user's clicks: one value per train item of the user
    AutoRec                the item's column of ratings: one value per other user's rating of it
                           (never a user who chose not to be named: UserPrivacy)
                           (both sparse inputs: x_j ds/dx_j = W[j] . ds/dW[j] of the encoder,
                           ``attribute_sparse_input``)
    Caser, RNNRec          the item embeddings of the user's last items (x = the embedding row,
                           value = x . ds/dx summed over its entries), and Caser's user embedding

If s is linear in the inputs, s(x) = w . x + s(0), the values add up to the score minus the
baseline, sum_f x_f ds/dx_f = s(x) - s(0) (completeness; ``baseline`` = s at zero inputs, ids
kept). With ReLU or sigmoid layers, biases or products of inputs it is a first-order local
reading, and the sum differs from s(x) - s(0).

Popularity explains by the item's train rows; Random's scores have no reason to give.
"""

from dataclasses import dataclass
from typing import Optional

import numpy as np


@dataclass
class Explanation:
    """Why ``model`` gives ``item_id`` the score ``score`` for ``user_id``.

    contributions : list of (label, value), largest |value| first (see the module docstring).
    baseline : the score at zero features (gradient x input), None for item similarity.
    """

    user_id: object
    item_id: object
    score: float
    method: str
    contributions: list
    baseline: Optional[float] = None

    def __str__(self):
        head = f"item {self.item_id} for user {self.user_id}: score {self.score:.4f}"
        if self.baseline is not None:
            head += f" (baseline {self.baseline:.4f})"
        lines = [head, f"  by {self.method}"]
        width = max([len(label) for label, _ in self.contributions], default=0)
        lines += [f"  {label:<{width}}  {value:+.4f}" for label, value in self.contributions]
        if not self.contributions:
            lines.append("  (nothing to show)")
        return "\n".join(lines)


def top_contributions(labels, values, n=None):
    """The n (label, float value) pairs of largest |value| (all with n=None); equal sizes keep
    their given order."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(-np.abs(values), kind="stable")[:n]
    return [(labels[j], float(values[j])) for j in order]


# ---------------------------------------------------------------------- item similarity
def item_vectors(model):
    """The (I, K) item vectors of an embedding model and what they are, or None if it has none.

    Reads documented attributes only: ``item_factors_`` (BiasedMF, BPRMF), else the item Embedding
    of ``network_``: ``item_embedding`` (MatrixFactorization's MFNetwork), ``gmf_item`` then
    ``mlp_item`` (NeuMF's NeuMFNetwork; None for an absent branch).
    """
    if getattr(model, "item_factors_", None) is not None:
        return model.item_factors_, "item factors"
    network = getattr(model, "network_", None)
    for attribute, description in (("item_embedding", "item embeddings"),
                                   ("gmf_item", "GMF item embeddings"),
                                   ("mlp_item", "MLP item embeddings")):
        layer = getattr(network, attribute, None)
        if layer is not None:
            return layer.params["W"], description
    return None


def cosine_to(vectors, target):
    """cos(vectors[m], target) for each row m (M,), 0 where a row or the target is all zeros."""
    vectors, target = np.asarray(vectors, np.float64), np.asarray(target, np.float64)
    norms = np.linalg.norm(vectors, axis=1) * np.linalg.norm(target)
    dots = vectors @ target
    return np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)


def explain_by_similarity(model, user_index, item_index):
    """``(score, method, labels, values, baseline)`` of the item-similarity method for one pair.

    ItemKNN (``neighbours_``, ``similarities_``) uses its own similarities; embedding models the
    cosine of ``item_vectors``; any other model raises NotImplementedError.
    """
    csr = model.train_csr_
    history = csr.indices[csr.indptr[user_index] : csr.indptr[user_index + 1]]
    history = history[history != item_index]
    score = float(model.score_pairs(np.array([user_index]), np.array([item_index]))[0])
    if hasattr(model, "neighbours_") and hasattr(model, "similarities_"):
        is_neighbour = model.neighbours_[history] == item_index  # (J, k), at most one True a row
        values = np.sum(np.where(is_neighbour, model.similarities_[history], 0.0), axis=1)
        history, values = history[values != 0], values[values != 0]
        method = "ItemKNN similarity sim(j, i) of the user's train items j (they sum to the score)"
    else:
        found = item_vectors(model)
        if found is None:
            raise NotImplementedError(
                f"{type(model).__name__} has no explanations: it has neither item vectors nor "
                "named features to attribute its score to"
            )
        vectors, description = found
        values = cosine_to(vectors[history], vectors[item_index])
        history, values = history[values > 0], values[values > 0]  # unlike items are no reason
        method = f"cosine of {description} between the user's train items and the item"
    labels = [f"item {raw}" for raw in model.item_ids_[history].tolist()]
    return score, method, labels, values, None


# ---------------------------------------------------------------------- gradient x input
def gradient_x_input(network, inputs, output_index=(0, 0)):
    """One output of the network for one sample, and its gradient with respect to the inputs.

    Forward    y = network.forward(inputs)      inputs: arrays (or nested tuples of arrays) with
                                                a batch of one sample; s = y[output_index]
    Backward   network.backward(dy)             dy = 1 at output_index, 0 elsewhere: ds/dx for
                                                every float input x (None for ids)

    The network runs in inference mode with its caches kept (``eval(keep_cache=True)``: no
    dropout) and is left in eval mode with zero gradients, as a fitted model keeps it.

    Returns
    -------
    (score : float, gradients nested like inputs)
    """
    score, gradients, _ = _backward_one_output(network, inputs, output_index)
    return score, gradients


def attribute_lookups(network, inputs, output_index, embeddings):
    """Gradient x input at the rows the network looked up in some Embedding tables.

    For each table: the rows the sample read (in order) and, for each, value = W[row] . ds/dW[row]
    from that lookup's share of the backward (its row-sparse gradient holds one value per
    lookup). Returns (score, [(rows, values) per table]).
    """
    def read():
        lookups = []
        for embedding in embeddings:
            grad = embedding.grads["W"]
            lookups.append((grad.rows, np.sum(embedding.params["W"][grad.rows] * grad.values, axis=1)))
        return lookups

    score, _, lookups = _backward_one_output(network, inputs, output_index, read)
    return score, lookups


def attribute_sparse_input(network, inputs, output_index, layer, columns):
    """Gradient x input at the stored entries of a one-row sparse input (nanorec.nn.SparseRows)
    that the SparseDense ``layer`` reads, at its stored ``columns`` (J,).

    For one row x, the layer's dW[j] = x_j da (da = ds/d(x W + b)), so x_j ds/dx_j = x_j (da . W[j])
    = W[j] . dW[j]: read from the layer's gradient, as ``attribute_lookups`` reads an Embedding's.
    Returns (score, values (J,)).
    """
    def read():
        weights, grads = layer.params["W"][columns], layer.grads["W"][columns]
        return np.sum(weights.astype(np.float64) * grads, axis=1)

    score, _, values = _backward_one_output(network, inputs, output_index, read)
    return score, values


def _backward_one_output(network, inputs, output_index, read=lambda: None):
    """(score, input gradients, read()) of one output: forward in eval mode with the caches kept,
    backward with dy = 1 at output_index; ``read`` looks at the parameter gradients before they are
    zeroed again."""
    network.eval(keep_cache=True)
    try:
        output = network.forward(inputs)
        dy = np.zeros_like(output)
        dy[output_index] = 1
        gradients = network.backward(dy)
        return float(output[output_index]), gradients, read()
    finally:
        network.zero_grad()
        network.eval()


def attribute_features(network, inputs, parts):
    """Gradient x input over named features: ``(score, labels, values, baseline)``.

    Parameters
    ----------
    network : Layer
        Scores one sample: (1, 1).
    inputs : nested tuple of arrays
        The network's input for the one sample.
    parts : list of (path, prefix, names)
        Where the named features sit: ``path`` is the tuple of positions that leads to a (1, F)
        float array in ``inputs`` (and to its gradient), ``names`` its F column names; labels
        read "<prefix>: <name>".

    The baseline is the score with every named feature set to 0 (other inputs, e.g. ids, kept).
    """
    score, gradients = gradient_x_input(network, inputs)
    labels, values = [], []
    zeroed = inputs
    for path, prefix, names in parts:
        x, dx = _at(inputs, path), _at(gradients, path)
        labels += [f"{prefix}: {name}" for name in names]
        values.append((np.asarray(x, np.float64) * dx)[0])
        zeroed = _replaced(zeroed, path, np.zeros_like(x))
    baseline = float(network.forward(zeroed)[0, 0])  # eval mode: no cache kept
    return score, labels, np.concatenate(values) if values else np.zeros(0), baseline


def _at(nested, path):
    for position in path:
        nested = nested[position]
    return nested


def _replaced(nested, path, value):
    """A copy of the nested tuple with the leaf at ``path`` replaced by ``value``."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    return tuple(_replaced(part, rest, value) if j == head else part for j, part in enumerate(nested))
