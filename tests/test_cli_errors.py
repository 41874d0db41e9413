"""Issue 15, item by item, through the command line: the right answer, or one line on stderr.

Each test is named after the issue's numbered item. At least one case of each item runs
``python -m nanorec`` in a subprocess (what a user sees, exit codes and signals included); the
other cases of an item call ``cli.main`` in this process, the same code minus the interpreter's
start-up (about half a second a run). No case touches the network or the user's data home: the
data home is a folder of the test, and an unreachable proxy stands in for the network.
"""

import io
import json
import os
import select
import signal
import stat
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

import nanorec.privacy  # registers every model, as the command does
from nanorec import cli
from nanorec.cli import demo
from nanorec.data import datasets
from nanorec.models.base import Recommender

# ---------------------------------------------------------------------- helpers
GENRES = ["unknown", "Action", "Comedy"]
U_DATA = [(1, 10, 4, 880000000), (2, 10, 3, 880000100), (1, 20, 5, 880000200),
          (3, 30, 1, 880000300), (2, 40, 2, 880000400), (3, 10, 5, 880000500)]
U_ITEM = ["10|Alpha (1990)|01-Jan-1994||http://x|0|1|0", "20|Beta (1980)|||http://y|0|0|1",
          "30|Gamma|||http://z|1|0|0", "40|Delta (2000)|||http://w|0|1|1"]
U_USER = ["1|20|M|engineer|11111", "2|40|F|student|22222", "3|60|M|writer|33333"]


def movielens_zip(path, u_data=None):
    """A tiny zip in the GroupLens ml-100k layout (not MovieLens data: its licence forbids
    copying any of it here)."""
    rows = "".join("\t".join(map(str, row)) + "\n" for row in U_DATA) if u_data is None else u_data
    files = {"u.data": rows, "u.item": "\n".join(U_ITEM) + "\n", "u.user": "\n".join(U_USER) + "\n",
             "u.genre": "".join(f"{g}|{k}\n" for k, g in enumerate(GENRES)),
             "u.occupation": "engineer\nstudent\nwriter\n"}
    with zipfile.ZipFile(path, "w") as zipped:
        for name, text in files.items():
            zipped.writestr(f"ml-100k/{name}", text)
    return path


@pytest.fixture
def env(tmp_path):
    """The environment of a subprocess: its own data home, no network, unbuffered output."""
    home = tmp_path / "home"
    return {**os.environ, "NANOREC_DATA_HOME": str(home), "https_proxy": "http://127.0.0.1:9",
            "http_proxy": "http://127.0.0.1:9", "PYTHONUNBUFFERED": "1"}


