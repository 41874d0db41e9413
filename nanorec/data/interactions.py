"""The Interactions container: a user-item log with ids mapped to 0..n-1.

A log is a list of rows (raw user id, raw item id[, rating][, timestamp]). Models work on dense
integer indices, so the raw ids are mapped once, here:

    user_ids[u]    = raw id of user index u          (u in 0..U-1)
    user_index[n]  = index of the user of row n      (n in 0..N-1)
    ratings[n]     = rating of row n, or None for implicit feedback (every row is a positive)

The id vocabularies (``user_ids``, ``item_ids``) may be larger than the set of ids present in the
rows: a split keeps the full vocabularies, so a user seen only in the test part still has an index.
Each (user, item) pair appears at most once; ``from_arrays`` resolves repeated pairs by a policy.

Arrays are stored read-only (``flags.writeable = False``): treat an Interactions as immutable and
build a new one (``subset``, ``from_arrays``) to change it.
"""

import sys
from typing import NamedTuple

import numpy as np

from nanorec.data.delimited import read_delimited, repeated_pair

DUPLICATE_POLICIES = ("error", "last", "sum")


class CSR(NamedTuple):
    """Compressed sparse rows of a (U, I) matrix.

    Row u holds the columns ``indices[indptr[u]:indptr[u+1]]`` (sorted ascending) with the values
    ``data[indptr[u]:indptr[u+1]]``.
    """

    indptr: np.ndarray  # int64 (U + 1,)
    indices: np.ndarray  # int32 (nnz,)
    data: np.ndarray  # float32 (nnz,)
    shape: tuple  # (U, I)


