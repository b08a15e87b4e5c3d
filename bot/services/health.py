"""Readiness and the queue's shape for operators: is the database usable, how long do people wait.

Why a service: the web door stays thin (it only turns these answers into HTTP), and the
checks own their transactions and their timeout here, beside the other services.

Ready means: the database answers within the timeout, its schema is at the code's head,
and the last round of the statistics flush and of the purge did not fail (``jobs``; a job
that has not run yet is fine). A failed job is named ``jobs: <job>``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.services.jobs import READINESS_JOBS, JobTracker
from bot.storage import health as db
from bot.storage.database import Database
from bot.storage.migrate import migrations_head, schema_revision

READY_TIMEOUT_SECONDS = 2.0  # a load balancer waits about this long; a slower database is not ready


@dataclass(frozen=True)
class Readiness:
    """Which checks passed; ``failed`` names the ones that did not (no detail, no text)."""

    checks: dict[str, bool]

    @property
    def ready(self) -> bool:
        return all(self.checks.values())

    @property
    def failed(self) -> list[str]:
        return [name for name, ok in self.checks.items() if not ok]


@dataclass(frozen=True)
class TeamWait:
    """A team's queue as metrics show it: counts and the oldest waiting request's age."""

    team_id: str
    active: int
    waiting: int
    oldest_waiting_seconds: float  # 0 when nobody waits


def _now() -> datetime:
    return datetime.now(UTC)


class HealthService:
    """Reads for ``/health/ready`` and ``/metrics``; the migrations' head is read once."""

    def __init__(
        self,
        database: Database,
        *,
        timeout: float = READY_TIMEOUT_SECONDS,
        now: Callable[[], datetime] = _now,
        jobs: JobTracker | None = None,
    ) -> None:
        self.database = database
        self.timeout = timeout
        self.now = now
        self.head = migrations_head()
        self.jobs = jobs if jobs is not None else JobTracker()

    async def readiness(self) -> Readiness:
        """The database answers in time, its schema is at the head, the watched jobs work."""
        failing = set(self.jobs.failing())
        jobs = {f"jobs: {job}": job not in failing for job in READINESS_JOBS}
        try:
            revision = await asyncio.wait_for(self._revision(), self.timeout)
        except Exception:  # any driver error or the timeout: the database is not usable
            return Readiness({"database": False, "schema": False, **jobs})
        return Readiness({"database": True, "schema": revision == self.head, **jobs})

    async def _revision(self) -> str | None:
        async with self.database.read_tx() as conn:
            await db.ping(conn)
            return await schema_revision(conn)

    async def queue(self) -> list[TeamWait]:
        """Every team with active requests, read at scrape time in one statement.

        Bounded by the same timeout as readiness: a scraper is not kept waiting either.
        """
        rows = await asyncio.wait_for(self._queue(), self.timeout)
        now = self.now()
        return [
            TeamWait(
                row.team_id,
                row.active,
                row.waiting,
                max(0.0, (now - row.oldest_waiting).total_seconds()) if row.oldest_waiting else 0.0,
            )
            for row in rows
        ]

    async def _queue(self) -> list[db.TeamQueue]:
        async with self.database.read_tx() as conn:
            return await db.queue_by_team(conn)
