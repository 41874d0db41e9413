"""Side features from raw columns: one pipeline for the user or item matrix that Interactions holds.

A table is a mapping column name -> sequence of N values (a dict of lists or arrays, or a pandas
DataFrame), one row per user or item. A FeaturePipeline turns it into the float32 matrix (N, F) and
the F column names that ``Interactions.user_features`` / ``item_features`` hold, which ContentBased
and Hybrid read. Each block of columns comes from one kind of transformer:

    TfidfText(column)         words weighted by TF-IDF (nanorec.data.text)     "title:love"
    HashedText(column, B)     words hashed into B buckets with a sign          "title#17"
                                  x[d, b] = sum over the words w of d with bucket(w) = b of sign(w),
                                  then the row scaled to unit length; bucket and sign come from a
                                  BLAKE2b digest of the word (the same in every process, unlike
                                  Python's hash()), so no vocabulary is learned or stored
    Categorical(column)       one-hot over the categories seen in fit          "genre=Comedy"
                                  a row may hold several values (multi-hot); an unknown category
                                  or a missing value (None) gives zeros
    Numeric(column)           (x - mean) / std with the mean and std of fit    "year"
                                  NaN raises, unless fill= says what to put in its place
    DenseVectors(column)      vectors a user brings (image or text            "emb[3]"
                                  embeddings), shape-checked, optionally scaled to unit length

``fit`` learns from some rows (the training users or items); ``transform`` maps any rows, new ones
included, onto the same columns, so a cold item gets its features without refitting:

    pipeline = FeaturePipeline([Categorical("genre"), TfidfText("title", max_features=100)])
    train = attach_features(train, pipeline, items_table, kind="item", ids=items_table["id"])
    model = Hybrid().fit(train)
    model.score_new_items(users, pipeline.transform(new_items_table))

A fitted pipeline saves to one .npz file (JSON header + arrays, nanorec.io; no pickle).
"""

import hashlib

import numpy as np

from nanorec import _checks

from nanorec.data.interactions import Interactions
from nanorec.data.text import ENGLISH_STOP_WORDS, TfidfVectorizer, tokenize
from nanorec.io import load_arrays, save_arrays

FIT_ON = ("interacted", "all", None)


class FeatureColumn:
    """One block of feature columns from one column of the table.

    A subclass writes ``fit(values) -> self``, ``transform(values) -> float64 (N, F)``,
    ``names() -> F str`` and, to be saved, ``state() -> (settings dict, arrays dict)`` with
    ``from_state(settings, arrays)`` its inverse. ``column`` names the table column it reads.
    """

    def __init__(self, column):
        if not isinstance(column, str):
            raise TypeError(f"{type(self).__name__}: column must be a str, got {type(column).__name__}")
        self.column = column

    def _require_fitted(self, attribute):
        if not hasattr(self, attribute):
            raise RuntimeError(f"{type(self).__name__}({self.column!r}) is not fitted: call fit first")

    def state(self):
        """(JSON-ready settings, arrays) from which ``from_state`` rebuilds the fitted column."""
        return {"column": self.column}, {}

    @classmethod
    def from_state(cls, settings, arrays):
        return cls(**settings)


class TfidfText(FeatureColumn):
    """TF-IDF of a text column (formulas in nanorec.data.text); names ``prefix + word``.

    Parameters
    ----------
    column : str
    max_features, min_df : as in TfidfVectorizer
    prefix : str, optional
        Default ``column + ":"`` (e.g. "title:love").
    vectorizer : TfidfVectorizer, optional
        Used (and fitted) instead of a new one; max_features and min_df are then ignored.
    """

    def __init__(self, column, max_features=None, min_df=1, prefix=None, vectorizer=None):
        super().__init__(column)
        self.prefix = f"{column}:" if prefix is None else prefix
        if vectorizer is None:
            vectorizer = TfidfVectorizer(min_df, max_features, dtype=np.float64)
        self.vectorizer = vectorizer

    def fit(self, values):
        self.vectorizer.fit(values)
        return self

    def transform(self, values):
        return self.vectorizer.transform(values).astype(np.float64)

    def names(self):
        return self.vectorizer.feature_names(self.prefix)

    def state(self):
        vectorizer = self.vectorizer
        words = vectorizer.feature_names()
        stop_words = None if vectorizer.stop_words is None else sorted(vectorizer.stop_words)
        settings = {"column": self.column, "prefix": self.prefix, "words": words,
                    "stop_words": stop_words, "min_df": vectorizer.min_df,
                    "max_features": vectorizer.max_features}
        return settings, {"idf": vectorizer.idf_}

    @classmethod
    def from_state(cls, settings, arrays):
        stop_words = settings["stop_words"]
        vectorizer = TfidfVectorizer(settings["min_df"], settings["max_features"],
                                     None if stop_words is None else frozenset(stop_words), np.float64)
        vectorizer.vocabulary_ = {word: j for j, word in enumerate(settings["words"])}
        vectorizer.idf_ = arrays["idf"]
        return cls(settings["column"], prefix=settings["prefix"], vectorizer=vectorizer)


