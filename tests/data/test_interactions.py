"""Interactions: id maps, CSR/dense views, duplicates policies, input checks, DataFrame and CSV."""

import contextlib
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanorec.data import interactions
from nanorec.data.delimited import IdTypeWarning
from nanorec.data.interactions import Interactions


@st.composite
def raw_logs(draw, max_rows=40):
    """A log of raw (user, item, rating, timestamp) rows; pairs may repeat."""
    n_rows = draw(st.integers(1, max_rows))

    def column(values):
        return draw(st.lists(values, min_size=n_rows, max_size=n_rows))

    users = column(st.sampled_from(["ann", "bob", "cy", "dee", "eve"]))
    items, ratings = column(st.integers(100, 107)), column(st.integers(1, 5))
    times = column(st.integers(0, 5))
    return users, items, ratings, times


def small_log():
    #        users          items          ratings            timestamps
    return ["b", "a", "b"], [30, 10, 20], [4.0, 3.0, 5.0], [100, 200, 300]


def test_from_arrays_maps_ids_to_sorted_indices():
    users, items, ratings, times = small_log()
    data = Interactions.from_arrays(users, items, ratings, times)
    assert list(data.user_ids) == ["a", "b"] and list(data.item_ids) == [10, 20, 30]
    assert data.item_ids.dtype.kind == "i"  # int ids keep an int dtype
    assert data.user_index.tolist() == [1, 0, 1] and data.item_index.tolist() == [2, 0, 1]
    assert data.user_index.dtype == np.int32 and data.item_index.dtype == np.int32
    assert data.ratings.dtype == np.float32 and data.timestamps.dtype == np.int64
    assert (data.n_users, data.n_items, len(data)) == (2, 3, 3)


@settings(max_examples=50, deadline=None)
@given(log=raw_logs())
def test_views_match_a_brute_force_table(log):
    users, items, ratings, _ = log
    data = Interactions.from_arrays(users, items, ratings, duplicates="last")
    table = {}  # (user, item) -> last rating in row order
    for user, item, rating in zip(users, items, ratings):
        table[(user, item)] = rating
    assert len(data) == len(table)
    for u, i, r in zip(data.user_index, data.item_index, data.ratings):
        assert table[(data.user_ids[u], data.item_ids[i])] == r
    dense = data.to_dense()
    csr = data.to_csr()
    assert csr.shape == dense.shape == (data.n_users, data.n_items)
    assert csr.indptr.dtype == np.int64 and csr.indices.dtype == np.int32 and csr.data.dtype == np.float32
    for u in range(data.n_users):
        row = slice(csr.indptr[u], csr.indptr[u + 1])
        assert np.all(np.diff(csr.indices[row]) > 0)  # sorted, no repeats
        mine = {item: r for (user, item), r in table.items() if user == data.user_ids[u]}
        expected = {data.item_to_index(item).item(): r for item, r in mine.items()}
        assert dict(zip(csr.indices[row].tolist(), csr.data[row].tolist())) == expected
        assert np.count_nonzero(dense[u]) == len(expected)
        for i, r in expected.items():
            assert dense[u, i] == r


def test_implicit_feedback_gives_ones():
    data = Interactions.from_arrays([1, 1, 2], [5, 6, 5])
    assert data.ratings is None
    assert data.to_csr().data.tolist() == [1.0, 1.0, 1.0]
    assert data.to_dense().tolist() == [[1.0, 1.0], [1.0, 0.0]]


def test_lookup_keeps_shape_and_names_the_unknown_id():
    data = Interactions.from_arrays(*small_log())
    assert data.user_to_index(["b", "a"]).tolist() == [1, 0]
    assert data.user_to_index("b").dtype == np.int32 and data.user_to_index("b").shape == ()
    assert data.item_to_index([[30], [10]]).tolist() == [[2], [0]]
    with pytest.raises(KeyError, match="unknown user id 'x'"):
        data.user_to_index(["a", "x", "y"])
    with pytest.raises(KeyError, match="unknown item id 11"):
        data.item_to_index([10, 11])
    with pytest.raises(KeyError, match="unknown item id '10'"):
        data.item_to_index("10")  # a string is not the int id 10


