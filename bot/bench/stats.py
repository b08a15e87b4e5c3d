"""Benchmark: statistics reports over two years of counters (a script, not a test).

Fills a fresh database with two years of daily counters for 10 teams x 8 languages x
200 screens (screen views and moves, conversations, relatives, helpful answers, contact
requests and their answers, claim and reply times, outcomes) at volumes a busy
municipality might see, then times ``StatsService.report`` for a quarter and a year (an
admin's all-teams view and a coordinator's single team) and the coordinator page over
HTTP (the real staff web app on loopback). Prints p50 and p99.

    .venv/bin/python -m bot.bench.stats [--runs 20] [--conversations 30]
        [--database-url postgresql://postgres@127.0.0.1:5432/postgres]

With ``--database-url`` for PostgreSQL a throwaway database is created there and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from datetime import date, timedelta
from functools import partial

from sqlalchemy.engine import make_url

from bot.bench.common import backend as database_backend
from bot.bench.common import percentile, signed_in_staff_web, throwaway_core
from bot.config import normalise_database_url
from bot.domain import CONCERNS, OUTCOMES, REPLY_VIA, TOPICS, URGENCIES, StaffUser
from bot.runtime import Core
from bot.services.stats import TIME_BUCKETS, Period, StatsService
from bot.storage import stats as stats_db
from bot.storage.pg_connect import PgTarget, connect, pg_target

PASSWORD = "benchmark password 0123"
LANGUAGES = ["sv", "en", "ar", "fa", "so", "ti", "tr", "fi"]
LANGUAGE_WEIGHTS = [40, 15, 15, 10, 8, 4, 5, 3]
SCREENS = [f"screen{i:03d}" for i in range(200)]
SCREEN_WEIGHTS = [1 / (i + 1) for i in range(200)]  # Zipf-like: a few screens most viewed
LAST_DAY = date(2026, 11, 30)
DAYS = 730


def generate(
    teams: list[str], per_day: int, rng: random.Random, days: int = DAYS
) -> Iterator[dict[stats_db.CounterKey, int]]:
    """Yield batches of counter cells, one day at a time."""
    moves = [(rng.choice(SCREENS[:60]), rng.choice(SCREENS)) for _ in range(600)]
    move_weights = [1 / (i + 1) for i in range(len(moves))]
    for offset in range(days):
        day = LAST_DAY - timedelta(days=offset)
        cells: dict[tuple[date, str, str, str, str], int] = {}
        for t, team in enumerate(teams):
            size = per_day * (1 + t % 3) // 2  # teams of different sizes
            conversations = max(0, int(rng.gauss(size, size / 3)))
            langs = Counter(rng.choices(LANGUAGES, LANGUAGE_WEIGHTS, k=conversations))
            cells[(day, team, "", "relatives", "")] = int(conversations * 0.8)
            for lang, n in langs.items():
                cells[(day, team, lang, "conversation_started", "")] = n
                cells[(day, team, lang, "language_chosen", lang)] = n
                for screen, v in Counter(rng.choices(SCREENS, SCREEN_WEIGHTS, k=n * 6)).items():
                    cells[(day, team, lang, "screen_viewed", screen)] = v
                for (a, b), v in Counter(rng.choices(moves, move_weights, k=n * 5)).items():
                    cells[(day, team, lang, "screen_move", f"{a}>{b}")] = v
                for screen in rng.choices(SCREENS[:40], k=n // 2):
                    answer = "yes" if rng.random() < 0.7 else "no"
                    key = (day, team, lang, "helpful", f"{screen}:{answer}")
                    cells[key] = cells.get(key, 0) + 1
                requests = sum(rng.random() < 0.08 for _ in range(n))
                if requests:
                    cells[(day, team, lang, "request_started", "")] = requests + 1
                    cells[(day, team, lang, "request_created", "")] = requests
                    for kind, vocabulary in (
                        ("request_urgency", URGENCIES),
                        ("request_topic", TOPICS),
                        ("request_concerns", CONCERNS),
                        ("request_reply_via", REPLY_VIA),
                        ("time_to_claim", TIME_BUCKETS),
                        ("time_to_first_reply", TIME_BUCKETS),
                        ("case_outcome", OUTCOMES),
                    ):
                        for word, v in Counter(rng.choices(vocabulary, k=requests)).items():
                            cells[(day, team, lang, kind, word)] = v
        yield cells


async def fill(core: Core, teams: list[str], per_day: int, days: int) -> tuple[int, float]:
    rng = random.Random(11)
    rows = 0
    started = time.perf_counter()
    batch: dict[stats_db.CounterKey, int] = {}
    for cells in generate(teams, per_day, rng, days):
        batch.update(cells)
        if len(batch) > 20_000:
            async with core.database.write_tx() as conn:
                await stats_db.add_counts(conn, batch)
            rows += len(batch)
            batch = {}
    if batch:
        async with core.database.write_tx() as conn:
            await stats_db.add_counts(conn, batch)
        rows += len(batch)
    return rows, time.perf_counter() - started


async def timed(runs: int, call: Callable[[], Awaitable[object]]) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await call()
        out.append((time.perf_counter() - t0) * 1000)
    return out


async def run(runs: int, per_day: int, database_url: str | None, days: int = DAYS) -> None:
    async with throwaway_core("bench-stats-", database_url) as core:
        teams = sorted(core.content.teams) + [f"team{i:02d}" for i in range(10)]
        teams = teams[:10]
        rows, fill_s = await fill(core, teams, per_day, days)
        service = StatsService(core.database, frozenset(teams))
        admin = StaffUser(0, "bench", "admin", frozenset())
        coordinator = StaffUser(1, "kim", "coordinator", frozenset({teams[0]}))
        quarter = Period.ending("quarter", LAST_DAY)
        year = Period.ending("year", LAST_DAY)
        results: list[tuple[str, list[float]]] = []
        for name, period in (("quarter", quarter), ("year", year)):
            await service.report(admin, period, None)  # warm up
            results.append(
                (
                    f"report, admin, all 10 teams, {name}",
                    await timed(runs, partial(service.report, admin, period, None)),
                )
            )
            results.append(
                (
                    f"report, coordinator, 1 team, {name}",
                    await timed(runs, partial(service.report, coordinator, period, None)),
                )
            )
        await core.staff.create("bench", PASSWORD, "admin", frozenset())
        async with signed_in_staff_web(core, service, "bench", PASSWORD) as (http, origin):

            async def get(path: str) -> None:
                async with http.get(f"{origin}{path}") as response:
                    await response.read()
                    assert response.status == 200, (path, response.status)

            for name, period in (("quarter", quarter), ("year", year)):
                path = f"/staff/stats?period={name}&date={period.end.isoformat()}"
                await get(path)
                results.append(
                    (
                        f"GET /staff/stats, all teams, {name}",
                        await timed(runs, partial(get, path)),
                    )
                )
        backend = database_backend(core)
        print(f"statistics benchmark: {backend}, {rows} counter rows "
              f"({days} days, 10 teams x 8 languages x 200 screens), {runs} runs each")  # fmt: skip
        print(f"  filling the database: {fill_s:.1f} s")
        for name, values in results:
            print(
                f"  {name:<40} p50 {percentile(values, 0.5):7.1f} ms   "
                f"p99 {percentile(values, 0.99):7.1f} ms   "
                f"mean {statistics.fmean(values):7.1f} ms"
            )
        print("  targets: under 300 ms for a quarter, under 1 s for a year")


def _throwaway_postgres(base: str) -> tuple[PgTarget, str, str]:
    """(the given database to administer from, a new database's name, its URL); the URL
    keeps the given one's user, password and TLS parameters."""
    url = make_url(normalise_database_url(base))
    name = f"bench_stats_{uuid.uuid4().hex[:8]}"
    admin = pg_target(url)
    if not admin.url.database:
        admin = admin.with_database("postgres")
    return admin, name, url.set(database=name).render_as_string(hide_password=False)


async def _pg(target: PgTarget, sql: str) -> None:
    conn = await connect(target)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--conversations", type=int, default=30, help="per team and day (mean)")
    parser.add_argument("--days", type=int, default=DAYS, help="days of counters (smoke tests)")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    if args.database_url and args.database_url.startswith("postgresql"):
        admin, name, url = _throwaway_postgres(args.database_url)
        asyncio.run(_pg(admin, f'CREATE DATABASE "{name}"'))
        try:
            asyncio.run(run(args.runs, args.conversations, url, args.days))
        finally:
            asyncio.run(_pg(admin, f'DROP DATABASE "{name}" WITH (FORCE)'))
    else:
        asyncio.run(run(args.runs, args.conversations, args.database_url, args.days))


if __name__ == "__main__":
    main()
