"""Interactions, datasets, splits and negative sampling."""

from nanorec.data import datasets, split
from nanorec.data.interactions import CSR, Interactions
from nanorec.data.sampling import NegativeSampler

__all__ = ["Interactions", "CSR", "NegativeSampler", "datasets", "split"]
