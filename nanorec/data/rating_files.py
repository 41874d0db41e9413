"""Parsers of the rating files of the standard data sets, one per file layout.

Each ``parse_*`` function reads one file from a binary stream (a zip or tar member, or a plain
file) and returns Interactions; ``where`` names the file in messages. ``nanorec.data.datasets``
finds the file (data home, archive, download); these functions only know the layouts:

    movielens_ratings   user, item, rating, timestamp; all numbers; "::" (ml-1m, ml-10m
                        ratings.dat) or "," with a header line (ml-20m, ml-25m, ml-latest-small
                        ratings.csv)
    amazon_ratings      user, item, rating, timestamp; "," and no header; ids are text
                        (McAuley's 2014 "ratings only" files, ratings_<Category>.csv)
    lastfm_1k           userid \\t timestamp (ISO 8601, UTC) \\t artist MBID \\t artist name \\t track
                        MBID \\t track name: one row per play; folded into one row per
                        (user, artist) whose rating is the number of plays and whose timestamp the
                        latest play
    lastfm_360k         user sha1 \\t artist MBID \\t artist name \\t plays: one row per (user,
                        artist), rating = plays, no timestamps
    recbole_inter       RecBole's atomic .inter file: a header of "name:type" tokens (type token,
                        float, token_seq or float_seq), tab-separated rows; user_id, item_id and,
                        when present, rating and timestamp are read

Last.fm artists are keyed by their MusicBrainz id, or by their name where the id is blank.

Engines. ``engine="pandas"`` reads with pandas.read_csv (C parser; the "::" of MovieLens is read
as ":" with every second field skipped, so the fast parser still applies). ``engine="python"`` is
the pure fallback: a file of numbers only (MovieLens) is parsed by numpy in one call
(np.fromstring over the bytes, about 10x slower than pandas), other files line by line in Python
(about 1 million lines per second: minutes for the largest Amazon and Last.fm files).
``engine="auto"`` (the default) is pandas when it is installed. Both give the same arrays.

Errors. A number that does not parse, a blank id, or (python engine) a line with another number
of fields is a ValueError naming the file, and the line where the engine knows it (pandas reads
only the columns it needs: it does not count the fields of every line, so a Last.fm track name
holding a tab passes there). Well-formed files give the same arrays with both engines.
"""

import csv
import io
import warnings

import numpy as np

from nanorec.data.interactions import Interactions

ENGINES = ("auto", "pandas", "python")


def parse_movielens_ratings(stream, where, sep, header, engine="auto"):
    """MovieLens ratings: ``user sep item sep rating sep timestamp``, all numbers.

    ``sep`` is "::" (ratings.dat) or "," (ratings.csv, whose first line is the header
    userId,movieId,rating,timestamp when ``header``). Ratings are 1-5 (half stars from ml-10m
    on); raw ids are the file's integers.
    """
    columns = {"user": (0, "int"), "item": (1, "int"), "rating": (2, "float"),
               "timestamp": (3, "int")}
    values = read_columns(stream, where, sep, 4, columns, int(header), engine)
    return Interactions.from_arrays(values["user"], values["item"], values["rating"],
                                    values["timestamp"])


def parse_amazon_ratings(stream, where, engine="auto"):
    """Amazon ratings only: ``user,item,rating,timestamp``, no header; ids are text (reviewer id,
    ASIN), timestamps unix seconds. A (user, item) pair rated twice keeps its latest row."""
    columns = {"user": (0, "id"), "item": (1, "id"), "rating": (2, "float"),
               "timestamp": (3, "int")}
    values = read_columns(stream, where, ",", 4, columns, 0, engine)
    return Interactions.from_arrays(values["user"], values["item"], values["rating"],
                                    values["timestamp"], duplicates="last")


def parse_lastfm_1k(stream, where, engine="auto"):
    """Last.fm 1K play events -> one row per (user, artist): rating = plays, timestamp = the
    latest play (unix seconds, from the UTC ISO 8601 times)."""
    columns = {"user": (0, "id"), "time": (1, "text"), "mbid": (2, "text"), "name": (3, "text")}
    values = read_columns(stream, where, "\t", 6, columns, 0, engine)
    items = _artist_keys(values["mbid"], values["name"], where)
    times = _iso_seconds(values["time"], where)
    return Interactions.from_arrays(values["user"], items, None, times, duplicates="sum")


def parse_lastfm_360k(stream, where, engine="auto"):
    """Last.fm 360K: one row per (user, artist), rating = plays, no timestamps. Rows that repeat
    a (user, artist) pair (one artist under two spellings of a blank MBID) add their plays."""
    columns = {"user": (0, "id"), "mbid": (1, "text"), "name": (2, "text"),
               "plays": (3, "float")}
    values = read_columns(stream, where, "\t", 4, columns, 0, engine)
    items = _artist_keys(values["mbid"], values["name"], where)
    return Interactions.from_arrays(values["user"], items, values["plays"], None,
                                    duplicates="sum")


