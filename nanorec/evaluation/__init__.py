"""Evaluation protocols: full ranking (default) or sampled, cross-validation, cold users and items,
accuracy by item popularity (head, mid, tail), and a paired bootstrap to compare two models."""

from nanorec.evaluation.cold import evaluate_cold
from nanorec.evaluation.imbalance import ImbalanceResult, evaluate_by_popularity
from nanorec.evaluation.protocols import (
    CrossValidationResult,
    EvaluationResult,
    cross_validate,
    evaluate,
)
from nanorec.evaluation.significance import BootstrapInterval, paired_bootstrap

__all__ = [
    "evaluate", "cross_validate", "EvaluationResult", "CrossValidationResult",
    "evaluate_cold", "evaluate_by_popularity", "ImbalanceResult",
    "paired_bootstrap", "BootstrapInterval",
]
