"""SQL for conversation state: the per-update hot path, one read and one write per update.

Why not SQLAlchemy here: measured under the webhook benchmark, the ORM/Core layer,
its pool and aiosqlite's thread hops cost more CPU than everything else an update
does together. So the two hot statements go straight to the driver:

* PostgreSQL: the database's one asyncpg pool (``Database.pool``; prepared statements
  are cached per connection by asyncpg).
* SQLite: the database's hot sqlite3 connection (``Database.hot``) on the event loop's
  thread. Writes queue on the same in-process lock as every other writer (see
  ``engine.write_tx``), so a write never waits on a transaction of this process;
  only another process's short write can make it wait (bounded by busy_timeout).

Everything else (migrations, other tables) stays on the SQLAlchemy engine.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from asyncpg import Record, UniqueViolationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage.database import CountedPool, Database

MAX_TRACKED_MESSAGES = 100  # deleteMessages takes at most 100 ids
MAX_DRAFT_CHARS = 4000  # the chat_session.draft column
RECENT_UPDATES = 16  # Telegram redelivers within minutes; a handful of ids is plenty


@dataclass
class SessionState:
    """What we remember about one chat: settings, position, and our own message ids."""

    language: str | None = None
    team_id: str | None = None
    node: str = "home"
    page: int = 0
    menu_message_id: int | None = None
    message_ids: list[int] = field(default_factory=list)
    recent_update_ids: list[int] = field(default_factory=list)
    version: int = 0  # 0: not stored yet
    case_id: int | None = None  # the chat's current contact request
    draft: dict[str, Any] | None = None  # an unconfirmed contact request (JSON, <= 4000 chars)

    @property
    def onboarded(self) -> bool:
        return self.language is not None and self.team_id is not None

    def seen(self, update_id: int) -> bool:
        """This update was handled and answered: a redelivery gets nothing."""
        return update_id in self.recent_update_ids

    def pending(self, update_id: int) -> bool:
        """This update's effect (a stored message, a created case) was committed together
        with this mark, but its answer may not have reached the relative: a redelivery
        answers again and stores nothing. Kept as the negative id (update ids are > 0)."""
        return -update_id in self.recent_update_ids

    def track(self, *message_ids: int | None) -> None:
        """Remember message ids for "clear this chat", newest last, at most 100."""
        for message_id in message_ids:
            if message_id is not None and message_id not in self.message_ids:
                self.message_ids.append(message_id)
        del self.message_ids[:-MAX_TRACKED_MESSAGES]


_COLUMNS = (
    "language, team_id, node, page, menu_message_id, message_ids, recent_update_ids, version, "
    "case_id, draft"
)
_SETTABLE = (
    "language",
    "team_id",
    "node",
    "page",
    "menu_message_id",
    "message_ids",
    "recent_update_ids",
    "version",
    "updated_on",
    "case_id",
    "draft",
)


def _upsert(placeholders: Sequence[str], version_param: str) -> str:
    """Insert, or update only the row still at the version that was read (one statement)."""
    names = ("pseudonym", *_SETTABLE)
    updates = ", ".join(f"{n} = excluded.{n}" for n in _SETTABLE)
    return (
        f"INSERT INTO chat_session ({', '.join(names)}) VALUES ({', '.join(placeholders)}) "
        f"ON CONFLICT (pseudonym) DO UPDATE SET {updates} "
        f"WHERE chat_session.version = {version_param}"
    )


_SQLITE_LOAD = f"SELECT {_COLUMNS} FROM chat_session WHERE pseudonym = ?"
_SQLITE_SAVE = _upsert(["?"] * 12, "?")
_PG_LOAD = f"SELECT {_COLUMNS} FROM chat_session WHERE pseudonym = $1"
_PG_SAVE = _upsert([f"${i}" for i in range(1, 13)], "$13")
# SECRET_KEYS rotation: a chat's row under an older key's pseudonym takes the newest one, in
# one statement (so one transaction); never onto a row the new pseudonym already has.
_MOVE = (
    "UPDATE chat_session SET pseudonym = {new} WHERE pseudonym = {old} "
    "AND NOT EXISTS (SELECT 1 FROM chat_session WHERE pseudonym = {new}) "
    f"RETURNING {_COLUMNS}"
)
_SQLITE_MOVE = _MOVE.format(new="?1", old="?2")
_PG_MOVE = _MOVE.format(new="$1", old="$2")


def _state(row: Sequence[Any] | Record) -> SessionState:
    return SessionState(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        _int_list(row[5]),
        _int_list(row[6]),
        row[7],
        row[8],
        _draft(row[9]),
    )


def _draft(raw: str | None) -> dict[str, Any] | None:
    """A stored draft, or None if there is none or it cannot be read (it is only a draft)."""
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _draft_json(draft: dict[str, Any] | None) -> str | None:
    """The draft as JSON; a draft too large for its column is not kept rather than cut."""
    if draft is None:
        return None
    raw = json.dumps(draft, ensure_ascii=False, separators=(",", ":"))
    if len(raw) > MAX_DRAFT_CHARS:
        raise ValueError(f"a draft is at most {MAX_DRAFT_CHARS} characters as JSON")
    return raw


def _int_list(raw: str) -> list[int]:
    try:
        return [int(i) for i in json.loads(raw)]
    except (ValueError, TypeError):
        return []


def _row_values(
    pseudonym: str, state: SessionState, recent: list[int], today: date | str
) -> tuple[Any, ...]:
    return (
        pseudonym,
        state.language,
        state.team_id,
        state.node,
        state.page,
        state.menu_message_id,
        json.dumps(state.message_ids[-MAX_TRACKED_MESSAGES:]),
        json.dumps(recent),
        state.version + 1,
        today,
        state.case_id,
        _draft_json(state.draft),
    )


def _recent(state: SessionState, update_id: int | None, *, pending: bool = False) -> list[int]:
    """The remembered update ids after this write (None: a write outside any update).

    ``pending``: remember the update as committed but not yet answered (its negative id);
    the write after the answer replaces it with the positive id.
    """
    if update_id is None:
        return state.recent_update_ids[-RECENT_UPDATES:]
    mark = -update_id if pending else update_id
    kept = [i for i in state.recent_update_ids if i not in (update_id, -update_id)]
    return [*kept, mark][-RECENT_UPDATES:]


_TX_SAVE = _upsert([f":v{i}" for i in range(12)], ":version")


async def save_pending_in(
    conn: AsyncConnection, pseudonym: str, state: SessionState, update_id: int, today: date
) -> bool:
    """Write the chat's state on ``conn`` (inside the caller's transaction), marking the
    update pending: the effect committed with it is never repeated by a redelivery.

    The same compare-and-set on ``version`` as ``SessionStore.save``; False: another
    process wrote the chat meanwhile (the caller rolls back).
    """
    recent = _recent(state, update_id, pending=True)
    day: date | str = today.isoformat() if conn.dialect.name == "sqlite" else today
    values = _row_values(pseudonym, state, recent, day)
    params: dict[str, Any] = {f"v{i}": value for i, value in enumerate(values)}
    params["version"] = state.version
    result = await conn.execute(text(_TX_SAVE), params)
    return _saved(state, recent, result.rowcount > 0)


class SessionStore(Protocol):
    """Load and store one chat's state; ``save`` is a compare-and-set on ``version``."""

    async def load(self, pseudonym: str) -> SessionState | None: ...

    async def save(
        self, pseudonym: str, state: SessionState, update_id: int | None, today: date
    ) -> bool: ...

    async def delete(self, pseudonym: str) -> int: ...

    async def move(self, old: str, new: str) -> SessionState | None:
        """The state stored under ``old``, now stored under ``new`` (None: nothing to move)."""
        ...

    async def purge_idle(self, idle_before: date) -> int: ...

    async def close(self) -> None: ...


