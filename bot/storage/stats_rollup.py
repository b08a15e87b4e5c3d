"""Statistics rollups: the daily counters summed per grid period, so reports read few rows.

Table ``stats_rollup`` (migration 0012): (period_kind, period_start, team_id, kind, key)
-> count, the counters of ``stats_counter`` summed over language (reports never split by
language) for a 'day', an ISO 'week' (from Monday), a calendar 'month', 'quarter' or
'year'; ``period_start`` is the period's first day. ``stats_rollup_state`` holds the
watermark ``through``: every counter day up to it (inclusive) is in the rollups, and no
later day is.

``roll_up(conn, through)`` adds the counter days in (watermark, through] to their rows
with upserts and moves the watermark, in the caller's transaction. Only new days are read
(incremental), and a second call with the same ``through`` changes nothing (idempotent).
Two processes: the caller holds the "stats_fold" advisory lock, and ``roll_up`` takes it
too (waiting; a transaction may take its own lock twice), so the second reads the first's
watermark after the first commits. Never roll up a day whose counters can still change:
the service rolls up through yesterday, right after the fold of yesterday's digests.

Besides each team's rows ('' = no team), rows with team_id ALL_TEAMS ('*') hold every
team together, so the all-teams report reads one row per key, not one per team and key.

Read helpers for ``bot.storage.stats_report``: ``rolled_through``, ``cover`` (a day range
as whole grid periods), ``sums`` (sums over such pieces) and ``series`` (the daily series
from 'day' rows, or whole months from 'month' rows).

Retention: purging old counters leaves the rollups as they are (they hold no more than
the counters did: sums without language).
"""

from __future__ import annotations

import calendar
from collections.abc import Collection, Mapping, Sequence
from datetime import date, timedelta
from typing import Any, Literal

from sqlalchemy import Date, and_, bindparam, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage import locks
from bot.storage.models import StatsRollup, StatsRollupState, table_of

rollup_table = table_of(StatsRollup)
state_table = table_of(StatsRollupState)
r = rollup_table.c

RollupKind = Literal["day", "week", "month", "quarter", "year"]
GRIDS: tuple[RollupKind, ...] = ("week", "month", "quarter", "year")
STATE_NAME = "stats_rollup"
# Rows for every team together, '' included (the admins' all-teams view): it reads a
# period's few thousand keys instead of 300 teams' rows. Never a team id (those are
# content.loader.TEAM_ID_RE: a lowercase letter, then letters, digits, _).
ALL_TEAMS = "*"
SeriesGrain = Literal["day", "month"]

# A day's period start per grid, in each dialect's SQL (``d`` a DATE column or value).
_START_PG: dict[RollupKind, str] = {
    "week": "CAST(date_trunc('week', {d}) AS DATE)",
    "month": "CAST(date_trunc('month', {d}) AS DATE)",
    "quarter": "CAST(date_trunc('quarter', {d}) AS DATE)",
    "year": "CAST(date_trunc('year', {d}) AS DATE)",
}
# SQLite keeps a DATE as 'YYYY-MM-DD'; 'weekday 0' moves to the coming Sunday (or stays).
_START_SQLITE: dict[RollupKind, str] = {
    "week": "date({d}, 'weekday 0', '-6 days')",
    "month": "date({d}, 'start of month')",
    "quarter": "strftime('%Y', {d}) || '-' || printf('%02d', "
    "((CAST(strftime('%m', {d}) AS INTEGER) - 1) / 3) * 3 + 1) || '-01'",
    "year": "date({d}, 'start of year')",
}
_UPSERT = (
    " ON CONFLICT (period_kind, period_start, team_id, kind, key)"
    " DO UPDATE SET count = stats_rollup.count + excluded.count"
)
_DAYS = text(
    "INSERT INTO stats_rollup (period_kind, period_start, team_id, kind, key, count) "
    "SELECT 'day', day, team_id, kind, key, sum(count) FROM stats_counter "
    "WHERE day > :after AND day <= :through GROUP BY day, team_id, kind, key" + _UPSERT
).bindparams(bindparam("after", type_=Date), bindparam("through", type_=Date))
# The same days for all teams together (team_id ALL_TEAMS), for the all-teams report.
_ALL_DAYS = text(
    "INSERT INTO stats_rollup (period_kind, period_start, team_id, kind, key, count) "
    "SELECT 'day', day, :all, kind, key, sum(count) FROM stats_counter "
    "WHERE day > :after AND day <= :through GROUP BY day, kind, key" + _UPSERT
).bindparams(bindparam("after", type_=Date), bindparam("through", type_=Date))


