import json
import os
import stat
import zipfile

import numpy as np
import pytest

from nanorec.io import FORMAT_VERSION, FormatError, load_arrays, save_arrays


def test_round_trip_keeps_arrays_and_header(tmp_path):
    arrays = {"P": np.arange(6, dtype=np.float32).reshape(2, 3), "ids": np.array(["a", "b"])}
    path = save_arrays(tmp_path / "m", "BiasedMF", arrays, params={"n_factors": 3})
    assert path.endswith("m.npz")
    header, loaded = load_arrays(path, kind="BiasedMF")
    assert header["params"] == {"n_factors": 3}
    assert header["version"] == FORMAT_VERSION
    np.testing.assert_array_equal(loaded["P"], arrays["P"])
    np.testing.assert_array_equal(loaded["ids"], arrays["ids"])


def test_object_arrays_are_refused(tmp_path):
    with pytest.raises(TypeError, match="never pickle"):
        save_arrays(tmp_path / "m.npz", "X", {"a": np.array([{"x": 1}], dtype=object)})
    assert os.listdir(tmp_path) == []  # no temp file left behind


def test_truncated_file_gives_clear_error(tmp_path):
    path = save_arrays(tmp_path / "m.npz", "X", {"a": np.ones(1000)})
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    with pytest.raises(FormatError, match="truncated or corrupt"):
        load_arrays(path)


def test_flipped_bytes_give_clear_error(tmp_path):
    path = save_arrays(tmp_path / "m.npz", "X", {"a": np.ones(1000)})
    data = bytearray(open(path, "rb").read())
    for j in range(40, 80):
        data[j] ^= 0xFF
    open(path, "wb").write(bytes(data))
    with pytest.raises(FormatError):
        load_arrays(path)


def test_foreign_npz_kind_and_newer_version(tmp_path):
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.ones(3))
    with pytest.raises(FormatError, match="not a nanorec file"):
        load_arrays(foreign)
    path = save_arrays(tmp_path / "m.npz", "BPRMF", {"a": np.ones(3)})
    with pytest.raises(FormatError, match="holds a BPRMF, not a BiasedMF"):
        load_arrays(path, kind="BiasedMF")
    newer = tmp_path / "newer.npz"
    header = {"format": "nanorec", "version": FORMAT_VERSION + 1, "kind": "X"}
    np.savez(newer, __header__=np.frombuffer(json.dumps(header).encode(), np.uint8))
    with pytest.raises(FormatError, match="upgrade nanorec"):
        load_arrays(newer)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_arrays(tmp_path / "nothing.npz")


def test_failed_write_keeps_previous_file(tmp_path, monkeypatch):
    path = save_arrays(tmp_path / "m.npz", "X", {"a": np.zeros(3)})

    def broken_savez(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        save_arrays(path, "X", {"a": np.ones(3)})
    monkeypatch.undo()
    _, arrays = load_arrays(path)
    np.testing.assert_array_equal(arrays["a"], np.zeros(3))
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]


def header_file(path, header):
    np.savez(path, __header__=np.frombuffer(json.dumps(header).encode(), np.uint8))
    return path


def test_issue15_a_damaged_version_is_not_a_newer_one(tmp_path):
    for version, fragment in (("1", "its format version is '1'"), (None, "is None"),
                              (True, "is True"), (0, "is 0")):
        path = header_file(tmp_path / "v.npz", {"format": "nanorec", "version": version, "kind": "X"})
        with pytest.raises(FormatError, match=fragment) as error:
            load_arrays(path)
        assert "upgrade" not in str(error.value) and "damaged header" in str(error.value)
    path = header_file(tmp_path / "none.npz", {"format": "nanorec", "kind": "X"})
    with pytest.raises(FormatError, match="damaged header: it gives no format version"):
        load_arrays(path)


def test_issue15_a_folder_or_a_device_is_not_a_file(tmp_path):
    with pytest.raises(FormatError, match="is a folder, not a nanorec file"):
        load_arrays(tmp_path)
    if os.path.exists("/dev/zero"):
        with pytest.raises(FormatError, match="not a regular file"):
            load_arrays("/dev/zero")


def test_issue15_members_that_are_not_plain_arrays_are_refused(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, __header__=np.frombuffer(b'{"format": "nanorec", "version": 2, "kind": "X"}',
                                            np.uint8), a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(FormatError, match="dtype object; a nanorec file holds only numbers"):
        load_arrays(path)
    good = save_arrays(tmp_path / "good.npz", "X", {"a": np.zeros(3)})
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(tmp_path / "text.npz", "w") as zipped:
        zipped.writestr("__header__.npy", source.read("__header__.npy"))
        zipped.writestr("notes.txt", "hello")
    with pytest.raises(FormatError, match="holds 'notes.txt', which is not an array"):
        load_arrays(tmp_path / "text.npz")


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_issue15_new_files_get_the_mode_the_umask_gives(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = save_arrays(tmp_path / "m.npz", "X", {"a": np.zeros(3)})
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask
    os.chmod(path, 0o640)  # a file replaced keeps its mode
    save_arrays(path, "X", {"a": np.ones(3)})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_issue15_a_folder_or_an_empty_name_is_not_a_place_to_save(tmp_path):
    (tmp_path / "models").mkdir()
    for path, message in ((tmp_path / "models", "is a folder"), ("", "no file name"),
                          (str(tmp_path / "models") + "/", "is a folder"),
                          (tmp_path / "nowhere" / "m.npz", "does not exist")):
        with pytest.raises((ValueError, FileNotFoundError), match=message):
            save_arrays(path, "X", {"a": np.zeros(3)})
    assert os.listdir(tmp_path) == ["models"]  # no models.npz beside the folder
