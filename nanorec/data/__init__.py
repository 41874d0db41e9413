"""Interactions, datasets, splits, negative sampling and side features."""

from nanorec.data import datasets, split
from nanorec.data.features import FeaturePipeline, attach_features
from nanorec.data.interactions import CSR, Interactions

__all__ = ["Interactions", "CSR", "NegativeSampler", "FeaturePipeline", "attach_features",
           "datasets", "split"]


def __getattr__(name):
    """NegativeSampler on first use: its Numba kernels make ``import nanorec`` 0.3 s slower."""
    if name == "NegativeSampler":
        from nanorec.data.sampling import NegativeSampler

        return NegativeSampler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