def word_bucket_and_sign(word, n_buckets):
    """(bucket in 0..n_buckets-1, sign +1 or -1) of a word, from the 8-byte BLAKE2b digest h:
    bucket = h mod n_buckets, sign = +1 if the top bit of h is 0 else -1 (a second, independent-
    looking bit, so colliding words cancel on average instead of piling up)."""
    h = int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")
    return h % n_buckets, 1.0 if h >> 63 == 0 else -1.0


class HashedText(FeatureColumn):
    """Feature hashing of a text column's words (module docstring); names ``prefix + bucket``.

    Nothing is learned: ``fit`` only checks the values. Two words may share a bucket (a collision);
    with B buckets and V words, a word collides with about V / B others.

    Parameters
    ----------
    column : str
    n_buckets : int
        B, the number of columns.
    prefix : str, optional
        Default ``column + "#"`` (e.g. "title#17").
    """

    def __init__(self, column, n_buckets=256, prefix=None):
        super().__init__(column)
        self.n_buckets = _checks.positive_int(n_buckets, "n_buckets", "HashedText")
        self.prefix = f"{column}#" if prefix is None else prefix

    def fit(self, values):
        self.transform(values)
        return self

    def transform(self, values):
        texts = _texts(values, self.column)
        x = np.zeros((len(texts), self.n_buckets))
        for d, text in enumerate(texts):
            for word in tokenize(text, ENGLISH_STOP_WORDS):
                bucket, sign = word_bucket_and_sign(word, self.n_buckets)
                x[d, bucket] += sign
        return unit_rows(x)

    def names(self):
        return [f"{self.prefix}{b}" for b in range(self.n_buckets)]

    def state(self):
        return {"column": self.column, "n_buckets": self.n_buckets, "prefix": self.prefix}, {}


class Categorical(FeatureColumn):
    """One-hot (multi-hot) categories; names ``prefix + category``, categories sorted as strings.

    A value is a category (str, int, bool: compared by its string form, so 7 and "7" are one
    category) or a list/tuple/set of categories (multi-valued: a 1 in each column). None, and a
    category not seen in fit, give no 1; so does a float NaN (how pandas marks a missing value).

    Parameters
    ----------
    column : str
    prefix : str, optional
        Default ``column + "="`` (e.g. "genre=Comedy").
    """

    def __init__(self, column, prefix=None, categories=None):
        super().__init__(column)
        self.prefix = f"{column}=" if prefix is None else prefix
        if categories is not None:  # a fitted state (from_state)
            self.categories_ = list(categories)

    def fit(self, values):
        found = {category for row in self._rows(values) for category in row}
        if not found:
            raise ValueError(f"Categorical({self.column!r}): no category in the fitted rows")
        self.categories_ = sorted(found)
        return self

    def transform(self, values):
        self._require_fitted("categories_")
        position = {category: j for j, category in enumerate(self.categories_)}
        rows = self._rows(values)
        x = np.zeros((len(rows), len(self.categories_)))
        for d, row in enumerate(rows):
            x[d, [position[c] for c in row if c in position]] = 1.0
        return x

    def names(self):
        self._require_fitted("categories_")
        return [f"{self.prefix}{category}" for category in self.categories_]

    def _rows(self, values):
        """Each value as a set of category strings (empty for None)."""
        rows = []
        for d, value in enumerate(_sequence(values, self.column)):
            many = value if isinstance(value, (list, tuple, set, frozenset, np.ndarray)) else [value]
            many = [None if isinstance(c, float) and np.isnan(c) else c for c in many]
            for category in many:
                if not (category is None or isinstance(category, (str, int, bool, np.integer, np.bool_))):
                    raise TypeError(f"Categorical({self.column!r}): row {d} holds a "
                                    f"{type(category).__name__}, expected str or int categories")
            rows.append({str(category) for category in many if category is not None})
        return rows

    def state(self):
        return {"column": self.column, "prefix": self.prefix, "categories": self.categories_}, {}


