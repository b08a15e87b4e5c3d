"""A staff member's own password: ``/staff/account/password`` and ``PUT /api/v1/session/password``.

Parse, call ``PasswordChanges`` (the current password through the sign-in brake, the new
one by ``StaffService.set_password``'s rules), answer. A change ends every session and token
of the account; the one that asked is renewed at once (a new session row and CSRF token on
the page, a new bearer token in the API answer), so the person stays signed in here only.
Not for a deployment with LOCAL_PASSWORDS off, nor for an account that signs in through
single sign-on: the page says why, the form is not there, a POST is refused (403).
"""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from bot.domain import CaseError
from bot.services.password_change import PasswordChange, PasswordChanges
from bot.services.staff import MIN_PASSWORD_LENGTH
from bot.web.staff import sso
from bot.web.staff.api import api_error, read_json, to_json
from bot.web.staff.context import Ctx, ctx_of
from bot.web.staff.deps import door_of

routes = web.RouteTableDef()  # on ``/staff``
api_routes = web.RouteTableDef()  # on ``/api/v1``
PAGE = "/staff/account/password"
TEMPLATE = "staff/account_password.html"


def _changes(request: web.Request) -> PasswordChanges:
    return PasswordChanges(door_of(request).signin)


async def _why_not(request: web.Request, changes: PasswordChanges) -> str | None:
    """ "off" (LOCAL_PASSWORDS=false), "sso" (a single sign-on account), or None: allowed."""
    if sso.passwords_off(request):
        return "off"
    if await changes.is_sso_account(ctx_of(request).staff):
        return "sso"
    return None


def _render(
    request: web.Request, *, status: int = 200, why_not: str | None, error: str | None = None
) -> web.Response:
    ctx = ctx_of(request)
    return door_of(request).pages.render(
        ctx,
        TEMPLATE,
        status=status,
        why_not=why_not,
        error=error,
        min_length=MIN_PASSWORD_LENGTH,
    )


def _refusal(ctx: Ctx, result: PasswordChange) -> tuple[int, str]:
    """The page's status and words for a refused change."""
    match result.refused:
        case "mismatch":
            return 400, ctx._("The two new passwords are not the same.")
        case "too_short":
            return 400, ctx._("The new password must be at least %(n)d characters.") % {
                "n": MIN_PASSWORD_LENGTH
            }
        case "too_long":
            return 400, ctx._("The new password is too long.")
        case "wrong_password":
            return 400, ctx._("Your current password is not right.")
        case "throttled":
            minutes = (result.retry_after + 59) // 60
            message = ctx.tr.ngettext(
                "Too many failed attempts. Wait %(n)d minute and try again.",
                "Too many failed attempts. Wait %(n)d minutes and try again.",
                minutes,
            ) % {"n": minutes}
            return 429, message
    return 403, ctx._("Your account signs in through single sign-on: it has no password here.")


@routes.get("/account/password")
async def password_form(request: web.Request) -> web.StreamResponse:
    return _render(request, why_not=await _why_not(request, _changes(request)))


@routes.post("/account/password")
async def change_password(request: web.Request) -> web.StreamResponse:
    ctx, changes = ctx_of(request), _changes(request)
    why_not = await _why_not(request, changes)
    if why_not is not None:
        return _render(request, status=403, why_not=why_not)
    form = ctx.form
    result = await changes.change(
        ctx.staff,
        form.get("current", ""),
        form.get("new", ""),
        form.get("repeat", ""),
        request.remote,
    )
    if result.refused is not None:
        status, message = _refusal(ctx, result)
        response = _render(request, status=status, why_not=None, error=message)
        if result.retry_after:
            response.headers["Retry-After"] = str(result.retry_after)
        return response
    ctx.session.sign_in(ctx.staff.id)  # a new session for this browser; every other one ended
    ctx.session.set_flash(
        "success", ctx._("Your password is changed. You are signed out everywhere else.")
    )
    return web.Response(status=303, headers={"Location": PAGE})


_API_REFUSALS = {
    "mismatch": (400, "invalid", "The two new passwords are not the same."),
    "too_short": (400, "weak_password", f"At least {MIN_PASSWORD_LENGTH} characters."),
    "too_long": (400, "weak_password", "The new password is too long."),
    "wrong_password": (403, "wrong_password", "The current password is not right."),
    "sso_account": (403, "sso_only", "This account signs in through single sign-on."),
}


@api_routes.put("/session/password")
async def api_change_password(request: web.Request) -> web.StreamResponse:
    """The current password and a new one; 200 with this caller's renewed session."""
    ctx, door, changes = ctx_of(request), door_of(request), _changes(request)
    body = await read_json(request)
    current, new = body.get("current_password"), body.get("new_password")
    if not isinstance(current, str) or not isinstance(new, str):
        raise CaseError("invalid", "current_password and new_password are required")
    if sso.passwords_off(request):
        return api_error(403, "sso_only", "Password sign-in is switched off: use single sign-on.")
    result = await changes.change(ctx.staff, current, new, new, request.remote)
    if result.refused == "throttled":
        wait = result.retry_after
        response = api_error(
            429,
            "throttled",
            f"Too many failed attempts. Wait {wait} seconds and try again.",
            retry_after=wait,
        )
        response.headers["Retry-After"] = str(wait)
        return response
    if result.refused is not None:
        status, reason, message = _API_REFUSALS[result.refused]
        return api_error(status, reason, message)
    answer: dict[str, object] = {"user": ctx.staff}
    if ctx.token_sid:  # a bearer token: the old one ended, here is its successor
        sid = await door.sessions.start(ctx.staff.id, "token", request.headers.get("User-Agent"))
        token, expires = door.codec.issue_token(ctx.staff.id, sid)
        answer |= {
            "token": token,
            "token_type": "Bearer",
            "expires_at": datetime.fromtimestamp(expires).astimezone().isoformat(),
        }
    else:  # the cookie: a new session row and CSRF token, set by the middleware
        ctx.session.sign_in(ctx.staff.id)
    answer["csrf_token"] = ctx.session.csrf
    return to_json(answer)
