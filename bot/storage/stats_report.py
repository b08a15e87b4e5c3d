"""Aggregate SQL for statistics reports: sums grouped in the database, never raw rows.

A year for ten teams is about a million daily cells; grouping in SQL returns a few
thousand sums, so the report stays well under a second on SQLite and PostgreSQL.
``team_ids`` None means every team including '' (no municipality chosen): the admins'
all-teams view. Every figure of one report is read in one ``Database.snapshot_tx``.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage.stats import counter_table

c = counter_table.c


async def _sums(
    conn: AsyncConnection,
    by: list[Any],
    start: date,
    end: date,
    team_ids: Collection[str] | None,
    kinds: list[str],
) -> list[tuple[Any, ...]]:
    """(*by, sum of count) for the period (inclusive), kinds and teams, grouped by ``by``."""
    if team_ids is not None and not team_ids:
        return []
    statement = (
        select(*by, func.sum(c["count"]))
        .where(c.day >= start, c.day <= end, c.kind.in_(kinds))
        .group_by(*by)
    )
    if team_ids is not None:
        statement = statement.where(c.team_id.in_(sorted(team_ids)))
    return [(*row[:-1], int(row[-1])) for row in await conn.execute(statement)]


async def daily_sums(
    conn: AsyncConnection,
    start: date,
    end: date,
    team_ids: Collection[str] | None,
    kinds: list[str],
) -> list[tuple[date, str, int]]:
    """(day, kind, sum) for the series over time."""
    rows = await _sums(conn, [c.day, c.kind], start, end, team_ids, kinds)
    return [(_as_date(day), kind, n) for day, kind, n in rows]


async def keyed_sums(
    conn: AsyncConnection,
    start: date,
    end: date,
    team_ids: Collection[str] | None,
    kinds: list[str],
) -> list[tuple[str, str, int]]:
    """(kind, key, sum) over the whole period."""
    rows = await _sums(conn, [c.kind, c.key], start, end, team_ids, kinds)
    return [(kind, key, n) for kind, key, n in rows]


async def team_sums(
    conn: AsyncConnection,
    start: date,
    end: date,
    team_ids: Collection[str] | None,
    kinds: list[str],
) -> list[tuple[str, str, int]]:
    """(team_id, kind, sum) over the whole period, for the per-team table."""
    rows = await _sums(conn, [c.team_id, c.kind], start, end, team_ids, kinds)
    return [(team, kind, n) for team, kind, n in rows]


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
