"""Coordinators' statistics: the page with charts and tables, CSV/JSON exports, the API.

Also two pages about the product's own openness: "what is counted" (public, for
relatives and for the municipality's impact assessment) and the content status
(coverage and review of each language, for coordinators). Views parse the query
(``stats_query``), call the ``StatsService`` the runtime built, render; every number
they show comes out of the service already suppressed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from babel.dates import format_date

from bot.content.translations import LanguageStatus
from bot.services.stats import Report, StatsRefused, StatTable
from bot.web.staff import texts
from bot.web.staff.api import api_error
from bot.web.staff.context import STAFF_LANGUAGES, Ctx, choose_language, ctx_of
from bot.web.staff.deps import StaffDoor, door_of, stats_of
from bot.web.staff.pages import SECURITY_HEADERS
from bot.web.staff.stats_labels import (
    NO_WHOLE_DAY,
    ROW_KEYS,
    TIME_BUCKET_LABELS,
    cell_text,
    chart_kind,
    note_words,
    period_name,
    protection_note,
    report_sections,
)
from bot.web.staff.stats_query import (
    PERIOD_KINDS,
    StatsInputError,
    StatsQuery,
    csv_delimiter,
    parse_day,
    parse_stats_query,
    visible_teams,
)

log = logging.getLogger(__name__)
ABOUT_PATH = "/what-is-counted"
page_routes = web.RouteTableDef()  # on the ``/staff`` sub-application
api_routes = web.RouteTableDef()  # on the ``/api/v1`` sub-application
public_routes = web.RouteTableDef()  # on the root app: no session, no cookie
LABEL_TABLES = (
    TIME_BUCKET_LABELS,
    ROW_KEYS,
    texts.OUTCOME_LABELS,
    texts.TOPIC_LABELS,
    texts.URGENCY_LABELS,
    texts.CONCERN_LABELS,
    texts.REPLY_VIA_LABELS,
    texts.FEEDBACK_LABELS,
)


class _Problem(Exception):
    """A statistics request refused before or by the service: status, reason, English msgid."""

    def __init__(self, status: int, reason: str, message: str, *, form: bool = True) -> None:
        super().__init__(reason)
        self.status, self.reason, self.message = status, reason, message
        self.form = form  # the period form is shown again (not to someone who may not ask)


def _chart(
    table: StatTable, say: Callable[[str], str], label: Callable[[str], str]
) -> dict[str, Any]:
    """Chart.js-ready data: a suppressed cell is null (a gap), in ``hidden`` with its mark."""
    hidden = [
        [r, c, cell_text(cell, say)]
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


def labeller(ctx: Ctx, door: StaffDoor) -> Callable[[str], str]:
    """A row key (screen, move, language, team, bucket, vocabulary value) in words."""
    content = door.content

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
            return door.pages.team_name(key, ctx.lang)
        for table in LABEL_TABLES:
            if key in table:
                return ctx.say(table[key])
        return ctx.say(key)  # the funnel's steps and "Other ..." rows are msgids themselves

    return label


def problem_page(ctx: Ctx, request: web.Request, problem: _Problem) -> web.Response:
    values = form_values(request) if problem.form else {}
    if problem.reason == "off_grid":
        values["grid_links"] = grid_links(request)
    # A period just begun (its first day is today) is no error: a calm note, 200, the
    # form to choose another period (issue #13: closed days only).
    calm = problem.message == NO_WHOLE_DAY
    return door_of(request).pages.render(
        ctx,
        "staff/stats_problem.html",
        status=200 if calm else problem.status,
        calm=calm,
        message=ctx.say(problem.message),
        **values,
    )


def grid_links(request: web.Request) -> list[tuple[str, str]]:
    """(period kind, address) of the grid periods around an old link's custom range: the
    week, month, quarter and year containing its last day (or its first, or today)."""
    q = request.query
    day = stats_of(request).today()
    for key in ("to", "from", "date"):
        raw = q.get(key, "").strip()
        try:
            day = parse_day(raw) if raw else day
        except StatsInputError:
            continue
        if raw:
            break
    team = q.get("team", "").strip()
    links: list[tuple[str, str]] = []
    for kind in PERIOD_KINDS:
        params = {"period": kind, "date": day.isoformat()}
        if team and team in stats_of(request).service.known_teams:
            params["team"] = team
        links.append((kind, f"/staff/stats?{urlencode(params)}"))
    return links


async def report_for(
    request: web.Request, defaults: Mapping[str, str] | None = None
) -> tuple[StatsQuery, Report]:
    """The parsed query and its report, or ``_Problem`` (the same for page, exports, API).

    ``defaults``: query values used where the address gives none (the printable report's
    period is a quarter unless asked otherwise).
    """
    user = ctx_of(request).staff
    stats = stats_of(request)
    if not user.can_read_stats:
        refused = StatsInputError("not_coordinator")
        raise _Problem(refused.status, refused.reason, refused.message, form=False)
    try:
        asked: Mapping[str, str] = {**defaults, **request.query} if defaults else request.query
        # Without a date: the last closed day (yesterday), so the default period is never
        # one that began today and has no finished day yet (issue #13).
        last_closed = stats.today() - timedelta(days=1)
        query = parse_stats_query(asked, user, stats.service.known_teams, last_closed)
        return query, await stats.service.report(user, query.period, query.team_id)
    except StatsInputError as exc:
        raise _Problem(exc.status, exc.reason, exc.message) from None
    except StatsRefused as exc:
        raise _Problem(400, "refused", str(exc)) from None


def form_values(request: web.Request) -> dict[str, Any]:
    q = request.query
    return {
        "periods": PERIOD_KINDS,
        "period_kind": q.get("period", "month") if q.get("period") in PERIOD_KINDS else "month",
        "date_value": q.get("date", "")[:10],
        "team_value": q.get("team", "")[:32],
        "teams": visible_teams(ctx_of(request).staff, stats_of(request).service.known_teams),
        "about_path": ABOUT_PATH,
    }


@page_routes.get("/stats")
async def stats_page(request: web.Request) -> web.StreamResponse:
    ctx = ctx_of(request)
    try:
        query, report = await report_for(request)
    except _Problem as exc:
        return problem_page(ctx, request, exc)
    label = labeller(ctx, door_of(request))
    charts = [_chart(t, ctx.say, label) for t in report.tables]
    params = urlencode(query.params())
    values = form_values(request)
    values["period_kind"] = query.period.kind
    values["date_value"] = query.period.end.isoformat()
    return door_of(request).pages.render(
        ctx,
        "staff/stats.html",
        report=report,
        query=query,
        tables=list(zip(report.tables, charts, strict=True)),
        charts_json=json.dumps(charts, ensure_ascii=False).replace("</", "<\\/"),
        row_label=label,
        note=lambda text: note_words(text, ctx.say),
        report_url=f"/staff/stats/report?{urlencode(report_params(query))}",
        csv_url=f"/staff/stats.csv?{params}",
        csv_semicolon_url=f"/staff/stats.csv?{params}&sep=semicolon",
        json_url=f"/staff/stats.json?{params}",
        api_url=f"/api/v1/stats?{params}",
        **values,
    )


REPORT_PERIODS = ("quarter", "year")


def report_params(query: StatsQuery) -> dict[str, str]:
    """The printable report for the page's period: its year for a year, else its quarter."""
    kind = "year" if query.period.kind == "year" else "quarter"
    out = {"period": kind, "date": query.period.end.isoformat()}
    if query.team_id:
        out["team"] = query.team_id
    return out


