"""nanorec run with ``class = "FILE.py:Class"`` or ``"package.module:Class"`` in [[models]]: the key
is checked (exactly one of name and class, its form), a bad file, a missing class, a class that is
not a Recommender and a missing library are one line each, and a Recommender from a file beside
the experiment runs into the table, its file's SHA-256 in the record."""

import hashlib
import json
import sys

import pytest

from nanorec import cli
from nanorec.evaluation.experiment import parse_experiment

TEMPLATE = """
data = "synthetic:40x30x600"
metrics = ["hr@5", "ndcg@5"]
seeds = [0, 1]
baseline = "Popularity"

[split]
protocol = "loo"

[[models]]
name = "popularity"
label = "Popularity"

[[models]]
{model}
label = "peer"
"""

# a trivial Recommender that imports a module beside it, as a script would
PEER = """
import numpy as np

from nanorec.models.base import Recommender
from helper import jitter


class NoisyPopularity(Recommender):
    def __init__(self, scale=0.5, random_state=0):
        self.scale, self.random_state = scale, random_state

    def _fit(self, train, valid):
        counts = jitter(self.train_csr_.indices, self.n_items_)
        rng = np.random.default_rng(self.random_state)
        self.item_scores_ = counts + self.scale * rng.random(self.n_items_)

    def score_items(self, user_index):
        return np.tile(self.item_scores_, (len(user_index), 1))


class NotARecommender:
    pass


def a_function():
    pass
"""
HELPER = """
import numpy as np


def jitter(items, n_items):
    return np.bincount(items, minlength=n_items).astype(float)
"""


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """tmp_path with peer.py and helper.py; sys.path restored after the test (a file's folder
    goes on it)."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "peer.py").write_text(PEER)
    (tmp_path / "helper.py").write_text(HELPER)
    return tmp_path


def run_file(capsys, folder, model):
    """(exit code, stdout, stderr, the JSON record or None) of nanorec run on TEMPLATE."""
    path = folder / "experiment.toml"
    path.write_text(TEMPLATE.format(model=model))
    out_path = folder / "out.json"
    code = cli.main(["run", str(path), "--out", str(out_path)])
    out, err = capsys.readouterr()
    record = json.loads(out_path.read_text()) if out_path.exists() else None
    return code, out, err, record


def one_error_line(err):
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nanorec: error: "), err
    return lines[0]


# ---------------------------------------------------------------------- the key
@pytest.mark.parametrize("model, message", [
    ('name = "bpr"\nclass = "peer.py:NoisyPopularity"', "exactly one of 'name'"),
    ('params = { k = 5 }', "exactly one of 'name'"),
    ('class = "peer.py"', "must be \"FILE.py:Class\""),
    ('class = "peer.py:"', "must be \"FILE.py:Class\""),
    ('class = "peer.py:Noisy-Popularity"', "must be \"FILE.py:Class\""),
    ('class = "some/folder:NoisyPopularity"', "must be \"FILE.py:Class\""),
    ('class = ":NoisyPopularity"', "must be \"FILE.py:Class\""),
    ("class = 3", "must be a non-empty string"),
])
def test_the_class_key_is_checked_when_the_file_is_read(model, message):
    with pytest.raises(ValueError, match="^x.toml: models\\[2\\]") as error:
        parse_experiment(TEMPLATE.format(model=model), source="x.toml")
    assert message in str(error.value)


def test_a_class_spec_is_parsed_into_its_module_and_class():
    experiment = parse_experiment(TEMPLATE.format(model='class = "../peers.py:ImplicitBPR"'))
    spec = experiment.models[1]
    assert spec.name is None and spec.model_class == "../peers.py:ImplicitBPR"
    assert spec.model == "../peers.py:ImplicitBPR"
    assert spec.class_parts() == ("../peers.py", "ImplicitBPR")
    spec = parse_experiment(TEMPLATE.format(model='class = "nanorec.models:BPRMF"')).models[1]
    assert spec.class_parts() == ("nanorec.models", "BPRMF")


# ---------------------------------------------------------------------- loading it
@pytest.mark.parametrize("model, fragments", [
    ('class = "missing.py:NoisyPopularity"', ["model 'peer'", "no file", "missing.py"]),
    ('class = "peer.py:Missing"', ["peer.py defines no class Missing"]),
    ('class = "peer.py:a_function"', ["peer.py defines no class a_function"]),
    ('class = "peer.py:NotARecommender"', ["NotARecommender is not a nanorec Recommender"]),
    ('class = "no_such_package_xyz.models:Peer"',
     ["cannot import no_such_package_xyz.models", "No module named"]),
    ('class = "broken.py:Peer"', ["broken.py, line 2 failed to load: SyntaxError"]),
    ('class = "needy.py:Needy"',
     ["model 'peer'", "Needy needs the module no_such_library_xyz", "pip install no-such-lib"]),
])
def test_a_class_that_cannot_run_is_one_line_before_the_data_is_read(capsys, folder, model,
                                                                     fragments):
    (folder / "broken.py").write_text("x = 1\nclass Peer(:\n")
    (folder / "needy.py").write_text(
        "from peer import NoisyPopularity\n\n\nclass Needy(NoisyPopularity):\n"
        "    requires = {'no_such_library_xyz': 'no-such-lib'}\n")
    code, out, err, record = run_file(capsys, folder, model)
    assert code == 1 and record is None
    line = one_error_line(err)
    assert str(folder / "experiment.toml") in line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    assert "data sha256" not in out  # refused before the data was read


# ---------------------------------------------------------------------- running it
def test_a_recommender_from_a_file_beside_the_experiment_runs_into_the_table(capsys, folder):
    code, out, err, record = run_file(
        capsys, folder, 'class = "peer.py:NoisyPopularity"\nparams = { scale = 0.0 }')
    assert code == 0, err
    sha256 = hashlib.sha256((folder / "peer.py").read_bytes()).hexdigest()
    assert f"class       peer: peer.py:NoisyPopularity, sha256 {sha256}" in out
    assert "| peer | " in out and "| Popularity (baseline) | " in out
    assert record["classes"] == {"peer": {"class": "peer.py:NoisyPopularity",
                                          "file": str(folder / "peer.py"), "sha256": sha256}}
    (peer,) = [model for model in record["results"]["models"] if model["label"] == "peer"]
    assert peer["class"] == "peer.py:NoisyPopularity" and "name" not in peer
    assert peer["seeds"] == [0, 1]  # it has random_state: one fit per seed
    assert peer["params"] == [{"scale": 0.0}]
    # no noise: it ranks as popularity does
    assert peer["mean"]["hr@5"] == pytest.approx(
        record["results"]["models"][0]["mean"]["hr@5"])

    # the code changed: the rerun runs the new code and records its hash
    (folder / "peer.py").write_text(PEER.replace("counts + self.scale", "-counts + self.scale"))
    code, _, err, changed = run_file(
        capsys, folder, 'class = "peer.py:NoisyPopularity"\nparams = { scale = 0.0 }')
    assert code == 0, err
    assert changed["classes"]["peer"]["sha256"] != sha256
    (peer,) = [model for model in changed["results"]["models"] if model["label"] == "peer"]
    assert peer["mean"]["hr@5"] < record["results"]["models"][0]["mean"]["hr@5"]


def test_an_importable_class_runs_by_its_module_name(capsys, folder):
    code, out, err, record = run_file(capsys, folder,
                                      'class = "nanorec.models.knn:ItemKNN"\nparams = { k = 5 }')
    assert code == 0, err
    assert record["classes"] == {"peer": {"class": "nanorec.models.knn:ItemKNN"}}
    assert "| peer | " in out


def test_a_parameter_the_class_does_not_take_is_refused_before_fitting(capsys, folder):
    code, _, err, record = run_file(capsys, folder,
                                    'class = "peer.py:NoisyPopularity"\nparams = { scal = 1 }')
    assert code == 1 and record is None
    assert "unknown parameter 'scal' for NoisyPopularity" in one_error_line(err)
