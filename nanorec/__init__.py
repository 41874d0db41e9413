"""nanorec: a from-scratch, autograd-free neural-network engine and the recommenders built from it.

    nanorec.nn          layers, activations, losses (forward + hand-written backward)
    nanorec.optim       SGD, Adam, Adagrad (Numba kernels beside NumPy twins)
    nanorec.training    fit(model, loss, optimizer, x, y): the plain training loop
    nanorec.gradcheck   finite-difference check of any layer, loss or function
    nanorec.data        Interactions; nanorec.datasets.load(...); nanorec.split.*
    nanorec.evaluation  evaluate, cross_validate;  nanorec.metrics
    nanorec.models      the recommenders
"""

from nanorec.data import datasets, split
from nanorec.testing.gradcheck import gradcheck

__version__ = "0.1.0"
__all__ = ["gradcheck", "datasets", "split", "__version__"]