def _grid_statement(dialect: str, kind: RollupKind) -> Any:
    start = (_START_PG if dialect == "postgresql" else _START_SQLITE)[kind].format(d="period_start")
    return text(
        "INSERT INTO stats_rollup (period_kind, period_start, team_id, kind, key, count) "
        f"SELECT '{kind}', {start}, team_id, kind, key, sum(count) FROM stats_rollup "
        "WHERE period_kind = 'day' AND period_start > :after AND period_start <= :through "
        f"GROUP BY {start}, team_id, kind, key" + _UPSERT
    ).bindparams(bindparam("after", type_=Date), bindparam("through", type_=Date))


def _insert(conn: AsyncConnection) -> Any:
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


async def rolled_through(conn: AsyncConnection) -> date | None:
    """The last counter day in the rollups (None: nothing rolled up yet)."""
    result = await conn.execute(
        select(state_table.c.through).where(state_table.c.name == STATE_NAME)
    )
    value = result.scalar_one_or_none()
    return None if value is None else _as_date(value)


async def roll_up(conn: AsyncConnection, through: date) -> int:
    """Add every counter day in (watermark, through] to its day/week/month/quarter/year
    rows and set the watermark to ``through``; the number of counter days rolled up.

    In the caller's transaction, under the "stats_fold" lock (see the module docstring).
    """
    await locks.wait_xact_lock(conn, "stats_fold")
    after = await rolled_through(conn)
    if after is not None and after >= through:
        return 0
    bounds = {"after": after or date.min, "through": through}
    await conn.execute(_DAYS, bounds)
    await conn.execute(_ALL_DAYS, {**bounds, "all": ALL_TEAMS})
    for kind in GRIDS:
        await conn.execute(_grid_statement(conn.dialect.name, kind), bounds)
    statement = _insert(conn)(state_table).values(name=STATE_NAME, through=through)
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=["name"], set_={"through": statement.excluded.through}
        )
    )
    days = await conn.execute(
        select(func.count(func.distinct(r.period_start))).where(
            r.period_kind == "day", r.period_start > bounds["after"], r.period_start <= through
        )
    )
    return int(days.scalar_one())


# --- the grid, for reading ------------------------------------------------------------


