"""``/metrics`` in Prometheus text format: the queue per team, the bot's work, the jobs.

Why its own registry: each app (and each test server in one process) counts alone; the
global registry would mix them. With a ``Telemetry`` (the runtime's) its registry is used,
so updates handled, their latency and Bot API errors appear beside the gauges set here.
Only team ids, job names, fixed kinds, counts, ages and times are exported, never a case
code, a chat id or a text. The route is for the operator's scraper: the reverse proxy
keeps it internal.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from bot.services.health import HealthService
from bot.services.telemetry import Telemetry


class QueueMetrics:
    """The gauges of one app, filled from the database and the job tracker at each scrape."""

    def __init__(self, health: HealthService, telemetry: Telemetry | None = None) -> None:
        self.health = health
        self.registry = telemetry.registry if telemetry is not None else CollectorRegistry()
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
        self.queue_read = Gauge(
            "helpline_queue_read_ok",
            "1 when this scrape read the queue from the database; 0: it could not (no queue"
            " gauges then, the other metrics still answer).",
            registry=self.registry,
        )
        self.job_success = Gauge(
            "helpline_job_last_success_timestamp_seconds",
            "Unix time of the background job's last successful round in this process.",
            ["job"],
            registry=self.registry,
        )
        self.job_failure = Gauge(
            "helpline_job_last_failure_timestamp_seconds",
            "Unix time of the background job's last failed round in this process.",
            ["job"],
            registry=self.registry,
        )
        self.job_failing = Gauge(
            "helpline_job_failing",
            "1 when the background job's last round in this process failed, else 0.",
            ["job"],
            registry=self.registry,
        )

    async def handle(self, request: web.Request) -> web.Response:
        """Read the queue, then set and render the gauges with no await between (one scrape).

        Without the database the scrape still answers: the counters and the jobs matter most
        then, and ``helpline_queue_read_ok`` says the queue is missing.
        """
        try:
            teams = await self.health.queue()
        except Exception:  # any driver error or the timeout; /health/ready names it
            teams = None
        self.queue_read.set(0 if teams is None else 1)
        for gauge in (self.active, self.waiting, self.oldest):
            gauge.clear()  # a team whose requests all closed disappears
        for team in teams or ():
            self.active.labels(team.team_id).set(team.active)
            self.waiting.labels(team.team_id).set(team.waiting)
            self.oldest.labels(team.team_id).set(team.oldest_waiting_seconds)
        for job, state in self.health.jobs.states().items():  # the jobs that have run
            if state.last_success is not None:
                self.job_success.labels(job).set(state.last_success)
            if state.last_failure is not None:
                self.job_failure.labels(job).set(state.last_failure)
            self.job_failing.labels(job).set(1 if state.failing else 0)
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
