"""Optimizers; each update rule is a Numba kernel in kernels.py beside its NumPy twin."""

from nanorec.optim.optimizers import SGD, Adagrad, Adam, Optimizer

__all__ = ["Optimizer", "SGD", "Adam", "Adagrad"]
