"""The admin section of the staff pages: staff accounts (issue #12). Parse, call, render.

``/staff/admin`` is the section's landing page, ``/staff/admin/accounts`` the account list
with the form to add one, ``/staff/admin/accounts/{username}`` one account's changes.
Every change is a POST with the CSRF token (the middleware checks it) to
``bot.services.staff_admin.AdminService``, which refuses anyone but an admin and audits.
A new set-password link is shown once, on the page that answers the POST (it is never put
in a cookie or a redirect). ``/staff/set-password/{token}`` is the link's own page: no one
is signed in there.
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import quote

from aiohttp import web

from bot.domain import ROLES
from bot.i18n import N_
from bot.services.staff import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, normalise_username
from bot.services.staff_admin import AdminError, AdminService, IssuedLink
from bot.web.limits import staff_text
from bot.web.staff.context import Ctx, PageError, ctx_of, public
from bot.web.staff.deps import door_of
from bot.web.staff.sso import PARTS

routes = web.RouteTableDef()  # on the ``/staff`` sub-application
ADMIN = web.AppKey("staff_admin", AdminService)
ROLE_LABELS = {
    "staff": N_("Staff"),
    "coordinator": N_("Coordinator"),
    "admin": N_("Administrator"),
}


class Refusal(NamedTuple):
    status: int
    message: str  # English msgid; pages translate it, the API sends it as "message"


# The admin section's refusals, one table for the pages and the API (as ``refusals``).
ADMIN_REFUSALS: dict[str, Refusal] = {
    "forbidden": Refusal(403, N_("Only administrators can see this page.")),
    "not_found": Refusal(404, N_("There is no staff account with that username.")),
    "exists": Refusal(409, N_("There is already an account with that username.")),
    "invalid_username": Refusal(
        400,
        N_(
            "A username is 2 to 64 characters: letters a to z, digits, dots, dashes or "
            "underscores, starting with a letter or a digit."
        ),
    ),
    "invalid_role": Refusal(400, N_("Choose one of the roles.")),
    "unknown_team": Refusal(
        400, N_("Choose teams from the list. Staff and coordinators need at least one team.")
    ),
    "weak_password": Refusal(400, N_("The password must be 12 to 1000 characters long.")),
    "mismatch": Refusal(400, N_("The two passwords differ. Type the same password twice.")),
    "self": Refusal(
        409,
        N_(
            "You cannot deactivate your own account or take away your own administrator "
            "role. Ask another administrator to do it."
        ),
    ),
    "link_invalid": Refusal(
        404,
        N_(
            "This link cannot be used: it has been used already, it has expired, or a newer "
            "link has replaced it. Ask an administrator for a new link."
        ),
    ),
    "invalid": Refusal(
        400, N_("Something in the form was missing or not valid. Nothing was changed.")
    ),
}


def admin_refusal(reason: str) -> Refusal:
    return ADMIN_REFUSALS.get(reason, ADMIN_REFUSALS["invalid"])


def admin_of(request: web.Request) -> AdminService:
    return request.app[ADMIN]


def link_url(request: web.Request, token: str) -> str:
    """The set-password link at the address people reach this service by."""
    base = request.app[PARTS].public_url or str(request.url.origin())
    return f"{base.rstrip('/')}/staff/set-password/{token}"


def account_url(username: str) -> str:
    return f"/staff/admin/accounts/{quote(username)}"


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _admins_only(ctx: Ctx) -> None:
    if not ctx.staff.is_admin:
        raise PageError(403, "admin_only")


def _teams(request: web.Request) -> list[str]:
    return sorted(door_of(request).content.teams)


async def _chosen_teams(request: web.Request) -> frozenset[str]:
    """The ticked team boxes (the middleware's form keeps one value per name)."""
    data = await request.post()
    return frozenset(str(v) for v in data.getall("team", []) if isinstance(v, str))


@routes.get("/admin")
async def admin_home(request: web.Request) -> web.StreamResponse:
    ctx = ctx_of(request)
    _admins_only(ctx)
    return door_of(request).pages.render(ctx, "staff/admin_home.html")


@routes.get("/admin/accounts")
async def accounts(request: web.Request) -> web.StreamResponse:
    ctx = ctx_of(request)
    _admins_only(ctx)
    return await _accounts_page(request)


async def _accounts_page(
    request: web.Request,
    *,
    status: int = 200,
    issued: IssuedLink | None = None,
    error: str | None = None,
    kept: dict[str, str] | None = None,
) -> web.Response:
    ctx = ctx_of(request)
    listed = await admin_of(request).accounts(ctx.staff)
    return door_of(request).pages.render(
        ctx,
        "staff/admin_accounts.html",
        status=status,
        accounts=listed,
        roles=ROLES,
        role_labels=ROLE_LABELS,
        all_teams=_teams(request),
        issued=issued,
        issued_url=link_url(request, issued.token) if issued else None,
        error=error,
        kept=kept or {},
    )


@routes.post("/admin/accounts/add")
async def account_add(request: web.Request) -> web.StreamResponse:
    ctx = ctx_of(request)
    _admins_only(ctx)
    form = ctx.form
    teams = await _chosen_teams(request)
    try:
        issued = await admin_of(request).create(
            ctx.staff,
            form.get("username", "")[:200],
            form.get("role", ""),
            teams,
            staff_text(form.get("display_name", "")[:200]) or None,
        )
    except AdminError as exc:
        if exc.reason == "forbidden":
            raise PageError(403, "admin_only") from None
        kept = {k: form.get(k, "")[:200] for k in ("username", "display_name", "role")}
        return await _accounts_page(
            request,
            status=admin_refusal(exc.reason).status,
            error=ctx.say(admin_refusal(exc.reason).message),
            kept=kept,
        )
    return await _accounts_page(request, issued=issued)


@routes.get("/admin/accounts/{username}")
async def account(request: web.Request) -> web.StreamResponse:
    ctx = ctx_of(request)
    _admins_only(ctx)
    return await _account_page(request, request.match_info["username"])


async def _account_page(
    request: web.Request,
    username: str,
    *,
    status: int = 200,
    issued: IssuedLink | None = None,
    error: str | None = None,
) -> web.Response:
    ctx, door = ctx_of(request), door_of(request)
    try:
        summary = await admin_of(request).account(ctx.staff, username)
    except AdminError as exc:
        refused = admin_refusal(exc.reason)
        return door.pages.render(
            ctx,
            "staff/error.html",
            status=refused.status,
            title=ctx._("This could not be done"),
            message=ctx.say(refused.message),
        )
    return door.pages.render(
        ctx,
        "staff/admin_account.html",
        status=status,
        account=summary,
        roles=ROLES,
        role_labels=ROLE_LABELS,
        all_teams=_teams(request),
        issued=issued,
        issued_url=link_url(request, issued.token) if issued else None,
        error=error,
        is_self=summary.username == ctx.staff.username,
    )


async def _step(request: web.Request, action: str) -> web.StreamResponse:
    """One change to an account, back to its page with a flash or the refusal."""
    ctx = ctx_of(request)
    _admins_only(ctx)
    username = request.match_info["username"]
    admin = admin_of(request)
    issued = None
    try:
        if action == "change":
            role = ctx.form.get("role") or None
            teams = await _chosen_teams(request)
            await admin.change(ctx.staff, username, role=role, teams=teams)
            message = ctx._("The role and teams were saved. The account's sessions have ended.")
        elif action == "deactivate":
            await admin.deactivate(ctx.staff, username)
            message = ctx._("The account was deactivated. Its sessions have ended.")
        elif action == "reactivate":
            await admin.reactivate(ctx.staff, username)
            message = ctx._("The account was reactivated. It can sign in again.")
        elif action == "2fa-reset":
            had = await admin.reset_second_factor(ctx.staff, username)
            message = (
                ctx._("The second factor was removed. The person sets up a new one at sign-in.")
                if had
                else ctx._("This account had no second factor. Nothing was changed.")
            )
        else:  # "link"
            issued = await admin.new_link(ctx.staff, username)
            message = ""
    except AdminError as exc:
        if exc.reason == "forbidden":
            raise PageError(403, "admin_only") from None
        refused = admin_refusal(exc.reason)
        return await _account_page(
            request, username, status=refused.status, error=ctx.say(refused.message)
        )
    if issued is not None:
        return await _account_page(request, issued.username, issued=issued)
    ctx.session.set_flash("success", message)
    return _redirect(account_url(normalise_username(username)))


@routes.post("/admin/accounts/{username}/change")
async def account_change(request: web.Request) -> web.StreamResponse:
    return await _step(request, "change")


@routes.post("/admin/accounts/{username}/deactivate")
async def account_deactivate(request: web.Request) -> web.StreamResponse:
    return await _step(request, "deactivate")


@routes.post("/admin/accounts/{username}/reactivate")
async def account_reactivate(request: web.Request) -> web.StreamResponse:
    return await _step(request, "reactivate")


@routes.post("/admin/accounts/{username}/2fa-reset")
async def account_2fa_reset(request: web.Request) -> web.StreamResponse:
    return await _step(request, "2fa-reset")


@routes.post("/admin/accounts/{username}/link")
async def account_link(request: web.Request) -> web.StreamResponse:
    return await _step(request, "link")


# -- the set-password link's page (no one signed in) ---------------------------------------


@routes.get("/set-password/{token}")
@public
async def set_password_form(request: web.Request) -> web.StreamResponse:
    try:
        username = await admin_of(request).link_account(request.match_info["token"])
    except AdminError as exc:
        return _link_refused(request, exc.reason)
    return _set_password_page(request, username)


@routes.post("/set-password/{token}")
@public
async def set_password(request: web.Request) -> web.StreamResponse:
    ctx = ctx_of(request)
    token = request.match_info["token"]
    admin = admin_of(request)
    try:
        username = await admin.link_account(token)
    except AdminError as exc:
        return _link_refused(request, exc.reason)
    password = ctx.form.get("password", "")
    if password != ctx.form.get("password2", ""):
        refused = admin_refusal("mismatch")
        return _set_password_page(
            request, username, status=refused.status, error=ctx.say(refused.message)
        )
    try:
        await admin.use_link(token, password)
    except AdminError as exc:
        if exc.reason == "link_invalid":
            return _link_refused(request, exc.reason)
        refused = admin_refusal(exc.reason)
        return _set_password_page(
            request, username, status=refused.status, error=ctx.say(refused.message)
        )
    if ctx.user is not None:  # someone else was signed in in this browser: not any more
        ctx.session.sign_out()
    ctx.session.set_flash("success", ctx._("Your password is set. You can sign in now."))
    return _redirect("/staff/login")


def _set_password_page(
    request: web.Request, username: str, *, status: int = 200, error: str | None = None
) -> web.Response:
    ctx = ctx_of(request)
    return door_of(request).pages.render(
        ctx,
        "staff/admin_set_password.html",
        status=status,
        username=username,
        error=error,
        min_length=MIN_PASSWORD_LENGTH,
        max_length=MAX_PASSWORD_LENGTH,
        action=request.path,
    )


def _link_refused(request: web.Request, reason: str) -> web.Response:
    ctx = ctx_of(request)
    refused = admin_refusal(reason)
    return door_of(request).pages.render(
        ctx,
        "staff/error.html",
        status=refused.status,
        title=ctx._("This link cannot be used"),
        message=ctx.say(refused.message),
    )
