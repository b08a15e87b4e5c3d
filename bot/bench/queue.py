"""Benchmark: the staff queue page with 10,000 open requests (a script, not a test).

Creates the requests in a fresh database through ``CaseService.create_request``,
starts the real web app (the same ``StaffWeb`` the product mounts) on loopback,
signs in over HTTP, then GETs /staff/queue several times and prints p50/p99.
The page lists the first 200 rows (most urgent, longest waiting) and says how
many there are in all; the JSON live fragment is measured too.

    .venv/bin/python -m bot.bench.queue [--requests 10000] [--runs 30]
        [--database-url postgresql://postgres@127.0.0.1:5432/bench_queue]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time

from bot.bench.common import backend as database_backend
from bot.bench.common import percentile, signed_in_staff_web, throwaway_core
from bot.domain import CONCERNS, TOPICS, URGENCIES, RequestDraft
from bot.services.stats import StatsService

PASSWORD = "benchmark password 0123"


async def run(requests: int, runs: int, database_url: str | None) -> None:
    async with throwaway_core("bench-queue-", database_url) as core:
        teams = sorted(core.content.teams)
        await core.staff.create("bench", PASSWORD, "staff", frozenset(teams))
        rng = random.Random(7)
        started = time.perf_counter()
        for i in range(requests):
            draft = RequestDraft(
                team_id=rng.choice(teams),
                language=rng.choice(["sv", "en"]),
                concerns=rng.choice(CONCERNS),
                topic=rng.choice(TOPICS),
                urgency=rng.choice(URGENCIES),
                text="Benchmark request without names.",
            )
            await core.cases.create_request(draft, chat_id=10_000_000 + i)
        fill_s = time.perf_counter() - started

        stats = StatsService(core.database, frozenset(core.content.teams))
        async with signed_in_staff_web(core, stats, "bench", PASSWORD) as (http, origin):
            page_ms: list[float] = []
            sizes: list[int] = []
            for _ in range(runs):
                t0 = time.perf_counter()
                async with http.get(f"{origin}/staff/queue") as response:
                    body = await response.read()
                    assert response.status == 200
                page_ms.append((time.perf_counter() - t0) * 1000)
                sizes.append(len(body))
            api_ms: list[float] = []
            for _ in range(runs):
                t0 = time.perf_counter()
                async with http.get(f"{origin}/staff/queue/live?v=stale") as response:
                    await response.read()
                api_ms.append((time.perf_counter() - t0) * 1000)
            service_ms: list[float] = []
            user = await core.staff.authenticate("bench", PASSWORD)
            assert user is not None
            for _ in range(runs):
                t0 = time.perf_counter()
                await core.cases.queue(user)
                service_ms.append((time.perf_counter() - t0) * 1000)
        backend = database_backend(core)
        print(f"queue page benchmark: {requests} open requests, {backend}, {runs} runs each")
        print(f"  filling the database: {fill_s:.1f} s")
        print(f"  page size: {statistics.median(sizes) / 1024:.0f} KiB (first 200 rows listed)")
        for name, values in [
            ("GET /staff/queue (full page)", page_ms),
            ("GET /staff/queue/live (fragment)", api_ms),
            ("CaseService.queue, all rows, no limit", service_ms),
        ]:
            print(
                f"  {name:<34} p50 {percentile(values, 0.5):7.1f} ms   "
                f"p99 {percentile(values, 0.99):7.1f} ms   max {max(values):7.1f} ms"
            )
        print("  target: under 200 ms for the page")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    asyncio.run(run(args.requests, args.runs, args.database_url))


if __name__ == "__main__":
    main()
