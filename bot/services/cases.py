"""Anonymous contact requests ("cases") and the helpline team's queue.

One service owns every rule of a case's life, for both doors: the relative's
bot flow and the staff web app / JSON API. Doors parse, call one method here,
render. Every method is one transaction (or a short, explicit sequence); a
request the relative saw confirmed is committed before ``create_request``
returns.

Anonymity is in the data model: a case row holds no chat id. The only way back
to the relative is ``case_contact`` (its own table): the chat id encrypted with
a key derived from SECRET_KEY (and the phone number for a call-back, also
encrypted, only with explicit consent), deleted when the case has been closed
for ``link_grace_days``. Closed cases' texts are deleted after
``text_retention_days``; what remains is only what statistics need.

INTERFACE CONTRACT (shared by the bot flow, the web app and the API; keep the
names and types stable, implement the bodies).
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import IntEnum
from typing import Literal, Protocol

from bot.domain import (
    ACTIVE_STATUSES,
    CODE_ALPHABET,
    CODE_LENGTH,
    CONCERNS,
    MAX_STAFF_TEXT,
    MAX_TEXT,
    OUTCOMES,
    REPLY_VIA,
    TOPICS,
    URGENCIES,
    CaseError,
    Concern,
    CreatedCase,
    Outcome,
    RelativeView,
    ReplyVia,
    RequestDraft,
    StaffUser,
    Status,
    Urgency,
)
from bot.services.link_crypto import LinkCipher, LinkError
from bot.services.scrub import scrub
from bot.services.stats import StatsRecorder
from bot.services.stats_model import time_bucket
from bot.storage import cases as db
from bot.storage import relays
from bot.storage.cases import CaseRow, ContactRow, MessageRow
from bot.storage.database import Conn, Database
from bot.storage.faults import ChatWrittenMeanwhile
from bot.storage.sessions import SessionState, save_pending_in

log = logging.getLogger(__name__)
NOTIFY_TIMEOUT_SECONDS = 5.0
# A staff reply whose relay started this long ago and never reported back was cut off (the
# process died mid-relay): the sweeper (the auto-release round) marks it delivery unknown.
RELAY_UNFINISHED_AFTER = timedelta(minutes=5)


@dataclass
class ChatMark:
    """The chat's state, written in the same transaction as a relative's message or new
    case with the update marked pending: a redelivered update then stores nothing again."""

    pseudonym: str
    state: SessionState
    update_id: int
    today: date

    async def write(self, conn: Conn) -> None:
        if not await save_pending_in(conn, self.pseudonym, self.state, self.update_id, self.today):
            raise ChatWrittenMeanwhile("the chat's state changed since it was read")


@dataclass(frozen=True)
class QueueItem:
    code: str
    team_id: str
    status: Status  # "open" or "claimed"
    urgency: Urgency
    language: str
    topic: str
    concerns: Concern
    reply_via: ReplyVia
    created_at: datetime
    waiting_seconds: int
    claimed_by: str | None  # username of the holder


@dataclass(frozen=True)
class Queue:
    items: list[QueueItem]  # sorted: urgent first, then soon, later; then longest waiting
    waiting: int  # open (unclaimed) requests among my teams
    urgent_waiting: int
    version: str  # changes whenever anything in these teams' queue changes (for live updates)
    total: int = 0  # (added) open and claimed requests in all, also when ``items`` is limited


@dataclass(frozen=True)
class CaseMessageView:
    author: Literal["relative", "staff", "system"]
    body: str | None  # None once deleted by retention
    created_at: datetime
    signature: str | None = None  # staff first name if they chose to sign
    delivery: str | None = None  # staff messages: "sent" or "failed: <reason>"


@dataclass(frozen=True)
class NoteView:
    author: str  # staff username
    body: str | None
    created_at: datetime


@dataclass(frozen=True)
class CaseDetail:
    item: QueueItem
    outcome: Outcome | None
    closed_at: datetime | None
    messages: list[CaseMessageView]
    notes: list[NoteView]
    phone: str | None  # decrypted call-back number, only while the case is not closed
    can_reopen: bool
    # (added) A page of a long case: older messages exist below this message id (the
    # "older" link's ``before``); None: the page starts at the first message.
    older_before: int | None = None
    # (added) The relative's messages over the hourly cap: how many, the last one when.
    held_back: int = 0
    held_back_at: datetime | None = None


@dataclass(frozen=True)
class ClaimResult:
    won: bool
    holder: str | None  # username of whoever holds it now


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    staff: str  # username
    action: str  # "claim", "release", "auto_release", "reply", "note", "transfer", "close", ...
    case_code: str | None


@dataclass(frozen=True)
class CannedReplyView:
    """(Added.) A team's prepared reply, as coordinators manage it."""

    id: int
    team_id: str
    language: str
    title: str
    body: str


