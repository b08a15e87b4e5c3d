"""The staff pages: sign-in, queue, case, audit. Parse the form, call a service, render.

Every action is a POST with the CSRF token, answered with a redirect and a flash
message (post/redirect/get). A refused reply or note is shown again with the
typed text kept, so bad input never loses what someone wrote.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING
from urllib.parse import quote

from aiohttp import web

from bot.domain import MAX_STAFF_TEXT, OUTCOMES, CaseError
from bot.web.staff import texts
from bot.web.staff.pages import QUEUE_ROWS_SHOWN

if TYPE_CHECKING:
    from bot.web.staff.app import Ctx, StaffWeb

CODE_RE = re.compile(r"^[A-Z0-9]{3}-[A-Z0-9]{3}$")
MAX_USERNAME = 100
MAX_PASSWORD = 1000


def safe_next(value: str | None) -> str:
    """Only a path inside the staff pages; never another site."""
    if value and value.startswith("/staff/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/staff/queue"


def case_code(ctx: Ctx) -> str:
    code = ctx.request.match_info["code"].strip().upper()
    if not CODE_RE.match(code):
        raise CaseError("not_found")
    return code


def redirect(location: str) -> web.Response:
    """303 See Other: after a POST, the browser GETs the page (post/redirect/get)."""
    return web.Response(status=303, headers={"Location": location})


def case_url(code: str) -> str:
    return f"/staff/cases/{quote(code)}"


def add_routes(app: web.Application, web_: StaffWeb) -> None:
    page = web_.page
    pages = web_.pages
    cases = web_.cases

    @page(auth=False)
    async def root(ctx: Ctx) -> web.StreamResponse:
        return redirect("/staff/queue" if ctx.user else "/staff/login")

    @page(auth=False)
    async def login_form(ctx: Ctx) -> web.StreamResponse:
        if ctx.user is not None:
            return redirect(safe_next(ctx.request.query.get("next")))
        return pages.render(
            ctx, "staff/login.html", next=safe_next(ctx.request.query.get("next")), username=""
        )

    @page(auth=False)
    async def login(ctx: Ctx) -> web.StreamResponse:
        username = ctx.form.get("username", "").strip()[:MAX_USERNAME]
        password = ctx.form.get("password", "")[:MAX_PASSWORD]
        target = safe_next(ctx.form.get("next"))
        keys = web_.throttle.keys(username, ctx.request.remote)
        wait = web_.throttle.wait_seconds(keys)
        if wait:
            minutes = (wait + 59) // 60
            message = ctx.tr.ngettext(
                "Too many failed attempts. Wait %(n)d minute and try again.",
                "Too many failed attempts. Wait %(n)d minutes and try again.",
                minutes,
            ) % {"n": minutes}
            response = pages.render(
                ctx, "staff/login.html", status=429, next=target, username=username, error=message
            )
            response.headers["Retry-After"] = str(wait)
            return response
        user = await web_.staff.authenticate(username, password) if username and password else None
        if user is None:
            web_.throttle.failed(keys)
            message = ctx._("The username or password is not right.")
            return pages.render(
                ctx, "staff/login.html", status=401, next=target, username=username, error=message
            )
        web_.throttle.succeeded(username)
        ctx.session.sign_in(user.id)
        return redirect(target)

    @page(auth=False)
    async def logout(ctx: Ctx) -> web.StreamResponse:
        ctx.session.sign_out()
        ctx.session.set_flash("info", ctx._("You have signed out."))
        return redirect("/staff/login")

    @page(auth=False)
    async def set_language(ctx: Ctx) -> web.StreamResponse:
        lang = ctx.form.get("lang", "")
        if lang in web_.translators:
            ctx.session.lang = lang
            ctx.session.changed = True
        back = ctx.form.get("next", "")
        return redirect(back if back == "/staff/login" else safe_next(back))

    @page()
    async def queue(ctx: Ctx) -> web.StreamResponse:
        assert ctx.user is not None
        current = await cases.queue(ctx.user, limit=QUEUE_ROWS_SHOWN)
        return pages.render(ctx, "staff/queue.html", queue=current, shown=current.items)

    @page()
    async def queue_live(ctx: Ctx) -> web.StreamResponse:
        """The queue's table as a fragment, or 204 when nothing changed since ``v``."""
        assert ctx.user is not None
        if ctx.request.query.get("v") == await cases.queue_version(ctx.user):
            return web.Response(status=204, headers={"Cache-Control": "no-store"})
        current = await cases.queue(ctx.user, limit=QUEUE_ROWS_SHOWN)
        html = pages.fragment(ctx, "staff/_queue_table.html", queue=current, shown=current.items)
        return web.Response(
            text=html,
            content_type="text/html",
            headers={"X-Queue-Version": current.version, "Cache-Control": "no-store"},
        )

    async def render_case(
        ctx: Ctx, code: str, *, status: int = 200, error: str | None = None, **kept: str
    ) -> web.Response:
        assert ctx.user is not None
        detail = await cases.detail(ctx.user, code)
        item = detail.item
        canned: list[str] = []
        if item.status in ("open", "claimed"):
            canned = await cases.canned_replies(ctx.user, item.team_id, item.language)
        teams = sorted(t for t in web_.content.teams if t != item.team_id)
        messages_html = pages.fragment(ctx, "staff/_messages.html", detail=detail)
        return pages.render(
            ctx,
            "staff/case.html",
            status=status,
            detail=detail,
            item=item,
            mine=item.claimed_by == ctx.user.username,
            canned=canned,
            teams=teams,
            outcomes=OUTCOMES,
            messages_html=messages_html,
            messages_tag=_tag(messages_html),
            max_text=MAX_STAFF_TEXT,
            error=error,
            reply_text=kept.get("reply_text", ""),
            note_text=kept.get("note_text", ""),
        )

    @page()
    async def case(ctx: Ctx) -> web.StreamResponse:
        return await render_case(ctx, case_code(ctx))

    @page()
    async def case_live(ctx: Ctx) -> web.StreamResponse:
        """The case's messages as a fragment, or 204 when they have not changed."""
        assert ctx.user is not None
        detail = await cases.detail(ctx.user, case_code(ctx))
        html = pages.fragment(ctx, "staff/_messages.html", detail=detail)
        tag = _tag(html)
        if ctx.request.query.get("v") == tag:
            return web.Response(status=204, headers={"Cache-Control": "no-store"})
        return web.Response(
            text=html,
            content_type="text/html",
            headers={"X-Messages-Version": tag, "Cache-Control": "no-store"},
        )

    def done(ctx: Ctx, code: str, key: str, kind: str = "success") -> web.StreamResponse:
        ctx.session.set_flash(kind, ctx.say(texts.DONE[key]))
        return redirect(case_url(code))

    def refused(ctx: Ctx, code: str, reason: str) -> web.StreamResponse:
        ctx.session.set_flash(
            "error", ctx.say(texts.REFUSALS.get(reason, texts.REFUSALS["invalid"]))
        )
        return redirect(case_url(code))

    @page()
    async def claim(ctx: Ctx) -> web.StreamResponse:
        assert ctx.user is not None
        code = case_code(ctx)
        result = await cases.claim(ctx.user, code)
        if result.won:
            return done(ctx, code, "claim")
        if result.holder:
            message = ctx._("%(holder)s has already claimed this request.") % {
                "holder": result.holder
            }
        else:
            message = ctx.say(texts.REFUSALS["not_open"])
        ctx.session.set_flash("error", message)
        return redirect(case_url(code))

    async def simple_action(ctx: Ctx, action: str) -> web.StreamResponse:
        """release / reopen: no fields; a refusal becomes a flash message."""
        assert ctx.user is not None
        code = case_code(ctx)
        try:
            await getattr(cases, action)(ctx.user, code)
        except CaseError as exc:
            if exc.reason in ("not_found", "forbidden"):
                raise
            return refused(ctx, code, exc.reason)
        return done(ctx, code, action)

    @page()
    async def release(ctx: Ctx) -> web.StreamResponse:
        return await simple_action(ctx, "release")

    @page()
    async def reopen(ctx: Ctx) -> web.StreamResponse:
        return await simple_action(ctx, "reopen")

    @page()
    async def reply(ctx: Ctx) -> web.StreamResponse:
        assert ctx.user is not None
        code = case_code(ctx)
        text = ctx.form.get("text", "").strip()
        if not text:
            canned = ctx.form.get("canned", "")
            text = canned.strip() if canned else ""
        if not text:
            return await render_case(
                ctx, code, status=400, error=ctx._("Write a reply before sending.")
            )
        if len(text) > MAX_STAFF_TEXT:
            return await render_case(
                ctx, code, status=400, error=too_long(ctx), reply_text=text[: MAX_STAFF_TEXT * 2]
            )
        try:
            sent = await cases.reply(ctx.user, code, text, sign=ctx.form.get("sign") == "1")
        except CaseError as exc:
            if exc.reason in ("not_found", "forbidden"):
                raise
            message = ctx.say(texts.REFUSALS.get(exc.reason, texts.REFUSALS["invalid"]))
            return await render_case(ctx, code, status=409, error=message, reply_text=text)
        if sent.delivery and sent.delivery != "sent":
            return done(ctx, code, "reply_failed", "error")
        return done(ctx, code, "reply")

    @page()
    async def note(ctx: Ctx) -> web.StreamResponse:
        assert ctx.user is not None
        code = case_code(ctx)
        text = ctx.form.get("text", "").strip()
        if not text:
            return await render_case(ctx, code, status=400, error=ctx._("Write a note first."))
        if len(text) > MAX_STAFF_TEXT:
            return await render_case(
                ctx, code, status=400, error=too_long(ctx), note_text=text[: MAX_STAFF_TEXT * 2]
            )
        try:
            await cases.add_note(ctx.user, code, text)
        except CaseError as exc:
            if exc.reason in ("not_found", "forbidden"):
                raise
            message = ctx.say(texts.REFUSALS.get(exc.reason, texts.REFUSALS["invalid"]))
            return await render_case(ctx, code, status=409, error=message, note_text=text)
        return done(ctx, code, "note")

    @page()
    async def transfer(ctx: Ctx) -> web.StreamResponse:
        assert ctx.user is not None
        code = case_code(ctx)
        team = ctx.form.get("team", "")
        if team not in web_.content.teams:
            return refused(ctx, code, "unknown_team")
        try:
            await cases.transfer(ctx.user, code, team)
        except CaseError as exc:
            if exc.reason == "not_found":
                raise
            return refused(ctx, code, exc.reason)
        ctx.session.set_flash("success", ctx.say(texts.DONE["transfer"]))
        # After a transfer to another team the case may no longer be visible: go to the queue.
        return redirect(case_url(code) if ctx.user.can_see(team) else "/staff/queue")

    @page()
    async def close(ctx: Ctx) -> web.StreamResponse:
        assert ctx.user is not None
        code = case_code(ctx)
        outcome = ctx.form.get("outcome", "")
        if outcome not in OUTCOMES:
            ctx.session.set_flash("error", ctx._("Choose an outcome before closing."))
            return redirect(case_url(code))
        try:
            await cases.close(ctx.user, code, outcome)  # type: ignore[arg-type]
        except CaseError as exc:
            if exc.reason in ("not_found", "forbidden"):
                raise
            return refused(ctx, code, exc.reason)
        return done(ctx, code, "close")

    @page()
    async def audit(ctx: Ctx) -> web.StreamResponse:
        assert ctx.user is not None
        if ctx.user.role != "admin":
            return pages.error(ctx, 403, "admin_only")
        entries = await cases.audit_log(ctx.user)
        return pages.render(ctx, "staff/audit.html", entries=entries)

    @page()
    async def canned(ctx: Ctx) -> web.StreamResponse:
        """Coordinators keep the prepared replies staff can start from, per team and language."""
        assert ctx.user is not None
        try:
            replies = await cases.list_canned_replies(ctx.user)
        except CaseError:
            return pages.error(ctx, 403, "lead_only")
        teams = sorted(t for t in web_.content.teams if ctx.user.can_see(t))
        reply_languages = [lang.code for lang in web_.content.enabled_languages]
        return pages.render(
            ctx,
            "staff/canned.html",
            replies=replies,
            teams=teams,
            reply_languages=reply_languages,
            max_text=MAX_STAFF_TEXT,
        )

    @page()
    async def canned_add(ctx: Ctx) -> web.StreamResponse:
        assert ctx.user is not None
        form = ctx.form
        try:
            await cases.add_canned_reply(
                ctx.user,
                form.get("team", ""),
                form.get("language", ""),
                form.get("title", ""),
                form.get("body", ""),
            )
        except CaseError as exc:
            reason = "invalid" if exc.reason == "unknown_team" else exc.reason
            if reason == "forbidden":
                return pages.error(ctx, 403, "lead_only")
            ctx.session.set_flash(
                "error", ctx.say(texts.REFUSALS.get(reason, texts.REFUSALS["invalid"]))
            )
            return redirect("/staff/canned")
        ctx.session.set_flash("success", ctx._("The canned reply was added."))
        return redirect("/staff/canned")

    @page()
    async def canned_remove(ctx: Ctx) -> web.StreamResponse:
        assert ctx.user is not None
        raw = ctx.request.match_info["reply_id"]
        try:
            await cases.remove_canned_reply(ctx.user, int(raw))
        except ValueError:
            ctx.session.set_flash("error", ctx.say(texts.REFUSALS["invalid"]))
            return redirect("/staff/canned")
        except CaseError as exc:
            if exc.reason == "forbidden":
                return pages.error(ctx, 403, "lead_only")
            ctx.session.set_flash("error", ctx._("That canned reply does not exist any more."))
            return redirect("/staff/canned")
        ctx.session.set_flash("success", ctx._("The canned reply was removed."))
        return redirect("/staff/canned")

    @page(auth=False)
    async def not_found(ctx: Ctx) -> web.StreamResponse:
        return pages.error(ctx, 404, "http")

    router = app.router
    router.add_get("/staff", root)
    router.add_get("/staff/", root)
    router.add_get("/staff/login", login_form)
    router.add_post("/staff/login", login)
    router.add_post("/staff/logout", logout)
    router.add_post("/staff/language", set_language)
    router.add_get("/staff/queue", queue)
    router.add_get("/staff/queue/live", queue_live)
    router.add_get("/staff/audit", audit)
    router.add_get("/staff/canned", canned)
    router.add_post("/staff/canned/add", canned_add)
    router.add_post("/staff/canned/{reply_id}/remove", canned_remove)
    router.add_get("/staff/cases/{code}", case)
    router.add_get("/staff/cases/{code}/live", case_live)
    for name, handler in [
        ("claim", claim),
        ("release", release),
        ("reply", reply),
        ("note", note),
        ("transfer", transfer),
        ("close", close),
        ("reopen", reopen),
    ]:
        router.add_post(f"/staff/cases/{{code}}/{name}", handler)


def too_long(ctx: Ctx) -> str:
    return ctx._("The text is too long: at most %(n)d characters. Nothing was sent.") % {
        "n": MAX_STAFF_TEXT
    }


def _tag(html: str) -> str:
    return hashlib.sha256(html.encode()).hexdigest()[:16]
