"""Reading a log of interactions from delimited text: CSV, TSV, MovieLens' ``u.data``.

    read_delimited(path)   -> Delimited(values, lines, layout)   the columns, parsed and checked

Layout. The separator is the one of tab, comma, semicolon, "|" and "::" that splits the first
lines into the same number (>= 2) of fields (or the one given). The first line is a header when
it names a column (user, item, rating, timestamp and their usual spellings: user_id, userId,
movie_id, itemId, product, score, time, ...; case, "_" and "-" ignored) or when it holds no number
while a column holds only numbers on the lines below; then the columns are found by name (unknown
names are ignored). Without a header the columns are, by position, user, item[, rating
[, timestamp]]. ``columns`` gives the roles by position instead, "-" for a column to skip.

Every field is checked, and any failure is a ValueError naming the file and the line:
a blank user, item, rating or timestamp; a rating that is not a finite number; a timestamp that
is not a whole number; a line with another number of fields than the first; an unclosed quote;
bytes that are not UTF-8. A UTF-8 byte-order mark (Excel's "CSV UTF-8") is skipped; blank lines
are skipped; fields are stripped of surrounding spaces; quotes (") work as in CSV for the
one-character separators.

Ids. A column whose ids are all integers written plainly ("7", "-3"; not "07", "+7" or "7.0")
is read as int64, any other as text. A column mixing the two is read as text and the reader
warns (IdTypeWarning), naming a line of each kind: ids never change type silently.
"""

import csv
import os
import re
import warnings
from typing import NamedTuple

import numpy as np

ROLES = ("user", "item", "rating", "timestamp")
SKIP = "-"
SEPARATORS = ("\t", ",", ";", "|", "::")
SEPARATOR_NAMES = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe", "::": "'::'",
                   " ": "space"}
# header names of each role, compared in lower case without "_", "-", " " and "."
ALIASES = {
    "user": ("user", "userid", "users", "uid", "customer", "customerid", "reviewer", "reviewerid",
             "visitor", "visitorid"),
    "item": ("item", "itemid", "items", "iid", "movie", "movieid", "product", "productid",
             "asin", "book", "bookid", "isbn", "track", "trackid", "song", "songid"),
    "rating": ("rating", "ratings", "score", "stars", "value", "preference"),
    "timestamp": ("timestamp", "time", "ts", "unixtime", "unixreviewtime", "date", "datetime"),
}
SNIFF_LINES = 20  # lines read to find the separator and the header


class IdTypeWarning(UserWarning):
    """A column of ids mixes integers and text, so all of them were read as text."""


class Layout(NamedTuple):
    """How a delimited file is laid out: ``sep``, whether line ``header_line`` (1-based; 0 for
    none) names the columns, and the role of each column (ROLES or SKIP), in file order."""

    sep: str
    header_line: int
    columns: tuple

    def describe(self):
        """'tab-separated, no header, columns user, item, rating, timestamp (by position)'."""
        name = SEPARATOR_NAMES.get(self.sep, repr(self.sep))
        header = f"header on line {self.header_line}" if self.header_line else "no header"
        roles = ", ".join(role for role in self.columns if role != SKIP)
        return f"{name}-separated, {header}, columns {roles}"


class Delimited(NamedTuple):
    """The parsed columns of a delimited file.

    values : dict role -> array (N,): "user" and "item" ids (int64 or str), "rating" float64,
             "timestamp" int64 (the last two when the file has them)
    lines : int64 (N,), the 1-based line of each row, for messages
    layout : Layout
    path : str, the file read
    """

    values: dict
    lines: np.ndarray
    layout: Layout
    path: str


