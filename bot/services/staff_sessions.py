"""Server-side staff sessions: a signed-in cookie or API token counts only while its row does.

The cookie (or bearer token) carries a random session id; the ``staff_session`` table
holds only an HMAC-SHA256 digest of it under a key derived from SECRET_KEY (one digest
per key of SECRET_KEYS is looked up, so a rotation keeps sessions; a row found under an
older key's digest is moved to the newest at its next touch). Deleting rows signs out:
sign-out, ``DELETE /api/v1/session``, a password, role or team change, deactivation and
"sign out everywhere" (``StaffService``) delete them in the same transaction as the change.

Limits: IDLE_SECONDS without a real request (live polls do not count), ABSOLUTE_SECONDS
after sign-in for a browser, TOKEN_SECONDS for an API token. The idle clock is written at
most once per TOUCH_SECONDS, so a page load costs one indexed read (the session joined to
its account, in place of the account read it replaces) and, at most once a minute, one
UPDATE. Expired rows are deleted by the purge job (``purge_expired``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.domain import StaffUser
from bot.storage import cases as audit_db
from bot.storage import staff as staff_db
from bot.storage import staff_sessions as db
from bot.storage.database import Database

Kind = Literal["cookie", "token"]
IDLE_SECONDS = 2 * 3600  # signed out after two hours without a real request
ABSOLUTE_SECONDS = 12 * 3600  # a browser's session ends twelve hours after sign-in
TOKEN_SECONDS = 8 * 3600  # an API bearer token's
TOUCH_SECONDS = 60  # the idle clock's resolution: written at most this often
_PURPOSE = b"staff-session-id-digest-v1"

# The user agent's family, first match wins (Edge and Opera also say "Chrome", Chrome also
# says "Safari"). Nothing else of the user-agent string is kept.
_FAMILIES = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chrome"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
    ("python", "Python"),
)


def agent_family(user_agent: str | None) -> str:
    """ "Firefox", "Chrome", ... or "other": never more of the user-agent string."""
    text = (user_agent or "")[:512]
    for marker, family in _FAMILIES:
        if marker in text:
            return family
    return "other"


@dataclass(frozen=True)
class TimeLeft:
    """How long a session has before it ends without a real request, and which limit ends it.

    ``absolute``: the limit after sign-in comes first, and no request can move it.
    """

    seconds: int
    absolute: bool


def time_left(idle: float, until_expiry: float) -> TimeLeft:
    idle_left = IDLE_SECONDS - idle
    if until_expiry < idle_left:
        return TimeLeft(max(0, int(until_expiry)), absolute=True)
    return TimeLeft(max(0, int(idle_left)), absolute=False)


class StaffSessions:
    """Start, resume and end staff sessions; ``now`` is the staff service's clock."""

    def __init__(
        self,
        database: Database,
        secret_key: bytes,
        old_keys: Sequence[bytes] = (),
        *,
        now: Callable[[], datetime],
    ) -> None:
        self.database = database
        self._now = now
        self._keys = [
            HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(key)
            for key in (secret_key, *old_keys)
        ]

    def digests(self, sid: str) -> list[str]:
        """The id's digest under each key, newest first (only digests reach the database)."""
        data = sid.encode()
        return [hmac.new(key, data, hashlib.sha256).hexdigest() for key in self._keys]

    async def start(self, staff_id: int, kind: Kind, user_agent: str | None) -> str:
        """A new session's random id (for the cookie or token; never stored)."""
        sid = secrets.token_urlsafe(32)
        now = self._now()
        lifetime = ABSOLUTE_SECONDS if kind == "cookie" else TOKEN_SECONDS
        async with self.database.write_tx() as conn:
            await db.insert_session(
                conn,
                digest=self.digests(sid)[0],
                staff_id=staff_id,
                kind=kind,
                now=now,
                expires_at=now + timedelta(seconds=lifetime),
                agent=agent_family(user_agent),
            )
        return sid

    async def resume(self, sid: str, kind: Kind, *, poll: bool = False) -> StaffUser | None:
        """The signed-in user of a live session of an active account, else None.

        A poll (a live fragment's refresh) does not move the idle clock; anything else does.
        """
        resumed = await self.resume_timed(sid, kind, poll=poll)
        return resumed[0] if resumed else None

    async def resume_timed(
        self, sid: str, kind: Kind, *, poll: bool = False
    ) -> tuple[StaffUser, TimeLeft] | None:
        """``resume``, and how long the session has left after this request (same one read)."""
        if not sid or len(sid) > 100:
            return None
        digests = self.digests(sid)
        now = self._now()
        async with self.database.read_tx() as conn:
            row = await db.find(conn, digests, kind)
            if row is None or not row.active:
                return None
            teams = await staff_db.teams_of(conn, row.staff_id)
        idle = (now - row.last_active_at).total_seconds()
        if idle > IDLE_SECONDS or now >= row.expires_at:
            async with self.database.write_tx() as conn:
                await db.delete_one(conn, [row.digest])
            return None
        if row.digest != digests[0] or (not poll and idle >= TOUCH_SECONDS):
            async with self.database.write_tx() as conn:
                await db.touch(conn, row.digest, digests[0], row.last_active_at if poll else now)
            if not poll:
                idle = 0.0
        user = StaffUser(
            id=row.staff_id,
            username=row.username,
            role=row.role,
            teams=teams,
            display_name=row.display_name,
        )
        return user, time_left(idle, (row.expires_at - now).total_seconds())

    async def end(self, sid: str) -> None:
        """This one session ends (sign-out, ``DELETE /api/v1/session``)."""
        if sid:
            async with self.database.write_tx() as conn:
                await db.delete_one(conn, self.digests(sid))

    async def end_others(self, user: StaffUser, sid: str) -> int:
        """Every other session and token of the account ends; this one stays. Audited."""
        async with self.database.write_tx() as conn:
            ended = await db.delete_for_account(conn, user.id, keep=self.digests(sid))
            await audit_db.record(conn, self._now(), user.username, "signed_out_elsewhere", None)
        return ended


async def purge_expired(database: Database, now: datetime) -> int:
    """Delete sessions past their limits (the purge job); how many went."""
    async with database.write_tx() as conn:
        return await db.delete_expired(conn, now, now - timedelta(seconds=IDLE_SECONDS))
