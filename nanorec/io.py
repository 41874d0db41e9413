"""Saving and loading arrays with a JSON header: versioned, atomic, validated, never unpickled.

A nanorec file is an ordinary ``.npz`` archive holding the named arrays plus one extra member,
``__header__``, a JSON document (stored as uint8 bytes) with at least

    {"format": "nanorec", "version": FORMAT_VERSION, "kind": "<what was saved, e.g. BiasedMF>", ...}

Writing. The bytes go to a temporary file in the target folder, which is renamed into place only
once complete (``write_atomically``), so an interrupted or failed save leaves the previous file
as it was. The new file gets the permissions a new file gets from the umask (0o666 & ~umask), or
those of the file it replaces.

Reading (``open_arrays``) checks the file before reading any array: every member must be a
``.npy`` array of plain numbers or text (no Python objects: nothing is ever unpickled), and the
sizes its zip entry and its ``.npy`` header declare must agree and, all arrays together, stay
below ``max_bytes`` (by default ``array_bytes_bound(file size)``). So a small file cannot make
the reader allocate more than a bounded multiple of its own size, and every way a file can be
damaged (cut short, bytes changed, members missing or foreign) ends in one FormatError naming
the file and what is wrong with it.
"""

import json
import os
import stat
import tempfile
import zipfile

import numpy as np

FORMAT_VERSION = 2  # 2: models saved as networks (their parameters under "network_.<key>")
_HEADER = "__header__"
MAX_HEADER_BYTES = 16 << 20  # the JSON header: hyperparameters, histories, metadata
MAX_MEMBERS = 10_000
MIN_ARRAY_BYTES_BOUND = 32 << 20
ARRAY_BYTES_PER_FILE_BYTE = 16  # files are written uncompressed; this allows for recompression
ARRAY_KINDS = "biufU"  # bool, integers, floats, text: what a model file holds


class FormatError(ValueError):
    """A file that is not a readable nanorec file of the expected kind and version."""


def array_bytes_bound(file_size):
    """The most bytes of arrays a file of ``file_size`` bytes may declare: 16 times its size
    (nanorec writes arrays uncompressed, so its own files declare about 1 times), at least 32 MiB."""
    return max(MIN_ARRAY_BYTES_BOUND, ARRAY_BYTES_PER_FILE_BYTE * int(file_size))


# ---------------------------------------------------------------------- writing
def save_arrays(path, kind, arrays, **header):
    """Write ``arrays`` (dict name -> ndarray) and a JSON ``header`` to ``path`` atomically.

    ``kind`` names what is saved (a model class); extra keyword arguments must be JSON-serialisable.
    Returns the path written (``.npz`` is appended when missing, as NumPy does). ValueError for an
    empty path or one naming a folder; FileNotFoundError when the folder does not exist.
    """
    path = output_path(path, ".npz")
    if _HEADER in arrays:
        raise ValueError(f"array name {_HEADER!r} is reserved")
    document = {"format": "nanorec", "version": FORMAT_VERSION, "kind": kind, **header}
    members = {_HEADER: np.frombuffer(json.dumps(document).encode("utf-8"), dtype=np.uint8)}
    for name, value in arrays.items():
        value = np.asarray(value)
        if value.dtype.hasobject:
            raise TypeError(f"array {name!r} holds Python objects; nanorec files never pickle")
        members[name] = value
    return write_atomically(path, lambda handle: np.savez(handle, **members))


def output_path(path, extension=None):
    """``path`` as a str, with ``extension`` appended when missing, after checking it can name a
    file to write: ValueError if empty, a folder or another non-regular file (a device),
    FileNotFoundError if its folder does not exist."""
    path = os.fspath(path)
    if not path.strip():
        raise ValueError("no file name given (an empty path)")
    named = [path] if extension is None or path.endswith(extension) else [path, path + extension]
    for name in named:  # "--save DIR" must not write DIR.npz beside the folder
        if name.endswith(("/", os.sep)) or os.path.isdir(name):
            raise ValueError(f"{name} is a folder: give a file name, e.g. "
                             f"{os.path.join(name, 'model' + (extension or ''))}")
        if os.path.exists(name) and not os.path.isfile(name):  # a device, a pipe
            raise ValueError(f"{name} is not a regular file: give the name of a file to write")
    if extension is not None and not path.endswith(extension):
        path += extension
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot write {path}: the folder {folder} does not exist")
    return path