def nanorec(*argv, cwd, env, **options):
    """``python -m nanorec argv...`` in a subprocess: its CompletedProcess (text output)."""
    return subprocess.run([sys.executable, "-m", "nanorec", *map(str, argv)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False, **options)


def run(capsys, *argv):
    """(exit code, stdout, stderr) of ``nanorec argv...`` in this process."""
    try:
        code = cli.main([str(arg) for arg in argv])
    except SystemExit as exit_info:
        code = exit_info.code
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err, *fragments):
    """The single ``nanorec: error:`` line of stderr (warnings aside), holding the fragments."""
    assert "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if not line.startswith("nanorec: warning:")]
    assert len(lines) == 1 and lines[0].startswith("nanorec: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


LOG = "user,item,rating,timestamp\n" + "".join(
    f"{u},{i},{1 + (u * i) % 5},{1000 + 10 * u + i}\n" for u in range(1, 9) for i in range(1, 7)
    if (u + i) % 3)


# ---------------------------------------------------------------------- 1: --data
def test_issue15_1_data_takes_a_movielens_zip_a_folder_and_a_read_only_home(tmp_path, env):
    archive = movielens_zip(tmp_path / "ml-100k.zip")
    done = nanorec("train", "popularity", "--data", archive, "--save", "zip.npz", cwd=tmp_path,
                   env=env)
    assert done.returncode == 0, done.stderr
    assert "3 users, 4 items, 6 rows" in done.stdout
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(tmp_path / "unpacked")
    # the folder holds the same data as the zip: evaluate accepts it for the zip's model
    done = nanorec("evaluate", "zip.npz", "--data", tmp_path / "unpacked", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "leave-last-out" in done.stdout

    home = tmp_path / "home"
    home.mkdir()
    (home / "ml-100k.zip").write_bytes(archive.read_bytes())
    home.chmod(0o555)  # read-only (for root too: nothing may be written there)
    try:
        done = nanorec("train", "popularity", "--data", "movielens-100k", "--save", "home.npz",
                       cwd=tmp_path, env=env)
    finally:
        home.chmod(0o755)
    assert done.returncode == 0, done.stderr
    assert os.listdir(home) == ["ml-100k.zip"]  # nothing extracted, nothing written

    empty = {**env, "NANOREC_DATA_HOME": str(tmp_path / "empty")}  # and no network
    done = nanorec("train", "popularity", "--data", "movielens-100k", "--save", "x.npz",
                   cwd=tmp_path, env=empty)
    line = one_line(done.stderr, "offline?", "--data path/to/ml-100k.zip",
                    str(tmp_path / "empty" / "ml-100k.zip"))
    assert "pass path=" not in line and done.returncode == 1


def test_issue15_1_a_folder_or_zip_that_is_not_movielens_is_one_line(capsys, tmp_path):
    (tmp_path / "photos").mkdir()
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as zipped:
        zipped.writestr("readme.txt", "hello")
    code, _, err = run(capsys, "train", "popularity", "--data", tmp_path / "photos",
                       "--save", tmp_path / "m.npz")
    assert code == 2
    one_line(err, "is a folder without MovieLens' u.data")
    code, _, err = run(capsys, "train", "popularity", "--data", other, "--save", tmp_path / "m")
    assert code == 1
    one_line(err, "lacks ['u.data'", "GroupLens ml-100k layout")


# ---------------------------------------------------------------------- 2: data home
def test_issue15_2_a_bad_zip_in_the_data_home_is_named_and_a_good_one_replaces_it(tmp_path, env):
    home = tmp_path / "home"
    home.mkdir()
    bad_rows = "1\t10\t4\t5\n2\t10\t3\t6\n3\tten\t1\t7\n"
    movielens_zip(home / "ml-100k.zip", u_data=bad_rows)
    done = nanorec("train", "popularity", "--data", "movielens-100k", "--save", "m.npz",
                   cwd=tmp_path, env=env)
    assert done.returncode == 1
    one_line(done.stderr, f"{home / 'ml-100k.zip'}: ml-100k/u.data, line 3: the value 'ten' is "
             "not an integer")
    movielens_zip(home / "ml-100k.zip")  # the good zip copied over the bad one is what is read
    done = nanorec("train", "popularity", "--data", "movielens-100k", "--save", "m.npz",
                   cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert os.listdir(home) == ["ml-100k.zip"]


# ---------------------------------------------------------------------- 3: delimited text
def test_issue15_3_a_blank_field_is_an_error_naming_file_and_line(tmp_path, env):
    log = write(tmp_path / "log.csv", LOG + "5,,3,100\n")
    done = nanorec("train", "popularity", "--data", log, "--save", "m.npz", cwd=tmp_path, env=env)
    assert done.returncode == 1 and not (tmp_path / "m.npz").exists()
    n_lines = LOG.count("\n") + 1
    one_line(done.stderr, f"{log}, line {n_lines}: the item field is blank")


def test_issue15_3_bom_tab_separated_and_headerless_files_are_read(capsys, tmp_path):
    excel = tmp_path / "excel.csv"
    excel.write_bytes(b"\xef\xbb\xbf" + LOG.encode())  # Excel's "CSV UTF-8"
    code, out, err = run(capsys, "train", "popularity", "--data", excel, "--save",
                         tmp_path / "a.npz")
    assert code == 0, err
    model = Recommender.load(tmp_path / "a.npz")
    assert model.user_ids_.dtype.kind == "i" and model.item_ids_.dtype.kind == "i"
    u_data = write(tmp_path / "u.data", "".join(
        "\t".join(line.split(",")) for line in LOG.splitlines(keepends=True)[1:]))
    code, out, err = run(capsys, "train", "popularity", "--data", u_data, "--save",
                         tmp_path / "b.npz")
    assert code == 0, err
    assert "read as  tab-separated, no header, columns user, item, rating, timestamp" in out
    assert Recommender.load(tmp_path / "b.npz").n_users_ == model.n_users_
    swapped = write(tmp_path / "swapped.txt", "".join(
        f"{i};{u};{r}\n" for u, i, r, _ in (line.split(",") for line in LOG.splitlines()[1:])))
    code, out, err = run(capsys, "train", "popularity", "--data", swapped, "--columns",
                         "item,user,rating", "--protocol", "holdout", "--save", tmp_path / "c.npz")
    assert code == 0, err
    np.testing.assert_array_equal(Recommender.load(tmp_path / "c.npz").user_ids_, model.user_ids_)


def test_issue15_3_duplicates_and_mixed_ids_are_said_on_the_command_line(capsys, tmp_path):
    log = write(tmp_path / "log.csv", LOG + "1,1,5,2000\n")  # (1, 1) is on line 2 too
    code, _, err = run(capsys, "train", "popularity", "--data", log, "--save", tmp_path / "m.npz")
    assert code == 1
    one_line(err, f"{log}, line {LOG.count(chr(10)) + 1}: user 1 and item 1 again, as on line 2",
             "--duplicates last", "--duplicates sum")
    code, _, err = run(capsys, "train", "popularity", "--data", log, "--duplicates", "last",
                       "--save", tmp_path / "m.npz")
    assert code == 0, err
    mixed = write(tmp_path / "mixed.csv", LOG + "9,B00X,4,3000\n")
    code, _, err = run(capsys, "train", "popularity", "--data", mixed, "--save", tmp_path / "x.npz")
    assert code == 0
    (warning,) = [line for line in err.splitlines() if "ids read as text" in line]
    assert warning.startswith("nanorec: warning: ") and f"line {LOG.count(chr(10)) + 1}" in warning
    code, _, err = run(capsys, "train", "popularity", "--data", "toy", "--sep", ";",
                       "--save", tmp_path / "t.npz")
    assert code == 2
    one_line(err, "--sep tell how to read a CSV/TSV file; toy is not one")


# ---------------------------------------------------------------------- 4: tracebacks
def damaged_model_files(folder):
    """{what: path} of model files damaged as the issue lists them."""
    data = datasets.load("synthetic", n_users=30, n_items=20, n_interactions=300, seed=0)
    from nanorec.models.mf import BiasedMF

    with open(BiasedMF(n_factors=4, n_epochs=1).fit(data).save(folder / "good.npz"), "rb") as f:
        raw = f.read()
    with zipfile.ZipFile(io.BytesIO(raw)) as zipped:
        members = {info.filename: zipped.read(info) for info in zipped.infolist()}

    def rebuilt(name, edit):
        edited = dict(members)
        edit(edited)
        with zipfile.ZipFile(folder / name, "w") as zipped:
            for member, data in edited.items():
                zipped.writestr(member, data)
        return folder / name

    def header(edit):
        def apply(edited):
            document = json.loads(np.load(io.BytesIO(edited["__header__.npy"])).tobytes())
            edit(document)
            buffer = io.BytesIO()
            np.save(buffer, np.frombuffer(json.dumps(document).encode(), np.uint8))
            edited["__header__.npy"] = buffer.getvalue()
        return apply

    def short(edited):
        buffer = io.BytesIO()
        np.save(buffer, np.load(io.BytesIO(edited["network_.user_factors.W.npy"]))[:5])
        edited["network_.user_factors.W.npy"] = buffer.getvalue()

    directory = raw.rfind(b"PK\x01\x02")
    method = bytearray(raw)
    method[directory + 10] ^= 0xFF  # the compression method of the last member
    (folder / "method.npz").write_bytes(bytes(method))
    encrypted = bytearray(raw)
    encrypted[directory + 8] |= 0x01  # the "encrypted" flag
    (folder / "encrypted.npz").write_bytes(bytes(encrypted))
    return {
        "compression method 255": folder / "method.npz",
        "encrypted member": folder / "encrypted.npz",
        "'__header__' is not a valid .npy array": rebuilt(
            "text.npz", lambda edited: edited.update({"__header__.npy": b"{'not': 'npy'}"})),
        "which BPRMF does not take": rebuilt("swapped.npz", header(
            lambda document: document.update(kind="BPRMF", module="nanorec.models.mf"))),
        "lacks the array(s) ['user_ids_']": rebuilt(
            "no_ids.npz", lambda edited: edited.pop("user_ids_.npy")),
        "'network_.user_factors.W' has shape (5, 4)": rebuilt("short.npz", short),
        "its format version is '1'": rebuilt("version.npz", header(
            lambda document: document.update(version="1"))),
        "gives no format version": rebuilt("no_version.npz", header(
            lambda document: document.pop("version"))),
    }


def test_issue15_4_damaged_model_files_are_one_line(capsys, tmp_path, env):
    files = damaged_model_files(tmp_path)
    first = next(iter(files))
    done = nanorec("recommend", files[first], "--user", "1", cwd=tmp_path, env=env)
    assert done.returncode == 1 and done.stdout == ""
    one_line(done.stderr, str(files[first]), first)
    for fragment, path in files.items():
        code, out, err = run(capsys, "recommend", path, "--user", "1")
        assert code == 1 and out == "", fragment
        line = one_line(err, str(path), fragment)
        assert "upgrade" not in line, line  # a damaged version is not a newer one


def test_issue15_4_a_log_with_more_users_than_rows_trains(tmp_path, env):
    done = nanorec("train", "popularity", "--data", "synthetic:150000x1000x10", "--save", "m.npz",
                   cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "150,000 users, 1,000 items, 10 rows" in done.stdout
    assert "nanorec: warning: leave_last_out: no user has two rows or more" in done.stderr
    assert "Traceback" not in done.stderr


def test_issue15_4_ctrl_c_during_training_ends_with_130_and_keeps_the_file(tmp_path, env):
    model = tmp_path / "model.npz"
    model.write_bytes(b"the previous model")
    process = subprocess.Popen(
        [sys.executable, "-m", "nanorec", "train", "bpr", "--data", "synthetic:200x100x4000",
         "--epochs", "100000", "--save", str(model)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until training has started
            ready, _, _ = select.select([process.stdout], [], [], 1.0)
            if ready and process.stdout.readline().startswith("epoch 1/"):
                break
        else:
            pytest.fail("training did not start")
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130
    assert err == "nanorec: interrupted\n"
    assert model.read_bytes() == b"the previous model"
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".nanorec-")]


def test_issue15_4_ctrl_c_while_python_imports_the_models_is_one_line(capsys, monkeypatch):
    """The entry point (nanorec._console) imports the command line inside its try: an interrupt
    during that import, before nanorec.cli can catch anything, still ends with 130."""
    from nanorec import _console

    class Interrupting:
        def find_spec(self, name, path=None, target=None):
            if name == "nanorec.cli":
                raise KeyboardInterrupt
            return None

    monkeypatch.delitem(sys.modules, "nanorec.cli")
    monkeypatch.setattr(sys, "meta_path", [Interrupting(), *sys.meta_path])
    assert _console.main() == 130
    assert capsys.readouterr().err == "nanorec: interrupted\n"


def test_issue15_4_ctrl_c_during_the_save_leaves_the_old_file(capsys, monkeypatch, tmp_path):
    model = tmp_path / "model.npz"
    model.write_bytes(b"the previous model")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    code, _, err = run(capsys, "train", "popularity", "--data", "toy", "--protocol", "none",
                       "--save", model)
    assert code == 130 and err == "nanorec: interrupted\n"
    assert model.read_bytes() == b"the previous model"
    assert os.listdir(tmp_path) == ["model.npz"]


# ---------------------------------------------------------------------- 5: huge claims
def test_issue15_5_a_small_file_claiming_huge_arrays_is_refused_before_reading(tmp_path, env):
    files = damaged_model_files(tmp_path)
    raw = bytearray(files["which BPRMF does not take"].parent.joinpath("good.npz").read_bytes())
    name = b"network_.user_factors.W.npy"
    for signature, size_at in ((b"PK\x01\x02", 24), (b"PK\x03\x04", 22)):
        position = raw.find(signature)
        while position >= 0:  # the uncompressed size of that member, in both of its headers
            if raw.find(name, position, position + 200) > 0:
                raw[position + size_at : position + size_at + 4] = (2**32 - 2).to_bytes(4, "little")
            position = raw.find(signature, position + 4)
    claims = tmp_path / "claims.npz"
    claims.write_bytes(bytes(raw))
    start = time.monotonic()
    done = nanorec("recommend", claims, "--user", "1", cwd=tmp_path, env=env)
    assert done.returncode == 1 and time.monotonic() - start < 30
    one_line(done.stderr, str(claims), "declares 4,294,967,294 bytes")


# ---------------------------------------------------------------------- 6: umask
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664)])
def test_issue15_6_saved_models_and_plots_honour_the_umask(tmp_path, env, umask, mode):
    pytest.importorskip("matplotlib")
    done = nanorec("train", "mf", "--data", "synthetic:40x30x600", "--epochs", "1", "--quiet",
                   "--save", "m.npz", "--plot", "curve.png", cwd=tmp_path, env=env,
                   preexec_fn=lambda: os.umask(umask))
    assert done.returncode == 0, done.stderr
    for name in ("m.npz", "curve.png"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == mode, name


# ---------------------------------------------------------------------- 7: closed pipe
def test_issue15_7_a_closed_pipe_never_loses_the_model(tmp_path, env):
    reader, writer = os.pipe()
    os.close(reader)  # the reader is gone before the first line: `nanorec train ... | head -0`
    try:
        done = subprocess.run(
            [sys.executable, "-m", "nanorec", "train", "bpr", "--data", "synthetic:40x30x600",
             "--epochs", "2", "--save", "m.npz"],
            cwd=tmp_path, env=env, stdout=writer, stderr=subprocess.PIPE, text=True, timeout=120,
            check=False)
    finally:
        os.close(writer)
    assert done.returncode == 141  # 128 + SIGPIPE, as a Unix tool killed by the pipe
    assert done.stderr == ""
    assert Recommender.load(tmp_path / "m.npz").n_users_ == 40


# ---------------------------------------------------------------------- 8: unknown ids
def test_issue15_8_evaluate_says_how_many_rows_got_the_baseline(tmp_path, env):
    rows = LOG + "".join(f"{u},{100 + u},4,{5000 + u}\n" for u in range(1, 9))  # 8 one-row items
    log = write(tmp_path / "log.csv", rows)
    done = nanorec("train", "biased-mf", "--data", log, "--protocol", "holdout", "--epochs", "2",
                   "--quiet", "--save", "m.npz", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    done = nanorec("evaluate", "m.npz", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    model = Recommender.load(tmp_path / "m.npz")
    baseline = float(model.train_csr_.data.mean())
    assert "test rows the model cannot score got the baseline" in done.stdout
    assert f"{baseline:.4g}" in done.stdout and "rmse" in done.stdout


# ---------------------------------------------------------------------- 9: smaller items
def test_issue15_9_smaller_items_through_a_subprocess(tmp_path, env):
    log = write(tmp_path / "log.csv", LOG)
    done = nanorec("train", "popularity", "--data", log, "--protocol", "holdout", "--save",
                   "m.npz", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    write(log, LOG + "9,9,1,1\n")  # the same path, other contents
    done = nanorec("evaluate", "m.npz", cwd=tmp_path, env=env)
    line = one_line(done.stderr, "as it was then", "have changed since")
    assert "not on" not in line and done.returncode == 2


def test_issue15_9_smaller_items_each_one_line(capsys, monkeypatch, tmp_path):
    (tmp_path / "folder.npz").mkdir()
    code, _, err = run(capsys, "recommend", tmp_path / "folder.npz", "--user", "1")
    assert code == 1
    one_line(err, "is a folder, not a nanorec file")

    code, out, err = run(capsys, "train", "popularity", "--data", "synthetic:10x5x3",
                         "--save", tmp_path / "s.npz")
    assert code == 0 and "n_genres" not in err, err
    assert "nanorec: warning: leave_last_out: no user has two rows or more" in err
    code, _, err = run(capsys, "train", "popularity", "--data", "synthetic:5x1x3",
                       "--save", tmp_path / "s.npz")
    assert code == 2
    one_line(err, "at least 1 user, 2 items and 1 row")

    monkeypatch.setenv("NANOREC_DATA_HOME", str(tmp_path / "s.npz"))
    for argv in (["datasets"], ["train", "popularity", "--data", "movielens-100k", "--save",
                                tmp_path / "m.npz"]):
        code, _, err = run(capsys, *argv)
        assert code == 1
        one_line(err, f"NANOREC_DATA_HOME {tmp_path / 's.npz'} is a file, not a folder")
    monkeypatch.delenv("NANOREC_DATA_HOME")

    nan = write(tmp_path / "nan.csv", "user,item,rating\n1,1,4\n1,2,nan\n")
    code, _, err = run(capsys, "train", "popularity", "--data", nan, "--save", tmp_path / "m")
    assert code == 1
    one_line(err, f"{nan}, line 3: the rating 'nan' is not a finite number")

    before = sorted(os.listdir(tmp_path))
    for save, fragment in ((tmp_path / "folder.npz", "is a folder"), ("", "no file name given"),
                           (tmp_path, "is a folder")):
        code, out, err = run(capsys, "train", "popularity", "--data", "toy", "--protocol", "none",
                             "--save", save)
        assert code == 2 and out == ""
        one_line(err, "--save: ", fragment)
    assert sorted(os.listdir(tmp_path)) == before  # no DIR.npz, no .npz

    assert run(capsys, "train", "popularity", "--data", "toy", "--protocol", "none",
               "--save", tmp_path / "toy.npz")[0] == 0
    code, out, err = run(capsys, "recommend", tmp_path / "toy.npz", "--user", "1", "-k", "10")
    assert code == 0, err
    assert "only 1 item the user has not seen in a catalogue of 4" in out

    pytest.importorskip("matplotlib")
    start = time.monotonic()
    code, out, err = run(capsys, "train", "bpr", "--data", "synthetic:200x100x4000", "--epochs",
                         "500", "--plot", tmp_path / "curve.txt", "--save", tmp_path / "p.npz")
    assert code == 2 and out == "" and time.monotonic() - start < 10  # refused before training
    one_line(err, "--plot: cannot write a plot to", ".png")
    assert not (tmp_path / "p.npz").exists()


def test_issue15_9_the_demo_says_compilation_only_when_there_was_some():
    import numba

    @numba.njit  # a fresh function: compiled on its first call, never cached
    def twice(x):
        return 2 * x

    timer = demo.CompileTimer()
    with timer:
        twice(1.0)
    assert timer.seconds > 0
    warm = demo.CompileTimer()
    with warm:
        twice(2.0)  # compiled already: no compilation
    assert warm.seconds == 0


def test_issue15_running_out_of_memory_is_one_line(capsys, monkeypatch):
    def exhausted(*args, **kwargs):
        raise MemoryError("Unable to allocate 8.00 GiB for an array with shape (1073741824,)")

    monkeypatch.setattr(datasets, "synthetic", exhausted)
    code, out, err = run(capsys, "train", "popularity", "--save", "m.npz")
    assert code == 1 and out == ""
    one_line(err, "out of memory (Unable to allocate 8.00 GiB", "use smaller data")
