"""Issue 15: every file a user can be handed ends in a right answer or one clear line.

Two fuzz tests (hypothesis, derandomized by tests/conftest.py):

  model files      a saved BiasedMF, ItemKNN and ColdStartRecommender, cut short, with bytes
                   flipped anywhere, its JSON header edited, its arrays' shapes inflated,
                   members dropped, added or replaced: each outcome is a model that scores
                   exactly like the original (to 1e-6), or ONE FormatError
                   line naming the file; never another exception, and never more memory than a
                   small multiple of the file (traced with tracemalloc), because declared sizes
                   are refused before anything is read
  delimited text   random logs written with random separators, headers, quotes, a byte-order
                   mark, CR/LF line ends and blank lines, sometimes with one fault on one line:
                   each outcome is exactly the data written, or a ValueError naming that line;
                   ids keep their type, or a warning names the lines that made them text
"""

import io
import json
import re
import struct
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nanorec.privacy  # noqa: F401  (registers every model the header may name)
from nanorec.data import datasets
from nanorec.data.delimited import IdTypeWarning, read_delimited
from nanorec.data.interactions import Interactions
from nanorec.io import FormatError, open_arrays
from nanorec.models import REGISTRY, ColdStartRecommender, ItemKNN
from nanorec.models.base import Recommender
from nanorec.models.mf import BPRMF, BiasedMF

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


# ---------------------------------------------------------------------- model files
class Original:
    """A fitted BiasedMF, the bytes of its file, its members {name.npy: bytes}, a work folder."""

    def __init__(self, model, raw, members, folder):
        self.model, self.raw, self.members, self.folder = model, raw, members, folder

    def __iter__(self):
        return iter((self.model, self.raw, self.members, self.folder))

    def __repr__(self):  # hypothesis prints the arguments of a failing example
        return f"Original({len(self.raw):,} bytes)"


MODELS = {  # a network model, a model of plain arrays, and a model made of another model
    "biased-mf": lambda: BiasedMF(n_factors=4, n_epochs=2, random_state=1),
    "item-knn": lambda: ItemKNN(k=5),
    "cold-start": lambda: ColdStartRecommender(BPRMF(n_factors=4, n_epochs=2), neighbours=5),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def original(request, tmp_path_factory):
    data = datasets.load("synthetic", n_users=30, n_items=20, n_interactions=300, seed=0)
    data = Interactions(  # raw ids unlike indices
        data.user_index, data.item_index, data.user_ids * 7 + 1000, data.item_ids * 3 + 500,
        data.ratings, data.timestamps, data.user_features, data.user_feature_names,
        data.item_features, data.item_feature_names)
    model = MODELS[request.param]().fit(data)
    folder = tmp_path_factory.mktemp("fuzz")
    with open(model.save(folder / "original.npz"), "rb") as saved:
        raw = saved.read()
    with zipfile.ZipFile(io.BytesIO(raw)) as zipped:
        members = {info.filename: zipped.read(info) for info in zipped.infolist()}
    Recommender.load(folder / "original.npz")  # imports and caches whatever loading needs
    return Original(model, raw, members, folder)


def npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def zip_of(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for name, data in members.items():
            zipped.writestr(name, data)
    return buffer.getvalue()


def header_of(members):
    return json.loads(np.load(io.BytesIO(members["__header__.npy"])).tobytes())


def with_header(members, header):
    return {**members, "__header__.npy": npy(np.frombuffer(json.dumps(header).encode(), np.uint8))}


def inflated(data, factor):
    """A .npy member whose header claims ``factor`` times the rows it holds."""
    version = np.lib.format.read_magic(io.BytesIO(data))
    stream = io.BytesIO(data)
    np.lib.format.read_magic(stream)
    shape, fortran, dtype = (np.lib.format.read_array_header_1_0(stream) if version == (1, 0)
                             else np.lib.format.read_array_header_2_0(stream))
    body = data[stream.tell():]
    big = (max(1, shape[0]) * factor,) + tuple(shape[1:])
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": np.lib.format.dtype_to_descr(dtype),
                                                  "fortran_order": fortran, "shape": big})
    return b"\x93NUMPY\x01\x00" + header.getvalue()[8:] + body


# JSON values that break a field's type (numbers only where the field holds a whole number, where
# they break a size; an edit must never make a valid but different model, which no loader could
# tell from the original)
BREAKING = [None, "x", "1", [], {}, [[]], ["a", "b"], True]
SIZES = [-1, 0, 10**12, 2**63]


