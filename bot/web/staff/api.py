"""The JSON API under /api/v1: the same operations and permissions as the staff pages.

Authentication (see /api/openapi.json): ``POST /api/v1/session`` with a username
and password returns a bearer token (8 hours) for integrations, and also signs
the browser in; a request with the session cookie must send the session's
``X-CSRF-Token`` header on every unsafe method. Sign-in is throttled like the page
(one ``SignInService``). Refusals become JSON through the one table in ``refusals``.
"""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from datetime import datetime
from typing import Any, cast

from aiohttp import web

from bot.domain import CaseError, Outcome, StaffUser
from bot.text_input import JSONBadString, JSONRefused, loads_json
from bot.web.limits import staff_text
from bot.web.staff import sso
from bot.web.staff.context import case_code, ctx_of, public, public_without_csrf
from bot.web.staff.deps import door_of
from bot.web.staff.openapi import openapi_document

routes = web.RouteTableDef()  # on the ``/api/v1`` sub-application: paths relative to it
MAX_JSON_BYTES = 64_000
CSRF_HEADER = "X-CSRF-Token"


def api_error(status: int, reason: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": reason, "message": message, **extra}, status=status)


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


def done() -> web.Response:
    """204: the step was taken, there is nothing to say."""
    return web.Response(status=204)


async def read_json(request: web.Request) -> dict[str, Any]:
    """A JSON object body; anything else is a clear 400 (raised as CaseError('invalid'))."""
    if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
        raise CaseError("too_long", "body")
    raw = await request.read()
    if len(raw) > MAX_JSON_BYTES:  # a chunked body has no Content-Length to check first
        raise CaseError("too_long", "body")
    try:  # depth checked before parsing: a deep body is a 400, never a RecursionError
        body = loads_json(raw or b"{}")
    except JSONBadString as exc:
        raise CaseError("bad_character", str(exc)) from None
    except JSONRefused as exc:
        raise CaseError("invalid", str(exc)) from None
    if not isinstance(body, dict):
        raise CaseError("invalid", "the body must be a JSON object")
    return body


# A page of a case's messages in the API answer (a 2,000-message case stays light).
DEFAULT_MESSAGES = 50
MAX_MESSAGES = 200
MAX_MESSAGE_ID = 2**31 - 1  # message ids are INTEGER (32 bits on PostgreSQL)


def _query_int(request: web.Request, name: str, default: int | None, highest: int) -> int | None:
    """An optional query parameter, a whole number 1..``highest``; else a clear 400."""
    raw = request.query.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10) or not 1 <= int(raw) <= highest:
        raise CaseError("invalid", f"{name} must be a whole number from 1 to {highest}")
    return int(raw)


def _staff_and_code(request: web.Request) -> tuple[StaffUser, str]:
    """Who asks, and about which case (the two arguments of most case steps)."""
    return ctx_of(request).staff, case_code(request)


def text_field(body: dict[str, Any], name: str = "text") -> str:
    """A string field, normalised; a control character is refused here (400), its length
    and emptiness are the service's to refuse."""
    text = body.get(name)
    if not isinstance(text, str):
        raise CaseError("invalid", f"{name} is required")
    return staff_text(text)


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


@routes.post("/session")
@public_without_csrf
async def sign_in(request: web.Request) -> web.StreamResponse:
    if request.content_type != "application/json":
        # A JSON body cannot come from another site's form without a CORS preflight.
        raise CaseError("invalid", "send application/json")
    ctx, door = ctx_of(request), door_of(request)
    body = await read_json(request)
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise CaseError("invalid", "username and password are required")
    if sso.passwords_off(request):
        return api_error(403, "sso_only", "Password sign-in is switched off: use single sign-on.")
    result = await door.signin.sign_in(username, password, request.remote)
    if result.retry_after:
        wait = result.retry_after
        response = api_error(
            429,
            "throttled",
            f"Too many failed attempts. Wait {wait} seconds and try again.",
            retry_after=wait,
        )
        response.headers["Retry-After"] = str(wait)
        return response
    if result.user is None:
        return api_error(401, "unauthorized", "The username or password is not right.")
    second = await sso.api_second_factor(request, result.user, body.get("code"))
    if second is not None:  # an account with a second factor sends its code too
        return second
    ctx.session.sign_in(result.user.id)
    sid = await door.sessions.start(result.user.id, "token", request.headers.get("User-Agent"))
    token, expires = door.codec.issue_token(result.user.id, sid)
    return to_json(
        {
            "token": token,
            "token_type": "Bearer",
            "expires_at": datetime.fromtimestamp(expires).astimezone().isoformat(),
            "csrf_token": ctx.session.csrf,
            "user": result.user,
        }
    )


