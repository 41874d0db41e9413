"""Masking raw ids on ingest: each id replaced by a keyed hash, so models never see the real ones.

    mask(id) = first n_hex hex digits of HMAC-SHA256(key = salt, message = the id's text)

The id's text is ``str`` of its Python value (the int 42 -> "42", the string "alice" -> "alice"),
UTF-8 encoded. Without the salt nobody can compute the mask of a guessed id, so a leaked model
(which holds only masks) does not reveal who its users are, even when ids are few and guessable
(MovieLens user numbers); with the salt, the owner maps a known user to their row by masking
again. The salt lives only in the IdMasker: it is never an attribute of a model or an
Interactions, so ``model.save`` cannot write it.

n_hex = 16 digits (64 bits) makes a collision between two of a million ids a 1-in-10^7 event;
``mask_interactions`` checks and raises if one happens (use more digits).
Reference: RFC 2104 (HMAC); Python's ``hmac`` and ``hashlib``.
"""

import hashlib
import hmac

import numpy as np

from nanorec import _checks

from nanorec.data.interactions import Interactions

MIN_SALT_BYTES = 16


class IdMasker:
    """Keyed hashing of raw ids (see the module docstring).

    Parameters
    ----------
    salt : bytes or str
        The secret key, at least 16 bytes (str is UTF-8 encoded). Keep it out of the repository
        and of any saved model.
    n_hex : int in [8, 64]
        Hex digits kept from the 64 of the SHA-256 HMAC.
    """

    def __init__(self, salt, n_hex=16):
        if isinstance(salt, str):
            salt = salt.encode("utf-8")
        if not isinstance(salt, bytes):
            raise TypeError(f"IdMasker: salt must be bytes or str, got {type(salt).__name__}")
        if len(salt) < MIN_SALT_BYTES:
            raise ValueError(f"IdMasker: salt must have at least {MIN_SALT_BYTES} bytes, got {len(salt)}"
                             " (a short salt can be guessed)")
        self._salt = salt
        self.n_hex = _checks.integer(n_hex, "n_hex", "IdMasker", low=8, high=64)

    def __repr__(self):  # never print the salt
        return f"IdMasker(salt=<hidden>, n_hex={self.n_hex})"

    def mask_one(self, raw_id):
        """The mask (str of n_hex hex digits) of one raw id."""
        if isinstance(raw_id, np.generic):
            raw_id = raw_id.item()
        digest = hmac.new(self._salt, str(raw_id).encode("utf-8"), hashlib.sha256).hexdigest()
        return digest[: self.n_hex]

    def mask(self, ids):
        """Masks of a raw id (-> str) or of an array of ids (-> str array of the same shape)."""
        if np.ndim(ids) == 0:
            return self.mask_one(ids)
        ids = np.asarray(ids)
        masked = [self.mask_one(raw_id) for raw_id in ids.reshape(-1).tolist()]
        return np.array(masked, dtype=f"<U{self.n_hex}").reshape(ids.shape)

    def mask_interactions(self, data, users=True, items=False):
        """A new Interactions whose user (and/or item) vocabulary holds masks instead of raw ids.

        Rows, ratings, timestamps and features are unchanged (index u still means the same user),
        so a model fitted on the result sees only masked ids. Raises ValueError on a collision.
        """
        if not isinstance(data, Interactions):
            raise TypeError(f"mask_interactions expects an Interactions, got {type(data).__name__}")
        user_ids = self._masked_vocabulary(data.user_ids, "user") if users else data.user_ids
        item_ids = self._masked_vocabulary(data.item_ids, "item") if items else data.item_ids
        return Interactions(
            data.user_index, data.item_index, user_ids, item_ids, data.ratings, data.timestamps,
            data.user_features, data.user_feature_names, data.item_features, data.item_feature_names,
            check_duplicates=False,
        )

    def _masked_vocabulary(self, ids, kind):
        masked = self.mask(ids)
        if len(np.unique(masked)) != len(masked):
            raise ValueError(f"two {kind} ids have the same {self.n_hex}-digit mask: "
                             "use a larger n_hex")
        return masked
