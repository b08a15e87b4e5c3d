"""How long a staff session has left, and "Stay signed in" (``static/session.js`` asks).

Both answer JSON, never a redirect, and ``{"signed_in": false}`` (200, so a browser's
console stays quiet) once the session has ended: the script tells that from an error.
``GET /staff/session/left`` is a live poll: asking does not keep a session alive.
``POST /staff/session/stay`` (CSRF as every form) is a real request: the middleware's
resume moves the idle clock, as any click would, and the answer is the new time left.
The time comes from the server, so every tab of the browser agrees on it.
"""

from __future__ import annotations

from aiohttp import web

from bot.web.staff.context import ctx_of, poll, public

routes = web.RouteTableDef()  # on the ``/staff`` sub-application
NO_STORE = {"Cache-Control": "no-store"}


def _answer(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    left = ctx.session.left
    if ctx.user is None or left is None:
        return web.json_response({"signed_in": False}, headers=NO_STORE)
    body = {"signed_in": True, "seconds_left": left.seconds, "absolute": left.absolute}
    return web.json_response(body, headers=NO_STORE)


@routes.get("/session/left")
@public  # answered by the handler ("signed_in": false), not by the sign-in redirect
@poll
async def session_left(request: web.Request) -> web.StreamResponse:
    return _answer(request)


@routes.post("/session/stay")
@public
async def stay_signed_in(request: web.Request) -> web.StreamResponse:
    return _answer(request)
