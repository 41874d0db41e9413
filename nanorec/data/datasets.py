"""Built-in data sets: ``load(name)`` gives an Interactions, ``available()`` says what is known.

    toy              the nine-row log of the original notebook (users 1-3, products 1-4, 0/1)
    synthetic        generated with planted preferences, any size (the default data set)
    movielens-100k   GroupLens MovieLens 100K, read from a zip or folder, downloaded when missing;
                     ``side_tables`` gives its raw user and item tables (titles included)
    the standard rating logs of DATASETS (one table of specs): MovieLens 1M, 10M, 20M, 25M and
    latest-small, Amazon "ratings only" CSVs, Last.fm 1K and 360K, a RecBole atomic .inter file;
    each read from its official archive (or its extracted ratings file) by the parser of its file
    layout (nanorec.data.rating_files), with pandas when installed (``engine``)

Where MovieLens is looked for (the data home), first match wins:
    1. the ``data_home`` argument
    2. the environment variable NANOREC_DATA_HOME
    3. ~/.cache/nanorec
The data home holds ``ml-100k.zip``, which is read as it is, straight from the zip: nothing is
extracted, so a read-only data home works, and a zip replaced by another copy is what the next
load reads. A folder ``ml-100k/`` (u.data, u.item, ...) is read when there is no zip. A download
is written to a temporary file, checked against the official checksum (SHA-256 for 100K, the MD5
that GroupLens publishes beside the other MovieLens archives; none where the publisher gives
none, see DATASETS) and only then renamed into place. Every member of a zip is checked before it is read (no absolute paths, no ``..``, no
symlinks; for a tar archive also no hard links or devices), and nothing is ever extracted to
disk: the ratings file is read from inside the archive. A zip you put in the data home yourself is used as it is (no checksum: it may be a
copy you rebuilt), and so is a zip or folder given as ``path``. A file that does not parse gives a
ValueError naming the zip (or folder), the member and the line.
"""

import hashlib
import os
import re
import tarfile
import tempfile
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Callable, NamedTuple, Optional
from urllib.request import urlopen

import numpy as np

from nanorec.data import rating_files
from nanorec.data.interactions import Interactions
from nanorec.io import umask

MOVIELENS_100K_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
# SHA-256 of the official GroupLens archive (4,924,029 bytes; its published MD5 is
# 0e33842e24a9c977be4e0107933c0723). Not the checksum of any locally rebuilt copy.
MOVIELENS_100K_SHA256 = "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229"
MOVIELENS_100K_FILES = ("u.data", "u.item", "u.user", "u.genre", "u.occupation")


def load(name="synthetic", path=None, data_home=None, **options):
    """Load a data set by name as Interactions.

    Parameters
    ----------
    name : {"synthetic", "toy", "movielens-100k"} or a name of DATASETS
    path : str or Path, optional
        movielens-100k: a zip in the GroupLens layout, or its extracted folder; DATASETS: the
        archive, its extracted folder or the ratings file itself (see ``load_dataset``).
    data_home : str or Path, optional
        Where to find or download the data (see the module docstring).
    **options
        synthetic: the arguments of ``synthetic``; movielens-100k: ``download=True``; DATASETS:
        ``download=True``, ``engine="auto"``.
    """
    if name == "movielens-100k":
        return movielens_100k(path=path, data_home=data_home, **options)
    if name in DATASETS:
        return load_dataset(name, path=path, data_home=data_home, **options)
    if name not in ("toy", "synthetic"):
        raise ValueError(f"unknown data set {name!r}; known: {sorted(available())}")
    if path is not None or data_home is not None:
        raise ValueError(f"{name!r} is built in: it takes no path or data_home")
    return toy(**options) if name == "toy" else synthetic(**options)


def available(data_home=None):
    """What ``load`` knows: {name: {"description", "size", "local"}}.

    ``local`` is "built in", or the archive (else the extracted folder or file) found in the data
    home: None if absent (``load`` downloads it when the entry's "url" is not None, and needs a
    ``path`` otherwise).
    """
    home = get_data_home(data_home)
    folder, archive = home / "ml-100k", home / "ml-100k.zip"
    found = archive if archive.is_file() else folder if (folder / "u.data").is_file() else None
    return {
        "toy": {
            "description": "the notebook's 9-row log, 0/1 ratings",
            "size": "3 users, 4 items, 9 rows",
            "local": "built in",
        },
        "synthetic": {
            "description": "planted preferences, genres, demographics, drifting timestamps",
            "size": "any; default 1000 users, 500 items, 50,000 rows",
            "local": "built in",
        },
        "movielens-100k": {
            "description": "GroupLens MovieLens 100K, ratings 1-5, genres and demographics",
            "size": "943 users, 1682 items, 100,000 rows (4.9 MB zip)",
            "local": None if found is None else str(found),
            "data_home": str(home),
            "url": MOVIELENS_100K_URL,
        },
        **{name: {"description": spec.description, "size": spec.size,
                  "local": _found_in(spec, home), "data_home": str(home), "url": spec.url}
           for name, spec in DATASETS.items()},
    }


def get_data_home(data_home=None):
    """The data home: the argument, else $NANOREC_DATA_HOME, else ~/.cache/nanorec.

    NotADirectoryError when it names something other than a folder (a file, say); it need not
    exist yet (a download creates it).
    """
    source = "data_home"
    if data_home is None:
        source = "NANOREC_DATA_HOME" if os.environ.get("NANOREC_DATA_HOME") else "the data home"
        data_home = os.environ.get("NANOREC_DATA_HOME") or Path.home() / ".cache" / "nanorec"
    home = Path(data_home).expanduser()
    if home.exists() and not home.is_dir():
        raise NotADirectoryError(f"{source} {home} is a file, not a folder: point it at a folder "
                                 "to keep data sets in (NANOREC_DATA_HOME), or unset it to use "
                                 "~/.cache/nanorec")
    return home


