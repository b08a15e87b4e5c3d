"""Aggregate SQL for statistics reports: sums grouped in the database, never raw rows.

A year for ten teams is about a million daily cells; grouping in SQL returns a few
thousand sums, so the report stays well under a second on SQLite and PostgreSQL.
``team_ids`` None means every team including '' (no municipality chosen): the admins'
all-teams view. The caller reads a report's sums in one ``Database.snapshot_tx``, so the
same figure in two tables is the same number.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage import stats as stats_db
from bot.storage import stats_rollup as rollup
from bot.storage.stats import counter_table

c = counter_table.c


@dataclass(frozen=True)
class ReportSums:
    daily: list[tuple[date, str, int]]  # (day, kind, sum): the series over time
    keyed: list[tuple[str, str, int]]  # (kind, key, sum) over the whole period
    by_team: list[tuple[str, str, int]] | None  # (team_id, kind, sum), when asked for


async def report_sums(
    conn: AsyncConnection,
    start: date,
    end: date,
    team_ids: Collection[str] | None,
    *,
    series_kinds: list[str],
    keyed_kinds: list[str],
    team_kinds: list[str] | None = None,
    series_grain: rollup.SeriesGrain = "day",
) -> ReportSums:
    """Every sum one report needs, for a period (inclusive) and teams (None: all).

    Days up to the rollups' watermark are read from ``stats_rollup`` (whole grid periods;
    the series from 'day' rows, or with ``series_grain`` 'month' from whole months dated
    their first day, for series whose rows are months), later days from the counters.
    Today's distinct relatives and started conversations are still digests (folded into
    counters the next day): their counts are added here, so today is not shown as 0.
    """
    through = await rollup.rolled_through(conn)
    raw_start = start
    daily: list[tuple[Any, ...]] = []
    keyed: list[tuple[Any, ...]] = []
    teams: list[tuple[Any, ...]] | None = None if team_kinds is None else []
    if through is not None and through >= start:
        rolled_end = min(end, through)
        raw_start = rolled_end + timedelta(days=1)
        pieces = rollup.cover(start, rolled_end)
        if series_kinds:
            daily = await rollup.series(
                conn, start, rolled_end, team_ids, series_kinds, series_grain
            )
        keyed = await rollup.sums(conn, ["kind", "key"], pieces, team_ids, keyed_kinds)
        if team_kinds is not None:
            teams = await rollup.sums(conn, ["team_id", "kind"], pieces, team_ids, team_kinds)
    if raw_start <= end:
        period = (raw_start, end, team_ids)
        if series_kinds:
            daily = _add(daily, await _sums(conn, [c.day, c.kind], *period, series_kinds))
        keyed = _add(keyed, await _sums(conn, [c.kind, c.key], *period, keyed_kinds))
        if team_kinds is not None:
            more = await _sums(conn, [c.team_id, c.kind], *period, team_kinds)
            teams = _add(teams or [], more)
    live = [
        row
        for row in await stats_db.derived_counts(conn, start, end)
        if team_ids is None or row[1] in team_ids
    ]
    daily_sums = _add(
        [(_as_date(day), kind, n) for day, kind, n in daily],
        [(day, kind, n) for day, _, kind, n in live if kind in series_kinds],
    )
    keyed_sums = _add(
        [(kind, key, n) for kind, key, n in keyed],
        [(kind, "", n) for _, _, kind, n in live if kind in keyed_kinds],
    )
    team_sums = None
    if teams is not None:
        team_sums = _add(
            [(team, kind, n) for team, kind, n in teams],
            [(team, kind, n) for _, team, kind, n in live if kind in (team_kinds or ())],
        )
    return ReportSums(daily_sums, keyed_sums, team_sums)


def _add(
    rows: list[tuple[Any, str, int]], more: list[tuple[Any, str, int]]
) -> list[tuple[Any, str, int]]:
    """Sums keyed by their first two fields, ``more`` added (order kept, new keys last)."""
    if not more:
        return rows
    out: dict[tuple[Any, str], int] = {(a, b): n for a, b, n in rows}
    for a, b, n in more:
        out[(a, b)] = out.get((a, b), 0) + n
    return [(a, b, n) for (a, b), n in out.items()]


async def _sums(
    conn: AsyncConnection,
    by: list[Any],
    start: date,
    end: date,
    team_ids: Collection[str] | None,
    kinds: list[str],
) -> list[tuple[Any, ...]]:
    """(*by, sum of count) for the period, kinds and teams, grouped by ``by``."""
    if not kinds or (team_ids is not None and not team_ids):
        return []
    statement = (
        select(*by, func.sum(c["count"]))
        .where(c.day >= start, c.day <= end, c.kind.in_(kinds))
        .group_by(*by)
    )
    if team_ids is not None:
        statement = statement.where(c.team_id.in_(sorted(team_ids)))
    return [(*row[:-1], int(row[-1])) for row in await conn.execute(statement)]


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
