"""A team's languages served and opening hours: the file's values, overlaid by an admin's.

Why kept in the database with the file as the default (issue #12): an admin changes these
in the browser without a terminal or a redeploy, while content/teams/*.yaml stays the
reviewed default that every fresh install and every test starts from. "Reset" removes the
row and the file's values apply again.

The effective values are read on the per-update path, so they come from this process's
memory, never a query per update: ``load`` reads the few rows at start and after every
change made here (listeners hear of it, so cached screens are rendered again); other
processes' changes arrive through ``refresh_if_stale``, which the runtime calls every
``REFRESH_SECONDS`` (so within a minute everywhere).

Validation: languages only from content/languages.yaml; opening hours per weekday as
HH:MM-HH:MM ranges on the 24-hour clock in the team's time zone, start before end, several
ranges a day allowed if they do not overlap, a day without ranges closed; "verified" needs a
source (who confirmed it, where). Every change is audited: which field of which team, by
whom, when; never the source text.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from bot.domain import CaseError, StaffUser
from bot.storage import teams as db
from bot.storage.database import Database
from bot.text_input import without_unstorable

log = logging.getLogger(__name__)

REFRESH_SECONDS = 30.0  # other processes' changes are seen within this (and the loop's turn)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_SOURCE = 300
MAX_RANGES = 6  # ranges a day
_RANGE = re.compile(r"([0-9]{2}):([0-9]{2})\s*[-\u2013\u2014]\s*([0-9]{2}):([0-9]{2})")


@dataclass(frozen=True)
class TeamFacts:
    """A team's languages served and opening hours, with whether someone confirmed them.

    ``opening_hours``: weekday (``mon``..``sun``) -> "08:00-12:00,13:00-16:30"; a day not
    in it is closed; None: not known.
    """

    languages_served: tuple[str, ...]
    languages_served_verified: bool
    opening_hours: dict[str, str] | None
    opening_hours_verified: bool
    timezone: str = "Europe/Stockholm"
    languages_source: str | None = None
    opening_hours_source: str | None = None


@dataclass(frozen=True)
class TeamSetting:
    """A team's effective facts, which groups an admin set, and who did it last."""

    team_id: str
    facts: TeamFacts
    languages_overridden: bool = False
    hours_overridden: bool = False
    changed_by: str | None = None
    changed_at: datetime | None = None


@dataclass(frozen=True)
class LanguagesChange:
    codes: tuple[str, ...]
    verified: bool
    source: str | None


@dataclass(frozen=True)
class HoursChange:
    weekly: dict[str, str] | None
    verified: bool
    source: str | None


