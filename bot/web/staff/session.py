"""Encrypted, authenticated cookie sessions and API bearer tokens (AES-GCM, keys via HKDF).

Nothing is kept on the server, so several processes behind one PostgreSQL share
sessions without a table. The cookie holds only the staff id, a CSRF token, the
page language, times and one flash message; it is encrypted, so nobody can read
or forge it without SECRET_KEY. Cookies and bearer tokens use different keys, so
one cannot stand in for the other. Rights are re-read from the database on every
request (``StaffService.get``): a deactivated account is signed out at once.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

COOKIE_NAME = "staff_session"
IDLE_SECONDS = 2 * 3600  # signed out after two hours without a request
ABSOLUTE_SECONDS = 12 * 3600  # and after twelve hours in any case
TOKEN_SECONDS = 8 * 3600  # API bearer tokens
MAX_COOKIE_CHARS = 3000


def derive_key(secret_key: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret_key)


class Sealer:
    """Encrypt and authenticate a small JSON object into a URL-safe string."""

    def __init__(self, secret_key: bytes, purpose: bytes) -> None:
        self._aead = AESGCM(derive_key(secret_key, purpose))
        self._purpose = purpose

    def seal(self, payload: dict[str, Any]) -> str:
        nonce = secrets.token_bytes(12)
        data = json.dumps(payload, separators=(",", ":")).encode()
        sealed = nonce + self._aead.encrypt(nonce, data, self._purpose)
        return base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def open(self, text: str) -> dict[str, Any] | None:
        """The payload, or None for anything forged, damaged or foreign."""
        if not text or len(text) > MAX_COOKIE_CHARS:
            return None
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            data = self._aead.decrypt(raw[:12], raw[12:], self._purpose)
            payload = json.loads(data)
        except (ValueError, InvalidTag):
            return None
        return payload if isinstance(payload, dict) else None


@dataclass
class Session:
    """One browser's session; ``staff_id`` is None before sign-in."""

    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    staff_id: int | None = None
    issued: int = field(default_factory=lambda: int(time.time()))
    seen: int = field(default_factory=lambda: int(time.time()))
    lang: str | None = None
    flash: tuple[str, str] | None = None  # (kind, already translated text)
    changed: bool = False

    def to_payload(self) -> dict[str, Any]:
        return {
            "c": self.csrf,
            "s": self.staff_id,
            "i": self.issued,
            "t": self.seen,
            "l": self.lang,
            "f": list(self.flash) if self.flash else None,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any], now: int) -> Session | None:
        """A session still within its idle and absolute limits, else None."""
        try:
            session = cls(
                csrf=str(payload["c"]),
                staff_id=int(payload["s"]) if payload.get("s") is not None else None,
                issued=int(payload["i"]),
                seen=int(payload["t"]),
                lang=payload.get("l") if isinstance(payload.get("l"), str) else None,
                flash=tuple(payload["f"]) if payload.get("f") else None,
            )
        except (KeyError, TypeError, ValueError):
            return None
        if now - session.seen > IDLE_SECONDS or now - session.issued > ABSOLUTE_SECONDS:
            return None
        return session

    def sign_in(self, staff_id: int) -> None:
        """A new CSRF token and a new clock at sign-in (no session fixation)."""
        self.staff_id = staff_id
        self.csrf = secrets.token_urlsafe(24)
        self.issued = self.seen = int(time.time())
        self.changed = True

    def sign_out(self) -> None:
        self.staff_id = None
        self.csrf = secrets.token_urlsafe(24)
        self.changed = True

    def set_flash(self, kind: str, text: str) -> None:
        self.flash = (kind, text)
        self.changed = True

    def pop_flash(self) -> tuple[str, str] | None:
        flash, self.flash = self.flash, None
        if flash:
            self.changed = True
        return flash


class SessionCodec:
    """Cookie sessions and bearer tokens from one SECRET_KEY."""

    def __init__(self, secret_key: bytes) -> None:
        self._cookies = Sealer(secret_key, b"staff-session-cookie-v1")
        self._tokens = Sealer(secret_key, b"staff-api-token-v1")

    def load(self, cookie: str | None) -> Session | None:
        payload = self._cookies.open(cookie or "")
        return Session.from_payload(payload, int(time.time())) if payload else None

    def dump(self, session: Session) -> str:
        return self._cookies.seal(session.to_payload())

    def issue_token(self, staff_id: int) -> tuple[str, int]:
        expires = int(time.time()) + TOKEN_SECONDS
        return self._tokens.seal({"s": staff_id, "e": expires}), expires

    def token_staff_id(self, token: str) -> int | None:
        payload = self._tokens.open(token)
        if not payload:
            return None
        try:
            staff_id, expires = int(payload["s"]), int(payload["e"])
        except (KeyError, TypeError, ValueError):
            return None
        return staff_id if expires > time.time() else None