def read_delimited(path, sep=None, columns=None, names=None):
    """Read and check the interactions of a delimited text file (see the module docstring).

    Parameters
    ----------
    path : str or Path
    sep : str, optional
        The separator; by default detected.
    columns : sequence of str, optional
        The role of each column by position: "user", "item", "rating", "timestamp" or "-" (skip);
        user and item once each, the others at most once. By default read from the header, or by
        position when there is none.
    names : dict role -> column name, optional
        Find the columns by these header names instead (Interactions.from_csv); the first line
        must then be a header holding them.

    Returns
    -------
    Delimited
    """
    path = str(path)
    lines = _text_lines(path)
    data_lines = [n for n, line in enumerate(lines) if line.strip()]
    if not data_lines:
        raise ValueError(f"{path} is empty: no interactions")
    if sep is None:
        sep = _detect_separator(path, lines, data_lines[:SNIFF_LINES])
    elif not isinstance(sep, str) or not sep or "\n" in sep or "\r" in sep or '"' in sep:
        raise ValueError(f"bad separator {sep!r}: give a character such as ',' or a tab")
    first = _split(path, lines, data_lines[0], sep)
    if names is not None:
        layout = _layout_by_names(path, first, sep, names, data_lines[0] + 1)
    else:
        sample = [_split(path, lines, n, sep) for n in data_lines[1:SNIFF_LINES]]
        layout = _layout(path, first, sample, sep, columns, data_lines[0] + 1)
    rows = data_lines[1:] if layout.header_line else data_lines
    if not rows:
        raise ValueError(f"{path}: no interactions (only a header)")
    texts = {role: [] for role in layout.columns if role != SKIP}
    positions = [(role, position) for position, role in enumerate(layout.columns) if role != SKIP]
    width = len(layout.columns)
    for n in rows:
        fields = _split(path, lines, n, sep)
        if len(fields) != width:
            where = (f"the header (line {layout.header_line}) has" if layout.header_line
                     else f"line {rows[0] + 1} has")
            raise ValueError(f"{path}, line {n + 1}: {len(fields)} fields where {where} {width} "
                             f"(separator {SEPARATOR_NAMES.get(sep, repr(sep))})")
        for role, position in positions:
            text = fields[position]
            if not text:
                raise ValueError(f"{path}, line {n + 1}: the {role} field is blank")
            texts[role].append(text)
    line_numbers = np.asarray(rows, dtype=np.int64) + 1
    values = {role: _parse_ids(texts[role], role, path, line_numbers) for role in ("user", "item")}
    if "rating" in texts:
        values["rating"] = _parse_numbers(texts["rating"], "rating", path, line_numbers)
    if "timestamp" in texts:
        values["timestamp"] = _parse_times(texts["timestamp"], path, line_numbers)
    return Delimited(values, line_numbers, layout, path)


def repeated_pair(values, lines):
    """The first row that repeats an earlier (user, item) pair, as ``(line, earlier line, user,
    item, number of repeating rows)``, or None when every pair is distinct."""
    users, items = values["user"], values["item"]
    _, user_key = np.unique(users, return_inverse=True)
    _, item_key = np.unique(items, return_inverse=True)
    pair = user_key.reshape(-1).astype(np.int64) * (int(item_key.max()) + 1) + item_key.reshape(-1)
    order = np.argsort(pair, kind="stable")  # by pair, then file order
    sorted_pair = pair[order]
    is_first = np.r_[True, sorted_pair[1:] != sorted_pair[:-1]]
    if is_first.all():
        return None
    group_first = order[np.maximum.accumulate(np.where(is_first, np.arange(len(order)), 0))]
    repeat_rows, their_first = order[~is_first], group_first[~is_first]
    k = int(np.argmin(repeat_rows))  # the repeat that comes first in the file
    row, earlier = repeat_rows[k], their_first[k]
    return (int(lines[row]), int(lines[earlier]), users[row].item(), items[row].item(),
            len(repeat_rows))


def parse_columns_option(text):
    """``--columns user,item,rating,timestamp`` -> a tuple of roles (ValueError if bad)."""
    roles = tuple(part.strip().lower() for part in str(text).split(","))
    return _check_columns(roles)


def parse_separator_option(text):
    """``--sep``: a character, two characters, or a name: tab, comma, semicolon, pipe, space."""
    names = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": " "}
    sep = names.get(str(text).lower(), str(text))
    if not sep or len(sep) > 2 or sep.isalnum() or any(c in sep for c in "\"\n\r"):
        raise ValueError(f"bad separator {text!r}: give one character such as ',' or ';', or "
                         "tab, comma, semicolon, pipe or space")
    return sep


