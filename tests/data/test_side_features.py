"""Side tables and the [features] section of experiment files: datasets.side_tables reads
MovieLens 100K's raw user and item tables; [features] builds blocks from them (parsed and checked
key by key), fitted on each split's train part only, and a run through ``nanorec run`` reruns to
the same table with a data hash that covers the tables. Fixtures are GroupLens-layout zips built
here (conftest.build_zip), never MovieLens data."""

import functools
import json
import zipfile

import pytest

from nanorec import cli
from nanorec.data import datasets
from nanorec.data.split import cold_start_split
from nanorec.data.text import tokenize
from nanorec.evaluation.experiment import data_sha256, parse_experiment, run_experiment
from nanorec.models import ContentBased, Popularity

pytestmark = pytest.mark.filterwarnings("ignore::nanorec.data.split.ColdStartWarning")


# ---------------------------------------------------------------------- side_tables
def test_side_tables_are_the_raw_columns_of_u_user_and_u_item(movielens_zip, tmp_path):
    users, items = datasets.side_tables("movielens-100k", path=movielens_zip)
    assert users == {"id": [1, 2, 3], "age": [20, 40, 60], "gender": ["M", "F", "M"],
                     "occupation": ["engineer", "student", "writer"],
                     "zip": ["11111", "22222", "33333"]}
    assert items == {"id": [10, 20, 30, 40],
                     "title": ["Alpha (1990)", "Beta (1980)", "Gamma", "Delta (Das Delta) (2000)"],
                     "year": [1994.0, 1980.0, None, 2000.0],  # date, title, none (not filled)
                     "genres": [["Action"], ["Comedy"], ["unknown"], ["Action", "Comedy"]]}
    folder = tmp_path / "folder"
    with zipfile.ZipFile(movielens_zip) as zipped:
        zipped.extractall(folder)
    assert datasets.side_tables(path=folder) == (users, items)


def test_side_tables_of_other_data_is_a_clear_error():
    with pytest.raises(ValueError, match="no side tables for 'synthetic'"):
        datasets.side_tables("synthetic")


# ---------------------------------------------------------------------- a larger fixture
N_USERS, N_ITEMS = 60, 40


