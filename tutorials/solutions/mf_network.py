"""Exercise (after lesson 04): the seed's matrix-factorisation network and its loss, end to end.

The model of lesson 04, for a batch of N (user, item, label) triples, U users, I items and K
factors:

    P_u = P[users]                  (N, K)    P (U, K), the users' factors   Embedding(U, K)
    Q_i = Q[items]                  (N, K)    Q (I, K), the items' factors   Embedding(I, K)
    d   = sum over k of P_u Q_i     (N, 1)                                   Dot
    z   = d w + b                   (N, 1)    w (1, 1), b (1,)               Dense(1, 1)
    p   = sigmoid(z)                (N, 1)                                   Sigmoid
    L   = -1/N sum_n ( y_n log p_n + (1 - y_n) log(1 - p_n) )   a number    BCE

``forward((users, items, labels))`` returns L and saves what backward needs. Write
``backward(dL)``: add dL/dP (U, K), dL/dQ (I, K), dL/dw (1, 1) and dL/db (1,) into
self.grads and return None (users, items and labels are integers: no gradient). Every step
is one you have written before (bce, dense, dot, embedding); here they are chained. ``dL`` is
the gradient of whatever uses the loss (1.0 when L is what you minimise); the checker passes a
random number for it.

The checker's batch has U = 4, I = 5, K = 3, N = 8, and repeats users and items: a user's row
of dL/dP collects the contributions of all its pairs.

Check your work from the repository root (exit status 0 when every gradient is right):

    nanorec exercise check mf_network
"""
# BEGIN SOLUTION
# Reference solution (instructors' copy). tutorials/exercises/mf_network.py is this file with
# every SOLUTION block replaced by a TODO (nanorec.testing.exercises.student_copy).
# END SOLUTION

import numpy as np

from nanorec.nn.base import Layer


class MFNetwork(Layer):
    """Embedding, Embedding -> Dot -> Dense(1, 1) -> Sigmoid -> BCE, as one layer whose output is L.

    Shapes: (users (N,) int, items (N,) int, labels (N,) int 0/1) -> L, a number;
    P (U, K), Q (I, K), w (1, 1), b (1,).

    Parameters
    ----------
    n_users, n_items, n_factors : int
        U, I and K.
    rng : np.random.Generator, int or None
        Source of the initial P, Q and w (b starts at 0).
    """

    def __init__(self, n_users, n_items, n_factors, rng=None):
        super().__init__()
        rng = np.random.default_rng(rng)
        self._add_param("P", rng.normal(0, 1 / np.sqrt(n_factors), (n_users, n_factors)))
        self._add_param("Q", rng.normal(0, 1 / np.sqrt(n_factors), (n_items, n_factors)))
        self._add_param("w", rng.normal(0, 1, (1, 1)))
        self._add_param("b", np.zeros(1))

    def forward(self, inputs):
        users, items, labels = inputs
        P_u, Q_i = self.params["P"][users], self.params["Q"][items]
        d = np.sum(P_u * Q_i, axis=1, keepdims=True)
        p = 1 / (1 + np.exp(-(d @ self.params["w"] + self.params["b"])))
        y = labels[:, None]  # (N, 1), like p
        self._save(users, items, P_u, Q_i, d, p, y)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

    def backward(self, dL=1.0):
        """Add dL/dP, dL/dQ, dL/dw and dL/db into self.grads; return None."""
        users, items, P_u, Q_i, d, p, y = self._saved()
        # BEGIN SOLUTION: MFNetwork.backward
        dz = dL * (p - y) / len(p)  # BCE and sigmoid together
        self.grads["w"] += d.T @ dz
        self.grads["b"] += dz.sum(axis=0)
        dd = dz @ self.params["w"].T  # (N, 1)
        np.add.at(self.grads["P"], users, dd * Q_i)
        np.add.at(self.grads["Q"], items, dd * P_u)
        return None
        # END SOLUTION
