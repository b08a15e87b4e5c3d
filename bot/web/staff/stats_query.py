"""What a statistics request asks for: period and team, checked before any query runs.

The page, the exports and the API share this parser, so odd query strings get
the same clear refusal everywhere (never a 500), and a coordinator cannot ask
for a team they do not belong to by editing the address.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from bot.domain import StaffUser
from bot.i18n import N_
from bot.services.stats import GRID_KINDS, Period, PeriodKind

PERIOD_KINDS: tuple[PeriodKind, ...] = GRID_KINDS  # the grid: no custom ranges (issue #13)
_KIND_OF: dict[str, PeriodKind] = {kind: kind for kind in PERIOD_KINDS}  # a word, typed
DEFAULT_PERIOD = "month"
RANGE_KEYS = ("from", "to")  # an old link's custom range: refused, naming the grid
EARLIEST = date(2020, 1, 1)

# reason -> (HTTP status, English msgid shown to people and in the API's "message")
PROBLEMS: dict[str, tuple[int, str]] = {
    "not_coordinator": (
        403,
        N_("Statistics are for coordinators and administrators."),
    ),
    "unknown_period": (
        400,
        N_("Unknown period. Choose week, month, quarter or year."),
    ),
    "off_grid": (
        400,
        N_(
            "Statistics are shown for a week, a month, a quarter or a year, not for a range "
            "of your own choosing. Choose one of these periods."
        ),
    ),
    "bad_date": (400, N_("A date was not understood. Write dates as YYYY-MM-DD.")),
    "out_of_range": (400, N_("That date is outside the range statistics cover.")),
    "unknown_team": (400, N_("There is no such team.")),
    "team_forbidden": (403, N_("You can only see statistics for your own teams.")),
    "unknown_separator": (
        400,
        N_("Unknown separator. Choose comma or semicolon (for Excel in Swedish)."),
    ),
}
# ``sep`` of a CSV export: "," by default; ";" for Excel where the decimal separator is a
# comma (Swedish), which otherwise opens a comma-separated file as one column.
SEPARATORS = {"": ",", "comma": ",", "semicolon": ";"}


class StatsInputError(Exception):
    """A request the statistics door refuses before asking the service; ``reason`` in PROBLEMS."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @property
    def status(self) -> int:
        return PROBLEMS[self.reason][0]

    @property
    def message(self) -> str:
        return PROBLEMS[self.reason][1]


@dataclass(frozen=True)
class StatsQuery:
    period: Period
    team_id: str | None  # None: all the viewer's teams

    def params(self) -> dict[str, str]:
        """The query string that asks for exactly this again (for links and exports)."""
        out: dict[str, str] = {"period": self.period.kind, "date": self.period.end.isoformat()}
        if self.team_id:
            out["team"] = self.team_id
        return out


def visible_teams(user: StaffUser, known_teams: frozenset[str]) -> list[str]:
    """The teams the period form offers: every team to an admin, else the user's own."""
    return sorted(t for t in known_teams if user.can_see(t))


def parse_day(raw: str) -> date:
    """A day written YYYY-MM-DD within the range statistics cover, or StatsInputError."""
    raw = raw.strip()
    if len(raw) != 10:
        raise StatsInputError("bad_date")
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise StatsInputError("bad_date") from None
    if day < EARLIEST or day > date(9998, 12, 31):
        raise StatsInputError("out_of_range")
    return day


def parse_period(query: Mapping[str, str], today: date) -> Period:
    """The grid period containing ``date`` (default today); a custom range is refused."""
    asked = query.get("period", "").strip()
    if asked == "custom" or any(key in query for key in RANGE_KEYS):
        raise StatsInputError("off_grid")
    kind = _KIND_OF.get(asked or DEFAULT_PERIOD)
    if kind is None:
        raise StatsInputError("unknown_period")
    raw = query.get("date", "")
    last_day = parse_day(raw) if raw.strip() else today
    return Period.ending(kind, last_day)


def parse_stats_query(
    query: Mapping[str, str], user: StaffUser, known_teams: frozenset[str], today: date
) -> StatsQuery:
    """The period and team asked for, or StatsInputError with a reason the door can show."""
    if not user.can_read_stats:
        raise StatsInputError("not_coordinator")
    period = parse_period(query, today)
    team = query.get("team", "").strip() or None
    if team is not None:
        if team not in known_teams:
            raise StatsInputError("unknown_team")
        if not user.can_see(team):
            raise StatsInputError("team_forbidden")
    return StatsQuery(period, team)


def csv_delimiter(query: Mapping[str, str]) -> str:
    """The CSV export's delimiter from ``sep`` (comma or semicolon), or StatsInputError."""
    delimiter = SEPARATORS.get(query.get("sep", "").strip().lower())
    if delimiter is None:
        raise StatsInputError("unknown_separator")
    return delimiter
