"""SQL for the second factor (TOTP, recovery codes) and single sign-on identities.

Nothing here holds a secret in clear: the TOTP secret arrives sealed, recovery codes as
keyed digests, identities as the provider's issuer and subject (no e-mail).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage.models import StaffIdentity, StaffMfa, StaffRecoveryCode, table_of

mfa = table_of(StaffMfa)
recovery = table_of(StaffRecoveryCode)
identities = table_of(StaffIdentity)


@dataclass(frozen=True, slots=True)
class MfaRow:
    staff_id: int
    secret_sealed: str
    confirmed: bool
    last_step: int


async def mfa_of(conn: AsyncConnection, staff_id: int) -> MfaRow | None:
    result = await conn.execute(
        select(mfa.c.staff_id, mfa.c.secret_sealed, mfa.c.confirmed, mfa.c.last_step).where(
            mfa.c.staff_id == staff_id
        )
    )
    row = result.first()
    return MfaRow(int(row[0]), str(row[1]), bool(row[2]), int(row[3])) if row else None


async def start_enrolment(
    conn: AsyncConnection, staff_id: int, secret_sealed: str, now: datetime
) -> bool:
    """A new unconfirmed secret (replacing an unconfirmed one); False if one is confirmed."""
    current = await mfa_of(conn, staff_id)
    if current is not None and current.confirmed:
        return False
    await conn.execute(delete(mfa).where(mfa.c.staff_id == staff_id))
    await conn.execute(
        insert(mfa).values(
            staff_id=staff_id,
            secret_sealed=secret_sealed,
            confirmed=False,
            last_step=0,
            created_at=now,
        )
    )
    return True


async def confirm(conn: AsyncConnection, staff_id: int, step: int, now: datetime) -> bool:
    """Confirm the enrolment with the first code's step; False if someone got there first."""
    statement = (
        update(mfa)
        .where(mfa.c.staff_id == staff_id, mfa.c.confirmed.is_(False))
        .values(confirmed=True, confirmed_at=now, last_step=step)
    )
    return int((await conn.execute(statement)).rowcount) == 1


async def use_step(conn: AsyncConnection, staff_id: int, step: int) -> bool:
    """Accept a code's time step once: compare-and-set on the last accepted step."""
    statement = (
        update(mfa)
        .where(mfa.c.staff_id == staff_id, mfa.c.confirmed.is_(True), mfa.c.last_step < step)
        .values(last_step=step)
    )
    return int((await conn.execute(statement)).rowcount) == 1


async def reseal(conn: AsyncConnection, staff_id: int, old: str, new: str) -> bool:
    """The secret sealed anew (key rotation), only if it is still the one that was read;
    False when it changed meanwhile (a new enrolment, a reset, a sign-in's own re-seal)."""
    result = await conn.execute(
        update(mfa)
        .where(mfa.c.staff_id == staff_id, mfa.c.secret_sealed == old)
        .values(secret_sealed=new)
    )
    return int(result.rowcount) == 1


async def sealed_after(conn: AsyncConnection, after: int, limit: int) -> list[tuple[int, str]]:
    """Up to ``limit`` (staff id, sealed secret) pairs after ``after``, by staff id: the
    secrets ``python -m bot rekey`` re-seals (confirmed or still being set up)."""
    result = await conn.execute(
        select(mfa.c.staff_id, mfa.c.secret_sealed)
        .where(mfa.c.staff_id > after)
        .order_by(mfa.c.staff_id)
        .limit(limit)
    )
    return [(int(staff_id), str(sealed)) for staff_id, sealed in result]


async def replace_recovery_codes(
    conn: AsyncConnection, staff_id: int, digests: Iterable[str]
) -> None:
    await conn.execute(delete(recovery).where(recovery.c.staff_id == staff_id))
    rows = [{"staff_id": staff_id, "digest": d, "used_at": None} for d in digests]
    if rows:
        await conn.execute(insert(recovery), rows)


async def use_recovery_code(
    conn: AsyncConnection, staff_id: int, digests: Iterable[str], now: datetime
) -> bool:
    """Spend an unused code matching one of ``digests`` (one per key); True if one was."""
    statement = (
        update(recovery)
        .where(
            recovery.c.staff_id == staff_id,
            recovery.c.digest.in_(list(digests)),
            recovery.c.used_at.is_(None),
        )
        .values(used_at=now)
    )
    return int((await conn.execute(statement)).rowcount) >= 1


async def unused_recovery_codes(conn: AsyncConnection, staff_id: int) -> int:
    result = await conn.execute(
        select(recovery.c.digest).where(
            recovery.c.staff_id == staff_id, recovery.c.used_at.is_(None)
        )
    )
    return len(result.all())


async def delete_second_factor(conn: AsyncConnection, staff_id: int) -> bool:
    """Remove the TOTP secret and recovery codes; True if there was a secret."""
    await conn.execute(delete(recovery).where(recovery.c.staff_id == staff_id))
    return int((await conn.execute(delete(mfa).where(mfa.c.staff_id == staff_id))).rowcount) > 0


async def identity_staff_id(conn: AsyncConnection, issuer: str, subject: str) -> int | None:
    result = await conn.execute(
        select(identities.c.staff_id).where(
            identities.c.issuer == issuer, identities.c.subject == subject
        )
    )
    found = result.scalar_one_or_none()
    return int(found) if found is not None else None


async def link_identity(
    conn: AsyncConnection, issuer: str, subject: str, staff_id: int, now: datetime
) -> None:
    await conn.execute(
        insert(identities).values(
            issuer=issuer, subject=subject, staff_id=staff_id, created_at=now, last_login_at=now
        )
    )


async def touch_identity(conn: AsyncConnection, issuer: str, subject: str, now: datetime) -> None:
    await conn.execute(
        update(identities)
        .where(identities.c.issuer == issuer, identities.c.subject == subject)
        .values(last_login_at=now)
    )


async def has_identity(conn: AsyncConnection, staff_id: int) -> bool:
    result = await conn.execute(
        select(identities.c.staff_id).where(identities.c.staff_id == staff_id).limit(1)
    )
    return result.first() is not None
