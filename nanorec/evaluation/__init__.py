"""Evaluation protocols: full ranking (default) or sampled, and cross-validation."""

from nanorec.evaluation.protocols import (
    CrossValidationResult,
    EvaluationResult,
    cross_validate,
    evaluate,
)

__all__ = ["evaluate", "cross_validate", "EvaluationResult", "CrossValidationResult"]
