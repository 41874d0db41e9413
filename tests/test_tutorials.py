"""The tutorials run (fast mode) and write their figures; their notebooks are in sync (the
exercises: tests/test_exercises.py).

Every tutorials/[0-9]*.py runs as a subprocess with NANOREC_FAST=1 and its figures sent to a
temporary folder; it must exit 0 and write the PNG files listed in FIGURES. Every lesson has a
committed notebook in tutorials/notebooks/ whose cells are those jupytext generates from the script
now (tutorials/notebooks/regenerate.py, run in memory; needs jupytext, else those tests skip).
"""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIALS = Path(__file__).resolve().parent.parent / "tutorials"
SCRIPTS = sorted(TUTORIALS.glob("[0-9]*.py"))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FIGURES = {
    "01_neuron_and_activations": ["01_activations.png", "01_and_or_training.png"],
    "02_losses_and_gradient_descent": ["02_saturation.png", "02_learning_rates.png"],
    "03_backprop_by_hand": ["03_xor_decision_regions.png"],
    "04_seed_matrix_factorization": ["04_user_item_matrix.png", "04_training_loss.png",
                                     "04_cross_validation.png"],
    "05_deep_recommenders": ["05_learning_curves.png", "05_comparison.png"],
    "06_hard_problems": ["06_long_tail.png", "06_head_vs_tail.png", "06_cold_start.png",
                         "06_explanations.png", "06_privacy.png"],
    "07_vanishing_and_exploding_gradients": ["07_rnn_gradient_decay.png",
                                             "07_mse_vs_cross_entropy.png", "07_mlp_init.png"],
}
NOTEBOOKS = TUTORIALS / "notebooks"
REGENERATE = "python tutorials/notebooks/regenerate.py"


def run_tutorial(script, out_dir, *args):
    env = dict(os.environ, NANOREC_FAST="1", NANOREC_TUTORIAL_OUT=str(out_dir), MPLBACKEND="Agg")
    return subprocess.run([sys.executable, str(script), *args], cwd=TUTORIALS.parent, env=env,
                          capture_output=True, text=True, timeout=600)


def test_every_listed_tutorial_exists():
    assert {script.stem for script in SCRIPTS} >= set(FIGURES)


@pytest.mark.parametrize("script", SCRIPTS, ids=[script.stem for script in SCRIPTS])
def test_tutorial_runs_and_writes_its_figures(script, tmp_path):
    result = run_tutorial(script, tmp_path)
    assert result.returncode == 0, f"{script.name} failed:\n{result.stderr[-3000:]}"
    for name in FIGURES.get(script.stem, []):
        path = tmp_path / name
        assert path.is_file(), f"{script.name} did not write {name}"
        assert path.read_bytes()[:8] == PNG_SIGNATURE, f"{name} is not a PNG file"


def test_lesson_07_measures_gradients_within_their_bounds(tmp_path):
    result = run_tutorial(TUTORIALS / "07_vanishing_and_exploding_gradients.py", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("r_k below the bound at every k: True") == 2  # both W_h
    recorded_and_formula = re.findall(r"\|\|dL/dz\|\| (\S+) \(the formula: (\S+)\)", result.stdout)
    assert len(recorded_and_formula) == 2  # MSE and cross-entropy
    assert all(recorded == formula for recorded, formula in recorded_and_formula)


# ---------------------------------------------------------------------------------------- notebooks
@pytest.fixture(scope="module")
def regenerate():
    """tutorials/notebooks/regenerate.py as a module (skips without jupytext)."""
    pytest.importorskip("jupytext")
    spec = importlib.util.spec_from_file_location("regenerate_notebooks", NOTEBOOKS / "regenerate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cells(notebook):
    """What a notebook says, without metadata or outputs: [(cell type, source)]."""
    return [(cell.cell_type, cell.source) for cell in notebook.cells]


def test_every_notebook_has_a_lesson():
    orphans = {path.stem for path in NOTEBOOKS.glob("*.ipynb")} - {script.stem for script in SCRIPTS}
    assert not orphans, f"notebooks without a lesson script: {sorted(orphans)}"


@pytest.mark.parametrize("script", SCRIPTS, ids=[script.stem for script in SCRIPTS])
def test_notebook_has_the_cells_of_its_lesson(script, regenerate):
    import nbformat

    path = NOTEBOOKS / f"{script.stem}.ipynb"
    assert path.is_file(), f"no notebook for {script.name}: run `{REGENERATE} {script.stem}`"
    committed = nbformat.read(path, as_version=4)
    assert cells(committed) == cells(regenerate.notebook_for(script)), (
        f"tutorials/notebooks/{script.stem}.ipynb is stale (its lesson changed): run "
        f"`{REGENERATE} {script.stem}`")


def test_a_stale_notebook_is_caught(regenerate, tmp_path):
    script = tmp_path / "09_lesson.py"
    script.write_text("# %% [markdown]\n# # 09\n\n# %%\nx = 1\n", encoding="utf-8")
    before = cells(regenerate.notebook_for(script))
    script.write_text("# %% [markdown]\n# # 09\n\n# %%\nx = 2\n", encoding="utf-8")
    after = cells(regenerate.notebook_for(script))
    assert before != after
    assert [cell_type for cell_type, _ in after] == ["markdown", "code", "code"]  # setup cell first
    assert "sys.path.insert" in after[1][1] and after[2][1] == "x = 2"
