"""Data sets: toy, synthetic (determinism, planted structure), MovieLens loading, download, safety."""

import dataclasses
import hashlib
import io
import os
import tarfile
import zipfile
from urllib.error import URLError

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanorec.data import datasets, rating_files
from nanorec.data.datasets import available, get_data_home, load, synthetic
from nanorec.data.interactions import Interactions


# ---------------------------------------------------------------------- toy
def test_toy_is_the_nine_row_log():
    data = load("toy")
    assert len(data) == 9 and data.timestamps is None
    assert data.user_ids.tolist() == [1, 2, 3] and data.item_ids.tolist() == [1, 2, 3, 4]
    assert data.to_dense().tolist() == [[1, 0, 1, 0], [0, 0, 1, 1], [0, 1, 0, 1]]
    assert np.count_nonzero(data.ratings == 0) == 3  # the zeros are rows, not missing cells


# ---------------------------------------------------------------------- synthetic
def time_fraction(data):
    """Each row's place in its user's history, 0 (first) .. 1 (last); rows are sorted by user."""
    users = data.user_index
    position = np.arange(len(users)) - np.searchsorted(users, users)
    return position / np.maximum(np.bincount(users, minlength=data.n_users)[users] - 1, 1)


@pytest.fixture(scope="module")
def demo():
    return synthetic(seed=3)


def test_synthetic_sizes_types_and_features(demo):
    assert (demo.n_users, demo.n_items, len(demo)) == (1000, 500, 50_000)
    assert demo.user_ids.tolist() == list(range(1, 1001))  # raw ids 1..U, index = id - 1
    assert set(np.unique(demo.ratings)) <= {1, 2, 3, 4, 5}
    assert demo.user_features.shape == (1000, 7) and demo.user_feature_names[0] == "age_<18"
    assert demo.user_features.sum(axis=1).tolist() == [2.0] * 1000  # one age bucket + one gender
    assert demo.item_features.shape == (500, 10) and demo.item_feature_names[-1] == "genre_9"
    genre = demo.planted.item_genre
    assert (demo.item_features[np.arange(500), genre] == 1).all()  # the primary genre is a feature
    Interactions(demo.user_index, demo.item_index, demo.user_ids, demo.item_ids)  # pairs are unique
    assert (np.bincount(demo.user_index, minlength=1000) < 500).all()  # a negative left for everyone


def test_synthetic_is_deterministic_by_seed(demo):
    again, other = synthetic(seed=3), synthetic(seed=4)
    for name in ("user_index", "item_index", "ratings", "timestamps"):
        np.testing.assert_array_equal(getattr(again, name), getattr(demo, name))
    np.testing.assert_array_equal(again.planted.item_factors, demo.planted.item_factors)
    assert not np.array_equal(other.item_index, demo.item_index)


def test_synthetic_timestamps_increase_per_user(demo):
    same_user = demo.user_index[1:] == demo.user_index[:-1]
    assert (np.diff(demo.user_index) >= 0).all()
    assert (np.diff(demo.timestamps)[same_user] > 0).all()


def test_synthetic_popularity_is_long_tailed(demo):
    counts = np.sort(np.bincount(demo.item_index, minlength=demo.n_items))[::-1]
    assert counts[:50].sum() > 0.25 * len(demo)  # the top 10% of items hold over 25% of the rows
    assert counts[0] > 5 * np.median(counts)


def test_synthetic_rows_follow_the_planted_structure(demo):
    truth, users, items = demo.planted, demo.user_index, demo.item_index
    t = time_fraction(demo)
    # users choose items they like: chosen items score well above random ones
    random_items = np.random.default_rng(0).integers(0, demo.n_items, len(demo))
    assert truth.score(users, items).mean() > truth.score(users, random_items).mean() + 0.3
    # ratings are derived from the planted score at the row's time
    assert np.corrcoef(truth.score(users, items, t), demo.ratings)[0, 1] > 0.7
    # taste drifts: later items suit the drift direction better
    drift_key = np.einsum("nk,nk->n", truth.item_factors[items], truth.user_drift[users])
    assert np.corrcoef(t, drift_key)[0, 1] > 0.4
    # consecutive items tend to share a genre, far more often than in a shuffled history
    genre = truth.item_genre[items]
    same_user = users[1:] == users[:-1]
    same_genre = (genre[1:] == genre[:-1])[same_user].mean()
    chance = np.sum((np.bincount(genre) / len(genre)) ** 2)
    assert same_genre > 3 * chance
    # demographics shape taste: users of one age bucket and gender are closer than all users
    group = truth.user_age_bucket * 2 + truth.user_gender
    within = np.mean([truth.user_factors[group == g].var(axis=0).sum() for g in np.unique(group)])
    assert within < 0.9 * truth.user_factors.var(axis=0).sum()