@dataclass
class TeamSettingError(Exception):
    """Input that is not valid: ``problems`` as (field, reason) pairs, every one found.

    fields: "languages", "languages_source", "hours_source", or a weekday (``mon``..``sun``).
    reasons: "no_language", "unknown_language", "format", "order", "overlap", "too_many",
    "source_needed", "too_long".
    """

    problems: list[tuple[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        return ", ".join(f"{where}: {why}" for where, why in self.problems)


def parse_day(day: str, text: str, problems: list[tuple[str, str]]) -> str | None:
    """One weekday's ranges ("08:00-12:00, 13:00-16:30") as stored text; "" closed."""
    pieces = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    if not pieces:
        return ""
    if len(pieces) > MAX_RANGES:
        problems.append((day, "too_many"))
        return None
    ranges: list[tuple[int, int]] = []
    for piece in pieces:
        m = _RANGE.fullmatch(piece)
        if m is None:
            problems.append((day, "format"))
            return None
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
            problems.append((day, "format"))
            return None
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if start >= end:
            problems.append((day, "order"))
            return None
        ranges.append((start, end))
    ranges.sort()
    if any(a[1] > b[0] for a, b in itertools.pairwise(ranges)):
        problems.append((day, "overlap"))
        return None
    return ",".join(f"{s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}" for s, e in ranges)


def parse_weekly(by_day: Mapping[str, str]) -> tuple[dict[str, str] | None, list[tuple[str, str]]]:
    """Weekday texts as the stored weekly hours (None: no day has hours) and the problems."""
    problems: list[tuple[str, str]] = []
    weekly: dict[str, str] = {}
    for day in DAYS:
        parsed = parse_day(day, by_day.get(day, ""), problems)
        if parsed:
            weekly[day] = parsed
    return (weekly or None), problems


def clean_source(text: str | None, where: str, problems: list[tuple[str, str]]) -> str | None:
    cleaned = " ".join(without_unstorable(text or "").split())
    if len(cleaned) > MAX_SOURCE:
        problems.append((where, "too_long"))
    return cleaned or None


def _overlay(facts: TeamFacts, raw: Mapping[str, Any]) -> tuple[TeamFacts, bool, bool]:
    """The file's facts with a stored row's groups over them (a broken group is ignored)."""
    langs, hours = raw.get("languages"), raw.get("hours")
    has_langs = isinstance(langs, dict) and isinstance(langs.get("codes"), list)
    has_hours = isinstance(hours, dict) and (
        hours.get("weekly") is None or isinstance(hours.get("weekly"), dict)
    )
    if has_langs and isinstance(langs, dict):
        facts = replace(
            facts,
            languages_served=tuple(str(c) for c in langs["codes"]),
            languages_served_verified=bool(langs.get("verified")),
            languages_source=str(langs["source"]) if langs.get("source") else None,
        )
    if has_hours and isinstance(hours, dict):
        weekly = hours.get("weekly")
        facts = replace(
            facts,
            opening_hours={str(k): str(v) for k, v in weekly.items()} if weekly else None,
            opening_hours_verified=bool(hours.get("verified")),
            opening_hours_source=str(hours["source"]) if hours.get("source") else None,
        )
    return facts, has_langs, has_hours


class TeamSettings:
    """The effective languages served and opening hours of every team, and their changes."""

    def __init__(
        self,
        database: Database,
        defaults: Mapping[str, TeamFacts],
        languages: Iterable[str],
        *,
        refresh_seconds: float = REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.database = database
        self.defaults = dict(defaults)
        self.languages = tuple(languages)
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self.now = now
        self._settings = {tid: TeamSetting(tid, facts) for tid, facts in self.defaults.items()}
        self._loaded_at: float | None = None
        self._listeners: list[Callable[[], None]] = []

    # -- reading (from memory) -----------------------------------------------------------

    def subscribe(self, listener: Callable[[], None]) -> None:
        """``listener`` is called after the effective values changed (screens to redo)."""
        self._listeners.append(listener)

    def setting(self, team_id: str) -> TeamSetting | None:
        return self._settings.get(team_id)

    def team_changes(self, team_id: str) -> dict[str, object]:
        """The content Team's fields an admin set (field name -> value); {} for the file's."""
        setting = self._settings.get(team_id)
        if setting is None:
            return {}
        facts, changes = setting.facts, dict[str, object]()
        if setting.languages_overridden:
            changes["languages_served"] = facts.languages_served
            changes["languages_served_verified"] = facts.languages_served_verified
        if setting.hours_overridden:
            changes["opening_hours"] = facts.opening_hours
            changes["opening_hours_verified"] = facts.opening_hours_verified
        return changes

    # -- keeping memory current ----------------------------------------------------------

    async def load(self) -> None:
        """Read every row; listeners hear of it when an effective value changed."""
        async with self.database.read_tx() as conn:
            rows = await db.all_rows(conn)
        fresh = {tid: TeamSetting(tid, facts) for tid, facts in self.defaults.items()}
        for row in rows:
            if row.team_id not in fresh:
                continue  # a team no longer in content/teams: its row waits, unused
            try:
                raw = json.loads(row.overrides)
            except ValueError:
                log.warning("team_setting of %s is not JSON: the file's values apply", row.team_id)
                continue
            if not isinstance(raw, dict):
                continue
            facts, langs, hours = _overlay(self.defaults[row.team_id], raw)
            fresh[row.team_id] = TeamSetting(
                row.team_id, facts, langs, hours, row.changed_by, row.changed_at
            )
        changed = fresh != self._settings
        self._settings = fresh
        self._loaded_at = self.clock()
        if changed:
            for listener in self._listeners:
                listener()

    async def refresh_if_stale(self) -> bool:
        """Read again when the last read is older than ``refresh_seconds``; True if it read."""
        if self._loaded_at is not None and self.clock() - self._loaded_at < self.refresh_seconds:
            return False
        try:
            await self.load()
        except Exception as exc:  # keep the values in memory; the next turn tries again
            self._loaded_at = self.clock()
            log.error("team settings not read: %s", type(exc).__name__, exc_info=exc)
        return True

    # -- changing ------------------------------------------------------------------------

    def check_languages(
        self, codes: Iterable[str], verified: bool, source: str | None
    ) -> LanguagesChange:
        problems: list[tuple[str, str]] = []
        chosen = list(dict.fromkeys(codes))
        if not chosen:
            problems.append(("languages", "no_language"))
        if any(code not in self.languages for code in chosen):
            problems.append(("languages", "unknown_language"))
        cleaned = clean_source(source, "languages_source", problems)
        if verified and cleaned is None:
            problems.append(("languages_source", "source_needed"))
        if problems:
            raise TeamSettingError(problems)
        ordered = tuple(code for code in self.languages if code in chosen)
        return LanguagesChange(ordered, verified, cleaned)

    def check_hours(
        self, by_day: Mapping[str, str], verified: bool, source: str | None
    ) -> HoursChange:
        weekly, problems = parse_weekly(by_day)
        cleaned = clean_source(source, "hours_source", problems)
        if verified and cleaned is None:
            problems.append(("hours_source", "source_needed"))
        if problems:
            raise TeamSettingError(problems)
        return HoursChange(weekly, verified, cleaned)

    async def save(
        self,
        staff: StaffUser,
        team_id: str,
        languages: LanguagesChange | None = None,
        hours: HoursChange | None = None,
    ) -> TeamSetting:
        """Set either group or both (checked by ``check_*``); a group equal to now is no change.

        Refuses: "forbidden" (not an admin), "not_found" (no such team).
        """
        current = self._require(staff, team_id)
        facts = current.facts
        lang_now = LanguagesChange(
            facts.languages_served, facts.languages_served_verified, facts.languages_source
        )
        hours_now = HoursChange(
            facts.opening_hours, facts.opening_hours_verified, facts.opening_hours_source
        )
        actions = []
        if languages is not None and (languages != lang_now or not current.languages_overridden):
            actions.append("team_languages")
        else:
            languages = lang_now if current.languages_overridden else None
        if hours is not None and (hours != hours_now or not current.hours_overridden):
            actions.append("team_hours")
        else:
            hours = hours_now if current.hours_overridden else None
        if not actions:
            return current
        stored: dict[str, Any] = {}
        if languages is not None:
            stored["languages"] = {
                "codes": list(languages.codes),
                "verified": languages.verified,
                "source": languages.source,
            }
        if hours is not None:
            stored["hours"] = {
                "weekly": hours.weekly,
                "verified": hours.verified,
                "source": hours.source,
            }
        at = self.now()
        async with self.database.write_tx() as conn:
            await db.save(conn, team_id, json.dumps(stored, sort_keys=True), staff.username, at)
            for action in actions:
                await db.record_change(conn, at, staff.username, action, team_id)
        await self.load()
        return self._settings[team_id]

    async def reset(self, staff: StaffUser, team_id: str) -> TeamSetting:
        """Back to the file's values (audited when there was something to undo)."""
        self._require(staff, team_id)
        async with self.database.write_tx() as conn:
            if await db.remove(conn, team_id):
                await db.record_change(conn, self.now(), staff.username, "team_reset", team_id)
        await self.load()
        return self._settings[team_id]

    def _require(self, staff: StaffUser, team_id: str) -> TeamSetting:
        if not staff.is_admin:
            raise CaseError("forbidden")
        setting = self._settings.get(team_id)
        if setting is None:
            raise CaseError("not_found")
        return setting
