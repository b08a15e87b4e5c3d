"""The staff pages: sign-in, queue, case, audit, canned replies. Parse, call a service, render.

Every action is a POST with the CSRF token, answered with a redirect and a flash
message (post/redirect/get). A refused reply or note is shown again with the
typed text kept, so bad input never loses what someone wrote. The services decide
(text length, outcome, team, role); a view only chooses the words and the page.
"""

from __future__ import annotations

import hashlib
import re
from typing import cast
from urllib.parse import quote

from aiohttp import web

from bot.domain import ACTIVE_STATUSES, MAX_STAFF_TEXT, OUTCOMES, CaseError, Outcome
from bot.web.limits import shown_again, staff_text
from bot.web.staff import sso, texts
from bot.web.staff.context import Ctx, case_code, ctx_of, only_for, poll, public
from bot.web.staff.deps import door_of
from bot.web.staff.pages import QUEUE_ROWS_SHOWN
from bot.web.staff.refusals import refusal
from bot.web.staff.session import COOKIE_NAME

# A case page shows its newest messages (a 2,000-message case stays light); "older" pages on.
CASE_MESSAGES_SHOWN = 50

routes = web.RouteTableDef()  # on the ``/staff`` sub-application: paths relative to it
# Refusals a case action shows as its own page (the case is not there to go back to).
NOT_THERE = frozenset({"not_found", "forbidden"})


# A same-site path inside the staff pages, printable ASCII only (a control character in a
# Location header would drop the connection; a browser URL-encodes the rest anyway).
_SAFE_NEXT = re.compile(r"/staff/[\x21-\x5b\x5d-\x7e]*")


def safe_next(value: str | None) -> str:
    """Only a path inside the staff pages, never another site: it starts with ``/staff/``
    (so not ``//`` and no scheme), no backslash, no space or control character; else the
    queue."""
    if value and _SAFE_NEXT.fullmatch(value):
        return value
    return "/staff/queue"


def redirect(location: str) -> web.Response:
    """303 See Other: after a POST, the browser GETs the page (post/redirect/get)."""
    return web.Response(status=303, headers={"Location": location})


def case_url(code: str) -> str:
    return f"/staff/cases/{quote(code)}"


async def root_redirect(request: web.Request) -> web.StreamResponse:
    """``/staff`` (outside the sub-app): on to the queue when a session says signed in."""
    session = door_of(request).codec.load(request.cookies.get(COOKIE_NAME))
    signed_in = session is not None and session.staff_id is not None
    return redirect("/staff/queue" if signed_in else "/staff/login")


@routes.get("/")
@public
async def root(request: web.Request) -> web.StreamResponse:
    return redirect("/staff/queue" if ctx_of(request).user else "/staff/login")


@routes.get("/login")
@public
async def login_form(request: web.Request) -> web.StreamResponse:
    ctx = ctx_of(request)
    target = safe_next(request.query.get("next"))
    if ctx.user is not None:
        return redirect(target)
    return door_of(request).pages.render(
        ctx, "staff/login.html", next=target, username="", **sso.login_options(request, target)
    )


@routes.post("/login")
@public
async def login(request: web.Request) -> web.StreamResponse:
    ctx, door = ctx_of(request), door_of(request)
    target = safe_next(ctx.form.get("next"))
    options = sso.login_options(request, target)
    if not options["passwords"]:  # LOCAL_PASSWORDS=false: single sign-on only
        message = ctx._("Sign-in with a password is switched off here. Use single sign-on.")
        return door.pages.render(
            ctx, "staff/login.html", status=403, next=target, username="", error=message, **options
        )
    result = await door.signin.sign_in(
        ctx.form.get("username", ""), ctx.form.get("password", ""), request.remote
    )
    if result.user is not None:
        # A second factor (or its enrolment under REQUIRE_2FA) comes before the session.
        second = await sso.second_step(request, result.user, target)
        if second is not None:
            return second
        ctx.session.sign_in(result.user.id)
        return redirect(target)
    if result.retry_after:
        minutes = (result.retry_after + 59) // 60
        message = ctx.tr.ngettext(
            "Too many failed attempts. Wait %(n)d minute and try again.",
            "Too many failed attempts. Wait %(n)d minutes and try again.",
            minutes,
        ) % {"n": minutes}
        status = 429
    else:
        message, status = ctx._("The username or password is not right."), 401
    response = door.pages.render(
        ctx,
        "staff/login.html",
        status=status,
        next=target,
        username=result.username,
        error=message,
        **options,
    )
    if result.retry_after:
        response.headers["Retry-After"] = str(result.retry_after)
    return response


