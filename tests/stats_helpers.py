"""A statistics service on a fresh database holding given counter cells (report tests)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from bot.services.stats import StatsService
from bot.storage import stats as stats_db
from bot.storage.database import Database
from bot.storage.migrate import upgrade
from bot.storage.stats import CounterKey
from tests.conftest import _reset_postgres


@asynccontextmanager
async def report_service(
    database_url: str, cells: Mapping[CounterKey, int], teams: frozenset[str]
) -> AsyncIterator[StatsService]:
    """Why a context manager: the database is closed however the test ends."""
    if database_url.startswith("postgresql"):
        await asyncio.to_thread(_reset_postgres, database_url)
    database = Database.open(database_url)
    try:
        await upgrade(database.engine)
        async with database.write_tx() as conn:
            await stats_db.add_counts(conn, cells)
        yield StatsService(database, teams)
    finally:
        await database.close()
