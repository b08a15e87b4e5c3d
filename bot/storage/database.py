"""The process's connections to one database, opened and closed in one place.

Why one object: the SQLAlchemy engine serves migrations and everything that is not per
update; the hot paths (conversation state, a claim on PostgreSQL) go straight to the
driver. Before this object, the session store and the case service each opened an
asyncpg pool of their own, and nothing said who closed what. ``Database`` owns all three:

* the SQLAlchemy engine (``read_tx``, ``write_tx``, ``snapshot_tx``);
* on PostgreSQL, ONE asyncpg pool (``pool``), opened on first use;
* on SQLite, one plain sqlite3 connection used on the event loop's thread (``hot``).

Driver-direct statements pass through ``Database`` (``HotConnection`` and ``CountedPool``),
so an observer (the query-count tests) sees them beside SQLAlchemy's own events.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.config import Settings
from bot.storage.engine import (
    SQLITE_ERASURE_PRAGMAS,
    VACUUM_ONCE_MAX_BYTES,
    Reclaimed,
    create_engine,
    pg_target_of,
    prepare_sqlite_file,
    read_tx,
    reclaim_sqlite,
    sqlite_write_lock,
    write_tx,
)
from bot.storage.pg_connect import create_pool

Conn = AsyncConnection  # what services hold between storage calls, named without SQLAlchemy
StatementObserver = Callable[[str], None]


class HotConnection:
    """The SQLite connection of the per-update path: autocommit, on the loop's thread.

    A read or write on a local WAL file takes tens of microseconds, less than a thread hop.
    """

    def __init__(self, path: str, observers: list[StatementObserver]) -> None:
        prepare_sqlite_file(path)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in SQLITE_ERASURE_PRAGMAS:
            self._db.execute(pragma)
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._observers = observers

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        for observe in self._observers:
            observe(sql)
        return self._db.execute(sql, params)

    def close(self) -> None:
        self._db.close()


class CountedPool:
    """The one asyncpg pool, with only the calls the storage modules make."""

    def __init__(self, pool: asyncpg.Pool, observers: list[StatementObserver]) -> None:
        self._pool = pool
        self._observers = observers

    def _saw(self, sql: str) -> None:
        for observe in self._observers:
            observe(sql)

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        self._saw(sql)
        return await self._pool.fetchrow(sql, *args)

    async def execute(self, sql: str, *args: Any) -> str:
        self._saw(sql)
        return str(await self._pool.execute(sql, *args))

    def is_closing(self) -> bool:
        return self._pool.is_closing()

    async def close(self) -> None:
        await self._pool.close()


class Database:
    """Engine, pool and hot connection of one database; ``close`` closes what was opened."""

    def __init__(self, engine: AsyncEngine, *, direct_pool_size: int = 5) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self.direct_pool_size = direct_pool_size
        self._observers: list[StatementObserver] = []
        self._pool: CountedPool | None = None
        self._pool_lock = asyncio.Lock()
        self._hot: HotConnection | None = None

    @classmethod
    def open(
        cls,
        database_url: str,
        *,
        pool_size: int = 5,
        max_overflow: int = 5,
        direct_pool_size: int = 5,
    ) -> Database:
        """A Database for a URL (nothing connects until first use).

        On PostgreSQL the process holds at most ``pool_size + max_overflow`` connections
        through the engine and ``direct_pool_size`` through the direct pool; work beyond
        that waits for a free connection instead of opening another.
        """
        engine = create_engine(database_url, pool_size=pool_size, max_overflow=max_overflow)
        return cls(engine, direct_pool_size=direct_pool_size)

    @classmethod
    def for_settings(cls, settings: Settings) -> Database:
        """The Database of DATABASE_URL with the DB_POOL_SIZE, DB_MAX_OVERFLOW and
        DB_DIRECT_POOL_SIZE budget (``settings.db_connection_budget`` in all)."""
        return cls.open(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            direct_pool_size=settings.db_direct_pool_size,
        )

    # -- transactions on the engine ---------------------------------------------------------

    def read_tx(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A read-only transaction (deferred on SQLite, so WAL readers never block writers)."""
        return read_tx(self.engine)

    def write_tx(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A transaction that will write: committed on success, rolled back on error."""
        return write_tx(self.engine)

    @asynccontextmanager
    async def snapshot_tx(self) -> AsyncIterator[AsyncConnection]:
        """Reads that all see one snapshot: REPEATABLE READ on PostgreSQL; on SQLite one
        read transaction is a snapshot already (WAL). Always rolled back: it only reads."""
        async with self.engine.connect() as conn:
            if not self.is_sqlite:
                await conn.execution_options(isolation_level="REPEATABLE READ")
            await conn.begin()
            try:
                yield conn
            finally:
                await conn.rollback()

    def write_lock(self) -> asyncio.Lock:
        """The lock every SQLite writer of this process queues on (see ``engine``)."""
        return sqlite_write_lock(self.engine)

    # -- straight to the driver -------------------------------------------------------------

    async def pool(self) -> CountedPool:
        """The one asyncpg pool (PostgreSQL only), opened on first use."""
        if self.is_sqlite:
            raise RuntimeError("an asyncpg pool is for PostgreSQL")
        async with self._pool_lock:
            if self._pool is None:
                # The engine's own parsing of DATABASE_URL: the same server, the same TLS.
                raw = await create_pool(
                    pg_target_of(self.engine), min_size=1, max_size=self.direct_pool_size
                )
                self._pool = CountedPool(raw, self._observers)
        return self._pool

    def hot(self) -> HotConnection:
        """The SQLite file's connection for the per-update path (SQLite only)."""
        if not self.is_sqlite:
            raise RuntimeError("the hot connection is for SQLite")
        if self._hot is None:
            path = make_url(str(self.engine.url)).database
            if not path or path == ":memory:":
                raise ValueError(
                    "conversation state needs a SQLite file, not an in-memory database"
                )
            self._hot = HotConnection(path, self._observers)
        return self._hot

    async def reclaim(self, *, vacuum_any_size: bool = False) -> Reclaimed | None:
        """After a purge, on a SQLite file: free pages and the WAL's old copies go.

        See ``engine.reclaim_sqlite``; it runs in a thread while this process's writers
        queue on the write lock. ``vacuum_any_size``: the one-time VACUUM of a file made
        without auto_vacuum runs whatever its size (`python -m bot purge --vacuum`). None on
        PostgreSQL (its autovacuum does this: README) and for an in-memory database.
        """
        if not self.is_sqlite:
            return None
        path = make_url(str(self.engine.url)).database
        if not path or path == ":memory:":
            return None
        async with self.write_lock():
            limit = None if vacuum_any_size else VACUUM_ONCE_MAX_BYTES
            return await asyncio.to_thread(reclaim_sqlite, path, vacuum_once_max_bytes=limit)

    def observe(self, observer: StatementObserver) -> Callable[[], None]:
        """Call ``observer`` with each driver-direct statement; returns its removal."""
        self._observers.append(observer)
        return lambda: self._observers.remove(observer)

    async def close(self) -> None:
        """Close the hot connection, the pool and the engine (each only if opened)."""
        if self._hot is not None:
            self._hot.close()
            self._hot = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        await self.engine.dispose()
