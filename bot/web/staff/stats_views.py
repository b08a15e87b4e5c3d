"""Coordinators' statistics: the page with charts and tables, CSV/JSON exports, the API.

Also two pages about the product's own openness: "what is counted" (public, for
relatives and for the municipality's impact assessment) and the content status
(coverage and review of each language, for coordinators). Views parse the query
(``stats_query``), call ``StatsService``, render; every number they show comes
out of the service already suppressed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web

from bot.chat.check import checked_once
from bot.content.translations import LanguageStatus
from bot.content.validate import Coverage
from bot.services.stats import Report, StatsRefused, StatsService, StatTable
from bot.web.staff import texts
from bot.web.staff.app import api_error, choose_language
from bot.web.staff.pages import SECURITY_HEADERS
from bot.web.staff.stats_labels import HIDDEN, TIME_BUCKET_LABELS, chart_kind
from bot.web.staff.stats_query import (
    PERIOD_KINDS,
    StatsInputError,
    StatsQuery,
    may_see_statistics,
    parse_stats_query,
    visible_teams,
)

if TYPE_CHECKING:
    from bot.web.staff.app import Ctx, StaffWeb

log = logging.getLogger(__name__)
ABOUT_PATH = "/what-is-counted"


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

    @classmethod
    def from_core(cls, core: Any) -> StatsDeps:
        service = getattr(core, "stats_service", None) or getattr(core, "stats", None)
        if not isinstance(service, StatsService):
            service = StatsService(core.database, frozenset(core.content.teams))
        settings = core.settings
        return cls(
            service,
            settings.content_dir,
            settings.locales_dir,
            settings.session_retention_days,
            settings.case_text_retention_days,
        )

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


def _chart(table: StatTable, say: Callable[[str], str], label: Callable[[str], str]) -> dict:
    """Chart.js-ready data: a suppressed cell is null (a gap), in ``hidden`` with its mark."""
    hidden = [
        [r, c, say(HIDDEN) if cell.complement else cell.shown]
        for r, (_, cells) in enumerate(table.rows)
        for c, cell in enumerate(cells)
        if cell.value is None
    ]
    return {
        "id": table.id,
        "kind": chart_kind(table.id, len(table.rows)),
        "labels": [label(key) for key, _ in table.rows],
        "datasets": [
            {"label": say(column), "data": [cells[c].value for _, cells in table.rows]}
            for c, column in enumerate(table.columns)
        ],
        "hidden": hidden,
    }


def add_routes(app: web.Application, web_: StaffWeb) -> None:
    page = web_.page
    api = web_.api
    pages = web_.pages

    def deps() -> StatsDeps:
        if web_.stats is None:
            raise web.HTTPServiceUnavailable(reason="statistics are not set up")
        return web_.stats

    def labeller(ctx: Ctx) -> Callable[[str], str]:
        content = web_.content

        def node_title(key: str) -> str:
            try:
                return content.text(ctx.lang, key).title or key
            except (KeyError, LookupError):
                return key

        def label(key: str) -> str:
            if key in content.nodes:
                return node_title(key)
            source, sep, target = key.partition(">")
            if sep and source in content.nodes and target in content.nodes:
                return f"{node_title(source)} → {node_title(target)}"
            if key in content.languages:
                return content.languages[key].name
            if key in content.teams:
                return pages.team_name(key, ctx.lang)
            for table in (
                TIME_BUCKET_LABELS,
                texts.OUTCOME_LABELS,
                texts.TOPIC_LABELS,
                texts.URGENCY_LABELS,
                texts.CONCERN_LABELS,
                texts.REPLY_VIA_LABELS,
                texts.FEEDBACK_LABELS,
            ):
                if key in table:
                    return ctx.say(table[key])
            return key

        return label

    def problem_page(ctx: Ctx, status: int, message: str, **extra: Any) -> web.Response:
        return pages.render(
            ctx, "staff/stats_problem.html", status=status, message=message, **extra
        )

    async def report_for(ctx: Ctx) -> tuple[StatsQuery, Report]:
        assert ctx.user is not None
        d = deps()
        query = parse_stats_query(ctx.request.query, ctx.user, d.service.known_teams, d.today())
        report = await d.service.report(ctx.user, query.period, query.team_id)
        return query, report

    def form_values(ctx: Ctx) -> dict[str, Any]:
        q = ctx.request.query
        assert ctx.user is not None
        return {
            "periods": PERIOD_KINDS,
            "period_kind": q.get("period", "month") if q.get("period") in PERIOD_KINDS else "month",
            "from_value": q.get("from", "")[:10],
            "to_value": q.get("to", "")[:10],
            "team_value": q.get("team", "")[:32],
            "teams": visible_teams(ctx.user, deps().service.known_teams),
            "about_path": ABOUT_PATH,
        }

    @page()
    async def stats_page(ctx: Ctx) -> web.StreamResponse:
        assert ctx.user is not None
        if not may_see_statistics(ctx.user):
            return problem_page(ctx, 403, ctx.say(StatsInputError("not_coordinator").message))
        try:
            query, report = await report_for(ctx)
        except StatsInputError as exc:
            return problem_page(ctx, exc.status, ctx.say(exc.message), **form_values(ctx))
        except StatsRefused as exc:
            return problem_page(ctx, 400, ctx.say(str(exc)), **form_values(ctx))
        label = labeller(ctx)
        charts = [_chart(t, ctx.say, label) for t in report.tables]
        params = urlencode(query.params())
        values = form_values(ctx)
        values["period_kind"] = query.period.kind
        if query.period.kind == "custom":
            values["from_value"] = query.period.start.isoformat()
            values["to_value"] = query.period.end.isoformat()
        return pages.render(
            ctx,
            "staff/stats.html",
            report=report,
            query=query,
            tables=list(zip(report.tables, charts, strict=True)),
            charts_json=json.dumps(charts, ensure_ascii=False).replace("</", "<\\/"),
            row_label=label,
            csv_url=f"/staff/stats.csv?{params}",
            json_url=f"/staff/stats.json?{params}",
            api_url=f"/api/v1/stats?{params}",
            **values,
        )

    def filename(query: StatsQuery, ext: str) -> str:
        p = query.period
        team = query.team_id or "all"
        return f"statistics-{team}-{p.start.isoformat()}-{p.end.isoformat()}.{ext}"

    async def export(ctx: Ctx, ext: str) -> web.StreamResponse:
        assert ctx.user is not None
        if not may_see_statistics(ctx.user):
            return problem_page(ctx, 403, ctx.say(StatsInputError("not_coordinator").message))
        try:
            query, report = await report_for(ctx)
        except StatsInputError as exc:
            return problem_page(ctx, exc.status, ctx.say(exc.message), **form_values(ctx))
        except StatsRefused as exc:
            return problem_page(ctx, 400, ctx.say(str(exc)), **form_values(ctx))
        service = deps().service
        headers = {
            "Content-Disposition": f'attachment; filename="{filename(query, ext)}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        }
        if ext == "csv":
            return web.Response(
                text=service.to_csv(report),
                content_type="text/csv",
                charset="utf-8",
                headers=headers,
            )
        return web.Response(
            text=_dumps(service.to_json(report)),
            content_type="application/json",
            charset="utf-8",
            headers=headers,
        )

    @page()
    async def stats_csv(ctx: Ctx) -> web.StreamResponse:
        return await export(ctx, "csv")

    @page()
    async def stats_json(ctx: Ctx) -> web.StreamResponse:
        return await export(ctx, "json")

    @api()
    async def stats_api(ctx: Ctx) -> web.StreamResponse:
        assert ctx.user is not None
        try:
            _, report = await report_for(ctx)
        except StatsInputError as exc:
            return api_error(exc.status, exc.reason, exc.message)
        except StatsRefused as exc:
            return api_error(400, "refused", str(exc))
        return web.json_response(
            deps().service.to_json(report),
            headers={"Cache-Control": "no-store"},
            dumps=_dumps,
        )

    @page()
    async def content_status(ctx: Ctx) -> web.StreamResponse:
        assert ctx.user is not None
        if not may_see_statistics(ctx.user):
            return problem_page(
                ctx, 403, ctx._("The content status is for coordinators and administrators.")
            )
        coverage = await deps().coverage()
        languages = web_.content.languages
        rows = [(c, languages[c.language]) for c in coverage if c.language in languages]
        translations = _translation_rows(ctx, web_, await deps().translations())
        return pages.render(
            ctx, "staff/content_status.html", rows=rows, translations=translations
        )

    async def about(request: web.Request) -> web.StreamResponse:
        """Public: no sign-in and no cookie (a relative may open it from the bot)."""
        lang = request.query.get("lang", "")
        if lang not in web_.public_translators:
            lang = choose_language(_NO_SESSION, request.headers.get("Accept-Language", ""))
        tr = web_.public_translators[lang]
        d = web_.stats
        html = pages.env.get_template("about_stats.html").render(
            _=tr.gettext,
            lang=lang,
            direction="rtl" if tr.rtl else "ltr",
            other=[
                (language.code, language.name)
                for language in web_.content.enabled_languages
                if language.code != lang
            ],
            path=ABOUT_PATH,
            session_days=d.session_retention_days if d else 30,
            case_days=d.case_text_retention_days if d else 30,
        )
        return web.Response(
            text=html, content_type="text/html", charset="utf-8", headers=_public_headers()
        )

    router = app.router
    router.add_get("/staff/stats", stats_page)
    router.add_get("/staff/stats.csv", stats_csv)
    router.add_get("/staff/stats.json", stats_json)
    router.add_get("/staff/content", content_status)
    router.add_get("/api/v1/stats", stats_api)
    router.add_get(ABOUT_PATH, about)


def _translation_rows(
    ctx: Ctx, web_: StaffWeb, statuses: dict[str, LanguageStatus]
) -> list[tuple[LanguageStatus, Any, list[tuple[Any, str]]]]:
    """(status, language, [(screen status, screen's name in the page's language)])."""
    content = web_.content

    def screen_name(screen: str) -> str:
        if screen in content.nodes:
            title = content.text(ctx.lang, screen).title
            return f"{title.replace('{team}', '…')} ({screen})"
        if screen.startswith("team:"):
            return web_.pages.team_name(screen.removeprefix("team:"), ctx.lang)
        return ctx._("National places to turn")

    return [
        (
            status,
            content.languages[code],
            [(s, screen_name(s.screen)) for s in status.screens.values()],
        )
        for code, status in statuses.items()
        if code in content.languages
    ]


def _dumps(value: Any) -> str:
    """JSON for exports and the API; dates (if the report carries any) as ISO strings."""
    return json.dumps(value, ensure_ascii=False, default=_iso)


def _iso(value: Any) -> str:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


class _NoSession:
    lang = None


_NO_SESSION: Any = _NoSession()


def _public_headers() -> dict[str, str]:
    headers = dict(SECURITY_HEADERS)
    headers["Cache-Control"] = "public, max-age=300"
    return headers
