"""The backprop exercises and their grader (nanorec.testing.exercises, ``nanorec exercise``).

Every blank file is graded "todo" (exit 1) and every reference solution "pass" (exit 0); wrong
backward passes, made by editing a solution's text, are graded wrong at the entry where they are
wrong; files that cannot be graded give one line. Most cases call ``check`` or ``cli.main`` in
this process; two run ``python -m nanorec`` for the real exit status.
"""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanorec import cli
from nanorec.testing import diagnose
from nanorec.testing.exercises import (
    EXERCISES,
    _gradient_name,
    _load,
    check,
    student_copy,
)

ROOT = Path(__file__).resolve().parents[1]
BLANKS, SOLUTIONS = ROOT / "tutorials" / "exercises", ROOT / "tutorials" / "solutions"
NAMES = list(EXERCISES)


def run(capsys, *argv):
    """(exit code, stdout, stderr) of ``nanorec argv...`` in this process."""
    try:
        code = cli.main([str(arg) for arg in argv])
    except SystemExit as exit_info:
        code = exit_info.code
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err, *fragments):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nanorec: error: "), err
    assert all(fragment in lines[0] for fragment in fragments), err


def edited(tmp_path, name, *replacements):
    """A copy of the solution of ``name`` with each (old, new) text replaced (old must occur)."""
    source = (SOLUTIONS / f"{name}.py").read_text()
    for old, new in replacements:
        assert old in source, old
        source = source.replace(old, new)
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    return path


def verdicts_of(result):
    return {(verdict.case, verdict.gradient): verdict for verdict in result.verdicts}


# ----------------------------------------------------------------------------- every exercise
@pytest.mark.parametrize("name", NAMES)
def test_the_blank_file_is_todo_and_the_solution_passes(name):
    blank = check(name, BLANKS / f"{name}.py")
    assert blank.status == "todo" and not blank.passed
    assert blank.verdicts and {verdict.status for verdict in blank.verdicts} == {"todo"}
    assert all("TODO: write" in verdict.detail for verdict in blank.verdicts)
    solution = check(name, SOLUTIONS / f"{name}.py")
    assert solution.status == "pass", str(solution)
    assert len(solution.verdicts) == len(blank.verdicts)  # the todo lists every gradient
    assert max(verdict.rel_error for verdict in solution.verdicts) < 1e-7


