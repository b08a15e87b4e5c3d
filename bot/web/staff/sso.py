"""The staff door's second factor and single sign-on: routes under ``/staff`` and helpers.

After a right password (``views.login`` through ``SignInService``), an account with a
confirmed TOTP factor is not signed in yet: a short-lived sealed cookie (``staff_mfa``,
five minutes, only for ``/staff/login``) says whose password was right, and the code page
finishes the sign-in. With ``REQUIRE_2FA`` an account without a factor enrols first, on
the same kind of cookie. Wrong codes are braked like passwords (``TotpService.check``).

``/staff/sso/start`` sends the browser to the identity provider with state, nonce and
PKCE kept in a sealed cookie (``staff_oidc``, SameSite=Lax: the provider's redirect back
is a cross-site navigation). The callback signs in and answers a small page that moves on
to the target itself, because the session cookie is SameSite=Strict and a browser would
not send it on the rest of a redirect chain that began on the provider's site.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aiohttp import web

from bot.domain import StaffUser
from bot.i18n import N_
from bot.services.oidc import SSO_PASSWORD_HASH, OidcError, OidcService, Pending
from bot.services.totp import TotpError, TotpService, qr_svg
from bot.storage import staff as staff_db
from bot.web.staff.context import Ctx, PageError, ctx_of, public
from bot.web.staff.deps import StaffDoor, door_of
from bot.web.staff.session import Sealer

routes = web.RouteTableDef()  # on the ``/staff`` sub-application
MFA_COOKIE = "staff_mfa"
OIDC_COOKIE = "staff_oidc"
PENDING_SECONDS = 5 * 60  # between the right password and the code
OIDC_SECONDS = 10 * 60  # between the redirect to the provider and its answer

SSO_REFUSALS = {
    "no_group": (
        403,
        N_(
            "Your account at the identity provider is in none of the groups that give access "
            "to the helpline's pages. Ask your IT department to add you to the right group."
        ),
    ),
    "inactive": (403, N_("This account has been deactivated. Ask an administrator.")),
    "state": (
        400,
        N_("The sign-in took too long or was started in another window. Please try again."),
    ),
    "denied": (403, N_("The identity provider did not sign you in. Please try again.")),
    "token": (403, N_("The identity provider's answer could not be verified. Nothing was done.")),
    "unavailable": (
        502,
        N_("The identity provider cannot be reached right now. Try again in a moment."),
    ),
}


@dataclass
class SignInParts:
    """What the second factor and single sign-on need, besides the staff door."""

    totp: TotpService
    secret_key: bytes
    old_keys: Sequence[bytes] = ()
    oidc: OidcService | None = None
    require_2fa: bool = False
    local_passwords: bool = True
    public_url: str | None = None
    # ``views.safe_next``, given by the wiring (views imports this module, not back).
    safe_next: Callable[[str | None], str] = lambda value: "/staff/queue"
    _mfa: Sealer = field(init=False)
    _oidc: Sealer = field(init=False)

    def __post_init__(self) -> None:
        self._mfa = Sealer(self.secret_key, b"staff-mfa-pending-v1", self.old_keys)
        self._oidc = Sealer(self.secret_key, b"staff-oidc-pending-v1", self.old_keys)


PARTS = web.AppKey("staff_sign_in_parts", SignInParts)


def parts_of(request: web.Request) -> SignInParts:
    return request.app[PARTS]


# -- used by the password sign-in (views.login, api.sign_in) ----------------------------------


async def is_sso_account(door: StaffDoor, user: StaffUser) -> bool:
    async with door.staff.database.read_tx() as conn:
        row = await staff_db.by_id(conn, user.id)
    return row is not None and row.password_hash == SSO_PASSWORD_HASH


async def second_step(request: web.Request, user: StaffUser, target: str) -> web.Response | None:
    """After a right password on the page: a redirect to the code or enrolment step, or
    None when the account signs in now (no factor, and none required)."""
    parts = parts_of(request)
    if await parts.totp.enrolled(user.id):
        kind = "code"
    elif parts.require_2fa:
        kind = "enrol"
    else:
        return None
    response = web.Response(status=303, headers={"Location": f"/staff/login/{kind}"})
    payload = {"s": user.id, "k": kind, "e": int(time.time()) + PENDING_SECONDS, "n": target}
    _set_cookie(request, response, MFA_COOKIE, parts._mfa.seal(payload), "/staff/login", "Strict")
    return response


def login_options(request: web.Request, target: str) -> dict[str, Any]:
    """What the sign-in page offers: the password form, single sign-on, or both."""
    parts = parts_of(request)
    return {
        "passwords": parts.local_passwords,
        "sso_url": sso_link(target) if parts.oidc is not None else None,
    }


def passwords_off(request: web.Request) -> bool:
    return not parts_of(request).local_passwords


async def api_second_factor(
    request: web.Request, user: StaffUser, code: object
) -> web.Response | None:
    """For ``POST /api/v1/session`` after a right password: an error answer, or None."""
    parts = parts_of(request)
    if await parts.totp.enrolled(user.id):
        if not isinstance(code, str) or not code.strip():
            return _json_error(
                401, "code_required", 'This account has a second factor: send its code as "code".'
            )
        check = await parts.totp.check(user, code, request.remote)
        if check.retry_after:
            response = _json_error(
                429,
                "throttled",
                f"Too many wrong codes. Wait {check.retry_after} seconds and try again.",
                retry_after=check.retry_after,
            )
            response.headers["Retry-After"] = str(check.retry_after)
            return response
        if not check.ok:
            return _json_error(401, "unauthorized", "The code is not right.")
        return None
    if parts.require_2fa and not await is_sso_account(door_of(request), user):
        return _json_error(403, "enrol_first", "Set up the second factor in the staff pages first.")
    return None


def _json_error(status: int, reason: str, message: str, **extra: Any) -> web.Response:
    """The API's error shape (``api.api_error``; api imports this module, not back)."""
    return web.json_response({"error": reason, "message": message, **extra}, status=status)


