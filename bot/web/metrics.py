"""``/metrics`` in Prometheus text format: the queue per team, read when scraped.

Why its own registry: each app (and each test server in one process) counts alone; the
global registry would mix them. Only team ids, counts and ages are exported, never a case
code or text. The route is for the operator's scraper: the reverse proxy keeps it internal.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from bot.services.health import HealthService


class QueueMetrics:
    """The gauges of one app, filled from the database at each scrape."""

    def __init__(self, health: HealthService) -> None:
        self.health = health
        self.registry = CollectorRegistry()
        self.active = Gauge(
            "helpline_requests_active",
            "Open or claimed contact requests per team.",
            ["team"],
            registry=self.registry,
        )
        self.waiting = Gauge(
            "helpline_requests_waiting",
            "Open contact requests nobody has claimed, per team.",
            ["team"],
            registry=self.registry,
        )
        self.oldest = Gauge(
            "helpline_oldest_waiting_request_age_seconds",
            "Age of the oldest open, unclaimed contact request per team (0: none waits).",
            ["team"],
            registry=self.registry,
        )

    async def handle(self, request: web.Request) -> web.Response:
        """Read the queue, then set and render the gauges with no await between (one scrape)."""
        teams = await self.health.queue()
        for gauge in (self.active, self.waiting, self.oldest):
            gauge.clear()  # a team whose requests all closed disappears
        for team in teams:
            self.active.labels(team.team_id).set(team.active)
            self.waiting.labels(team.team_id).set(team.waiting)
            self.oldest.labels(team.team_id).set(team.oldest_waiting_seconds)
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
