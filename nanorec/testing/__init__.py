"""Tools to verify gradients: gradcheck here, hypothesis strategies in nanorec.testing.strategies."""

from nanorec.testing.gradcheck import GradcheckReport, gradcheck

__all__ = ["gradcheck", "GradcheckReport"]
