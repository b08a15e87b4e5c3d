"""One async engine per process; SQLite (WAL, busy timeout, BEGIN IMMEDIATE) or PostgreSQL.

Write transactions on SQLite start with BEGIN IMMEDIATE so two writers queue on
the busy timeout instead of failing with "database is locked" at commit. Within one
process, writers also queue on an asyncio lock: SQLite's busy handler waits by
sleeping (up to 100 ms a time), which under load cost more than the writes.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bot.storage.pg_connect import PgTarget, pg_target

_WRITE = "relatives_write"
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
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
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
