"""HTML rendering for the staff pages: Jinja2 templates, translated labels, Babel formats."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from aiohttp import web
from babel.dates import format_timedelta
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from bot.content.model import Content, Team
from bot.i18n import N_
from bot.web.staff import texts
from bot.web.staff.dates import StaffDates
from bot.web.staff.refusals import REFUSALS, refusal

if TYPE_CHECKING:
    from bot.web.staff.context import Ctx

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
QUEUE_ROWS_SHOWN = 200  # the page lists the first 200 and says how many there are in all

ERRORS = {
    "stale_form": (
        N_("This form is out of date"),
        N_(
            "The page was open for a long time, or you signed in again elsewhere. "
            "Nothing was changed. Go back, reload the page and try again."
        ),
    ),
    "not_found": (N_("Not found"), N_("There is no request with that case code.")),
    "forbidden": (
        N_("Not your team's request"),
        N_("This request belongs to a team you are not part of."),
    ),
    "admin_only": (N_("For administrators"), N_("Only administrators can see this page.")),
    "lead_only": (
        N_("For coordinators"),
        N_("Only coordinators and administrators can see this page."),
    ),
    "http": (N_("Not found"), N_("There is no such page.")),
    "internal": (
        N_("Something went wrong"),
        N_("Something went wrong on the server. Try again in a moment."),
    ),
    "unavailable": (
        N_("Briefly unavailable"),
        N_(
            "The service cannot reach its database just now. Try again in a minute. If you "
            "sent a form, open the page again first to see whether it went through."
        ),
    ),
}


class PageRenderer:
    def __init__(self, content: Content, timezone: str, poll_seconds: float) -> None:
        self.content = content
        # The effective team (the file with an admin's languages and hours over it): the
        # runtime's Renderer.team; the file's team without one.
        self.team_of: Callable[[str], Team | None] = content.teams.get
        self.tz = ZoneInfo(timezone)
        self.dates = StaffDates(self.tz)  # ISO dates, 24-hour clock, in TIME_ZONE
        self.poll_ms = int(poll_seconds * 1000)
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["bdi"] = bdi

    def team_name(self, team_id: str, lang: str) -> str:
        team = self.content.teams.get(team_id)
        if team is None:
            return team_id
        return team.name.get(lang) or team.name.get("sv") or team_id

    def language_name(self, code: str) -> str:
        language = self.content.languages.get(code)
        return language.name if language else code

    def served_languages(self, team_id: str) -> list[str]:
        """The languages the team's staff answer in (its file, or an admin since), as named."""
        team = self.team_of(team_id)
        return [self.language_name(code) for code in team.languages_served] if team else []

    def serves(self, team_id: str, code: str) -> bool:
        team = self.team_of(team_id)
        return team is None or code in team.languages_served

    def base_context(self, ctx: Ctx) -> dict[str, Any]:
        tr = ctx.tr
        lang = tr.code

        def label(table: Mapping[str, str], value: str | None) -> str:
            if value is None:
                return ""
            return tr.gettext(table[value]) if value in table else value

        def age(seconds: int) -> str:
            """How long it has waited, as a duration ("5 minutes"), in the page's language."""
            return format_timedelta(timedelta(seconds=max(1, seconds)), locale=tr.locale)

        return {
            "_": tr.gettext,
            "ngettext": tr.ngettext,
            "lang": lang,
            "user": ctx.user,
            "csrf": ctx.session.csrf,
            "flash": None,
            "path": ctx.request.path_qs,
            "label": label,
            "age": age,
            "when": self.dates.moment,  # 2026-12-01 08:14 in sv and en alike
            "day": self.dates.day,
            "clock": self.dates.clock,
            "iso_moment": self.dates.iso,
            "team_name": lambda team_id: self.team_name(team_id, lang),
            "language_name": self.language_name,
            "served_languages": self.served_languages,
            "serves": self.serves,
            "texts": texts,
            "poll_ms": self.poll_ms,
            "session_left": ctx.session.left,  # for session.js's warning (keepalive.py)
            "languages": [("sv", "Svenska"), ("en", "English")],
        }

    def render(self, ctx: Ctx, template: str, status: int = 200, **values: Any) -> web.Response:
        values.setdefault("flash", ctx.session.pop_flash())  # only whole pages show it
        html = self.fragment(ctx, template, **values)
        return web.Response(
            text=html,
            status=status,
            content_type="text/html",
            charset="utf-8",
            headers=SECURITY_HEADERS,
        )

    def fragment(self, ctx: Ctx, template: str, **values: Any) -> str:
        context = self.base_context(ctx)
        context.update(values)
        return self.env.get_template(template).render(context)

    def refused(self, ctx: Ctx, reason: str) -> web.Response:
        """A service's refusal as a page, with the status every door gives it."""
        return self.error(ctx, refusal(reason).status, reason)

    def error(self, ctx: Ctx, status: int, kind: str) -> web.Response:
        title, body = ERRORS.get(kind, ERRORS["http"])
        if kind in REFUSALS and kind not in ERRORS:
            title, body = N_("This could not be done"), REFUSALS[kind].message
        return self.render(
            ctx, "staff/error.html", status=status, title=ctx.say(title), message=ctx.say(body)
        )


def bdi(value: object, lang: str | None = None) -> Markup:
    """Text written by a person, or a name in another script, isolated in ``<bdi>``
    (``dir="auto"``: its own first strong letter decides), so an Arabic name cannot
    reorder the Swedish line around it ("Språk: العربية (ar)", not "(ar) العربية :Språk")."""
    if lang:
        return Markup('<bdi lang="{}" dir="auto">{}</bdi>').format(lang, value)
    return Markup('<bdi dir="auto">{}</bdi>').format(value)


SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