@pytest.mark.parametrize("n_users, n_items, n_interactions", [(40, 12, 300), (500, 30, 200), (3, 2, 3)])
def test_synthetic_small_sizes_are_exact(n_users, n_items, n_interactions):
    data = synthetic(n_users=n_users, n_items=n_items, n_interactions=n_interactions, n_genres=2, seed=1)
    assert (data.n_users, data.n_items, len(data)) == (n_users, n_items, n_interactions)
    assert (np.bincount(data.user_index, minlength=n_users) < n_items).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n_users=0), "n_users must be an integer >= 1"),
        (dict(n_items=10, n_genres=11), "cannot exceed n_items"),
        (dict(n_users=2, n_items=3, n_interactions=5, n_genres=2), "exceeds n_users"),
        (dict(genre_stickiness=1.0), "genre_stickiness"),
        (dict(drift=-1.0), "drift"),
    ],
)
def test_synthetic_refuses_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        synthetic(**kwargs)


# ---------------------------------------------------------------------- MovieLens: parsing
def check_tiny_movielens(data):
    assert (data.n_users, data.n_items, len(data)) == (3, 4, 5)
    assert data.item_ids.tolist() == [10, 20, 30, 40] and data.ratings.dtype == np.float32
    assert data.timestamps.tolist() == [880000000, 880000100, 880000200, 880000300, 880000400]
    assert data.item_feature_names == ["genre_unknown", "genre_Action", "genre_Comedy", "release_year"]
    # years 1994 (date), 1980 (title), none -> median 1994, 2000 (last bracket); scaled to [0, 1]
    np.testing.assert_allclose(
        data.item_features, [[0, 1, 0, 0.7], [0, 0, 1, 0], [1, 0, 0, 0.7], [0, 1, 1, 1]], atol=1e-6
    )
    assert data.user_feature_names == [
        "age", "gender_F", "gender_M", "occupation_engineer", "occupation_student", "occupation_writer"
    ]
    np.testing.assert_allclose(
        data.user_features, [[0, 0, 1, 1, 0, 0], [0.5, 1, 0, 0, 1, 0], [1, 0, 1, 0, 0, 1]]
    )
    assert data.ratings[data.user_to_index(1) == data.user_index].tolist() == [4, 5]


def test_movielens_from_a_zip_path(movielens_zip):
    check_tiny_movielens(load("movielens-100k", path=movielens_zip))


def test_movielens_from_an_extracted_folder(movielens_zip, tmp_path):
    with zipfile.ZipFile(movielens_zip) as zipped:
        zipped.extractall(tmp_path / "unpacked")
    check_tiny_movielens(load("movielens-100k", path=tmp_path / "unpacked"))
    check_tiny_movielens(load("movielens-100k", path=tmp_path / "unpacked" / "ml-100k"))


def test_movielens_zip_in_the_data_home_is_read_in_place(movielens_zip, tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / "ml-100k.zip").write_bytes(movielens_zip.read_bytes())
    monkeypatch.setenv("NANOREC_DATA_HOME", str(home))
    assert get_data_home() == home and available()["movielens-100k"]["local"] == str(home / "ml-100k.zip")
    check_tiny_movielens(load("movielens-100k", download=False))
    assert os.listdir(home) == ["ml-100k.zip"]  # nothing extracted: nothing to go stale
    (home / "ml-100k.zip").unlink()
    with zipfile.ZipFile(movielens_zip) as zipped:
        zipped.extractall(home)  # a folder alone, put there by hand, serves too
    assert available()["movielens-100k"]["local"] == str(home / "ml-100k")
    check_tiny_movielens(load("movielens-100k", data_home=home, download=False))


# ---------------------------------------------------------------------- MovieLens: bad archives
@pytest.mark.parametrize("member", ["../evil", "ml-100k/../../evil", "/abs/evil"])
def test_a_zip_member_escaping_the_folder_is_refused(member, make_movielens_zip, tmp_path):
    source = tmp_path / "bad.zip"
    source.write_bytes(make_movielens_zip([(member, "gotcha")]))
    with pytest.raises(ValueError, match="unsafe member"):
        load("movielens-100k", path=source)
    home = tmp_path / "deep" / "home"
    home.mkdir(parents=True)
    (home / "ml-100k.zip").write_bytes(source.read_bytes())
    with pytest.raises(ValueError, match="unsafe member"):
        load("movielens-100k", data_home=home, download=False)
    assert not list(tmp_path.rglob("evil")) and not (home / "ml-100k").exists()


