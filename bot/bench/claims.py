"""Claim latency benchmark: 20 staff claiming contact requests at once (PostgreSQL by default).

Why: claiming is the one contended write of the staff side; the issue's target is
p99 under 20 ms with 20 concurrent staff. This script creates a throwaway
database, fills it with N open requests through ``CaseService.create_request``,
then times ``CaseService.claim`` (the same call the web app and API make) in two
phases, and drops the database again:

* contended: all staff claim the same request at the same moment (exactly one
  may win; the check is part of the run), one request after another;
* spread: every staff member works through the queue, claiming the next request.

    .venv/bin/python -m bot.bench.claims [--database-url postgresql://...] [--requests 2000]

Prints p50/p99/max per phase (and JSON with --json). It is a script, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from bot.config import normalise_database_url
from bot.domain import URGENCIES, RequestDraft, StaffUser
from bot.services.cases import CaseService
from bot.storage.database import Database
from bot.storage.migrate import upgrade
from bot.storage.pg_connect import connect, pg_target

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
KEY = b"benchmark-only-secret-key-0123456789abcdef"


@dataclass
class Phase:
    name: str
    latencies_ms: list[float]
    wins: int
    seconds: float

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies_ms)
        return {
            "phase": self.name,
            "claims": len(ordered),
            "wins": self.wins,
            "p50_ms": round(_percentile(ordered, 50), 2),
            "p99_ms": round(_percentile(ordered, 99), 2),
            "max_ms": round(ordered[-1], 2) if ordered else 0.0,
            "mean_ms": round(statistics.fmean(ordered), 2) if ordered else 0.0,
            "claims_per_s": round(len(ordered) / self.seconds, 1) if self.seconds else 0.0,
        }


def _percentile(ordered: list[float], pct: float) -> float:
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


async def _timed_claim(service: CaseService, staff: StaffUser, code: str) -> tuple[float, bool]:
    started = time.perf_counter()
    result = await service.claim(staff, code)
    return (time.perf_counter() - started) * 1000, result.won


async def contended(service: CaseService, staff: list[StaffUser], codes: list[str]) -> Phase:
    latencies: list[float] = []
    wins = 0
    started = time.perf_counter()
    for code in codes:
        results = await asyncio.gather(*(_timed_claim(service, s, code) for s in staff))
        winners = sum(won for _, won in results)
        if winners != 1:
            raise AssertionError(f"{winners} staff won one request")
        wins += winners
        latencies.extend(ms for ms, _ in results)
    return Phase("contended (20 claim one request)", latencies, wins, time.perf_counter() - started)


async def spread(service: CaseService, staff: list[StaffUser], codes: list[str]) -> Phase:
    pending: asyncio.Queue[str] = asyncio.Queue()
    for code in codes:
        pending.put_nowait(code)
    latencies: list[float] = []
    wins = 0

    async def worker(user: StaffUser) -> None:
        nonlocal wins
        while not pending.empty():
            ms, won = await _timed_claim(service, user, pending.get_nowait())
            latencies.append(ms)
            wins += won

    started = time.perf_counter()
    await asyncio.gather(*(worker(s) for s in staff))
    return Phase(
        "spread (20 work through the queue)", latencies, wins, time.perf_counter() - started
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    url = normalise_database_url(args.database_url)
    async with _throwaway_database(url) as database_url:
        database = Database.open(database_url)
        service = CaseService(database, KEY)
        try:
            await upgrade(database.engine)
            staff = [
                StaffUser(i, f"staff{i:02d}", "staff", frozenset({"laholm"}))
                for i in range(1, args.staff + 1)
            ]
            started = time.perf_counter()
            codes = []
            for i in range(args.requests):
                draft = RequestDraft("laholm", "sv", "child", "worry", URGENCIES[i % 3])
                codes.append((await service.create_request(draft, 10_000_000 + i)).code)
            filled = time.perf_counter() - started
            # Warm the pool so connection set-up is not counted as claim latency.
            await asyncio.gather(*(service.queue_version(s) for s in staff))
            half = len(codes) // 2
            phases = [
                await contended(service, staff, codes[: min(half, args.contended)]),
                await spread(service, staff, codes[half:]),
            ]
            queue_started = time.perf_counter()
            await service.queue(staff[0])
            queue_ms = (time.perf_counter() - queue_started) * 1000
        finally:
            await database.close()
    return {
        "database": make_url(url).get_backend_name(),
        "requests": args.requests,
        "staff": args.staff,
        "fill_seconds": round(filled, 2),
        "queue_read_ms_after": round(queue_ms, 2),
        "phases": [p.summary() for p in phases],
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU(s), "
        f"Python {platform.python_version()}",
    }


class _throwaway_database:
    """A fresh PostgreSQL database (dropped after) or a temporary SQLite file."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.name = f"relatives_bench_{uuid.uuid4().hex[:10]}"
        self.tmp: tempfile.TemporaryDirectory[str] | None = None

    async def __aenter__(self) -> str:
        if self.url.get_backend_name() == "sqlite":
            self.tmp = tempfile.TemporaryDirectory()
            return f"sqlite+aiosqlite:///{Path(self.tmp.name) / 'bench.db'}"
        await self._admin(f'CREATE DATABASE "{self.name}"')
        return self.url.set(database=self.name).render_as_string(hide_password=False)

    async def __aexit__(self, *exc: object) -> None:
        if self.tmp is not None:
            self.tmp.cleanup()
            return
        await self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    async def _admin(self, sql: str) -> None:
        conn = await connect(pg_target(self.url), timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot.bench.claims", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL),
        help="server to create a throwaway database on (or sqlite:///...); default %(default)s",
    )
    parser.add_argument("--requests", type=int, default=2000, help="open requests to create")
    parser.add_argument(
        "--contended", type=int, default=300, help="requests in the contended phase"
    )
    parser.add_argument("--staff", type=int, default=20, help="concurrent staff members")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    report = asyncio.run(run(args))
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"claim latency, {report['staff']} concurrent staff, {report['database']}, "
        f"{report['requests']} open requests ({report['machine']})"
    )
    print(f"{'phase':<38} {'claims':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'claims/s':>9}")
    for p in report["phases"]:
        print(
            f"{p['phase']:<38} {p['claims']:>7} {p['p50_ms']:>8} {p['p99_ms']:>8} "
            f"{p['max_ms']:>8} {p['claims_per_s']:>9}"
        )
    print(f"queue read afterwards: {report['queue_read_ms_after']} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