# -- the code step -----------------------------------------------------------------------


def _pending(request: web.Request, kind: str) -> tuple[int, str] | None:
    payload = parts_of(request)._mfa.open(request.cookies.get(MFA_COOKIE, ""))
    try:
        if payload and payload["k"] == kind and int(payload["e"]) > time.time():
            return int(payload["s"]), str(payload["n"])
    except (KeyError, TypeError, ValueError):
        return None
    return None


async def _pending_user(request: web.Request, kind: str) -> tuple[StaffUser, str] | None:
    pending = _pending(request, kind)
    if pending is None:
        return None
    user = await door_of(request).staff.get(pending[0])
    return (user, pending[1]) if user is not None else None


def _back_to_login(ctx: Ctx) -> web.Response:
    ctx.session.set_flash("info", ctx._("The sign-in took too long. Please sign in again."))
    response = web.Response(status=303, headers={"Location": "/staff/login"})
    response.del_cookie(MFA_COOKIE, path="/staff/login")
    return response


def _signed_in(ctx: Ctx, user: StaffUser, target: str) -> web.Response:
    ctx.session.sign_in(user.id)
    ctx.user = user
    response = web.Response(status=303, headers={"Location": target})
    response.del_cookie(MFA_COOKIE, path="/staff/login")
    return response


@routes.get("/login/code")
@public
async def code_form(request: web.Request) -> web.StreamResponse:
    ctx = ctx_of(request)
    if _pending(request, "code") is None:
        return _back_to_login(ctx)
    return door_of(request).pages.render(ctx, "staff/login_code.html")


@routes.post("/login/code")
@public
async def code_submit(request: web.Request) -> web.StreamResponse:
    ctx, door = ctx_of(request), door_of(request)
    found = await _pending_user(request, "code")
    if found is None:
        return _back_to_login(ctx)
    user, target = found
    check = await parts_of(request).totp.check(user, ctx.form.get("code", ""), request.remote)
    if check.ok:
        return _signed_in(ctx, user, target)
    return _code_refused(ctx, door, "staff/login_code.html", check.retry_after)


