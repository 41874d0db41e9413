"""Write the notebook of every lesson (or of the lessons named) from its script, with jupytext.

    python tutorials/notebooks/regenerate.py                   # every tutorials/[0-9]*.py
    python tutorials/notebooks/regenerate.py 07 02_losses      # the lessons whose names start so

The scripts in tutorials/ are the source; tutorials/notebooks/NN_name.ipynb is generated from
NN_name.py: the same cells (``# %%`` code, ``# %% [markdown]`` prose), no outputs, plus one first
code cell that puts tutorials/ on sys.path, because a notebook's kernel starts in the notebook's
own folder and the lessons import their helpers (``_common.py``) from tutorials/. Cell ids are
numbered so that regenerating an unchanged lesson rewrites the same file. tests/test_tutorials.py
regenerates every notebook in memory and fails on a stale one. Needs jupytext
(``pip install -e ".[tutorials]"``).
"""

import sys
from pathlib import Path

import jupytext
import nbformat

NOTEBOOKS = Path(__file__).resolve().parent
TUTORIALS = NOTEBOOKS.parent
SETUP_SOURCE = """\
# The lessons' helpers (_common.py) live in tutorials/, one folder up from this notebook.
import sys
from pathlib import Path

sys.path.insert(0, str(Path.cwd().parent))"""


def lessons():
    """The lesson scripts, tutorials/[0-9]*.py, in order."""
    return sorted(TUTORIALS.glob("[0-9]*.py"))


def notebook_path(script):
    """Where the notebook of a lesson script is committed."""
    return NOTEBOOKS / f"{Path(script).stem}.ipynb"


def notebook_for(script):
    """The notebook (an nbformat NotebookNode) generated from a lesson script."""
    notebook = jupytext.read(script, fmt="py:percent")
    notebook.metadata.pop("jupytext", None)  # a plain notebook, not paired with a .py beside it
    first_code = next((i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"),
                      len(notebook.cells))
    notebook.cells.insert(first_code, nbformat.v4.new_code_cell(SETUP_SOURCE))
    for number, cell in enumerate(notebook.cells):
        cell.id = f"cell-{number}"
    return notebook


def main(prefixes):
    scripts = [script for script in lessons()
               if not prefixes or any(script.stem.startswith(prefix) for prefix in prefixes)]
    if not scripts:
        raise SystemExit(f"no lesson in {TUTORIALS} starts with any of {prefixes}")
    for script in scripts:
        nbformat.write(notebook_for(script), notebook_path(script))
        print(f"wrote {notebook_path(script).relative_to(TUTORIALS.parent)}")


if __name__ == "__main__":
    main(sys.argv[1:])