class SQLiteSessionStore:
    def __init__(self, database: Database) -> None:
        self._lock = database.write_lock()
        self._db = database.hot()

    async def load(self, pseudonym: str) -> SessionState | None:
        row = self._db.execute(_SQLITE_LOAD, (pseudonym,)).fetchone()
        return None if row is None else _state(row)

    async def save(
        self, pseudonym: str, state: SessionState, update_id: int | None, today: date
    ) -> bool:
        """Store the state if nobody else wrote this chat since it was read; remember the update."""
        recent = _recent(state, update_id)
        values = (*_row_values(pseudonym, state, recent, today.isoformat()), state.version)
        async with self._lock:
            changed = self._db.execute(_SQLITE_SAVE, values).rowcount
        return _saved(state, recent, changed > 0)

    async def delete(self, pseudonym: str) -> int:
        async with self._lock:
            return self._db.execute(
                "DELETE FROM chat_session WHERE pseudonym = ?", (pseudonym,)
            ).rowcount

    async def move(self, old: str, new: str) -> SessionState | None:
        async with self._lock:
            try:  # fetchall: the statement (and so its autocommit) completes here
                rows = self._db.execute(_SQLITE_MOVE, (new, old)).fetchall()
            except sqlite3.IntegrityError:  # another process gave the chat a new row meanwhile
                return None
        return _state(rows[0]) if rows else None

    async def purge_idle(self, idle_before: date) -> int:
        """Delete conversations nobody has used since ``idle_before``."""
        async with self._lock:
            return self._db.execute(
                "DELETE FROM chat_session WHERE updated_on < ?", (idle_before.isoformat(),)
            ).rowcount

    async def close(self) -> None:
        """Nothing of its own to close: the connection is the Database's."""


