"""SQL for one-time set-password links (``staff_invite``, migration 0010) and what the
admin's account list shows beside each account (second factor on, last sign-in).

Rows are found by a keyed digest of the link's random token (the service computes it);
the table never holds the token. A link is used once: ``use`` is one compare-and-set
``UPDATE ... WHERE used_at IS NULL AND expires_at > now`` that only one request can win.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage.models import AuditEvent, StaffInvite, StaffMfa, table_of

invites = table_of(StaffInvite)
mfa = table_of(StaffMfa)
audit = table_of(AuditEvent)

# The audit actions that mean "signed in" (password, code after it, single sign-on).
SIGN_IN_ACTIONS = ("signin", "2fa_signin", "2fa_recovery_used", "sso_signin")


async def insert_invite(
    conn: AsyncConnection,
    *,
    digest: str,
    staff_id: int,
    created_by: str,
    now: datetime,
    expires_at: datetime,
) -> None:
    await conn.execute(
        insert(invites).values(
            digest=digest,
            staff_id=staff_id,
            created_by=created_by[:64],
            created_at=now,
            expires_at=expires_at,
        )
    )


async def revoke_for_account(conn: AsyncConnection, staff_id: int) -> int:
    """The account's links not yet used stop working (a newer link replaces them)."""
    statement = delete(invites).where(invites.c.staff_id == staff_id, invites.c.used_at.is_(None))
    return int((await conn.execute(statement)).rowcount)


async def valid_staff_id(
    conn: AsyncConnection, digests: Sequence[str], now: datetime
) -> int | None:
    """The account a link is for while it is unused and unexpired, else None."""
    result = await conn.execute(
        select(invites.c.staff_id).where(
            invites.c.digest.in_(list(digests)),
            invites.c.used_at.is_(None),
            invites.c.expires_at > now,
        )
    )
    found = result.scalars().first()
    return None if found is None else int(found)


async def use(conn: AsyncConnection, digests: Sequence[str], now: datetime) -> int | None:
    """Compare-and-set: marks the link used and gives its account; None if another request
    used it first, or it expired, or it never was."""
    result = await conn.execute(
        update(invites)
        .where(
            invites.c.digest.in_(list(digests)),
            invites.c.used_at.is_(None),
            invites.c.expires_at > now,
        )
        .values(used_at=now)
        .returning(invites.c.staff_id)
    )
    found = result.scalars().first()
    return None if found is None else int(found)


async def delete_expired(conn: AsyncConnection, before: datetime) -> int:
    """Links past their expiry (used or not) are forgotten."""
    return int((await conn.execute(delete(invites).where(invites.c.expires_at < before))).rowcount)


async def with_second_factor(conn: AsyncConnection) -> set[int]:
    """Accounts whose second factor is confirmed (on)."""
    result = await conn.execute(select(mfa.c.staff_id).where(mfa.c.confirmed.is_(True)))
    return {int(staff_id) for staff_id in result.scalars().all()}


async def last_sign_ins(conn: AsyncConnection) -> dict[str, datetime]:
    """Per username, the newest sign-in the audit log still holds (it is purged in time)."""
    result = await conn.execute(
        select(audit.c.staff, func.max(audit.c.at))
        .where(audit.c.action.in_(SIGN_IN_ACTIONS))
        .group_by(audit.c.staff)
    )
    return {str(staff): at for staff, at in result.all() if at is not None}
