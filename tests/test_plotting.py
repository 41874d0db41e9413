import sys

import numpy as np
import pytest

from nanorec.plotting import check_history, plot_history

pytest.importorskip("matplotlib")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_plot_history_writes_a_png_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "curve.png"
    history = {"loss": [0.9, 0.6, 0.5], "valid_hr@10": [0.1, 0.2, 0.25]}
    assert plot_history(history, path, title="BPRMF") == str(path)
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert [p.name for p in tmp_path.iterdir()] == ["curve.png"]


def test_the_extension_picks_the_format(tmp_path):
    plot_history({"loss": [1.0]}, tmp_path / "curve.svg")
    assert b"<svg" in (tmp_path / "curve.svg").read_bytes()[:500]


def test_an_existing_file_is_replaced_whole(tmp_path):
    path = tmp_path / "curve.png"
    path.write_bytes(b"old contents")
    plot_history({"loss": np.linspace(1, 0.1, 40)}, path)
    assert path.read_bytes()[:8] == PNG_SIGNATURE


@pytest.mark.parametrize("history, fragment", [
    ([0.5, 0.4], "must be a dict"),
    ({"valid_rmse": [1.0]}, "no 'loss' curve"),
    ({"loss": []}, "non-empty"),
    ({"loss": [[1.0, 2.0]]}, "non-empty list of numbers"),
    ({"loss": ["high", "low"]}, "list of numbers"),
    ({"loss": [1.0, float("nan")]}, "NaN or infinite"),
    ({"loss": [1.0, 0.5], "valid_rmse": [1.0]}, "differ in length"),
])
def test_a_bad_history_is_refused_and_nothing_is_written(tmp_path, history, fragment):
    with pytest.raises(ValueError, match=fragment):
        plot_history(history, tmp_path / "curve.png")
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_extension_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"extension must be one of .*\.png"):
        plot_history({"loss": [1.0]}, tmp_path / "curve.bmpx")
    assert list(tmp_path.iterdir()) == []


def test_check_history_puts_the_loss_first():
    curves = check_history({"valid_rmse": (1.2, 1.1), "loss": (3, 2)})
    assert list(curves) == ["loss", "valid_rmse"]
    assert curves["loss"].dtype == np.float64


def test_missing_matplotlib_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails as if not installed
    with pytest.raises(ImportError, match=r'pip install "nanorec\[plot\]"'):
        plot_history({"loss": [1.0]}, tmp_path / "curve.png")
