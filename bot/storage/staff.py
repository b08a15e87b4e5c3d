"""SQL for staff accounts and their team memberships; accounts come back as ``AccountRow``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Result
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import Role
from bot.storage.models import StaffAccount, StaffTeam, table_of

accounts = table_of(StaffAccount)
memberships = table_of(StaffTeam)


@dataclass(frozen=True, slots=True)
class AccountRow:
    id: int
    username: str
    password_hash: str
    role: Role
    active: bool
    display_name: str | None
    created_at: datetime


def _accounts(result: Result[Any]) -> list[AccountRow]:
    return [AccountRow(**mapping) for mapping in result.mappings()]


async def insert_account(conn: AsyncConnection, values: dict[str, Any]) -> int | None:
    """The new account's id; None when the username is taken (also by a concurrent insert)."""
    try:
        async with conn.begin_nested():
            result = await conn.execute(insert(accounts).values(**values).returning(accounts.c.id))
    except IntegrityError:
        return None
    return int(result.scalar_one())


async def by_username(conn: AsyncConnection, username: str) -> AccountRow | None:
    found = _accounts(await conn.execute(select(accounts).where(accounts.c.username == username)))
    return found[0] if found else None


async def by_id(conn: AsyncConnection, staff_id: int) -> AccountRow | None:
    found = _accounts(await conn.execute(select(accounts).where(accounts.c.id == staff_id)))
    return found[0] if found else None


async def teams_of(conn: AsyncConnection, staff_id: int) -> frozenset[str]:
    result = await conn.execute(
        select(memberships.c.team_id).where(memberships.c.staff_id == staff_id)
    )
    return frozenset(result.scalars().all())


async def all_memberships(conn: AsyncConnection) -> dict[int, set[str]]:
    found: dict[int, set[str]] = {}
    for staff_id, team_id in (await conn.execute(select(memberships))).all():
        found.setdefault(int(staff_id), set()).add(team_id)
    return found


async def replace_teams(conn: AsyncConnection, staff_id: int, teams: Iterable[str]) -> None:
    await conn.execute(delete(memberships).where(memberships.c.staff_id == staff_id))
    rows = [{"staff_id": staff_id, "team_id": team} for team in sorted(set(teams))]
    if rows:
        await conn.execute(insert(memberships), rows)


async def update_account(conn: AsyncConnection, username: str, **values: Any) -> int:
    statement = update(accounts).where(accounts.c.username == username).values(**values)
    return int((await conn.execute(statement)).rowcount)


async def all_accounts(conn: AsyncConnection) -> list[AccountRow]:
    return _accounts(await conn.execute(select(accounts).order_by(accounts.c.username)))


def account_values(
    username: str, password_hash: str, role: str, display_name: str | None, now: datetime
) -> dict[str, Any]:
    return {
        "username": username,
        "password_hash": password_hash,
        "role": role,
        "active": True,
        "display_name": display_name,
        "created_at": now,
    }
