"""The background jobs' last success and last failure, in this process's memory.

Why in memory: readiness and metrics ask "did this process's last round of the job work?",
which no table needs to answer, and a restart starts clean (a job that has not run yet is
not a failure). The runtime makes one tracker, its loops record each round, and the health
service and the metrics read it.

A round another process ran (it held the job's advisory lock) counts as this process's
success: the job was done this round, only elsewhere.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

JobName = Literal["purge", "stats_fold", "stats_flush", "auto_release"]
JOBS: tuple[JobName, ...] = ("purge", "stats_fold", "stats_flush", "auto_release")
# The jobs whose failure makes a process not ready: counts that do not reach the database,
# and data kept past its retention period, are what an operator must hear about.
READINESS_JOBS: tuple[JobName, ...] = ("stats_flush", "purge")


class JobFailed(Exception):
    """A round that failed in parts already logged (raised so the caller records a failure)."""


@dataclass(frozen=True)
class JobState:
    """Unix times of the job's last success and last failure (None: not yet).

    ``failing``: the last round recorded failed, i.e. it failed more recently than it
    succeeded (kept as a flag, so two rounds within one clock tick still order right).
    """

    last_success: float | None = None
    last_failure: float | None = None
    failing: bool = False


class JobTracker:
    """Each job's last success and failure; recording is a dictionary write."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._states: dict[JobName, JobState] = {}
        self._recorded: dict[JobName, asyncio.Event] = {}

    def succeeded(self, job: JobName) -> None:
        state = self.state(job)
        self._states[job] = JobState(self.clock(), state.last_failure, failing=False)
        self._event(job).set()

    def failed(self, job: JobName) -> None:
        state = self.state(job)
        self._states[job] = JobState(state.last_success, self.clock(), failing=True)
        self._event(job).set()

    def _event(self, job: JobName) -> asyncio.Event:
        return self._recorded.setdefault(job, asyncio.Event())

    async def wait_recorded(self, job: JobName) -> None:
        """Until the job has recorded a round (at once if it has): the event, not a timer."""
        await self._event(job).wait()

    def record(self, job: JobName, ok: bool) -> None:
        (self.succeeded if ok else self.failed)(job)

    def state(self, job: JobName) -> JobState:
        return self._states.get(job, JobState())

    def states(self) -> dict[JobName, JobState]:
        """The jobs that have run at least once, in JOBS order."""
        return {job: self._states[job] for job in JOBS if job in self._states}

    def failing(self, jobs: tuple[JobName, ...] = READINESS_JOBS) -> list[JobName]:
        """Of ``jobs``, those whose last round failed."""
        return [job for job in jobs if self.state(job).failing]
