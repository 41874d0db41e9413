"""Hypothesis profiles for the whole suite.

"fixed" (the default): every run draws the same examples (derandomize=True), so a clean clone in
CI runs exactly the cases that passed here, and a failure is reproducible by rerunning.
"explore": fresh random examples on every run, to hunt for new failures:

    NANOREC_HYPOTHESIS=explore python -m pytest -q
"""

import os

from hypothesis import settings

settings.register_profile("fixed", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("NANOREC_HYPOTHESIS", "fixed"))
