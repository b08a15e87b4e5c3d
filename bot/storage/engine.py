"""One async engine per process; SQLite (WAL, busy timeout, BEGIN IMMEDIATE) or PostgreSQL.

Write transactions on SQLite start with BEGIN IMMEDIATE so two writers queue on
the busy timeout instead of failing with "database is locked" at commit. Within one
process, writers also queue on an asyncio lock: SQLite's busy handler waits by
sleeping (up to 100 ms a time), which under load cost more than the writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import stat
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bot.storage.pg_connect import PgTarget, pg_target

_WRITE = "relatives_write"

# Every SQLite connection (the engine's and the hot one), before anything else:
# deleted rows are overwritten with zeros, not only unlinked; on a database with no
# table yet (before the first migration), freed pages can be given back to the file
# system by ``PRAGMA incremental_vacuum`` (on an older file this pragma changes nothing
# until a VACUUM, which ``reclaim_sqlite`` does once, see there).
SQLITE_ERASURE_PRAGMAS = ("PRAGMA secure_delete=ON", "PRAGMA auto_vacuum=INCREMENTAL")


def prepare_sqlite_file(path: str) -> None:
    """The database's folder (0700 if we make it) and file (0600), before SQLite opens it.

    SQLite gives its -wal and -shm files the database file's mode, so they are 0600 too.
    Files already there that others can read are tightened to the owner only (the
    database holds requests about relatives); one we may not change is left as it is.
    """
    file = Path(path)
    folder = file.parent
    if not folder.exists():
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not file.exists():
        with contextlib.suppress(FileExistsError):
            os.close(os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for existing in (file, Path(f"{path}-wal"), Path(f"{path}-shm")):
        _owner_only(existing)


def _owner_only(path: Path) -> None:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            path.chmod(mode & 0o700)
    except OSError:  # not there, or not ours to change
        pass


_sqlite_writers: weakref.WeakKeyDictionary[AsyncEngine, asyncio.Lock] = weakref.WeakKeyDictionary()
_pg_targets: weakref.WeakKeyDictionary[AsyncEngine, PgTarget] = weakref.WeakKeyDictionary()


def create_engine(database_url: str, *, pool_size: int = 5, max_overflow: int = 5) -> AsyncEngine:
    """Build the engine; for SQLite make sure the file's folder exists and set pragmas.

    On PostgreSQL the pool holds ``pool_size`` connections and opens up to ``max_overflow``
    more under load; a caller beyond that waits for one (``pool_timeout``, 30 s). TLS comes
    from the URL's libpq parameters, parsed once (``pg_connect``).
    """
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        target = pg_target(url)
        engine = create_async_engine(
            target.url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_pre_ping=True,
            connect_args=target.connect_args(),
        )
        _pg_targets[engine] = target
        return engine

    if url.database and url.database != ":memory:":
        prepare_sqlite_file(url.database)
    engine = create_async_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        for pragma in SQLITE_ERASURE_PRAGMAS:
            cursor.execute(pragma)
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


@asynccontextmanager
async def write_tx(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction that will write: committed on success, rolled back on error."""
    if not is_sqlite(engine):
        async with engine.connect() as conn, conn.begin():
            yield conn
        return
    async with sqlite_write_lock(engine), engine.connect() as conn:
        await conn.execution_options(**{_WRITE: True})
        async with conn.begin():
            yield conn


@asynccontextmanager
async def read_tx(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A read-only transaction (deferred on SQLite, so WAL readers never block writers)."""
    async with engine.connect() as conn, conn.begin():
        yield conn


def sqlite_write_lock(engine: AsyncEngine) -> asyncio.Lock:
    """The lock every writer to this SQLite database in this process queues on."""
    return _sqlite_writers.setdefault(engine, asyncio.Lock())


def pg_target_of(engine: AsyncEngine) -> PgTarget:
    """The parsed URL and TLS the engine connects with, for direct asyncpg connections."""
    target = _pg_targets.get(engine)
    if target is None:
        raise RuntimeError("not a PostgreSQL engine made by create_engine")
    return target


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


# A database still without auto_vacuum (made before it was set) is converted by one
# VACUUM in a purge round when it is at most this big (a VACUUM rewrites the whole file and
# holds the write lock meanwhile: about a second per 100 MB on a small server's disk).
VACUUM_ONCE_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Reclaimed:
    """What one round of ``reclaim_sqlite`` did to the file."""

    freed_pages: int  # free pages given back to the file system by incremental_vacuum
    vacuumed: bool  # the one-time VACUUM that turns auto_vacuum on ran now
    needs_vacuum: bool  # auto_vacuum is still off: the file is too big for a round (README)
    wal_truncated: bool  # every WAL frame was checkpointed and the WAL cut to zero bytes


def reclaim_sqlite(
    path: str, *, vacuum_once_max_bytes: int | None = VACUUM_ONCE_MAX_BYTES
) -> Reclaimed:
    """After a purge: free pages leave the file, and the WAL's copies of deleted rows go.

    Blocking (run it in a thread). Deleted rows are already zeroed in place
    (``secure_delete``); here the free pages are cut off the end of the file
    (``incremental_vacuum``) and the WAL, which still holds the pages as they were before
    the delete, is checkpointed and truncated (``wal_checkpoint(TRUNCATE)``), waiting up to
    the busy timeout for readers of an older snapshot. ``vacuum_once_max_bytes`` None:
    the one-time VACUUM runs whatever the file's size.
    """
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        for pragma in SQLITE_ERASURE_PRAGMAS:
            db.execute(pragma)
        mode = db.execute("PRAGMA auto_vacuum").fetchone()[0]
        vacuumed = needs_vacuum = False
        if mode != 2:  # 0 NONE, 1 FULL, 2 INCREMENTAL
            pages = db.execute("PRAGMA page_count").fetchone()[0]
            size = db.execute("PRAGMA page_size").fetchone()[0]
            if vacuum_once_max_bytes is None or pages * size <= vacuum_once_max_bytes:
                db.execute("VACUUM")  # the pragma above takes effect with it
                vacuumed = True
            else:
                needs_vacuum = True
        free_before = db.execute("PRAGMA freelist_count").fetchone()[0]
        # Each step frees one page, and sqlite3's execute steps a row-less statement only
        # once: executescript runs it to the end.
        db.executescript("PRAGMA incremental_vacuum;")
        freed = free_before - db.execute("PRAGMA freelist_count").fetchone()[0]
        busy, _frames, _done = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return Reclaimed(freed, vacuumed, needs_vacuum, wal_truncated=busy == 0)
    finally:
        db.close()
