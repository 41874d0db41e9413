"""Metric definitions, each with its formula in the docstring."""

from nanorec.metrics.beyond_accuracy import (
    catalogue_coverage,
    gini_index,
    intra_list_diversity,
    novelty,
    recommendation_counts,
    shannon_entropy,
)
from nanorec.metrics.ranking import (
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
    "catalogue_coverage", "recommendation_counts", "gini_index", "shannon_entropy", "novelty",
    "intra_list_diversity",
]