# ---------------------------------------------------------------------- toy
def toy():
    """The nine-row log: users 1-3, products 1-4, behaviour 0/1 as explicit ratings, no timestamps."""
    log = [(1, 1, 1), (1, 2, 0), (1, 3, 1),
           (2, 1, 0), (2, 3, 1), (2, 4, 1),
           (3, 2, 1), (3, 3, 0), (3, 4, 1)]  # (user, product, behaviour)
    users, items, behaviour = np.array(log).T
    return Interactions.from_arrays(users, items, ratings=behaviour)


# ---------------------------------------------------------------------- synthetic
AGE_BUCKETS = ("<18", "18-24", "25-34", "35-49", "50+")
AGE_SHARES = (0.1, 0.3, 0.3, 0.2, 0.1)
GENDERS = ("F", "M")
CHOICE_SHARPNESS = 3.0  # weight of the planted score against Gumbel noise when a user picks items
START_TIME = 1_500_000_000  # unix seconds (July 2017): users start within the following year
CHUNK_ROWS = 2**20  # candidate rows handled at once, to bound memory for big data


@dataclass
class SyntheticTruth:
    """The planted structure behind ``synthetic``; arrays are indexed by user / item INDEX.

    Planted score of user u for item i at time fraction t in [0, 1] of the user's history:
        s(u, i, t) = (P[u] + (t - 1/2) D[u]) . Q[i] + b_user[u] + b_item[i]
    """

    user_factors: np.ndarray  # P (U, K): average taste, shaped by age bucket and gender
    user_drift: np.ndarray  # D (U, K): direction in which the taste moves over time
    item_factors: np.ndarray  # Q (I, K): scattered around the factors of the item's genres
    user_bias: np.ndarray  # (U,)
    item_bias: np.ndarray  # (I,)
    genre_factors: np.ndarray  # (G, K)
    item_genre: np.ndarray  # (I,) primary genre
    item_exposure: np.ndarray  # (I,) Zipf probabilities of entering a user's candidate pool
    user_age_bucket: np.ndarray  # (U,) index into AGE_BUCKETS
    user_gender: np.ndarray  # (U,) index into GENDERS
    genre_stickiness: float  # P(a session of same-genre items continues)

    def score(self, user_index, item_index, time_fraction=0.5):
        """Planted score s(u, i, t) for index arrays (broadcast together)."""
        user_index, item_index = np.asarray(user_index), np.asarray(item_index)
        t = np.asarray(time_fraction, dtype=np.float64)[..., None]
        taste = self.user_factors[user_index] + (t - 0.5) * self.user_drift[user_index]
        dot = np.einsum("...k,...k->...", taste, self.item_factors[item_index])
        return dot + self.user_bias[user_index] + self.item_bias[item_index]


def synthetic(
    n_users=1000,
    n_items=500,
    n_interactions=50_000,
    n_factors=8,
    n_genres=None,
    seed=0,
    popularity_exponent=1.0,
    genre_stickiness=0.7,
    drift=1.0,
    rating_noise=0.5,
):
    """A rating log with planted low-rank preferences; the truth is in ``data.planted``.

    How it is made (all draws from ``np.random.default_rng(seed)``; U users, I items, K factors,
    G genres, ``n_genres``: by default min(10, I)):

    Users      P[u] = A[age[u]] + B[gender[u]] + noise     demographics shape the taste;
               age bucket and gender are one-hot user features
    Items      Q[i] = C[genre[i]] (+ C[genre2[i]] / 2 for the 30% of items with a second genre)
               + noise / 2; the genres are multi-hot item features. P and Q are rescaled so
               that P[u] . Q[i] has unit variance
    Exposure   exposure[i] ~ 1 / rank[i] ** popularity_exponent (Zipf; random ranks): a long tail
    Activity   rows per user n[u] ~ lognormal shares of n_interactions, 1 <= n[u] <= I - 1
               (0 for some users when n_interactions < n_users)
    Choice     u draws a pool of 2 n[u] + 8 items by exposure and keeps the n[u] distinct ones
               with the largest 3 (P[u] . Q[i] + b_item[i]) + Gumbel noise (a softmax choice
               without replacement; users whose pool is too small choose among all items)
    Order      u's items form same-genre sessions (a session goes on with probability
               genre_stickiness, so the next item tends to share the previous one's genre);
               sessions, and items in a session, follow the drift Q[i] . D[u] (noisy for
               sessions): late items suit the late taste P + D/2. D has the scale of P times drift
    Times      a start within a year of START_TIME plus gaps of 1 s + Exponential(1 day):
               increasing per user
    Ratings    clip(round(3.5 + 1.1 z + rating_noise * noise), 1, 5), z = the planted score
               s(u, i, t) at the row's time fraction, standardized over all rows

    Raw ids are 1..U and 1..I (like MovieLens), so index = raw id - 1; rows are sorted by user,
    then time. Every user keeps at least one item it never rated. About 1-2 s per million rows.

    Returns
    -------
    Interactions with ratings, timestamps, user and item features, and ``.planted`` (SyntheticTruth)
    """
    if n_genres is None:
        n_genres = min(10, n_items) if isinstance(n_items, (int, np.integer)) else 10
    _check_synthetic_options(n_users, n_items, n_interactions, n_factors, n_genres,
                             popularity_exponent, genre_stickiness, drift, rating_noise)
    rng = np.random.default_rng(seed)
    truth, genre_features = _plant_truth(rng, n_users, n_items, n_factors, n_genres,
                                         popularity_exponent, genre_stickiness, drift)
    rows_per_user = _rows_per_user(rng, n_users, n_items, n_interactions)
    users, items, scores = _choose_and_order(rng, truth, rows_per_user)

    first_row = np.r_[0, np.cumsum(rows_per_user)[:-1]]
    starts = START_TIME + rng.integers(0, 365 * 86400, n_users)
    elapsed = np.cumsum(1 + rng.exponential(86400.0, len(users)).astype(np.int64))
    timestamps = starts[users] + elapsed - elapsed[first_row[users]]
    z = (scores - scores.mean()) / max(scores.std(), 1e-12)
    ratings = np.clip(np.rint(3.5 + 1.1 * z + rating_noise * rng.standard_normal(len(z))), 1, 5)

    demographics = np.zeros((n_users, len(AGE_BUCKETS) + len(GENDERS)), dtype=np.float32)
    demographics[np.arange(n_users), truth.user_age_bucket] = 1
    demographics[np.arange(n_users), len(AGE_BUCKETS) + truth.user_gender] = 1
    data = Interactions(
        users, items, np.arange(1, n_users + 1), np.arange(1, n_items + 1), ratings, timestamps,
        user_features=demographics,
        user_feature_names=[f"age_{a}" for a in AGE_BUCKETS] + [f"gender_{g}" for g in GENDERS],
        item_features=genre_features, item_feature_names=[f"genre_{g}" for g in range(n_genres)],
        check_duplicates=False,  # each user's items are distinct by construction
    )
    data.planted = truth
    return data


