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

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

# --- vocabularies (stored as these short ASCII values; labels live in the doors' i18n) ----

CONCERNS = ("child", "young_adult", "adult", "unsaid")  # whom the worry concerns
TOPICS = ("worry", "talk", "online", "milieus", "leaving", "selfcare", "municipality", "other")
URGENCIES = ("urgent", "soon", "later")  # urgent = immediate danger: the bot also shows 112
REPLY_VIA = ("chat", "phone")  # phone = call-back: non-anonymous, needs explicit consent
STATUSES = ("open", "claimed", "closed", "withdrawn")
OUTCOMES = (
    "advice",
    "social_services",
    "exit_programme",
    "police",
    "withdrew",
    "no_response",
)
ROLES = ("staff", "coordinator", "admin")
# Case codes: unambiguous characters only (no 0/O, 1/I/L, 2/Z, 5/S, 8/B), shown as XXX-XXX.
CODE_ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
CODE_LENGTH = 6
MAX_TEXT = 1000  # characters of the relative's optional text and of one relayed message
MAX_STAFF_TEXT = 3000

Concern = Literal["child", "young_adult", "adult", "unsaid"]
Urgency = Literal["urgent", "soon", "later"]
ReplyVia = Literal["chat", "phone"]
Status = Literal["open", "claimed", "closed", "withdrawn"]
Outcome = Literal[
    "advice", "social_services", "exit_programme", "police", "withdrew", "no_response"
]
Role = Literal["staff", "coordinator", "admin"]


class CaseError(Exception):
    """A refused operation, with a stable ``reason`` the doors translate into words.

    reasons: "not_found", "forbidden", "not_open", "not_claimed_by_you",
    "already_claimed", "closed", "not_closed", "retention_passed", "invalid",
    "unknown_team", "too_long".
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


# --- what the relative sends --------------------------------------------------------------


@dataclass(frozen=True)
class RequestDraft:
    """The relative's answers. ``text`` is already scrubbed (see ``bot.services.scrub``)."""

    team_id: str
    language: str  # reply language
    concerns: Concern
    topic: str  # one of TOPICS
    urgency: Urgency
    reply_via: ReplyVia = "chat"
    phone: str | None = None  # only with reply_via == "phone" and consent given
    text: str | None = None


@dataclass(frozen=True)
class CreatedCase:
    case_id: int
    code: str  # "XXX-XXX"


@dataclass(frozen=True)
class RelativeView:
    """What the relative may see about their own case."""

    code: str
    status: Status
    created_at: datetime
    claimed: bool  # someone is on it
    staff_replies: int


# --- staff side ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StaffUser:
    """The logged-in staff member (from a session or an API token)."""

    id: int
    username: str
    role: Role
    teams: frozenset[str]
    display_name: str | None = None  # a first name staff may sign replies with

    def can_see(self, team_id: str) -> bool:
        return self.role == "admin" or team_id in self.teams


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
class PurgeReport:
    links_deleted: int
    texts_deleted: int


@dataclass(frozen=True)
class RetentionSettings:
    link_grace_days: int = 7
    text_retention_days: int = 30
    auto_release_minutes: int = 30


class RelayPort(Protocol):
    """Delivers a staff reply to the relative's chat; returns None or a failure reason.

    The door renders it in the relative's language as coming from "the helpline
    team of <municipality>", with ``signature`` (a first name) only if staff chose to sign.
    """

    async def deliver(
        self, chat_id: int, team_id: str, language: str, text: str, signature: str | None
    ) -> str | None: ...


class CaseEvents(Protocol):
    """Optional content-free notifications ("1 new urgent request for Botkyrka")."""

    async def new_request(self, team_id: str, urgent: bool) -> None: ...


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class CaseService:
    engine: AsyncEngine
    secret_key: bytes
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    relay: RelayPort | None = None
    events: CaseEvents | None = None
    now: Callable[[], datetime] = _now

    # -- relative side (the bot flow) -----------------------------------------------------

    async def create_request(self, draft: RequestDraft, chat_id: int) -> CreatedCase:
        """Validate, store the case and its encrypted contact link, commit, then notify."""
        raise NotImplementedError

    async def view_for_relative(self, case_id: int) -> RelativeView | None:
        raise NotImplementedError

    async def withdraw(self, case_id: int) -> None:
        """The relative withdrew (or used /delete): staff see "withdrawn"; link and text go."""
        raise NotImplementedError

    async def relative_message(self, case_id: int, text: str) -> bool:
        """Add the relative's (scrubbed) message to an open case; False if it is not open."""
        raise NotImplementedError

    # -- staff side -------------------------------------------------------------------------

    async def queue(self, staff: StaffUser) -> Queue:
        raise NotImplementedError

    async def detail(self, staff: StaffUser, code: str) -> CaseDetail:
        raise NotImplementedError

    async def claim(self, staff: StaffUser, code: str) -> ClaimResult:
        """Atomic: of many simultaneous claims exactly one wins."""
        raise NotImplementedError

    async def release(self, staff: StaffUser, code: str) -> None:
        raise NotImplementedError

    async def reply(
        self, staff: StaffUser, code: str, text: str, *, sign: bool = False
    ) -> CaseMessageView:
        """Store and relay through ``relay``; a failed relay is recorded on the message."""
        raise NotImplementedError

    async def add_note(self, staff: StaffUser, code: str, text: str) -> None:
        raise NotImplementedError

    async def transfer(self, staff: StaffUser, code: str, team_id: str) -> None:
        raise NotImplementedError

    async def close(self, staff: StaffUser, code: str, outcome: Outcome) -> None:
        raise NotImplementedError

    async def reopen(self, staff: StaffUser, code: str) -> None:
        raise NotImplementedError

    async def canned_replies(self, staff: StaffUser, team_id: str, language: str) -> list[str]:
        raise NotImplementedError

    async def audit_log(self, staff: StaffUser, limit: int = 200) -> list[AuditEntry]:
        """Admins only."""
        raise NotImplementedError

    # -- jobs -------------------------------------------------------------------------------

    async def auto_release(self) -> int:
        """Release claims with no staff reply for ``auto_release_minutes``."""
        raise NotImplementedError

    async def purge(self) -> PurgeReport:
        """Delete contact links after the grace period and texts after retention."""
        raise NotImplementedError