def _code_refused(
    ctx: Ctx, door: StaffDoor, template: str, wait: int, **values: Any
) -> web.Response:
    if wait:
        minutes = (wait + 59) // 60
        message = ctx.tr.ngettext(
            "Too many wrong codes. Wait %(n)d minute and try again.",
            "Too many wrong codes. Wait %(n)d minutes and try again.",
            minutes,
        ) % {"n": minutes}
    else:
        message = ctx._("The code is not right. Try the newest code, or a recovery code.")
    response = door.pages.render(
        ctx, template, status=429 if wait else 401, error=message, **values
    )
    if wait:
        response.headers["Retry-After"] = str(wait)
    return response


# -- enrolment: at sign-in (REQUIRE_2FA) and from the account page --------------------------


async def _enrolment_values(parts: SignInParts, user: StaffUser) -> dict[str, Any]:
    enrolment = await parts.totp.pending(user)
    if enrolment is None:
        enrolment = await parts.totp.start(user)
    return {"secret": enrolment.secret, "uri": enrolment.uri, "qr": qr_svg(enrolment.uri)}


@routes.get("/login/enrol")
@public
async def enrol_at_sign_in(request: web.Request) -> web.StreamResponse:
    ctx, parts = ctx_of(request), parts_of(request)
    found = await _pending_user(request, "enrol")
    if found is None:
        return _back_to_login(ctx)
    try:
        values = await _enrolment_values(parts, found[0])
    except TotpError:  # enrolled meanwhile (another tab): the code step then
        return _back_to_login(ctx)
    return door_of(request).pages.render(
        ctx, "staff/two_factor.html", action="/staff/login/enrol", required=True, **values
    )


@routes.post("/login/enrol")
@public
async def enrol_at_sign_in_confirm(request: web.Request) -> web.StreamResponse:
    ctx, door, parts = ctx_of(request), door_of(request), parts_of(request)
    found = await _pending_user(request, "enrol")
    if found is None:
        return _back_to_login(ctx)
    user, target = found
    result = await parts.totp.check_enrolment(user, ctx.form.get("code", ""), request.remote)
    if result.codes is None:
        values = await _enrolment_values(parts, user)
        return _code_refused(
            ctx,
            door,
            "staff/two_factor.html",
            result.retry_after,
            action="/staff/login/enrol",
            required=True,
            **values,
        )
    ctx.session.sign_in(user.id)
    ctx.user = user
    response = door.pages.render(ctx, "staff/recovery_codes.html", codes=result.codes, next=target)
    response.del_cookie(MFA_COOKIE, path="/staff/login")
    return response


@routes.get("/account/2fa")
async def account_2fa(request: web.Request) -> web.StreamResponse:
    ctx, door, parts = ctx_of(request), door_of(request), parts_of(request)
    user = ctx.staff
    if await is_sso_account(door, user):
        return door.pages.render(ctx, "staff/two_factor_status.html", sso=True, left=0)
    if await parts.totp.enrolled(user.id):
        left = await parts.totp.recovery_codes_left(user.id)
        return door.pages.render(ctx, "staff/two_factor_status.html", sso=False, left=left)
    values = await _enrolment_values(parts, user)
    return door.pages.render(
        ctx, "staff/two_factor.html", action="/staff/account/2fa", required=False, **values
    )


@routes.post("/account/2fa")
async def account_2fa_confirm(request: web.Request) -> web.StreamResponse:
    ctx, door, parts = ctx_of(request), door_of(request), parts_of(request)
    user = ctx.staff
    result = await parts.totp.check_enrolment(user, ctx.form.get("code", ""), request.remote)
    if result.codes is None:
        if await parts.totp.enrolled(user.id):
            return web.Response(status=303, headers={"Location": "/staff/account/2fa"})
        values = await _enrolment_values(parts, user)
        return _code_refused(
            ctx,
            door,
            "staff/two_factor.html",
            result.retry_after,
            action="/staff/account/2fa",
            required=False,
            **values,
        )
    return door.pages.render(
        ctx, "staff/recovery_codes.html", codes=result.codes, next="/staff/queue"
    )


