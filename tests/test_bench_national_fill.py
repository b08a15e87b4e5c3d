"""The national benchmark's direct fill of the rollups (bot.bench.national_fill) leaves the
same stats_rollup rows as the product's roll_up on the same counters, on SQLite and
PostgreSQL: filled at once, and filled up to a day then rolled up by roll_up."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from sqlalchemy import delete, select

from bot.bench import national
from bot.bench.national_fill import check_rollups, fill_rollups, periods, samples
from bot.storage import stats as stats_db
from bot.storage import stats_rollup as rollup
from bot.storage.database import Database
from bot.storage.stats import CounterKey
from bot.storage.stats_rollup import rollup_table, state_table
from tests.test_stats_rollup import fresh

TEAMS = ["alpha", "beta", "gamma"]
# LAST_DAY - 74 .. LAST_DAY - 55: 2026-09-17 (a Thursday) .. 2026-10-06, across ISO weeks,
# a month, a quarter.
OFFSETS = range(55, 75)
FIRST = national.LAST_DAY - timedelta(days=74)
LAST = national.LAST_DAY - timedelta(days=55)


def cells() -> dict[CounterKey, int]:
    out: dict[CounterKey, int] = {}
    for offset in OFFSETS:
        for day, team, language, kind, key, n in national.counter_rows(TEAMS, offset):
            out[(day, team, language, kind, key)] = n
    # No team ('' ) and an unknown language ('') too.
    out[(FIRST, "", "", "conversation_started", "")] = 3
    out[(LAST, "", "sv", "conversation_started", "")] = 2
    out[(date(2026, 9, 30), "", "fi", "screen_viewed", "screen001")] = 4
    return out


async def rows(database: Database) -> dict[tuple[object, ...], int]:
    async with database.read_tx() as conn:
        result = await conn.execute(select(rollup_table))
        return {
            (kind, rollup._as_date(start), team, k, key): int(n)
            for kind, start, team, k, key, n in result
        }


async def clear(database: Database) -> None:
    async with database.write_tx() as conn:
        await conn.execute(delete(rollup_table))
        await conn.execute(delete(state_table))


def test_periods() -> None:
    assert periods("week", date(2026, 9, 17), date(2026, 10, 6)) == [
        date(2026, 9, 14),
        date(2026, 9, 21),
        date(2026, 9, 28),
        date(2026, 10, 5),
    ]
    assert periods("quarter", date(2026, 9, 17), date(2026, 10, 6)) == [
        date(2026, 7, 1),
        date(2026, 10, 1),
    ]
    assert periods("year", date(2025, 12, 31), date(2026, 1, 1)) == [
        date(2025, 1, 1),
        date(2026, 1, 1),
    ]


def test_direct_fill_equals_roll_up(database_url: str) -> None:
    async def run() -> None:
        async with fresh(database_url) as database:
            async with database.write_tx() as conn:
                await stats_db.add_counts(conn, cells())
            async with database.write_tx() as conn:
                await rollup.roll_up(conn, LAST)
            product = await rows(database)
            assert {k[0] for k in product} == {"day", "week", "month", "quarter", "year"}
            assert any(k[2] == rollup.ALL_TEAMS for k in product)

            await clear(database)
            filled = await fill_rollups(database, LAST, chunk_days=3)
            assert filled.first == FIRST and filled.rows == len(product)
            assert await rows(database) == product
            async with database.read_tx() as conn:
                assert await rollup.rolled_through(conn) == LAST
            checks = samples(FIRST, LAST, [TEAMS[0], rollup.ALL_TEAMS], ["screen_move"])
            compared, differ = await check_rollups(database, LAST, checks)
            assert compared > 100 and differ == []

            # Filled up to a day, then the product rolls up the rest (its daily path).
            await clear(database)
            cut = LAST - timedelta(days=7)
            await fill_rollups(database, cut)
            async with database.write_tx() as conn:
                assert await rollup.roll_up(conn, LAST) == 7
            assert await rows(database) == product
            compared, differ = await check_rollups(database, LAST, checks)
            assert compared > 100 and differ == []

            # A changed rollup row is found.
            async with database.write_tx() as conn:
                await conn.execute(
                    rollup_table.update()
                    .where(rollup_table.c.period_kind == "month", rollup_table.c.team_id == "*")
                    .values(count=rollup_table.c.count + 1)
                )
            compared, differ = await check_rollups(database, LAST, checks)
            assert differ and all(d.startswith("month ") for d in differ)

    asyncio.run(run())
