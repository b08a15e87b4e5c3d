"""SQL for contact requests, their contact links, messages, notes, canned replies and audit.

Plain SQLAlchemy Core on a connection the service opened: the service decides
where a transaction begins and ends (``Database.write_tx`` / ``read_tx``). Rows come
back as the small frozen classes below, never as string-keyed mappings; each state
change is one operation named for what it means (``release_if_holder``,
``close_if_free_or_mine``), so no SQL condition is built outside storage. Every
state change stamps ``updated_at`` and bumps ``version``, which the queue's
fingerprint is built from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

from sqlalchemy import Table, and_, case, delete, func, insert, or_, select, update
from sqlalchemy.engine import Result
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from bot.domain import (
    ACTIVE_STATUSES,
    Concern,
    Outcome,
    ReplyVia,
    Status,
    Urgency,
)
from bot.storage.database import CountedPool
from bot.storage.models import (
    AuditEvent,
    CannedReply,
    CaseContact,
    CaseMessage,
    CaseNote,
    CaseRequest,
    ChatSession,
    table_of,
)

requests = table_of(CaseRequest)
contacts = table_of(CaseContact)
messages = table_of(CaseMessage)
notes = table_of(CaseNote)
canned = table_of(CannedReply)
audit = table_of(AuditEvent)
sessions = table_of(ChatSession)

ACTIVE = ACTIVE_STATUSES
FINISHED = ("closed", "withdrawn")
_URGENCY_RANK = case(
    (requests.c.urgency == "urgent", 0), (requests.c.urgency == "soon", 1), else_=2
)


# --- rows: what storage hands back, typed, with the table's column names ----------------


@dataclass(frozen=True, slots=True)
class CaseRow:
    id: int
    code: str
    team_id: str
    language: str
    concerns: Concern
    topic: str
    urgency: Urgency
    reply_via: ReplyVia
    status: Status
    claimed_by_id: int | None
    claimed_by: str | None
    claimed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    first_claim_at: datetime | None
    first_reply_at: datetime | None
    last_staff_reply_at: datetime | None
    closed_at: datetime | None
    outcome: Outcome | None
    version: int
    close_notice: str | None
    held_back: int = 0  # (0009) the relative's messages over the hourly cap, not stored
    held_back_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ContactRow:
    case_id: int
    chat_ref: str
    phone_ref: str | None
    delete_after: datetime | None


@dataclass(frozen=True, slots=True)
class MessageRow:
    id: int
    case_id: int
    author: Literal["relative", "staff", "system"]
    body: str | None
    signature: str | None
    delivery: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NoteRow:
    id: int
    case_id: int
    author: str
    body: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CannedRow:
    id: int
    team_id: str
    language: str
    title: str
    body: str


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    at: datetime
    staff: str
    action: str
    case_code: str | None
    address: str | None = None  # sign-ins: a keyed digest of the client address (0006)
    team_id: str | None = None  # a team-setting change: which team (0011)


@dataclass(frozen=True, slots=True)
class ClaimedRow:
    """A won claim: what statistics need (``first``: the case's first claim)."""

    team_id: str
    language: str
    created_at: datetime
    first: bool


@dataclass(frozen=True, slots=True)
class HolderRow:
    """Who holds a case, for telling a lost claim who won."""

    team_id: str
    status: str
    claimed_by_id: int | None
    claimed_by: str | None


_Row = TypeVar("_Row")


def _all(cls: Callable[..., _Row], result: Result[Any]) -> list[_Row]:
    return [cls(**mapping) for mapping in result.mappings()]


async def _listed(
    conn: AsyncConnection,
    cls: Callable[..., _Row],
    table: Table,
    where: Sequence[Any],
    order: Sequence[Any],
    limit: int | None = None,
) -> list[_Row]:
    """Whole rows of ``table`` as ``cls``, in this order."""
    statement = select(table).where(*where).order_by(*order).limit(limit)
    return _all(cls, await conn.execute(statement))


def _first(cls: Callable[..., _Row], result: Result[Any]) -> _Row | None:
    mapping = result.mappings().first()
    return None if mapping is None else cls(**mapping)


# --- cases -----------------------------------------------------------------------------


async def insert_with_fresh_code(
    conn: AsyncConnection, values: dict[str, Any], draw: Callable[[], str], attempts: int = 20
) -> tuple[int, str]:
    """Insert a case under a code nobody holds yet: draw again while the code is taken."""
    for _attempt in range(attempts):
        code = draw()
        try:
            async with conn.begin_nested():
                result = await conn.execute(
                    insert(requests).values(code=code, **values).returning(requests.c.id)
                )
            return int(result.scalar_one()), code
        except IntegrityError:
            continue  # that code is taken: draw another
    raise RuntimeError(f"no free case code after {attempts} draws")


async def case_by_code(conn: AsyncConnection, code: str) -> CaseRow | None:
    return _first(CaseRow, await conn.execute(select(requests).where(requests.c.code == code)))


async def case_by_id(conn: AsyncConnection, case_id: int) -> CaseRow | None:
    return _first(CaseRow, await conn.execute(select(requests).where(requests.c.id == case_id)))


async def _change(
    conn: AsyncConnection, case_id: int, now: datetime, *only_if: Any, **values: Any
) -> bool:
    """Change one case if the conditions hold, stamping ``updated_at`` and ``version``."""
    statement = (
        update(requests)
        .where(requests.c.id == case_id, *only_if)
        .values(updated_at=now, version=requests.c.version + 1, **values)
    )
    return bool((await conn.execute(statement)).rowcount)


_UNCLAIMED: dict[str, Any] = {
    "status": "open",
    "claimed_by_id": None,
    "claimed_by": None,
    "claimed_at": None,
}
_IS_ACTIVE = requests.c.status.in_(ACTIVE)


def _held_by(staff_id: int | None) -> ColumnElement[bool]:
    """Claimed, by this staff member (None: by anyone, as an admin may act on any claim)."""
    if staff_id is None:
        return requests.c.status == "claimed"
    return and_(requests.c.status == "claimed", requests.c.claimed_by_id == staff_id)


def _free_or_held_by(staff_id: int | None) -> ColumnElement[bool]:
    """Active and unclaimed or claimed by this staff member (None: any holder)."""
    if staff_id is None:
        return _IS_ACTIVE
    return and_(
        _IS_ACTIVE,
        or_(requests.c.claimed_by_id.is_(None), requests.c.claimed_by_id == staff_id),
    )


async def touch(conn: AsyncConnection, case_id: int, now: datetime) -> None:
    """Something was added to the case (a note): its version changes, nothing else."""
    await _change(conn, case_id, now)


async def touch_if_active(conn: AsyncConnection, case_id: int, now: datetime) -> bool:
    """The relative wrote to a case: only an open or claimed one takes a message."""
    return await _change(conn, case_id, now, _IS_ACTIVE)


async def withdraw_if_active(conn: AsyncConnection, case_id: int, now: datetime) -> bool:
    return await _change(
        conn, case_id, now, _IS_ACTIVE, status="withdrawn", outcome="withdrew", closed_at=now
    )


async def release_if_holder(
    conn: AsyncConnection, case_id: int, now: datetime, staff_id: int | None
) -> bool:
    """Give a claimed case back to the queue; ``staff_id`` None: whoever holds it."""
    return await _change(conn, case_id, now, _held_by(staff_id), **_UNCLAIMED)


async def note_reply_if_holder(
    conn: AsyncConnection, case_id: int, now: datetime, staff_id: int
) -> bool:
    """Stamp a staff reply on a case this staff member holds (the first reply stays)."""
    return await _change(
        conn,
        case_id,
        now,
        _held_by(staff_id),
        first_reply_at=func.coalesce(requests.c.first_reply_at, now),
        last_staff_reply_at=now,
    )


async def transfer_if_free_or_mine(
    conn: AsyncConnection, case_id: int, now: datetime, team_id: str, staff_id: int | None
) -> bool:
    """Hand an active case, unclaimed, to another team (``staff_id`` None: any holder)."""
    return await _change(
        conn, case_id, now, _free_or_held_by(staff_id), team_id=team_id, **_UNCLAIMED
    )


async def close_if_free_or_mine(
    conn: AsyncConnection,
    case_id: int,
    now: datetime,
    outcome: Outcome,
    staff_id: int | None,
    *,
    notice: bool,
) -> bool:
    """Close an active case not held by someone else; ``notice``: mark the close notice sent."""
    extra: dict[str, Any] = {"close_notice": "sent"} if notice else {}
    return await _change(
        conn,
        case_id,
        now,
        _free_or_held_by(staff_id),
        status="closed",
        outcome=outcome,
        closed_at=now,
        **extra,
    )


async def reopen_if_closed(conn: AsyncConnection, case_id: int, now: datetime) -> bool:
    return await _change(
        conn,
        case_id,
        now,
        requests.c.status == "closed",
        outcome=None,
        closed_at=None,
        **_UNCLAIMED,
    )


@dataclass(frozen=True)
class Claim:
    """Who claims which case when; ``teams`` the claimant's (None: an admin, any team)."""

    code: str
    staff_id: int
    username: str
    at: datetime
    teams: frozenset[str] | None


async def claim_case(conn: AsyncConnection, claim: Claim) -> ClaimedRow | None:
    """The atomic claim: one conditional UPDATE; only a still-open case of these teams
    changes hands. Of simultaneous claims, PostgreSQL's row lock (and SQLite's single
    writer) lets the first through; the others then find status 'claimed' and change nothing.

    Returns None when the claim did not win.
    """
    now = claim.at
    conditions: list[Any] = [requests.c.code == claim.code, requests.c.status == "open"]
    if claim.teams is not None:
        conditions.append(requests.c.team_id.in_(sorted(claim.teams)))
    statement = (
        update(requests)
        .where(*conditions)
        .values(
            status="claimed",
            claimed_by_id=claim.staff_id,
            claimed_by=claim.username,
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
    return _first(ClaimedRow, await conn.execute(statement))


def _visible(teams: Iterable[str] | None) -> list[Any]:
    conditions: list[Any] = [_IS_ACTIVE]
    if teams is not None:
        conditions.append(requests.c.team_id.in_(sorted(teams)))
    return conditions


async def queue_rows(
    conn: AsyncConnection, teams: Iterable[str] | None, limit: int | None = None
) -> list[CaseRow]:
    """Open and claimed cases of these teams (None: all), urgent first, then oldest first."""
    statement = (
        select(requests)
        .where(*_visible(teams))
        .order_by(_URGENCY_RANK, requests.c.created_at, requests.c.id)
        .limit(limit)
    )
    return _all(CaseRow, await conn.execute(statement))


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
    stamp = latest.isoformat() if latest is not None else "-"
    return QueueSummary(
        int(count), int(waiting), int(urgent), f"{count}.{versions}.{last_id or 0}.{stamp}"
    )


def _stale(cutoff: datetime) -> tuple[Any, ...]:
    """Claimed, and the last sign of work (claim or staff reply) is older than ``cutoff``."""
    return (
        requests.c.status == "claimed",
        requests.c.claimed_at < cutoff,
        or_(requests.c.last_staff_reply_at.is_(None), requests.c.last_staff_reply_at < cutoff),
    )


async def stale_claims(conn: AsyncConnection, cutoff: datetime) -> list[tuple[int, str]]:
    """(id, code) of claims with no sign of work since ``cutoff``."""
    statement = select(requests.c.id, requests.c.code).where(*_stale(cutoff))
    return [(int(i), str(code)) for i, code in (await conn.execute(statement)).all()]


async def release_if_still_stale(
    conn: AsyncConnection, case_id: int, now: datetime, cutoff: datetime
) -> bool:
    """Release an idle claim, re-checking it is idle (someone may have replied meanwhile)."""
    return await _change(conn, case_id, now, *_stale(cutoff), **_UNCLAIMED)


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
    team: str | None = (await conn.execute(statement)).scalar_one_or_none()
    return team


# --- contact links ---------------------------------------------------------------------


async def insert_contact(
    conn: AsyncConnection, case_id: int, chat_ref: str, phone_ref: str | None
) -> None:
    await conn.execute(
        insert(contacts).values(case_id=case_id, chat_ref=chat_ref, phone_ref=phone_ref)
    )


async def contact(conn: AsyncConnection, case_id: int) -> ContactRow | None:
    result = await conn.execute(select(contacts).where(contacts.c.case_id == case_id))
    return _first(ContactRow, result)


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
    return int(removed)


async def expired_contacts(conn: AsyncConnection, now: datetime) -> list[int]:
    statement = select(contacts.c.case_id).where(
        contacts.c.delete_after.is_not(None), contacts.c.delete_after <= now
    )
    return [int(i) for i in (await conn.execute(statement)).scalars().all()]


# --- messages and notes ----------------------------------------------------------------


async def insert_message(
    conn: AsyncConnection,
    case_id: int,
    author: Literal["relative", "staff", "system"],
    body: str,
    now: datetime,
    signature: str | None = None,
) -> int:
    statement = (
        insert(messages)
        .values(case_id=case_id, author=author, body=body, signature=signature, created_at=now)
        .returning(messages.c.id)
    )
    return int((await conn.execute(statement)).scalar_one())


async def relative_messages_since(conn: AsyncConnection, case_id: int, since: datetime) -> int:
    """The relative's messages stored in this case since ``since`` (the hourly cap)."""
    m = messages.c
    statement = select(func.count()).where(
        m.case_id == case_id, m.author == "relative", m.created_at >= since
    )
    return int((await conn.execute(statement)).scalar_one())


async def hold_back_if_active(
    conn: AsyncConnection, case_id: int, now: datetime
) -> tuple[bool, datetime | None]:
    """Count one held-back message on an open or claimed case: (done, the previous time)."""
    r = requests.c
    previous = (
        await conn.execute(select(r.held_back_at).where(r.id == case_id, _IS_ACTIVE))
    ).first()
    if previous is None:
        return False, None
    done = await _change(
        conn, case_id, now, _IS_ACTIVE, held_back=r.held_back + 1, held_back_at=now
    )
    return done, previous[0]


async def set_delivery(conn: AsyncConnection, message_id: int, delivery: str) -> None:
    await conn.execute(
        update(messages).where(messages.c.id == message_id).values(delivery=delivery)
    )


async def case_messages(
    conn: AsyncConnection, case_id: int, limit: int | None = None, before: int | None = None
) -> list[MessageRow]:
    """The case's messages, oldest first; with ``limit`` only the newest ``limit`` (of those
    with an id below ``before``): a page of a long case, read by the primary key index."""
    m = messages.c
    where = [m.case_id == case_id] if before is None else [m.case_id == case_id, m.id < before]
    if limit is None:
        return await _listed(conn, MessageRow, messages, where, [m.created_at, m.id])
    newest = await _listed(conn, MessageRow, messages, where, [m.id.desc()], limit)
    return sorted(newest, key=lambda row: (row.created_at, row.id))


async def insert_note(
    conn: AsyncConnection, case_id: int, author: str, body: str, now: datetime
) -> None:
    await conn.execute(
        insert(notes).values(case_id=case_id, author=author, body=body, created_at=now)
    )


async def case_notes(conn: AsyncConnection, case_id: int) -> list[NoteRow]:
    n = notes.c
    return await _listed(conn, NoteRow, notes, [n.case_id == case_id], [n.created_at, n.id])


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


async def canned_replies(conn: AsyncConnection, team_id: str, language: str) -> list[CannedRow]:
    r = canned.c
    where = [r.team_id == team_id, r.language == language]
    return await _listed(conn, CannedRow, canned, where, [r.title, r.id])


async def insert_canned(
    conn: AsyncConnection, team_id: str, language: str, title: str, body: str
) -> None:
    await conn.execute(
        insert(canned).values(team_id=team_id, language=language, title=title, body=body)
    )


async def teams_canned(conn: AsyncConnection, team_ids: list[str] | None) -> list[CannedRow]:
    """Every canned reply of these teams (None: all teams), for the page that manages them."""
    r = canned.c
    where = [] if team_ids is None else [r.team_id.in_(team_ids)]
    return await _listed(conn, CannedRow, canned, where, [r.team_id, r.language, r.title])


async def delete_canned(conn: AsyncConnection, reply_id: int, team_ids: list[str] | None) -> int:
    statement = delete(canned).where(canned.c.id == reply_id)
    if team_ids is not None:
        statement = statement.where(canned.c.team_id.in_(team_ids))
    return int((await conn.execute(statement)).rowcount)


async def record(
    conn: AsyncConnection,
    at: datetime,
    staff: str,
    action: str,
    case_code: str | None,
    address: str | None = None,
) -> None:
    """One audit row: who, what, which case, when; ``address`` only ever a keyed digest."""
    await conn.execute(
        insert(audit).values(
            at=at, staff=staff, action=action, case_code=case_code, address=address
        )
    )


async def delete_audit_before(conn: AsyncConnection, cutoff: datetime) -> int:
    """Audit rows older than ``cutoff`` go (AUDIT_RETENTION_DAYS); how many were deleted."""
    return int((await conn.execute(delete(audit).where(audit.c.at < cutoff))).rowcount)


async def audit_rows(conn: AsyncConnection, limit: int) -> list[AuditRow]:
    return await _listed(conn, AuditRow, audit, [], [audit.c.at.desc(), audit.c.id.desc()], limit)


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


async def claim_and_audit(pool: CountedPool, claim: Claim) -> ClaimedRow | None:
    """Claim and audit in one statement on the database's asyncpg pool (PostgreSQL).

    Why: with 20 staff claiming at once in one process, SQLAlchemy's per-transaction
    work (checkout, ping, BEGIN, two statements, COMMIT) queued on the event loop and
    cost most of the latency (bot/bench/claims.py). One statement is atomic on its own:
    the UPDATE takes the row lock, a concurrent claim re-checks ``status = 'open'``
    after the winner commits and changes nothing, so no audit row is written for it.
    None when the claim did not win.
    """
    teams = sorted(claim.teams) if claim.teams is not None else None
    row = await pool.fetchrow(
        _PG_CLAIM, claim.code, claim.staff_id, claim.username, claim.at, teams
    )
    return None if row is None else ClaimedRow(**dict(row))


async def holder(pool: CountedPool, code: str) -> HolderRow | None:
    """Who holds the case now (PostgreSQL, on the pool: after a lost ``claim_and_audit``)."""
    row = await pool.fetchrow(_PG_HOLDER, code)
    return None if row is None else HolderRow(**dict(row))