def _check_synthetic_options(n_users, n_items, n_interactions, n_factors, n_genres,
                             popularity_exponent, genre_stickiness, drift, rating_noise):
    limits = {"n_users": (n_users, 1), "n_items": (n_items, 2), "n_factors": (n_factors, 1),
              "n_genres": (n_genres, 1), "n_interactions": (n_interactions, 1)}
    for name, (value, low) in limits.items():
        if not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if n_genres > n_items:
        raise ValueError(f"n_genres ({n_genres}) cannot exceed n_items ({n_items})")
    if n_interactions > n_users * (n_items - 1):
        raise ValueError(
            f"n_interactions ({n_interactions}) exceeds n_users * (n_items - 1) = {n_users * (n_items - 1)} "
            "(each user keeps at least one unrated item)"
        )
    if not 0 <= genre_stickiness < 1:
        raise ValueError(f"genre_stickiness must be in [0, 1), got {genre_stickiness!r}")
    for name, value in {"popularity_exponent": popularity_exponent, "drift": drift,
                        "rating_noise": rating_noise}.items():
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def _plant_truth(rng, n_users, n_items, n_factors, n_genres, popularity_exponent, stickiness, drift):
    """Draw the planted factors, genres, demographics and exposure; return (truth, genre features)."""
    age = rng.choice(len(AGE_BUCKETS), size=n_users, p=AGE_SHARES)
    gender = rng.integers(0, len(GENDERS), n_users)
    age_effect = 0.7 * rng.standard_normal((len(AGE_BUCKETS), n_factors))
    gender_effect = 0.7 * rng.standard_normal((len(GENDERS), n_factors))
    user_factors = age_effect[age] + gender_effect[gender] + rng.standard_normal((n_users, n_factors))

    genre_factors = rng.standard_normal((n_genres, n_factors))
    genre = rng.integers(0, n_genres, n_items)
    # a second genre (different from the first) for about 30% of the items, when there are two
    second = (genre + rng.integers(1, max(n_genres, 2), n_items)) % n_genres
    has_second = (rng.random(n_items) < 0.3) & (n_genres > 1)
    item_factors = (genre_factors[genre] + 0.5 * has_second[:, None] * genre_factors[second]
                    + 0.5 * rng.standard_normal((n_items, n_factors)))
    genre_features = np.zeros((n_items, n_genres), dtype=np.float32)
    genre_features[np.arange(n_items), genre] = 1
    genre_features[np.flatnonzero(has_second), second[has_second]] = 1

    # rescale so that P[u] . Q[i] has about unit variance: each entry gets variance 1 / sqrt(K)
    entry_scale = n_factors**-0.25
    user_scale, item_scale = entry_scale / user_factors.std(), entry_scale / item_factors.std()
    rank = rng.permutation(n_items) + 1
    exposure = 1.0 / rank**popularity_exponent
    truth = SyntheticTruth(
        user_factors=user_factors * user_scale,
        user_drift=drift * entry_scale * rng.standard_normal((n_users, n_factors)),
        item_factors=item_factors * item_scale,
        user_bias=0.3 * rng.standard_normal(n_users),
        item_bias=0.3 * rng.standard_normal(n_items),
        genre_factors=genre_factors * item_scale,
        item_genre=genre,
        item_exposure=exposure / exposure.sum(),
        user_age_bucket=age,
        user_gender=gender,
        genre_stickiness=float(stickiness),
    )
    return truth, genre_features


def _rows_per_user(rng, n_users, n_items, n_interactions):
    """Lognormal activity shares of n_interactions, each user between 1 (if enough rows) and I - 1."""
    shares = rng.lognormal(0.0, 1.0, n_users)
    at_least = 1 if n_interactions >= n_users else 0
    counts = at_least + rng.multinomial(n_interactions - at_least * n_users, shares / shares.sum())
    cap = n_items - 1
    while (counts > cap).any():  # hand the rows above the cap to users with room left
        excess = int((counts - cap).clip(0).sum())
        counts = np.minimum(counts, cap)
        room = (cap - counts).astype(np.float64)
        counts += rng.multinomial(excess, room / room.sum())
    return counts


def _choose_and_order(rng, truth, rows_per_user):
    """Per user: choose distinct items, order them in time; (users, items, planted scores) by user."""
    pool_sizes = 2 * rows_per_user + 8
    pool_end = np.cumsum(pool_sizes)
    parts, low = [], 0
    while low < len(rows_per_user):  # users in chunks of about CHUNK_ROWS candidate rows
        done_rows = pool_end[low - 1] if low else 0
        high = max(low + 1, int(np.searchsorted(pool_end, done_rows + CHUNK_ROWS, side="right")))
        users, items = _choose_items(rng, truth, np.arange(low, high), rows_per_user[low:high],
                                     pool_sizes[low:high])
        parts.append(_order_in_time(rng, truth, users, items, rows_per_user))
        low = high
    return tuple(np.concatenate(column) for column in zip(*parts))