def test_a_symlink_member_is_refused(make_movielens_zip, tmp_path):
    buffer = io.BytesIO(make_movielens_zip())
    with zipfile.ZipFile(buffer, "a") as zipped:
        link = zipfile.ZipInfo("ml-100k/link")
        link.external_attr = (0o120777 << 16)  # a symlink, as zip tools record it
        zipped.writestr(link, "/etc/passwd")
    source = tmp_path / "link.zip"
    source.write_bytes(buffer.getvalue())
    with pytest.raises(ValueError, match="unsafe member 'ml-100k/link'"):
        load("movielens-100k", path=source)


def test_a_corrupt_zip_gives_a_clear_error(tmp_path):
    source = tmp_path / "ml-100k.zip"
    source.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(ValueError, match="not a valid zip archive"):
        load("movielens-100k", path=source)


def test_a_zip_without_the_layout_names_the_missing_files(tmp_path):
    source = tmp_path / "other.zip"
    with zipfile.ZipFile(source, "w") as zipped:
        zipped.writestr("ml-100k/u.data", "1\t1\t1\t1\n")
    with pytest.raises(ValueError, match="lacks .*u.item"):
        load("movielens-100k", path=source)


# ---------------------------------------------------------------------- MovieLens: download
def serve(payload, calls=None):
    """A stand-in for urlopen that serves bytes from memory (no network in tests)."""
    def fake_urlopen(url, timeout=None):
        if calls is not None:
            calls.append(url)
        return io.BytesIO(payload)
    return fake_urlopen


def test_download_is_verified_then_read(movielens_zip, tmp_path, monkeypatch):
    payload, calls = movielens_zip.read_bytes(), []
    monkeypatch.setattr(datasets, "urlopen", serve(payload, calls))
    monkeypatch.setattr(datasets, "MOVIELENS_100K_SHA256", hashlib.sha256(payload).hexdigest())
    home = tmp_path / "home"
    check_tiny_movielens(load("movielens-100k", data_home=home))
    assert calls == [datasets.MOVIELENS_100K_URL]
    assert os.listdir(home) == ["ml-100k.zip"]  # no temporary files left
    mask = os.umask(0)
    os.umask(mask)
    assert os.stat(home / "ml-100k.zip").st_mode & 0o777 == 0o666 & ~mask  # issue 15: shareable
    load("movielens-100k", data_home=home)
    assert len(calls) == 1  # found locally the second time


def test_checksum_mismatch_raises_and_leaves_no_file(movielens_zip, tmp_path, monkeypatch):
    # the tiny zip is not the official archive, so the official checksum must reject it
    monkeypatch.setattr(datasets, "urlopen", serve(movielens_zip.read_bytes()))
    home = tmp_path / "home"
    with pytest.raises(ValueError, match="checksum mismatch"):
        load("movielens-100k", data_home=home)
    assert os.listdir(home) == []


def test_offline_says_where_to_put_the_zip(tmp_path, monkeypatch):
    def no_network(url, timeout=None):
        raise URLError("Temporary failure in name resolution")

    monkeypatch.setattr(datasets, "urlopen", no_network)
    home = tmp_path / "home"
    expected = str(home / "ml-100k.zip")
    with pytest.raises(FileNotFoundError, match="offline") as error:
        load("movielens-100k", data_home=home)
    assert expected in str(error.value) and os.listdir(home) == []
    with pytest.raises(FileNotFoundError) as error:
        load("movielens-100k", data_home=tmp_path / "elsewhere", download=False)
    assert str(tmp_path / "elsewhere" / "ml-100k.zip") in str(error.value)


def test_the_official_checksum_is_pinned():
    official = "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229"
    assert datasets.MOVIELENS_100K_SHA256 == official


# ---------------------------------------------------------------------- load / available
def test_load_names_and_options(tmp_path):
    assert set(available(tmp_path)) == {"toy", "synthetic", "movielens-100k", *datasets.DATASETS}
    assert available(tmp_path)["movielens-100k"]["local"] is None
    assert len(load(n_users=20, n_items=10, n_interactions=50)) == 50  # synthetic is the default
    with pytest.raises(ValueError, match="unknown data set 'netflix'"):
        load("netflix")
    with pytest.raises(ValueError, match="built in"):
        load("toy", path=tmp_path)


def test_data_home_defaults_to_the_user_cache(monkeypatch):
    monkeypatch.delenv("NANOREC_DATA_HOME", raising=False)
    assert get_data_home() == get_data_home("~/.cache/nanorec")
    assert str(get_data_home()).endswith(os.path.join(".cache", "nanorec"))


