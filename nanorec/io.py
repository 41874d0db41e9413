"""Saving and loading arrays with a JSON header: versioned, atomic, never unpickled.

A nanorec file is an ordinary ``.npz`` archive holding the named arrays plus one extra member,
``__header__``, a JSON document (stored as uint8 bytes) with at least

    {"format": "nanorec", "version": FORMAT_VERSION, "kind": "<what was saved, e.g. BiasedMF>", ...}

Writes go to a temporary file in the target folder and are renamed into place only once complete, so
an interrupted save never leaves a half-written file under the target name. Loading uses
``allow_pickle=False``: object arrays (which would need pickle) are refused when saving.
"""

import json
import os
import tempfile
import zipfile

import numpy as np

FORMAT_VERSION = 2  # 2: models saved as networks (their parameters under "network_.<key>")
_HEADER = "__header__"


class FormatError(ValueError):
    """A file that is not a readable nanorec file of the expected kind and version."""


def save_arrays(path, kind, arrays, **header):
    """Write ``arrays`` (dict name -> ndarray) and a JSON ``header`` to ``path`` atomically.

    ``kind`` names what is saved (a model class); extra keyword arguments must be JSON-serialisable.
    Returns the path written (``.npz`` is appended when missing, as NumPy does).
    """
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    if _HEADER in arrays:
        raise ValueError(f"array name {_HEADER!r} is reserved")
    document = {"format": "nanorec", "version": FORMAT_VERSION, "kind": kind, **header}
    members = {_HEADER: np.frombuffer(json.dumps(document).encode("utf-8"), dtype=np.uint8)}
    for name, value in arrays.items():
        value = np.asarray(value)
        if value.dtype.hasobject:
            raise TypeError(f"array {name!r} holds Python objects; nanorec files never pickle")
        members[name] = value
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".nanorec-", suffix=".npz.tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **members)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load_arrays(path, kind=None):
    """Read a file written by ``save_arrays``: returns ``(header dict, arrays dict)``.

    Raises FileNotFoundError for a missing file and FormatError, with a message naming the problem,
    for a truncated or corrupt file, a file that is not nanorec's, one of another ``kind``, or one
    written by a newer version of the format.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if _HEADER not in archive.files:
                raise FormatError(f"{path} is not a nanorec file (no header)")
            header = json.loads(archive[_HEADER].tobytes().decode("utf-8"))
            arrays = {name: archive[name] for name in archive.files if name != _HEADER}
    except FormatError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, UnicodeDecodeError) as error:
        raise FormatError(f"{path} is truncated or corrupt ({error})") from None
    if not isinstance(header, dict) or header.get("format") != "nanorec":
        raise FormatError(f"{path} is not a nanorec file")
    version = header.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise FormatError(
            f"{path} was written by format version {version}; this nanorec reads up to "
            f"{FORMAT_VERSION}: upgrade nanorec"
        )
    if kind is not None and header.get("kind") != kind:
        raise FormatError(f"{path} holds a {header.get('kind')}, not a {kind}")
    return header, arrays