@routes.delete("/session")
@public
async def sign_out(request: web.Request) -> web.StreamResponse:
    """The bearer token's session ends (with a token), else the cookie's."""
    ctx = ctx_of(request)
    if ctx.token_sid:
        await door_of(request).sessions.end(ctx.token_sid)
    else:
        ctx.session.sign_out()
    return done()


@routes.delete("/sessions")
async def sign_out_elsewhere(request: web.Request) -> web.StreamResponse:
    """Every other session and token of this account ends; the one asking stays."""
    ctx = ctx_of(request)
    current = ctx.token_sid or ctx.session.sid or ""
    ended = await door_of(request).sessions.end_others(ctx.staff, current)
    return to_json({"ended": ended})


@routes.get("/me")
async def me(request: web.Request) -> web.StreamResponse:
    ctx = ctx_of(request)
    return to_json({"user": ctx.staff, "csrf_token": ctx.session.csrf})


@routes.get("/queue")
async def queue(request: web.Request) -> web.StreamResponse:
    return to_json(await door_of(request).cases.queue(ctx_of(request).staff))


@routes.get("/cases/{code}")
async def detail(request: web.Request) -> web.StreamResponse:
    """The case with one page of its messages: the newest ``limit`` (below ``before``)."""
    staff, code = _staff_and_code(request)
    door = door_of(request)
    limit = _query_int(request, "limit", DEFAULT_MESSAGES, MAX_MESSAGES)
    before = _query_int(request, "before", None, MAX_MESSAGE_ID)
    found = await door.cases.detail(staff, code, page=limit, before=before)
    await door.staff.audit_case_read(staff, code, phone_shown=found.phone is not None)
    return to_json(found)


@routes.post("/cases/{code}/claim")
async def claim(request: web.Request) -> web.StreamResponse:
    result = await door_of(request).cases.claim(*_staff_and_code(request))
    return to_json(result, status=200 if result.won else 409)


@routes.post("/cases/{code}/release")
@routes.post("/cases/{code}/reopen")
async def release_or_reopen(request: web.Request) -> web.StreamResponse:
    """The steps without a body: the path's last part names it; done is 204."""
    cases = door_of(request).cases
    step = cases.release if request.path.endswith("/release") else cases.reopen
    await step(*_staff_and_code(request))
    return done()


@routes.post("/cases/{code}/reply")
async def reply(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    sign = body.get("sign", False)
    if not isinstance(sign, bool):
        raise CaseError("invalid", "sign must be true or false")
    message = await door_of(request).cases.reply(
        ctx_of(request).staff, case_code(request), text_field(body), sign=sign
    )
    return to_json(message, status=201)


@routes.post("/cases/{code}/notes")
async def note(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    await door_of(request).cases.add_note(
        ctx_of(request).staff, case_code(request), text_field(body)
    )
    return done()


@routes.post("/cases/{code}/transfer")
async def transfer(request: web.Request) -> web.StreamResponse:
    team = (await read_json(request)).get("team_id")
    if not isinstance(team, str):
        raise CaseError("unknown_team")
    await door_of(request).cases.transfer(ctx_of(request).staff, case_code(request), team)
    return done()


@routes.post("/cases/{code}/close")
async def close(request: web.Request) -> web.StreamResponse:
    outcome = cast(Outcome, (await read_json(request)).get("outcome"))  # the service checks it
    await door_of(request).cases.close(ctx_of(request).staff, case_code(request), outcome)
    return done()


@routes.get("/cases/{code}/canned-replies")
async def canned(request: web.Request) -> web.StreamResponse:
    return to_json(await door_of(request).canned.for_case(*_staff_and_code(request)))


@routes.get("/audit")
async def audit(request: web.Request) -> web.StreamResponse:
    limit = request.query.get("limit", "200")
    if not limit.isdigit() or not 1 <= int(limit) <= 1000:
        raise CaseError("invalid", "limit must be 1-1000")
    try:
        entries = await door_of(request).cases.audit_log(ctx_of(request).staff, int(limit))
    except CaseError as exc:
        if exc.reason != "forbidden":
            raise
        return api_error(403, "forbidden", "Only administrators can read the audit log.")
    await door_of(request).staff.audit(ctx_of(request).staff, "audit_read")
    return to_json({"entries": entries})
