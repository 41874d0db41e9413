"""A tiny MovieLens-100K look-alike, built in tmp_path (the real data may not be copied into tests).

Layout as the GroupLens archive: ml-100k/u.data, u.item, u.user, u.genre, u.occupation.
"""

import io
import zipfile

import pytest

GENRES = ["unknown", "Action", "Comedy"]
OCCUPATIONS = ["engineer", "student", "writer"]

U_DATA = "".join(
    f"{user}\t{item}\t{rating}\t{time}\n"
    for user, item, rating, time in [(1, 10, 4, 880000000), (2, 10, 3, 880000100), (1, 20, 5, 880000200),
                                     (3, 30, 1, 880000300), (2, 40, 2, 880000400)]
)
U_ITEM = "\n".join(
    [
        "10|Alpha (1990)|01-Jan-1994||http://x|0|1|0",  # the date wins over the title
        "20|Beta (1980)|||http://y|0|0|1",  # no date: the year comes from the title
        "30|Gamma|||http://z|1|0|0",  # no year anywhere: the median year
        "40|Delta (Das Delta) (2000)|||http://w|0|1|1",  # the last "(yyyy)" counts
    ]
) + "\n"
U_USER = "1|20|M|engineer|11111\n2|40|F|student|22222\n3|60|M|writer|33333\n"
U_GENRE = "".join(f"{name}|{k}\n" for k, name in enumerate(GENRES)) + "\n"
U_OCCUPATION = "".join(f"{name}\n" for name in OCCUPATIONS)

FILES = {
    "u.data": U_DATA, "u.item": U_ITEM, "u.user": U_USER, "u.genre": U_GENRE, "u.occupation": U_OCCUPATION
}


def build_zip(extra_members=(), files=None):
    """Bytes of a zip in the GroupLens layout, plus (name, text) extra members; ``files``
    (name -> text) replaces some of the FILES."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        zipped.writestr("ml-100k/", "")
        for name, text in {**FILES, **(files or {})}.items():
            zipped.writestr(f"ml-100k/{name}", text.encode("latin-1"))
        for name, text in extra_members:
            zipped.writestr(name, text)
    return buffer.getvalue()


@pytest.fixture
def make_movielens_zip():
    """The zip builder: make_movielens_zip(extra_members=(), files=None) -> bytes."""
    return build_zip


@pytest.fixture
def movielens_zip(tmp_path):
    """Path of a tiny GroupLens-layout ml-100k.zip: 3 users, 4 items, 5 ratings (not the real data)."""
    path = tmp_path / "source" / "ml-100k.zip"
    path.parent.mkdir()
    path.write_bytes(build_zip())
    return path