def test_given_vocabulary_keeps_ids_without_rows_and_fixes_feature_rows():
    data = Interactions.from_arrays(
        ["u2"], ["i9"], user_ids=["u2", "u1"], item_ids=["i9", "i8"],
        item_features=[[1.0], [2.0]], item_feature_names=["size"],
    )
    assert (data.n_users, data.n_items) == (2, 2)
    assert data.user_index.tolist() == [0] and data.item_to_index("i8") == 1
    assert data.item_features[data.item_to_index("i8"), 0] == 2.0
    with pytest.raises(KeyError, match="unknown user id 'u3'"):
        Interactions.from_arrays(["u3"], ["i9"], user_ids=["u2", "u1"])


def test_duplicates_error_counts_and_names_the_option():
    with pytest.raises(ValueError, match=r"2 rows repeat.*duplicates='last'.*'sum'"):
        Interactions.from_arrays([1, 1, 1, 2], [7, 7, 7, 7])


def test_duplicates_last_prefers_latest_timestamp_then_row_order():
    data = Interactions.from_arrays(
        [1, 1, 1, 2], [7, 7, 7, 7], ratings=[1, 2, 3, 4], timestamps=[50, 90, 90, 10], duplicates="last"
    )
    assert data.ratings.tolist() == [3, 4] and data.timestamps.tolist() == [90, 10]
    untimed = Interactions.from_arrays([1, 1, 2], [7, 7, 7], ratings=[5, 1, 4], duplicates="last")
    assert untimed.ratings.tolist() == [1, 4]


@settings(max_examples=50, deadline=None)
@given(log=raw_logs())
def test_duplicates_sum_and_last_match_a_reference(log):
    users, items, ratings, times = log
    by_sum = Interactions.from_arrays(users, items, ratings, times, duplicates="sum")
    by_last = Interactions.from_arrays(users, items, ratings, times, duplicates="last")
    summed, latest, kept = {}, {}, {}
    for n, key in enumerate(zip(users, items)):
        summed[key] = summed.get(key, 0) + ratings[n]
        latest[key] = max(latest.get(key, -1), times[n])
        if key not in kept or times[n] >= times[kept[key]]:
            kept[key] = n
    first_seen = list(dict.fromkeys(zip(users, items)))  # pairs in order of first appearance
    got_sum = [(by_sum.user_ids[u], by_sum.item_ids[i]) for u, i in zip(by_sum.user_index, by_sum.item_index)]
    assert got_sum == first_seen
    assert by_sum.ratings.tolist() == [summed[key] for key in first_seen]
    assert by_sum.timestamps.tolist() == [latest[key] for key in first_seen]
    assert by_last.ratings.tolist() == [ratings[n] for n in sorted(kept.values())]


def test_duplicates_sum_of_implicit_rows_gives_counts():
    data = Interactions.from_arrays([1, 1, 2], [7, 7, 7], duplicates="sum")
    assert data.ratings.tolist() == [2.0, 1.0]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(users=[], items=[]), "no interactions"),
        (dict(users=[1, 2], items=[1]), "items has 1 entries, expected 2"),
        (dict(users=[1, 2], items=[1, 2], ratings=[1.0]), "ratings has 1 entries"),
        (dict(users=[1, 2], items=[1, 2], ratings=[1.0, np.nan]), "1 ratings are NaN or infinite"),
        (dict(users=[1, 2], items=[1, 2], ratings=[np.inf, 1.0]), "NaN or infinite"),
        (dict(users=[1, 2], items=[1, 2], timestamps=[1.5, 2.0]), "whole numbers"),
        (dict(users=[1.0, np.nan], items=[1, 2]), "user ids contain NaN"),
        (dict(users=[1, 2], items=[1, 2], duplicates="first"), "duplicates must be one of"),
        (dict(users=[[1, 2]], items=[[1, 2]]), "users must be 1-D"),
        (dict(users=[1, 2], items=[1, 2], user_features=np.ones((3, 2))), r"must have shape \(2, F\)"),
        (
            dict(users=[1, 2], items=[1, 2], item_features=np.ones((2, 2)), item_feature_names=["a"]),
            "1 item_feature_names",
        ),
        (dict(users=[1, 2], items=[1, 2], item_features=[[np.nan], [1.0]]), "NaN or infinite"),
    ],
)
def test_bad_input_raises_a_clear_value_error(kwargs, message):
    users, items = kwargs.pop("users"), kwargs.pop("items")
    with pytest.raises(ValueError, match=message):
        Interactions.from_arrays(users, items, **kwargs)