def _choose_items(rng, truth, users, n_rows, pool_sizes):
    """n_rows[k] distinct items for each user users[k]: the best of an exposure-drawn pool."""
    n_items = len(truth.item_exposure)
    cdf = np.cumsum(truth.item_exposure)
    pool_user = np.repeat(users, pool_sizes)
    uniforms = rng.random(len(pool_user))
    by_value = np.argsort(uniforms)  # searchsorted is much faster on sorted queries
    drawn = np.empty(len(uniforms), dtype=np.int64)
    drawn[by_value] = np.searchsorted(cdf, uniforms[by_value] * cdf[-1], side="right")
    pairs = np.sort(pool_user.astype(np.int64) * n_items + np.minimum(drawn, n_items - 1))
    pairs = pairs[np.r_[True, pairs[1:] != pairs[:-1]]]  # each (user, item) once
    user, item = pairs // n_items, pairs % n_items
    too_small = np.bincount(user - users[0], minlength=len(users)) < n_rows
    if too_small.any():  # these users choose among all items instead
        keep = ~too_small[user - users[0]]
        everyone = users[too_small]
        user = np.r_[user[keep], np.repeat(everyone, n_items)]
        item = np.r_[item[keep], np.tile(np.arange(n_items), len(everyone))]
    appeal = np.einsum("nk,nk->n", truth.user_factors[user], truth.item_factors[item]) + truth.item_bias[item]
    key = CHOICE_SHARPNESS * appeal + rng.gumbel(size=len(user))
    order = np.argsort(user - users[0] + _squash(-key))  # by user, best key first
    chosen = order[_rank_within(user[order]) < n_rows[user[order] - users[0]]]
    return user[chosen], item[chosen]


def _order_in_time(rng, truth, users, items, rows_per_user):
    """Sort one chunk's rows into same-genre sessions ordered by drift; add the planted scores."""
    if len(users) == 0:  # a chunk of users without rows (fewer rows than users)
        return users, items, np.zeros(0)
    drift_key = np.einsum("nk,nk->n", truth.item_factors[items], truth.user_drift[users])
    genre = truth.item_genre[items]
    user_genre = (users - users[0]) * len(truth.genre_factors) + genre
    order = np.argsort(user_genre + _squash(drift_key))  # by user, genre, then drift
    users, items, user_genre, drift_key = users[order], items[order], user_genre[order], drift_key[order]

    # cut each (user, genre) run into sessions; a session goes on with probability genre_stickiness
    new_run = np.r_[True, user_genre[1:] != user_genre[:-1]]
    starts_session = new_run | (rng.random(len(users)) >= truth.genre_stickiness)
    session = np.cumsum(starts_session) - 1
    first_row = np.flatnonzero(starts_session)
    size = np.diff(np.r_[first_row, len(users)])
    session_key = np.bincount(session, drift_key) / size + 0.5 * rng.standard_normal(len(size))

    # move whole sessions into (user, session key) order; rows keep their drift order inside
    session_order = np.argsort(users[first_row] - users[0] + _squash(session_key))
    new_first_row = np.empty_like(first_row)
    new_first_row[session_order] = np.r_[0, np.cumsum(size[session_order])[:-1]]
    order = np.empty(len(users), dtype=np.int64)
    order[new_first_row[session] + np.arange(len(users)) - first_row[session]] = np.arange(len(users))
    users, items = users[order], items[order]

    time_fraction = _rank_within(users) / np.maximum(rows_per_user[users] - 1, 1)
    return users, items, truth.score(users, items, time_fraction)


def _rank_within(sorted_keys):
    """0, 1, 2, ... restarting at each new value of a sorted array: each row's place in its group."""
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    return np.arange(len(sorted_keys)) - np.repeat(starts, np.diff(np.r_[starts, len(sorted_keys)]))


def _squash(x):
    """Map reals increasingly into (0, 1), so that integer + _squash(key) sorts by integer, then key.

    One fast argsort of such a composite replaces a (slow) multi-key lexsort over many rows.
    """
    return 0.5 + np.arctan(x) / np.pi


# ---------------------------------------------------------------------- MovieLens 100K
def movielens_100k(path=None, data_home=None, download=True):
    """MovieLens 100K (GroupLens): 943 users, 1682 items, 100,000 ratings 1-5 with timestamps.

    Item features (20): the 19 genre flags ("genre_<name>" from u.genre) and "release_year",
    min-max scaled to [0, 1] (year from the release date, else from "(1995)" in the title, else
    the median year). User features (24): "age" min-max scaled to [0, 1], "gender_F", "gender_M",
    and one "occupation_<name>" per line of u.occupation. Raw ids are the file's integer ids.

    Parameters
    ----------
    path : str or Path, optional
        A zip in the GroupLens layout (``ml-100k/u.data`` ...) or an extracted folder (holding
        ``u.data`` or ``ml-100k/u.data``). By default the data home is used.
    data_home : str or Path, optional
        See the module docstring.
    download : bool
        When the data home has neither the zip nor the folder: download it (True) or raise
        FileNotFoundError saying where to put the zip (False).
    """
    return _parse_movielens(movielens_source(path, data_home, download))