def write_atomically(path, write):
    """Call ``write(binary file)`` on a temporary file beside ``path``, then rename it to ``path``.

    The file gets the mode of the file it replaces, else 0o666 & ~umask (what ``open`` would give
    it; mkstemp alone gives 0o600). On any failure, Ctrl-C included, the temporary file is removed
    and ``path`` is left as it was. Returns ``path``.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = 0o666 & ~umask()
    temporary = None
    try:
        handle, temporary = tempfile.mkstemp(prefix=".nanorec-", suffix=".tmp", dir=folder)
        with os.fdopen(handle, "wb") as out:
            os.fchmod(out.fileno(), mode)
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
        temporary = None
    finally:
        if temporary is not None and os.path.exists(temporary):
            os.unlink(temporary)
    return path


def umask():
    """The process's umask, read without changing it where the system tells it (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (the only portable way to read it)
    os.umask(mask)
    return mask


# ---------------------------------------------------------------------- reading
class Archive:
    """An opened, checked nanorec file: its ``header`` (dict) and ``declared`` (name -> (shape,
    dtype) of every array, read from the ``.npy`` headers), with the arrays read on demand by
    ``read``. Use as a context manager, or call ``close``."""

    def __init__(self, path, zipped, header, members):
        self.path, self._zip, self.header, self._members = path, zipped, header, members
        self.declared = {name: (member.shape, member.dtype) for name, member in members.items()}

    def read(self, names=None):
        """{name: array} of ``names`` (default: every array but the header). FormatError when a
        member's bytes are damaged (its CRC-32 fails, it is cut short)."""
        names = list(self._members) if names is None else list(names)
        return {name: _read_member(self.path, self._zip, self._members[name]) for name in names}

    def close(self):
        self._zip.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


class _Member:
    """One array of an archive, as its zip entry and .npy header declare it."""

    def __init__(self, name, info, shape, dtype, fortran_order, offset):
        self.name, self.info, self.shape, self.dtype = name, info, shape, dtype
        self.fortran_order, self.offset = fortran_order, offset
        self.nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize


