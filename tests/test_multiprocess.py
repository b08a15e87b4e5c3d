"""Several processes on one database: migrations once, background jobs once, folds exact.

Each "process" here is a Server or a Database object of its own (own engine, own pool,
own connections), which is what the database sees of a second process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import delete, func, select, text

from bot.config import ConfigError, load_settings
from bot.emulator.spec import BotApiSpec
from bot.runtime import Server
from bot.services.stats import StatsRecorder
from bot.storage import locks
from bot.storage import stats as stats_db
from bot.storage.database import Database
from bot.storage.migrate import alembic_config, at_head, upgrade
from tests.conftest import _reset_postgres, make_settings

DAY, TODAY = date(2026, 3, 2), date(2026, 3, 3)
DIGESTS = [(f"{n:032x}", "laholm") for n in range(7)]


@asynccontextmanager
async def _two_databases(database_url: str) -> AsyncIterator[tuple[Database, Database]]:
    """Two processes' connections to one migrated database holding DAY's seven digests."""
    if database_url.startswith("postgresql"):
        await asyncio.to_thread(_reset_postgres, database_url)
    a, b = Database.open(database_url), Database.open(database_url)
    try:
        await upgrade(a.engine)
        async with a.write_tx() as conn:
            await stats_db.add_seen(conn, DAY, DIGESTS)
        yield a, b
    finally:
        await a.close()
        await b.close()


async def _relatives(database: Database) -> int:
    async with database.read_tx() as conn:
        rows = await stats_db.counters(conn, DAY, DAY, ["laholm"], kinds=["relatives"])
    return sum(row.count for row in rows)


async def _waiting_on_a_lock(database: Database) -> bool:
    """Whether a session of this database waits on a row lock (the second fold's DELETE)."""
    sql = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    async with database.read_tx() as conn:
        return bool((await conn.execute(sql)).scalar_one())


async def _until_a_fold_waits(database: Database) -> None:
    """Until PostgreSQL reports the second fold blocked. It sends no event for that, so the
    state is asked again and again; each query yields to the fold's task, no timer is set."""
    deadline = asyncio.get_running_loop().time() + 60
    while not await _waiting_on_a_lock(database):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the second fold never waited on the first")


async def test_two_servers_starting_together_migrate_once(
    pg_database_url: str, tmp_path: Path, spec: BotApiSpec
) -> None:
    await asyncio.to_thread(_reset_postgres, pg_database_url)
    servers = [
        Server(
            make_settings(pg_database_url, tmp_path / name),
            preview=True,
            spec_validator=spec.validate_call,
        )
        for name in ("one", "two")
    ]
    results = await asyncio.gather(*(s.start() for s in servers), return_exceptions=True)
    try:
        assert results == [None, None]
        core = servers[0].core
        assert core is not None
        async with core.database.read_tx() as conn:
            versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert [row[0] for row in versions] == [head]
    finally:
        for server in servers:
            await server.stop()
    for server in servers:
        assert server.emulator is not None and server.emulator.problems == []


async def test_without_migrate_on_start_an_old_schema_refuses_with_one_line(
    database_url: str, tmp_path: Path
) -> None:
    if database_url.startswith("postgresql"):
        await asyncio.to_thread(_reset_postgres, database_url)
    settings = make_settings(database_url, tmp_path, MIGRATE_ON_START="false")
    with pytest.raises(ConfigError) as refused:
        await Server(settings, preview=True).start()
    message = str(refused.value)
    assert "\n" not in message and "run `python -m bot migrate`" in message
    database = Database.open(database_url)
    try:
        assert not await at_head(database.engine)  # refusing did not migrate either
        await upgrade(database.engine)  # what `python -m bot migrate` does
        assert await at_head(database.engine)
    finally:
        await database.close()
    server = Server(settings, preview=True)
    await server.start()
    await server.stop()


def test_migrate_on_start_is_a_yes_or_no() -> None:
    assert load_settings({}, require_telegram=False).migrate_on_start
    assert not load_settings({"MIGRATE_ON_START": "false"}, require_telegram=False).migrate_on_start
    with pytest.raises(ConfigError, match="MIGRATE_ON_START must be true or false"):
        load_settings({"MIGRATE_ON_START": "later"}, require_telegram=False)


async def test_the_old_fold_counted_twice_and_the_one_statement_does_not(
    pg_database_url: str,
) -> None:
    """Two folds at once at READ COMMITTED: select-add-delete books the digests twice."""
    async with _two_databases(pg_database_url) as (a, b):
        counted = [asyncio.Event(), asyncio.Event()]
        both = asyncio.Event()

        async def old_fold(database: Database, done_counting: asyncio.Event) -> None:
            s = stats_db.seen_table.c
            async with database.write_tx() as conn:
                query = select(s.day, s.team_id, func.count()).group_by(s.day, s.team_id)
                cells = {
                    (d, t, "", "relatives", ""): int(n) for d, t, n in await conn.execute(query)
                }
                done_counting.set()
                await both.wait()
                await stats_db.add_counts(conn, cells)
                await conn.execute(delete(stats_db.seen_table).where(s.day < TODAY))

        async def both_counted() -> None:
            await asyncio.gather(*(event.wait() for event in counted))
            both.set()

        await asyncio.gather(old_fold(a, counted[0]), old_fold(b, counted[1]), both_counted())
        assert await _relatives(a) == 2 * len(DIGESTS)  # the bug the issue describes

    async with _two_databases(pg_database_url) as (a, b):
        release, first_folded = asyncio.Event(), asyncio.Event()
        folded: list[int] = []

        async def first() -> None:
            async with a.write_tx() as conn:
                folded.append(await stats_db.fold_seen_before(conn, TODAY))
                first_folded.set()
                await release.wait()  # the second fold starts while this one is open

        async def second() -> None:
            async with b.write_tx() as conn:
                folded.append(await stats_db.fold_seen_before(conn, TODAY))

        holder = asyncio.create_task(first())
        await first_folded.wait()
        waiter = asyncio.create_task(second())
        await _until_a_fold_waits(a)
        release.set()
        await asyncio.gather(holder, waiter)
        assert folded == [1, 0]
        assert await _relatives(a) == len(DIGESTS)


async def test_concurrent_recorders_fold_each_relative_once(database_url: str) -> None:
    """The service's fold (advisory lock, then the one statement) from two processes."""
    async with _two_databases(database_url) as (a, b):
        recorders = [StatsRecorder(db, b"k" * 32, today=lambda: TODAY) for db in (a, b)]
        days = await asyncio.gather(*(r.fold_finished_days() for r in recorders))
        assert sorted(days) == [0, 1]  # the other skipped under the lock, or found nothing
        await asyncio.gather(*(r.flush() for r in recorders))
        assert await _relatives(a) == len(DIGESTS)


async def test_a_job_lock_lets_one_process_do_the_round(pg_database_url: str) -> None:
    async with _two_databases(pg_database_url) as (a, b):
        async with (
            locks.job_round(a.engine, "purge") as first,
            locks.job_round(b.engine, "purge") as second,
            locks.job_round(b.engine, "auto_release") as other_job,
        ):
            assert (first, second, other_job) == (True, False, True)
        async with locks.job_round(b.engine, "purge") as after:
            assert after  # the lock ended with the first round's transaction