def test_mixed_or_missing_ids_raise_a_type_error():
    with pytest.raises(TypeError, match="mutually comparable"):
        Interactions.from_arrays(np.array(["a", None], dtype=object), [1, 2])


# text ids: hashed by pandas (forced here for any size), or sorted as a numpy str array
FACTORIZE_WAYS = ["pandas", "numpy"]


@contextlib.contextmanager
def factorizing(way):
    """A context in which from_arrays factorizes text ids the given way."""
    with pytest.MonkeyPatch.context() as patch:
        if way == "pandas":
            pytest.importorskip("pandas")
            patch.setattr(interactions, "PANDAS_FACTORIZE_ROWS", 0)
        else:
            patch.setitem(sys.modules, "pandas", None)  # import pandas now raises ImportError
        yield


@settings(max_examples=40, deadline=None)
@given(ids=st.lists(st.text(st.characters(blacklist_characters="\x00"), max_size=4), min_size=1,
                    max_size=30),
       holder=st.sampled_from([object, str]))
def test_text_ids_are_factorized_as_np_unique_sorts_them(ids, holder):
    raw = np.array(ids, dtype=holder)
    expected_ids, expected_index = np.unique(np.array(ids, dtype=str), return_inverse=True)
    for way in FACTORIZE_WAYS:
        with factorizing(way):
            data = Interactions.from_arrays(raw, np.arange(len(ids)))
        assert data.user_ids.dtype.kind == "U", way  # text ids: a numpy str vocabulary
        assert data.user_ids.tolist() == expected_ids.tolist(), way
        assert data.user_index.tolist() == expected_index.reshape(-1).tolist(), way


@pytest.mark.parametrize("way", FACTORIZE_WAYS)
def test_numbers_and_mixed_ids_keep_np_unique_either_way(way):
    with factorizing(way):
        numbers = Interactions.from_arrays(np.array([30, 10, 30], dtype=object), [1, 2, 3])
        assert numbers.user_ids.tolist() == [10, 30] and numbers.user_index.tolist() == [1, 0, 1]
        with pytest.raises(TypeError, match="mutually comparable"):
            Interactions.from_arrays(np.array(["a", 1], dtype=object), [1, 2])
        with pytest.raises(TypeError, match="mutually comparable"):
            Interactions.from_arrays(np.array(["a", None], dtype=object), [1, 2])


def test_constructor_refuses_out_of_range_indices_and_repeated_pairs():
    with pytest.raises(ValueError, match=r"user_index must lie in \[0, 2\)"):
        Interactions([0, 2], [0, 0], ["a", "b"], ["x"])
    with pytest.raises(ValueError, match="repeat an earlier"):
        Interactions([0, 0], [0, 0], ["a"], ["x"])


def test_datetime_timestamps_become_seconds():
    times = np.array(["1970-01-01T00:01:00", "2000-01-01"], dtype="datetime64[s]")
    data = Interactions.from_arrays([1, 2], [1, 1], timestamps=times)
    assert data.timestamps.tolist() == [60, 946684800]