@routes.post("/logout")
@public
async def logout(request: web.Request) -> web.StreamResponse:
    ctx = ctx_of(request)
    ctx.session.sign_out()
    ctx.session.set_flash("info", ctx._("You have signed out."))
    return redirect("/staff/login")


@routes.post("/signout-everywhere")
async def sign_out_everywhere(request: web.Request) -> web.StreamResponse:
    """Every other browser and API token of this account is signed out; this one stays."""
    ctx, door = ctx_of(request), door_of(request)
    await door.sessions.end_others(ctx.staff, ctx.session.sid or "")
    ctx.session.set_flash("success", ctx._("You are now signed out everywhere else."))
    return redirect("/staff/queue")


@routes.post("/language")
@public
async def set_language(request: web.Request) -> web.StreamResponse:
    ctx = ctx_of(request)
    lang = ctx.form.get("lang", "")
    if lang in door_of(request).translators:
        ctx.session.lang = lang
        ctx.session.changed = True
    back = ctx.form.get("next", "")
    return redirect(back if back == "/staff/login" else safe_next(back))


@routes.get("/queue")
async def queue(request: web.Request) -> web.StreamResponse:
    ctx, door = ctx_of(request), door_of(request)
    current = await door.cases.queue(ctx.staff, limit=QUEUE_ROWS_SHOWN)
    return door.pages.render(ctx, "staff/queue.html", queue=current, shown=current.items)


@routes.get("/queue/live")
@poll
async def queue_live(request: web.Request) -> web.StreamResponse:
    """The queue's table as a fragment, or 204 when nothing changed since ``v``."""
    ctx, door = ctx_of(request), door_of(request)
    if request.query.get("v") == await door.cases.queue_version(ctx.staff):
        return _unchanged()
    current = await door.cases.queue(ctx.staff, limit=QUEUE_ROWS_SHOWN)
    html = door.pages.fragment(ctx, "staff/_queue_table.html", queue=current, shown=current.items)
    return _live(html, "X-Queue-Version", current.version)


async def render_case(
    request: web.Request,
    code: str,
    opened: bool = False,  # True: the case page opened (audited); False: shown again
    /,
    *,
    status: int = 200,
    error: str | None = None,
    **kept: str,
) -> web.Response:
    ctx, door = ctx_of(request), door_of(request)
    user = ctx.staff
    before = _before(request)
    detail = await door.cases.detail(user, code, page=CASE_MESSAGES_SHOWN, before=before)
    if opened:  # audited before anything of it is shown: who opened which case, and when
        await door.staff.audit_case_read(user, code, phone_shown=detail.phone is not None)
    item = detail.item
    messages_html = door.pages.fragment(ctx, "staff/_messages.html", detail=detail, before=before)
    return door.pages.render(
        ctx,
        "staff/case.html",
        status=status,
        detail=detail,
        item=item,
        mine=item.claimed_by == user.username,
        active=item.status in ACTIVE_STATUSES,  # someone still has to answer it
        canned=await door.canned.offered(user, item),
        teams=sorted(t for t in door.content.teams if t != item.team_id),
        outcomes=OUTCOMES,
        messages_html=messages_html,
        messages_tag=_tag(messages_html),
        before=before,
        max_text=MAX_STAFF_TEXT,
        error=error,
        reply_text=kept.get("reply_text", ""),
        note_text=kept.get("note_text", ""),
    )


@routes.get("/cases/{code}")
async def case(request: web.Request) -> web.StreamResponse:
    return await render_case(request, case_code(request), True)


@routes.get("/cases/{code}/live")
@poll
async def case_live(request: web.Request) -> web.StreamResponse:
    """The case's messages as a fragment, or 204 when they have not changed."""
    ctx, door = ctx_of(request), door_of(request)
    before = _before(request)
    detail = await door.cases.detail(
        ctx.staff, case_code(request), page=CASE_MESSAGES_SHOWN, before=before
    )
    html = door.pages.fragment(ctx, "staff/_messages.html", detail=detail, before=before)
    tag = _tag(html)
    if request.query.get("v") == tag:
        return _unchanged()
    return _live(html, "X-Messages-Version", tag)


