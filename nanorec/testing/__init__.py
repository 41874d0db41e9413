"""Tools to verify gradients and models: gradcheck, model certificates (verify_model), and
hypothesis strategies in nanorec.testing.strategies."""

from nanorec.testing.gradcheck import GradcheckReport, GradcheckRow, gradcheck, miss_probability
from nanorec.testing.verify import Certificate, verify_all, verify_model

__all__ = ["gradcheck", "GradcheckReport", "GradcheckRow", "miss_probability", "verify_model",
           "verify_all", "Certificate"]
