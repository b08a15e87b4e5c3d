"""Encryption of the case-to-chat link (and a call-back phone number) at rest.

The key is derived from SECRET_KEY with HKDF-SHA256 under its own label, so it is
independent of the pseudonym HMAC key. Each value is sealed with AES-256-GCM and
bound (as associated data) to its case and purpose: a chat reference copied onto
another case, or into the phone column, does not decrypt.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_PREFIX = "v1."
_NONCE = 12


class LinkError(Exception):
    """A stored reference could not be decrypted (wrong key, tampered or foreign value)."""


class LinkCipher:
    def __init__(self, secret_key: bytes) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"relatives-bot case contact v1"
        ).derive(secret_key)
        self._aead = AESGCM(key)

    def seal(self, value: str, case_id: int, purpose: str) -> str:
        nonce = os.urandom(_NONCE)
        sealed = self._aead.encrypt(nonce, value.encode(), _context(case_id, purpose))
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, token: str, case_id: int, purpose: str) -> str:
        if not token.startswith(_PREFIX):
            raise LinkError("unknown format")
        try:
            raw = base64.urlsafe_b64decode(token[len(_PREFIX) :])
            plain = self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], _context(case_id, purpose))
        except (ValueError, InvalidTag) as exc:
            raise LinkError(type(exc).__name__) from None
        return plain.decode()

    def seal_chat(self, chat_id: int, case_id: int) -> str:
        return self.seal(str(chat_id), case_id, "chat")

    def open_chat(self, token: str, case_id: int) -> int:
        return int(self.open(token, case_id, "chat"))


def _context(case_id: int, purpose: str) -> bytes:
    return f"case:{case_id}:{purpose}".encode()
