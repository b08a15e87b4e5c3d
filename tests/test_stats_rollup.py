"""Statistics rollups on SQLite and PostgreSQL: the same sums as the counters, each day
once (twice = once, in steps = at once, two processes at once), reports unchanged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import date, timedelta
from typing import Any

import pytest
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, inspect, select
from sqlalchemy.engine import Connection

from bot.storage import stats as stats_db
from bot.storage import stats_rollup as rollup
from bot.storage.database import Database
from bot.storage.migrate import alembic_config, upgrade
from bot.storage.stats import CounterKey, counter_table
from bot.storage.stats_report import ReportSums, report_sums
from bot.storage.stats_rollup import rollup_table, state_table
from tests.conftest import _reset_postgres

FIRST = date(2026, 12, 20)  # the span crosses a week, a month, a quarter and a year
SPAN = 100
KINDS = ["conversation_started", "relatives", "screen_viewed", "request_created"]
Rows = dict[tuple[str, date, str, str, str], int]


@asynccontextmanager
async def fresh(database_url: str) -> AsyncIterator[Database]:
    if database_url.startswith("postgresql"):
        await asyncio.to_thread(_reset_postgres, database_url)
    database = Database.open(database_url)
    try:
        await upgrade(database.engine)
        yield database
    finally:
        await database.close()


@asynccontextmanager
async def opened(database_url: str) -> AsyncIterator[Database]:
    """An already migrated database, emptied of counters and rollups."""
    database = Database.open(database_url)
    try:
        async with database.write_tx() as conn:
            for table in (counter_table, rollup_table, state_table):
                await conn.execute(delete(table))
        yield database
    finally:
        await database.close()


async def add(database: Database, cells: Mapping[CounterKey, int]) -> None:
    async with database.write_tx() as conn:
        await stats_db.add_counts(conn, cells)


async def roll(database: Database, through: date) -> int:
    async with database.write_tx() as conn:
        return await rollup.roll_up(conn, through)


async def rows(database: Database) -> Rows:
    async with database.read_tx() as conn:
        result = await conn.execute(select(rollup_table))
        return {
            (kind, rollup._as_date(start), team, k, key): n
            for kind, start, team, k, key, n in result
        }


def expected(cells: Mapping[CounterKey, int], through: date) -> Rows:
    """What the rollups must hold: counters summed over language per period, per team
    and for all teams together."""
    out: Rows = {}
    for (day, team, _lang, kind, key), n in cells.items():
        if day > through:
            continue
        for period in ("day", *rollup.GRIDS):
            first, _ = rollup.period_of(period, day)
            for who in (team, rollup.ALL_TEAMS):
                cell = (period, first, who, kind, key)
                out[cell] = out.get(cell, 0) + n
    return out


cell_keys = st.tuples(
    st.integers(0, SPAN - 1).map(lambda i: FIRST + timedelta(days=i)),
    st.sampled_from(["", "laholm", "botkyrka"]),
    st.sampled_from(["", "sv", "fi"]),
    st.sampled_from(KINDS),
    st.sampled_from(["", "worry", "talk"]),
)
cell_maps = st.dictionaries(cell_keys, st.integers(-3, 40), max_size=40)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cells=cell_maps,
    first_cut=st.integers(0, SPAN),
    second_cut=st.integers(0, SPAN),
)
def test_rollups_equal_the_counters_for_every_period_in_steps_and_twice(
    migrated_url: str, cells: dict[CounterKey, int], first_cut: int, second_cut: int
) -> None:
    d1 = FIRST + timedelta(days=min(first_cut, second_cut) - 1)
    d2 = FIRST + timedelta(days=max(first_cut, second_cut) - 1)

    async def run() -> None:
        async with opened(migrated_url) as database:
            # Counters up to d1 first, rolled up; then the later days come and roll up.
            await add(database, {k: n for k, n in cells.items() if k[0] <= d1})
            await roll(database, d1)
            assert await rows(database) == expected(cells, d1)
            await add(database, {k: n for k, n in cells.items() if k[0] > d1})
            await roll(database, d2)
            once = await rows(database)
            assert once == expected(cells, d2)
            assert await roll(database, d2) == 0  # twice = once
            assert await rows(database) == once
            async with database.read_tx() as conn:
                assert await rollup.rolled_through(conn) == max(d1, d2)

    asyncio.run(run())


@pytest.fixture
def migrated_url(database_url: str) -> str:
    async def run() -> None:
        async with fresh(database_url):
            pass

    asyncio.run(run())
    return database_url


def _cells(seed: int = 7) -> dict[CounterKey, int]:
    """Two teams and no team over ~14 months, a few kinds, keys and languages."""
    out: dict[CounterKey, int] = {}
    for i in range(430):
        day = date(2026, 1, 1) + timedelta(days=i)
        for j, team in enumerate(("laholm", "botkyrka", "")):
            for lang in ("sv", "fi"):
                n = (i * 7 + j * 3 + len(lang) + seed) % 11
                out[(day, team, lang, "conversation_started", "")] = n
                out[(day, team, lang, "request_created", "")] = n % 4
                out[(day, team, lang, "screen_viewed", ("worry", "talk")[i % 2])] = n + 1
            out[(day, team, "", "relatives", "")] = (i + j) % 6
    return out


async def test_each_day_rolled_up_once_by_two_at_once(database_url: str) -> None:
    cells = _cells()
    async with fresh(database_url) as first:
        await add(first, cells)
        second = Database.open(database_url)
        try:
            through = date(2026, 11, 30)
            done = await asyncio.gather(roll(first, through), roll(second, through))
            assert sorted(done) == [0, len({k[0] for k in cells if k[0] <= through})]
        finally:
            await second.close()
        assert await rows(first) == expected(cells, through)


SERIES = ["conversation_started", "relatives", "request_created"]
KEYED = ["conversation_started", "screen_viewed", "request_created"]
TEAM_KINDS = ["conversation_started", "request_created"]


async def _report(
    database: Database, start: date, end: date, teams: frozenset[str] | None, grain: Any = "day"
) -> ReportSums:
    async with database.snapshot_tx() as conn:
        return await report_sums(
            conn,
            start,
            end,
            teams,
            series_kinds=SERIES,
            keyed_kinds=KEYED,
            team_kinds=TEAM_KINDS,
            series_grain=grain,
        )


def _by_month(daily: list[tuple[date, str, int]]) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for day, kind, n in daily:
        key = (day.strftime("%Y-%m"), kind)
        out[key] = out.get(key, 0) + n
    return out


PERIODS = [
    (date(2026, 1, 1), date(2026, 12, 31)),  # a year
    (date(2026, 10, 1), date(2026, 12, 31)),  # a quarter
    (date(2026, 11, 1), date(2026, 11, 30)),  # a month
    (date(2026, 11, 23), date(2026, 11, 29)),  # a week
    (date(2026, 12, 28), date(2027, 1, 3)),  # a week across the year
    (date(2027, 1, 1), date(2027, 3, 5)),  # a quarter not over yet
]


async def test_reports_are_the_same_with_rollups_as_from_the_counters(database_url: str) -> None:
    cells = _cells()
    teams_views: list[frozenset[str] | None] = [None, frozenset({"laholm"}), frozenset()]
    async with fresh(database_url) as database:
        await add(database, cells)
        # Today's digests (read live): a relative seen today, for one team.
        async with database.write_tx() as conn:
            await stats_db.add_seen(conn, date(2027, 3, 5), [("a" * 24 + "b" * 8, "laholm")])

        async def every() -> list[tuple[Any, ...]]:
            out: list[tuple[Any, ...]] = []
            for start, end in PERIODS:
                for teams in teams_views:
                    sums = await _report(database, start, end, teams)
                    monthly = await _report(database, start, end, teams, "month")
                    out.append(
                        (
                            sorted(sums.daily),
                            sorted(sums.keyed),
                            sorted(sums.by_team or []),
                            _by_month(monthly.daily),
                            sorted(monthly.keyed),
                        )
                    )
            return out

        raw = await every()
        assert raw[0][0] and raw[0][1] and raw[0][2]  # the fixture is not empty
        # Watermarks inside, before and after the periods; each must change nothing.
        for through in (date(2026, 11, 25), date(2026, 12, 31), date(2027, 3, 4)):
            await roll(database, through)
            assert await every() == raw, through
        # Month rows make the month series: fewer rows, the same months.
        sums = await _report(database, date(2026, 1, 1), date(2026, 12, 31), None, "month")
        assert len({d for d, _, _ in sums.daily}) == 12


async def test_the_fold_rolls_up_yesterday(database_url: str) -> None:
    from bot.services.stats import StatsRecorder

    async with fresh(database_url) as database:
        today = date(2026, 12, 2)
        recorder = StatsRecorder(database, b"k" * 32, today=lambda: today)
        recorder.count("conversation_started", "laholm", "sv")
        recorder.seen("pseudonym-1", "laholm")
        assert await recorder.flush()
        async with database.read_tx() as conn:  # rolled up a day after the day is closed
            assert await rollup.rolled_through(conn) == today - timedelta(days=2)
        today = date(2026, 12, 3)  # the next day: yesterday's digests folded, not rolled up
        assert await recorder.flush()
        async with database.read_tx() as conn:
            assert await rollup.rolled_through(conn) == date(2026, 12, 1)
        today = date(2026, 12, 4)  # a day later: rolled up, relatives included
        assert await recorder.flush()
        got = await rows(database)
        assert got[("day", date(2026, 12, 2), "laholm", "relatives", "")] == 1
        assert got[("month", date(2026, 12, 1), "laholm", "conversation_started", "")] == 1
        # Increments still in memory for a day keep that day out of the purge's roll-up.
        recorder.count("conversation_started", "laholm", "sv")  # on 4 December
        today = date(2026, 12, 6)
        await recorder.fold_finished_days()
        async with database.read_tx() as conn:
            assert await rollup.rolled_through(conn) == date(2026, 12, 2)
        assert await recorder.flush()
        got = await rows(database)
        assert got[("day", date(2026, 12, 4), "laholm", "conversation_started", "")] == 1


def test_the_migration_upgrades_from_0011_and_downgrades(migrated_url: str) -> None:
    async def run() -> None:
        database = Database.open(migrated_url)
        try:

            def tables(sync_conn: Connection) -> set[str]:
                return set(inspect(sync_conn).get_table_names())

            def step(target: str, down: bool) -> Any:
                def go(sync_conn: Connection) -> None:
                    config = alembic_config(sync_conn)
                    (command.downgrade if down else command.upgrade)(config, target)

                return go

            async with database.engine.begin() as conn:
                assert {"stats_rollup", "stats_rollup_state"} <= await conn.run_sync(tables)
                await conn.run_sync(step("0011", down=True))
                assert not {"stats_rollup", "stats_rollup_state"} & await conn.run_sync(tables)
                await conn.run_sync(step("0012", down=False))
                assert {"stats_rollup", "stats_rollup_state"} <= await conn.run_sync(tables)
        finally:
            await database.close()

    asyncio.run(run())


async def test_counters_written_for_a_rolled_up_day_reach_the_rollups(database_url: str) -> None:
    """A flush just after midnight in another process, or a tool writing past days."""
    cells = _cells()
    async with fresh(database_url) as database:
        await add(database, cells)
        through = date(2026, 11, 30)
        await roll(database, through)
        late = {
            (date(2026, 11, 30), "laholm", "sv", "conversation_started", ""): 5,
            (date(2026, 3, 2), "", "fi", "screen_viewed", "new"): 2,
            (date(2026, 12, 1), "laholm", "sv", "conversation_started", ""): 4,  # not rolled
        }
        await add(database, late)
        for cell, n in late.items():
            cells[cell] = cells.get(cell, 0) + n
        assert await rows(database) == expected(cells, through)