# ---------------------------------------------------------------------- issue 15
def test_issue15_a_read_only_data_home_with_only_the_zip_works(movielens_zip, tmp_path,
                                                              monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / "ml-100k.zip").write_bytes(movielens_zip.read_bytes())

    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    for name in ("mkstemp", "mkdtemp"):  # nothing may be written in the data home
        monkeypatch.setattr(datasets.tempfile, name, read_only)
    monkeypatch.setattr(os, "mkdir", read_only)
    check_tiny_movielens(load("movielens-100k", data_home=home, download=False))
    assert os.listdir(home) == ["ml-100k.zip"]


def test_issue15_the_zip_of_the_data_home_is_what_is_read(make_movielens_zip, movielens_zip,
                                                          tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "ml-100k").mkdir()  # a stale folder of an older nanorec, with other rows
    (home / "ml-100k" / "u.data").write_text("not\tthe\tdata\n")
    bad = make_movielens_zip()
    with zipfile.ZipFile(io.BytesIO(bad)) as source:
        files = {info.filename: source.read(info) for info in source.infolist()}
    files["ml-100k/u.data"] = b"1\t10\t4\t5\n\n2\t10\t3\t6\n3\t30\t1\tlater\n"
    with zipfile.ZipFile(home / "ml-100k.zip", "w") as zipped:
        for name, content in files.items():
            zipped.writestr(name, content)
    with pytest.raises(ValueError, match=r"ml-100k.zip: ml-100k/u.data, line 4: the value "
                                         r"'later' is not an integer"):
        load("movielens-100k", data_home=home, download=False)
    (home / "ml-100k.zip").write_bytes(movielens_zip.read_bytes())  # copied over the bad one
    check_tiny_movielens(load("movielens-100k", data_home=home, download=False))


@pytest.mark.parametrize("member, content, message", [
    ("u.data", "1\t10\t4\n", r"u.data, line 1: 3 fields, expected 4 tab-separated integers"),
    ("u.data", "1\t10\t4\t5\n9\t10\t4\t6\n", r"u.data, line 2: user id 9 is not in u.user"),
    ("u.item", "x|Alpha|||http://x|0|1|0\n", r"u.item, line 1: the item id 'x' is not an integer"),
    ("u.item", "10|Alpha|||http://x|0|yes|0\n", r"u.item, line 1: expected id\|title"),
    ("u.user", "1|20|M\n", r"u.user, line 1: expected id\|age\|gender\|occupation"),
])
def test_issue15_a_bad_line_of_a_movielens_file_is_named(make_movielens_zip, tmp_path, member,
                                                        content, message):
    with zipfile.ZipFile(io.BytesIO(make_movielens_zip())) as source:
        files = {info.filename: source.read(info) for info in source.infolist()}
    files[f"ml-100k/{member}"] = content.encode()
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w") as zipped:
        for name, data in files.items():
            zipped.writestr(name, data)
    with pytest.raises(ValueError, match=f"bad.zip: ml-100k/{message}"):
        load("movielens-100k", path=path)


def test_issue15_a_data_home_that_is_a_file_is_one_clear_error(tmp_path, monkeypatch):
    a_file = tmp_path / "file"
    a_file.write_text("")
    monkeypatch.setenv("NANOREC_DATA_HOME", str(a_file))
    with pytest.raises(NotADirectoryError, match=f"NANOREC_DATA_HOME {a_file} is a file, not a "
                                                 "folder"):
        load("movielens-100k")
    with pytest.raises(NotADirectoryError, match="data_home .* is a file"):
        get_data_home(a_file)


