"""The tutorials run (fast mode) and write their figures (the exercises: tests/test_exercises.py).

Every tutorials/[0-9]*.py runs as a subprocess with NANOREC_FAST=1 and its figures sent to a
temporary folder; it must exit 0 and write the PNG files listed in FIGURES.
"""

import os
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
}


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
