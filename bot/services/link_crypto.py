"""Encryption of the case-to-chat link (and a call-back phone number) at rest.

The key is derived from SECRET_KEY with HKDF-SHA256 under its own label, so it is
independent of the pseudonym HMAC key. Each value is sealed with AES-256-GCM and
bound (as associated data) to its case and purpose: a chat reference copied onto
another case, or into the phone column, does not decrypt.

Rotation (SECRET_KEYS = new first, then old ones): a value is always sealed under the
newest key and opened with whichever key sealed it, tried newest first (a wrong key
fails its authentication tag at once, so trying is cheap and certain). The stored
format is unchanged ("v1." + nonce and ciphertext): values sealed before rotation stay
readable, and ``reseal`` (what `python -m bot rekey` runs) moves them to the newest key.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_PREFIX = "v1."
_NONCE = 12
DRAFT_PHONE = "draft_phone"  # the purpose of a call-back number kept in a draft (case 0)


class LinkError(Exception):
    """A stored reference could not be decrypted (wrong key, tampered or foreign value)."""


def _aead(secret_key: bytes) -> AESGCM:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"relatives-bot case contact v1"
    ).derive(secret_key)
    return AESGCM(key)


class LinkCipher:
    """Seals under ``secret_key`` (the newest); opens under it or any of ``old_keys``."""

    def __init__(self, secret_key: bytes, old_keys: Sequence[bytes] = ()) -> None:
        self._aeads = [_aead(key) for key in (secret_key, *old_keys)]

    def seal(self, value: str, case_id: int, purpose: str) -> str:
        nonce = os.urandom(_NONCE)
        sealed = self._aeads[0].encrypt(nonce, value.encode(), _context(case_id, purpose))
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, token: str, case_id: int, purpose: str) -> str:
        return self._open(token, case_id, purpose)[0]

    def reseal(self, token: str, case_id: int, purpose: str) -> str | None:
        """The value sealed anew under the newest key if an older key sealed it; None if the
        newest key sealed it already. LinkError if no key opens it."""
        plain, newest = self._open(token, case_id, purpose)
        return None if newest else self.seal(plain, case_id, purpose)

    def _open(self, token: str, case_id: int, purpose: str) -> tuple[str, bool]:
        """The plain value, and whether the newest key opened it."""
        if not token.startswith(_PREFIX):
            raise LinkError("unknown format")
        try:
            raw = base64.urlsafe_b64decode(token[len(_PREFIX) :])
        except ValueError as exc:
            raise LinkError(type(exc).__name__) from None
        context = _context(case_id, purpose)
        for index, aead in enumerate(self._aeads):
            try:
                plain = aead.decrypt(raw[:_NONCE], raw[_NONCE:], context)
            except (ValueError, InvalidTag):
                continue
            return plain.decode(), index == 0
        raise LinkError("InvalidTag")

    def seal_chat(self, chat_id: int, case_id: int) -> str:
        return self.seal(str(chat_id), case_id, "chat")

    def open_chat(self, token: str, case_id: int) -> int:
        return int(self.open(token, case_id, "chat"))


def _context(case_id: int, purpose: str) -> bytes:
    return f"case:{case_id}:{purpose}".encode()