@st.composite
def header_edits(draw, members):
    """(description, new members) with the JSON header edited."""
    header = header_of(members)
    where = draw(st.sampled_from([part for part in ("top", "params", "fitted")
                                  if part == "top" or header.get(part)]))
    document = header if where == "top" else header[where]
    key = draw(st.sampled_from(sorted(document)))
    old = document[key]
    choices = ["delete"] + BREAKING
    if isinstance(old, (int, float)) and not isinstance(old, bool):
        choices.remove(True)  # Python reads True as the number 1: a valid, other model
    if isinstance(old, int) and not isinstance(old, bool):
        choices += SIZES
    if where == "top" and key == "kind":
        choices += sorted(model.__name__ for model in REGISTRY.values()) + ["Nope"]
    if where == "top" and key == "version":
        choices += [0, 1, 3, 1.5]
    if where == "top" and key == "networks":
        choices += [["other_"], ["network_", "network_"]]
    new = draw(st.sampled_from(choices))
    edited = json.loads(json.dumps(header))
    target = edited if where == "top" else edited[where]
    if new == "delete":
        del target[key]
    else:
        target[key] = new
    return f"header {where}.{key} -> {new!r}", with_header(members, edited)


@st.composite
def array_edits(draw, members):
    """(description, new members) with one array member dropped, added, replaced or inflated."""
    names = sorted(name for name in members if name != "__header__.npy")
    kind = draw(st.sampled_from(["drop", "add", "short", "long", "text", "object", "inflate",
                                 "2-d", "not npy"]))
    name = draw(st.sampled_from(names))
    array = np.load(io.BytesIO(members[name]))
    edited = dict(members)
    if kind == "drop":
        del edited[name]
    elif kind == "add":
        extra = draw(st.sampled_from(["extra_.npy", "bogus.npy", "predict.npy", "__class__.npy",
                                      "network_.extra.npy", "readme.txt", "user_ids_.npy"]))
        edited[extra] = npy(np.arange(3.0))
    elif kind == "short":
        edited[name] = npy(array[: len(array) // 2] if array.ndim else array.reshape(1)[:0])
    elif kind == "long":
        edited[name] = npy(np.concatenate([array.reshape(-1), array.reshape(-1)[:1] + 1]))
    elif kind == "text":
        edited[name] = npy(array.astype(str) if "ids" not in name else array[:-1].astype(str))
    elif kind == "object":
        edited[name] = npy(np.array([{"pickled": True}], dtype=object))
    elif kind == "inflate":
        edited[name] = inflated(members[name], draw(st.sampled_from([2, 10**6, 10**12])))
    elif kind == "2-d":
        edited[name] = npy(array.reshape(1, -1) if array.ndim == 1 else array.reshape(-1))
    else:
        edited[name] = draw(st.binary(min_size=0, max_size=40))
    return f"{kind} {name}", edited


class Damaged(tuple):
    def __repr__(self):
        return f"Damaged({self[0]!r}, {len(self[1]):,} bytes)"


def damaged_files(raw, members):
    return _damaged_files(raw, members).map(Damaged)


@st.composite
def _damaged_files(draw, raw, members):
    """(description, bytes) of a damaged model file."""
    how = draw(st.sampled_from(["truncate", "flip", "flip", "header", "header", "array",
                                "zip sizes"]))
    if how == "truncate":
        cut = draw(st.integers(0, len(raw) - 1))
        return f"truncated at {cut}", raw[:cut]
    if how == "flip":
        data = bytearray(raw)
        positions = draw(st.lists(st.integers(0, len(raw) - 1), min_size=1, max_size=3))
        for position in positions:
            data[position] ^= draw(st.integers(1, 255))
        return f"bytes flipped at {positions}", bytes(data)
    if how == "header":
        description, edited = draw(header_edits(members))
        return description, zip_of(edited)
    if how == "array":
        description, edited = draw(array_edits(members))
        return description, zip_of(edited)
    # the zip directory claims a huge uncompressed size for one member
    data = bytearray(zip_of(members))
    directory = [m.start() for m in re.finditer(b"PK\x01\x02", bytes(data))]
    entry = draw(st.sampled_from(directory))
    data[entry + 24 : entry + 28] = struct.pack("<I", draw(st.sampled_from([2**31, 2**32 - 2])))
    return f"zip directory entry at {entry} claims a huge size", bytes(data)


def peak_bytes(load):
    """(result or exception, peak traced bytes) of load()."""
    tracemalloc.start()
    try:
        try:
            outcome = load()
        except Exception as error:  # noqa: BLE001 - the test classifies it
            outcome = error
        return outcome, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@FUZZ
@given(data=st.data())
def test_issue15_fuzzed_model_files_load_identically_or_fail_in_one_line(original, data):
    model, raw, members, folder = original
    description, damaged = data.draw(damaged_files(raw, members), label="damage")
    path = folder / "damaged.npz"
    path.write_bytes(damaged)
    outcome, peak = peak_bytes(lambda: Recommender.load(path))
    # never more than a few times the file, whatever sizes the damaged file declares
    assert peak < 4 * len(raw) + (4 << 20), (description, peak)
    if isinstance(outcome, Exception):
        assert type(outcome) is FormatError, (description, repr(outcome))
        message = str(outcome)
        assert str(path) in message and "\n" not in message, (description, message)
        return
    assert type(outcome) is type(model), description
    users = np.arange(model.n_users_)
    np.testing.assert_array_equal(outcome.user_ids_, model.user_ids_, err_msg=description)
    np.testing.assert_array_equal(outcome.item_ids_, model.item_ids_, err_msg=description)
    np.testing.assert_allclose(outcome.checked_scores(users), model.checked_scores(users),
                               rtol=1e-6, err_msg=description)
    items = np.arange(model.n_users_) % model.n_items_
    np.testing.assert_allclose(outcome.score_pairs(users, items), model.score_pairs(users, items),
                               rtol=1e-6, err_msg=description)


def test_issue15_declared_sizes_above_the_bound_are_refused_before_reading(tmp_path, monkeypatch):
    """The loader refuses on the declared sizes alone: no array is read (the reading function
    is never called), for a file whose members are small but declare more than the bound."""
    data = datasets.load("synthetic", n_users=30, n_items=20, n_interactions=300, seed=0)
    model = MODELS["biased-mf"]().fit(data)
    path = model.save(tmp_path / "claims.npz")
    reads = []
    import nanorec.io as nio

    real_read = nio._read_member
    monkeypatch.setattr(nio, "_read_member", lambda *args: reads.append(args[2].name)
                        or real_read(*args))
    with pytest.raises(FormatError, match="declares more than 1,000 bytes of arrays"):
        open_arrays(path, max_bytes=1000)
    assert reads == []
    with open_arrays(path) as archive:  # the default bound lets it through
        assert archive.declared["network_.user_factors.W"][0] == (model.n_users_, 4)
    assert reads == ["__header__"]  # opening reads the JSON header only


# ---------------------------------------------------------------------- delimited text
HEADER_NAMES = {"user": ["user", "User_Id", "userId", "uid"],
                "item": ["item", "movie_id", "itemId", "product"],
                "rating": ["rating", "Rating", "score"],
                "timestamp": ["timestamp", "time", "ts"]}
TEXT_IDS = ["u1", "u2", "abc", "x-7", "Z9", "item one", "007", "a{sep}b"]  # {sep}: quoted


@st.composite
def logs(draw):
    """A log (the rows as written and the expected parse) and how it is written."""
    n_columns = draw(st.integers(2, 4))
    n_rows = draw(st.integers(1, 7))
    int_users, int_items = draw(st.booleans()), draw(st.booleans())
    pairs = draw(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 30)), min_size=n_rows,
                          max_size=n_rows, unique=True))
    sep = draw(st.sampled_from(["\t", ",", ";", "|"]))
    users = [str(u) if int_users else draw(st.sampled_from(TEXT_IDS)).format(sep=sep) + str(u)
             for u, _ in pairs]
    items = [str(i) if int_items else draw(st.sampled_from(TEXT_IDS)).format(sep=sep) + str(i)
             for _, i in pairs]
    ratings = [draw(st.sampled_from(["1", "2.5", "4", "5", "3.25", "1e0"])) for _ in pairs]
    times = [str(draw(st.integers(-10**9, 10**12))) for _ in pairs]
    rows = [list(row)[:n_columns] for row in zip(users, items, ratings, times)]
    return {
        "rows": rows,
        "roles": ["user", "item", "rating", "timestamp"][:n_columns],
        "sep": sep,
        "header": draw(st.booleans()),
        "names": [draw(st.sampled_from(HEADER_NAMES[role]))
                  for role in ["user", "item", "rating", "timestamp"][:n_columns]],
        "bom": draw(st.booleans()),
        "newline": draw(st.sampled_from(["\n", "\r\n", "\r"])),
        "quote": draw(st.lists(st.booleans(), min_size=n_rows * n_columns,
                               max_size=n_rows * n_columns)),
        "blank_after": draw(st.sets(st.integers(0, n_rows))),
        "fault": draw(st.sampled_from([None, None, None, "blank", "bad number", "fields",
                                       "quote", "utf-8", "mixed ids"])),
        "fault_row": draw(st.integers(0, n_rows - 1)),
        "fault_column": draw(st.integers(0, n_columns - 1)),
    }