class Interactions:
    """A user-item log: index arrays, optional ratings and timestamps, id maps and side features.

    Usually built with ``Interactions.from_arrays``, ``from_dataframe`` or ``from_csv``, which map
    raw ids to indices. The constructor takes indices that are already mapped.

    Parameters
    ----------
    user_index, item_index : int arrays (N,)
        Row n is an interaction of user ``user_ids[user_index[n]]`` with item ``item_ids[item_index[n]]``.
    user_ids, item_ids : arrays (U,) and (I,)
        The vocabularies: index -> raw id, each id once.
    ratings : float array (N,), optional
        Explicit feedback; None means implicit feedback (every row a positive). Finite values only.
    timestamps : int array (N,), optional
        Integers (e.g. unix seconds); datetime64 values are converted to seconds.
    user_features : float array (U, F_u), optional
        Row u describes user index u. ``user_feature_names`` gives F_u names.
    item_features : float array (I, F_i), optional
        Row i describes item index i. ``item_feature_names`` gives F_i names.
    check_duplicates : bool
        Raise if a (user, item) pair appears twice (an O(N log N) check; skipped by internal callers
        that already guarantee unique pairs).

    Attributes
    ----------
    user_index, item_index : int32 (N,)
    ratings : float32 (N,) or None
    timestamps : int64 (N,) or None
    user_ids, item_ids : (U,), (I,)
    n_users, n_items : int
        Sizes of the vocabularies (not only of the ids present in the rows).
    user_features : float32 (U, F_u) or None;  user_feature_names : list[str] or None
    item_features : float32 (I, F_i) or None;  item_feature_names : list[str] or None
    """

    def __init__(
        self,
        user_index,
        item_index,
        user_ids,
        item_ids,
        ratings=None,
        timestamps=None,
        user_features=None,
        user_feature_names=None,
        item_features=None,
        item_feature_names=None,
        check_duplicates=True,
    ):
        self._users = _IdMap(_frozen(_as_vector(user_ids, "user_ids")), "user")
        self._items = _IdMap(_frozen(_as_vector(item_ids, "item_ids")), "item")
        self.user_ids, self.item_ids = self._users.ids, self._items.ids
        self.n_users, self.n_items = len(self.user_ids), len(self.item_ids)

        self.user_index = _frozen(_as_index(user_index, self.n_users, "user_index"))
        self.item_index = _frozen(_as_index(item_index, self.n_items, "item_index"))
        n_rows = len(self.user_index)
        _check_length(self.item_index, n_rows, "item_index")
        self.ratings = None if ratings is None else _frozen(_as_ratings(ratings, n_rows))
        self.timestamps = None if timestamps is None else _frozen(_as_timestamps(timestamps, n_rows))

        self.user_features, self.user_feature_names = _as_features(
            user_features, user_feature_names, self.n_users, "user"
        )
        self.item_features, self.item_feature_names = _as_features(
            item_features, item_feature_names, self.n_items, "item"
        )
        if check_duplicates:
            n_repeated = _count_repeats(_pair_key(self.user_index, self.item_index, self.n_items))
            if n_repeated:
                raise ValueError(
                    f"{n_repeated} rows repeat an earlier (user, item) pair; build with "
                    "Interactions.from_arrays(..., duplicates='last' or 'sum') to merge them"
                )
        self._csr = None

    # ------------------------------------------------------------------ building
    @classmethod
    def from_arrays(
        cls,
        users,
        items,
        ratings=None,
        timestamps=None,
        *,
        user_features=None,
        user_feature_names=None,
        item_features=None,
        item_feature_names=None,
        user_ids=None,
        item_ids=None,
        duplicates="error",
    ):
        """Build from raw ids, one entry per interaction.

        Parameters
        ----------
        users, items : arrays (N,)
            Raw ids (ints, strings, any mutually comparable values; no missing values).
        ratings : array (N,), optional
            Finite numbers; None for implicit feedback.
        timestamps : array (N,), optional
            Integers or datetime64 (converted to seconds).
        user_features, item_features : arrays (U, F_u), (I, F_i), optional
            Rows follow ``user_ids`` / ``item_ids`` (below); names are lists of F strings.
        user_ids, item_ids : arrays (U,), (I,), optional
            The vocabularies, index = position. By default the sorted unique ids of ``users`` and
            ``items``, as ``np.unique`` gives them (text ids as a numpy str array; pandas' hash
            table finds them in a long log); give them to keep ids with no rows, or to fix the row
            order of the feature matrices. Ids in the log must be in the vocabulary (KeyError).
        duplicates : {"error", "last", "sum"}
            What to do with rows that repeat a (user, item) pair:
            "error" (default) raises, counting them; "last" keeps the latest row of each pair
            (largest timestamp, ties and logs without timestamps by row order); "sum" keeps one
            row per pair whose rating is the sum of the pair's ratings (for implicit logs: the
            number of rows, so ``ratings`` become counts) and whose timestamp is the latest.
            Kept rows stay in their original order (a summed pair sits where it first appeared).

        Returns
        -------
        Interactions
        """
        if duplicates not in DUPLICATE_POLICIES:
            raise ValueError(f"duplicates must be one of {DUPLICATE_POLICIES}, got {duplicates!r}")
        users, items = _as_vector(users, "users"), _as_vector(items, "items")
        _check_length(items, len(users), "items")
        if len(users) == 0:
            raise ValueError("no interactions: users and items are empty")
        if ratings is not None:
            ratings = _as_ratings(ratings, len(users))
        if timestamps is not None:
            timestamps = _as_timestamps(timestamps, len(users))
        user_ids, user_index = _map_ids(users, user_ids, "user")
        item_ids, item_index = _map_ids(items, item_ids, "item")

        user_index, item_index, ratings, timestamps = _resolve_duplicates(
            user_index, item_index, ratings, timestamps, len(item_ids), duplicates, user_ids, item_ids
        )
        return cls(
            user_index,
            item_index,
            user_ids,
            item_ids,
            ratings,
            timestamps,
            user_features,
            user_feature_names,
            item_features,
            item_feature_names,
            check_duplicates=False,
        )

    @classmethod
    def from_dataframe(cls, df, user="user", item="item", rating=None, timestamp=None, **options):
        """Build from a pandas DataFrame, naming its columns.

        ``rating`` / ``timestamp`` = None leaves them out (implicit feedback / no times). Any keyword
        of ``from_arrays`` (``duplicates``, features, ``user_ids``, ``item_ids``) passes through.
        """
        try:
            import pandas as pd
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise ImportError(
                'Interactions.from_dataframe needs pandas: pip install "nanorec[pandas]"'
            ) from error
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"from_dataframe expects a pandas DataFrame, got {type(df).__name__}")
        columns = {"user": user, "item": item, "rating": rating, "timestamp": timestamp}
        for role, name in columns.items():
            if name is not None and name not in df.columns:
                raise KeyError(f"{role} column {name!r} not in the DataFrame (columns: {list(df.columns)})")
        values = {role: None if name is None else df[name].to_numpy() for role, name in columns.items()}
        return cls.from_arrays(
            values["user"], values["item"], values["rating"], values["timestamp"], **options
        )

    @classmethod
    def from_csv(cls, path, user="user", item="item", rating=None, timestamp=None, sep=",", **options):
        """Build from a delimited text file whose first line names the columns.

        ``rating`` / ``timestamp`` = None leaves them out. Fields are read and checked as
        nanorec.data.delimited describes: ids that are all plain integers become int64, others
        stay strings (a column mixing both warns); a blank field, a rating that is not a finite
        number or a timestamp that is not a whole number raises a ValueError naming the file and
        the line; a UTF-8 byte-order mark is skipped. Any keyword of ``from_arrays``
        (``duplicates``, features, vocabularies) passes through. ``from_delimited`` finds the
        separator and the columns by itself.
        """
        names = {"user": user, "item": item, "rating": rating, "timestamp": timestamp}
        names = {role: name for role, name in names.items() if name is not None}
        return cls.from_parsed(read_delimited(path, sep=sep, names=names), **options)

    @classmethod
    def from_delimited(cls, path, sep=None, columns=None, **options):
        """Build from a log in delimited text: a CSV or TSV with or without a header, MovieLens'
        ``u.data`` (tab-separated user, item, rating, timestamp).

        The separator and the header are detected, or given: ``sep`` (e.g. "\\t"), ``columns``
        (the role of each column by position, e.g. ("user", "item", "-", "rating"); "-" skips
        one). Every field is checked; any problem is a ValueError naming the file and the line
        (nanorec.data.delimited has the rules). Repeated (user, item) pairs are an error naming
        both lines unless ``duplicates`` says how to merge them; any other keyword of
        ``from_arrays`` passes through.
        """
        return cls.from_parsed(read_delimited(path, sep=sep, columns=columns), **options)

    @classmethod
    def from_parsed(cls, parsed, **options):
        """Build from the columns of a text file as nanorec.data.delimited.read_delimited gives
        them (``from_csv`` and ``from_delimited`` read and build in one call); a repeated pair
        is an error naming both lines unless ``duplicates`` says how to merge them."""
        values, path = parsed.values, parsed.path
        try:
            return cls.from_arrays(values["user"], values["item"], values.get("rating"),
                                   values.get("timestamp"), **options)
        except _RepeatedPairError:  # only now find the lines: the ids are factorized once
            line, earlier, user, item, count = repeated_pair(values, parsed.lines)
            raise ValueError(
                f"{path}, line {line}: user {user!r} and item {item!r} again, as on line "
                f"{earlier} ({count} {'row repeats' if count == 1 else 'rows repeat'} an "
                "earlier pair): keep the latest with --duplicates last or add them up with "
                "--duplicates sum (Python: duplicates='last' or 'sum')") from None

    # ------------------------------------------------------------------ views
    def __len__(self):
        return len(self.user_index)

    def user_to_index(self, raw_ids):
        """Raw user ids (scalar or array) -> int32 indices of the same shape; KeyError if unknown."""
        return self._users.lookup(raw_ids)

    def item_to_index(self, raw_ids):
        """Raw item ids (scalar or array) -> int32 indices of the same shape; KeyError if unknown."""
        return self._items.lookup(raw_ids)

    def to_csr(self):
        """The (U, I) matrix as a CSR: data = ratings (1.0 for implicit), columns sorted per row.

        Computed once and cached; its arrays are read-only.
        """
        if self._csr is None:
            order = np.argsort(_pair_key(self.user_index, self.item_index, self.n_items))
            indptr = np.zeros(self.n_users + 1, dtype=np.int64)
            np.cumsum(np.bincount(self.user_index, minlength=self.n_users), out=indptr[1:])
            data = np.ones(len(self), np.float32) if self.ratings is None else self.ratings[order]
            self._csr = CSR(
                _frozen(indptr), _frozen(self.item_index[order]), _frozen(data), (self.n_users, self.n_items)
            )
        return self._csr

    def to_dense(self, max_cells=10**8):
        """The (U, I) float32 matrix: ratings (1.0 for implicit) where a row exists, 0 elsewhere.

        Refuses (ValueError) when U * I exceeds ``max_cells``; use ``to_csr`` for large data.
        """
        cells = self.n_users * self.n_items
        if cells > max_cells:
            raise ValueError(
                f"to_dense would allocate {self.n_users} x {self.n_items} = {cells:,} cells "
                f"(limit max_cells={max_cells:,}); use to_csr() instead"
            )
        dense = np.zeros((self.n_users, self.n_items), dtype=np.float32)
        dense[self.user_index, self.item_index] = 1.0 if self.ratings is None else self.ratings
        return dense

    def subset(self, rows):
        """The interactions at ``rows`` (bool mask (N,) or distinct int indices), same maps and features."""
        rows = np.asarray(rows)
        if rows.size == 0 and rows.dtype.kind == "f":  # an empty list: no rows
            rows = rows.astype(np.intp)
        if rows.dtype == bool:
            if rows.shape != (len(self),):
                raise ValueError(f"subset mask has shape {rows.shape}, expected ({len(self)},)")
        elif rows.dtype.kind in "iu" and rows.ndim == 1:
            if len(rows) and (rows.min() < 0 or rows.max() >= len(self)):
                raise IndexError(f"subset row indices must lie in [0, {len(self)})")
            if np.bincount(rows, minlength=len(self)).max(initial=0) > 1:
                raise ValueError("subset row indices repeat a row")
        else:
            raise TypeError(f"subset expects a bool mask or 1-D int indices, got {rows.dtype} {rows.shape}")
        return Interactions(
            self.user_index[rows],
            self.item_index[rows],
            self.user_ids,
            self.item_ids,
            None if self.ratings is None else self.ratings[rows],
            None if self.timestamps is None else self.timestamps[rows],
            self.user_features,
            self.user_feature_names,
            self.item_features,
            self.item_feature_names,
            check_duplicates=False,
        )

    def __repr__(self):
        n_rows = len(self)
        cells = self.n_users * self.n_items
        parts = [
            f"{self.n_users} users",
            f"{self.n_items} items",
            f"{n_rows} ratings" if self.ratings is not None else f"{n_rows} interactions (implicit)",
            f"density {100 * n_rows / cells:.2f}%" if cells else "density n/a",
        ]
        if self.timestamps is not None:
            parts.append("timestamps")
        if self.user_features is not None:
            parts.append(f"{self.user_features.shape[1]} user features")
        if self.item_features is not None:
            parts.append(f"{self.item_features.shape[1]} item features")
        return f"Interactions({', '.join(parts)})"


