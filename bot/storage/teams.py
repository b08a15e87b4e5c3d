"""SQL for team settings: an admin's languages served and opening hours over a team's file.

One ``team_setting`` row per team with overrides (migration 0011); no row means the file's
values. ``overrides`` is JSON text, read and written whole by ``bot.services.teams``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage.models import AuditEvent, TeamSetting, table_of

settings = table_of(TeamSetting)
audit = table_of(AuditEvent)


@dataclass(frozen=True, slots=True)
class TeamSettingRow:
    team_id: str
    overrides: str  # JSON
    changed_by: str
    changed_at: datetime


async def all_rows(conn: AsyncConnection) -> list[TeamSettingRow]:
    result = await conn.execute(select(settings).order_by(settings.c.team_id))
    return [TeamSettingRow(**row) for row in result.mappings()]


async def save(
    conn: AsyncConnection, team_id: str, overrides: str, staff: str, at: datetime
) -> None:
    """Insert or replace the team's row; a concurrent first insert makes this an update."""
    values = {"overrides": overrides, "changed_by": staff, "changed_at": at}
    changed = update(settings).where(settings.c.team_id == team_id).values(**values)
    if (await conn.execute(changed)).rowcount:
        return
    try:
        async with conn.begin_nested():
            await conn.execute(insert(settings).values(team_id=team_id, **values))
    except IntegrityError:  # another admin's first save won the insert: ours comes after
        await conn.execute(changed)


async def remove(conn: AsyncConnection, team_id: str) -> bool:
    """Back to the file's values; False when there was nothing to remove."""
    done = await conn.execute(delete(settings).where(settings.c.team_id == team_id))
    return done.rowcount > 0


async def record_change(
    conn: AsyncConnection, at: datetime, staff: str, action: str, team_id: str
) -> None:
    """One audit row: who changed which field of which team, when (never the source text)."""
    await conn.execute(insert(audit).values(at=at, staff=staff, action=action, team_id=team_id))