def test_subset_keeps_maps_features_and_vocabulary_sizes():
    data = Interactions.from_arrays(
        *small_log(), user_features=[[0.0], [1.0]], user_feature_names=["age"]
    )
    part = data.subset(np.array([False, True, False]))
    assert len(part) == 1 and part.user_ids is data.user_ids and part.item_ids is data.item_ids
    assert (part.n_users, part.n_items) == (2, 3) and part.user_features is data.user_features
    assert part.user_feature_names == ["age"]
    assert data.subset([2, 0]).ratings.tolist() == [5.0, 4.0]
    assert len(data.subset([])) == 0 and data.subset([]).to_csr().indptr.tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="repeat a row"):
        data.subset([0, 0])
    with pytest.raises(IndexError):
        data.subset([3])
    with pytest.raises(ValueError, match="mask has shape"):
        data.subset(np.array([True]))


def test_arrays_are_read_only():
    data = Interactions.from_arrays(*small_log())
    with pytest.raises(ValueError):
        data.ratings[0] = 1.0
    with pytest.raises(ValueError):
        data.to_csr().data[0] = 1.0


def test_to_dense_refuses_huge_matrices():
    data = Interactions.from_arrays(*small_log())
    with pytest.raises(ValueError, match="use to_csr"):
        data.to_dense(max_cells=5)


def test_repr_is_short_and_informative():
    data = Interactions.from_arrays(
        *small_log(), item_features=np.eye(3), item_feature_names=["a", "b", "c"]
    )
    assert repr(data) == (
        "Interactions(2 users, 3 items, 3 ratings, density 50.00%, timestamps, 3 item features)"
    )
    assert "interactions (implicit)" in repr(Interactions.from_arrays([1], [2]))


def test_from_dataframe_reads_named_columns():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"uid": ["b", "a"], "iid": [3, 4], "stars": [2.0, 5.0], "when": [10, 20]})
    data = Interactions.from_dataframe(df, user="uid", item="iid", rating="stars", timestamp="when")
    assert list(data.user_ids) == ["a", "b"] and data.ratings.tolist() == [2.0, 5.0]
    assert data.timestamps.tolist() == [10, 20]
    with pytest.raises(KeyError, match="rating column 'score' not in the DataFrame"):
        Interactions.from_dataframe(df, user="uid", item="iid", rating="score")
    with pytest.raises(TypeError, match="pandas DataFrame"):
        Interactions.from_dataframe({"user": [1]})


def test_from_csv_parses_named_columns(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("when;item;user;stars\n5;007;1;4.5\n\n6;12;2;3\n")
    with pytest.warns(IdTypeWarning, match="item ids read as text, as line 2 holds '007'"):
        data = Interactions.from_csv(path, rating="stars", timestamp="when", sep=";")
    assert data.user_ids.dtype.kind == "i" and data.user_ids.tolist() == [1, 2]
    assert data.item_ids.tolist() == ["007", "12"]  # "007" is not a canonical int: ids stay strings
    assert data.ratings.tolist() == [4.5, 3.0] and data.timestamps.tolist() == [5, 6]


@pytest.mark.parametrize(
    "text, message",
    [
        ("user,item\n1,2\n", r"column\(s\) \['stars'\] not in the header"),
        ("user,item,stars\n1,2,4\n1,3,four\n", "line 3: the rating 'four' is not a finite number"),
        ("user,item,stars\n1,2,4\n1,3,nan\n", "line 3: the rating 'nan' is not a finite number"),
        ("user,item,stars\n1,2,4\n1,3\n", r"line 3: 2 fields where the header \(line 1\) has 3"),
        ("user,item,stars\n1,2,4\n5,,3\n", "line 3: the item field is blank"),
        ("user,item,stars\n1,2,4\n1,2,5\n", "line 3: user 1 and item 2 again, as on line 2"),
        ("user,item,stars\n", "no interactions"),
    ],
)
def test_from_csv_errors_name_the_problem(tmp_path, text, message):
    path = tmp_path / "log.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        Interactions.from_csv(path, rating="stars")
