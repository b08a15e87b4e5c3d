"""Encrypted, authenticated cookie sessions and API bearer tokens (AES-GCM, keys via HKDF).

The cookie holds the staff id, the session's random id, a CSRF token, the page
language, times and one flash message; it is encrypted, so nobody can read or forge
it without SECRET_KEY. A bearer token holds the staff id, its random id and its
expiry. Cookies and bearer tokens use different keys, so one cannot stand in for the
other. Neither signs anyone in alone: the random id must name a live row of the
``staff_session`` table (``bot.services.staff_sessions``), re-read with the account's
rights on every request, so sign-out, a password change or deactivation ends a copied
cookie or token at once.

SECRET_KEYS rotation: everything is sealed under the newest key and opened under any.
A cookie sealed under an older key keeps its session while its row lives, and is
sealed anew under the newest key in that request's response (``Session.changed``). A
bearer token cannot be re-issued that way: it works until it expires (TOKEN_SECONDS).
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# The limits are the session service's; named here too for the door and `rekey`'s advice.
from bot.services.staff_sessions import ABSOLUTE_SECONDS as ABSOLUTE_SECONDS
from bot.services.staff_sessions import IDLE_SECONDS as IDLE_SECONDS
from bot.services.staff_sessions import TOKEN_SECONDS as TOKEN_SECONDS
from bot.services.staff_sessions import TimeLeft

COOKIE_NAME = "staff_session"
MAX_COOKIE_CHARS = 3000


def derive_key(secret_key: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret_key)


class Sealer:
    """Encrypt and authenticate a small JSON object into a URL-safe string.

    Sealed under ``secret_key`` (the newest); opened under it or any of ``old_keys``.
    """

    def __init__(self, secret_key: bytes, purpose: bytes, old_keys: Sequence[bytes] = ()) -> None:
        self._aeads = [AESGCM(derive_key(key, purpose)) for key in (secret_key, *old_keys)]
        self._purpose = purpose

    def seal(self, payload: dict[str, Any]) -> str:
        nonce = secrets.token_bytes(12)
        data = json.dumps(payload, separators=(",", ":")).encode()
        sealed = nonce + self._aeads[0].encrypt(nonce, data, self._purpose)
        return base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def open(self, text: str) -> dict[str, Any] | None:
        """The payload, or None for anything forged, damaged or foreign."""
        return self.open_with_age(text)[0]

    def open_with_age(self, text: str) -> tuple[dict[str, Any] | None, bool]:
        """The payload (None as for ``open``), and whether an older key sealed it."""
        if not text or len(text) > MAX_COOKIE_CHARS:
            return None, False
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except ValueError:
            return None, False
        for index, aead in enumerate(self._aeads):
            try:
                data = aead.decrypt(raw[:12], raw[12:], self._purpose)
                payload = json.loads(data)
            except (ValueError, InvalidTag):
                continue
            return (payload, index > 0) if isinstance(payload, dict) else (None, False)
        return None, False


@dataclass
class Session:
    """One browser's session; ``staff_id`` is None before sign-in."""

    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    staff_id: int | None = None
    issued: int = field(default_factory=lambda: int(time.time()))
    seen: int = field(default_factory=lambda: int(time.time()))
    lang: str | None = None
    flash: tuple[str, str] | None = None  # (kind, already translated text)
    sid: str | None = None  # the random id of this sign-in's staff_session row
    changed: bool = False
    # Not sealed: what the middleware does with the table after the handler.
    starting: bool = False  # signed in during this request: a row is made
    ended: list[str] = field(default_factory=list)  # ids whose rows are deleted
    # A signed-in session that ran out (idle or absolute limit, or its row is gone): the
    # page middleware sends its form posts to sign-in, the typed text stays in the browser.
    lapsed: bool = False
    left: TimeLeft | None = None  # a live session's time left after this request

    def to_payload(self) -> dict[str, Any]:
        return {
            "c": self.csrf,
            "s": self.staff_id,
            "i": self.issued,
            "t": self.seen,
            "l": self.lang,
            "f": list(self.flash) if self.flash else None,
            "k": self.sid,
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
                sid=payload["k"] if isinstance(payload.get("k"), str) else None,
            )
        except (KeyError, TypeError, ValueError):
            return None
        if now - session.seen > IDLE_SECONDS or now - session.issued > ABSOLUTE_SECONDS:
            return None
        return session

    def sign_in(self, staff_id: int) -> None:
        """A new CSRF token and a new clock at sign-in (no session fixation)."""
        self.sign_out()
        self.staff_id = staff_id
        self.issued = self.seen = int(time.time())
        self.starting = True

    def sign_out(self) -> None:
        """Signed out here; the middleware deletes the session's row."""
        if self.sid:
            self.ended.append(self.sid)
        self.forget()

    def forget(self) -> None:
        """Signed out without touching the table (its row is gone already)."""
        self.staff_id = self.sid = None
        self.starting = False
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
    """Cookie sessions and bearer tokens from SECRET_KEY (and older keys, only to open)."""

    def __init__(self, secret_key: bytes, old_keys: Sequence[bytes] = ()) -> None:
        self._cookies = Sealer(secret_key, b"staff-session-cookie-v1", old_keys)
        self._tokens = Sealer(secret_key, b"staff-api-token-v1", old_keys)

    def load(self, cookie: str | None) -> Session | None:
        payload, stale = self._cookies.open_with_age(cookie or "")
        if not payload:
            return None
        session = Session.from_payload(payload, int(time.time()))
        if session is None and payload.get("s") is not None:  # signed in once, timed out
            return Session(changed=True, lapsed=True)
        if session is not None and stale:
            session.changed = True  # sealed again under the newest key in this response
        return session

    def dump(self, session: Session) -> str:
        return self._cookies.seal(session.to_payload())

    def issue_token(self, staff_id: int, sid: str = "") -> tuple[str, int]:
        """A bearer token for the session row ``sid`` names, and when it expires."""
        expires = int(time.time()) + TOKEN_SECONDS
        return self._tokens.seal({"s": staff_id, "e": expires, "k": sid}), expires

    def token_staff_id(self, token: str) -> int | None:
        opened = self.open_token(token)
        return opened[0] if opened else None

    def open_token(self, token: str) -> tuple[int, str] | None:
        """The staff id and session id of an unexpired token, else None."""
        payload = self._tokens.open(token)
        if not payload:
            return None
        try:
            staff_id, expires, sid = int(payload["s"]), int(payload["e"]), payload.get("k")
        except (KeyError, TypeError, ValueError):
            return None
        if expires <= time.time():
            return None
        return staff_id, sid if isinstance(sid, str) else ""