# ---------------------------------------------------------------------- layout
def _text_lines(path):
    """The lines of a UTF-8 text file (a byte-order mark dropped); ValueError naming the line of
    a byte that is not UTF-8, or for a binary file."""
    if not os.path.isfile(path):
        raise ValueError(f"{path} is not a regular file (a folder, a device?): a CSV or TSV file "
                         "was expected")
    with open(path, "rb") as handle:
        raw = handle.read()
    if b"\x00" in raw[:8192]:
        raise ValueError(f"{path} is a binary file, not delimited text (a CSV or TSV file was "
                         "expected)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        before = raw[: error.start].decode("utf-8", errors="replace")
        line = len(re.split(r"\r\n|\r|\n", before))
        raise ValueError(f"{path}, line {line}: byte 0x{raw[error.start]:02x} is not UTF-8 text; "
                         "save the file as UTF-8") from None
    return re.split(r"\r\n|\r|\n", text)


def _split(path, lines, n, sep):
    """The stripped fields of line n (0-based); quotes as in CSV for a one-character sep."""
    line = lines[n]
    if len(sep) == 1 and '"' in line:
        try:
            fields = next(csv.reader([line], delimiter=sep, strict=True))
        except csv.Error as error:
            raise ValueError(f"{path}, line {n + 1}: {error} (unbalanced quotes?)") from None
    else:
        fields = line.split(sep)
    return [field.strip() for field in fields]


def _detect_separator(path, lines, sample):
    """The candidate separator that splits the first line into >= 2 fields and most of the
    sample lines into as many (ties: the order of SEPARATORS)."""
    best, best_agreeing = None, 0
    for sep in SEPARATORS:
        counts = [len(_split_quietly(lines[n], sep)) for n in sample]
        if counts[0] < 2:
            continue
        agreeing = sum(count == counts[0] for count in counts)
        if agreeing > best_agreeing:
            best, best_agreeing = sep, agreeing
    if best is None:
        raise ValueError(f"{path}, line {sample[0] + 1}: no separator found (tab, comma, "
                         "semicolon, | or ::) between a user and an item column; give it with "
                         "--sep (Python: sep=)")
    return best


def _split_quietly(line, sep):
    try:
        return next(csv.reader([line], delimiter=sep)) if len(sep) == 1 else line.split(sep)
    except csv.Error:
        return line.split(sep)


def _layout(path, first, sample, sep, columns, first_line):
    """The Layout from the first line's fields, a sample of the next lines and ``columns``."""
    header = _is_header(first, sample)
    if columns is not None:
        columns = _check_columns(tuple(columns))
        if len(columns) != len(first):
            raise ValueError(f"{path}, line {first_line}: {len(first)} fields, but --columns "
                             f"names {len(columns)} ({','.join(columns)})")
        return Layout(sep, first_line if header else 0, columns)
    if header:
        roles = [_role_of(name) for name in first]
        for role in ROLES:
            if roles.count(role) > 1:
                found = [name for name, r in zip(first, roles) if r == role]
                raise ValueError(f"{path}, line {first_line}: the header names {found}, all "
                                 f"read as the {role} column; say which is which with "
                                 "--columns (Python: columns=)")
        missing = [role for role in ("user", "item") if role not in roles]
        if missing:
            raise ValueError(
                f"{path}, line {first_line}: the header {first} has no {' or '.join(missing)} "
                "column: name the columns user,item[,rating][,timestamp], or give their roles "
                "with --columns, e.g. --columns user,item,rating,timestamp (Python: columns=)")
        return Layout(sep, first_line, tuple(role or SKIP for role in roles))
    if len(first) > len(ROLES):
        raise ValueError(f"{path}, line {first_line}: {len(first)} fields and no header: say "
                         "which column is which with --columns, e.g. --columns "
                         f"{','.join(ROLES + (SKIP,) * (len(first) - len(ROLES)))} "
                         "(Python: columns=)")
    return Layout(sep, 0, ROLES[: len(first)])


def _layout_by_names(path, first, sep, names, first_line):
    """Interactions.from_csv's layout: line 1 is a header holding the given column names."""
    missing = [name for name in names.values() if name not in first]
    if missing:
        raise ValueError(f"{path}, line {first_line}: column(s) {missing} not in the header "
                         f"{first}")
    roles = [SKIP] * len(first)
    for role, name in names.items():
        roles[first.index(name)] = role
    return Layout(sep, first_line, tuple(roles))


def _check_columns(roles):
    known = ROLES + (SKIP,)
    bad = [role for role in roles if role not in known]
    if bad:
        raise ValueError(f"columns: {bad} are not roles; each column is one of user, item, "
                         "rating, timestamp, or - to skip it")
    for role in ROLES:
        if roles.count(role) > 1:
            raise ValueError(f"columns: {role} is named {roles.count(role)} times")
    missing = [role for role in ("user", "item") if role not in roles]
    if missing:
        raise ValueError(f"columns: no {' or '.join(missing)} column among {','.join(roles)}")
    return roles


def _normal(name):
    return re.sub(r"[\s_\-.]", "", name.lower())


def _role_of(name):
    normal = _normal(name)
    return next((role for role, aliases in ALIASES.items() if normal in aliases), None)


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_header(first, sample):
    """A header names a column, or holds no number while a column below holds only numbers."""
    if any(_role_of(name) for name in first):
        return True
    rows = [row for row in sample if len(row) == len(first)]
    return bool(rows) and not any(_is_number(name) for name in first) and any(
        all(_is_number(row[j]) for row in rows) for j in range(len(first)))


# ---------------------------------------------------------------------- fields
_CANONICAL_INT = re.compile(r"0|-?[1-9][0-9]*")
_INT64 = (-(2**63), 2**63 - 1)


def _parse_ids(texts, role, path, lines):
    """int64 ids when every text is a plain integer within int64, else str; IdTypeWarning
    naming a line of each kind when the column mixes them."""
    texts = np.array(texts, dtype=str)
    try:
        numbers = texts.astype(np.int64)
        if (numbers.astype(str) == texts).all():
            return numbers
    except (ValueError, OverflowError):
        pass
    is_int = np.array([_CANONICAL_INT.fullmatch(text) is not None
                       and _INT64[0] <= int(text) <= _INT64[1] for text in texts.tolist()])
    if is_int.any():
        text_row, int_row = int(np.argmin(is_int)), int(np.argmax(is_int))
        warnings.warn(
            f"{path}: {role} ids read as text, as line {lines[text_row]} holds "
            f"{str(texts[text_row])!r} while line {lines[int_row]} holds the integer "
            f"{str(texts[int_row])!r} (a typo? the ids of a column are all integers or all text)",
            IdTypeWarning, stacklevel=3)
    return texts


def _parse_numbers(texts, role, path, lines):
    """float64 values; ValueError naming the first line that is not a finite number."""
    try:
        values = np.array(texts, dtype=str).astype(np.float64)
    except ValueError:
        values = None
    if values is None or not np.all(np.isfinite(values)):
        for text, line in zip(texts, lines):
            try:
                value = float(text)
            except ValueError:
                value = None
            if value is None or not np.isfinite(value):
                raise ValueError(f"{path}, line {line}: the {role} {text!r} is not a finite "
                                 "number")
    return values


def _parse_times(texts, path, lines):
    """int64 timestamps (whole numbers, e.g. unix seconds; "1.0e9" is fine)."""
    try:
        return np.array(texts, dtype=str).astype(np.int64)
    except (ValueError, OverflowError):
        pass
    values = np.empty(len(texts), dtype=np.int64)
    for position, (text, line) in enumerate(zip(texts, lines)):
        try:
            values[position] = int(text)
            continue
        except (ValueError, OverflowError):
            pass
        try:
            number = float(text)
        except ValueError:
            number = np.nan
        if not (np.isfinite(number) and number == round(number) and abs(number) < 2**62):
            raise ValueError(f"{path}, line {line}: the timestamp {text!r} is not a whole number "
                             "(e.g. unix seconds)")
        values[position] = int(number)
    return values