@routes.post("/account/2fa/reset")
async def reset_2fa(request: web.Request) -> web.StreamResponse:
    """An administrator removes someone's second factor (lost phone); audited."""
    ctx, parts = ctx_of(request), parts_of(request)
    if not ctx.staff.is_admin:
        raise PageError(403, "admin_only")
    username = ctx.form.get("username", "").strip()[:64]
    try:
        removed = await parts.totp.reset(ctx.staff.username, username)
    except TotpError:
        ctx.session.set_flash("error", ctx._("There is no account with that username."))
    else:
        message = (
            ctx._("The second factor of %(name)s was removed. They set it up again at sign-in.")
            if removed
            else ctx._("%(name)s had no second factor.")
        )
        ctx.session.set_flash("success", message % {"name": username})
    return web.Response(status=303, headers={"Location": "/staff/account/2fa"})


# -- single sign-on ----------------------------------------------------------------------


def _callback_url(request: web.Request, parts: SignInParts) -> str:
    base = parts.public_url.rstrip("/") if parts.public_url else str(request.url.origin())
    return f"{base}/staff/sso/callback"


@routes.get("/sso/start")
@public
async def sso_start(request: web.Request) -> web.StreamResponse:
    ctx, parts = ctx_of(request), parts_of(request)
    if parts.oidc is None:
        raise web.HTTPNotFound()
    target = parts.safe_next(request.query.get("next"))
    try:
        location, pending = await parts.oidc.begin(_callback_url(request, parts))
    except OidcError as exc:
        return _sso_refused(ctx, door_of(request), exc.reason)
    payload = {
        "st": pending.state,
        "no": pending.nonce,
        "v": pending.verifier,
        "n": target,
        "e": int(time.time()) + OIDC_SECONDS,
    }
    response = web.Response(status=303, headers={"Location": location})
    _set_cookie(request, response, OIDC_COOKIE, parts._oidc.seal(payload), "/staff/sso", "Lax")
    return response


@routes.get("/sso/callback")
@public
async def sso_callback(request: web.Request) -> web.StreamResponse:
    ctx, door, parts = ctx_of(request), door_of(request), parts_of(request)
    if parts.oidc is None:
        raise web.HTTPNotFound()
    payload = parts._oidc.open(request.cookies.get(OIDC_COOKIE, ""))
    pending, target = None, "/staff/queue"
    try:
        if payload and int(payload["e"]) > time.time():
            pending = Pending(str(payload["st"]), str(payload["no"]), str(payload["v"]))
            target = str(payload["n"])
    except (KeyError, TypeError, ValueError):
        pending = None
    query = {key: value[:4096] for key, value in request.query.items()}
    try:
        user = await parts.oidc.finish(query, pending, _callback_url(request, parts))
    except OidcError as exc:
        response = _sso_refused(ctx, door, exc.reason)
    else:
        ctx.session.sign_in(user.id)
        ctx.user = user
        response = door.pages.render(ctx, "staff/sso_done.html", next=target)
    response.del_cookie(OIDC_COOKIE, path="/staff/sso")
    return response


def _sso_refused(ctx: Ctx, door: StaffDoor, reason: str) -> web.Response:
    status, message = SSO_REFUSALS.get(reason, SSO_REFUSALS["token"])
    return door.pages.render(
        ctx, "staff/sso_refused.html", status=status, message=ctx.say(message), reason=reason
    )


def sso_link(next_path: str) -> str:
    return f"/staff/sso/start?next={quote(next_path)}"


def _set_cookie(
    request: web.Request,
    response: web.StreamResponse,
    name: str,
    value: str,
    path: str,
    samesite: str,
) -> None:
    secure = door_of(request).cookie_secure
    response.set_cookie(
        name,
        value,
        path=path,
        httponly=True,
        samesite=samesite,
        secure=request.secure if secure is None else secure,
        max_age=OIDC_SECONDS if name == OIDC_COOKIE else PENDING_SECONDS,
    )
