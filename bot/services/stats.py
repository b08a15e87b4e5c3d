"""Anonymous usage statistics: daily counters that cannot point to anyone.

INTERFACE CONTRACT (shared by recording in the bot and the queue, the
coordinator pages, exports, the API and `python -m bot stats`; keep names and
types stable, implement the bodies).

What is recorded has no user key of any kind and no time finer than the day:
(day, team, language, kind, key) -> count. Recording is an in-memory increment
(the per-update budget is 0.2 ms CPU); a background flush adds the increments
to the table ``stats_counter`` every few seconds and at shutdown. Distinct
relatives per day are counted from a daily set of keyed digests that is folded
into a counter and deleted when the day is over: nothing that could recognise
a relative survives the day.

Table ``stats_counter`` (migration 0003): day DATE, team_id VARCHAR(32) ('' = none),
language VARCHAR(16) ('' = unknown), kind VARCHAR(32), key VARCHAR(96) ('' = none),
count INTEGER; primary key (day, team_id, language, kind, key).
Table ``stats_daily_seen``: day DATE, digest VARCHAR(32); primary key (day, digest);
rows older than today are folded into kind "relatives" and deleted.

Every number shown anywhere (pages, exports, API, CLI) passes through
``bot.services.suppression``: cells under 5 show as "<5", with complementary
suppression so no hidden value can be worked out from what is shown together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.services.cases import StaffUser

# kind -> what ``key`` holds
KINDS: dict[str, str] = {
    "conversation_started": "'' (a /start or first contact of a chat that had no state)",
    "relatives": "'' (distinct relatives that day; folded from stats_daily_seen)",
    "screen_viewed": "node id",
    "screen_move": "'<from node>><to node>' (both node ids)",
    "language_chosen": "language code",
    "team_chosen": "team id or 'none'",
    "helpful": "'<node id>:yes' or '<node id>:no'",
    "request_started": "'' (the relative began the contact questions)",
    "request_created": "''",
    "request_urgency": "urgent | soon | later",
    "request_topic": "one of cases.TOPICS",
    "request_concerns": "one of cases.CONCERNS",
    "request_reply_via": "chat | phone",
    "request_withdrawn": "''",
    "time_to_claim": "one of TIME_BUCKETS",
    "time_to_first_reply": "one of TIME_BUCKETS",
    "case_outcome": "one of cases.OUTCOMES",
    "relay_failed": "''",
}
TIME_BUCKETS = ("under_15m", "15m_1h", "1h_4h", "4h_24h", "1d_3d", "over_3d")
SMALL = 5  # cells under this are suppressed
FLUSH_SECONDS = 10.0

PeriodKind = Literal["week", "month", "quarter", "year", "custom"]


def time_bucket(seconds: float) -> str:
    """The bucket a waiting time falls in (coarse on purpose)."""
    raise NotImplementedError


@dataclass(frozen=True)
class Period:
    start: date  # inclusive
    end: date  # inclusive
    kind: PeriodKind = "custom"

    @classmethod
    def ending(cls, kind: PeriodKind, last_day: date) -> Period:
        """The week/month/quarter/year containing ``last_day`` (calendar-aligned)."""
        raise NotImplementedError


class StatsRecorder:
    """Cheap, synchronous recording from the doors' services; flushed in the background."""

    def __init__(
        self, engine: AsyncEngine, secret_key: bytes, today: Callable[[], date] | None = None
    ) -> None:
        self.engine = engine
        self.secret_key = secret_key
        self.today = today or (lambda: datetime.now(UTC).date())

    def count(self, kind: str, team_id: str | None, language: str | None, key: str = "") -> None:
        """Add one to today's counter (in memory). Unknown kinds raise ValueError."""
        raise NotImplementedError

    def seen(self, pseudonym: str) -> None:
        """Note that this chat used the guide today (for distinct relatives per day)."""
        raise NotImplementedError

    async def flush(self) -> None:
        """Add the pending increments to the database and fold finished days' digests."""
        raise NotImplementedError


@dataclass(frozen=True)
class Cell:
    """One shown number: ``value`` is None when suppressed (shown as "<5")."""

    value: int | None

    @property
    def shown(self) -> str:
        return "<5" if self.value is None else str(self.value)


@dataclass(frozen=True)
class StatTable:
    """One table as shown: rows x columns plus totals, already suppressed."""

    id: str  # "conversations_over_time", "top_screens", "languages", "helpfulness",
    # "funnel", "requests_over_time", "time_to_claim", "time_to_first_reply", "outcomes", ...
    title: str  # English msgid; the door translates
    row_label: str
    columns: list[str]
    rows: list[tuple[str, list[Cell]]]
    totals: list[Cell] | None = None
    note: str | None = None  # e.g. why a breakdown was refused


@dataclass(frozen=True)
class Report:
    period: Period
    team_ids: tuple[str, ...]  # the teams included
    tables: list[StatTable] = field(default_factory=list)


class StatsRefused(Exception):
    """A breakdown that would isolate fewer than SMALL, or a team the viewer may not see."""


@dataclass
class StatsService:
    engine: AsyncEngine
    known_teams: frozenset[str]

    async def report(self, viewer: StaffUser, period: Period, team_id: str | None) -> Report:
        """Coordinators: their teams; admins: all. ``team_id`` None = all the viewer's teams."""
        raise NotImplementedError

    def to_csv(self, report: Report) -> str:
        raise NotImplementedError

    def to_json(self, report: Report) -> dict:
        raise NotImplementedError