@dataclass(frozen=True)
class PurgeReport:
    """What one retention run removed: counts only, for the log and the command line."""

    links_deleted: int
    texts_deleted: int
    audit_deleted: int = 0  # audit rows older than AUDIT_RETENTION_DAYS


@dataclass(frozen=True)
class RetentionSettings:
    """How long a closed case keeps its chat link and texts, and an idle claim its holder."""

    link_grace_days: int = 7
    text_retention_days: int = 30
    auto_release_minutes: int = 30
    audit_retention_days: int = 365  # AUDIT_RETENTION_DAYS: who did what, then it goes


class RelayPort(Protocol):
    """Delivers a staff reply to the relative's chat; returns None or a failure reason.

    The door renders it in the relative's language as coming from "the helpline
    team of <municipality>", with ``signature`` (a first name) only if staff chose to sign.
    """

    async def deliver(
        self, chat_id: int, team_id: str, language: str, text: str, signature: str | None
    ) -> str | None: ...

    async def notify_closed(
        self, chat_id: int, team_id: str, language: str, code: str
    ) -> str | None:
        """(added) Tell the relative, neutrally, that the team closed request ``code``, with
        the optional one-tap "Did the contact help?"; None or a failure reason as above."""
        ...


class CaseEvents(Protocol):
    """Optional content-free notifications ("1 new urgent request for Botkyrka")."""

    async def new_request(self, team_id: str, urgent: bool) -> None: ...


def _now() -> datetime:
    return datetime.now(UTC)


class MessageFate(IntEnum):
    """What became of the relative's message to their case (false: the case is not open)."""

    CLOSED = 0
    STORED = 1
    HELD_FIRST = 2  # over the hourly cap, the first of this episode: the relative is told
    HELD = 3  # over the cap again: counted, not stored


