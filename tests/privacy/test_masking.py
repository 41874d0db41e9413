"""IdMasker: keyed, deterministic masks; a model fitted on masked data saves no raw user id (and
no salt), and the masked ids still work after save/load."""

import hashlib
import hmac

import numpy as np
import pytest

from nanorec.models.base import Recommender
from nanorec.models.mf import BiasedMF
from nanorec.privacy.masking import IdMasker

SALT = "a secret salt of more than sixteen bytes"


def encodings(text):
    """The byte patterns a string can take in a file: UTF-8 (JSON header) and UTF-32 (NumPy str arrays)."""
    return [text.encode("utf-8"), text.encode("utf-32-le")]


def file_contains(path, text):
    data = open(path, "rb").read()
    return any(pattern in data for pattern in encodings(text))


def test_mask_is_the_truncated_hmac_of_the_id_text():
    masker = IdMasker(SALT, n_hex=20)
    expected = hmac.new(SALT.encode(), b"42", hashlib.sha256).hexdigest()[:20]
    assert masker.mask(42) == masker.mask("42") == masker.mask(np.int64(42)) == expected
    masks = masker.mask(np.array([[1, 2], [3, 42]]))
    assert masks.shape == (2, 2) and masks[1, 1] == expected
    assert IdMasker(SALT + "!").mask(42) != IdMasker(SALT).mask(42)  # the salt matters


def test_salt_is_checked_and_never_shown():
    with pytest.raises(ValueError, match="at least 16 bytes"):
        IdMasker("short")
    with pytest.raises(TypeError, match="bytes or str"):
        IdMasker(12345678901234567890)
    with pytest.raises(ValueError, match="n_hex"):
        IdMasker(SALT, n_hex=4)
    assert SALT not in repr(IdMasker(SALT))


def test_mask_interactions_keeps_rows_and_masks_the_vocabulary(rated):
    masker = IdMasker(SALT)
    masked = masker.mask_interactions(rated)
    np.testing.assert_array_equal(masked.user_ids, masker.mask(rated.user_ids))
    np.testing.assert_array_equal(masked.item_ids, rated.item_ids)  # items=False by default
    np.testing.assert_array_equal(masked.user_index, rated.user_index)
    np.testing.assert_array_equal(masked.ratings, rated.ratings)
    both = masker.mask_interactions(rated, users=True, items=True)
    np.testing.assert_array_equal(both.item_ids, masker.mask(rated.item_ids))


def test_mask_collisions_are_refused(rated):
    masker = IdMasker(SALT, n_hex=8)
    masker.mask_one = lambda raw_id: "deadbeef"  # force every id onto one mask
    with pytest.raises(ValueError, match="same 8-digit mask"):
        masker.mask_interactions(rated)


def test_saved_model_holds_no_raw_user_id_and_round_trips(rated, tmp_path):
    masker = IdMasker(SALT)
    raw_users = rated.user_ids.tolist()
    plain_path = BiasedMF(n_factors=2, n_epochs=3).fit(rated).save(tmp_path / "plain")
    assert all(file_contains(plain_path, user) for user in raw_users)  # the check can see ids

    model = BiasedMF(n_factors=2, n_epochs=3).fit(masker.mask_interactions(rated))
    path = model.save(tmp_path / "masked")
    assert not any(file_contains(path, user) for user in raw_users)
    assert not file_contains(path, SALT)
    loaded = Recommender.load(path)
    for user in raw_users[:5]:
        before, after = model.recommend(masker.mask(user), k=3), loaded.recommend(masker.mask(user), k=3)
        np.testing.assert_array_equal(after[0], before[0])
        np.testing.assert_allclose(after[1], before[1])
    with pytest.raises(KeyError, match="unknown user id"):
        loaded.recommend(raw_users[0])  # raw ids mean nothing to it