class Numeric(FeatureColumn):
    """A number standardized with the mean and standard deviation of the fitted rows: (x - m) / s.

    s = 1 when the fitted values are constant. Missing values (NaN, None) raise a ValueError naming
    the row unless ``fill`` is given: "mean" puts the fitted mean in their place (so they become
    0), a number puts that number (before standardizing). The name of the column is ``column``.

    Parameters
    ----------
    column : str
    fill : None, "mean" or a finite number
    """

    def __init__(self, column, fill=None, mean=None, std=None):
        super().__init__(column)
        is_number = isinstance(fill, (int, float, np.number)) and not isinstance(fill, bool)
        if not (fill is None or fill == "mean" or (is_number and np.isfinite(fill))):
            raise ValueError(f"Numeric({column!r}): fill must be None, 'mean' or a finite number, "
                             f"got {fill!r}")
        self.fill = float(fill) if is_number else fill
        if mean is not None:  # a fitted state (from_state)
            self.mean_, self.std_ = float(mean), float(std)

    def fit(self, values):
        x = self._numbers(values)
        present = x[~np.isnan(x)]
        if len(present) == 0:
            raise ValueError(f"Numeric({self.column!r}): every fitted value is missing")
        self.mean_ = float(present.mean())
        std = float(present.std())
        self.std_ = std if std > 0 else 1.0
        return self

    def transform(self, values):
        self._require_fitted("mean_")
        x = self._numbers(values)
        if self.fill is not None:
            x[np.isnan(x)] = self.mean_ if self.fill == "mean" else self.fill
        return ((x - self.mean_) / self.std_)[:, None]

    def names(self):
        return [self.column]

    def _numbers(self, values):
        """float64 (N,), NaN for missing values; raises on inf, and on NaN without fill."""
        values = [np.nan if v is None else v for v in _sequence(values, self.column)]
        try:
            x = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"Numeric({self.column!r}): values must be numbers") from None
        if x.ndim != 1:
            raise ValueError(f"Numeric({self.column!r}): one number per row, got shape {x.shape}")
        if np.isinf(x).any():
            raise ValueError(f"Numeric({self.column!r}): infinite value at row {int(np.argmax(np.isinf(x)))}")
        if self.fill is None and np.isnan(x).any():
            raise ValueError(f"Numeric({self.column!r}): missing value (NaN) at row "
                             f"{int(np.argmax(np.isnan(x)))}; pass fill='mean' or fill=<number>")
        return x

    def state(self):
        return {"column": self.column, "fill": self.fill, "mean": self.mean_, "std": self.std_}, {}


