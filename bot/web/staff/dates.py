"""Dates and times on the staff pages: Swedish convention in every page language.

Why one convention for both Swedish and English pages: the people reading them work in
Swedish municipalities, where "12/1/26, 8:14 AM" (Babel's English short format) reads
as the 12th of January. Every staff page therefore shows ISO dates (2026-12-01) and a
24-hour clock (08:14), in the deployment's TIME_ZONE, whichever language it is in.
Exports and the API keep full ISO 8601 with the offset (they are read by programs).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

DATE_FORMAT = "%Y-%m-%d"  # 2026-12-01
TIME_FORMAT = "%H:%M"  # 08:14
DATETIME_FORMAT = f"{DATE_FORMAT} {TIME_FORMAT}"  # 2026-12-01 08:14


@dataclass(frozen=True)
class StaffDates:
    """Formats moments and days for the staff pages, in one time zone (TIME_ZONE)."""

    zone: ZoneInfo

    @classmethod
    def of(cls, zone: str) -> StaffDates:
        return cls(ZoneInfo(zone))

    def local(self, value: datetime) -> datetime:
        """The moment in the zone; a naive value is taken as UTC (how storage returns it)."""
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(self.zone)

    def moment(self, value: datetime | None) -> str:
        """The moment as "2026-12-01 08:14" (empty for None)."""
        return self.local(value).strftime(DATETIME_FORMAT) if value is not None else ""

    def clock(self, value: datetime | None) -> str:
        """The clock time as "08:14" (empty for None)."""
        return self.local(value).strftime(TIME_FORMAT) if value is not None else ""

    def day(self, value: date | datetime | str | None) -> str:
        """The day as "2026-12-01"; a moment is first moved into the zone; an ISO string
        passes as is."""
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        if isinstance(value, datetime):
            value = self.local(value)
        return value.strftime(DATE_FORMAT)

    def iso(self, value: datetime) -> str:
        """Machine-readable, for ``<time datetime="...">``: ISO 8601 with the zone's offset."""
        return self.local(value).isoformat(timespec="minutes")