class _IdMap:
    """Raw id -> index over a vocabulary ``ids`` (index = position), by binary search on a sorted copy."""

    def __init__(self, ids, what):
        if ids.dtype.kind == "f" and np.isnan(ids).any():
            raise ValueError(f"{what} ids contain NaN (missing ids)")
        if ids.dtype == object and any(value is None or value != value for value in ids):
            raise ValueError(f"{what} ids contain missing values (None or NaN)")
        try:
            self.order = np.argsort(ids)
        except TypeError as error:
            raise TypeError(f"{what} ids must be mutually comparable (one type, no None): {error}") from None
        self.ids, self.what = ids, what
        self.sorted_ids = ids[self.order]
        repeated = self.sorted_ids[1:] == self.sorted_ids[:-1]
        if np.any(repeated):
            example = _plain(self.sorted_ids[1:][repeated][0])
            n_repeated = np.count_nonzero(repeated)
            raise ValueError(f"{what} vocabulary repeats {n_repeated} id(s), e.g. {example!r}")

    def lookup(self, raw_ids):
        raw = np.asarray(raw_ids)
        flat = raw.reshape(-1)
        found = np.zeros(len(flat), dtype=bool)
        positions = np.zeros(len(flat), dtype=np.intp)
        if len(self.ids) and len(flat):
            try:  # ids of another type (a string for int ids) are simply not found
                positions = np.minimum(np.searchsorted(self.sorted_ids, flat), len(self.ids) - 1)
                found = np.asarray(self.sorted_ids[positions] == flat, dtype=bool).reshape(-1)
            except TypeError:
                pass
            found = found if found.shape == flat.shape else np.zeros(len(flat), dtype=bool)
        if not found.all():
            raise KeyError(f"unknown {self.what} id {_plain(flat[np.argmin(found)])!r}")
        return self.order[positions].astype(np.int32).reshape(raw.shape)


