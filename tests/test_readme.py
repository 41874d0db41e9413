"""The README's Python examples run as written."""

import re
from pathlib import Path

import pytest

from nanorec.models import REGISTRY

README = Path(__file__).resolve().parents[1] / "README.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_examples():
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize("code", EXAMPLES, ids=[f"example{i}" for i in range(len(EXAMPLES))])
def test_readme_example_runs(code, capsys):
    registered = dict(REGISTRY)  # the "Add a model" example registers a model: take it back out
    try:
        exec(compile(code, str(README), "exec"), {"__name__": "readme"})
    finally:
        REGISTRY.clear()
        REGISTRY.update(registered)
    assert capsys.readouterr().out.strip()  # every example prints what it shows