class PostgresSessionStore:
    def __init__(self, pool: CountedPool) -> None:
        self._pool = pool

    async def load(self, pseudonym: str) -> SessionState | None:
        row = await self._pool.fetchrow(_PG_LOAD, pseudonym)
        return None if row is None else _state(row)

    async def save(
        self, pseudonym: str, state: SessionState, update_id: int | None, today: date
    ) -> bool:
        """Store the state if nobody else wrote this chat since it was read; remember the update."""
        recent = _recent(state, update_id)
        values = (*_row_values(pseudonym, state, recent, today), state.version)
        status = await self._pool.execute(_PG_SAVE, *values)
        return _saved(state, recent, status != "INSERT 0 0")

    async def delete(self, pseudonym: str) -> int:
        status = await self._pool.execute(
            "DELETE FROM chat_session WHERE pseudonym = $1", pseudonym
        )
        return int(status.rsplit(" ", 1)[-1])

    async def move(self, old: str, new: str) -> SessionState | None:
        try:
            row = await self._pool.fetchrow(_PG_MOVE, new, old)
        except UniqueViolationError:  # another process gave the chat a new row meanwhile
            return None
        return None if row is None else _state(row)

    async def purge_idle(self, idle_before: date) -> int:
        """Delete conversations nobody has used since ``idle_before``."""
        status = await self._pool.execute(
            "DELETE FROM chat_session WHERE updated_on < $1", idle_before
        )
        return int(status.rsplit(" ", 1)[-1])

    async def close(self) -> None:
        """Nothing of its own to close: the pool is the Database's."""


def _saved(state: SessionState, recent: list[int], changed: bool) -> bool:
    if changed:
        state.version += 1
        state.recent_update_ids = recent
    return changed


async def open_session_store(database: Database) -> SessionStore:
    """The fast store for the database (already migrated), on its driver-direct connection."""
    if database.is_sqlite:
        return SQLiteSessionStore(database)
    return PostgresSessionStore(await database.pool())
