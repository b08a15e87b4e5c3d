"""The national benchmark's rollups, filled the way two years of daily roll-ups leave them.

The product's ``stats_rollup.roll_up`` adds counter days to ``stats_rollup`` with upserts in
one transaction: the daily job's path (a day or two at a time). For two years of counters
bulk-filled at once that is an hour in one transaction, so the benchmark fills the rollup
rows of the days up to a watermark directly, into the empty table, per period and in
chunks, with the same sums (counters summed over language, per team and for all teams
together as ``ALL_TEAMS``), sets the watermark, and then times the product's own roll-up
of the last days. ``check_rollups`` compares rollup sums with sums over the counters.

- 'day' rows: one INSERT..SELECT..GROUP BY over the counters per chunk of days (per team,
  then for all teams), no upsert (nothing is there yet);
- the table's two secondary indexes are dropped for the fill and built again after it;
- 'week' and 'month' rows from the 'day' rows of each period, 'quarter' from the months,
  'year' from the quarters (months nest in quarters, quarters in years; weeks nest in
  nothing): one INSERT..SELECT per period.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Date, bindparam, delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage import stats_rollup
from bot.storage.database import Database
from bot.storage.stats import counter_table
from bot.storage.stats_rollup import ALL_TEAMS, STATE_NAME, RollupKind, period_of, state_table

_COLUMNS = "period_kind, period_start, team_id, kind, key, count"
_DATES = (bindparam("first", type_=Date), bindparam("last", type_=Date))
_DAYS = text(
    f"INSERT INTO stats_rollup ({_COLUMNS}) "
    "SELECT 'day', day, team_id, kind, key, sum(count) FROM stats_counter "
    "WHERE day >= :first AND day <= :last GROUP BY day, team_id, kind, key"
).bindparams(*_DATES)
_ALL_DAYS = text(
    f"INSERT INTO stats_rollup ({_COLUMNS}) "
    "SELECT 'day', day, :all, kind, key, sum(count) FROM stats_counter "
    "WHERE day >= :first AND day <= :last GROUP BY day, kind, key"
).bindparams(*_DATES)
# One period's rows from the rows of the periods it is made of (its days, months, quarters);
# the ALL_TEAMS rows from ALL_TEAMS rows, as roll_up's grid statements do.
_PERIOD = text(
    f"INSERT INTO stats_rollup ({_COLUMNS}) "
    "SELECT :period, :start, team_id, kind, key, sum(count) FROM stats_rollup "
    "WHERE period_kind = :source AND period_start >= :first AND period_start <= :last "
    "GROUP BY team_id, kind, key"
).bindparams(*_DATES, bindparam("start", type_=Date))
_SOURCE: dict[RollupKind, RollupKind] = {
    "week": "day",
    "month": "day",
    "quarter": "month",
    "year": "quarter",
}


# For the bulk fills only, restored before the transaction ends (so nothing the benchmark
# times afterwards runs with them): SQLite's page cache (the default 2 MB makes every
# insert into two years of b-trees a page miss), PostgreSQL's memory per sort or hash.
SQLITE_FILL_CACHE_KB = 1_048_576
PG_FILL_WORK_MEM = "256MB"


@contextlib.asynccontextmanager
async def bulk_tx(database: Database) -> AsyncIterator[AsyncConnection]:
    """A write transaction with room for a bulk fill (see SQLITE_FILL_CACHE_KB)."""
    async with database.write_tx() as conn:
        if database.is_sqlite:
            before = (await conn.execute(text("PRAGMA cache_size"))).scalar_one()
            await conn.execute(text(f"PRAGMA cache_size=-{SQLITE_FILL_CACHE_KB}"))
            try:
                yield conn
            finally:
                await conn.execute(text(f"PRAGMA cache_size={int(before)}"))
        else:
            await conn.execute(text(f"SET LOCAL work_mem = '{PG_FILL_WORK_MEM}'"))
            yield conn


@contextlib.asynccontextmanager
async def indexes_after(database: Database, table: Any) -> AsyncIterator[None]:
    """Drop ``table``'s secondary indexes for a bulk fill and build them again after it
    (one sort each instead of two years of inserts into them); the schema is unchanged."""
    indexes = sorted(table.indexes, key=lambda index: index.name)
    async with database.write_tx() as conn:
        for index in indexes:
            await conn.run_sync(index.drop)
    try:
        yield
    finally:
        async with bulk_tx(database) as conn:
            if not database.is_sqlite:
                await conn.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))
            for index in indexes:
                await conn.run_sync(index.create)


@dataclass
class RollupFill:
    first: date
    through: date
    rows: int
    seconds: dict[str, float]


def periods(kind: RollupKind, first: date, last: date) -> list[date]:
    """The starts of the ``kind`` periods that hold a day of ``first``..``last``."""
    starts: list[date] = []
    day = period_of(kind, first)[0]
    while day <= last:
        starts.append(day)
        day = period_of(kind, day)[1] + timedelta(days=1)
    return starts


async def fill_rollups(database: Database, through: date, chunk_days: int = 7) -> RollupFill:
    """Fill the empty ``stats_rollup`` with every counter day up to ``through`` as
    ``roll_up(conn, through)`` would, and set the watermark to ``through``."""
    async with database.read_tx() as conn:
        first_value = (await conn.execute(select(func.min(counter_table.c.day)))).scalar_one()
        existing = await stats_rollup.rolled_through(conn)
        any_row = (await conn.execute(select(stats_rollup.rollup_table.c.kind).limit(1))).first()
    if existing is not None or any_row is not None:
        raise ValueError("fill_rollups fills an empty stats_rollup (no watermark yet)")
    seconds: dict[str, float] = {}
    if first_value is None:
        first = through + timedelta(days=1)
    else:
        first = stats_rollup._as_date(first_value)
    async with indexes_after(database, stats_rollup.rollup_table):
        await _fill(database, first, through, chunk_days, seconds)
        t0 = time.perf_counter()
    seconds["indexes"] = round(time.perf_counter() - t0, 1)
    async with database.write_tx() as conn:
        await conn.execute(delete(state_table).where(state_table.c.name == STATE_NAME))
        await conn.execute(state_table.insert().values(name=STATE_NAME, through=through))
    async with database.read_tx() as conn:
        rows = await conn.execute(select(func.count()).select_from(stats_rollup.rollup_table))
        total = int(rows.scalar_one())
    return RollupFill(first, through, total, seconds)


async def _fill(
    database: Database, first: date, through: date, chunk_days: int, seconds: dict[str, float]
) -> None:
    t0 = time.perf_counter()
    day = first
    while day <= through:
        last = min(through, day + timedelta(days=chunk_days - 1))
        async with bulk_tx(database) as conn:
            bounds = {"first": day, "last": last}
            await conn.execute(_DAYS, bounds)
            await conn.execute(_ALL_DAYS, {**bounds, "all": ALL_TEAMS})
        day = last + timedelta(days=1)
    seconds["day"] = round(time.perf_counter() - t0, 1)
    for kind in ("week", "month", "quarter", "year"):
        t0 = time.perf_counter()
        for start in periods(kind, first, through) if first <= through else []:
            end = min(through, period_of(kind, start)[1])
            async with bulk_tx(database) as conn:
                await conn.execute(
                    _PERIOD,
                    {"period": kind, "start": start, "source": _SOURCE[kind], "first": start,
                     "last": end},
                )  # fmt: skip
        seconds[kind] = round(time.perf_counter() - t0, 1)


# --- the check --------------------------------------------------------------------------


Sample = tuple[RollupKind, date, str, str]  # period kind, its start, team (or '*'), kind


def samples(first: date, through: date, teams: Sequence[str], kinds: Sequence[str]) -> list[Sample]:
    """The first and the last period of each grid in ``first``..``through`` (the last one
    may be cut at ``through``), a middle day, for each of ``teams`` and ``kinds``."""
    out: list[Sample] = []
    middle = first + (through - first) // 2
    for kind in ("day", "week", "month", "quarter", "year"):
        starts = sorted(
            {period_of(kind, first)[0], period_of(kind, middle)[0], period_of(kind, through)[0]}
        )
        for start in starts:
            for team in teams:
                for counter_kind in kinds:
                    out.append((kind, start, team, counter_kind))
    return out


async def check_rollups(
    database: Database, through: date, checks: Iterable[Sample]
) -> tuple[int, list[str]]:
    """Compare each sample's rollup rows (key -> count) with the sums over the counters of
    its days up to ``through``; (sums compared, the differences found)."""
    r, c = stats_rollup.rollup_table.c, counter_table.c
    compared, differ = 0, []
    async with database.read_tx() as conn:
        for period, start, team, kind in checks:
            end = min(through, period_of(period, start)[1])
            rolled = await conn.execute(
                select(r.key, r["count"]).where(
                    r.period_kind == period, r.period_start == start, r.team_id == team,
                    r.kind == kind,
                )
            )  # fmt: skip
            got = {key: int(n) for key, n in rolled}
            query: Any = (
                select(c.key, func.sum(c["count"]))
                .where(c.day >= start, c.day <= end, c.kind == kind)
                .group_by(c.key)
            )
            if team != ALL_TEAMS:
                query = query.where(c.team_id == team)
            want = {key: int(n) for key, n in await conn.execute(query)}
            for key in sorted(set(got) | set(want)):
                compared += 1
                if got.get(key) != want.get(key):
                    differ.append(
                        f"{period} {start} {team} {kind} {key!r}: rollup {got.get(key)}, "
                        f"counters {want.get(key)}"
                    )
    return compared, differ
