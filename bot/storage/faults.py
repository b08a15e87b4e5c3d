"""Which storage failures are transient: the same work may well succeed if tried again.

A database that cannot be reached, a full disk, a lock or pool wait that ran out: the
update that met one is not acknowledged (the webhook answers 503), so Telegram delivers it
again. Everything else (a bug, a missing table, a constraint the code broke) is permanent
for that update: retrying would fail the same way, so it is acknowledged and logged.

The drivers' own exception types decide, never the message text: SQLAlchemy wraps the
driver's error (``.orig``) and asyncpg's errors carry their SQLSTATE class.
"""

from __future__ import annotations

import errno
import sqlite3

import asyncpg
from sqlalchemy import exc as sa_exc

# SQLite primary result codes (the low byte of an extended code): busy, locked, I/O error,
# full, cannot open, protocol (a lock race on WAL files), read-only (file replaced underneath).
_SQLITE_TRANSIENT = {5, 6, 8, 10, 13, 14, 15}
# PostgreSQL SQLSTATE classes and codes: connection exceptions (08), insufficient resources
# (53: disk full, out of memory, too many connections), operator intervention (57: shutdown,
# statement timeout), lock not available, deadlock and serialization failures, and the
# database refusing new connections (55000 "not currently accepting connections").
_PG_TRANSIENT_CLASSES = {"08", "53", "57"}
_PG_TRANSIENT_CODES = {"55P03", "40P01", "40001", "55000", "55006"}
_OS_TRANSIENT = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EIO,
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.ETIMEDOUT,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.EPIPE,
}


class ChatWrittenMeanwhile(Exception):
    """Another process wrote this chat's state between our read and our write.

    Transient: nothing of this update was kept, and a redelivery reads the fresh state.
    """


def is_transient(error: BaseException) -> bool:
    """True if ``error`` (or what caused it) says: try the same work again later."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if _transient_itself(current):
            return True
        for linked in (getattr(current, "orig", None), current.__cause__, current.__context__):
            if isinstance(linked, BaseException):
                pending.append(linked)
    return False


def _transient_itself(error: BaseException) -> bool:
    if isinstance(error, ChatWrittenMeanwhile | TimeoutError | sa_exc.TimeoutError):
        return True  # TimeoutError: a pool acquire or connect timeout; sa: the pool's
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, sa_exc.DisconnectionError):
        return True
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorcode", None)
        return isinstance(code, int) and (code & 0xFF) in _SQLITE_TRANSIENT
    if isinstance(error, asyncpg.InterfaceError | asyncpg.InternalClientError):
        # The client's side of a connection the server dropped mid-operation ("connection
        # is closed", "cannot switch to state 12; another operation is in progress" when an
        # outage cut a query short): the pool replaces it, so the work may be tried again.
        return True
    if isinstance(error, asyncpg.PostgresError):
        state = str(getattr(error, "sqlstate", "") or "")
        return state[:2] in _PG_TRANSIENT_CLASSES or state in _PG_TRANSIENT_CODES
    if isinstance(error, ConnectionError):
        return True
    if isinstance(error, OSError):
        return error.errno in _OS_TRANSIENT
    return False