# ---------------------------------------------------------------------- validation helpers
def _plain(value):
    """A NumPy scalar as the Python value it holds, for readable messages (1, not np.int64(1))."""
    return value.item() if isinstance(value, np.generic) else value


def _frozen(array):
    """A read-only copy (or the array itself when it is already read-only)."""
    if not array.flags.writeable:
        return array
    array = array.copy()
    array.flags.writeable = False
    return array


def _as_vector(values, name):
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {values.shape}")
    return values


def _check_length(values, n_rows, name):
    if len(values) != n_rows:
        raise ValueError(f"{name} has {len(values)} entries, expected {n_rows} (one per interaction)")


def _map_ids(raw, vocabulary, what):
    """(vocabulary, index per row): the sorted unique raw ids (_factorize), or a lookup in a given
    vocabulary."""
    if vocabulary is None:
        vocabulary, index = _factorize(raw, what)
        _IdMap(vocabulary, what)  # checks for missing ids
        return vocabulary, index
    vocabulary = _as_vector(vocabulary, f"{what}_ids")
    return vocabulary, _IdMap(vocabulary, what).lookup(raw)


PANDAS_FACTORIZE_ROWS = 100_000  # text ids from this many rows on go through pandas' hash table


def _factorize(raw, what):
    """The sorted unique ids and the position of each row's id among them.

        vocabulary = sorted unique values of raw         (U,)
        index[n]   = position of raw[n] in vocabulary    (N,) int32:  vocabulary[index] == raw

    the result of ``np.unique(raw, return_inverse=True)``, except that text ids (every value a
    str) give a numpy str vocabulary whatever array holds them (object or str; numpy's str type
    keeps no trailing NUL character).

    How. np.unique sorts all N rows; with text ids held as Python objects that is most of the
    time it takes to load a large log (N log N comparisons of objects, about 2.7 s per million
    Amazon ids here). Text ids are sorted as a numpy str array instead (C comparisons), and when
    pandas is installed and the log has at least PANDAS_FACTORIZE_ROWS rows (or pandas is already
    imported: below that, importing it, about 0.3 s, costs more than it saves) the rows are first
    hashed by pandas.factorize, so that only the U distinct ids are sorted. Numbers always take
    np.unique (already fast), as do values of mixed types, which it refuses (TypeError: they are
    not mutually comparable). Every way gives the same arrays.
    """
    pandas = _pandas_for(raw)
    text = raw.dtype.kind == "U" or (raw.dtype == object and (
        pandas.api.types.infer_dtype(raw, skipna=False) == "string" if pandas is not None
        else all(isinstance(value, str) for value in raw)))
    if text and pandas is not None:
        codes, uniques = pandas.factorize(raw)  # a hash table: ids in order of first appearance
        uniques = np.asarray(uniques, dtype=str)
        order = np.argsort(uniques)  # sort the U distinct ids, not the N rows
        rank = np.empty(len(order), dtype=np.int32)
        rank[order] = np.arange(len(order), dtype=np.int32)
        return uniques[order], rank[codes]
    try:
        vocabulary, index = np.unique(np.asarray(raw, dtype=str) if text else raw,
                                      return_inverse=True)
    except TypeError as error:
        raise TypeError(f"{what} ids must be mutually comparable (one type, no None): "
                        f"{error}") from None
    return vocabulary, index.reshape(-1).astype(np.int32)


