import subprocess
import sys

import numpy as np
import pytest

from nanorec import cli
from nanorec.nn.losses import MSELoss


def gradcheck_rows(output):
    table = output[output.index("Gradient check") :].splitlines()[2:]
    return [line.split() for line in table]


def test_python_m_nanorec_demo_runs_and_checks_gradients():
    done = subprocess.run(
        [sys.executable, "-m", "nanorec", "demo"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    rows = gradcheck_rows(done.stdout)
    checked = {row[0] for row in rows}
    assert {"Dense(3,", "Sigmoid", "Tanh", "ReLU", "MSELoss", "SoftmaxCrossEntropyLoss"} <= checked
    assert all(row[-1] == "PASS" for row in rows) and "FAIL" not in done.stdout
    assert "final accuracy: 100.0%" in done.stdout  # XOR


def test_demo_is_the_default_command(capsys):
    assert cli.main([]) == 0
    assert "XOR" in capsys.readouterr().out
    assert cli.main(["--seed", "1"]) == 0
    assert "Two moons" in capsys.readouterr().out


def test_a_wrong_gradient_fails_the_demo(capsys, monkeypatch):
    right = MSELoss.backward
    monkeypatch.setattr(MSELoss, "backward", lambda self: 2 * right(self))
    assert cli.main(["demo"]) == 1
    rows = {row[0]: row[-1] for row in gradcheck_rows(capsys.readouterr().out)}
    assert rows["MSELoss"] == "FAIL" and rows["Tanh"] == "PASS"


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    assert "demo" in capsys.readouterr().out


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["fly"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'fly'" in capsys.readouterr().err


def test_two_moons_are_balanced_and_seeded():
    x, y = cli._two_moons(101, noise=0.0, rng=np.random.default_rng(0))
    assert x.shape == (101, 2) and y.shape == (101, 1) and abs(int(y.sum()) - 50) <= 1
    upper = x[y[:, 0] == 0]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0, rtol=1e-6)  # unit half circle
    again, _ = cli._two_moons(101, noise=0.1, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(again, cli._two_moons(101, noise=0.1, rng=np.random.default_rng(0))[0])
