"""The product's vocabulary, on the ground floor: every layer imports it, it imports nothing
of the project.

What is stored is a short ASCII value from one of these tuples (labels live in the doors'
catalogs); each tuple has its ``Literal`` so a type checker sees a misspelt value. The value
types here are what more than one layer passes around: the relative's new request, what the
relative may see of it, the signed-in staff member with the role rules, and the refusal
every door translates into words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

# --- stored vocabularies -------------------------------------------------------------------

Concern = Literal["child", "young_adult", "adult", "unsaid"]
Urgency = Literal["urgent", "soon", "later"]
ReplyVia = Literal["chat", "phone"]
Status = Literal["open", "claimed", "closed", "withdrawn"]
Outcome = Literal[
    "advice", "social_services", "exit_programme", "police", "withdrew", "no_response"
]
Role = Literal["staff", "coordinator", "admin"]
Feedback = Literal["yes", "partly", "no"]

# Whom the worry concerns.
CONCERNS: tuple[Concern, ...] = ("child", "young_adult", "adult", "unsaid")
TOPICS = ("worry", "talk", "online", "milieus", "leaving", "selfcare", "municipality", "other")
# urgent = immediate danger: the bot also shows 112.
URGENCIES: tuple[Urgency, ...] = ("urgent", "soon", "later")
# phone = call-back: non-anonymous, needs explicit consent.
REPLY_VIA: tuple[ReplyVia, ...] = ("chat", "phone")
STATUSES: tuple[Status, ...] = ("open", "claimed", "closed", "withdrawn")
# A request someone still has to answer: in the queue, free or held.
ACTIVE_STATUSES: tuple[Status, ...] = ("open", "claimed")
OUTCOMES: tuple[Outcome, ...] = (
    "advice",
    "social_services",
    "exit_programme",
    "police",
    "withdrew",
    "no_response",
)
ROLES: tuple[Role, ...] = ("staff", "coordinator", "admin")
# The relative's optional one-tap answer to "Did the contact help?" after a close.
FEEDBACK: tuple[Feedback, ...] = ("yes", "partly", "no")

# --- limits --------------------------------------------------------------------------------

# Case codes: unambiguous characters only (no 0/O, 1/I/L, 2/Z, 5/S, 8/B), shown as XXX-XXX.
CODE_ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
CODE_LENGTH = 6
CASE_CODE_PATTERN = rf"[{CODE_ALPHABET}]{{3}}-[{CODE_ALPHABET}]{{3}}"
MAX_TEXT = 1000  # characters of the relative's optional text and of one relayed message
MAX_STAFF_TEXT = 3000  # characters of one staff reply or note

# --- the statistics' calendar --------------------------------------------------------------


def last_whole_month_end(day: date) -> date:
    """The last day of the last calendar month that is over by the end of ``day``: what
    the guide's usage is kept through (by month; storage reads it, services build it)."""
    if (day + timedelta(days=1)).day == 1:
        return day
    return day.replace(day=1) - timedelta(days=1)


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


# --- what the relative sends and sees ------------------------------------------------------


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
    """The signed-in staff member (from a session or an API token), with the role rules."""

    id: int
    username: str
    role: Role
    teams: frozenset[str]
    display_name: str | None = None  # a first name staff may sign replies with

    @property
    def is_admin(self) -> bool:
        """Admins see every team's queue and the audit log."""
        return self.role == "admin"

    @property
    def can_read_stats(self) -> bool:
        """Coordinators and admins review statistics, content status and canned replies."""
        return self.role in ("coordinator", "admin")

    def can_see(self, team_id: str) -> bool:
        return self.is_admin or team_id in self.teams