RECBOLE_FIELDS = {"user": "user_id", "item": "item_id", "rating": "rating",
                  "timestamp": "timestamp"}
RECBOLE_TYPES = ("token", "float", "token_seq", "float_seq")


def parse_recbole_inter(stream, where, engine="auto"):
    """A RecBole atomic .inter file: header ``user_id:token\\titem_id:token[\\trating:float]
    [\\ttimestamp:float]...`` (any order, other fields ignored), then tab-separated rows.

    user_id and item_id are read as text tokens, rating as a number, timestamp as a number
    rounded down to whole seconds. A (user, item) pair that repeats keeps its latest row.
    """
    first = stream.readline().decode("utf-8-sig").rstrip("\r\n")
    fields = first.split("\t")
    names = {}
    for position, field in enumerate(fields):
        name, colon, kind = field.partition(":")
        if not colon or kind not in RECBOLE_TYPES:
            raise ValueError(f"{where}, line 1: the header field {field!r} is not name:type "
                             f"with a type among {', '.join(RECBOLE_TYPES)} (a RecBole atomic "
                             "file)")
        names[name] = (position, kind)
    missing = [RECBOLE_FIELDS[role] for role in ("user", "item") if RECBOLE_FIELDS[role] not in names]
    if missing:
        raise ValueError(f"{where}, line 1: no {' or '.join(missing)} field in the header "
                         f"{first!r}")
    columns = {}
    for role, name in RECBOLE_FIELDS.items():
        if name in names:
            position, kind = names[name]
            numeric = role in ("rating", "timestamp")
            if numeric and kind != "float":
                raise ValueError(f"{where}, line 1: {name} has type {kind}, expected float")
            columns[role] = (position, "float" if numeric else "id")
    values = read_columns(stream, where, "\t", len(fields), columns, 0, engine, first_line=2)
    times = values.get("timestamp")
    return Interactions.from_arrays(values["user"], values["item"], values.get("rating"),
                                    None if times is None else np.floor(times).astype(np.int64),
                                    duplicates="last")


