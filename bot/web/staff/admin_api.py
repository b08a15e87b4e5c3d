"""The admin section's JSON API under /api/v1/admin (issue #12): staff accounts.

The same operations and rules as the pages in ``admin``: administrators only (403 for
anyone else), a session cookie needs the CSRF header (the middleware checks it), and the
refusals come from the one table ``admin.ADMIN_REFUSALS``. Creating an account or a new
link answers the set-password link once; nothing stores it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.domain import CaseError
from bot.services.staff_admin import AccountSummary, AdminError, IssuedLink
from bot.web.limits import staff_text
from bot.web.staff.admin import admin_of, admin_refusal, link_url
from bot.web.staff.api import api_error, read_json, to_json
from bot.web.staff.context import ctx_of

routes = web.RouteTableDef()  # on the ``/api/v1`` sub-application
MAX_FIELD = 200  # longer than any valid username, name or team id: cut before the service


def _refused(exc: AdminError) -> web.Response:
    refused = admin_refusal(exc.reason)
    return api_error(refused.status, exc.reason, refused.message)


def _account(summary: AccountSummary) -> dict[str, Any]:
    return {
        "username": summary.username,
        "display_name": summary.display_name,
        "role": summary.role,
        "teams": sorted(summary.teams),
        "active": summary.active,
        "two_factor": summary.two_factor,
        "last_sign_in": summary.last_sign_in,
    }


def _link(request: web.Request, issued: IssuedLink) -> dict[str, Any]:
    return {
        "username": issued.username,
        "set_password_url": link_url(request, issued.token),
        "expires_at": issued.expires_at,
    }


def _string(body: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise CaseError("invalid", f"{name} must be a string")
    return value[:MAX_FIELD]


def _teams(body: dict[str, Any], *, required: bool) -> frozenset[str] | None:
    value = body.get("teams")
    if value is None and not required:
        return None
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise CaseError("invalid", "teams must be a list of team ids")
    if len(value) > 100:
        raise CaseError("invalid", "too many teams")
    return frozenset(t[:MAX_FIELD] for t in value)


def _username(request: web.Request) -> str:
    return request.match_info["username"][:MAX_FIELD]


@routes.get("/admin/accounts")
async def list_accounts(request: web.Request) -> web.StreamResponse:
    try:
        found = await admin_of(request).accounts(ctx_of(request).staff)
    except AdminError as exc:
        return _refused(exc)
    return to_json({"accounts": [_account(a) for a in found]})


@routes.post("/admin/accounts")
async def create_account(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    username = _string(body, "username", required=True) or ""
    role = _string(body, "role", required=True) or ""
    teams = _teams(body, required=False) or frozenset()
    shown = _string(body, "display_name", required=False)
    display_name = None if shown is None else staff_text(shown)  # no NUL reaches the table
    admin = admin_of(request)
    staff = ctx_of(request).staff
    try:
        issued = await admin.create(staff, username, role, teams, display_name)
        summary = await admin.account(staff, issued.username)
    except AdminError as exc:
        return _refused(exc)
    return to_json({**_link(request, issued), "account": _account(summary)}, status=201)


@routes.get("/admin/accounts/{username}")
async def get_account(request: web.Request) -> web.StreamResponse:
    try:
        summary = await admin_of(request).account(ctx_of(request).staff, _username(request))
    except AdminError as exc:
        return _refused(exc)
    return to_json(_account(summary))


@routes.patch("/admin/accounts/{username}")
async def change_account(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    role = _string(body, "role", required=False)
    teams = _teams(body, required=False)
    admin, staff, username = admin_of(request), ctx_of(request).staff, _username(request)
    try:
        await admin.change(staff, username, role=role, teams=teams)
        summary = await admin.account(staff, username)
    except AdminError as exc:
        return _refused(exc)
    return to_json(_account(summary))


async def _then_account(request: web.Request, action: str) -> web.StreamResponse:
    admin, staff, username = admin_of(request), ctx_of(request).staff, _username(request)
    try:
        if action == "deactivate":
            await admin.deactivate(staff, username)
        else:
            await admin.reactivate(staff, username)
        summary = await admin.account(staff, username)
    except AdminError as exc:
        return _refused(exc)
    return to_json(_account(summary))


@routes.post("/admin/accounts/{username}/deactivate")
async def deactivate_account(request: web.Request) -> web.StreamResponse:
    return await _then_account(request, "deactivate")


@routes.post("/admin/accounts/{username}/reactivate")
async def reactivate_account(request: web.Request) -> web.StreamResponse:
    return await _then_account(request, "reactivate")


@routes.post("/admin/accounts/{username}/2fa-reset")
async def reset_second_factor(request: web.Request) -> web.StreamResponse:
    try:
        removed = await admin_of(request).reset_second_factor(
            ctx_of(request).staff, _username(request)
        )
    except AdminError as exc:
        return _refused(exc)
    return to_json({"removed": removed})


@routes.post("/admin/accounts/{username}/link")
async def new_link(request: web.Request) -> web.StreamResponse:
    try:
        issued = await admin_of(request).new_link(ctx_of(request).staff, _username(request))
    except AdminError as exc:
        return _refused(exc)
    return to_json(_link(request, issued), status=201)