@page_routes.get("/stats/report")
async def report_page(request: web.Request) -> web.StreamResponse:
    """A report to print for the municipal board: a quarter (or year) with every chart and
    table, the period and teams in the heading, and why small counts are hidden."""
    ctx, door = ctx_of(request), door_of(request)
    try:
        query, report = await report_for(request, defaults={"period": "quarter"})
    except _Problem as exc:
        return problem_page(ctx, request, exc)
    label = labeller(ctx, door)
    charts = [_chart(t, ctx.say, label) for t in report.tables]
    by_id = {t.id: (t, c) for t, c in zip(report.tables, charts, strict=True)}
    period = query.period
    month = format_date(period.start, "LLLL yyyy", locale=ctx.tr.locale)
    teams = [door.pages.team_name(t, ctx.lang) for t in report.team_ids]
    params = urlencode(query.params())
    return door.pages.render(
        ctx,
        "staff/stats_report.html",
        report=report,
        query=query,
        period_title=period_name(period.kind, period.start, period.end, ctx.say, month),
        team_names=teams,
        sections=[
            (ctx.say(title), [by_id[i] for i in ids])
            for title, ids in report_sections([t.id for t in report.tables])
        ],
        charts_json=json.dumps(charts, ensure_ascii=False).replace("</", "<\\/"),
        row_label=label,
        note=lambda text: note_words(text, ctx.say),
        protection=protection_note(ctx.say),
        made_on=stats_of(request).today(),
        stats_url=f"/staff/stats?{params}",
        report_periods=REPORT_PERIODS,
        period_kind=period.kind,
        date_value=period.end.isoformat(),
        team_value=query.team_id or "",
        teams=visible_teams(ctx.staff, stats_of(request).service.known_teams),
        about_path=ABOUT_PATH,
    )


