"""PyTorch CPU twins of nanorec's MatrixFactorization (the seed's model) and NeuMF, for
benchmarks/bench_implicit.py: the same architecture, initialization, samples and optimizer, so that
s/epoch and ranking quality can be compared row by row.

Same as nanorec                                  Different
-------------------------------------------     ------------------------------------------------
layers, widths and output (probability for MF,   torch.set_num_threads(2); nanorec's fused kernel
logit + BCEWithLogitsLoss for NeuMF)             is single-threaded
init: MF embeddings U(-0.05, 0.05), NeuMF        the random streams: the twins draw their own
embeddings N(0, 0.01^2), Linear weights          init, negatives and shuffles (same distributions,
glorot (xavier) uniform, biases 0                other numbers)
samples: nanorec's NegativeSampler (uniform,
n_negatives per positive, redrawn every epoch),
a new shuffle each epoch, the same batch size
Adam(lr, betas (0.9, 0.999), eps 1e-8), the same epochs
sparse_adam=False: torch.optim.Adam updates every embedding row at every step (dense Adam), as
nanorec's default adam="dense"; sparse_adam=True: sparse embeddings and torch.optim.SparseAdam for
them, the rule of nanorec's adam="lazy" (only the rows a batch used move).

The training loop is as lean as PyTorch allows (tensors built once per epoch, batches sliced from
a shuffled copy, no DataLoader), so that the comparison measures the frameworks, not the loop.
"""

import numpy as np

from nanorec.data.sampling import NegativeSampler
from nanorec.models.base import Recommender

PAIRS_PER_CHUNK = 2**16  # user-item pairs scored at once by the NeuMF twin


def _torch():
    try:
        import torch
    except ImportError:
        from _common import Skipped  # the benchmarks' "skipped (pip install ...)" row

        raise Skipped("skipped (pip install torch)") from None
    return torch


def _adam(torch, network, lr, sparse_adam):
    """[Adam over every parameter], or [SparseAdam over the embeddings, Adam over the rest]."""
    if not sparse_adam:
        return [torch.optim.Adam(network.parameters(), lr=lr, eps=1e-8)]
    tables = [m.weight for m in network.modules() if isinstance(m, torch.nn.Embedding)]
    others = [p for p in network.parameters() if all(p is not table for table in tables)]
    return [torch.optim.SparseAdam(tables, lr=lr, eps=1e-8),
            torch.optim.Adam(others, lr=lr, eps=1e-8)]


class _TorchPointwise(Recommender):
    """Shared training loop: BCE on positives and sampled negatives, Adam, mini-batches. A
    subclass stores its constructor arguments (n_epochs, batch_size, lr, n_negatives,
    random_state, num_threads, sparse_adam and its architecture's) and builds the network in
    ``_network(torch)``."""

    requires = {"torch": "torch"}  # module -> pip package (nanorec run checks it)

    def _store(self, n_epochs, batch_size, lr, n_negatives, random_state, num_threads,
               sparse_adam):
        self.n_epochs, self.batch_size, self.lr = n_epochs, batch_size, lr
        self.n_negatives, self.random_state = n_negatives, random_state
        self.num_threads, self.sparse_adam = num_threads, sparse_adam

    def _fit(self, train, valid):
        torch = _torch()
        torch.set_num_threads(self.num_threads)
        torch.manual_seed(self.random_state)
        self.network_ = self._network(torch)
        for module in self.network_.modules():
            if isinstance(module, torch.nn.Embedding):
                module.sparse = self.sparse_adam
        loss_function = self._loss(torch)
        optimizers = _adam(torch, self.network_, self.lr, self.sparse_adam)
        rng = np.random.default_rng(self.random_state)
        sampler = NegativeSampler(train, self.n_negatives, seed=self.random_state)
        users, items = train.user_index.astype(np.int64), train.item_index.astype(np.int64)
        labels = np.r_[np.ones(len(users)), np.zeros(len(users) * self.n_negatives)]
        self.network_.train()
        for _ in range(self.n_epochs):
            negatives = sampler.sample(users).reshape(-1).astype(np.int64)
            order = rng.permutation(len(labels))
            epoch_users = torch.from_numpy(np.r_[users, np.repeat(users, self.n_negatives)][order])
            epoch_items = torch.from_numpy(np.r_[items, negatives][order])
            epoch_labels = torch.from_numpy(labels[order].astype(np.float32))
            for start in range(0, len(order), self.batch_size):
                batch = slice(start, start + self.batch_size)
                for optimizer in optimizers:
                    optimizer.zero_grad()
                output = self.network_(epoch_users[batch], epoch_items[batch])
                loss_function(output, epoch_labels[batch]).backward()
                for optimizer in optimizers:
                    optimizer.step()
        self.network_.eval()

    def score_pairs(self, user_index, item_index):
        torch = _torch()
        scores = np.empty(len(user_index))
        with torch.no_grad():
            for start in range(0, len(user_index), PAIRS_PER_CHUNK):
                chunk = slice(start, start + PAIRS_PER_CHUNK)
                output = self.network_(torch.from_numpy(np.asarray(user_index[chunk], np.int64)),
                                       torch.from_numpy(np.asarray(item_index[chunk], np.int64)))
                scores[chunk] = self._probability(torch, output).double().numpy()
        return scores

    def score_items(self, user_index):
        user_index = np.asarray(user_index)
        pairs_user = np.repeat(user_index, self.n_items_)
        pairs_item = np.tile(np.arange(self.n_items_), len(user_index))
        return self.score_pairs(pairs_user, pairs_item).reshape(len(user_index), self.n_items_)