def _pandas_for(raw):
    """pandas, when it would factorize ``raw`` faster than np.unique (see _factorize), else None."""
    if raw.dtype.kind not in "OU":
        return None
    if "pandas" not in sys.modules and len(raw) < PANDAS_FACTORIZE_ROWS:
        return None
    try:
        import pandas
    except ImportError:
        return None
    return pandas


def _as_index(values, size, name):
    values = _as_vector(values, name)
    if values.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {values.dtype}")
    if len(values) and (values.min() < 0 or values.max() >= size):
        raise ValueError(f"{name} must lie in [0, {size}), got values in [{values.min()}, {values.max()}]")
    return values.astype(np.int32)


def _as_ratings(values, n_rows):
    values = _as_vector(values, "ratings")
    _check_length(values, n_rows, "ratings")
    if values.dtype.kind not in "biuf":
        raise TypeError(f"ratings must be numbers, got dtype {values.dtype}")
    values = values.astype(np.float32)
    bad = ~np.isfinite(values)
    if bad.any():
        first = int(np.argmax(bad))
        raise ValueError(
            f"{int(bad.sum())} ratings are NaN or infinite (the first at index {first} of the "
            f"ratings: {values[first]})"
        )
    return values


def _as_timestamps(values, n_rows):
    values = _as_vector(values, "timestamps")
    _check_length(values, n_rows, "timestamps")
    if values.dtype.kind == "M":
        if np.isnat(values).any():
            raise ValueError("timestamps contain NaT (missing times)")
        return values.astype("datetime64[s]").astype(np.int64)
    if values.dtype.kind == "f":
        if not np.isfinite(values).all():
            raise ValueError("timestamps contain NaN or infinite values")
        if (values != np.round(values)).any():
            raise ValueError("timestamps must be whole numbers (e.g. unix seconds)")
    elif values.dtype.kind not in "iu":
        raise TypeError(f"timestamps must be integers or datetime64, got dtype {values.dtype}")
    return values.astype(np.int64)


