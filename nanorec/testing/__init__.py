"""Tools to verify gradients and models: gradcheck, model certificates (verify_model), hypothesis
strategies (nanorec.testing.strategies), the bug classes gradcheck names (nanorec.testing.diagnose),
the bug zoo that measures it (nanorec.testing.zoo), and the backprop exercises' checker
(nanorec.testing.exercises)."""

from nanorec.testing.gradcheck import GradcheckReport, GradcheckRow, gradcheck, miss_probability
from nanorec.testing.verify import Certificate, verify_all, verify_model

__all__ = ["gradcheck", "GradcheckReport", "GradcheckRow", "miss_probability", "verify_model",
           "verify_all", "Certificate"]
