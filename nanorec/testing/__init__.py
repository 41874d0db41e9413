"""Tools to verify gradients and models: gradcheck, model certificates (verify_model), and
hypothesis strategies in nanorec.testing.strategies."""

from nanorec.testing.gradcheck import GradcheckReport, gradcheck
from nanorec.testing.verify import Certificate, verify_all, verify_model

__all__ = ["gradcheck", "GradcheckReport", "verify_model", "verify_all", "Certificate"]
