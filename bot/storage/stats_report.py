"""Aggregate SQL for statistics reports: sums grouped in the database, never raw rows.

A year for ten teams is about a million daily cells; grouping in SQL returns a few
thousand sums, so the report stays well under a second on SQLite and PostgreSQL.
``team_ids`` None means every team including '' (no municipality chosen): the admins'
all-teams view.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Select

from bot.storage.stats import counter_table

c = counter_table.c


def _where(
    statement: Select, start: date, end: date, team_ids: Collection[str] | None, kinds: list[str]
) -> Select:
    statement = statement.where(c.day >= start, c.day <= end, c.kind.in_(kinds))
    if team_ids is not None:
        statement = statement.where(c.team_id.in_(sorted(team_ids)))
    return statement


async def daily_sums(
    conn: AsyncConnection,
    start: date,
    end: date,
    team_ids: Collection[str] | None,
    kinds: list[str],
) -> list[tuple[date, str, int]]:
    """(day, kind, sum) for the series over time."""
    if team_ids is not None and not team_ids:
        return []
    statement = _where(
        select(c.day, c.kind, func.sum(c["count"])), start, end, team_ids, kinds
    ).group_by(c.day, c.kind)
    result = await conn.execute(statement)
    return [(_as_date(r[0]), r[1], int(r[2])) for r in result]


async def keyed_sums(
    conn: AsyncConnection,
    start: date,
    end: date,
    team_ids: Collection[str] | None,
    kinds: list[str],
) -> list[tuple[str, str, int]]:
    """(kind, key, sum) over the whole period."""
    if team_ids is not None and not team_ids:
        return []
    statement = _where(
        select(c.kind, c.key, func.sum(c["count"])), start, end, team_ids, kinds
    ).group_by(c.kind, c.key)
    result = await conn.execute(statement)
    return [(r[0], r[1], int(r[2])) for r in result]


async def team_sums(
    conn: AsyncConnection,
    start: date,
    end: date,
    team_ids: Collection[str] | None,
    kinds: list[str],
) -> list[tuple[str, str, int]]:
    """(team_id, kind, sum) over the whole period, for the per-team table."""
    if team_ids is not None and not team_ids:
        return []
    statement = _where(
        select(c.team_id, c.kind, func.sum(c["count"])), start, end, team_ids, kinds
    ).group_by(c.team_id, c.kind)
    result = await conn.execute(statement)
    return [(r[0], r[1], int(r[2])) for r in result]


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