def _as_features(features, names, n_rows, what):
    """float32 (n_rows, F) read-only matrix and its F names, or (None, None)."""
    if features is None:
        if names is not None:
            raise ValueError(f"{what}_feature_names given without {what}_features")
        return None, None
    features = np.asarray(features)
    if features.ndim != 2 or features.shape[0] != n_rows:
        raise ValueError(
            f"{what}_features must have shape ({n_rows}, F): one row per {what} of the vocabulary, "
            f"got {features.shape}"
        )
    if features.dtype.kind not in "biuf":
        raise TypeError(f"{what}_features must be numbers, got dtype {features.dtype}")
    features = _frozen(features.astype(np.float32, copy=False))
    if not np.isfinite(features).all():
        raise ValueError(f"{what}_features contain NaN or infinite values")
    if names is None:
        names = [f"{what}_feature_{j}" for j in range(features.shape[1])]
    names = [str(name) for name in names]
    if len(names) != features.shape[1]:
        raise ValueError(f"{len(names)} {what}_feature_names for {features.shape[1]} feature columns")
    return features, names


# ---------------------------------------------------------------------- duplicates
def _pair_key(user_index, item_index, n_items):
    """One int64 per row, equal for two rows exactly when they hold the same (user, item) pair."""
    return user_index.astype(np.int64) * n_items + item_index


def _count_repeats(pair):
    """Rows whose pair key already appeared in an earlier row."""
    pair = np.sort(pair)
    return int(np.count_nonzero(pair[1:] == pair[:-1]))


class _RepeatedPairError(ValueError):
    """duplicates="error" met a repeated (user, item) pair (from_parsed then names the lines)."""


def _resolve_duplicates(user_index, item_index, ratings, timestamps, n_items, policy, user_ids, item_ids):
    """Apply the duplicates policy; return the four row arrays with each (user, item) pair once."""
    pair = _pair_key(user_index, item_index, n_items)
    n_repeated = _count_repeats(pair)
    if n_repeated == 0:
        return user_index, item_index, ratings, timestamps
    # Rows by pair, then time, then row order: stable sorts from the least significant key up.
    order = np.arange(len(pair)) if timestamps is None else np.argsort(timestamps, kind="stable")
    order = order[np.argsort(pair[order], kind="stable")]
    sorted_pair = pair[order]
    starts = np.flatnonzero(np.r_[True, sorted_pair[1:] != sorted_pair[:-1]])  # first row of each pair
    group_sizes = np.diff(np.r_[starts, len(order)])
    if policy == "error":
        first = order[starts[np.argmax(group_sizes > 1)]]
        user, item = _plain(user_ids[user_index[first]]), _plain(item_ids[item_index[first]])
        raise _RepeatedPairError(
            f"{n_repeated} rows repeat an earlier (user, item) pair (e.g. user {user!r}, item {item!r}); "
            "pass duplicates='last' to keep the latest row or duplicates='sum' to add their ratings"
        )
    if policy == "last":  # the last row of each group: latest time, then latest row
        ends = starts + group_sizes - 1
        kept = np.sort(order[ends])
        return (
            user_index[kept],
            item_index[kept],
            None if ratings is None else ratings[kept],
            None if timestamps is None else timestamps[kept],
        )
    # policy == "sum": one row per pair, at the position where the pair first appears
    first_rows = np.minimum.reduceat(order, starts)
    values = np.ones(len(order), np.float64) if ratings is None else ratings.astype(np.float64)
    summed = np.add.reduceat(values[order], starts).astype(np.float32)
    latest = None if timestamps is None else np.maximum.reduceat(timestamps[order], starts)
    by_position = np.argsort(first_rows)
    return (
        user_index[first_rows][by_position],
        item_index[first_rows][by_position],
        summed[by_position],
        None if latest is None else latest[by_position],
    )
