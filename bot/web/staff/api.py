"""The JSON API under /api/v1: the same operations and permissions as the staff pages.

Authentication (see /api/openapi.json): ``POST /api/v1/session`` with a username
and password returns a bearer token (8 hours) for integrations, and also signs
the browser in; a request with the session cookie must send the session's
``X-CSRF-Token`` header on every unsafe method. Sign-in is throttled like the page.
"""

from __future__ import annotations

import json
from dataclasses import asdict, is_dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.domain import MAX_STAFF_TEXT, OUTCOMES, CaseError
from bot.web.staff.app import api_error
from bot.web.staff.openapi import openapi_document
from bot.web.staff.views import CODE_RE, MAX_PASSWORD, MAX_USERNAME

if TYPE_CHECKING:
    from bot.web.staff.app import Ctx, StaffWeb

MAX_JSON_BYTES = 64_000


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, frozenset | set):
        return sorted(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def to_json(value: Any, status: int = 200) -> web.Response:
    return web.json_response(_plain(value), status=status, headers={"Cache-Control": "no-store"})


async def read_json(ctx: Ctx) -> dict[str, Any]:
    """A JSON object body; anything else is a clear 400 (raised as CaseError('invalid'))."""
    request = ctx.request
    if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
        raise CaseError("too_long", "body")
    try:
        body = json.loads(await request.read() or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise CaseError("invalid", "the body is not JSON") from None
    if not isinstance(body, dict):
        raise CaseError("invalid", "the body must be a JSON object")
    return body


def code_of(ctx: Ctx) -> str:
    code = ctx.request.match_info["code"].strip().upper()
    if not CODE_RE.match(code):
        raise CaseError("not_found")
    return code


def text_field(body: dict[str, Any], name: str = "text") -> str:
    text = body.get(name)
    if not isinstance(text, str) or not text.strip():
        raise CaseError("invalid", f"{name} is required")
    if len(text) > MAX_STAFF_TEXT:
        raise CaseError("too_long", f"{name}: at most {MAX_STAFF_TEXT} characters")
    return text.strip()


def add_routes(app: web.Application, web_: StaffWeb) -> None:
    api = web_.api
    cases = web_.cases

    async def openapi(request: web.Request) -> web.Response:
        return web.json_response(openapi_document())

    @api(auth=False, csrf=False)
    async def sign_in(ctx: Ctx) -> web.StreamResponse:
        if ctx.request.content_type != "application/json":
            # A JSON body cannot come from another site's form without a CORS preflight.
            raise CaseError("invalid", "send application/json")
        body = await read_json(ctx)
        username = body.get("username")
        password = body.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            raise CaseError("invalid", "username and password are required")
        username, password = username.strip()[:MAX_USERNAME], password[:MAX_PASSWORD]
        keys = web_.throttle.keys(username, ctx.request.remote)
        wait = web_.throttle.wait_seconds(keys)
        if wait:
            response = api_error(
                429,
                "throttled",
                f"Too many failed attempts. Wait {wait} seconds and try again.",
                retry_after=wait,
            )
            response.headers["Retry-After"] = str(wait)
            return response
        user = await web_.staff.authenticate(username, password)
        if user is None:
            web_.throttle.failed(keys)
            return api_error(401, "unauthorized", "The username or password is not right.")
        web_.throttle.succeeded(username)
        ctx.session.sign_in(user.id)
        token, expires = web_.codec.issue_token(user.id)
        return to_json(
            {
                "token": token,
                "token_type": "Bearer",
                "expires_at": datetime.fromtimestamp(expires).astimezone().isoformat(),
                "csrf_token": ctx.session.csrf,
                "user": user,
            }
        )

    @api(auth=False)
    async def sign_out(ctx: Ctx) -> web.StreamResponse:
        ctx.session.sign_out()
        return web.Response(status=204)

    @api()
    async def me(ctx: Ctx) -> web.StreamResponse:
        return to_json({"user": ctx.user, "csrf_token": ctx.session.csrf})

    @api()
    async def queue(ctx: Ctx) -> web.StreamResponse:
        assert ctx.user is not None
        return to_json(await cases.queue(ctx.user))

    @api()
    async def detail(ctx: Ctx) -> web.StreamResponse:
        assert ctx.user is not None
        return to_json(await cases.detail(ctx.user, code_of(ctx)))

    @api()
    async def claim(ctx: Ctx) -> web.StreamResponse:
        assert ctx.user is not None
        result = await cases.claim(ctx.user, code_of(ctx))
        return to_json(result, status=200 if result.won else 409)

    @api()
    async def release(ctx: Ctx) -> web.StreamResponse:
        assert ctx.user is not None
        await cases.release(ctx.user, code_of(ctx))
        return web.Response(status=204)

    @api()
    async def reply(ctx: Ctx) -> web.StreamResponse:
        assert ctx.user is not None
        body = await read_json(ctx)
        sign = body.get("sign", False)
        if not isinstance(sign, bool):
            raise CaseError("invalid", "sign must be true or false")
        message = await cases.reply(ctx.user, code_of(ctx), text_field(body), sign=sign)
        return to_json(message, status=201)

    @api()
    async def note(ctx: Ctx) -> web.StreamResponse:
        assert ctx.user is not None
        body = await read_json(ctx)
        await cases.add_note(ctx.user, code_of(ctx), text_field(body))
        return web.Response(status=204)

    @api()
    async def transfer(ctx: Ctx) -> web.StreamResponse:
        assert ctx.user is not None
        body = await read_json(ctx)
        team = body.get("team_id")
        if not isinstance(team, str) or team not in web_.content.teams:
            raise CaseError("unknown_team")
        await cases.transfer(ctx.user, code_of(ctx), team)
        return web.Response(status=204)

    @api()
    async def close(ctx: Ctx) -> web.StreamResponse:
        assert ctx.user is not None
        body = await read_json(ctx)
        outcome = body.get("outcome")
        if outcome not in OUTCOMES:
            raise CaseError("invalid", f"outcome must be one of {', '.join(OUTCOMES)}")
        await cases.close(ctx.user, code_of(ctx), outcome)
        return web.Response(status=204)

    @api()
    async def reopen(ctx: Ctx) -> web.StreamResponse:
        assert ctx.user is not None
        await cases.reopen(ctx.user, code_of(ctx))
        return web.Response(status=204)

    @api()
    async def canned(ctx: Ctx) -> web.StreamResponse:
        assert ctx.user is not None
        item = (await cases.detail(ctx.user, code_of(ctx))).item
        replies = await cases.canned_replies(ctx.user, item.team_id, item.language)
        return to_json({"team_id": item.team_id, "language": item.language, "replies": replies})

    @api()
    async def audit(ctx: Ctx) -> web.StreamResponse:
        assert ctx.user is not None
        if ctx.user.role != "admin":
            return api_error(403, "forbidden", "Only administrators can read the audit log.")
        limit = ctx.request.query.get("limit", "200")
        if not limit.isdigit() or not 1 <= int(limit) <= 1000:
            raise CaseError("invalid", "limit must be 1-1000")
        return to_json({"entries": await cases.audit_log(ctx.user, int(limit))})

    router = app.router
    router.add_get("/api/openapi.json", openapi)
    router.add_post("/api/v1/session", sign_in)
    router.add_delete("/api/v1/session", sign_out)
    router.add_get("/api/v1/me", me)
    router.add_get("/api/v1/queue", queue)
    router.add_get("/api/v1/cases/{code}", detail)
    router.add_get("/api/v1/cases/{code}/canned-replies", canned)
    router.add_post("/api/v1/cases/{code}/claim", claim)
    router.add_post("/api/v1/cases/{code}/release", release)
    router.add_post("/api/v1/cases/{code}/reply", reply)
    router.add_post("/api/v1/cases/{code}/notes", note)
    router.add_post("/api/v1/cases/{code}/transfer", transfer)
    router.add_post("/api/v1/cases/{code}/close", close)
    router.add_post("/api/v1/cases/{code}/reopen", reopen)
    router.add_get("/api/v1/audit", audit)