def open_arrays(path, kind=None, max_bytes=None):
    """Open a file written by ``save_arrays`` and check it, without reading its arrays yet.

    Checked: the path names a regular file; it is a zip whose members are all ``.npy`` arrays of
    numbers or text, none encrypted, none named twice; each member's ``.npy`` header is valid and
    declares exactly the bytes its zip entry holds; together they declare at most ``max_bytes``
    (default ``array_bytes_bound(file size)``); the JSON header says format "nanorec", an
    integer version this code reads, and ``kind`` when given.

    Returns an Archive. Raises FileNotFoundError for a missing file, FormatError for anything else.
    """
    path = os.fspath(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {path}") from None
    if stat.S_ISDIR(info.st_mode):
        raise FormatError(f"{path} is a folder, not a nanorec file")
    if not stat.S_ISREG(info.st_mode):
        raise FormatError(f"{path} is not a regular file (a device, a pipe?), not a nanorec file")
    bound = array_bytes_bound(info.st_size) if max_bytes is None else int(max_bytes)
    try:
        zipped = zipfile.ZipFile(path)
    except Exception as error:  # noqa: BLE001 - whatever a damaged zip directory raises
        raise FormatError(f"{path} is truncated or corrupt ({_reason(error)})") from None
    try:
        members = _check_members(path, zipped, bound)
        header = _read_header(path, zipped, members.pop(_HEADER, None))
        _check_header(path, header, kind)
    except BaseException:
        zipped.close()
        raise
    return Archive(path, zipped, header, members)


def load_arrays(path, kind=None, max_bytes=None):
    """Read a file written by ``save_arrays``: returns ``(header dict, arrays dict)``.

    The checks of ``open_arrays`` come first, so nothing is read from a file that declares more
    than ``max_bytes`` of arrays. Raises FileNotFoundError for a missing file and FormatError,
    with a message naming the file and the problem, for any file that is not a readable nanorec
    file of this ``kind`` (truncated, corrupt, foreign, of another kind, of a newer version).
    """
    with open_arrays(path, kind, max_bytes) as archive:
        return archive.header, archive.read()


def _check_members(path, zipped, bound):
    """{array name: _Member} of every member, after the checks of ``open_arrays``."""
    try:
        infos = zipped.infolist()
    except Exception as error:  # noqa: BLE001 - an untrusted file: the file is at fault
        raise FormatError(f"{path} is truncated or corrupt ({_reason(error)})") from None
    if len(infos) > MAX_MEMBERS:
        raise FormatError(f"{path} has {len(infos):,} members: not a nanorec file")
    members, total = {}, 0
    for info in infos:
        if not info.filename.endswith(".npy"):
            raise FormatError(f"{path} holds {info.filename!r}, which is not an array (.npy): "
                              "not a nanorec file")
        name = info.filename[: -len(".npy")]
        if name in members:
            raise FormatError(f"{path} holds the array {name!r} twice: the file is corrupt")
        if info.flag_bits & 0x1:
            raise FormatError(f"{path} holds an encrypted member ({name!r}): not a nanorec file")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise FormatError(f"{path} is truncated or corrupt (member {name!r} uses compression "
                              f"method {info.compress_type}, which nanorec never writes)")
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            raise FormatError(f"{path} is truncated or corrupt (member {name!r} declares "
                              f"{info.file_size:,} bytes but stores {info.compress_size:,})")
        total += info.file_size
        if total > bound:
            raise FormatError(f"{path} declares more than {bound:,} bytes of arrays (the limit "
                              f"for a file of {os.path.getsize(path):,} bytes): refusing to read "
                              "it; the file is damaged or not nanorec's")
        members[name] = _declared_array(path, zipped, info, name)
    return members


def _declared_array(path, zipped, info, name):
    """The member's .npy header, checked against its zip entry: a _Member."""
    try:
        with zipped.open(info) as stream:
            version = np.lib.format.read_magic(stream)
            if version == (1, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
            elif version == (2, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
            else:
                raise ValueError(f".npy version {version} (nanorec writes 1.0)")
            offset = stream.tell()
    except Exception as error:  # noqa: BLE001 - an untrusted file: the file is at fault
        raise FormatError(f"{path} is truncated or corrupt (member {name!r} is not a valid .npy "
                          f"array: {_reason(error)})") from None
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None \
            or dtype.kind not in ARRAY_KINDS:
        raise FormatError(f"{path}: array {name!r} has dtype {dtype}; a nanorec file holds only "
                          "numbers and text (never Python objects)")
    member = _Member(name, info, tuple(shape), dtype, fortran_order, offset)
    if member.nbytes != info.file_size - offset:
        raise FormatError(f"{path} is truncated or corrupt (array {name!r} declares shape "
                          f"{member.shape} of {dtype}, {member.nbytes:,} bytes, but its member "
                          f"holds {info.file_size - offset:,})")
    return member


def _read_header(path, zipped, member):
    """The JSON header document (a dict) from the ``__header__`` member."""
    if member is None:
        raise FormatError(f"{path} is not a nanorec file (no header)")
    if member.dtype != np.uint8 or len(member.shape) != 1 or member.nbytes > MAX_HEADER_BYTES:
        raise FormatError(f"{path} has a damaged header (not JSON bytes of at most "
                          f"{MAX_HEADER_BYTES:,})")
    raw = _read_member(path, zipped, member)
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise FormatError(f"{path} has a damaged header (not JSON: {_reason(error)})") from None
    if not isinstance(header, dict) or header.get("format") != "nanorec":
        raise FormatError(f"{path} is not a nanorec file")
    return header


def _check_header(path, header, kind):
    if "version" not in header:
        raise FormatError(f"{path} has a damaged header: it gives no format version")
    version = header["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise FormatError(f"{path} has a damaged header: its format version is {version!r}, not "
                          "a whole number >= 1")
    if version > FORMAT_VERSION:
        raise FormatError(
            f"{path} was written by format version {version}; this nanorec reads up to "
            f"{FORMAT_VERSION}: upgrade nanorec"
        )
    if not isinstance(header.get("kind"), str):
        raise FormatError(f"{path} has a damaged header: it does not say what it holds (kind)")
    if kind is not None and header["kind"] != kind:
        raise FormatError(f"{path} holds a {header['kind']}, not a {kind}")


def _read_member(path, zipped, member):
    """The array of a checked _Member: exactly the bytes its header declares."""
    try:
        with zipped.open(member.info) as stream:
            stream.read(member.offset)  # the .npy header, checked when the file was opened
            data = _read_exactly(stream, member.nbytes)
            if stream.read(1):
                raise ValueError("more bytes than its header declares")
    except Exception as error:  # noqa: BLE001 - an untrusted file: the file is at fault
        raise FormatError(f"{path} is truncated or corrupt (array {member.name!r}: "
                          f"{_reason(error)})") from None
    array = np.frombuffer(data, dtype=member.dtype)
    order = "F" if member.fortran_order else "C"
    array = array.reshape(member.shape, order=order).astype(member.dtype.newbyteorder("="))
    return np.ascontiguousarray(array)


def _read_exactly(stream, n_bytes):
    data = stream.read(n_bytes)
    if len(data) != n_bytes:
        raise EOFError(f"{len(data):,} of {n_bytes:,} bytes")
    return data


def _reason(error):
    """An exception as a short phrase for a one-line message."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
