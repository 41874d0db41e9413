import json
import os

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
