"""SQL for contact requests, their contact links, messages, notes, canned replies and audit.

Plain SQLAlchemy Core on a connection the service opened: the service decides
where a transaction begins and ends (``engine.write_tx`` / ``read_tx``). Every
state change stamps ``updated_at`` and bumps ``version``, which the queue's
fingerprint is built from.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, case, delete, func, insert, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import ACTIVE_STATUSES
from bot.storage.models import (
    AuditEvent,
    CannedReply,
    CaseContact,
    CaseMessage,
    CaseNote,
    CaseRequest,
    ChatSession,
)

requests = CaseRequest.__table__  # type: ignore[attr-defined]
contacts = CaseContact.__table__  # type: ignore[attr-defined]
messages = CaseMessage.__table__  # type: ignore[attr-defined]
notes = CaseNote.__table__  # type: ignore[attr-defined]
canned = CannedReply.__table__  # type: ignore[attr-defined]
audit = AuditEvent.__table__  # type: ignore[attr-defined]
sessions = ChatSession.__table__  # type: ignore[attr-defined]

ACTIVE = ACTIVE_STATUSES
FINISHED = ("closed", "withdrawn")
_URGENCY_RANK = case(
    (requests.c.urgency == "urgent", 0), (requests.c.urgency == "soon", 1), else_=2
)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands timestamps back without a zone; every stored timestamp is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


# --- cases -----------------------------------------------------------------------------


async def insert_case(conn: AsyncConnection, values: dict[str, Any]) -> int:
    result = await conn.execute(insert(requests).values(**values).returning(requests.c.id))
    return int(result.scalar_one())


async def case_by_code(conn: AsyncConnection, code: str) -> RowMapping | None:
    result = await conn.execute(select(requests).where(requests.c.code == code))
    return result.mappings().first()


async def case_by_id(conn: AsyncConnection, case_id: int) -> RowMapping | None:
    result = await conn.execute(select(requests).where(requests.c.id == case_id))
    return result.mappings().first()


async def update_case(
    conn: AsyncConnection,
    case_id: int,
    now: datetime,
    *,
    only_if: Sequence[Any] = (),
    **values: Any,
) -> int:
    """Change one case if the extra conditions hold; the row count says whether it did."""
    statement = (
        update(requests)
        .where(requests.c.id == case_id, *only_if)
        .values(updated_at=now, version=requests.c.version + 1, **values)
    )
    return (await conn.execute(statement)).rowcount


async def claim_case(
    conn: AsyncConnection,
    code: str,
    staff_id: int,
    username: str,
    now: datetime,
    teams: Iterable[str] | None,
) -> RowMapping | None:
    """The atomic claim: one conditional UPDATE; only a still-open case of these teams
    changes hands. Of simultaneous claims, PostgreSQL's row lock (and SQLite's single
    writer) lets the first through; the others then find status 'claimed' and change nothing.

    Returns None when the claim did not win, else the coarse fields statistics need:
    team_id, language, created_at, and ``first`` (whether this was the case's first claim).
    """
    conditions: list[Any] = [requests.c.code == code, requests.c.status == "open"]
    if teams is not None:
        conditions.append(requests.c.team_id.in_(sorted(teams)))
    statement = (
        update(requests)
        .where(*conditions)
        .values(
            status="claimed",
            claimed_by_id=staff_id,
            claimed_by=username,
            claimed_at=now,
            first_claim_at=func.coalesce(requests.c.first_claim_at, now),
            updated_at=now,
            version=requests.c.version + 1,
        )
        .returning(
            requests.c.team_id,
            requests.c.language,
            requests.c.created_at,
            (requests.c.first_claim_at == requests.c.claimed_at).label("first"),
        )
    )
    return (await conn.execute(statement)).mappings().first()


def _visible(teams: Iterable[str] | None) -> list[Any]:
    conditions: list[Any] = [requests.c.status.in_(ACTIVE)]
    if teams is not None:
        conditions.append(requests.c.team_id.in_(sorted(teams)))
    return conditions


async def queue_rows(
    conn: AsyncConnection, teams: Iterable[str] | None, limit: int | None = None
) -> list[RowMapping]:
    """Open and claimed cases of these teams (None: all), urgent first, then oldest first."""
    statement = (
        select(requests)
        .where(*_visible(teams))
        .order_by(_URGENCY_RANK, requests.c.created_at, requests.c.id)
        .limit(limit)
    )
    return list((await conn.execute(statement)).mappings().all())


@dataclass(frozen=True)
class QueueSummary:
    total: int
    waiting: int
    urgent_waiting: int
    fingerprint: str  # changes whenever a visible case is added, removed or changed


async def queue_summary(conn: AsyncConnection, teams: Iterable[str] | None) -> QueueSummary:
    """Counts and fingerprint of the visible queue in one aggregate query."""
    is_open = requests.c.status == "open"
    statement = select(
        func.count(),
        func.coalesce(func.sum(requests.c.version), 0),
        func.max(requests.c.id),
        func.max(requests.c.updated_at),
        func.coalesce(func.sum(case((is_open, 1), else_=0)), 0),
        func.coalesce(
            func.sum(case((and_(is_open, requests.c.urgency == "urgent"), 1), else_=0)), 0
        ),
    ).where(*_visible(teams))
    count, versions, last_id, latest, waiting, urgent = (await conn.execute(statement)).one()
    latest = aware(latest)
    stamp = latest.isoformat() if latest is not None else "-"
    return QueueSummary(
        int(count), int(waiting), int(urgent), f"{count}.{versions}.{last_id or 0}.{stamp}"
    )


async def stale_claims(conn: AsyncConnection, cutoff: datetime) -> list[RowMapping]:
    """Claims whose last sign of work (claim or staff reply) is older than ``cutoff``."""
    statement = select(requests.c.id, requests.c.code).where(
        requests.c.status == "claimed",
        requests.c.claimed_at < cutoff,
        or_(requests.c.last_staff_reply_at.is_(None), requests.c.last_staff_reply_at < cutoff),
    )
    return list((await conn.execute(statement)).mappings().all())


def still_stale(cutoff: datetime) -> tuple[Any, ...]:
    """The same test as ``stale_claims``, for the releasing UPDATE (someone may reply meanwhile)."""
    return (
        requests.c.status == "claimed",
        requests.c.claimed_at < cutoff,
        or_(requests.c.last_staff_reply_at.is_(None), requests.c.last_staff_reply_at < cutoff),
    )


async def count_staff_replies(conn: AsyncConnection, case_id: int) -> int:
    statement = select(func.count()).where(
        messages.c.case_id == case_id, messages.c.author == "staff"
    )
    return int((await conn.execute(statement)).scalar_one())


async def mark_feedback_answered(conn: AsyncConnection, case_id: int) -> str | None:
    """The relative's first answer to "Did the contact help?" after this case's close notice:
    the case's team id, or None when there was no notice or it was answered already.

    Deliberately neither ``updated_at`` nor ``version`` changes: the row must not say when
    the relative answered (the answer is a daily count; a time here could be matched to it).
    """
    statement = (
        update(requests)
        .where(requests.c.id == case_id, requests.c.close_notice == "sent")
        .values(close_notice="answered")
        .returning(requests.c.team_id)
    )
    return (await conn.execute(statement)).scalar_one_or_none()


# --- contact links ---------------------------------------------------------------------


async def insert_contact(
    conn: AsyncConnection, case_id: int, chat_ref: str, phone_ref: str | None
) -> None:
    await conn.execute(
        insert(contacts).values(case_id=case_id, chat_ref=chat_ref, phone_ref=phone_ref)
    )


async def contact(conn: AsyncConnection, case_id: int) -> RowMapping | None:
    result = await conn.execute(select(contacts).where(contacts.c.case_id == case_id))
    return result.mappings().first()


async def set_contact_expiry(
    conn: AsyncConnection, case_id: int, delete_after: datetime | None
) -> None:
    await conn.execute(
        update(contacts).where(contacts.c.case_id == case_id).values(delete_after=delete_after)
    )


async def delete_contacts(conn: AsyncConnection, case_ids: Sequence[int]) -> int:
    """Delete contact links and forget which chat pointed to those cases."""
    if not case_ids:
        return 0
    removed = (
        await conn.execute(delete(contacts).where(contacts.c.case_id.in_(case_ids)))
    ).rowcount
    # A changed version makes a conversation that read the old pointer reload, not write it back.
    await conn.execute(
        update(sessions)
        .where(sessions.c.case_id.in_(case_ids))
        .values(case_id=None, version=sessions.c.version + 1)
    )
    return removed


async def expired_contacts(conn: AsyncConnection, now: datetime) -> list[int]:
    statement = select(contacts.c.case_id).where(
        contacts.c.delete_after.is_not(None), contacts.c.delete_after <= now
    )
    return [int(i) for i in (await conn.execute(statement)).scalars().all()]


# --- messages and notes ----------------------------------------------------------------


async def insert_message(conn: AsyncConnection, values: dict[str, Any]) -> int:
    result = await conn.execute(insert(messages).values(**values).returning(messages.c.id))
    return int(result.scalar_one())


async def set_delivery(conn: AsyncConnection, message_id: int, delivery: str) -> None:
    await conn.execute(
        update(messages).where(messages.c.id == message_id).values(delivery=delivery)
    )


async def case_messages(conn: AsyncConnection, case_id: int) -> list[RowMapping]:
    statement = (
        select(messages)
        .where(messages.c.case_id == case_id)
        .order_by(messages.c.created_at, messages.c.id)
    )
    return list((await conn.execute(statement)).mappings().all())


async def insert_note(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(insert(notes).values(**values))


async def case_notes(conn: AsyncConnection, case_id: int) -> list[RowMapping]:
    statement = (
        select(notes).where(notes.c.case_id == case_id).order_by(notes.c.created_at, notes.c.id)
    )
    return list((await conn.execute(statement)).mappings().all())


async def delete_texts(
    conn: AsyncConnection, case_ids: Sequence[int] | None, closed_before: datetime | None = None
) -> int:
    """Set message and note bodies to NULL: for the given cases, or cases closed before a time."""
    if case_ids is not None:
        if not case_ids:
            return 0
        which: Any = list(case_ids)
    else:
        which = select(requests.c.id).where(
            requests.c.status.in_(FINISHED), requests.c.closed_at < closed_before
        )
    removed = 0
    for table in (messages, notes):
        statement = (
            update(table)
            .where(table.c.case_id.in_(which), table.c.body.is_not(None))
            .values(body=None)
        )
        removed += (await conn.execute(statement)).rowcount
    # Signatures are first names: they go with the text.
    await conn.execute(
        update(messages)
        .where(messages.c.case_id.in_(which), messages.c.signature.is_not(None))
        .values(signature=None)
    )
    return removed


# --- canned replies and audit ----------------------------------------------------------


async def canned_replies(conn: AsyncConnection, team_id: str, language: str) -> list[RowMapping]:
    statement = (
        select(canned)
        .where(canned.c.team_id == team_id, canned.c.language == language)
        .order_by(canned.c.title, canned.c.id)
    )
    return list((await conn.execute(statement)).mappings().all())


async def insert_canned(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(insert(canned).values(**values))


async def teams_canned(conn: AsyncConnection, team_ids: list[str] | None) -> list[RowMapping]:
    """Every canned reply of these teams (None: all teams), for the page that manages them."""
    statement = select(canned).order_by(canned.c.team_id, canned.c.language, canned.c.title)
    if team_ids is not None:
        statement = statement.where(canned.c.team_id.in_(team_ids))
    return list((await conn.execute(statement)).mappings().all())


async def delete_canned(conn: AsyncConnection, reply_id: int, team_ids: list[str] | None) -> int:
    statement = delete(canned).where(canned.c.id == reply_id)
    if team_ids is not None:
        statement = statement.where(canned.c.team_id.in_(team_ids))
    return (await conn.execute(statement)).rowcount


async def record(
    conn: AsyncConnection, at: datetime, staff: str, action: str, case_code: str | None
) -> None:
    await conn.execute(insert(audit).values(at=at, staff=staff, action=action, case_code=case_code))


async def audit_rows(conn: AsyncConnection, limit: int) -> list[RowMapping]:
    statement = select(audit).order_by(audit.c.at.desc(), audit.c.id.desc()).limit(limit)
    return list((await conn.execute(statement)).mappings().all())


def not_claimed_by_other(staff_id: int) -> Any:
    return or_(requests.c.claimed_by_id.is_(None), requests.c.claimed_by_id == staff_id)


def claimed_by(staff_id: int) -> Any:
    return and_(requests.c.status == "claimed", requests.c.claimed_by_id == staff_id)


async def forget_staff(conn: AsyncConnection, closed_before: datetime) -> None:
    """Past text retention, a finished case keeps no staff name either: statistics need none."""
    await conn.execute(
        update(requests)
        .where(
            requests.c.status.in_(FINISHED),
            requests.c.closed_at < closed_before,
            requests.c.claimed_by.is_not(None),
        )
        .values(claimed_by=None, claimed_by_id=None)
    )


# --- the claim on PostgreSQL, straight to the driver ------------------------------------

_PG_CLAIM = """
WITH claimed AS (
    UPDATE case_request
    SET status = 'claimed', claimed_by_id = $2, claimed_by = $3, claimed_at = $4,
        first_claim_at = COALESCE(first_claim_at, $4), updated_at = $4, version = version + 1
    WHERE code = $1 AND status = 'open' AND ($5::text[] IS NULL OR team_id = ANY($5::text[]))
    RETURNING code, team_id, language, created_at, first_claim_at = claimed_at AS first
), audited AS (
    INSERT INTO audit_event (at, staff, action, case_code)
    SELECT $4, $3, 'claim', code FROM claimed
)
SELECT team_id, language, created_at, first FROM claimed
"""
_PG_HOLDER = "SELECT team_id, status, claimed_by_id, claimed_by FROM case_request WHERE code = $1"


class PostgresClaims:
    """Claim and audit in one statement on an asyncpg pool of its own.

    Why: with 20 staff claiming at once in one process, SQLAlchemy's per-transaction
    work (checkout, ping, BEGIN, two statements, COMMIT) queued on the event loop and
    cost most of the latency (bot/bench/claims.py). One statement is atomic on its own:
    the UPDATE takes the row lock, a concurrent claim re-checks ``status = 'open'``
    after the winner commits and changes nothing, so no audit row is written for it.
    """

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    @classmethod
    async def connect(cls, dsn: str) -> PostgresClaims:
        import asyncpg

        return cls(await asyncpg.create_pool(dsn, min_size=1, max_size=10))

    async def claim(
        self,
        code: str,
        staff_id: int,
        username: str,
        now: datetime,
        teams: Iterable[str] | None,
    ) -> dict[str, Any] | None:
        """None when the claim did not win, else the fields ``claim_case`` returns."""
        team_list = sorted(teams) if teams is not None else None
        row = await self._pool.fetchrow(_PG_CLAIM, code, staff_id, username, now, team_list)
        return dict(row) if row is not None else None

    async def holder(self, code: str) -> dict[str, Any] | None:
        row = await self._pool.fetchrow(_PG_HOLDER, code)
        return dict(row) if row is not None else None

    async def close(self) -> None:
        await self._pool.close()