def unique_word(item):
    """A word (letters only, no stop word) that only this item's title holds."""
    return "zz" + chr(97 + item // 26) + chr(97 + item % 26)


def ml_layout_zip(path, make_movielens_zip, title_of=None):
    """A GroupLens-layout zip of synthetic ratings (60 users, 40 items) whose titles each hold a
    word of their own and one of three shared words; ``title_of`` overrides some titles."""
    data = datasets.load("synthetic", n_users=N_USERS, n_items=N_ITEMS, n_interactions=900, seed=0)
    rows = zip(data.user_ids[data.user_index], data.item_ids[data.item_index], data.ratings,
               data.timestamps)
    titles = {item: f"{unique_word(item)} {('river', 'night', 'queen')[item % 3]} "
                    f"({1970 + item % 30})" for item in range(1, N_ITEMS + 1)}
    titles.update(title_of or {})
    files = {
        "u.data": "".join(f"{u}\t{i}\t{int(r)}\t{t}\n" for u, i, r, t in rows),
        "u.item": "".join(f"{item}|{titles[item]}|01-Jan-{1970 + item % 30}||http://x|"
                          + "|".join("1" if item % 3 == g else "0" for g in range(3)) + "\n"
                          for item in range(1, N_ITEMS + 1)),
        "u.user": "".join(f"{user}|{18 + user % 40}|{'MF'[user % 2]}|"
                          f"{('engineer', 'student', 'writer')[user % 3]}|{10000 + user}\n"
                          for user in range(1, N_USERS + 1)),
    }
    path.write_bytes(make_movielens_zip(files=files))
    return path


@pytest.fixture
def layout_zip(tmp_path, make_movielens_zip):
    return ml_layout_zip(tmp_path / "ml-100k.zip", make_movielens_zip)


EXPERIMENT = """
data = "{data}"
metrics = ["hr@5", "auc"]
seeds = [0]
baseline = "Popularity"
models = [{{ name = "popularity", label = "Popularity" }},
          {{ name = "content", label = "ContentBased", params = {{ n_epochs = 2, hidden = [8] }} }}]
[split]
protocol = "cold-items"
user_fraction = 0.1
item_fraction = 0.2
seed = 0
[features]
{features}
"""
FEATURES = """users = [{ column = "age", kind = "numeric" },
         { column = "gender", kind = "categorical" }]
items = [{ column = "genres", kind = "categorical" },
         { column = "year", kind = "numeric", fill = "mean" },
         { column = "title", kind = "tfidf" }]"""


def experiment_text(data="ml-100k.zip", features=FEATURES):
    return EXPERIMENT.format(data=data, features=features)


# ---------------------------------------------------------------------- parsing
@pytest.mark.parametrize("features, message", [
    ('items = [{ column = "title", kind = "bag" }]',
     "features.items[1]: kind must be one of tfidf, hashed, categorical, numeric, got 'bag'"),
    ('items = [{ column = "year", kind = "numeric", max_features = 3 }]',
     "unknown key 'max_features' in features.items[1] (kind numeric); known keys: column, "
     "kind, fill"),
    ('users = [{ kind = "numeric" }]', "missing key 'column' in features.users[1]"),
    ('items = [{ column = "title", kind = "tfidf", max_features = 0 }]',
     "features.items[1]: TfidfVectorizer: max_features"),
    ('items = [{ column = "year", kind = "numeric", fill = "median" }]',
     "features.items[1]: Numeric('year'): fill must be None, 'mean' or a finite number"),
    ('items = [{ column = "title", kind = "hashed", n_buckets = -1 }]', "features.items[1]"),
    ('movies = [{ column = "title", kind = "tfidf" }]', "unknown key 'movies' in features"),
    ("items = []", "features.items must be a non-empty list of blocks"),
    ("", "features is empty"),
])
def test_a_bad_features_section_names_the_block_and_key(features, message):
    with pytest.raises(ValueError, match="^<experiment>: ") as error:
        parse_experiment(experiment_text(features=features))
    assert message in str(error.value)


def test_a_column_the_tables_lack_is_refused_before_anything_is_fitted(layout_zip):
    experiment = parse_experiment(experiment_text(features=FEATURES.replace('"title"', '"titel"')))
    data = datasets.load("movielens-100k", path=layout_zip)
    fits = []

    class Spy(Popularity):
        def fit(self, train, valid=None):
            fits.append(train)
            return super().fit(train, valid)

    with pytest.raises(ValueError, match=r"features.items\[3\]: column 'titel' is not in the "
                                         r"data's item table; its columns: title, year, genres"):
        run_experiment(experiment, data, {"Popularity": Spy, "ContentBased": Spy},
                       tables=datasets.side_tables(path=layout_zip))
    assert fits == []
    with pytest.raises(ValueError, match=r"\[features\] reads the data's side tables"):
        run_experiment(experiment, data, {"Popularity": Spy, "ContentBased": Spy})


# ---------------------------------------------------------------------- fitted on train only
class SpyContent(ContentBased):
    """ContentBased that keeps the train part it was fitted on."""

    trains = []

    def fit(self, train, valid=None):
        SpyContent.trains.append(train)
        return super().fit(train, valid)


def test_the_features_are_fitted_on_the_train_items_only(layout_zip):
    experiment = parse_experiment(experiment_text())
    data = datasets.load("movielens-100k", path=layout_zip)
    tables = datasets.side_tables(path=layout_zip)
    SpyContent.trains = []
    run_experiment(experiment, data, {"Popularity": Popularity,
                                      "ContentBased": functools.partial(SpyContent, verbose=False)},
                   tables=tables)
    (train,) = SpyContent.trains
    split = cold_start_split(data, 0.1, 0.2, seed=0)
    warm = set(split.train.item_ids[split.train.item_index].tolist())
    cold = set(data.item_ids.tolist()) - warm
    assert cold  # some items are held out, each with a title word of its own
    _, items = tables
    title = dict(zip(items["id"], items["title"]))
    vocabulary = {name.removeprefix("title:") for name in train.item_feature_names
                  if name.startswith("title:")}
    assert vocabulary == {word for item in warm for word in tokenize(title[item])}
    assert not vocabulary & {unique_word(item) for item in cold}
    # the user side is replaced too; the data's own features are gone from both
    assert train.user_feature_names == ["age", "gender=F", "gender=M"]
    assert "release_year" not in train.item_feature_names


# ---------------------------------------------------------------------- nanorec run
def run(capsys, *argv):
    code = cli.main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_nanorec_run_with_features_reruns_to_the_same_table_and_pins_the_tables(
        capsys, tmp_path, layout_zip, make_movielens_zip):
    path = tmp_path / "text.toml"
    path.write_text(experiment_text())
    outputs = []
    for name in ("first.json", "second.json"):
        code, out, err = run(capsys, "run", path, "--out", tmp_path / name)
        assert code == 0, err
        outputs.append(out)
    assert outputs[0] == outputs[1]
    assert ("features    users: age numeric, gender categorical; items: genres categorical"
            in outputs[0])
    record = json.loads((tmp_path / "first.json").read_text())
    assert record["results"]["features"]["items"][2] == {"column": "title", "kind": "tfidf"}
    sha256 = record["data"]["sha256"]
    assert f"data sha256 {sha256}" in outputs[0]
    assert sha256 != data_sha256(datasets.load("movielens-100k", path=layout_zip))

    # the hash covers the tables: the same ratings with one title changed are other data
    pinned = tmp_path / "pinned.toml"
    pinned.write_text(f'data_sha256 = "{sha256}"\n' + experiment_text())
    assert run(capsys, "run", pinned, "--out", tmp_path / "third.json")[0] == 0
    retitled = ml_layout_zip(tmp_path / "retitled.zip", make_movielens_zip,
                             title_of={1: "another title (1971)"})
    code, _, err = run(capsys, "run", pinned, "--data", retitled, "--out", tmp_path / "x.json")
    assert code != 0 and "the data changed since the experiment was written" in err


def test_nanorec_run_with_features_on_data_without_side_tables_says_so(capsys, tmp_path):
    path = tmp_path / "synthetic.toml"
    path.write_text(experiment_text(data="synthetic:60x40x900"))
    code, _, err = run(capsys, "run", path, "--out", tmp_path / "x.json")
    assert code != 0 and "no side tables for 'synthetic:60x40x900'" in err