def number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def looks_like_a_header(rows):
    """The rule of nanorec.data.delimited: no number on line 1, a column of numbers below."""
    first = rows[0]
    below = [row for row in rows[1:20] if len(row) == len(first)]
    return bool(below) and not any(map(number, first)) and any(
        all(number(row[j]) for row in below) for j in range(len(first)))


def write_log(log):
    """(bytes of the file, line of the fault or None, (row, line) of the expected warning or
    None, whether line 1 is a header).

    Faults that would make another valid file are not made: a text id on the first line of a
    file without a header reads as a header (a mixed column is made on a later line), and a
    single line without a header with a field less is a valid log of fewer columns."""
    sep, rows = log["sep"], [list(row) for row in log["rows"]]
    fault, r, c = log["fault"], log["fault_row"], log["fault_column"]
    if not log["header"] and fault == "mixed ids":
        r = 1 if r == 0 else r
        fault = fault if r < len(rows) else None
    if not log["header"] and fault == "fields" and len(rows) == 1:
        fault = None
    if fault == "mixed ids" and len(rows) == 1:
        fault = None  # one id cannot mix types
    if fault == "blank":
        rows[r][c] = ""
    elif fault == "bad number":
        c = max(c, 2) if len(rows[r]) > 2 else None
        if c is not None:
            rows[r][c] = {2: "four", 3: "1.5"}[c]
    elif fault == "mixed ids":
        rows[r][0] = "someone" if all(row[0].lstrip("-").isdigit() for row in log["rows"]) \
            else rows[r][0]
    header = log["header"] or looks_like_a_header(rows)  # else the rule would read a header
    lines, row_line = [], []
    if header:
        lines.append(sep.join(log["names"]))
    for n, row in enumerate(rows):
        fields = []
        for j, field in enumerate(row):
            must_quote = sep in field
            if (must_quote or log["quote"][n * len(row) + j]) and field:
                field = f'"{field}"'
            fields.append(field)
        if fault == "fields" and n == r:
            fields = fields[:-1]
        if fault == "quote" and n == r:
            fields[0] = '"' + fields[0].strip('"')
        lines.append(sep.join(fields))
        row_line.append(len(lines))
        if n in log["blank_after"]:
            lines.append("  ")
    text = log["newline"].join(lines) + log["newline"]
    data = ("\ufeff" if log["bom"] else "").encode() + text.encode()
    fault_line = row_line[r] if fault in ("blank", "fields", "quote", "utf-8") else None
    if fault == "bad number" and len(rows[r]) > 2:
        fault_line = row_line[r]
    if fault == "utf-8":
        encoded = [line.encode() for line in lines]
        encoded[row_line[r] - 1] += b"\xff"
        data = ("\ufeff" if log["bom"] else "").encode() + \
            log["newline"].encode().join(encoded) + log["newline"].encode()
    if fault == "fields" and len(rows[r]) == 2:
        fault_line = row_line[r]  # one field where two were: the line is still named
    mixed = fault == "mixed ids" and rows[r][0] == "someone"
    return data, fault_line, (r, row_line[r]) if mixed else None, header


