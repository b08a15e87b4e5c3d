"""The product's aiohttp app: health, metrics, and the staff door (pages, JSON API, public pages).

The Telegram webhook is not mounted here: the runtime adds it from ``bot.telegram.webhook``,
so the web door never imports the Telegram door.
"""

from __future__ import annotations

from aiohttp import web

from bot.config import IpNetwork
from bot.services.health import HealthService
from bot.services.telemetry import Telemetry
from bot.web.forwarded import forwarded_middleware
from bot.web.headers import add_security_headers
from bot.web.limits import quiet_malformed_requests
from bot.web.metrics import QueueMetrics
from bot.web.staff import StaffWeb

MAX_BODY_BYTES = 1_000_000  # a Telegram update is the largest body the app accepts


async def health(request: web.Request) -> web.Response:
    """For load balancers and the tests: the process answers (``/health`` and ``/health/live``)."""
    return web.json_response({"status": "ok"})


def _ready_route(service: HealthService) -> web.RouteDef:
    async def ready(request: web.Request) -> web.Response:
        """200 when the database answers and is at the schema's head; 503 names what failed."""
        readiness = await service.readiness()
        if readiness.ready:
            return web.json_response({"status": "ok"})
        return web.json_response({"status": "unavailable", "failed": readiness.failed}, status=503)

    return web.get("/health/ready", ready)


def create_web_app(
    *,
    staff: StaffWeb | None = None,
    health_service: HealthService | None = None,
    trusted_proxies: tuple[IpNetwork, ...] = (),
    telemetry: Telemetry | None = None,
) -> web.Application:
    """The root app; the staff door mounts its sub-applications on it.

    The forwarded-headers middleware sits on the root, so it runs for every route and
    every sub-app (aiohttp applies a parent's middlewares to its sub-apps' handlers).
    """
    quiet_malformed_requests()  # a malformed HTTP request is the client's 400, not an ERROR
    middlewares = [forwarded_middleware(trusted_proxies)] if trusted_proxies else []
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=middlewares)
    add_security_headers(app, tuple(trusted_proxies))  # CSP, nosniff, HSTS: every response
    app.router.add_get("/health", health)
    app.router.add_get("/health/live", health)
    if health_service is not None:
        app.router.add_routes([_ready_route(health_service)])
        app.router.add_get("/metrics", QueueMetrics(health_service, telemetry).handle)
    if staff is not None:
        staff.mount(app)
    return app