class TorchMF(_TorchPointwise):
    """p = sigmoid(w (P[u] . Q[i]) + b), BCELoss: MatrixFactorization in PyTorch."""

    def __init__(self, n_factors=16, n_epochs=10, batch_size=128, lr=0.001, n_negatives=4,
                 random_state=0, num_threads=2, sparse_adam=False):
        self.n_factors = n_factors
        self._store(n_epochs, batch_size, lr, n_negatives, random_state, num_threads, sparse_adam)

    def _network(self, torch):
        nn, n_factors = torch.nn, self.n_factors

        class SeedMF(nn.Module):
            def __init__(self, n_users, n_items):
                super().__init__()
                self.user = nn.Embedding(n_users, n_factors)
                self.item = nn.Embedding(n_items, n_factors)
                self.dense = nn.Linear(1, 1)
                for embedding in (self.user, self.item):
                    nn.init.uniform_(embedding.weight, -0.05, 0.05)
                nn.init.xavier_uniform_(self.dense.weight)
                nn.init.zeros_(self.dense.bias)

            def forward(self, users, items):
                dots = (self.user(users) * self.item(items)).sum(dim=1, keepdim=True)
                return torch.sigmoid(self.dense(dots)).squeeze(1)

        return SeedMF(self.n_users_, self.n_items_)

    def _loss(self, torch):
        return torch.nn.BCELoss()

    def _probability(self, torch, output):
        return output


class TorchNeuMF(_TorchPointwise):
    """z = [Pg[u] * Qg[i] | MLP([Pm[u] | Qm[i]])] . w + b, BCEWithLogitsLoss: NeuMF in PyTorch."""

    def __init__(self, n_factors=8, layers=(64, 32, 16, 8), n_epochs=20, batch_size=256,
                 lr=0.001, n_negatives=4, random_state=0, num_threads=2, sparse_adam=False):
        self.n_factors, self.layers = n_factors, layers
        self._store(n_epochs, batch_size, lr, n_negatives, random_state, num_threads, sparse_adam)

    def _network(self, torch):
        nn, n_factors, layers = torch.nn, self.n_factors, tuple(self.layers)

        class NeuMFModule(nn.Module):
            def __init__(self, n_users, n_items):
                super().__init__()
                self.gmf_user = nn.Embedding(n_users, n_factors)
                self.gmf_item = nn.Embedding(n_items, n_factors)
                self.mlp_user = nn.Embedding(n_users, layers[0] // 2)
                self.mlp_item = nn.Embedding(n_items, layers[0] // 2)
                tower = []
                for d_in, d_out in zip(layers[:-1], layers[1:]):
                    tower += [nn.Linear(d_in, d_out), nn.ReLU()]
                self.tower = nn.Sequential(*tower)
                self.output = nn.Linear(n_factors + layers[-1], 1)
                for embedding in (self.gmf_user, self.gmf_item, self.mlp_user, self.mlp_item):
                    nn.init.normal_(embedding.weight, 0.0, 0.01)
                for module in self.modules():
                    if isinstance(module, nn.Linear):
                        nn.init.xavier_uniform_(module.weight)
                        nn.init.zeros_(module.bias)

            def forward(self, users, items):
                gmf = self.gmf_user(users) * self.gmf_item(items)
                mlp = self.tower(torch.cat([self.mlp_user(users), self.mlp_item(items)], dim=1))
                return self.output(torch.cat([gmf, mlp], dim=1)).squeeze(1)

        return NeuMFModule(self.n_users_, self.n_items_)

    def _loss(self, torch):
        return torch.nn.BCEWithLogitsLoss()

    def _probability(self, torch, output):
        return torch.sigmoid(output)