def test_each_folder_holds_exactly_the_exercises():
    assert {path.stem for path in BLANKS.glob("*.py")} == set(EXERCISES)
    assert {path.stem for path in SOLUTIONS.glob("*.py")} == set(EXERCISES)
    readme = (BLANKS / "README.md").read_text()
    assert all(f"| `{name}` |" in readme for name in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_the_students_file_is_the_solution_with_its_backward_blanked(name):
    solution = (SOLUTIONS / f"{name}.py").read_text()
    blank = (BLANKS / f"{name}.py").read_text()
    assert blank == student_copy(solution)
    assert "BEGIN SOLUTION" not in blank and "NotImplementedError(\"TODO: write" in blank
    assert f"nanorec exercise check {name}\n" in blank  # says how to check it


@pytest.mark.parametrize("name", NAMES)
def test_the_students_file_imports_only_numpy_and_the_protocols(name):
    """No engine layer of the same kind (nor any other) hands the student the answer."""
    tree = ast.parse((BLANKS / f"{name}.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.update(f"{node.module}.{alias.name}" for alias in node.names)
    assert imported <= {"numpy", "nanorec.nn.base.Layer", "nanorec.nn.losses.Loss"}, imported


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_every_solution_passes_on_any_seed(seed):
    """The problems stay away from kinks and ties, whatever the seed draws."""
    for name in NAMES:
        result = check(name, SOLUTIONS / f"{name}.py", seed=seed)
        assert result.passed, str(result)


def problem(name, position=0, seed=0):
    """The target (built from the solution's class) and inputs check uses for a case."""
    case = EXERCISES[name].cases[position]
    cls = getattr(_load(SOLUTIONS / f"{name}.py", name), case.class_name)
    return case.build(cls, np.random.default_rng((seed, position)))


def test_the_problems_hold_what_makes_the_classic_bugs_show():
    dense, (x,) = problem("dense")
    assert len({len(x), *dense.params["W"].shape}) == 3  # N, D_in, D_out all different
    rnn, (x,) = problem("rnn")
    assert x.shape[1] >= 3 and x.shape[2] != rnn.params["W_h"].shape[0]  # T steps; D != H
    dropout, (x,) = problem("dropout")
    kept = dropout.forward(x) != 0
    assert 0 < kept.sum() < kept.size
    _, (ids,) = problem("embedding")
    assert len(np.unique(ids)) < len(ids)
    _, ((users, items, labels),) = problem("mf_network")
    assert len(np.unique(users)) < len(users) and len(np.unique(items)) < len(items)
    assert set(labels) == {0, 1}
    _, (z, _) = problem("softmax_cross_entropy")
    with np.errstate(over="ignore"):
        assert not np.all(np.isfinite(np.exp(z)))  # an unshifted softmax overflows


# ----------------------------------------------------------------------------- wrong answers
def test_a_bias_not_summed_is_wrong_at_its_worst_entry(tmp_path):
    path = edited(tmp_path, "dense", ('self.grads["b"] += dy.sum(axis=0)',
                                      'self.grads["b"] += dy.mean(axis=0)'))
    result = check("dense", path)
    verdicts = verdicts_of(result)
    assert result.status == "fail" and not result.passed
    assert verdicts["Dense", "dW"].status == verdicts["Dense", "dx"].status == "right"
    db = verdicts["Dense", "db"]
    assert db.status == "wrong" and db.rel_error > 0.1 and len(db.worst) == 1
    assert db.yours == pytest.approx(db.expected / 5)  # the mean over N = 5 rows, not their sum
    assert f"worst entry db[{db.worst[0]}]" in str(result)


def test_transposed_gradients_are_caught_by_their_shapes(tmp_path):
    """D_in != D_out: a transposed dW cannot even be added into grads (the error names the
    student's line), and a transposed dx is wrong for its shape."""
    path = edited(tmp_path, "dense", ('self.grads["W"] += x.T @ dy', 'self.grads["W"] += dy.T @ x'))
    verdicts = check("dense", path).verdicts
    assert {verdict.status for verdict in verdicts} == {"error"}
    assert "(3,4)" in verdicts[0].detail and "of dense.py)" in verdicts[0].detail
    path = edited(tmp_path, "dense", ('return dy @ self.params["W"].T',
                                      'return (dy @ self.params["W"].T).T'))
    dx = verdicts_of(check("dense", path))["Dense", "dx"]
    assert dx.status == "wrong" and dx.worst is None and dx.rel_error == np.inf
    assert "(3, 5)" in dx.detail and "(5, 3)" in dx.detail


def test_one_wrong_entry_is_found(tmp_path):
    path = edited(tmp_path, "two_layer_network",
                  ('self.grads["W1"] += x.T @ da1',
                   'self.grads["W1"] += x.T @ da1\n        self.grads["W1"][2, 1] += 0.5'))
    result = check("two_layer_network", path)
    wrong = [verdict for verdict in result.verdicts if verdict.status != "right"]
    assert [verdict.gradient for verdict in wrong] == ["dW1"]
    assert wrong[0].worst == (2, 1) and wrong[0].yours - wrong[0].expected == pytest.approx(0.5)


@pytest.mark.parametrize("name, replacement, gradient, suspect", [
    ("embedding", ('np.add.at(self.grads["W"], ids, dy)', 'self.grads["W"][ids] += dy'), "dW",
     "repeated_ids_dropped"),
    ("rnn", ("for t in range(x.shape[1], 0, -1):", "for t in range(x.shape[1], 1, -1):"), "dx",
     "bptt_off_by_one"),
    ("rnn", ("states[:, t - 1].T @ da", "states[:, t].T @ da"), "dW_h", None),
    ("dropout", ("return dy * scaled_mask",
                 "return dy * (self.rng.random(dy.shape) >= self.p) / (1 - self.p)"), "dx",
     "fresh_dropout_mask"),
    ("softmax_cross_entropy", ("dz = np.exp(log_softmax(z))",
                               "dz = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)"), "dz",
     "softmax_overflow"),
    ("activations", ("return dy * (x > 0)", "return dy * (x > 0) + dy * (x <= 0)"), "dx",
     "relu_negative_slope"),
    ("mf_network", ("dz = dL * (p - y) / len(p)", "dz = (p - y) / len(p)"), "dP", None),
])
def test_classic_bugs_are_wrong_and_named_when_recognised(tmp_path, name, replacement, gradient,
                                                          suspect):
    result = check(name, edited(tmp_path, name, replacement))
    wrong = {verdict.gradient: verdict for verdict in result.verdicts if verdict.status == "wrong"}
    assert gradient in wrong and result.status == "fail", str(result)
    if suspect:
        assert wrong[gradient].suspect == suspect, str(result)


def test_a_gradient_assigned_instead_of_added_is_wrong_by_the_accumulation_check(tmp_path):
    """Finite differences alone pass an = where += belongs; the verdict says which check failed."""
    path = edited(tmp_path, "dense", ('self.grads["W"] += x.T @ dy', 'self.grads["W"] = x.T @ dy'))
    result = check("dense", path)
    dW = verdicts_of(result)["Dense", "dW"]
    assert (dW.status, dW.check, dW.suspect) == ("wrong", "accumulation", "overwritten")
    assert dW.expected == pytest.approx(2 * dW.yours)  # two passes should double one pass
    assert "two backward passes" in str(result) and "expected" in str(result)
    assert [verdict.status for verdict in result.verdicts] == ["right", "wrong", "right"]


def test_repeated_ids_dropped_are_named(tmp_path):
    path = edited(tmp_path, "embedding", ('np.add.at(self.grads["W"], ids, dy)',
                                          'self.grads["W"][ids] += dy'))
    (dW,) = check("embedding", path).verdicts
    assert (dW.status, dW.check) == ("wrong", "finite difference")
    assert dW.suspect == "repeated_ids_dropped"
    assert dW.hint


def test_the_likely_bug_class_is_reported_when_the_diagnosis_names_one(tmp_path, monkeypatch):
    """Whatever detectors nanorec.testing.diagnose holds, a named class and its hint reach the
    verdict, its JSON and its report."""
    def says_transposed(failed):
        return "your dW looks transposed" if failed.name == "param W" else None

    monkeypatch.setattr(diagnose, "DETECTORS", [("transposed", says_transposed)])
    path = edited(tmp_path, "dense", ('self.grads["W"] += x.T @ dy',
                                      'self.grads["W"] += 2 * x.T @ dy'))
    result = check("dense", path)
    dW = verdicts_of(result)["Dense", "dW"]
    assert (dW.suspect, dW.hint) == ("transposed", "your dW looks transposed")
    assert dW.as_dict()["suspect"] == "transposed"
    assert diagnose.BUG_CLASSES["transposed"] in str(result) and dW.hint in str(result)


def test_an_exception_in_the_students_backward_names_its_line(tmp_path):
    path = edited(tmp_path, "dot", ("return dy * b, dy * a", "return dy @ b, dy * a"))
    verdicts = check("dot", path).verdicts
    assert {verdict.status for verdict in verdicts} == {"error"}
    line = next(number for number, text in enumerate(path.read_text().splitlines(), 1)
                if "dy @ b" in text)
    assert "ValueError" in verdicts[0].detail and f"(line {line} of dot.py)" in verdicts[0].detail


def test_a_half_done_file_is_todo_where_it_is_blank(tmp_path):
    source = (BLANKS / "activations.py").read_text().replace(
        'raise NotImplementedError("TODO: write Tanh.backward")', "return dy * (1 - y**2)")
    path = tmp_path / "activations.py"
    path.write_text(source)
    result = check("activations", path)
    assert [verdict.status for verdict in result.verdicts] == ["todo", "right", "todo", "todo"]
    assert result.status == "todo" and "1 of 4 gradients right, 3 still to do" in str(result)


# ----------------------------------------------------------------------------- ungradable files
@pytest.mark.parametrize("source, message", [
    (None, "no file"),
    ("def broken(:\n    pass\n", "syntax error in"),
    ("import numpy_that_is_not_there\n", "failed to load: ModuleNotFoundError"),
    ("import numpy as np\n", "defines no class Dense"),
    ("class Dense:\n    pass\n", "Dense in"),
])
def test_a_file_that_cannot_be_graded_says_why(tmp_path, source, message):
    path = tmp_path / "dense.py"
    if source is not None:
        path.write_text(source)
    result = check("dense", path)
    assert result.status == "error" and not result.passed and result.verdicts == []
    assert message in result.message and "\n" not in result.message
    if source and source.startswith("def broken"):
        assert "line 1" in result.message
    if source and source.startswith("class Dense"):
        assert "must subclass nanorec.nn.base.Layer" in result.message


def test_an_unknown_exercise_is_a_value_error():
    with pytest.raises(ValueError, match="unknown exercise 'densee'"):
        check("densee", BLANKS / "dense.py")


def test_row_names_become_the_students_gradient_names():
    assert _gradient_name("input", ("dx",)) == "dx"
    assert _gradient_name("input 1", ("da", "db")) == "db"
    assert _gradient_name("param W_h", ("dx",)) == "dW_h"
    assert _gradient_name("input 2", ("da", "db")) == "input 2"


@settings(max_examples=30, deadline=None)
@given(text=st.text(st.characters(blacklist_categories=("Cs",)), max_size=200))
def test_student_copy_leaves_a_file_without_solution_blocks_alone(text):
    if "SOLUTION" not in text:
        assert student_copy(text) == text


def test_student_copy_blanks_named_blocks_and_drops_unnamed_ones():
    source = ("a = 1\n# BEGIN SOLUTION\n# notes\n# END SOLUTION\n"
              "def f():\n    # BEGIN SOLUTION: f\n    return 2\n    # END SOLUTION\n")
    assert student_copy(source) == ('a = 1\ndef f():\n'
                                    '    raise NotImplementedError("TODO: write f")\n')
    for broken in ("# BEGIN SOLUTION: f\n", "# END SOLUTION\n",
                   "# BEGIN SOLUTION: f\n# BEGIN SOLUTION: g\n# END SOLUTION\n"):
        with pytest.raises(ValueError, match="SOLUTION"):
            student_copy(broken)


# ----------------------------------------------------------------------------- the command
def test_list_names_every_exercise_in_course_order(capsys):
    code, out, _ = run(capsys, "exercise", "list")
    assert code == 0
    listed = [line.split()[0] for line in out.splitlines()[2:]]
    assert listed == NAMES


def test_check_exit_status_and_json_round_trip(capsys, tmp_path):
    code, out, _ = run(capsys, "exercise", "check", "dense", SOLUTIONS / "dense.py")
    assert code == 0 and "3 of 3 gradients right: PASS" in out
    code, out, _ = run(capsys, "exercise", "check", "dense", BLANKS / "dense.py")
    assert code == 1 and "3 still to do" in out
    wrong = edited(tmp_path, "dense", ('return dy @ self.params["W"].T',
                                       'return (dy @ self.params["W"].T).T'))
    code, out, _ = run(capsys, "exercise", "check", "dense", wrong, "--json")
    assert code == 1
    parsed = json.loads(out)  # strict JSON: the shape error's infinite error is null
    assert parsed == check("dense", wrong).as_dict()
    assert parsed["status"] == "fail" and parsed["right"] == 2 and parsed["gradients"] == 3
    dx = next(verdict for verdict in parsed["verdicts"] if verdict["gradient"] == "dx")
    assert dx["status"] == "wrong" and dx["rel_error"] is None and "(5, 3)" in dx["detail"]


def test_check_errors_are_one_line(capsys, tmp_path):
    code, out, err = run(capsys, "exercise", "check", "densee")
    assert code == 2 and out == ""
    one_line(err, "unknown exercise 'densee'", "mf_network")
    code, _, err = run(capsys, "exercise", "check", "dense", tmp_path / "gone.py")
    assert code == 1
    one_line(err, "no file", "gone.py")
    code, out, err = run(capsys, "exercise", "check", "dense", tmp_path / "gone.py", "--json")
    assert code == 1 and json.loads(out)["status"] == "error" and err == ""
    code, _, err = run(capsys, "exercise")
    assert code == 2
    one_line(err, "ACTION")


@pytest.mark.parametrize("source, expected_code", [("solutions", 0), ("exercises", 1)])
def test_the_command_grades_the_default_file_under_the_current_folder(tmp_path, source,
                                                                       expected_code):
    folder = tmp_path / "tutorials" / "exercises"
    folder.mkdir(parents=True)
    (folder / "rnn.py").write_text((ROOT / "tutorials" / source / "rnn.py").read_text())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "nanorec", "exercise", "check", "rnn"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == expected_code, done.stderr
    assert "exercise rnn (tutorials/exercises/rnn.py)" in done.stdout and done.stderr == ""
