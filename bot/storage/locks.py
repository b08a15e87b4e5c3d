"""PostgreSQL advisory locks, so several processes on one database do shared work once.

Why advisory locks: they need no table, cost one round trip and vanish with the
transaction (or the connection), so a process that dies never leaves a lock behind.
SQLite serves one process only; there every lock is granted at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

Job = Literal["migrate", "purge", "auto_release", "stats_fold", "stats_book"]

# Fixed keys in one namespace ("rlbt" in ASCII as the high half), never renumbered:
# two versions of the product running side by side during an upgrade must agree.
_BASE = 0x726C6274 << 32
KEYS: dict[Job, int] = {
    "migrate": _BASE + 1,
    "purge": _BASE + 2,
    "auto_release": _BASE + 3,
    "stats_fold": _BASE + 4,
    "stats_book": _BASE + 5,
}


async def wait_xact_lock(conn: AsyncConnection, job: Job) -> None:
    """Wait for the job's lock, held until this transaction ends (PostgreSQL only)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": KEYS[job]})


async def try_xact_lock(conn: AsyncConnection, job: Job) -> bool:
    """Take the job's lock for this transaction if nobody holds it; True on SQLite."""
    if conn.dialect.name != "postgresql":
        return True
    result = await conn.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": KEYS[job]})
    return bool(result.scalar_one())


@asynccontextmanager
async def job_round(engine: AsyncEngine, job: Job) -> AsyncIterator[bool]:
    """Yield whether this process runs the job this round; the lock lasts the whole block.

    The lock's transaction only holds the lock: the job keeps its own transactions.
    """
    if engine.dialect.name != "postgresql":
        yield True
        return
    async with engine.connect() as conn, conn.begin():
        yield await try_xact_lock(conn, job)
