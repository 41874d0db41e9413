"""The nanorec command: each subcommand on tiny data, the train -> evaluate -> recommend round trip
through a saved file, and every bad input as one stderr line with a non-zero exit code.

Most cases call ``cli.main`` in this process (the same code path as the console script, minus
the interpreter start-up); a few run ``python -m nanorec`` in a subprocess to see what a user sees.
"""

import io
import json
import subprocess
import sys
import zipfile
from urllib.error import URLError

import numpy as np
import pytest

import nanorec.privacy  # noqa: F401  (registers dp-biased-mf and federated-mf, as the CLI does)
from nanorec import cli
from nanorec.cli import demo, gradchecks
from nanorec.data import datasets
from nanorec.models import REGISTRY, NetworkRecommender, Popularity
from nanorec.models.base import Recommender
from nanorec.nn.losses import MSELoss
from nanorec.testing.verify import CHECKS
from nanorec.training import EpochDisplay, run_epochs

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run(capsys, *argv):
    """(exit code, stdout, stderr) of ``nanorec argv...`` run in this process."""
    try:
        code = cli.main([str(arg) for arg in argv])
    except SystemExit as exit_info:  # argparse: --help, usage errors
        code = exit_info.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(err, *fragments):
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nanorec: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def write_csv(path, data, string_users=False):
    """data as a CSV with a header user,item,rating,timestamp (users as "u<id>" if asked)."""
    users = data.user_ids[data.user_index]
    lines = ["user,item,rating,timestamp"] + [
        f"{'u' if string_users else ''}{u},{i},{r:g},{t}"
        for u, i, r, t in zip(users, data.item_ids[data.item_index], data.ratings, data.timestamps)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def tiny():
    return datasets.load("synthetic", n_users=40, n_items=30, n_interactions=600, seed=1)


@pytest.fixture
def csv_file(tmp_path, tiny):
    return write_csv(tmp_path / "log.csv", tiny)


# ---------------------------------------------------------------------- the round trip
def test_train_evaluate_recommend_round_trip_in_a_subprocess(tmp_path, csv_file):
    model_file = tmp_path / "bpr.npz"
    script = [sys.executable, "-m", "nanorec"]
    steps = [
        ["train", "bpr", "--data", csv_file, "--epochs", "3", "--save", model_file],
        ["evaluate", model_file, "-k", "5"],
        ["recommend", model_file, "--user", "7", "-k", "3", "--explain"],
    ]
    outputs = []
    for step in steps:
        done = subprocess.run(script + [str(arg) for arg in step], capture_output=True, text=True,
                              timeout=120, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    trained, evaluated, recommended = outputs
    assert "epoch 3/3  loss" in trained and f"saved to {model_file}" in trained
    assert "leave-last-out" in evaluated
    values = {line.split()[0]: float(line.split()[1]) for line in evaluated.splitlines()[2:]}
    assert set(values) == {"hr@5", "ndcg@5", "recall@5", "mrr"}
    assert all(0 <= value <= 1 for value in values.values())
    ranked = [line.split() for line in recommended.splitlines() if line[:6].strip().isdigit()]
    assert [int(row[0]) for row in ranked] == [1, 2, 3]
    model = Recommender.load(model_file)
    items = [int(row[1]) for row in ranked]
    assert set(items) <= set(model.item_ids_.tolist())
    assert set(items).isdisjoint(model.item_ids_[model.train_csr_.indices[  # unseen items only
        model.train_csr_.indptr[6]:model.train_csr_.indptr[7]]].tolist())
    assert recommended.count("item ") >= 3  # an explanation under each item


def test_the_file_records_data_protocol_and_seed(capsys, tmp_path, csv_file):
    model_file = tmp_path / "m.npz"
    code, out, _ = run(capsys, "train", "popularity", "--data", csv_file, "--protocol", "holdout",
                       "--seed", 3, "--save", model_file)
    assert code == 0
    metadata = Recommender.load(model_file).metadata_
    assert metadata["protocol"] == "holdout" and metadata["seed"] == 3
    assert metadata["data"] == str(csv_file) and metadata["data_id"].startswith("csv:")
    assert metadata["model"] == "popularity"


def test_evaluate_refuses_any_other_split_than_the_training_one(capsys, tmp_path, csv_file, tiny):
    model_file = tmp_path / "m.npz"
    assert run(capsys, "train", "popularity", "--data", csv_file, "--protocol", "holdout",
               "--seed", 3, "--save", model_file)[0] == 0
    other_csv = write_csv(tmp_path / "other.csv", tiny.subset(np.arange(len(tiny) - 1)))
    refusals = [
        (["--protocol", "loo"], "--protocol holdout"),
        (["--seed", "4"], "seed 3"),
        (["--data", other_csv], "not on"),
        (["--data", "toy"], "not on toy"),
    ]
    for options, fragment in refusals:
        code, out, err = run(capsys, "evaluate", model_file, *options)
        assert code == 2 and out == ""
        assert_one_error_line(err, fragment)
    copy = tmp_path / "copy.csv"  # the same rows in another file: the same data
    copy.write_bytes(csv_file.read_bytes())
    code, out, err = run(capsys, "evaluate", model_file, "--data", copy)
    assert code == 0 and "random 20% holdout" in out and "hr@10" in out, err


def test_a_model_trained_on_every_row_is_only_cross_validated(capsys, tmp_path):
    model_file = tmp_path / "all.npz"
    assert run(capsys, "train", "popularity", "--data", "toy", "--protocol", "none",
               "--save", model_file)[0] == 0
    code, _, err = run(capsys, "evaluate", model_file)
    assert code == 2
    assert_one_error_line(err, "--protocol none", "kfold")
    code, out, err = run(capsys, "evaluate", model_file, "--protocol", "kfold", "-k", "2")
    assert code == 0, err
    assert "5-fold cross-validation" in out and "hr@2" in out and "+-" in out


def test_a_rating_model_is_also_scored_by_rmse(capsys, tmp_path, csv_file):
    model_file = tmp_path / "biased.npz"
    assert run(capsys, "train", "biased-mf", "--data", csv_file, "--epochs", "2", "--factors", "4",
               "--quiet", "--save", model_file)[0] == 0
    code, out, err = run(capsys, "evaluate", model_file)
    assert code == 0, err
    assert "rmse" in out and "mae" in out and "ndcg@10" in out
    assert Recommender.load(model_file).n_factors == 4


def test_recommend_matches_string_ids_and_names_an_unknown_user(capsys, tmp_path, tiny):
    csv_file = write_csv(tmp_path / "named.csv", tiny, string_users=True)
    model_file = tmp_path / "pop.npz"
    assert run(capsys, "train", "popularity", "--data", csv_file, "--save", model_file)[0] == 0
    code, out, _ = run(capsys, "recommend", model_file, "--user", "u5", "-k", "4")
    assert code == 0 and "for user u5" in out
    code, out, err = run(capsys, "recommend", model_file, "--user", "nobody")
    assert code == 1
    assert_one_error_line(err, "unknown user id 'nobody'")


@pytest.mark.parametrize("model, reason", [("popularity", "by popularity: the item's train rows"),
                                           ("random", "no reason to give")])
def test_recommend_explain_of_a_baseline_says_why(capsys, tmp_path, model, reason):
    model_file = tmp_path / f"{model}.npz"
    assert run(capsys, "train", model, "--data", "toy", "--protocol", "none",
               "--save", model_file)[0] == 0
    code, out, err = run(capsys, "recommend", model_file, "--user", "1", "--explain", "-k", "1")
    assert code == 0, err
    assert reason in out and "item 4 for user 1" in out


def test_recommend_explain_without_explanations_prints_the_list_then_fails(capsys, monkeypatch,
                                                                           tmp_path):
    model_file = tmp_path / "pop.npz"
    assert run(capsys, "train", "popularity", "--data", "toy", "--protocol", "none",
               "--save", model_file)[0] == 0

    def no_explanations(self, user_index, item_index):
        raise NotImplementedError("Popularity has no explanations: (a model without a method)")

    monkeypatch.setattr(Popularity, "_explain", no_explanations)
    code, out, err = run(capsys, "recommend", model_file, "--user", "1", "--explain", "-k", "1")
    assert code == 1
    assert "rank" in out and len(out.strip().splitlines()) == 3  # title, header, one item
    assert_one_error_line(err, "no explanations")


def test_plot_writes_the_learning_curve(capsys, tmp_path, csv_file):
    curve = tmp_path / "curve.png"
    code, out, err = run(capsys, "train", "mf", "--data", csv_file, "--epochs", "2", "--quiet",
                         "--save", tmp_path / "mf.npz", "--plot", curve)
    assert code == 0, err
    assert curve.read_bytes()[:8] == PNG_SIGNATURE and f"learning curve: {curve}" in out


# ---------------------------------------------------------------------- bad input: one line
@pytest.mark.parametrize("argv, code, fragment", [
    (["train", "gpt", "--save", "m.npz"], 2, "invalid choice: 'gpt'"),
    (["train", "bpr", "--epochs", "0", "--save", "m.npz"], 2, "--epochs: must be a positive"),
    (["train", "bpr", "--lr", "nan", "--save", "m.npz"], 2, "--lr: must be a finite number"),
    (["train", "bpr", "--protocol", "random", "--save", "m.npz"], 2, "invalid choice: 'random'"),
    (["train", "bpr", "--data", "missing.csv", "--save", "m.npz"], 1, "no such file: missing.csv"),
    (["train", "bpr", "--data", "mnist", "--save", "m.npz"], 2, "unknown data 'mnist'"),
    (["train", "bpr", "--data", "synthetic:10x10", "--save", "m.npz"], 2, "bad synthetic size"),
    (["train", "bpr", "--data", "toy", "--save", "m.npz"], 2, "needs timestamps"),
    (["train", "popularity", "--data", "toy", "--protocol", "none", "--factors", "8",
      "--save", "m.npz"], 2, "popularity has no n_factors"),
    (["train", "popularity", "--data", "toy", "--protocol", "none", "--plot", "c.png",
      "--save", "m.npz"], 2, "no learning curve"),
    (["train", "bpr", "--data", "toy", "--save", "no/such/folder/m.npz"], 2, "does not exist"),
    (["evaluate", "missing.npz"], 1, "no such file: missing.npz"),
    (["recommend", "missing.npz", "--user", "1"], 1, "no such file"),
    (["recommend", "m.npz"], 2, "required: --user"),
    (["gradcheck", "convolution"], 2, "invalid choice: 'convolution'"),
])
def test_bad_input_is_one_line_on_stderr(capsys, monkeypatch, tmp_path, argv, code, fragment):
    monkeypatch.chdir(tmp_path)
    got, out, err = run(capsys, *argv)
    assert got == code and out == ""
    assert_one_error_line(err, fragment)


def test_data_a_model_cannot_use_is_one_line(capsys, tmp_path):
    implicit = tmp_path / "implicit.csv"
    implicit.write_text("user,item,timestamp\n1,1,5\n1,2,6\n2,1,7\n2,3,8\n3,2,9\n")
    bad_column = tmp_path / "bad.csv"
    bad_column.write_text("user,thing\n1,2\n")
    cases = [
        (["train", "biased-mf", "--data", implicit], "needs explicit ratings"),
        (["train", "content", "--data", implicit], "needs item features"),
        (["train", "bpr", "--data", bad_column], "the header ['user', 'thing'] has no item column"),
    ]
    for argv, fragment in cases:
        code, _, err = run(capsys, *argv, "--save", tmp_path / "m.npz")
        assert code != 0
        assert_one_error_line(err, fragment)


def test_corrupt_and_foreign_files_are_one_line_in_a_subprocess(tmp_path):
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.ones(3))
    for path, fragment in ((corrupt, "corrupt"), (foreign, "not a nanorec file")):
        done = subprocess.run([sys.executable, "-m", "nanorec", "recommend", str(path), "--user", "1"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 1
        assert_one_error_line(done.stderr, fragment)


# ---------------------------------------------------------------------- datasets
def write_fake_movielens(folder):
    """A 4-user, 3-item log in the GroupLens ml-100k layout (not MovieLens data)."""
    folder.mkdir(parents=True)
    genres = ["unknown", "Action"]
    (folder / "u.genre").write_text("".join(f"{g}|{n}\n" for n, g in enumerate(genres)))
    (folder / "u.occupation").write_text("writer\nother\n")
    (folder / "u.user").write_text("".join(f"{u}|{20 + u}|F|writer|0000{u}\n" for u in range(1, 5)))
    (folder / "u.item").write_text(
        "".join(f"{i}|Film {i} (1990)|01-Jan-1990||http://x|0|1\n" for i in range(1, 4)))
    rows = [(u, i, 1 + (u + i) % 5, 100 * u + i) for u in range(1, 5) for i in range(1, 4) if u != i]
    (folder / "u.data").write_text("".join("\t".join(map(str, row)) + "\n" for row in rows))


def test_datasets_lists_the_data_home_and_what_is_there(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("NANOREC_DATA_HOME", str(tmp_path))
    code, out, _ = run(capsys, "datasets")
    assert code == 0
    assert f"data home: {tmp_path}" in out and "NANOREC_DATA_HOME" in out
    assert "not in the data home yet" in out and "943 users" in out
    assert "movielens-20m" in out and "20,000,263 rows" in out and "lastfm-1k" in out
    assert "recbole" in out and "no official download" in out
    write_fake_movielens(tmp_path / "ml-100k")
    (tmp_path / "ml-1m.zip").write_bytes(b"")  # present is present: the listing does not parse
    code, out, _ = run(capsys, "datasets")
    assert str(tmp_path / "ml-100k") in out and str(tmp_path / "ml-1m.zip") in out
    listed = dict(block.split(":", 1) for block in out.split("\n\n")[1:-1])
    assert "not in the data home yet" not in listed["movielens-100k"]
    assert "not in the data home yet" in listed["movielens-10m"]


def test_movielens_is_read_from_the_data_home(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("NANOREC_DATA_HOME", str(tmp_path))
    write_fake_movielens(tmp_path / "ml-100k")
    code, out, err = run(capsys, "train", "popularity", "--data", "movielens-100k",
                         "--save", tmp_path / "pop.npz")
    assert code == 0, err
    assert "4 users, 3 items, 9 rows" in out


# ---------------------------------------------------------------------- the standard data sets
# (u, i, rating, time): 5 users (not 4) with 3-5 of 5 items (not 40) each, so that leave-last-out
# has a test row per user
STANDARD_ROWS = [(u, 10 * i, 1 + (u + i) % 5, 978300000 + 100 * u + i)
                 for u in range(1, 7) for i in range(1, 7) if (u * i) % 4]
STANDARD_SIZE = f"5 users, 5 items, {len(STANDARD_ROWS)} rows (ratings, timestamps)"


def standard_archive(name, rows=STANDARD_ROWS):
    """A zip in the layout of a DATASETS archive: its ratings member at the member's path."""
    member = datasets.DATASETS[name].member
    if member.endswith(".dat"):
        text = "".join(f"{u}::{i}::{r}::{t}\n" for u, i, r, t in rows)
    else:
        text = "userId,movieId,rating,timestamp\n" + "".join(
            f"{u},{i},{r}.0,{t}\n" for u, i, r, t in rows)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        zipped.writestr(member, text)
        zipped.writestr(member.split("/")[0] + "/README", "not the real data")
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["movielens-1m", "movielens-20m"])
def test_data_names_every_standard_data_set_of_the_data_home(capsys, monkeypatch, tmp_path, name):
    home = tmp_path / "home"
    home.mkdir()
    archive = home / datasets.DATASETS[name].file
    archive.write_bytes(standard_archive(name))
    monkeypatch.setenv("NANOREC_DATA_HOME", str(home))
    model_file = tmp_path / "pop.npz"
    code, out, err = run(capsys, "train", "popularity", "--data", name, "--save", model_file)
    assert code == 0, err
    assert f"data     {name}: {STANDARD_SIZE}" in out
    metadata = Recommender.load(model_file).metadata_
    assert metadata["data"] == name and metadata["data_id"].startswith(f"{name}:")
    assert "data_options" not in metadata  # no text-file options: the parser of the layout
    code, out, err = run(capsys, "evaluate", model_file)
    assert code == 0 and "leave-last-out (5 test rows)" in out, err
    # a copy elsewhere, given as NAME:PATH, is the same data: evaluate accepts it
    copy = tmp_path / "elsewhere.zip"
    copy.write_bytes(archive.read_bytes())
    code, out, err = run(capsys, "evaluate", model_file, "--data", f"{name}:{copy}")
    assert code == 0 and "hr@10" in out, err
    # other rows under the same name are another data set
    later = [(u, i, r, t + 10**6) for u, i, r, t in STANDARD_ROWS]
    archive.write_bytes(standard_archive(name, later))
    code, _, err = run(capsys, "evaluate", model_file)
    assert code == 2
    assert_one_error_line(err, "contents have changed")


def test_data_name_colon_path_reads_a_recbole_file_and_remembers_where(capsys, monkeypatch,
                                                                      tmp_path):
    inter = tmp_path / "log.inter"
    inter.write_text("user_id:token\titem_id:token\trating:float\ttimestamp:float\n" + "".join(
        f"u{u}\ti{i}\t{r}\t{t}\n" for u, i, r, t in STANDARD_ROWS))
    model_file = tmp_path / "pop.npz"
    code, out, err = run(capsys, "train", "popularity", "--data", f"recbole:{inter}",
                         "--save", model_file)
    assert code == 0, err
    assert STANDARD_SIZE in out
    assert Recommender.load(model_file).metadata_["data"] == f"recbole:{inter}"
    code, out, err = run(capsys, "recommend", model_file, "--user", "u1", "-k", "2")
    assert code == 0 and "for user u1" in out, err
    monkeypatch.setenv("HOME", str(tmp_path))  # ~ is expanded after the colon, as a shell would not
    code, out, err = run(capsys, "evaluate", model_file, "--data", "recbole:~/log.inter")
    assert code == 0 and "leave-last-out (5 test rows)" in out, err


def test_a_standard_data_set_missing_or_misnamed_is_one_line(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("NANOREC_DATA_HOME", str(tmp_path / "home"))

    def offline(url, timeout):
        raise URLError("no network in tests")

    monkeypatch.setattr(datasets, "urlopen", offline)
    official = tmp_path / "ml-1m.zip"
    official.write_bytes(standard_archive("movielens-1m"))
    cases = [
        (["--data", "movielens-10m"], 1, ["offline?", "--data movielens-10m:PATH"]),
        (["--data", "recbole"], 2, ["no official download", "--data recbole:PATH"]),
        (["--data", "movielens-1m:"], 2, ["names no path after the colon"]),
        (["--data", f"movielens-1m:{tmp_path / 'none.zip'}"], 1, ["does not exist"]),
        (["--data", "movielens-1m", "--sep", ","], 2, ["--sep", "movielens-1m is not one"]),
        (["--data", official], 2, ["the data set movielens-1m", f"movielens-1m:{official}"]),
    ]
    for options, exit_code, fragments in cases:
        code, out, err = run(capsys, "train", "popularity", *options, "--save", tmp_path / "m")
        assert code == exit_code and out == "", err
        assert_one_error_line(err, *fragments)


def test_train_help_lists_the_standard_data_sets(capsys):
    code, out, _ = run(capsys, "train", "--help")
    assert code == 0
    listed = " ".join(out.split())  # argparse wraps the lines
    for name, spec in datasets.DATASETS.items():
        assert (name if spec.file else f"{name}:PATH") in listed.replace("- ", "-")


# ---------------------------------------------------------------------- gradcheck and demo
def test_gradcheck_prints_a_table_and_fails_on_a_wrong_gradient(capsys, monkeypatch):
    code, out, _ = run(capsys, "gradcheck", "dense")
    rows = [line.split() for line in out.splitlines()[2:]]
    assert code == 0 and [row[0] for row in rows] == ["dense"] and rows[0][-1] == "PASS"
    right = MSELoss.backward
    monkeypatch.setattr(MSELoss, "backward", lambda self: 2 * right(self))
    code, out, _ = run(capsys, "gradcheck", "mse-loss")
    assert code == 1 and out.splitlines()[-1].split()[-1] == "FAIL"


def test_every_gradcheck_case_passes():
    reports = gradchecks.run_checks(list(gradchecks.CASES))
    assert all(report.passed for _, report in reports), gradchecks.report_table(reports)


def test_demo_compares_the_models_and_summarises_the_gradient_checks(capsys, monkeypatch):
    monkeypatch.setattr(demo, "DATA_SIZE", {"n_users": 60, "n_items": 40, "n_interactions": 1200})
    code, out, err = run(capsys, "--quiet")  # no command: the demo is the default
    assert code == 0, err
    header = next(n for n, line in enumerate(out.splitlines()) if line.split()[:2] == ["model", "HR@10"])
    rows = [line.split() for line in out.splitlines()[header + 1 : header + 1 + len(demo.DEMO_MODELS)]]
    table = {row[0]: row[1:] for row in rows}
    assert list(table) == [name for name, _, _ in demo.DEMO_MODELS]
    assert table["Popularity"][2] == "-" and float(table["BiasedMF"][2]) > 0  # RMSE
    assert table["Popularity"][4] == "-" and table["BPRMF"][5] == "->"  # loss, first -> last
    compiled = "Fit times include Numba's one-off compilation" in out
    assert compiled != ("Fit times include no compilation" in out)  # issue 15: one, said right
    n_checks = len(gradchecks.CASES) + len(gradchecks.NETWORKS)  # layers, losses and networks
    assert f"{n_checks}/{n_checks}" in out.splitlines()[-1]


def test_help_lists_every_command_and_every_model(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and all(name in out for name in cli.COMMANDS)
    code, out, _ = run(capsys, "train", "--help")
    assert code == 0
    assert {"dp-biased-mf", "federated-mf", "cold-start", "bpr", "biased-mf"} <= set(REGISTRY)
    for name, model_class in REGISTRY.items():  # every registered model, with its summary
        assert f"  {name} " in out and model_class.summary[:30] in " ".join(out.split()), name


def test_gradcheck_all_checks_every_network_model(capsys):
    code, out, _ = run(capsys, "gradcheck", "all")
    rows = {line.split()[0]: line.split()[-1] for line in out.splitlines()[2:]}
    networks = {f"{name}-network" for name, model_class in REGISTRY.items()
                if issubclass(model_class, NetworkRecommender)}
    assert {"biased-mf-network", "bpr-network", "dp-biased-mf-network", "federated-mf-network",
            "autorec-network"} <= networks
    assert code == 0 and set(rows) == set(gradchecks.CASES) | networks
    assert set(rows.values()) == {"PASS"}


def test_verify_one_model_prints_its_certificate(capsys):
    code, out, err = run(capsys, "verify", "bpr")
    assert code == 0, err
    header = next(line.split() for line in out.splitlines() if line.split()[:1] == ["model"])
    assert header[1:] == " ".join(CHECKS).split()  # "loss falls" is two words
    (row,) = [line.split() for line in out.splitlines() if line.split()[:1] == ["bpr"]]
    assert row[1:] == ["pass"] * len(CHECKS)
    assert out.splitlines()[-1] == "1/1 models certified"
    code, out, err = run(capsys, "verify", "bpr", "--json")
    assert code == 0, err
    (certificate,) = json.loads(out)
    assert certificate["model"] == "bpr" and certificate["passed"] is True
    assert set(certificate["checks"]) >= set(CHECKS)
    assert {check["verdict"] for check in certificate["checks"].values()} == {"pass"}


def test_verify_all_certifies_every_registered_model(capsys):
    code, out, err = run(capsys, "verify", "all")
    assert code == 0, out + err
    assert out.splitlines()[-1] == f"{len(REGISTRY)}/{len(REGISTRY)} models certified"
    assert "FAIL" not in out


def test_verify_refuses_an_unknown_model(capsys):
    code, out, err = run(capsys, "verify", "gpt")
    assert code == 2 and out == ""
    assert_one_error_line(err, "invalid choice: 'gpt'")


# ---------------------------------------------------------------------- progress display
class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_verbose_training_prints_one_line_per_epoch_without_a_terminal(capsys):
    losses = iter([0.9, 0.5, 0.25])
    run_epochs(lambda: next(losses), 3, validate=lambda: {"valid_hr@10": 0.5},
               higher_is_better=True, verbose=True)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"epoch {e}/3  loss {loss:.5f}  valid_hr@10 0.50000"
                     for e, loss in ((1, 0.9), (2, 0.5), (3, 0.25))]


def test_verbose_training_shows_a_progress_bar_on_a_terminal(capsys, monkeypatch):
    pytest.importorskip("tqdm")
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with EpochDisplay("BPRMF", 3, verbose=True) as display:
        for epoch in range(3):
            display.show(epoch, {"loss": 1.0 / (epoch + 1)})
    bar = terminal.getvalue()
    assert "BPRMF" in bar and "3/3" in bar and "loss=0.33333" in bar
    assert capsys.readouterr().out == ""  # no epoch lines beside the bar


def test_quiet_training_shows_nothing(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Terminal())
    with EpochDisplay("BPRMF", 3, verbose=False) as display:
        display.show(0, {"loss": 1.0})
    run_epochs(lambda: 1.0, 2, verbose=False)
    assert sys.stderr.getvalue() == "" and capsys.readouterr().out == ""