@dataclass
class CaseService:
    database: Database
    secret_key: bytes
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    relay: RelayPort | None = None
    events: CaseEvents | None = None
    now: Callable[[], datetime] = _now
    # Team ids from content/teams; None accepts any team id (tests of the rules alone).
    known_teams: frozenset[str] | None = None
    stats: StatsRecorder | None = None  # (added) anonymous daily counts; None records nothing
    # (added) Teams whose relatives are told once when staff close their request (the team
    # file's ``notify_on_close``); None: every team.
    close_notice_teams: frozenset[str] | None = None
    # (added) SECRET_KEYS rotation: older keys, newest first, that only open contact links.
    old_secret_keys: tuple[bytes, ...] = ()
    # (added) The relative's messages stored per case per hour (CASE_MESSAGES_PER_HOUR);
    # more are held back: counted on the case, not stored. None: no cap.
    messages_per_hour: int | None = None

    def __post_init__(self) -> None:
        self._cipher = LinkCipher(self.secret_key, self.old_secret_keys)

    async def dispose(self) -> None:
        """Nothing to close: every connection is the Database's (kept for callers)."""

    def _clock(self) -> datetime:
        return self.now().astimezone(UTC)

    def _count(self, kind: str, team_id: str, language: str, key: str = "") -> None:
        """Anonymous daily count (no case code, no staff): never breaks the operation."""
        if self.stats is None:
            return
        try:
            self.stats.count(kind, team_id, language, key)
        except Exception as exc:
            log.error("statistics recording failed: %s", type(exc).__name__, exc_info=exc)

    def _count_wait(self, kind: str, row: CaseRow | db.ClaimedRow, now: datetime) -> None:
        """A waiting time since the request was created, as a coarse bucket."""
        waited = (now - row.created_at).total_seconds()
        self._count(kind, row.team_id, row.language, time_bucket(waited))

    # -- relative side (the bot flow) -----------------------------------------------------

    async def create_request(
        self, draft: RequestDraft, chat_id: int, mark: ChatMark | None = None
    ) -> CreatedCase:
        """Validate, store the case and its encrypted contact link, commit, then notify.

        With ``mark``, the chat's state (now pointing to the case, the draft gone) is
        written in the same transaction: a confirm redelivered after the commit finds the
        case, never makes a second one.
        """
        text, phone = self._validate_draft(draft)
        now = self._clock()
        values = {
            "team_id": draft.team_id,
            "language": draft.language,
            "concerns": draft.concerns,
            "topic": draft.topic,
            "urgency": draft.urgency,
            "reply_via": draft.reply_via,
            "status": "open",
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
        async with self.database.write_tx() as conn:
            case_id, code = await db.insert_with_fresh_code(conn, values, new_code)
            phone_ref = self._cipher.seal(phone, case_id, "phone") if phone else None
            await db.insert_contact(
                conn, case_id, self._cipher.seal_chat(chat_id, case_id), phone_ref
            )
            if text:
                await db.insert_message(conn, case_id, "relative", text, now)
            if mark is not None:
                mark.state.case_id, mark.state.draft = case_id, None
                await mark.write(conn)
        log.info("contact request created (urgency %s)", draft.urgency)
        team, lang = draft.team_id, draft.language
        self._count("request_created", team, lang)
        self._count("request_urgency", team, lang, draft.urgency)
        self._count("request_topic", team, lang, draft.topic)
        self._count("request_concerns", team, lang, draft.concerns)
        self._count("request_reply_via", team, lang, draft.reply_via)
        if self.events is not None:
            try:
                # Bounded: the relative is waiting for their case code.
                await asyncio.wait_for(
                    self.events.new_request(draft.team_id, draft.urgency == "urgent"),
                    NOTIFY_TIMEOUT_SECONDS,
                )
            except Exception as exc:  # a notification must never undo a confirmed request
                log.error("new-request notification failed: %s", type(exc).__name__, exc_info=exc)
        return CreatedCase(case_id, code)

    def _validate_draft(self, draft: RequestDraft) -> tuple[str | None, str | None]:
        if self.known_teams is not None and draft.team_id not in self.known_teams:
            raise CaseError("unknown_team", draft.team_id)
        if (
            draft.concerns not in CONCERNS
            or draft.topic not in TOPICS
            or draft.urgency not in URGENCIES
            or draft.reply_via not in REPLY_VIA
            or not _LANGUAGE_RE.fullmatch(draft.language or "")
        ):
            raise CaseError("invalid", "answer outside the vocabulary")
        phone = None
        if draft.reply_via == "phone":
            phone = normalise_phone(draft.phone or "")
            if phone is None:
                raise CaseError("invalid", "phone number")
        elif draft.phone:
            raise CaseError("invalid", "a phone number is kept only for a call-back")
        return _clean_text(draft.text, MAX_TEXT, from_relative=True), phone

    async def view_for_relative(self, case_id: int) -> RelativeView | None:
        async with self.database.read_tx() as conn:
            row = await db.case_by_id(conn, case_id)
            if row is None:
                return None
            replies = await db.count_staff_replies(conn, case_id)
        return RelativeView(
            code=row.code,
            status=row.status,
            created_at=row.created_at,
            claimed=row.status == "claimed",
            staff_replies=replies,
        )

    async def withdraw(self, case_id: int) -> None:
        """The relative withdrew (or used /delete): staff see "withdrawn"; link and text go."""
        now = self._clock()
        async with self.database.write_tx() as conn:
            row = await db.case_by_id(conn, case_id)
            if row is None:
                return
            if row.status in ACTIVE_STATUSES:
                await db.withdraw_if_active(conn, case_id, now)
                await db.record(conn, now, "relative", "withdraw", row.code)
            await db.delete_contacts(conn, [case_id])
            await db.delete_texts(conn, [case_id])
        if row.status in ACTIVE_STATUSES:
            self._count("request_withdrawn", row.team_id, row.language)
            self._count("case_outcome", row.team_id, row.language, "withdrew")
        log.info("contact request withdrawn")

    async def relative_message(
        self, case_id: int, text: str, mark: ChatMark | None = None
    ) -> MessageFate:
        """Add the relative's (scrubbed) message to an open case; CLOSED (false) if it is not
        open. Over the hourly cap (``messages_per_hour``) it is held back: counted on the
        case, not stored: HELD_FIRST for the first of an episode (tell the relative), HELD.

        With ``mark``, the chat's state is written in the same transaction with the update
        marked pending: the message is stored once per update id.
        """
        body = _clean_text(text, MAX_TEXT, from_relative=True)
        if body is None:
            raise CaseError("invalid", "empty message")
        now = self._clock()
        hour_ago = now - timedelta(hours=1)
        cap = self.messages_per_hour
        async with self.database.write_tx() as conn:
            if cap is not None and await db.relative_messages_since(conn, case_id, hour_ago) >= cap:
                held, previous = await db.hold_back_if_active(conn, case_id, now)
                if not held:
                    return MessageFate.CLOSED
                again = previous is not None and previous >= hour_ago
                fate = MessageFate.HELD if again else MessageFate.HELD_FIRST
            else:
                if not await db.touch_if_active(conn, case_id, now):
                    return MessageFate.CLOSED
                await db.insert_message(conn, case_id, "relative", body, now)
                fate = MessageFate.STORED
            if mark is not None:
                await mark.write(conn)
        return fate

    # -- staff side -------------------------------------------------------------------------

    async def queue(self, staff: StaffUser, limit: int | None = None) -> Queue:
        """``limit`` (added) caps ``items`` (the first in queue order); the counts and
        the version always cover the whole queue. A page showing 200 rows of 10,000
        need not load them all."""
        now = self._clock()
        async with self.database.read_tx() as conn:
            rows = await db.queue_rows(conn, _teams(staff), limit)
            summary = await db.queue_summary(conn, _teams(staff))
        return Queue(
            items=[_item(row, now) for row in rows],
            waiting=summary.waiting,
            urgent_waiting=summary.urgent_waiting,
            version=summary.fingerprint,
            total=summary.total,
        )

    async def queue_version(self, staff: StaffUser) -> str:
        """The ``Queue.version`` alone, from one aggregate query: cheap enough to poll."""
        async with self.database.read_tx() as conn:
            return (await db.queue_summary(conn, _teams(staff))).fingerprint

    async def detail(
        self, staff: StaffUser, code: str, *, page: int | None = None, before: int | None = None
    ) -> CaseDetail:
        """The case; with ``page`` only its newest ``page`` messages (below ``before``)."""
        now = self._clock()
        async with self.database.read_tx() as conn:
            row = await self._visible_case(conn, staff, code)
            limit = None if page is None else page + 1  # one more: are there older ones?
            messages = await db.case_messages(conn, row.id, limit, before)
            older = page is not None and len(messages) > page
            if older:  # drop the one fetched to tell: the lowest id
                lowest = min(m.id for m in messages)
                messages = [m for m in messages if m.id != lowest]
            notes = await db.case_notes(conn, row.id)
            link = await db.contact(conn, row.id)
        phone = None
        if link is not None and link.phone_ref and row.status in ACTIVE_STATUSES:
            phone = self._open_or_none(link.phone_ref, row.id, "phone")
        return CaseDetail(
            item=_item(row, now),
            outcome=row.outcome,
            closed_at=row.closed_at,
            messages=[_message(m) for m in messages],
            notes=[NoteView(author=n.author, body=n.body, created_at=n.created_at) for n in notes],
            phone=phone,
            can_reopen=self._reopenable(row, link, now),
            older_before=min(m.id for m in messages) if older else None,
            held_back=row.held_back,
            held_back_at=row.held_back_at,
        )

    async def claim(self, staff: StaffUser, code: str) -> ClaimResult:
        """Atomic: of many simultaneous claims exactly one wins."""
        normal = normalise_code(code)
        if normal is None:
            raise CaseError("not_found")
        now = self._clock()
        claim = db.Claim(normal, staff.id, staff.username, now, _teams(staff))
        current: CaseRow | db.HolderRow | None
        if not self.database.is_sqlite:
            # PostgreSQL: one statement claims and audits (see ``db.claim_and_audit``).
            pool = await self.database.pool()
            claimed = await db.claim_and_audit(pool, claim)
            current = None if claimed is not None else await db.holder(pool, normal)
            if claimed is None:
                if current is None:
                    raise CaseError("not_found")
                if not staff.can_see(current.team_id):
                    raise CaseError("forbidden")
        else:
            async with self.database.write_tx() as conn:
                # The claim first (fewest round trips for the common case), visibility after.
                claimed = await db.claim_case(conn, claim)
                if claimed is not None:
                    await db.record(conn, now, staff.username, "claim", normal)
                    current = None
                else:
                    current = await self._visible_case(conn, staff, normal)
        if claimed is not None:
            if claimed.first:
                self._count_wait("time_to_claim", claimed, now)
            return ClaimResult(won=True, holder=staff.username)
        assert current is not None  # a lost claim always read the holder
        if current.status != "claimed":
            return ClaimResult(won=False, holder=None)
        return ClaimResult(won=current.claimed_by_id == staff.id, holder=current.claimed_by)

    async def release(self, staff: StaffUser, code: str) -> None:
        now = self._clock()
        async with self.database.write_tx() as conn:
            row = await self._visible_case(conn, staff, code)
            if not await db.release_if_holder(conn, row.id, now, _acting_as_holder(staff)):
                raise CaseError("not_claimed_by_you")
            await db.record(conn, now, staff.username, "release", row.code)

    async def reply(
        self, staff: StaffUser, code: str, text: str, *, sign: bool = False
    ) -> CaseMessageView:
        """Store and relay through ``relay``; a failed relay is recorded on the message."""
        body = _clean_text(text, MAX_STAFF_TEXT)
        if body is None:
            raise CaseError("invalid", "empty reply")
        signature = staff.display_name if sign and staff.display_name else None
        now = self._clock()
        async with self.database.write_tx() as conn:
            row = await self._visible_case(conn, staff, code)
            if row.status in db.FINISHED:
                raise CaseError("closed")
            if not await db.note_reply_if_holder(conn, row.id, now, staff.id):
                raise CaseError("not_claimed_by_you")
            message_id = await db.insert_message(conn, row.id, "staff", body, now, signature)
            # Started: a process dying mid-relay leaves this, and the sweeper says so.
            await db.set_delivery(conn, message_id, relays.RELAY_STARTED)
            link = await db.contact(conn, row.id)
            await db.record(conn, now, staff.username, "reply", row.code)
        if row.first_reply_at is None:
            self._count_wait("time_to_first_reply", row, now)
        # The network call happens outside the transaction; its outcome is stored after.
        delivery = await self._deliver(row, link, body, signature)
        async with self.database.write_tx() as conn:
            await db.set_delivery(conn, message_id, delivery)
        if delivery != "sent":
            self._count("relay_failed", row.team_id, row.language)
        return CaseMessageView(
            author="staff", body=body, created_at=now, signature=signature, delivery=delivery
        )

    async def _deliver(
        self, row: CaseRow, link: ContactRow | None, body: str, signature: str | None
    ) -> str:
        if self.relay is None:
            return "failed: no_relay"
        if link is None:
            return "failed: no_contact"
        try:
            chat_id = self._cipher.open_chat(link.chat_ref, row.id)
        except LinkError:
            log.error("a contact link could not be decrypted")
            return "failed: contact_unreadable"
        try:
            reason = await self.relay.deliver(chat_id, row.team_id, row.language, body, signature)
        except Exception as exc:  # shown on the case, never swallowed
            log.error("relay of a staff reply failed: %s", type(exc).__name__, exc_info=exc)
            return f"failed: {type(exc).__name__}"[:200]
        if reason is not None:
            log.warning("relay of a staff reply refused")
            return f"failed: {reason}"[:200]
        return "sent"

    async def add_note(self, staff: StaffUser, code: str, text: str) -> None:
        body = _clean_text(text, MAX_STAFF_TEXT)
        if body is None:
            raise CaseError("invalid", "empty note")
        now = self._clock()
        async with self.database.write_tx() as conn:
            row = await self._visible_case(conn, staff, code)
            if row.status == "withdrawn":
                raise CaseError("closed")
            await db.touch(conn, row.id, now)
            await db.insert_note(conn, row.id, staff.username, body, now)
            await db.record(conn, now, staff.username, "note", row.code)

    async def transfer(self, staff: StaffUser, code: str, team_id: str) -> None:
        if self.known_teams is not None and team_id not in self.known_teams:
            raise CaseError("unknown_team", team_id)
        now = self._clock()
        async with self.database.write_tx() as conn:
            row = await self._visible_case(conn, staff, code)
            if row.status in db.FINISHED:
                raise CaseError("closed")
            if row.team_id == team_id:
                raise CaseError("invalid", "already with that team")
            mine = _acting_as_holder(staff)
            if not await db.transfer_if_free_or_mine(conn, row.id, now, team_id, mine):
                raise CaseError("not_claimed_by_you")
            await db.record(conn, now, staff.username, "transfer", row.code)

    async def close(self, staff: StaffUser, code: str, outcome: Outcome) -> None:
        if outcome not in OUTCOMES:
            raise CaseError("invalid", "unknown outcome")
        now = self._clock()
        async with self.database.write_tx() as conn:
            row = await self._visible_case(conn, staff, code)
            if row.status in db.FINISHED:
                raise CaseError("closed")
            # Told once: a reopened request closed again keeps its earlier "sent".
            notify = row.close_notice is None and self._notifies_on_close(row.team_id)
            mine = _acting_as_holder(staff)
            if not await db.close_if_free_or_mine(conn, row.id, now, outcome, mine, notice=notify):
                raise CaseError("not_claimed_by_you")
            grace = timedelta(days=self.retention.link_grace_days)
            await db.set_contact_expiry(conn, row.id, now + grace)
            await db.record(conn, now, staff.username, "close", row.code)
            link = await db.contact(conn, row.id) if notify else None
        self._count("case_outcome", row.team_id, row.language, outcome)
        if notify:
            await self._notify_closed(row, link)

    def _notifies_on_close(self, team_id: str) -> bool:
        return self.close_notice_teams is None or team_id in self.close_notice_teams

    async def _notify_closed(self, row: CaseRow, link: ContactRow | None) -> None:
        """After the close is committed: one neutral notice. Nothing here undoes the close;
        a failure is logged by type only and the notice is not tried again."""
        notify = getattr(self.relay, "notify_closed", None)
        if notify is None or link is None:
            log.info("close notice not sent: no relay or no contact link")
            return
        try:
            chat_id = self._cipher.open_chat(link.chat_ref, row.id)
            reason = await asyncio.wait_for(
                notify(chat_id, row.team_id, row.language, row.code),
                NOTIFY_TIMEOUT_SECONDS,
            )
        except Exception as exc:
            log.error("close notice failed: %s", type(exc).__name__, exc_info=exc)
            return
        if reason is not None:
            log.warning("close notice refused")

    async def feedback_once(self, case_id: int) -> str | None:
        """(added) The case's team id the first time the relative answers "Did the contact
        help?" after its close notice; None for a second tap, or a case never told of a close.

        The case row keeps only that an answer came ("answered"), never which, nor when.
        """
        async with self.database.write_tx() as conn:
            return await db.mark_feedback_answered(conn, case_id)

    async def reopen(self, staff: StaffUser, code: str) -> None:
        now = self._clock()
        async with self.database.write_tx() as conn:
            row = await self._visible_case(conn, staff, code)
            if row.status in ACTIVE_STATUSES:
                raise CaseError("not_closed")
            if row.status == "withdrawn":
                raise CaseError("invalid", "the relative withdrew this request")
            link = await db.contact(conn, row.id)
            if not self._reopenable(row, link, now):
                raise CaseError("retention_passed")
            if not await db.reopen_if_closed(conn, row.id, now):
                raise CaseError("not_closed")
            await db.set_contact_expiry(conn, row.id, None)
            await db.record(conn, now, staff.username, "reopen", row.code)

    def _reopenable(self, row: CaseRow, link: ContactRow | None, now: datetime) -> bool:
        closed_at = row.closed_at
        if row.status != "closed" or closed_at is None or link is None:
            return False
        return now < closed_at + timedelta(days=self.retention.text_retention_days)

    async def canned_replies(self, staff: StaffUser, team_id: str, language: str) -> list[str]:
        if not staff.can_see(team_id):
            raise CaseError("forbidden")
        async with self.database.read_tx() as conn:
            rows = await db.canned_replies(conn, team_id, language)
        return [row.body for row in rows]

    async def add_canned_reply(
        self, staff: StaffUser, team_id: str, language: str, title: str, body: str
    ) -> None:
        """Coordinators and admins keep their teams' canned replies (never relatives' text)."""
        if staff.role not in ("coordinator", "admin") or not staff.can_see(team_id):
            raise CaseError("forbidden")
        if self.known_teams is not None and team_id not in self.known_teams:
            raise CaseError("unknown_team", team_id)
        clean_title = _clean_text(title, 100)
        clean_body = _clean_text(body, MAX_STAFF_TEXT)
        if clean_title is None or clean_body is None or not _LANGUAGE_RE.fullmatch(language):
            raise CaseError("invalid")
        now = self._clock()
        async with self.database.write_tx() as conn:
            await db.insert_canned(conn, team_id, language, clean_title, clean_body)
            await db.record(conn, now, staff.username, "canned_reply_add", None)

    async def list_canned_replies(self, staff: StaffUser) -> list[CannedReplyView]:
        """(Added.) Coordinators and admins: every canned reply of their teams, to manage them."""
        if staff.role not in ("coordinator", "admin"):
            raise CaseError("forbidden")
        teams = _teams(staff)
        async with self.database.read_tx() as conn:
            rows = await db.teams_canned(conn, None if teams is None else sorted(teams))
        return [CannedReplyView(r.id, r.team_id, r.language, r.title, r.body) for r in rows]

    async def remove_canned_reply(self, staff: StaffUser, reply_id: int) -> None:
        """(Added.) Coordinators and admins remove one of their teams' canned replies."""
        if staff.role not in ("coordinator", "admin"):
            raise CaseError("forbidden")
        teams = _teams(staff)
        async with self.database.write_tx() as conn:
            removed = await db.delete_canned(
                conn, reply_id, None if teams is None else sorted(teams)
            )
            if not removed:
                raise CaseError("not_found")
            await db.record(conn, self._clock(), staff.username, "canned_reply_remove", None)

    async def audit_log(self, staff: StaffUser, limit: int = 200) -> list[AuditEntry]:
        """Admins only."""
        if not staff.is_admin:
            raise CaseError("forbidden")
        async with self.database.read_tx() as conn:
            rows = await db.audit_rows(conn, max(1, min(limit, 10_000)))
        return [
            AuditEntry(at=r.at, staff=r.staff, action=r.action, case_code=r.case_code) for r in rows
        ]

    async def _visible_case(self, conn: Conn, staff: StaffUser, code: str) -> CaseRow:
        normal = normalise_code(code)
        row = await db.case_by_code(conn, normal) if normal else None
        if row is None:
            raise CaseError("not_found")
        if not staff.can_see(row.team_id):
            raise CaseError("forbidden")
        return row

    def _open_or_none(self, token: str, case_id: int, purpose: str) -> str | None:
        try:
            return self._cipher.open(token, case_id, purpose)
        except LinkError:
            log.error("a contact link could not be decrypted")
            return None

    # -- jobs -------------------------------------------------------------------------------

    async def auto_release(self) -> int:
        """Release claims with no staff reply for ``auto_release_minutes``; staff replies
        whose relay started ``RELAY_UNFINISHED_AFTER`` ago and never finished become
        "delivery unknown" (the process died mid-relay)."""
        now = self._clock()
        cutoff = now - timedelta(minutes=self.retention.auto_release_minutes)
        released = 0
        async with self.database.write_tx() as conn:
            for case_id, case_code in await db.stale_claims(conn, cutoff):
                if await db.release_if_still_stale(conn, case_id, now, cutoff):
                    await db.record(conn, now, "system", "auto_release", case_code)
                    released += 1
            unfinished = await relays.mark_unfinished(conn, now - RELAY_UNFINISHED_AFTER)
        if released:
            log.info("released %d idle claim(s)", released)
        if unfinished:
            log.warning("%d staff repl(ies) cut off mid-relay: delivery unknown", unfinished)
        return released

    async def purge(self) -> PurgeReport:
        """Delete contact links after the grace period, texts after retention, old audit rows."""
        now = self._clock()
        text_cutoff = now - timedelta(days=self.retention.text_retention_days)
        audit_cutoff = now - timedelta(days=self.retention.audit_retention_days)
        async with self.database.write_tx() as conn:
            links = await db.delete_contacts(conn, await db.expired_contacts(conn, now))
            texts = await db.delete_texts(conn, None, closed_before=text_cutoff)
            await db.forget_staff(conn, text_cutoff)
            audits = await db.delete_audit_before(conn, audit_cutoff)
        log.info(
            "purged %d contact link(s), %d case text(s) and %d audit row(s)", links, texts, audits
        )
        return PurgeReport(links_deleted=links, texts_deleted=texts, audit_deleted=audits)


# --- helpers ---------------------------------------------------------------------------------

_LANGUAGE_RE = re.compile(r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})?")


