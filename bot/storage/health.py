"""SQL for health and metrics: a trivial query and the queue per team.

Only counts and ages leave this module: never a case code, a text or a staff name, so
what ``/metrics`` and ``/health/ready`` say identifies nobody.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import ACTIVE_STATUSES
from bot.storage.models import CaseRequest, table_of

case_table = table_of(CaseRequest)


async def ping(conn: AsyncConnection) -> None:
    """The database answers a statement at all."""
    await conn.execute(text("SELECT 1"))


@dataclass(frozen=True)
class TeamQueue:
    """One team's active requests: how many, how many wait unclaimed, the oldest waiting."""

    team_id: str
    active: int  # open or claimed
    waiting: int  # open, nobody has claimed it
    oldest_waiting: datetime | None


async def queue_by_team(conn: AsyncConnection) -> list[TeamQueue]:
    """Per team, in one statement: active and waiting counts and the oldest waiting request."""
    c = case_table.c
    is_waiting = c.status == "open"
    stmt = (
        select(
            c.team_id,
            func.count(),
            func.count().filter(is_waiting),
            func.min(c.created_at).filter(is_waiting),
        )
        .where(c.status.in_(ACTIVE_STATUSES))
        .group_by(c.team_id)
        .order_by(c.team_id)
    )
    rows = (await conn.execute(stmt)).all()
    return [TeamQueue(team, int(n), int(waiting), oldest) for team, n, waiting, oldest in rows]
