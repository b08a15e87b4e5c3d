"""The statistics report's value types: periods, waiting-time buckets and shown cells.

Why a module of their own: the recorder and service (``stats``) and the table builder
(``stats_report``) both need them; kept in either, the two imported each other.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

TIME_BUCKETS = ("under_15m", "15m_1h", "1h_4h", "4h_24h", "1d_3d", "over_3d")
SMALL = 5  # cells under this are suppressed

PeriodKind = Literal["week", "month", "quarter", "year"]
# The grid (issue #13): reports exist only for these calendar periods, never a free range,
# so two reports overlap only as a period and the periods it contains (a week may straddle
# two months), and every figure is one protected figure per period and team.
GRID_KINDS: tuple[PeriodKind, ...] = ("week", "month", "quarter", "year")
# The refusal of anything else (an old link's custom range): an English msgid, the same
# text the door's parser lists (stats_query.PROBLEMS["off_grid"]) so both are translated.
OFF_GRID = (
    "Statistics are shown for a week, a month, a quarter or a year, not for a range of your "
    "own choosing. Choose one of these periods."
)

# A period whose first day is today (a new week, month ...): no day of it is closed yet.
NO_WHOLE_DAY = (
    "This period has no finished day yet. Each day's figures are shown from the next day on."
)


_BUCKET_LIMITS = (15 * 60, 3600, 4 * 3600, 24 * 3600, 3 * 24 * 3600)  # upper bounds, seconds


def time_bucket(seconds: float) -> str:
    """The bucket a waiting time falls in (coarse on purpose)."""
    for limit, name in zip(_BUCKET_LIMITS, TIME_BUCKETS, strict=False):
        if seconds < limit:
            return name
    return TIME_BUCKETS[-1]


@dataclass(frozen=True)
class Period:
    start: date  # inclusive
    end: date  # inclusive
    kind: PeriodKind

    @property
    def on_grid(self) -> bool:
        """A whole grid period, or one cut short at its start's period's end (not over yet)."""
        if self.kind not in GRID_KINDS:
            return False
        whole = Period.ending(self.kind, self.start)
        return whole.start == self.start and self.start <= self.end <= whole.end

    @classmethod
    def ending(cls, kind: PeriodKind, last_day: date) -> Period:
        """The week/month/quarter/year containing ``last_day`` (calendar-aligned).

        Weeks are ISO weeks (Monday to Sunday).
        """
        d = last_day
        if kind == "week":
            start = d - timedelta(days=d.weekday())
            return cls(start, start + timedelta(days=6), kind)
        if kind == "month":
            last = calendar.monthrange(d.year, d.month)[1]
            return cls(d.replace(day=1), d.replace(day=last), kind)
        if kind == "quarter":
            first_month = 3 * ((d.month - 1) // 3) + 1
            end_month = first_month + 2
            last = calendar.monthrange(d.year, end_month)[1]
            return cls(date(d.year, first_month, 1), date(d.year, end_month, last), kind)
        if kind == "year":
            return cls(date(d.year, 1, 1), date(d.year, 12, 31), kind)
        raise ValueError(f"unknown period kind {kind!r}")


@dataclass(frozen=True)
class Cell:
    """One shown number: ``value`` is None when suppressed (shown as "<5").

    ``complement`` (added): hidden although 5 or more, so that a small count beside it
    cannot be worked out from a total; shown as "hidden", since "<5" would be untrue.
    """

    value: int | None
    complement: bool = False
    # (added, issue #13) not shown at all, with no bound: where the rules themselves would
    # pin a small count (four "<5" days of 1 under a "<5" week), one figure is withheld.
    withheld: bool = False
    # (added, issue #13) a total of a period not over yet: shown the day after it ends, so
    # that a total never changes (two days' reports cannot be differenced).
    pending: bool = False

    @property
    def shown(self) -> str:
        if self.value is not None:
            return str(self.value)
        if self.pending:
            return "after the period"
        if self.withheld:
            return "not shown"
        return "hidden" if self.complement else "<5"


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
    time_zone: str = "UTC"  # the days are days in this zone (TIME_ZONE)