def test_issue15_offline_says_how_to_give_the_zip_on_the_command_line(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        load("movielens-100k", data_home=tmp_path / "home", download=False)
    assert "--data path/to/ml-100k.zip" in str(error.value)
    assert "pass path=" not in str(error.value)


def test_issue15_the_checksum_is_the_same_for_a_zip_and_its_folder(movielens_zip, tmp_path):
    with zipfile.ZipFile(movielens_zip) as zipped:
        zipped.extractall(tmp_path / "unpacked")
    by_zip = datasets.movielens_100k_checksum(path=movielens_zip)
    assert by_zip == datasets.movielens_100k_checksum(path=tmp_path / "unpacked")
    home = tmp_path / "home"
    home.mkdir()
    (home / "ml-100k.zip").write_bytes(movielens_zip.read_bytes())
    assert by_zip == datasets.movielens_100k_checksum(data_home=home)


def test_issue15_synthetic_sizes_the_user_gives_are_enough():
    small = synthetic(n_users=10, n_items=5, n_interactions=3)  # n_genres follows n_items
    assert small.item_features.shape == (5, 5) and len(small) == 3
    sparse = synthetic(n_users=150_000, n_items=1000, n_interactions=10)  # most users: no rows
    assert (sparse.n_users, len(sparse)) == (150_000, 10)
    with pytest.raises(ValueError, match="n_genres .11. cannot exceed n_items .10."):
        synthetic(n_items=10, n_genres=11)


# ---------------------------------------------------------------------- the standard rating logs
# Tiny files in the layouts of the official archives, built here (no real data, no download).
# Each builder returns the bytes; the rows are chosen so that every parser has something to do.
ENGINES = ["pandas", "python"]
ML_ROWS = [(1, 10, 4.0, 978300760), (1, 20, 3.5, 978300761), (2, 10, 5.0, 978300762),
           (7, 30, 1.0, 978300763)]  # (user, item, rating, timestamp); half stars as in ml-10m+


def zip_of(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for name, content in members.items():
            zipped.writestr(name, content)
    return buffer.getvalue()


def tar_gz_of(members, links=()):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
        for name, target in links:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
    return buffer.getvalue()


def movielens_dat(rows=ML_ROWS):
    return "".join(f"{u}::{i}::{r:g}::{t}\n" for u, i, r, t in rows).encode()


def movielens_csv(rows=ML_ROWS):
    return ("userId,movieId,rating,timestamp\n"
            + "".join(f"{u},{i},{r:.1f},{t}\n" for u, i, r, t in rows)).encode()


def movielens_archive(name):
    """The zip of a MovieLens data set of DATASETS, with the other files of its folder."""
    folder = datasets.DATASETS[name].member.split("/")[0]
    ratings = movielens_dat() if name in ("movielens-1m", "movielens-10m") else movielens_csv()
    ratings_name = datasets.DATASETS[name].member.split("/")[1]
    movies = "movies.dat" if ratings_name.endswith(".dat") else "movies.csv"
    return zip_of({f"{folder}/": b"", f"{folder}/{ratings_name}": ratings,
                   f"{folder}/{movies}": b"10::Alpha (1995)::Comedy\n", f"{folder}/README": b"x"})


AMAZON = (b"A2SUAM1J3GNN3B,0000013714,5.0,1399334400\n"
          b"A18C9SNLZWVBIE,0000013714,4.0,1399680000\n"
          b"A2SUAM1J3GNN3B,B00004TBLW,2.0,1262304000\n"
          b"A2SUAM1J3GNN3B,0000013714,3.0,1420070400\n")  # a pair rated again, later: it wins

LASTFM_1K = (
    "user_000001\t2009-05-04T23:08:57Z\tf1b1cf71-bd35-4e99-8624-24a6e15f133a\tDeep Dish\t\tFuck Me Im Famous\n"
    "user_000001\t2009-05-04T13:54:10Z\ta7f7df4a-77d8-4f12-8acd-5c60c93f4de8\t坂本龍一\t\tComposition 0919 (Live_2009_4_15)\n"
    "user_000001\t2009-05-05T00:00:00Z\tf1b1cf71-bd35-4e99-8624-24a6e15f133a\tDeep Dish\t\t\"Quoted\" track\n"
    "user_000002\t2009-05-04T10:00:00Z\t\tNo Mbid Band\t\tSong\n"
).encode()

LASTFM_360K = (
    "000063d3fe1cf2ba248b9e3c3f0334845a27a6bf\taf8e4cc5-ef54-458d-a194-7b210acf638f\tcannibal corpse\t48\n"
    "000063d3fe1cf2ba248b9e3c3f0334845a27a6bf\t\tsome band\t7\n"
    "00007a02388c208ea7176479f6ae06f8224355b3\taf8e4cc5-ef54-458d-a194-7b210acf638f\tcannibal corpse\t1\n"
).encode()

RECBOLE = (b"user_id:token\titem_id:token\trating:float\ttimestamp:float\treview:token_seq\n"
           b"u1\ti9\t3\t881250949.5\tgood film\n"
           b"u2\ti9\t5\t891717742\tok\n"
           b"u1\ti7\t1\t878887116\tmeh\n")


def write(path, content):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", ["movielens-1m", "movielens-10m", "movielens-20m",
                                  "movielens-25m", "movielens-latest-small"])
def test_movielens_archives_are_read_in_place(name, engine, tmp_path):
    home = tmp_path / "home"
    write(home / datasets.DATASETS[name].file, movielens_archive(name))
    assert available(home)[name]["local"] == str(home / datasets.DATASETS[name].file)
    data = load(name, data_home=home, download=False, engine=engine)
    assert (data.n_users, data.n_items, len(data)) == (3, 3, 4)
    assert data.user_ids.tolist() == [1, 2, 7] and data.item_ids.tolist() == [10, 20, 30]
    assert data.timestamps.tolist() == [t for *_, t in ML_ROWS]
    assert data.ratings.tolist() == [r for _, _, r, _ in ML_ROWS]
    assert data.user_index.tolist() == [0, 0, 1, 2] and data.item_index.tolist() == [0, 1, 0, 2]
    assert sorted(os.listdir(home)) == [datasets.DATASETS[name].file]  # nothing extracted