def movielens_100k_checksum(path=None, data_home=None):
    """SHA-256 of the contents of the five GroupLens files (u.data, u.item, u.user, u.genre,
    u.occupation) where ``movielens_100k`` reads them: equal for a zip, its extracted folder and
    the data home's copy of the same data. Nothing is downloaded."""
    source = movielens_source(path, data_home, download=False)
    digest = hashlib.sha256()
    for name in MOVIELENS_100K_FILES:
        content = source.read(name)
        digest.update(f"{name}:{len(content)}:".encode())
        digest.update(content)
    return digest.hexdigest()


def side_tables(name="movielens-100k", path=None, data_home=None, download=True):
    """(user table, item table): the raw side columns of a data set, one row per user (item) of
    its files in file order, as dicts column -> list; what nanorec.data.features' pipelines read
    (``attach_features(train, pipeline, items, kind="item", ids=items["id"])``).

    movielens-100k (u.user, u.item, u.genre; found as ``movielens_100k`` finds them):
        users   id (int), age (int), gender ("F" or "M"), occupation (str), zip (str)
        items   id (int), title (str, e.g. "Toy Story (1995)"), year (float: of the release date,
                else of the last "(1995)" in the title, else None), genres (list of the u.genre
                names flagged 1)

    Unlike the features ``movielens_100k`` builds (min-max scaled, missing years filled with the
    median of all items), nothing here is scaled, filled or learned, so a pipeline fitted on the
    training rows learns from them alone. ValueError for a data set without side tables.
    """
    if name != "movielens-100k":
        raise ValueError(f"no side tables for {name!r}: only movielens-100k (its zip or folder) "
                         "has user and item tables")
    side = _movielens_side(movielens_source(path, data_home, download))
    return side.users, side.items


class _Source:
    """The GroupLens files of a zip or a folder: read(name) -> bytes, where(name) -> the text
    that names the file in messages."""

    def __init__(self, read, where):
        self.read, self.where = read, where


def movielens_source(path=None, data_home=None, download=True):
    """Where MovieLens 100K is read from: a _Source over ``path`` (a zip or a folder) or the
    data home (its zip, else its folder, else a download)."""
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist (expected an ml-100k zip or folder)")
        return _zip_reader(path) if path.is_file() else _folder_reader(path)
    home = get_data_home(data_home)
    folder, archive = home / "ml-100k", home / "ml-100k.zip"
    if archive.is_file():
        return _zip_reader(archive)  # read straight from the zip: nothing extracted to go stale
    if folder.exists():
        return _folder_reader(folder)
    where = (f"put ml-100k.zip (from {MOVIELENS_100K_URL}) at {archive}, or give the zip or its "
             "extracted folder: nanorec ... --data path/to/ml-100k.zip (Python: "
             "load('movielens-100k', path=...))")
    if not download:
        raise FileNotFoundError(f"MovieLens 100K is not in the data home {home}: {where}")
    try:
        _download_verified(MOVIELENS_100K_URL, archive, f"sha256:{MOVIELENS_100K_SHA256}", where)
    except PermissionError as error:  # a read-only data home
        raise PermissionError(f"cannot download MovieLens 100K into the data home {home} "
                              f"({error.strerror}): {where}") from None
    return _zip_reader(archive)


def _download_verified(url, destination, checksum, where_to_put_it="", timeout=60):
    """Download url to destination only if its checksum matches; no partial file is ever left.

    ``checksum`` is "sha256:<hex>" or "md5:<hex>", or None where the publisher gives none (the
    file is then taken as it comes). The bytes go to a temporary file beside ``destination``,
    hashed on the way; on a match the file is renamed to ``destination`` (atomic on one file
    system), otherwise it is deleted and a ValueError is raised. A network failure raises
    FileNotFoundError with ``where_to_put_it``.
    """
    algorithm, _, expected = (checksum or "sha256:").partition(":")
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=destination.parent, prefix=".download.", suffix=".tmp")
    try:
        digest = hashlib.new(algorithm)
        with os.fdopen(handle, "wb") as out:
            try:
                with urlopen(url, timeout=timeout) as response:
                    for block in iter(lambda: response.read(1 << 16), b""):
                        digest.update(block)
                        out.write(block)
            except OSError as error:  # URLError, timeouts and refused connections are OSErrors
                message = f"could not download {url} ({error}); offline? {where_to_put_it}"
                raise FileNotFoundError(message) from error
        os.chmod(temporary, 0o666 & ~umask())  # mkstemp's 0o600 would hide it from others
        if checksum is not None and digest.hexdigest() != expected:
            raise ValueError(
                f"checksum mismatch for {url}: expected {algorithm.upper()} {expected}, got "
                f"{digest.hexdigest()}; the download was discarded"
            )
        os.replace(temporary, destination)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def _open_zip(path):
    try:
        return zipfile.ZipFile(path)
    except Exception as error:  # noqa: BLE001 - BadZipFile, whatever a damaged directory raises
        raise ValueError(f"{path} is not a valid zip archive (corrupt or incomplete?): {error}") from None


def _check_members(zipped):
    """Refuse members that are symlinks, absolute paths or climb out with ".."."""
    for member in zipped.infolist():
        name = member.filename
        parts = PurePosixPath(name.replace("\\", "/")).parts
        is_symlink = (member.external_attr >> 16) & 0o170000 == 0o120000
        is_absolute = name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) is not None
        if is_symlink or is_absolute or ".." in parts:
            raise ValueError(f"unsafe member {name!r} in {zipped.filename}: refusing to read it")


def _zip_reader(path):
    """A _Source over the GroupLens files inside a zip (read into memory once)."""
    with _open_zip(path) as zipped:
        _check_members(zipped)
        names = set(zipped.namelist())
        prefix = "ml-100k/" if "ml-100k/u.data" in names else ""
        missing = [f for f in MOVIELENS_100K_FILES if prefix + f not in names]
        if missing:
            raise ValueError(f"{path} lacks {missing}: --data takes a zip in the GroupLens "
                             "ml-100k layout (ml-100k/u.data, u.item, u.user, u.genre, "
                             "u.occupation), a folder of those files, or a CSV/TSV file")
        try:
            contents = {f: zipped.read(prefix + f) for f in MOVIELENS_100K_FILES}
        except Exception as error:  # noqa: BLE001 - a bad CRC, a cut member, a damaged header
            raise ValueError(f"{path} is corrupt: {error}") from None
    return _Source(contents.__getitem__, lambda name: f"{path}: {prefix}{name}")


