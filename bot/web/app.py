"""The product's aiohttp app: health, and the staff door (pages, JSON API, public pages).

The Telegram webhook is not mounted here: the runtime adds it from ``bot.telegram.webhook``,
so the web door never imports the Telegram door.
"""

from __future__ import annotations

from aiohttp import web

from bot.web.staff import StaffWeb

MAX_BODY_BYTES = 1_000_000  # a Telegram update is the largest body the app accepts


async def health(request: web.Request) -> web.Response:
    """For load balancers and the tests: the process answers."""
    return web.json_response({"status": "ok"})


def create_web_app(*, staff: StaffWeb | None = None) -> web.Application:
    """The root app; the staff door mounts its sub-applications on it."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_get("/health", health)
    if staff is not None:
        staff.mount(app)
    return app
