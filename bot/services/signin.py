"""Sign-in with its brake, counted in the database before the password is checked.

One service for the staff pages and the JSON API, so both doors throttle alike, and one
table (``attempt_counter``, see ``bot.storage.signin``) for every process on the database.
Each attempt first reserves a failure, in one statement, on two counters: the (client
address, username) pair and the address over all usernames (spraying). Only a reserved
attempt reaches argon2; a correct password then clears its pair and gives the address's
reservation back. So a burst of concurrent guesses gets at most the free allowance of
checks, and the rest wait (429, Retry-After), the right password among them; while a
correct password from an address without failures is never refused because another
address guessed (nobody can lock a colleague out). The keys are keyed digests (HMAC with
SECRET_KEY) of the address and the username: the table holds neither in clear.

argon2 runs at most ``workers`` at a time (the CPU count) in a bounded thread pool
(``StaffService``); when more than ``max_waiting`` attempts are already queued for it the
next is refused at once (429) instead of queueing without end.

Every success, failure and refusal is audited: the account (or "-" when the username is
no account), the action, the time, and the address as a keyed digest. Never a password.

The same counters brake case-code lookups: an account that misses ``LOOKUP.free`` codes
(unknown, or another team's) within ten minutes waits (429) before it may look up more.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.domain import CaseError, StaffUser
from bot.services.staff import MAX_PASSWORD_LENGTH, StaffError, StaffService, normalise_username
from bot.storage import cases as audit_db
from bot.storage import signin as db
from bot.storage import staff as staff_db
from bot.storage.database import Conn, Database
from bot.storage.signin import Brake, Key
from bot.text_input import normalise_text, refuse_reason

MAX_USERNAME = 100  # longer input is cut before it is looked up or counted
# Per (address, username): five attempts, then 30 s, 1, 2, 4, 8 minutes, then 15 minutes
# for every further failure; an hour after the last block the pair starts again.
PAIR = Brake("pair", free=5, delays=(30, 60, 120, 240, 480, 900), forget=3600)
# Per address over all usernames (password spraying): twenty, then the same growth.
ADDRESS = Brake("addr", free=20, delays=(60, 120, 240, 480, 900), forget=3600)
# Case codes an account looked up and missed: thirty in ten minutes, then ten minutes' wait.
LOOKUP = Brake("lookup", free=30, delays=(600,), forget=600)
BUSY = -1  # ``_reserve``'s answer when the queue for argon2 is full
NO_ACCOUNT = "-"  # the audit's "who" when the username is no account (never what was typed)
DIGEST_HEX = 32


def keyed_digest(secret_key: bytes, kind: str, value: str) -> str:
    """HMAC-SHA256 of ``kind`` and ``value``, cut to 128 bits: comparable, not reversible."""
    message = f"{kind}\0{value}".encode()
    return hmac.new(secret_key, message, hashlib.sha256).hexdigest()[:DIGEST_HEX]


@dataclass(frozen=True)
class SignInResult:
    """Who signed in (None: refused); ``retry_after`` > 0 when the brake said wait."""

    user: StaffUser | None
    retry_after: int = 0
    username: str = ""  # as checked (trimmed and cut), for the form shown again
    busy: bool = False  # refused because too many checks were already waiting


class SignInService:
    """Check a username and password through the brake; the doors only say the result."""

    def __init__(
        self,
        staff: StaffService,
        secret_key: bytes,
        *,
        workers: int | None = None,
        max_waiting: int | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.staff = staff
        self._key = secret_key
        self.workers = workers or os.cpu_count() or 1
        self.max_waiting = max_waiting if max_waiting is not None else 8 * self.workers
        self._now = now or (lambda: datetime.now(UTC))
        self._checks = asyncio.Semaphore(self.workers)
        self._queued = 0  # attempts reserved and waiting for (or in) their argon2 check
        staff.limit_threads(self.workers)

    def _digest(self, kind: str, value: str) -> str:
        return keyed_digest(self._key, kind, value)

    def _keys(self, username: str, address: str | None) -> tuple[Key, Key, str]:
        where = self._digest("address", address or "?")
        who = self._digest("username", username.casefold())
        return Key(PAIR.scope, where, who), Key(ADDRESS.scope, where, ""), where

    async def sign_in(self, username: str, password: str, address: str | None) -> SignInResult:
        """Reserved first (a blocked key never reaches argon2), checked, then audited.

        The username is normalised as accounts are (``bot.text_input``: "ＡＤＭＩＮ" and
        "ad\u200bmin" count and sign in as "admin"); a lone surrogate, NUL or control
        character in it, or a lone surrogate in the password, is CaseError("bad_character").
        """
        if refuse_reason(username) is not None or refuse_reason(password) == "surrogate":
            raise CaseError("bad_character", "username or password")
        username = normalise_text(username[: 4 * MAX_USERNAME]).strip()[:MAX_USERNAME]
        password = password[:MAX_PASSWORD_LENGTH]
        pair, spray, where = self._keys(username, address)
        full = self._queued >= self.max_waiting
        wait = BUSY if full else await self._reserve(username, pair, spray, where)
        if wait == BUSY:
            await self._audit(username, "signin_busy", where)
            return SignInResult(None, 1, username, busy=True)
        if wait:  # audited in the reservation's own transaction
            return SignInResult(None, wait, username)
        try:  # ``_reserve`` took a place in the queue for argon2
            async with self._checks:
                user = (
                    await self.staff.authenticate(username, password)
                    if username and password
                    else None
                )
        finally:
            self._queued -= 1
        now = self._now()
        async with self.staff.database.write_tx() as conn:
            if user is None:
                await audit_db.record(
                    conn, now, await _account(conn, username), "signin_failed", None, where
                )
                return SignInResult(None, 0, username)
            await db.clear(conn, pair)
            await db.give_back(conn, spray)
            await audit_db.record(conn, now, user.username, "signin", None, where)
        return SignInResult(user, 0, username)

    async def _reserve(self, username: str, pair: Key, spray: Key, where: str) -> int:
        """0: both counters took the attempt and it has a place in the queue for argon2;
        ``BUSY``: the queue is full (nothing counted); else the seconds to wait."""
        now = self._now()
        placed = False
        try:
            async with self.staff.database.write_tx() as conn:
                async with conn.begin_nested() as savepoint:
                    counted = await db.reserve(conn, (PAIR, ADDRESS), (pair, spray), now)
                    if counted == {pair, spray} and self._queued < self.max_waiting:
                        self._queued += 1  # no await since the check: the place is ours
                        placed = True
                        return 0
                    await savepoint.rollback()
                if counted == {pair, spray}:
                    return BUSY
                until = await db.blocked_until(conn, (pair, spray))
                who = await _account(conn, username)
                await audit_db.record(conn, now, who, "signin_throttled", None, where)
                return max(1, _seconds(until, now))  # refused: always a wait, however short
        except BaseException:
            if placed:  # the reservation did not commit: give the place back
                self._queued -= 1
            raise

    async def _audit(self, username: str, action: str, where: str) -> None:
        async with self.staff.database.write_tx() as conn:
            who = await _account(conn, username)
            await audit_db.record(conn, self._now(), who, action, None, where)

    # -- case-code lookups ----------------------------------------------------------------

    def _lookup_key(self, staff: StaffUser) -> Key:
        return Key(LOOKUP.scope, "", self._digest("staff", str(staff.id)))

    async def lookup_wait(self, staff: StaffUser) -> int:
        """Seconds this account must wait before it looks up another case code (0: go on)."""
        now = self._now()
        async with self.staff.database.read_tx() as conn:
            until = await db.blocked_until(conn, (self._lookup_key(staff),))
        return _seconds(until, now)

    async def lookup_missed(self, staff: StaffUser) -> None:
        """Count a case code this account asked for and may not see (or that is not there)."""
        async with self.staff.database.write_tx() as conn:
            await db.reserve(conn, (LOOKUP,), (self._lookup_key(staff),), self._now())

    async def forget_old(self) -> int:
        """Delete counters nobody needs any more (the purge round calls it; rows are tiny)."""
        return await forget_old_counters(self.staff.database, self._now())


async def forget_old_counters(database: Database, now: datetime) -> int:
    """Delete sign-in and lookup counters past every brake's memory; the purge runs it."""
    horizon = max(PAIR.forget, ADDRESS.forget, LOOKUP.forget)
    async with database.write_tx() as conn:
        return await db.delete_forgotten(conn, now - timedelta(seconds=horizon))


async def _account(conn: Conn, username: str) -> str:
    """The account's username when the typed name is one; else "-" (never what was typed)."""
    try:
        name = normalise_username(username)
    except StaffError:
        return NO_ACCOUNT
    row = await staff_db.by_username(conn, name)
    return row.username if row is not None else NO_ACCOUNT


def _seconds(until: datetime | None, now: datetime) -> int:
    if until is None:
        return 0
    return max(0, math.ceil((until - now).total_seconds()))