class DenseVectors(FeatureColumn):
    """Vectors a user brings, e.g. image or text embeddings: (N, D) numbers, one row per user/item.

    ``fit`` records D; ``transform`` insists on D columns and finite values. With normalize=True
    each row is divided by its L2 norm (rows of zeros stay zero), so only the direction counts.
    Names ``column[j]`` (e.g. "emb[3]").
    """

    def __init__(self, column, normalize=False, dim=None):
        super().__init__(column)
        self.normalize = bool(normalize)
        if dim is not None:  # a fitted state (from_state)
            self.dim_ = int(dim)

    def fit(self, values):
        self.dim_ = self._vectors(values).shape[1]
        return self

    def transform(self, values):
        self._require_fitted("dim_")
        x = self._vectors(values)
        if x.shape[1] != self.dim_:
            raise ValueError(f"DenseVectors({self.column!r}): vectors of {x.shape[1]} numbers, "
                             f"fitted on {self.dim_}")
        return unit_rows(x) if self.normalize else x

    def names(self):
        self._require_fitted("dim_")
        return [f"{self.column}[{j}]" for j in range(self.dim_)]

    def _vectors(self, values):
        try:
            x = np.array(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"DenseVectors({self.column!r}): rows must be vectors of numbers "
                            "of one length") from None
        if x.ndim != 2:
            raise ValueError(f"DenseVectors({self.column!r}): expected shape (N, D), got {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError(f"DenseVectors({self.column!r}): NaN or infinite values")
        return x

    def state(self):
        return {"column": self.column, "normalize": self.normalize, "dim": self.dim_}, {}


COLUMN_KINDS = {kind.__name__: kind for kind in (TfidfText, HashedText, Categorical, Numeric, DenseVectors)}


class FeaturePipeline:
    """Feature columns side by side: a table -> float (N, F) and F names (module docstring).

    Parameters
    ----------
    columns : sequence of FeatureColumn
        The blocks, left to right. Their names must not repeat.
    dtype : float dtype
        Of the matrices returned (float32, as Interactions stores features).

    Attributes (after fit)
    ----------------------
    names_ : list of F str
    """

    def __init__(self, columns, dtype=np.float32):
        columns = list(columns)
        if not columns or not all(isinstance(c, FeatureColumn) for c in columns):
            raise TypeError("FeaturePipeline expects a non-empty list of FeatureColumn "
                            "(TfidfText, HashedText, Categorical, Numeric, DenseVectors)")
        self.columns = columns
        self.dtype = np.dtype(dtype)

    def fit(self, table):
        """Fit every block on the N rows of ``table``; returns self."""
        self._check_table(table)
        for block in self.columns:
            block.fit(table[block.column])
        self._set_names()
        return self

    def transform(self, table):
        """(N, F) of dtype for any N rows, new ones included, on the fitted columns."""
        if not hasattr(self, "names_"):
            raise RuntimeError("FeaturePipeline is not fitted yet: call fit(table) first")
        self._check_table(table)
        blocks = [block.transform(table[block.column]) for block in self.columns]
        return np.hstack(blocks).astype(self.dtype)

    def fit_transform(self, table):
        return self.fit(table).transform(table)

    def save(self, path):
        """Write the fitted pipeline to ``path`` (.npz: JSON settings + arrays, atomic, no pickle)."""
        if not hasattr(self, "names_"):
            raise RuntimeError("FeaturePipeline is not fitted yet: nothing to save")
        settings, arrays = [], {}
        for j, block in enumerate(self.columns):
            block_settings, block_arrays = block.state()
            settings.append({"kind": type(block).__name__, **block_settings})
            arrays.update({f"{j}.{name}": value for name, value in block_arrays.items()})
        return save_arrays(path, "FeaturePipeline", arrays, columns=settings, dtype=self.dtype.name)

    @classmethod
    def load(cls, path):
        """Read a pipeline written by ``save``; nanorec.io.FormatError on a foreign file."""
        header, arrays = load_arrays(path, kind="FeaturePipeline")
        columns = []
        for j, settings in enumerate(header["columns"]):
            settings = dict(settings)
            kind = COLUMN_KINDS[settings.pop("kind")]
            prefix = f"{j}."
            block_arrays = {name[len(prefix):]: a for name, a in arrays.items() if name.startswith(prefix)}
            columns.append(kind.from_state(settings, block_arrays))
        pipeline = cls(columns, dtype=header["dtype"])
        pipeline._set_names()
        return pipeline

    def _set_names(self):
        names = [name for block in self.columns for name in block.names()]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"FeaturePipeline: column names repeat, e.g. {repeated[0]!r}; give the "
                             "blocks distinct prefixes")
        self.names_ = names

    def _check_table(self, table):
        """N, after checking that every column is in the table with N rows."""
        if not hasattr(table, "__getitem__") or isinstance(table, (str, np.ndarray)):
            raise TypeError(f"expected a table (dict column -> values, or a DataFrame), "
                            f"got {type(table).__name__}")
        lengths = {}
        for block in self.columns:
            try:
                lengths[block.column] = len(table[block.column])
            except KeyError:
                raise KeyError(f"the table has no column {block.column!r}") from None
        if len(set(lengths.values())) > 1:
            raise ValueError(f"table columns have different lengths: {lengths}")
        return next(iter(lengths.values()))


def attach_features(data, pipeline, table, kind="item", ids=None, fit_on="interacted", append=False):
    """The Interactions ``data`` with the pipeline's features as its user or item features.

    Parameters
    ----------
    data : Interactions
    pipeline : FeaturePipeline
    table : dict column -> values, or a DataFrame, one row per user (item)
    kind : {"user", "item"}
    ids : sequence of raw ids, optional
        The raw id of each table row; every id of ``data``'s vocabulary must be among them (others
        are ignored). Default: the rows follow ``data.user_ids`` / ``data.item_ids``.
    fit_on : {"interacted", "all", None}
        Fit the pipeline on the rows of the users (items) that have interactions in ``data`` (for a
        train split: the training ones; the cold ones are only transformed), on every row of the
        vocabulary, or not at all (the pipeline is already fitted).
    append : bool
        Keep the existing features of that side, left of the new columns.

    Returns
    -------
    Interactions with the same rows, maps and other side; the features of ``kind`` are the
    transformed table (n, F), or [old | new] with append, named accordingly.
    """
    if not isinstance(data, Interactions):
        raise TypeError(f"attach_features expects an Interactions, got {type(data).__name__}")
    if kind not in ("user", "item"):
        raise ValueError(f"kind must be 'user' or 'item', got {kind!r}")
    if fit_on not in FIT_ON:
        raise ValueError(f"fit_on must be one of {FIT_ON}, got {fit_on!r}")
    vocabulary = getattr(data, f"{kind}_ids")
    table = _in_vocabulary_order(table, pipeline, vocabulary, ids, kind)
    if fit_on is not None:
        rows = np.arange(len(vocabulary))
        if fit_on == "interacted":
            rows = np.flatnonzero(np.bincount(getattr(data, f"{kind}_index"), minlength=len(vocabulary)))
        pipeline.fit({column: _take(values, rows) for column, values in table.items()})
    features, names = pipeline.transform(table), list(pipeline.names_)
    old_features = getattr(data, f"{kind}_features")
    if append and old_features is not None:
        features = np.hstack([old_features, features])
        names = list(getattr(data, f"{kind}_feature_names")) + names
    sides = {"user_features": data.user_features, "user_feature_names": data.user_feature_names,
             "item_features": data.item_features, "item_feature_names": data.item_feature_names,
             f"{kind}_features": features, f"{kind}_feature_names": names}
    return Interactions(data.user_index, data.item_index, data.user_ids, data.item_ids, data.ratings,
                        data.timestamps, check_duplicates=False, **sides)