@pytest.mark.parametrize("engine", ENGINES)
def test_an_extracted_ratings_file_a_folder_or_the_file_itself_serve_too(engine, tmp_path):
    home = tmp_path / "home"
    extracted = write(home / "ml-1m" / "ratings.dat", movielens_dat())
    assert available(home)["movielens-1m"]["local"] == str(extracted)
    for path in (None, home / "ml-1m", home, extracted):
        data = load("movielens-1m", path=path, data_home=home, download=False, engine=engine)
        assert len(data) == 4 and data.user_ids.tolist() == [1, 2, 7]


@pytest.mark.parametrize("engine", ENGINES)
def test_amazon_ratings_keep_text_ids_and_the_latest_repeat(engine, tmp_path):
    home = tmp_path / "home"
    write(home / "ratings_Books.csv", AMAZON)
    data = load("amazon-books", data_home=home, download=False, engine=engine)
    assert (data.n_users, data.n_items, len(data)) == (2, 2, 3)
    assert data.user_ids.tolist() == ["A18C9SNLZWVBIE", "A2SUAM1J3GNN3B"]
    assert data.item_ids.tolist() == ["0000013714", "B00004TBLW"]  # leading zeros kept: text
    pairs = {(data.user_ids[u], data.item_ids[i]): (r, t) for u, i, r, t in
             zip(data.user_index, data.item_index, data.ratings, data.timestamps)}
    assert pairs[("A2SUAM1J3GNN3B", "0000013714")] == (3.0, 1420070400)


@pytest.mark.parametrize("engine", ENGINES)
def test_lastfm_1k_plays_become_user_artist_counts(engine, tmp_path):
    home = tmp_path / "home"
    member = datasets.DATASETS["lastfm-1k"].member
    write(home / "lastfm-dataset-1K.tar.gz", tar_gz_of({
        "lastfm-dataset-1K/README.txt": b"readme", member: LASTFM_1K,
        "lastfm-dataset-1K/userid-profile.tsv": b"#id\tgender\nuser_000001\tm\n"}))
    data = load("lastfm-1k", data_home=home, download=False, engine=engine)
    assert data.user_ids.tolist() == ["user_000001", "user_000002"]
    assert data.item_ids.tolist() == ["No Mbid Band", "a7f7df4a-77d8-4f12-8acd-5c60c93f4de8",
                                      "f1b1cf71-bd35-4e99-8624-24a6e15f133a"]
    counts = {(data.user_ids[u], data.item_ids[i]): (r, t) for u, i, r, t in
              zip(data.user_index, data.item_index, data.ratings, data.timestamps)}
    deep_dish = ("user_000001", "f1b1cf71-bd35-4e99-8624-24a6e15f133a")
    assert counts[deep_dish] == (2.0, 1241481600)  # two plays; the latest, 2009-05-05T00:00:00Z
    assert counts[("user_000002", "No Mbid Band")] == (1.0, 1241431200)
    assert len(data) == 3


@pytest.mark.parametrize("engine", ENGINES)
def test_lastfm_360k_plays_are_the_ratings(engine, tmp_path):
    path = write(tmp_path / "l.tar.gz", tar_gz_of({datasets.DATASETS["lastfm-360k"].member:
                                                   LASTFM_360K}))
    data = load("lastfm-360k", path=path, engine=engine)
    assert (data.n_users, data.n_items, len(data)) == (2, 2, 3) and data.timestamps is None
    assert data.item_ids.tolist() == ["af8e4cc5-ef54-458d-a194-7b210acf638f", "some band"]
    assert sorted(data.ratings.tolist()) == [1.0, 7.0, 48.0]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_recbole_atomic_file_is_read_by_its_header(engine, tmp_path):
    path = write(tmp_path / "ml.inter", RECBOLE)
    data = load("recbole", path=path, engine=engine)
    assert data.user_ids.tolist() == ["u1", "u2"] and data.item_ids.tolist() == ["i7", "i9"]
    assert data.ratings.tolist() == [3.0, 5.0, 1.0]
    assert data.timestamps.tolist() == [881250949, 891717742, 878887116]
    no_rating = write(tmp_path / "implicit.inter", b"item_id:token\tuser_id:token\ni9\tu1\n")
    implicit = load("recbole", path=no_rating, engine=engine)
    assert implicit.ratings is None and implicit.user_ids.tolist() == ["u1"]
    with pytest.raises(FileNotFoundError, match="no official download"):
        load("recbole", data_home=tmp_path)
    for header, message in ((b"user_id\titem_id\n", "is not name:type"),
                            (b"user_id:token\tscore:float\n", "no item_id field"),
                            (b"user_id:token\titem_id:token\trating:token\n", "expected float")):
        with pytest.raises(ValueError, match=message):
            load("recbole", path=write(tmp_path / "bad.inter", header + b"a\tb\tc\n"))