def period_of(kind: RollupKind, day: date) -> tuple[date, date]:
    """(first, last day) of the ``kind`` period holding ``day`` (as stats_model.Period)."""
    if kind == "day":
        return day, day
    if kind == "week":
        first = day - timedelta(days=day.weekday())
        return first, first + timedelta(days=6)
    if kind == "month":
        return day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1])
    if kind == "quarter":
        month = 3 * ((day.month - 1) // 3) + 1
        last = calendar.monthrange(day.year, month + 2)[1]
        return date(day.year, month, 1), date(day.year, month + 2, last)
    return date(day.year, 1, 1), date(day.year, 12, 31)


def cover(
    start: date, end: date, kinds: Sequence[RollupKind] = ("year", "quarter", "month", "week")
) -> list[tuple[RollupKind, date]]:
    """``start``..``end`` (inclusive) as few whole periods as the greedy finds: at each day
    the largest of ``kinds`` that starts there and ends by ``end``, else the day itself."""
    out: list[tuple[RollupKind, date]] = []
    day = start
    while day <= end:
        for kind in kinds:
            first, last = period_of(kind, day)
            if first == day and last <= end:
                out.append((kind, day))
                day = last + timedelta(days=1)
                break
        else:
            out.append(("day", day))
            day += timedelta(days=1)
    return out


def _pieces_where(pieces: Sequence[tuple[RollupKind, date]]) -> Any:
    """The rows of ``pieces``; runs of days as ranges (a month of days is one condition)."""
    by_kind: dict[str, list[date]] = {}
    runs: list[list[date]] = []  # [first, last] of consecutive days
    for kind, first in pieces:
        if kind != "day":
            by_kind.setdefault(kind, []).append(first)
        elif runs and runs[-1][1] + timedelta(days=1) == first:
            runs[-1][1] = first
        else:
            runs.append([first, first])
    return or_(
        *(
            and_(r.period_kind == kind, r.period_start.in_(starts))
            for kind, starts in sorted(by_kind.items())
        ),
        *(and_(r.period_kind == "day", r.period_start >= a, r.period_start <= b) for a, b in runs),
    )


async def sums(
    conn: AsyncConnection,
    by: Sequence[str],
    pieces: Sequence[tuple[RollupKind, date]],
    team_ids: Collection[str] | None,
    kinds: Sequence[str],
) -> list[tuple[Any, ...]]:
    """(*by, sum of count) over the rollup rows of ``pieces`` (from ``cover``), the kinds
    and teams (None: all, '' included), grouped by ``by`` (column names).

    All teams (None) read the ALL_TEAMS rows, unless grouped by team (then every team's)."""
    if not pieces or not kinds or (team_ids is not None and not team_ids):
        return []
    columns = [r[name] for name in by]
    statement = (
        select(*columns, func.sum(r["count"]))
        .where(_pieces_where(pieces), r.kind.in_(list(kinds)))
        .group_by(*columns)
    )
    if team_ids is not None:
        statement = statement.where(r.team_id.in_(sorted(team_ids)))
    elif "team_id" in by:
        statement = statement.where(r.team_id != ALL_TEAMS)
    else:
        statement = statement.where(r.team_id == ALL_TEAMS)
    return [(*row[:-1], int(row[-1])) for row in await conn.execute(statement)]


async def series(
    conn: AsyncConnection,
    start: date,
    end: date,
    team_ids: Collection[str] | None,
    kinds: Sequence[str],
    grain: SeriesGrain = "day",
) -> list[tuple[date, str, int]]:
    """(day, kind, sum) for ``start``..``end`` (all rolled up): one row per day, or with
    ``grain`` 'month' one per whole month dated its first day (and days where a month is
    cut), for series whose rows are months."""
    pieces = cover(start, end, ("month",) if grain == "month" else ())
    rows = await sums(conn, ["period_start", "kind"], pieces, team_ids, kinds)
    return [(_as_date(first), kind, n) for first, kind, n in rows]


# --- counters written for a day already rolled up --------------------------------------


async def before_counts(conn: AsyncConnection, first_day: date) -> date | None:
    """Call before adding counters whose earliest day is ``first_day``; the watermark.

    A day can be rolled up while another process still writes to it (its flush just after
    midnight) or after a test or tool wrote past days: those increments go to the rollups
    too (``add_late``). Where a roll-up could run meanwhile (nothing rolled up yet, or
    ``first_day`` at most the day after the watermark), this waits for the "stats_fold"
    lock first (PostgreSQL), before any counter row is written, so the watermark read is
    the one that holds at commit.
    """
    through = await rolled_through(conn)
    if through is None or first_day <= through + timedelta(days=1):
        await locks.wait_xact_lock(conn, "stats_fold")
        through = await rolled_through(conn)
    return through


async def add_late(
    conn: AsyncConnection,
    increments: Mapping[tuple[date, str, str, str, str], int],
    through: date | None,
) -> None:
    """Add the increments of days up to ``through`` (the watermark from ``before_counts``)
    to their rollup rows, per team and for all teams, like ``roll_up`` would have."""
    if through is None:
        return
    cells: dict[tuple[str, date, str, str, str], int] = {}
    for (day, team, _language, kind, key), n in increments.items():
        if day > through:
            continue
        for period in ("day", *GRIDS):
            first, _ = period_of(period, day)
            for who in (team, ALL_TEAMS):
                cell = (period, first, who, kind, key)
                cells[cell] = cells.get(cell, 0) + n
    if not cells:
        return
    rows = [
        {"period_kind": p, "period_start": s, "team_id": t, "kind": k, "key": key, "count": n}
        for (p, s, t, k, key), n in sorted(cells.items())
    ]
    statement = _insert(conn)(rollup_table)
    statement = statement.on_conflict_do_update(
        index_elements=["period_kind", "period_start", "team_id", "kind", "key"],
        set_={"count": rollup_table.c.count + statement.excluded.count},
    )
    await conn.execute(statement, rows)
