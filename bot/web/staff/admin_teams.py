"""Admin pages and JSON API for teams' languages served and opening hours. Parse, call, render.

The values are kept in the database over the team files (``bot.services.teams``); the
pages show which ones are set here and undo them with "Reset to the file's values". Every
form is a POST with the CSRF token, answered with a redirect (post/redirect/get); a form
with mistakes is shown again, as typed, with each mistake beside its field (400).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from babel.dates import get_day_names

from bot.domain import CaseError
from bot.services.teams import (
    DAYS,
    MAX_RANGES,
    MAX_SOURCE,
    HoursChange,
    LanguagesChange,
    TeamSetting,
    TeamSettingError,
    TeamSettings,
)
from bot.web.staff.api import api_error, read_json, to_json
from bot.web.staff.context import Ctx, PageError, ctx_of
from bot.web.staff.deps import door_of

page_routes = web.RouteTableDef()  # on /staff
api_routes = web.RouteTableDef()  # on /api/v1


def _problem_text(ctx: Ctx, reason: str) -> str:
    """The words for a problem (literal msgids below, so pybabel finds them)."""
    _ = ctx._
    words = {
        "no_language": _("Choose at least one language."),
        "unknown_language": _("Choose languages from the list only."),
        "format": _(
            "Write each range as HH:MM-HH:MM on the 24-hour clock, for example 08:00-16:30."
        ),
        "order": _("Each range must start before it ends."),
        "overlap": _("The ranges overlap. Write each time once."),
        "too_many": _("At most 6 ranges a day."),
        "source_needed": _("Say who confirmed it and where, or leave it unconfirmed."),
        "too_long": _("At most 300 characters."),
    }
    return words.get(reason, _("This is not valid."))


def _service(request: web.Request) -> TeamSettings:
    teams = door_of(request).teams
    if teams is None:
        raise web.HTTPServiceUnavailable(reason="team settings are not set up")
    return teams


def _admins_only(ctx: Ctx) -> None:
    if not ctx.staff.is_admin:
        raise PageError(403, "admin_only")


def _team_id(request: web.Request, teams: TeamSettings) -> str:
    team_id = request.match_info["team_id"]
    if teams.setting(team_id) is None:
        raise PageError(404, "http")
    return team_id


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _day_names(ctx: Ctx) -> dict[str, str]:
    names = get_day_names("wide", locale=ctx.tr.locale)
    return {day: str(names[i]) for i, day in enumerate(DAYS)}


def _shown(weekly: dict[str, str] | None) -> dict[str, str]:
    """Stored ranges as a person writes them (", " between ranges)."""
    return {day: (weekly or {}).get(day, "").replace(",", ", ") for day in DAYS}


# -- pages -------------------------------------------------------------------------------


@page_routes.get("/admin/teams")
async def teams_page(request: web.Request) -> web.StreamResponse:
    ctx, door = ctx_of(request), door_of(request)
    _admins_only(ctx)
    teams = _service(request)
    await teams.load()  # an admin sees what is stored now, also another process's change
    rows = [teams.setting(t) for t in sorted(door.content.teams)]
    return door.pages.render(
        ctx,
        "staff/admin_teams.html",
        settings=[s for s in rows if s is not None],
        day_names=_day_names(ctx),
        days=DAYS,
    )


@page_routes.get("/admin/teams/{team_id}")
async def team_page(request: web.Request) -> web.StreamResponse:
    ctx = ctx_of(request)
    _admins_only(ctx)
    teams = _service(request)
    await teams.load()
    return _team_form(request, teams, _team_id(request, teams))


def _team_form(
    request: web.Request,
    teams: TeamSettings,
    team_id: str,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    kept: dict[str, Any] | None = None,
) -> web.Response:
    ctx, door = ctx_of(request), door_of(request)
    setting = teams.setting(team_id)
    assert setting is not None
    facts = setting.facts
    values: dict[str, Any] = {
        "languages": list(facts.languages_served),
        "languages_verified": facts.languages_served_verified,
        "languages_source": facts.languages_source or "",
        "hours": _shown(facts.opening_hours),
        "hours_verified": facts.opening_hours_verified,
        "hours_source": facts.opening_hours_source or "",
    }
    values.update(kept or {})
    return door.pages.render(
        ctx,
        "staff/admin_team.html",
        status=status,
        team_id=team_id,
        setting=setting,
        values=values,
        errors=errors or {},
        all_languages=list(door.content.languages.values()),
        day_names=_day_names(ctx),
        days=DAYS,
        max_source=MAX_SOURCE,
        max_ranges=MAX_RANGES,
    )


def _errors(ctx: Ctx, exc: TeamSettingError) -> dict[str, str]:
    found: dict[str, str] = {}
    for where, reason in exc.problems:
        found.setdefault(where, _problem_text(ctx, reason))
    return found


@page_routes.post("/admin/teams/{team_id}/languages")
async def save_languages(request: web.Request) -> web.StreamResponse:
    ctx = ctx_of(request)
    _admins_only(ctx)
    teams = _service(request)
    team_id = _team_id(request, teams)
    data = await request.post()
    codes = [str(v) for v in data.getall("language", []) if isinstance(v, str)]
    verified = ctx.form.get("verified") == "1"
    source = ctx.form.get("source", "")
    try:
        change = teams.check_languages(codes, verified, source)
    except TeamSettingError as exc:
        kept = {
            "languages": codes,
            "languages_verified": verified,
            "languages_source": source[: MAX_SOURCE * 2],
        }
        return _team_form(request, teams, team_id, status=400, errors=_errors(ctx, exc), kept=kept)
    await teams.save(ctx.staff, team_id, languages=change)
    ctx.session.set_flash("success", ctx._("The languages served were saved."))
    return _redirect(f"/staff/admin/teams/{team_id}")


@page_routes.post("/admin/teams/{team_id}/hours")
async def save_hours(request: web.Request) -> web.StreamResponse:
    ctx = ctx_of(request)
    _admins_only(ctx)
    teams = _service(request)
    team_id = _team_id(request, teams)
    by_day = {day: ctx.form.get(f"hours_{day}", "")[:200] for day in DAYS}
    verified = ctx.form.get("verified") == "1"
    source = ctx.form.get("source", "")
    try:
        change = teams.check_hours(by_day, verified, source)
    except TeamSettingError as exc:
        kept = {
            "hours": by_day,
            "hours_verified": verified,
            "hours_source": source[: MAX_SOURCE * 2],
        }
        return _team_form(request, teams, team_id, status=400, errors=_errors(ctx, exc), kept=kept)
    await teams.save(ctx.staff, team_id, hours=change)
    ctx.session.set_flash("success", ctx._("The opening hours were saved."))
    return _redirect(f"/staff/admin/teams/{team_id}")


@page_routes.post("/admin/teams/{team_id}/reset")
async def reset(request: web.Request) -> web.StreamResponse:
    ctx = ctx_of(request)
    _admins_only(ctx)
    teams = _service(request)
    team_id = _team_id(request, teams)
    await teams.reset(ctx.staff, team_id)
    ctx.session.set_flash("success", ctx._("The team's file values apply again."))
    return _redirect(f"/staff/admin/teams/{team_id}")


# -- JSON API ----------------------------------------------------------------------------


def _as_json(setting: TeamSetting, name: str) -> dict[str, Any]:
    facts = setting.facts
    return {
        "id": setting.team_id,
        "name": name,
        "timezone": facts.timezone,
        "languages": {
            "codes": list(facts.languages_served),
            "verified": facts.languages_served_verified,
            "source": facts.languages_source,
            "overridden": setting.languages_overridden,
        },
        "hours": {
            "weekly": dict(facts.opening_hours) if facts.opening_hours else None,
            "verified": facts.opening_hours_verified,
            "source": facts.opening_hours_source,
            "overridden": setting.hours_overridden,
        },
        "changed_by": setting.changed_by,
        "changed_at": setting.changed_at.isoformat() if setting.changed_at else None,
    }


def _api_admin(request: web.Request) -> TeamSettings | web.Response:
    if not ctx_of(request).staff.is_admin:
        return api_error(403, "forbidden", "Only administrators can see and change teams.")
    return _service(request)


def _api_team(request: web.Request, teams: TeamSettings) -> str | None:
    team_id = request.match_info["team_id"]
    return team_id if teams.setting(team_id) is not None else None


def _name(request: web.Request, team_id: str) -> str:
    return door_of(request).pages.team_name(team_id, "en")


@api_routes.get("/admin/teams")
async def api_teams(request: web.Request) -> web.StreamResponse:
    teams = _api_admin(request)
    if isinstance(teams, web.Response):
        return teams
    await teams.load()
    found = [teams.setting(t) for t in sorted(door_of(request).content.teams)]
    return to_json({"teams": [_as_json(s, _name(request, s.team_id)) for s in found if s]})


@api_routes.get("/admin/teams/{team_id}")
async def api_team(request: web.Request) -> web.StreamResponse:
    teams = _api_admin(request)
    if isinstance(teams, web.Response):
        return teams
    team_id = _api_team(request, teams)
    if team_id is None:
        return api_error(404, "not_found", "There is no such team.")
    await teams.load()
    setting = teams.setting(team_id)
    assert setting is not None
    return to_json(_as_json(setting, _name(request, team_id)))


def _bad(message: str) -> CaseError:
    return CaseError("invalid", message)


def _flag(group: dict[str, Any], name: str) -> bool:
    value = group.get(name, False)
    if not isinstance(value, bool):
        raise _bad(f"{name} must be true or false")
    return value


def _source(group: dict[str, Any]) -> str | None:
    value = group.get("source")
    if value is not None and not isinstance(value, str):
        raise _bad("source must be a string or null")
    return value


def _languages_in(teams: TeamSettings, group: Any) -> LanguagesChange:
    if not isinstance(group, dict):
        raise _bad("languages must be an object")
    codes = group.get("codes")
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
        raise _bad("languages.codes must be a list of language codes")
    return teams.check_languages(codes, _flag(group, "verified"), _source(group))


def _hours_in(teams: TeamSettings, group: Any) -> HoursChange:
    if not isinstance(group, dict):
        raise _bad("hours must be an object")
    weekly = group.get("weekly")
    if weekly is None:
        weekly = {}
    if not isinstance(weekly, dict) or not all(
        k in DAYS and isinstance(v, str) and len(v) <= 200 for k, v in weekly.items()
    ):
        raise _bad("hours.weekly must map mon..sun to ranges like '08:00-12:00,13:00-16:30'")
    return teams.check_hours(weekly, _flag(group, "verified"), _source(group))


@api_routes.put("/admin/teams/{team_id}")
async def api_put_team(request: web.Request) -> web.StreamResponse:
    """Set the languages, the hours or both (a group left out is unchanged)."""
    teams = _api_admin(request)
    if isinstance(teams, web.Response):
        return teams
    body = await read_json(request)  # a broken body is a 400 whatever the path says
    team_id = _api_team(request, teams)
    if team_id is None:
        return api_error(404, "not_found", "There is no such team.")
    unknown = set(body) - {"languages", "hours"}
    if unknown or not body:
        raise _bad("the body sets 'languages', 'hours' or both, and nothing else")
    try:
        languages = _languages_in(teams, body["languages"]) if "languages" in body else None
        hours = _hours_in(teams, body["hours"]) if "hours" in body else None
    except TeamSettingError as exc:
        problems = [{"field": where, "reason": why} for where, why in exc.problems]
        return api_error(400, "invalid", "Some values are not valid.", problems=problems)
    setting = await teams.save(ctx_of(request).staff, team_id, languages=languages, hours=hours)
    return to_json(_as_json(setting, _name(request, team_id)))


@api_routes.delete("/admin/teams/{team_id}")
async def api_reset_team(request: web.Request) -> web.StreamResponse:
    """Back to the team file's values."""
    teams = _api_admin(request)
    if isinstance(teams, web.Response):
        return teams
    team_id = _api_team(request, teams)
    if team_id is None:
        return api_error(404, "not_found", "There is no such team.")
    setting = await teams.reset(ctx_of(request).staff, team_id)
    return to_json(_as_json(setting, _name(request, team_id)))