def test_both_engines_give_the_same_interactions(tmp_path):
    path = write(tmp_path / "ratings.csv", movielens_csv(ML_ROWS * 1))
    by_pandas = load("movielens-20m", path=path, engine="pandas")
    by_python = load("movielens-20m", path=path, engine="python")
    for field in ("user_ids", "item_ids", "user_index", "item_index", "ratings", "timestamps"):
        np.testing.assert_array_equal(getattr(by_pandas, field), getattr(by_python, field))
        assert getattr(by_pandas, field).dtype == getattr(by_python, field).dtype


@pytest.mark.parametrize("engine", ENGINES)
def test_a_bad_line_is_refused_naming_the_file(engine, tmp_path):
    bad_number = write(tmp_path / "ratings.dat", b"1::10::4::978300760\n2::10::x::978300761\n")
    with pytest.raises(ValueError, match=r"ratings.dat(, line 2: the rating 'x' is not a number|"
                                         r": could not convert string to float: 'x')"):
        load("movielens-1m", path=bad_number, engine=engine)
    short = write(tmp_path / "ratings_Beauty.csv", b"A,B,5.0,1\nA,C,5.0\n")
    with pytest.raises(ValueError, match="ratings_Beauty.csv"):
        load("amazon-beauty", path=short, engine=engine)
    bad_time = write(tmp_path / "plays.tsv", b"u\tyesterday\tm\tname\t\ttrack\n")
    with pytest.raises(ValueError, match="'yesterday' of row 1 is not an ISO 8601 time"):
        load("lastfm-1k", path=bad_time, engine=engine)


def test_the_python_engine_names_the_line(tmp_path):
    bad = write(tmp_path / "ratings.dat", b"1::10::4::978300760\n2::10::x::978300761\n")
    with pytest.raises(ValueError, match=r"ratings.dat, line 2: the rating 'x' is not a number"):
        load("movielens-1m", path=bad, engine="python")
    fields = write(tmp_path / "ratings_Beauty.csv", b"A,B,5.0,1\nA,C,5.0\n")
    with pytest.raises(ValueError, match=r"line 2: 3 fields, expected 4 separated by ','"):
        load("amazon-beauty", path=fields, engine="python")
    with pytest.raises(ValueError, match="engine must be one of"):
        load("amazon-beauty", path=fields, engine="polars")


# ---------------------------------------------------------------------- bad archives
@pytest.mark.parametrize("name, content", [
    ("ml-1m.zip", b"PK\x03\x04 this is not really a zip"),
    ("lastfm-dataset-1K.tar.gz", b"\x1f\x8b\x08\x00 not really gzip"),
])
def test_a_corrupt_archive_is_refused(name, content, tmp_path):
    dataset = "movielens-1m" if name.endswith(".zip") else "lastfm-1k"
    with pytest.raises(ValueError, match="not a valid"):
        load(dataset, path=write(tmp_path / name, content))