@FUZZ
@given(log=logs())
def test_issue15_fuzzed_delimited_text_reads_right_or_names_the_line(tmp_path, log):
    data, fault_line, warning_line, header = write_log(log)
    path = tmp_path / "log.txt"
    path.write_bytes(data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            parsed = read_delimited(path)
        except ValueError as error:
            message = str(error)
            assert fault_line is not None, (message, data)
            assert str(path) in message and f"line {fault_line}" in message, (message, data)
            assert "\n" not in message
            return
    assert fault_line is None, ("read without error", data)
    rows = [list(row) for row in log["rows"]]
    if warning_line is not None:
        row, warning_line = warning_line
        rows[row][0] = "someone"
    columns = list(zip(*rows))
    for j, role in enumerate(log["roles"]):
        got = parsed.values[role]
        if role in ("user", "item"):
            texts = list(columns[j])
            as_int = all(re.fullmatch(r"0|-?[1-9][0-9]*", text) for text in texts)
            assert got.dtype.kind == ("i" if as_int else "U"), (role, got, data)
            assert got.tolist() == ([int(t) for t in texts] if as_int else texts), data
        elif role == "rating":
            assert got.tolist() == [float(t) for t in columns[j]], data
        else:
            assert got.tolist() == [int(t) for t in columns[j]], data
    assert parsed.layout.sep == log["sep"] and bool(parsed.layout.header_line) == header
    said = [str(w.message) for w in caught if issubclass(w.category, IdTypeWarning)]
    if warning_line is not None:
        assert any(f"line {warning_line}" in message for message in said), (said, data)
    else:
        texts_of_ints = [col for col in columns[:2]
                         if not all(re.fullmatch(r"0|-?[1-9][0-9]*", t) for t in col)
                         and any(re.fullmatch(r"0|-?[1-9][0-9]*", t) for t in col)]
        assert len(said) == len(texts_of_ints), (said, data)  # "007" among integers warns too