def done(ctx: Ctx, code: str, key: str, kind: str = "success") -> web.StreamResponse:
    ctx.session.set_flash(kind, ctx.say(texts.DONE[key]))
    return redirect(case_url(code))


def refused(ctx: Ctx, code: str, reason: str) -> web.StreamResponse:
    """Back to the case with the refusal as a flash message."""
    ctx.session.set_flash("error", ctx.say(refusal(reason).message))
    return redirect(case_url(code))


@routes.post("/cases/{code}/claim")
async def claim(request: web.Request) -> web.StreamResponse:
    ctx, code = ctx_of(request), case_code(request)
    result = await door_of(request).cases.claim(ctx.staff, code)
    if result.won:
        return done(ctx, code, "claim")
    if result.holder:
        message = ctx._("%(holder)s has already claimed this request.") % {
            "holder": result.holder
        }
    else:
        message = ctx.say(refusal("not_open").message)
    ctx.session.set_flash("error", message)
    return redirect(case_url(code))


@routes.post("/cases/{code}/release")
@routes.post("/cases/{code}/reopen")
async def release_or_reopen(request: web.Request) -> web.StreamResponse:
    """Steps without fields; a refusal (but not found / not yours) comes back as a flash."""
    ctx, code, cases = ctx_of(request), case_code(request), door_of(request).cases
    release = request.path.endswith("/release")
    try:
        await (cases.release if release else cases.reopen)(ctx.staff, code)
    except CaseError as exc:
        return _flash_or_raise(ctx, code, exc)
    return done(ctx, code, "release" if release else "reopen")


@routes.post("/cases/{code}/reply")
async def reply(request: web.Request) -> web.StreamResponse:
    ctx, code = ctx_of(request), case_code(request)
    raw = ctx.form.get("text", "")
    try:
        text = staff_text(raw) or staff_text(ctx.form.get("canned", ""))
    except CaseError as exc:
        return await _shown_again(request, code, exc, reply_text=shown_again(raw))
    if not text:
        return await render_case(
            request, code, status=400, error=ctx._("Write a reply before sending.")
        )
    try:
        sent = await door_of(request).cases.reply(
            ctx.staff, code, text, sign=ctx.form.get("sign") == "1"
        )
    except CaseError as exc:
        return await _shown_again(request, code, exc, reply_text=text)
    if sent.delivery and sent.delivery != "sent":
        return done(ctx, code, "reply_failed", "error")
    return done(ctx, code, "reply")


@routes.post("/cases/{code}/note")
async def note(request: web.Request) -> web.StreamResponse:
    ctx, code = ctx_of(request), case_code(request)
    raw = ctx.form.get("text", "")
    try:
        text = staff_text(raw)
    except CaseError as exc:
        return await _shown_again(request, code, exc, note_text=shown_again(raw))
    if not text:
        return await render_case(request, code, status=400, error=ctx._("Write a note first."))
    try:
        await door_of(request).cases.add_note(ctx.staff, code, text)
    except CaseError as exc:
        return await _shown_again(request, code, exc, note_text=text)
    return done(ctx, code, "note")


@routes.post("/cases/{code}/transfer")
async def transfer(request: web.Request) -> web.StreamResponse:
    ctx, code = ctx_of(request), case_code(request)
    team = ctx.form.get("team", "")
    try:
        await door_of(request).cases.transfer(ctx.staff, code, team)
    except CaseError as exc:
        if exc.reason == "not_found":
            raise
        return refused(ctx, code, exc.reason)
    ctx.session.set_flash("success", ctx.say(texts.DONE["transfer"]))
    # After a transfer to another team the case may no longer be visible: go to the queue.
    return redirect(case_url(code) if ctx.staff.can_see(team) else "/staff/queue")


@routes.post("/cases/{code}/close")
async def close(request: web.Request) -> web.StreamResponse:
    ctx, code = ctx_of(request), case_code(request)
    outcome = cast(Outcome, ctx.form.get("outcome", ""))  # the service refuses any other word
    try:
        await door_of(request).cases.close(ctx.staff, code, outcome)
    except CaseError as exc:
        if exc.reason == "invalid":
            ctx.session.set_flash("error", ctx._("Choose an outcome before closing."))
            return redirect(case_url(code))
        return _flash_or_raise(ctx, code, exc)
    return done(ctx, code, "close")