def test_a_truncated_or_damaged_archive_is_refused(tmp_path):
    whole = tar_gz_of({datasets.DATASETS["lastfm-360k"].member: LASTFM_360K * 50})
    cut = write(tmp_path / "lastfm-dataset-360K.tar.gz", whole[: len(whole) // 2])
    with pytest.raises(ValueError, match="corrupt|not a valid"):
        load("lastfm-360k", path=cut)
    archive = bytearray(zip_of({"ml-1m/ratings.dat": movielens_dat() * 20}))
    at = archive.index(b"1::10::4")  # flip a stored byte: the CRC no longer matches
    archive[at] ^= 0x01
    with pytest.raises(ValueError, match="corrupt"):
        load("movielens-1m", path=write(tmp_path / "ml-1m.zip", bytes(archive)))


@pytest.mark.parametrize("member", ["../evil", "ml-1m/../../evil", "/abs/evil"])
def test_unsafe_members_are_refused_in_zips_and_tars(member, tmp_path):
    zipped = zip_of({"ml-1m/ratings.dat": movielens_dat(), member: b"gotcha"})
    with pytest.raises(ValueError, match="unsafe member"):
        load("movielens-1m", path=write(tmp_path / "ml-1m.zip", zipped))
    tarred = tar_gz_of({datasets.DATASETS["lastfm-360k"].member: LASTFM_360K, member: b"gotcha"})
    with pytest.raises(ValueError, match="unsafe member"):
        load("lastfm-360k", path=write(tmp_path / "l.tar.gz", tarred))
    linked = tar_gz_of({datasets.DATASETS["lastfm-360k"].member: LASTFM_360K},
                       links=[("lastfm-dataset-360K/link", "/etc/passwd")])
    with pytest.raises(ValueError, match="unsafe member 'lastfm-dataset-360K/link'"):
        load("lastfm-360k", path=write(tmp_path / "link.tar.gz", linked))
    assert not list(tmp_path.rglob("evil"))


def test_an_archive_without_the_ratings_file_says_so(tmp_path):
    with pytest.raises(ValueError, match="read from its ratings file itself"):
        load("recbole", path=write(tmp_path / "atomic.zip", zip_of({"x.inter": RECBOLE})))
    with pytest.raises(ValueError, match="lacks ml-10M100K/ratings.dat"):
        load("movielens-10m", path=write(tmp_path / "ml-10m.zip", zip_of({"x/ratings.dat": b""})))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no ml-10M100K/ratings.dat or ratings.dat"):
        load("movielens-10m", path=tmp_path / "empty")


# ---------------------------------------------------------------------- download
def test_a_download_is_verified_against_the_published_md5(tmp_path, monkeypatch):
    payload, calls = movielens_archive("movielens-1m"), []
    monkeypatch.setattr(datasets, "urlopen", serve(payload, calls))
    spec = datasets.DATASETS["movielens-1m"]
    home = tmp_path / "home"
    with pytest.raises(ValueError, match="checksum mismatch .* expected MD5 "
                                         "c4d9eecfca2ab87c1945afe126590906"):
        load("movielens-1m", data_home=home)  # the tiny zip is not the official archive
    assert os.listdir(home) == []
    monkeypatch.setitem(datasets.DATASETS, "movielens-1m", dataclasses.replace(
        spec, checksum=f"md5:{hashlib.md5(payload).hexdigest()}"))
    assert len(load("movielens-1m", data_home=home)) == 4
    assert calls == [spec.url, spec.url] and os.listdir(home) == ["ml-1m.zip"]
    load("movielens-1m", data_home=home)
    assert len(calls) == 2  # found locally the next time


def test_offline_names_the_file_and_where_to_put_it(tmp_path, monkeypatch):
    def no_network(url, timeout=None):
        raise URLError("Temporary failure in name resolution")

    monkeypatch.setattr(datasets, "urlopen", no_network)
    with pytest.raises(FileNotFoundError, match="offline") as error:
        load("amazon-electronics", data_home=tmp_path)
    assert str(tmp_path / "ratings_Electronics.csv") in str(error.value)
    with pytest.raises(FileNotFoundError, match=r"not in the data home .*ml-25m.zip"):
        load("movielens-25m", data_home=tmp_path, download=False)


def test_the_published_checksums_are_pinned_and_unknown_ones_are_none():
    published = {"movielens-1m": "c4d9eecfca2ab87c1945afe126590906",
                 "movielens-10m": "ce571fd55effeba0271552578f2648bd",
                 "movielens-20m": "cd245b17a1ae2cc31bb14903e1204af3",
                 "movielens-25m": "6b51fb2759a8657d3bfcbfc42b592ada"}
    for name, spec in datasets.DATASETS.items():
        if name in published:
            assert spec.checksum == f"md5:{published[name]}"
        else:
            assert spec.checksum is None and (spec.url is None or spec.checksum_note)
        assert spec.url is None or spec.url.endswith(spec.file)


@settings(max_examples=25, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from(["A1", "B2", "0007", "x-y"]),
                               st.sampled_from(["0000013714", "B00004TBLW", "i"]),
                               st.integers(1, 5), st.integers(0, 2**31)),
                     min_size=1, max_size=12))
def test_engines_agree_with_the_rows_on_random_amazon_files(rows):
    content = "".join(f"{u},{i},{r}.0,{t}\n" for u, i, r, t in rows).encode()
    latest = {}
    for u, i, r, t in rows:  # the latest row of each pair; equal times: the later line
        if (u, i) not in latest or t >= latest[(u, i)][1]:
            latest[(u, i)] = (r, t)
    for engine in ENGINES:
        data = rating_files.parse_amazon_ratings(io.BytesIO(content), "f", engine=engine)
        got = {(data.user_ids[u], data.item_ids[i]): (r, t) for u, i, r, t in
               zip(data.user_index, data.item_index, data.ratings, data.timestamps)}
        assert got == latest
