"""Metric definitions, each with its formula in the docstring."""

from nanorec.metrics.ranking import (
    catalogue_coverage,
    hit_rate_at_k,
    map_at_k,
    mrr,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
)
from nanorec.metrics.rating import accuracy, auc, mae, rmse

__all__ = [
    "rmse", "mae", "accuracy", "auc",
    "precision_at_k", "recall_at_k", "hit_rate_at_k", "ndcg_at_k", "mrr", "map_at_k",
    "catalogue_coverage",
]
