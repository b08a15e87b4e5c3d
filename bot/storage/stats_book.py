"""What the protected figures of every report are built from (``bot.services.protected``).

Day sums per team and kind up to a closed day (never a day still being counted), with
the digests not folded yet added, and the team sets of coordinators who see several teams
(their overview is a unit of its own). Sums only: no row here can name a person.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage import stats as stats_db
from bot.storage import stats_rollup
from bot.storage.staff import accounts, memberships
from bot.storage.stats import counter_table

c = counter_table.c
r = stats_rollup.rollup_table.c


async def day_counts(
    conn: AsyncConnection, through: date, kinds: Collection[str]
) -> list[tuple[date, str, str, int]]:
    """(day, team_id, kind, sum over languages) for every day up to ``through``.

    The rolled-up days come from the rollups' 'day' rows (one row per team and kind, not
    per language and key), the days after the watermark from the counters themselves.
    """
    watermark = await stats_rollup.rolled_through(conn)
    rolled = min(watermark, through) if watermark is not None else None
    rows: list[tuple[date, str, str, int]] = []
    if rolled is not None:
        statement = (
            select(r.period_start, r.team_id, r.kind, func.sum(r["count"]))
            .where(
                r.period_kind == "day",
                r.period_start <= rolled,
                r.team_id != stats_rollup.ALL_TEAMS,
                r.kind.in_(sorted(kinds)),
            )
            .group_by(r.period_start, r.team_id, r.kind)
        )
        rows += [
            (_as_date(day), team, kind, int(n))
            for day, team, kind, n in await conn.execute(statement)
        ]
    statement = (
        select(c.day, c.team_id, c.kind, func.sum(c["count"]))
        .where(c.day <= through, c.kind.in_(sorted(kinds)))
        .group_by(c.day, c.team_id, c.kind)
    )
    if rolled is not None:
        statement = statement.where(c.day > rolled)
    rows += [
        (_as_date(day), team, kind, int(n)) for day, team, kind, n in await conn.execute(statement)
    ]
    first = min((row[0] for row in rows), default=through)
    rows += [row for row in await stats_db.derived_counts(conn, first, through) if row[2] in kinds]
    return rows


async def coordinator_team_sets(conn: AsyncConnection) -> list[frozenset[str]]:
    """The team sets of active coordinators with more than one team."""
    a, m = accounts.c, memberships.c
    statement = (
        select(m.staff_id, m.team_id)
        .join(accounts, a.id == m.staff_id)
        .where(a.role == "coordinator", a.active.is_(True))
    )
    sets: dict[int, set[str]] = {}
    for staff_id, team in await conn.execute(statement):
        sets.setdefault(int(staff_id), set()).add(team)
    return [frozenset(s) for s in sets.values() if len(s) > 1]


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