def _folder_reader(folder):
    """A _Source over the GroupLens files in a folder (or its ml-100k/ subfolder)."""
    if not (folder / "u.data").is_file() and (folder / "ml-100k" / "u.data").is_file():
        folder = folder / "ml-100k"
    missing = [f for f in MOVIELENS_100K_FILES if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder} lacks {missing}: a MovieLens folder holds the GroupLens "
                                "ml-100k files (u.data, u.item, u.user, u.genre, u.occupation)")
    return _Source(lambda name: (folder / name).read_bytes(), lambda name: str(folder / name))


def _parse_movielens(source):
    """Interactions from the five GroupLens files of a _Source."""
    raw = source.read("u.data")
    try:
        table = np.array(raw.split(), dtype=np.int64)
    except (ValueError, OverflowError):
        table = None
    if table is None or len(table) == 0 or len(table) % 4:
        _raise_at_bad_line(raw, source.where("u.data"))
    users, items, ratings, timestamps = table.reshape(-1, 4).T

    side = _movielens_side(source)
    genres, occupations = side.genres, side.occupations
    item_ids = np.array(side.items["id"], dtype=np.int64)
    user_ids = np.array(side.users["id"], dtype=np.int64)
    years = np.array([np.nan if year is None else year for year in side.items["year"]])
    years[np.isnan(years)] = np.nanmedian(years) if not np.isnan(years).all() else 0.0
    flags = np.array([[g in names for g in genres] for names in side.items["genres"]],
                     dtype=np.float32).reshape(len(item_ids), len(genres))
    item_features = np.column_stack([flags, _min_max(years)])
    ages = np.array(side.users["age"], dtype=np.float64)
    one_hot = [[gender == g for g in ("F", "M")] + [occupation == o for o in occupations]
               for gender, occupation in zip(side.users["gender"], side.users["occupation"])]
    user_features = np.column_stack([_min_max(ages), np.array(one_hot, dtype=np.float32)])
    for kind, ids, known, file in (("user", users, user_ids, "u.user"),
                                   ("item", items, item_ids, "u.item")):
        unknown = ~np.isin(ids, known)
        if unknown.any():
            line = _data_line(raw, int(np.argmax(unknown)))
            raise ValueError(f"{source.where('u.data')}, line {line}: {kind} id "
                             f"{int(ids[unknown][0])} is not in {file}")

    return Interactions.from_arrays(
        users, items, ratings, timestamps, user_ids=user_ids, item_ids=item_ids,
        user_features=user_features,
        user_feature_names=["age", "gender_F", "gender_M"] + [f"occupation_{o}" for o in occupations],
        item_features=item_features,
        item_feature_names=[f"genre_{g}" for g in genres] + ["release_year"],
    )


class _Side(NamedTuple):
    """The side files of MovieLens 100K, parsed: the genre and occupation names (u.genre,
    u.occupation, in file order) and the user and item tables (side_tables)."""

    genres: list
    occupations: list
    users: dict
    items: dict


def _movielens_side(source):
    """_Side of the GroupLens files of a _Source; ValueError naming the file and line of a row
    that does not parse."""
    genres = [line.split("|")[0] for _, line in _lines(source.read("u.genre"))]
    # id|title|release date|video release date|URL|flags; some copies drop the empty URL field,
    # so the genre flags are read as the LAST fields and the date as the third when present
    where = source.where("u.item")
    n_genres = len(genres)
    items = {"id": [], "title": [], "year": [], "genres": []}
    for number, line in _lines(source.read("u.item")):
        row = line.split("|")
        flags = row[-n_genres:]
        if len(row) < 2 + n_genres or not all(flag.strip() in ("0", "1") for flag in flags):
            raise ValueError(f"{where}, line {number}: expected id|title|...|{n_genres} genre "
                             "flags (0 or 1)")
        year = _release_year(row[2] if len(row) > 2 + n_genres else "", row[1])
        items["id"].append(_integer(row[0], where, number, "item id"))
        items["title"].append(row[1])
        items["year"].append(None if np.isnan(year) else year)
        items["genres"].append([g for g, flag in zip(genres, flags) if flag.strip() == "1"])

    where = source.where("u.user")
    users = {"id": [], "age": [], "gender": [], "occupation": [], "zip": []}
    for number, line in _lines(source.read("u.user")):
        row = line.split("|")
        if len(row) < 4:
            raise ValueError(f"{where}, line {number}: expected id|age|gender|occupation|zip")
        users["id"].append(_integer(row[0], where, number, "user id"))
        users["age"].append(_integer(row[1], where, number, "age"))
        users["gender"].append(row[2])
        users["occupation"].append(row[3])
        users["zip"].append(row[4] if len(row) > 4 else "")
    occupations = [line for _, line in _lines(source.read("u.occupation"))]
    return _Side(genres, occupations, users, items)


def _raise_at_bad_line(raw, where):
    """ValueError naming the first line of u.data that is not 4 integers (or an empty file)."""
    expected = "4 tab-separated integers (user, item, rating, timestamp)"
    for number, line in _lines(raw):
        fields = line.split()
        if len(fields) != 4:
            raise ValueError(f"{where}, line {number}: {len(fields)} fields, expected {expected}")
        for field in fields:
            _integer(field, where, number, "value", expected)
    raise ValueError(f"{where} holds no ratings: expected lines of {expected}")


def _data_line(raw, row):
    """The line number of the row-th non-blank line of u.data."""
    return _lines(raw)[row][0]


