"""The case-code brake and the one answer for a code that is not there or not yours.

On every route with a case code in its path: an account that has missed too many codes
lately (``SignInService.lookup_wait``) waits (429, Retry-After) before any lookup; a code
that is unknown or belongs to another team is counted as a miss and answered with the
SAME refusal ("not_found", 404, the same words), so the answer says nothing about whether
a code exists elsewhere.
"""

from __future__ import annotations

from aiohttp import web

from bot.domain import CaseError
from bot.web.staff.context import CTX, Handler
from bot.web.staff.deps import door_of
from bot.web.staff.refusals import refusal

MISSES = frozenset({"not_found", "forbidden"})
THROTTLED = "too_many_lookups"


def lookup_brake(*, api: bool) -> web.middlewares._Middleware:  # type: ignore[name-defined]
    """The middleware for one door (``api``: JSON answers, else pages)."""

    @web.middleware
    async def brake(request: web.Request, handler: Handler) -> web.StreamResponse:
        ctx = request.get(CTX)
        if "code" not in request.match_info or ctx is None or ctx.user is None:
            return await handler(request)
        door, user = door_of(request), ctx.user
        wait = await door.signin.lookup_wait(user)
        if wait:
            return _throttled(request, wait, api=api)
        try:
            return await handler(request)
        except CaseError as exc:
            if exc.reason not in MISSES:
                raise
            await door.signin.lookup_missed(user)
            raise CaseError("not_found") from None

    return brake


def _throttled(request: web.Request, wait: int, *, api: bool) -> web.StreamResponse:
    status, message = refusal(THROTTLED)
    response: web.StreamResponse
    if api:
        response = web.json_response(
            {"error": THROTTLED, "message": message, "retry_after": wait}, status=status
        )
    else:
        response = door_of(request).pages.refused(request[CTX], THROTTLED)
    response.headers["Retry-After"] = str(wait)
    return response
