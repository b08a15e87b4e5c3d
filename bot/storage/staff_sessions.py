"""SQL for staff sessions (``staff_session``): one row per signed-in browser or API token.

Rows are found by a keyed digest of the random id the cookie or token carries (the
service computes it); the table never holds the id itself, an address or a full
user-agent string.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import Role
from bot.storage.models import StaffAccount, StaffSession, table_of

sessions = table_of(StaffSession)
accounts = table_of(StaffAccount)


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A session with what the request needs of its account (one joined read)."""

    digest: str
    staff_id: int
    kind: str
    created_at: datetime
    last_active_at: datetime
    expires_at: datetime
    username: str
    role: Role
    active: bool
    display_name: str | None


async def insert_session(
    conn: AsyncConnection,
    *,
    digest: str,
    staff_id: int,
    kind: str,
    now: datetime,
    expires_at: datetime,
    agent: str,
) -> None:
    await conn.execute(
        insert(sessions).values(
            digest=digest,
            staff_id=staff_id,
            kind=kind,
            created_at=now,
            last_active_at=now,
            expires_at=expires_at,
            agent=agent,
        )
    )


async def find(conn: AsyncConnection, digests: Sequence[str], kind: str) -> SessionRow | None:
    """The session under any of ``digests`` (one per key, newest first) with its account.

    One statement on the primary key joined to the account's primary key.
    """
    statement = (
        select(
            sessions.c.digest,
            sessions.c.staff_id,
            sessions.c.kind,
            sessions.c.created_at,
            sessions.c.last_active_at,
            sessions.c.expires_at,
            accounts.c.username,
            accounts.c.role,
            accounts.c.active,
            accounts.c.display_name,
        )
        .join(accounts, accounts.c.id == sessions.c.staff_id)
        .where(sessions.c.digest.in_(list(digests)), sessions.c.kind == kind)
        .limit(1)
    )
    found = (await conn.execute(statement)).mappings().first()
    return SessionRow(**found) if found is not None else None


async def touch(conn: AsyncConnection, digest: str, new_digest: str, active: datetime) -> None:
    """The idle clock set to ``active``, and the row under the newest key's digest."""
    await conn.execute(
        update(sessions)
        .where(sessions.c.digest == digest)
        .values(digest=new_digest, last_active_at=active)
    )


async def delete_one(conn: AsyncConnection, digests: Sequence[str]) -> int:
    result = await conn.execute(delete(sessions).where(sessions.c.digest.in_(list(digests))))
    return int(result.rowcount)


async def delete_for_account(conn: AsyncConnection, staff_id: int, keep: Sequence[str] = ()) -> int:
    """Every session of the account, except those under ``keep`` digests."""
    statement = delete(sessions).where(sessions.c.staff_id == staff_id)
    if keep:
        statement = statement.where(sessions.c.digest.not_in(list(keep)))
    return int((await conn.execute(statement)).rowcount)


async def delete_expired(conn: AsyncConnection, now: datetime, idle_before: datetime) -> int:
    """Sessions past their absolute limit or idle since before ``idle_before``."""
    statement = delete(sessions).where(
        or_(sessions.c.expires_at <= now, sessions.c.last_active_at < idle_before)
    )
    return int((await conn.execute(statement)).rowcount)


async def count_for_account(conn: AsyncConnection, staff_id: int) -> int:
    statement = select(sessions.c.digest).where(sessions.c.staff_id == staff_id)
    return len((await conn.execute(statement)).all())