def _integer(text, where, number, what, expected=None):
    try:
        return int(text.strip())
    except ValueError:
        hint = f" (expected {expected})" if expected else ""
        raise ValueError(f"{where}, line {number}: the {what} {text.strip()!r} is not an "
                         f"integer{hint}") from None


def _lines(raw):
    """(1-based line number, line) of the non-empty lines of a latin-1 text file."""
    lines = re.split(r"\r\n|\r|\n", raw.decode("latin-1"))
    return [(number, line) for number, line in enumerate(lines, 1) if line.strip()]


def _release_year(date, title):
    """Year of "01-Jan-1995", else of the last "(1995)" in the title, else NaN."""
    if re.fullmatch(r"\d{2}-\w{3}-\d{4}", date.strip()):
        return float(date.strip()[-4:])
    found = re.findall(r"\((\d{4})\)", title)
    return float(found[-1]) if found else np.nan


def _min_max(values):
    """Scale to [0, 1] (all zeros when the values are constant)."""
    span = values.max() - values.min()
    return (values - values.min()) / span if span > 0 else np.zeros_like(values)


# ---------------------------------------------------------------------- the standard rating logs
@dataclass(frozen=True)
class DatasetSpec:
    """One standard data set: where its ratings file is and which parser reads it.

    file      its name in the data home: the official archive, or the ratings file itself
              (None: no official file, a ``path`` is always needed)
    member    the ratings file inside the archive (None when ``file`` is the ratings file); an
              extracted copy at data_home/member is read when the archive is not there
    parse     (binary stream, where, engine) -> Interactions: the parser of the file layout
    url       the official download, or None
    checksum  "md5:<hex>" / "sha256:<hex>" as the publisher gives it, or None where none is
              published (the download is then not verified: see ``checksum_note``)
    """

    description: str
    size: str
    file: Optional[str]
    member: Optional[str]
    parse: Callable
    url: Optional[str] = None
    checksum: Optional[str] = None
    checksum_note: str = ""


GROUPLENS = "https://files.grouplens.org/datasets/movielens/"
AMAZON_2014 = "https://snap.stanford.edu/data/amazon/productGraph/categoryFiles/"
LASTFM = "http://mtg.upf.edu/static/datasets/last.fm/"
# the 2014 "ratings only" files (McAuley et al.) and their published numbers of ratings
AMAZON_CATEGORIES = {"Beauty": 2_023_070, "Books": 22_507_155, "CDs_and_Vinyl": 3_749_004,
                     "Electronics": 7_824_482, "Movies_and_TV": 4_607_047,
                     "Musical_Instruments": 500_176}
_dat = partial(rating_files.parse_movielens_ratings, sep="::", header=False)
_csv = partial(rating_files.parse_movielens_ratings, sep=",", header=True)
_NO_CHECKSUM = "no checksum is published for this file, so a download is not verified"

DATASETS = {
    "movielens-1m": DatasetSpec(
        "GroupLens MovieLens 1M, ratings 1-5 with timestamps",
        "6,040 users, 3,706 items, 1,000,209 rows (5.9 MB zip)",
        "ml-1m.zip", "ml-1m/ratings.dat", _dat, GROUPLENS + "ml-1m.zip",
        "md5:c4d9eecfca2ab87c1945afe126590906"),
    "movielens-10m": DatasetSpec(
        "GroupLens MovieLens 10M, ratings 0.5-5 (half stars) with timestamps",
        "69,878 users, 10,677 items, 10,000,054 rows (63 MB zip)",
        "ml-10m.zip", "ml-10M100K/ratings.dat", _dat, GROUPLENS + "ml-10m.zip",
        "md5:ce571fd55effeba0271552578f2648bd"),
    "movielens-20m": DatasetSpec(
        "GroupLens MovieLens 20M, ratings 0.5-5 with timestamps",
        "138,493 users, 26,744 items, 20,000,263 rows (190 MB zip)",
        "ml-20m.zip", "ml-20m/ratings.csv", _csv, GROUPLENS + "ml-20m.zip",
        "md5:cd245b17a1ae2cc31bb14903e1204af3"),
    "movielens-25m": DatasetSpec(
        "GroupLens MovieLens 25M, ratings 0.5-5 with timestamps",
        "162,541 users, 59,047 items, 25,000,095 rows (250 MB zip)",
        "ml-25m.zip", "ml-25m/ratings.csv", _csv, GROUPLENS + "ml-25m.zip",
        "md5:6b51fb2759a8657d3bfcbfc42b592ada"),
    "movielens-latest-small": DatasetSpec(
        "GroupLens MovieLens latest-small (changes between releases), ratings 0.5-5",
        "610 users, 9,724 items, 100,836 rows in the 2018 release (1 MB zip)",
        "ml-latest-small.zip", "ml-latest-small/ratings.csv", _csv,
        GROUPLENS + "ml-latest-small.zip", None,
        "GroupLens regenerates the 'latest' archives, so no checksum can be pinned"),
    **{f"amazon-{category.lower().replace('_', '-')}": DatasetSpec(
        f"Amazon {category.replace('_', ' ')} ratings only (2014), ratings 1-5, text ids",
        f"{n_rows:,} rows before repeated pairs are merged (a plain CSV)",
        f"ratings_{category}.csv", None, rating_files.parse_amazon_ratings,
        f"{AMAZON_2014}ratings_{category}.csv", None, _NO_CHECKSUM)
       for category, n_rows in AMAZON_CATEGORIES.items()},
    "lastfm-1k": DatasetSpec(
        "Last.fm 1K listening histories folded into (user, artist) play counts",
        "992 users, about 19.15 million plays (a tar.gz)",
        "lastfm-dataset-1K.tar.gz",
        "lastfm-dataset-1K/userid-timestamp-artid-artname-traid-traname.tsv",
        rating_files.parse_lastfm_1k, LASTFM + "lastfm-dataset-1K.tar.gz", None, _NO_CHECKSUM),
    "lastfm-360k": DatasetSpec(
        "Last.fm 360K (user, artist, plays), no timestamps",
        "359,347 users, about 17.5 million rows (a tar.gz)",
        "lastfm-dataset-360K.tar.gz", "lastfm-dataset-360K/usersha1-artmbid-artname-plays.tsv",
        rating_files.parse_lastfm_360k, LASTFM + "lastfm-dataset-360K.tar.gz", None,
        _NO_CHECKSUM),
    "recbole": DatasetSpec(
        "a RecBole atomic .inter file (user_id:token, item_id:token, rating, timestamp)",
        "any: give the .inter file as path", None, None,
        rating_files.parse_recbole_inter),
}