# ---------------------------------------------------------------------- helpers
def _in_vocabulary_order(table, pipeline, vocabulary, ids, kind):
    """{column: values in the order of the vocabulary} for the columns the pipeline reads."""
    n_rows = pipeline._check_table(table)
    if ids is None:
        if n_rows != len(vocabulary):
            raise ValueError(f"the table has {n_rows} rows for {len(vocabulary)} {kind}s; pass ids=")
        order = np.arange(n_rows)
    else:
        ids = np.asarray(ids)
        if ids.shape != (n_rows,):
            raise ValueError(f"ids has shape {ids.shape}, expected ({n_rows},): one per table row")
        row_of = {raw: row for row, raw in enumerate(ids.tolist())}
        if len(row_of) != n_rows:
            raise ValueError(f"ids repeat {n_rows - len(row_of)} id(s): one table row per {kind}")
        missing = [raw for raw in vocabulary.tolist() if raw not in row_of]
        if missing:
            raise KeyError(f"{len(missing)} {kind} id(s) of the data have no table row, e.g. {missing[0]!r}")
        order = np.array([row_of[raw] for raw in vocabulary.tolist()], dtype=np.int64)
    return {block.column: _take(table[block.column], order) for block in pipeline.columns}


def _take(values, rows):
    """values[rows] for a list, an array (N, ...) or a pandas Series (by position)."""
    if isinstance(values, np.ndarray):
        return values[rows]
    values = list(values)
    return [values[r] for r in rows]


def _sequence(values, column):
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise TypeError(f"column {column!r}: expected a sequence of values, one per row, "
                        f"got {type(values).__name__}")
    return list(values)


def _texts(values, column):
    texts = _sequence(values, column)
    for d, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"column {column!r}: row {d} is a {type(text).__name__}, expected a str")
    return texts


def unit_rows(x):
    """Each row divided by its L2 norm; rows of zeros stay zero."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def add_item_text(data, texts, vectorizer=None, prefix="title_"):
    """The Interactions ``data`` with TF-IDF columns of the item texts appended to its item features.

    A shortcut for nanorec.data.features.attach_features with one TfidfText block fitted on all I
    texts (use attach_features directly to fit on the training items only, or to add other blocks).

    Parameters
    ----------
    data : Interactions
    texts : dict raw item id -> str, or a sequence of I strings in the order of ``data.item_ids``
        Items missing from a dict get an empty text (a row of zeros).
    vectorizer : TfidfVectorizer, optional
        Fitted on the I texts here (default: ``TfidfVectorizer()``); keep it to map the titles of
        new items onto the same columns with ``vectorizer.transform``.
    prefix : str
        Put before each word to name its column (e.g. "title_love").

    Returns
    -------
    Interactions
        Same rows, ids, ratings, timestamps and user features; item features = [old | text] (I, F + V)
        with names [old names | prefix + word].
    """
    if not isinstance(data, Interactions):
        raise TypeError(f"add_item_text expects an Interactions, got {type(data).__name__}")
    if isinstance(texts, dict):
        texts = [texts.get(raw, "") for raw in data.item_ids.tolist()]
    texts = list(texts)
    if len(texts) != data.n_items:
        raise ValueError(f"add_item_text got {len(texts)} texts for {data.n_items} items")
    vectorizer = TfidfVectorizer() if vectorizer is None else vectorizer
    pipeline = FeaturePipeline([TfidfText("text", prefix=prefix, vectorizer=vectorizer)])
    return attach_features(data, pipeline, {"text": texts}, kind="item", fit_on="all", append=True)