# ---------------------------------------------------------------------- reading columns
def read_columns(stream, where, sep, n_fields, columns, skip_lines=0, engine="auto",
                 first_line=None):
    """Some columns of a delimited file, parsed.

    Parameters
    ----------
    stream : binary file object
    where : str
        Names the file in messages.
    sep : str
        The separator ("::", ",", "\\t").
    n_fields : int
        Fields on every line.
    columns : dict role -> (position, kind)
        kind "int" (int64), "float" (float64, finite), "id" (str, not blank) or "text" (str).
    skip_lines : int
        Header lines to skip first.
    engine : {"auto", "pandas", "python"}
        See the module docstring.
    first_line : int, optional
        The file's line number of the stream's first line, for messages (default skip_lines + 1;
        give it when the caller has already read lines from the stream).

    Returns
    -------
    dict role -> array (N,)
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(map(repr, ENGINES))}, got {engine!r}")
    first_line = skip_lines + 1 if first_line is None else first_line
    if engine == "auto":
        engine = "pandas" if _pandas() is not None else "python"
    if engine == "pandas":
        if _pandas() is None:
            raise ImportError('engine="pandas" needs pandas: pip install "nanorec[pandas]", or '
                              'use engine="python"')
        values = _read_with_pandas(stream, where, sep, columns, skip_lines)
    elif all(kind in ("int", "float") for _, kind in columns.values()) and len(columns) == n_fields:
        values = _read_numbers(stream, where, sep, n_fields, columns, skip_lines, first_line)
    else:
        values = _read_lines(stream, where, sep, n_fields, columns, skip_lines, first_line)
    if not values or len(next(iter(values.values()))) == 0:
        raise ValueError(f"{where} holds no rows")
    numbers = {"int": np.int64, "float": np.float64}
    for role, (_, kind) in columns.items():
        _check_values(values[role], kind, role, where)
        if kind in numbers:  # text stays as the engine gives it (str or object): no copy
            values[role] = np.asarray(values[role]).astype(numbers[kind], copy=False)
    return values


def _pandas():
    try:
        import pandas
    except ImportError:
        return None
    return pandas


def _read_with_pandas(stream, where, sep, columns, skip_lines):
    """pandas.read_csv with the C parser: "::" becomes ":" with the empty fields between skipped."""
    pd = _pandas()
    stride = 2 if sep == "::" else 1
    dtypes = {"int": np.int64, "float": np.float64, "id": str, "text": str}  # str: object
    use = {position * stride: (role, dtypes[kind]) for role, (position, kind) in columns.items()}
    try:
        frame = pd.read_csv(
            stream, sep=sep[0], header=None, skiprows=skip_lines, usecols=sorted(use),
            dtype={position: dtype for position, (_, dtype) in use.items()},
            quoting=csv.QUOTE_NONE, na_filter=False, engine="c", encoding="utf-8",
        )
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise ValueError(f"{where}: {error}".rstrip()) from None
    return {role: frame[position].to_numpy() for position, (role, _) in use.items()}


def _read_numbers(stream, where, sep, n_fields, columns, skip_lines, first_line):
    """A file of numbers only, in one numpy call: every separator and line end becomes ","."""
    data = stream.read()
    if skip_lines:
        data = data.split(b"\n", skip_lines)[-1] if data.count(b"\n") >= skip_lines else b""
    text = data.replace(b"\r\n", b"\n").strip().replace(sep.encode(), b",").replace(b"\n", b",")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # numpy's warning for unparsed text
        try:
            numbers = np.fromstring(text, dtype=np.float64, sep=",") if text else np.zeros(0)
        except (ValueError, DeprecationWarning):
            numbers = None
    n_lines = data.strip().count(b"\n") + 1 if data.strip() else 0
    if numbers is None or len(numbers) != n_lines * n_fields:
        # something did not parse: the line by line reader finds and names it
        return _read_lines(io.BytesIO(data), where, sep, n_fields, columns, 0, first_line)
    table = numbers.reshape(-1, n_fields)
    return {role: table[:, position] for role, (position, _) in columns.items()}


def _read_lines(stream, where, sep, n_fields, columns, skip_lines, first_line):
    """Line by line in Python: each line split on sep, its number of fields checked."""
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
    for _ in range(skip_lines):
        text.readline()
    fields = {role: [] for role in columns}
    positions = [(role, position) for role, (position, _) in columns.items()]
    number = first_line - 1
    for number, line in enumerate(text, first_line):
        parts = line.rstrip("\r\n").split(sep)
        if len(parts) != n_fields:
            if not line.strip():
                continue  # blank lines are skipped
            raise ValueError(f"{where}, line {number}: {len(parts)} fields, expected {n_fields} "
                             f"separated by {sep!r}")
        for role, position in positions:
            fields[role].append(parts[position])
    values = {}
    for role, (_, kind) in columns.items():
        values[role] = _convert(fields[role], kind, role, where, first_line)
    return values


def _convert(texts, kind, role, where, first_line):
    """Strings -> int64, float64 or str array; a value that does not parse names its line."""
    if kind in ("id", "text"):
        return np.array(texts, dtype=str)
    try:
        numbers = np.array(texts, dtype=np.float64)
    except ValueError:
        for offset, text in enumerate(texts):
            try:
                float(text)
            except ValueError:
                raise ValueError(f"{where}, line {first_line + offset}: the {role} {text!r} is "
                                 "not a number") from None
        raise
    return numbers


def _check_values(values, kind, role, where):
    """Finite numbers, whole numbers for "int", no blank ids."""
    if kind == "text":
        return
    if kind == "id":
        blank = np.asarray(values) == ""
        if blank.any():
            raise ValueError(f"{where}: the {role} of row {int(np.argmax(blank)) + 1} is blank")
        return
    values = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(values)
    if kind == "int":
        bad |= values != np.round(values)
    if bad.any():
        raise ValueError(f"{where}: the {role} of row {int(np.argmax(bad)) + 1} "
                         f"({values[bad][0]!r}) is not a finite {'integer' if kind == 'int' else 'number'}")


def _artist_keys(mbids, names, where):
    """The artist of each row: its MusicBrainz id, or its name where the id is blank."""
    mbids, names = np.asarray(mbids), np.asarray(names)
    no_id = mbids == ""
    if np.any(no_id & (names == "")):
        row = int(np.argmax(no_id & (names == ""))) + 1
        raise ValueError(f"{where}: row {row} names no artist (blank MBID and name)")
    return np.where(no_id, names, mbids)


def _iso_seconds(times, where):
    """"2009-05-04T23:08:57Z" -> unix seconds (int64); the first 19 characters are the UTC time."""
    times = np.asarray(times)
    try:
        return times.astype("U19").astype("datetime64[s]").astype(np.int64)
    except ValueError:
        for row, text in enumerate(times.tolist(), 1):
            try:
                np.datetime64(text[:19], "s")
            except ValueError:
                raise ValueError(f"{where}: the timestamp {text!r} of row {row} is not an ISO 8601 "
                                 "time like 2009-05-04T23:08:57Z") from None
        raise