def new_code() -> str:
    """A random case code from the unambiguous alphabet, shown as XXX-XXX."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:3]}-{raw[3:]}"


def normalise_code(code: str) -> str | None:
    """Accept what people type ("abc def", "ABCDEF", "abc-def"); None if it cannot be a code."""
    raw = "".join(c for c in code.upper() if c not in " -\u2010\u2011\u2013")
    if len(raw) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in raw):
        return None
    return f"{raw[:3]}-{raw[3:]}"


def normalise_phone(phone: str) -> str | None:
    """A call-back number as digits with an optional leading +; None if it is not one."""
    stripped = phone.strip()
    if not stripped or any(c not in "+0123456789 -()/." for c in stripped):
        return None
    plus = stripped.startswith("+")
    digits = "".join(c for c in stripped if c.isdigit())
    if not 7 <= len(digits) <= 15 or "+" in stripped[1:]:
        return None
    return ("+" if plus else "") + digits


def _clean_text(text: str | None, limit: int, *, from_relative: bool = False) -> str | None:
    """Stripped, None if empty; a relative's text is scrubbed (again: scrubbing is idempotent).

    Staff texts are not scrubbed: a reply may rightly carry a helpline's number or address.
    """
    if text is None:
        return None
    stripped = text.strip()
    if not stripped:
        return None
    if len(stripped) > limit:
        raise CaseError("too_long", f"at most {limit} characters")
    return scrub(stripped).text if from_relative else stripped


def _teams(staff: StaffUser) -> frozenset[str] | None:
    return None if staff.is_admin else staff.teams


def _acting_as_holder(staff: StaffUser) -> int | None:
    """Whose claim counts as the actor's own: an admin may act on anyone's (None)."""
    return None if staff.is_admin else staff.id


def _item(row: CaseRow, now: datetime) -> QueueItem:
    return QueueItem(
        code=row.code,
        team_id=row.team_id,
        status=row.status,
        urgency=row.urgency,
        language=row.language,
        topic=row.topic,
        concerns=row.concerns,
        reply_via=row.reply_via,
        created_at=row.created_at,
        waiting_seconds=max(0, int((now - row.created_at).total_seconds())),
        claimed_by=row.claimed_by,
    )


def _message(row: MessageRow) -> CaseMessageView:
    return CaseMessageView(row.author, row.body, row.created_at, row.signature, row.delivery)