def filename(query: StatsQuery, ext: str) -> str:
    p = query.period
    team = query.team_id or "all"
    return f"statistics-{team}-{p.start.isoformat()}-{p.end.isoformat()}.{ext}"


@page_routes.get(r"/stats.{ext:csv|json}")
async def export(request: web.Request) -> web.StreamResponse:
    """The same report as the page, as a CSV or JSON download."""
    ctx, ext = ctx_of(request), request.match_info["ext"]
    try:
        query, report = await report_for(request)
    except _Problem as exc:
        return problem_page(ctx, request, exc)
    try:
        delimiter = csv_delimiter(request.query)
    except StatsInputError as exc:
        return problem_page(ctx, request, _Problem(exc.status, exc.reason, exc.message))
    service = stats_of(request).service
    name = filename(query, ext) if delimiter == "," else filename(query, "semicolon.csv")
    headers = {
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    if ext == "csv":
        # A byte-order mark, so Excel reads UTF-8 (å, ä, ö) instead of the local code page;
        # the row, table and column named in the reader's language beside the ids.
        label = labeller(ctx, door_of(request))
        text = service.to_csv(
            report,
            delimiter=delimiter,
            label=label,
            say=ctx.say,
            note=lambda note: note_words(note, ctx.say),
        )
        body, content_type = "\ufeff" + text, "text/csv"
    else:
        body, content_type = _dumps(service.to_json(report)), "application/json"
    await door_of(request).staff.audit(ctx.staff, f"stats_export_{ext}")
    return web.Response(text=body, content_type=content_type, charset="utf-8", headers=headers)


@api_routes.get("/stats")
async def stats_api(request: web.Request) -> web.StreamResponse:
    try:
        _, report = await report_for(request)
    except _Problem as exc:
        return api_error(exc.status, exc.reason, exc.message)
    await door_of(request).staff.audit(ctx_of(request).staff, "stats_export_api")
    return web.json_response(
        stats_of(request).service.to_json(report),
        headers={"Cache-Control": "no-store"},
        dumps=_dumps,
    )


@page_routes.get("/content")
async def content_status(request: web.Request) -> web.StreamResponse:
    ctx, door = ctx_of(request), door_of(request)
    if not ctx.staff.can_read_stats:
        message = ctx._("The content status is for coordinators and administrators.")
        return door.pages.render(ctx, "staff/stats_problem.html", status=403, message=message)
    stats = stats_of(request)
    languages = door.content.languages
    rows = [(c, languages[c.language]) for c in await stats.coverage() if c.language in languages]
    translations = _translation_rows(ctx, door, await stats.translations())
    return door.pages.render(
        ctx,
        "staff/content_status.html",
        rows=rows,
        translations=translations,
        staff_languages=STAFF_LANGUAGES,  # 100 % only when every staff string is translated
    )


@public_routes.get(ABOUT_PATH)
async def about(request: web.Request) -> web.StreamResponse:
    """Public: no sign-in and no cookie (a relative may open it from the bot)."""
    door = door_of(request)
    lang = request.query.get("lang", "")
    if lang not in door.public_translators:
        lang = choose_language(None, request.headers.get("Accept-Language", ""))
    tr = door.public_translators[lang]
    stats = door.stats
    html = door.pages.env.get_template("about_stats.html").render(
        _=tr.gettext,
        lang=lang,
        direction="rtl" if tr.rtl else "ltr",
        other=[
            (language.code, language.name)
            for language in door.content.enabled_languages
            if language.code != lang
        ],
        path=ABOUT_PATH,
        session_days=stats.session_retention_days if stats else 30,
        case_days=stats.case_text_retention_days if stats else 30,
    )
    headers = dict(SECURITY_HEADERS)
    headers["Cache-Control"] = "public, max-age=300"
    headers["Vary"] = "Accept-Language"  # without ?lang= the language comes from the header
    return web.Response(text=html, content_type="text/html", charset="utf-8", headers=headers)


def _translation_rows(
    ctx: Ctx, door: StaffDoor, statuses: dict[str, LanguageStatus]
) -> list[tuple[LanguageStatus, Any, list[tuple[Any, str]]]]:
    """(status, language, [(screen status, screen's name in the page's language)])."""
    content = door.content

    def screen_name(screen: str) -> str:
        if screen in content.nodes:
            title = content.text(ctx.lang, screen).title
            return f"{title.replace('{team}', '…')} ({screen})"
        if screen.startswith("team:"):
            return door.pages.team_name(screen.removeprefix("team:"), ctx.lang)
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