def load_dataset(name, path=None, data_home=None, download=True, engine="auto"):
    """One of DATASETS as Interactions (ids, ratings and timestamps as the parser of its layout
    gives them: nanorec.data.rating_files).

    Parameters
    ----------
    name : str
        A key of DATASETS.
    path : str or Path, optional
        The official archive (zip or tar.gz; the ratings file is read from inside it), a folder
        holding the extracted ratings file (at its ``member`` path or directly), or the ratings
        file itself. By default the data home: the archive, else the extracted file, else a
        download (when the data set has a url).
    data_home : str or Path, optional
        See the module docstring.
    download : bool
        When the data home lacks the data: download it (True) or raise FileNotFoundError saying
        where to put it (False).
    engine : {"auto", "pandas", "python"}
        How text is parsed (rating_files): pandas when installed, else the pure fallback.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; known: {sorted(available())}")
    spec = DATASETS[name]
    target = Path(path) if path is not None else _local_or_download(name, spec, data_home, download)
    if not target.exists():
        raise FileNotFoundError(f"{target} does not exist (expected the {name} archive, its "
                                "folder or its ratings file)")
    with _ratings_stream(target, spec.member) as (stream, where):
        try:
            return spec.parse(stream, where, engine=engine)
        except (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError) as error:
            raise ValueError(f"{where} is corrupt (a damaged or incomplete archive?): "
                             f"{error}") from None


def _found_in(spec, home):
    """The archive in the data home, else the extracted ratings file, else None."""
    if spec.file is None:
        return None
    for candidate in (home / spec.file, home / spec.member if spec.member else None):
        if candidate is not None and candidate.is_file():
            return str(candidate)
    return None


def _local_or_download(name, spec, data_home, download):
    """The data home's copy of a data set (archive or extracted file), downloaded if asked."""
    home = get_data_home(data_home)
    found = _found_in(spec, home)
    if found is not None:
        return Path(found)
    if spec.url is None:
        raise FileNotFoundError(f"{name} has no official download: give the file, "
                                f"load({name!r}, path=...)")
    destination = home / spec.file
    where = (f"put {spec.file} (from {spec.url}) at {destination}, or give the archive or its "
             f"ratings file: load({name!r}, path=...)")
    if not download:
        raise FileNotFoundError(f"{name} is not in the data home {home}: {where}")
    try:
        _download_verified(spec.url, destination, spec.checksum, where)
    except PermissionError as error:
        raise PermissionError(f"cannot download {name} into the data home {home} "
                              f"({error.strerror}): {where}") from None
    return destination


@contextmanager
def _ratings_stream(target, member):
    """``(binary stream, where)`` of the ratings file: a member of a zip or tar archive (every
    member checked first, nothing extracted), a file in a folder, or the file itself."""
    if target.is_dir():
        names = [member, PurePosixPath(member).name] if member else []
        found = next((target / name for name in names if (target / name).is_file()), None)
        if found is None:
            raise FileNotFoundError(f"{target} holds no {' or '.join(names) or 'ratings file'}")
        target, member = found, None
    if member is not None and zipfile.is_zipfile(target):
        with _open_zip(target) as zipped:
            _check_members(zipped)
            if member not in zipped.namelist():
                raise ValueError(f"{target} lacks {member}: not the official archive?")
            with zipped.open(member) as stream:
                yield stream, f"{target}: {member}"
    elif member is not None and _is_tar(target):
        with _open_tar(target) as archive:
            _check_tar_members(archive, target)
            try:
                info = archive.getmember(member)
            except KeyError:
                raise ValueError(f"{target} lacks {member}: not the official archive?") from None
            with archive.extractfile(info) as stream:
                yield stream, f"{target}: {member}"
    elif target.name.endswith((".zip", ".tar", ".tar.gz", ".tgz")):
        problem = ("is an archive, but this data set is read from its ratings file itself: give "
                   "that file" if member is None else
                   "is not a valid archive (corrupt or incomplete?)")
        raise ValueError(f"{target} {problem}")
    else:
        with open(target, "rb") as stream:
            yield stream, str(target)


def _is_tar(path):
    try:
        return tarfile.is_tarfile(path)
    except (OSError, EOFError, zlib.error):
        return False


def _open_tar(path):
    try:
        return tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise ValueError(f"{path} is not a valid tar archive (corrupt or incomplete?): "
                         f"{error}") from None


def _check_tar_members(archive, path):
    """Refuse members that are links, devices, absolute paths or climb out with ".."."""
    try:
        members = archive.getmembers()
    except (tarfile.TarError, EOFError, zlib.error) as error:
        raise ValueError(f"{path} is corrupt (a damaged or incomplete archive?): {error}") from None
    for member in members:
        name = member.name
        parts = PurePosixPath(name.replace("\\", "/")).parts
        is_absolute = name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) is not None
        if not (member.isfile() or member.isdir()) or is_absolute or ".." in parts:
            raise ValueError(f"unsafe member {name!r} in {path}: refusing to read it")