@routes.get("/audit")
async def audit(request: web.Request) -> web.StreamResponse:
    ctx, door = ctx_of(request), door_of(request)
    with only_for("admin_only"):
        entries = await door.cases.audit_log(ctx.staff)
    await door.staff.audit(ctx.staff, "audit_read")
    return door.pages.render(ctx, "staff/audit.html", entries=entries)


@routes.get("/canned")
async def canned(request: web.Request) -> web.StreamResponse:
    """Coordinators keep the prepared replies staff can start from, per team and language."""
    ctx, door = ctx_of(request), door_of(request)
    with only_for("lead_only"):
        replies = await door.cases.list_canned_replies(ctx.staff)
    return door.pages.render(
        ctx,
        "staff/canned.html",
        replies=replies,
        teams=sorted(t for t in door.content.teams if ctx.staff.can_see(t)),
        reply_languages=[lang.code for lang in door.content.enabled_languages],
        max_text=MAX_STAFF_TEXT,
    )


@routes.post("/canned/add")
async def canned_add(request: web.Request) -> web.StreamResponse:
    ctx, door = ctx_of(request), door_of(request)
    form = ctx.form
    try:
        await door.cases.add_canned_reply(
            ctx.staff,
            form.get("team", ""),
            form.get("language", ""),
            staff_text(form.get("title", "")),
            staff_text(form.get("body", "")),
        )
    except CaseError as exc:
        if exc.reason == "forbidden":
            return door.pages.error(ctx, 403, "lead_only")
        reason = "invalid" if exc.reason == "unknown_team" else exc.reason
        return _back_to_canned(ctx, "error", ctx.say(refusal(reason).message))
    return _back_to_canned(ctx, "success", ctx._("The canned reply was added."))


@routes.post("/canned/{reply_id}/remove")
async def canned_remove(request: web.Request) -> web.StreamResponse:
    ctx, door = ctx_of(request), door_of(request)
    raw = request.match_info["reply_id"]
    if not raw.isdigit():
        return _back_to_canned(ctx, "error", ctx.say(refusal("invalid").message))
    try:
        await door.cases.remove_canned_reply(ctx.staff, int(raw))
    except CaseError as exc:
        if exc.reason == "forbidden":
            return door.pages.error(ctx, 403, "lead_only")
        return _back_to_canned(
            ctx, "error", ctx._("That canned reply does not exist any more.")
        )
    return _back_to_canned(ctx, "success", ctx._("The canned reply was removed."))


def _flash_or_raise(ctx: Ctx, code: str, exc: CaseError) -> web.StreamResponse:
    """A case that is not there (or not yours) is a page of its own; else back with a flash."""
    if exc.reason in NOT_THERE:
        raise exc
    return refused(ctx, code, exc.reason)


async def _shown_again(
    request: web.Request, code: str, exc: CaseError, **kept: str
) -> web.StreamResponse:
    """The case page again with the refusal and the typed text kept (cut if far too long)."""
    if exc.reason in NOT_THERE:
        raise exc
    ctx = ctx_of(request)
    if exc.reason == "too_long":
        message = ctx._("The text is too long: at most %(n)d characters. Nothing was sent.") % {
            "n": MAX_STAFF_TEXT
        }
        kept = {key: value[: MAX_STAFF_TEXT * 2] for key, value in kept.items()}
    else:
        message = ctx.say(refusal(exc.reason).message)
    return await render_case(
        request, code, status=refusal(exc.reason).status, error=message, **kept
    )


def _back_to_canned(ctx: Ctx, kind: str, message: str) -> web.StreamResponse:
    ctx.session.set_flash(kind, message)
    return redirect("/staff/canned")


MAX_MESSAGE_ID = 2**31 - 1  # message ids are INTEGER (32 bits on PostgreSQL)


def _before(request: web.Request) -> int | None:
    """``?before=`` (a page of older messages): a message id, else the newest page."""
    raw = request.query.get("before", "")
    if not (raw.isascii() and raw.isdigit() and 0 < len(raw) <= 10):
        return None
    value = int(raw)
    return value if value <= MAX_MESSAGE_ID else None


def _unchanged() -> web.Response:
    return web.Response(status=204, headers={"Cache-Control": "no-store"})


def _live(html: str, version_header: str, version: str) -> web.Response:
    return web.Response(
        text=html,
        content_type="text/html",
        headers={version_header: version, "Cache-Control": "no-store"},
    )


def _tag(html: str) -> str:
    return hashlib.sha256(html.encode()).hexdigest()[:16]
