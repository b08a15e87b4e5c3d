"""What the staff door is given: services, content, translators, the session codec, pages.

One ``StaffDoor`` is built by ``StaffWeb`` and stored under ``DOOR`` on the root app and
on both sub-applications; handlers read it with ``door_of(request)``. ``StatsDeps`` is
what the statistics pages need besides: the ``StatsService`` the runtime built, and the
settings the content status and the public "what is counted" page show.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from aiohttp import web

from bot.chat.check import checked_once
from bot.content.model import Content
from bot.content.translations import LanguageStatus
from bot.content.validate import Coverage
from bot.i18n import Translator
from bot.services.canned import CannedReplies
from bot.services.cases import CaseService
from bot.services.signin import SignInService
from bot.services.staff import StaffService
from bot.services.staff_sessions import StaffSessions
from bot.services.stats import StatsService
from bot.services.teams import TeamSettings
from bot.web.staff.pages import PageRenderer
from bot.web.staff.session import SessionCodec


@dataclass
class StatsDeps:
    """What the statistics door needs besides the staff door's own services."""

    service: StatsService
    content_dir: Path | None = None
    locales_dir: Path | None = None
    session_retention_days: int = 30
    case_text_retention_days: int = 30
    today: Callable[[], date] = field(default=lambda: datetime.now(UTC).date())
    _coverage: list[Coverage] | None = None
    _translations: dict[str, LanguageStatus] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def coverage(self) -> list[Coverage]:
        """The content check's coverage, computed once (content is immutable while running)."""
        async with self._lock:
            if self._coverage is None:
                if self.content_dir is None or self.locales_dir is None:
                    return []
                report = await asyncio.to_thread(
                    checked_once, self.content_dir, self.locales_dir, self.session_retention_days
                )
                self._coverage = report.coverage
                self._translations = report.translations
            return self._coverage

    async def translations(self) -> dict[str, LanguageStatus]:
        """Per language: content texts translated, reviewed and stale, per screen."""
        await self.coverage()
        return self._translations


@dataclass
class StaffDoor:
    """Everything a staff handler may use; built once, read-only while serving."""

    cases: CaseService
    staff: StaffService
    signin: SignInService
    canned: CannedReplies
    content: Content
    translators: dict[str, Translator]  # the staff pages' languages
    public_translators: dict[str, Translator]  # every relatives' language, for public pages
    codec: SessionCodec
    sessions: StaffSessions  # the staff_session rows a cookie or token must name
    pages: PageRenderer
    cookie_secure: bool | None  # None: Secure whenever the request came over https
    stats: StatsDeps | None = None
    teams: TeamSettings | None = None  # teams' languages and hours set in the browser


DOOR = web.AppKey("staff_door", StaffDoor)


def door_of(request: web.Request) -> StaffDoor:
    return request.app[DOOR]


def stats_of(request: web.Request) -> StatsDeps:
    """The statistics dependencies; a door built without them answers 503."""
    stats = request.app[DOOR].stats
    if stats is None:
        raise web.HTTPServiceUnavailable(reason="statistics are not set up")
    return stats
