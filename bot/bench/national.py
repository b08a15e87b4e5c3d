"""National benchmark (issue #13): one deployment serving 300 municipalities' teams.

Builds, in a temporary directory: a content folder with 300 team files (the two shipped
teams and generated ones, see ``write_teams``), the shipped guide (its 8 languages and its
own screens: no guide screens are generated), a database with two years of daily statistics
counters for every team (bulk-inserted into the storage layer's ``stats_counter`` table:
COPY on PostgreSQL, one executemany on SQLite) and 50,000 contact requests of which 2,000
are open. Then it measures, each against the issue's target on this machine:

- start-up of the real ``python -m bot serve`` with the 300 team files (spawn until
  /health/ready answers 200) and its resident memory (VmRSS when ready, VmHWM after load,
  from /proc);
- the all-teams year report: ``StatsService.report`` and GET /staff/stats signed in as an
  admin (the staff web app in this process), p50/p99 over ``--runs``;
- one team's quarter (a coordinator of one team);
- the admin queue across all teams: GET /staff/queue and GET /api/v1/queue;
- the per-update path: the webhook benchmark's throughput phase against ``serve`` with the
  shipped 2 teams and with the 300 teams, in the same run on the same database, in
  rounds that alternate the two sides (``_serve_rounds``).

    .venv/bin/python -m bot.bench.national [--teams 300] [--runs 10] [--quick] [--json]
        [--database-url postgresql://postgres@127.0.0.1:5432/postgres]

Everything listens on loopback only (the fake Bot API of ``bot.bench.webhook``); the child
process is stopped and a PostgreSQL database made for the run is dropped on exit or Ctrl+C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import importlib
import os
import secrets
import shlex
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from sqlalchemy import insert

from bot.bench.common import percentile, signed_in_staff_web
from bot.bench.national_fill import (
    bulk_tx,
    check_rollups,
    fill_rollups,
    indexes_after,
    samples,
)
from bot.bench.webhook import (
    BOT_TOKEN,
    CHAT_ID_BASE,
    FULL,
    HOST,
    READY_TIMEOUT,
    WEBHOOK_PATH,
    BenchError,
    Chat,
    Driver,
    FakeBotApi,
    _code_version,
    _database,
    _free_port,
    _full_bot_argv_env,
    _machine,
    _process_cpu,
    _start_sut,
    _stop_sut,
    bench_main,
)
from bot.config import load_settings
from bot.domain import CODE_ALPHABET, CONCERNS, OUTCOMES, REPLY_VIA, TOPICS, URGENCIES, StaffUser
from bot.runtime import Core, build_core
from bot.services.stats import TIME_BUCKETS, Period, StatsService
from bot.storage.models import CaseRequest, table_of
from bot.storage.stats import counter_table
from bot.storage.stats_rollup import ALL_TEAMS, rolled_through

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED_CONTENT = REPO_ROOT / "content"
TEMPLATE_TEAM = "laholm"  # the generated team files copy this file's shape
PASSWORD = "benchmark password 0123"
LAST_DAY = date(2026, 11, 30)
LANGUAGES = ("sv", "en", "ar", "fa", "so", "ti", "tr", "fi")
SCREENS = tuple(f"screen{i:03d}" for i in range(200))
# The per-update phases: ``rounds`` pairs of a 2-team and an all-teams ``serve``, each fed
# ``updates`` from fresh chats (one round before 2026-12-04; see _serve_rounds). Fewer
# updates a chat would weigh onboarding more, and onboarding is one update longer with a
# picker of groups.
FULL_SIZES = {
    "days": 730, "requests": 50_000, "open": 2_000, "updates": 2_000, "rounds": 3, "runs": 10,
}  # fmt: skip
# The rollups of the days up to LAST_DAY - ROLLED_BY_PRODUCT are filled directly (as daily
# roll-ups would have left them, see bot.bench.national_fill); the product rolls up the rest.
ROLLED_BY_PRODUCT = 7
CHECKED_KINDS = ("screen_move", "screen_viewed", "relatives", "request_topic")
QUICK_SIZES = {"days": 14, "requests": 300, "open": 40, "updates": 60, "rounds": 2, "runs": 2}
TARGETS = {
    "startup_s": 10.0,
    "rss_mb": 400.0,
    "year_report_p99_ms": 1000.0,
    "team_quarter_p99_ms": 100.0,
    "throughput_within": 0.10,
}


# --------------------------------------------------------------------------- content


def write_teams(content_dir: Path, count: int) -> list[str]:
    """Make ``content_dir/teams`` hold ``count`` team files: the shipped ones, then
    generated ``kommun_NNN`` files with the template team's shape (its screen per language,
    its contacts' labels and kinds with no value: nothing here is a real contact)."""
    teams_dir = content_dir / "teams"
    shipped = sorted(p.stem for p in teams_dir.glob("*.yaml"))
    template = yaml.safe_load((teams_dir / f"{TEMPLATE_TEAM}.yaml").read_text())
    languages = list(template["name"])
    for i in range(max(0, count - len(shipped))):
        team_id = f"kommun_{i:03d}"
        team = dict(template)
        team["id"] = team_id
        team["name"] = {lang: f"Kommun {i:03d}" for lang in languages}
        team["staff_name"] = {lang: f"personal, kommun {i:03d}" for lang in languages}
        team["contacts"] = [
            {**c, "value": None, "source": "Generated by the national benchmark"}
            for c in template["contacts"]
        ]
        (teams_dir / f"{team_id}.yaml").write_text(
            yaml.safe_dump(team, allow_unicode=True, sort_keys=False)
        )
    return sorted(p.stem for p in teams_dir.glob("*.yaml"))[:count]


def make_teams(content_dir: Path, count: int) -> tuple[list[str], str]:
    """``count`` team files in ``content_dir/teams``, and which generator wrote them: the
    national teams generator (``bot.bench.national_teams``) where the product has it, else
    ``write_teams`` (copies of the template team, for the loader without default screens)."""
    try:
        module = importlib.import_module("bot.bench.national_teams")
    except ImportError:
        teams = write_teams(content_dir, count)
        return teams, f"copies of {TEMPLATE_TEAM}.yaml with its own screens (write_teams)"
    shipped = len(list((content_dir / "teams").glob("*.yaml")))
    module.write_national_teams(content_dir, max(0, count - shipped))
    teams = sorted(p.stem for p in (content_dir / "teams").glob("*.yaml"))
    return teams, "bot.bench.national_teams (no own screens: the default screen)"


@contextlib.asynccontextmanager
async def national_core(
    database_url: str, content_dir: Path, data_dir: Path
) -> AsyncIterator[Core]:
    """The product's core on the given database and content (migrates on first use)."""
    env = {
        "DATABASE_URL": database_url,
        "DATA_DIR": str(data_dir),
        "CONTENT_DIR": str(content_dir),
        "SECRET_KEY": secrets.token_urlsafe(48),
    }
    core = await build_core(load_settings(env, require_telegram=False))
    try:
        yield core
    finally:
        await core.close()


# --------------------------------------------------------------------------- data


def counter_rows(teams: list[str], offset: int) -> list[tuple[Any, ...]]:
    """One day's counter cells for every team, about 270 a team (the density of
    ``bot.bench.stats``, whose 10 teams make 1.85 million rows over two years), in the
    primary key's order and ``counter_table``'s column order."""
    rows: list[tuple[Any, ...]] = []
    day = LAST_DAY - timedelta(days=offset)
    for t, team in enumerate(teams):
        seed = offset * 31 + t * 17
        rows.append((day, team, "", "relatives", "", 5 + seed % 40))
        for li, lang in enumerate(LANGUAGES):
            n = 1 + (seed + li * 7) % (30 // (li + 1) + 1)
            rows.append((day, team, lang, "conversation_started", "", n))
            rows.append((day, team, lang, "language_chosen", lang, n))
            viewed = {SCREENS[(seed + li * 13 + j * 7) % 200]: j for j in range(20)}
            for screen, j in viewed.items():
                rows.append((day, team, lang, "screen_viewed", screen, 1 + (seed + j) % 23))
            moves = {(SCREENS[(seed + j) % 60], SCREENS[(seed + j * 11 + li) % 200]): j
                     for j in range(8)}  # fmt: skip
            for (a, b), j in moves.items():
                if a != b:
                    rows.append((day, team, lang, "screen_move", f"{a}>{b}", 1 + j % 5))
            for answer in ("yes", "no"):
                key = f"{SCREENS[(seed + li) % 40]}:{answer}"
                rows.append((day, team, lang, "helpful", key, 1 + seed % 4))
        if seed % 3 == 0:  # contact requests on about every third day
            rows.append((day, team, "sv", "request_started", "", 2))
            rows.append((day, team, "sv", "request_created", "", 1))
            for kind, vocabulary in (
                ("request_urgency", URGENCIES),
                ("request_topic", TOPICS),
                ("request_concerns", CONCERNS),
                ("request_reply_via", REPLY_VIA),
                ("time_to_claim", TIME_BUCKETS),
                ("time_to_first_reply", TIME_BUCKETS),
                ("case_outcome", OUTCOMES),
            ):
                rows.append((day, team, "sv", kind, vocabulary[seed % len(vocabulary)], 1))
    rows.sort(key=lambda r: r[:5])
    return rows


COUNTER_COLUMNS = ("day", "team_id", "language", "kind", "key", "count")


async def fill_counters(core: Core, teams: list[str], days: int) -> int:
    """Bulk insert into ``stats_counter``: COPY on PostgreSQL, executemany on SQLite, with
    room for it (``national_fill.bulk_tx``) and its secondary indexes built after it."""
    assert tuple(c.name for c in counter_table.columns) == COUNTER_COLUMNS, "the table changed"
    total = 0
    batch: list[tuple[Any, ...]] = []

    async def flush() -> None:
        async with bulk_tx(core.database) as conn:
            raw: Any = (await conn.get_raw_connection()).driver_connection
            if core.database.is_sqlite:
                marks = ", ".join("?" for _ in COUNTER_COLUMNS)
                sql = (
                    f"INSERT INTO {counter_table.name} ({', '.join(COUNTER_COLUMNS)}) "
                    f"VALUES ({marks})"
                )
                await raw.executemany(sql, [(r[0].isoformat(), *r[1:]) for r in batch])
            else:
                await raw.copy_records_to_table(
                    counter_table.name, records=batch, columns=list(COUNTER_COLUMNS)
                )

    # The two secondary indexes are built after the fill (one sort each), as they were.
    async with indexes_after(core.database, counter_table):
        for offset in reversed(range(days)):  # oldest day first: the primary key grows
            batch.extend(counter_rows(teams, offset))
            if len(batch) >= 500_000:
                await flush()
                total += len(batch)
                batch = []
        if batch:
            await flush()
            total += len(batch)
    return total


def _code(i: int) -> str:
    base, digits = len(CODE_ALPHABET), []
    for _ in range(6):
        i, d = divmod(i, base)
        digits.append(CODE_ALPHABET[d])
    return f"{''.join(digits[:3])}-{''.join(digits[3:])}"


async def fill_requests(core: Core, teams: list[str], total: int, open_: int) -> None:
    """``total`` contact requests over two years, the newest ``open_`` of them open."""
    table = table_of(CaseRequest)
    now = datetime.combine(LAST_DAY, dtime(12), UTC)
    rows = []
    for i in range(total):
        created = now - timedelta(minutes=(total - i) * 20)
        closed = i < total - open_
        rows.append(
            {
                "code": _code(i),
                "team_id": teams[i % len(teams)],
                "language": LANGUAGES[i % 3],
                "concerns": CONCERNS[i % len(CONCERNS)],
                "topic": TOPICS[i % len(TOPICS)],
                "urgency": URGENCIES[i % len(URGENCIES)],
                "reply_via": REPLY_VIA[0],
                "status": "closed" if closed else "open",
                "created_at": created,
                "updated_at": created + timedelta(hours=30) if closed else created,
                "first_claim_at": created + timedelta(hours=2) if closed else None,
                "first_reply_at": created + timedelta(hours=3) if closed else None,
                "closed_at": created + timedelta(hours=30) if closed else None,
                "outcome": OUTCOMES[i % len(OUTCOMES)] if closed else None,
                "version": 3 if closed else 1,
                "held_back": 0,
            }
        )
    for start in range(0, len(rows), 10_000):
        async with core.database.write_tx() as conn:
            await conn.execute(insert(table), rows[start : start + 10_000])


# --------------------------------------------------------------------------- timing


async def timed(runs: int, call: Callable[[], Awaitable[object]]) -> dict[str, float]:
    await call()  # warm up
    values = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await call()
        values.append((time.perf_counter() - t0) * 1000)
    return {
        "runs": runs,
        "p50_ms": round(percentile(values, 0.5), 1),
        "p99_ms": round(percentile(values, 0.99), 1),
    }


def _proc_kb(pid: int, field: str) -> int:
    """VmRSS or VmHWM of a process in kB, from /proc (0 where there is none)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _progress(message: str) -> None:
    """A line on stderr as each phase ends (a long run shows where its time goes)."""
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def _reset_peak_rss() -> bool:
    """Reset this process's VmHWM to its current VmRSS (Linux: 5 > /proc/self/clear_refs),
    after giving freed heap back to the system (the bulk fills' page cache, on SQLite)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


async def _serve(
    fake: FakeBotApi,
    session: aiohttp.ClientSession,
    tmp: Path,
    database_url: str,
    content_dir: Path,
    label: str,
    updates: int,
    chat_base: int,
) -> dict[str, Any]:
    """Start ``serve`` on these teams, time until ready, run the throughput phase, stop."""
    chats = max(2, min(100, updates // 10))  # each chat onboards, then walks the guide
    port = _free_port()
    secret = secrets.token_urlsafe(24)
    argv, env = _full_bot_argv_env(fake, port, secret, database_url, tmp / f"data-{label}")
    env["CONTENT_DIR"] = str(content_dir)
    env["MIGRATE_ON_START"] = "false"  # migrated by the fill: start-up is the product's own
    fake.reset(None)
    began = time.perf_counter()
    sut = await _start_sut(FULL, argv, env, port, tmp / f"serve-{label}.log")
    try:
        ready = None
        while time.perf_counter() - began < READY_TIMEOUT:
            if sut.process.returncode is not None:
                raise BenchError(f"serve ({label}) exited before ready:\n{sut.log_tail()}")
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                async with session.get(
                    f"http://{HOST}:{port}/health/ready", timeout=aiohttp.ClientTimeout(total=2)
                ) as response:
                    if response.status == 200 and fake.webhook_set.is_set():
                        ready = time.perf_counter() - began
                        break
            await asyncio.sleep(0.05)
        if ready is None:
            raise BenchError(f"serve ({label}) not ready in {READY_TIMEOUT:.0f} s")
        rss_ready = _proc_kb(sut.process.pid, "VmRSS")
        await asyncio.sleep(0.3)  # PTB's run_webhook starts the Application just after
        driver = Driver(
            fake,
            session,
            f"http://{HOST}:{port}{WEBHOOK_PATH}",
            secret,
            taps=True,
            chats=chats,
            reply_timeout=10.0,
            cpu_of_sut=lambda: _process_cpu(sut.process.pid),
        )
        # Fresh chats for each start (the same database keeps the first run's chats).
        driver.chats = {chat_base + i: Chat(chat_base + i) for i in range(chats)}
        driver.free = deque(driver.chats.values())
        fast = (await driver.throughput(updates, 32)).summary()
        taps = sum(chat.taps for chat in driver.chats.values())
        chose = sum(chat.team_chosen for chat in driver.chats.values())
        hwm = _proc_kb(sut.process.pid, "VmHWM")
        if sut.process.returncode is not None:
            raise BenchError(f"serve ({label}) exited during the run:\n{sut.log_tail()}")
    finally:
        await _stop_sut(sut)
    return {
        "ready_s": round(ready, 2),
        "rss_ready_mb": round(rss_ready / 1024, 1),
        "rss_peak_mb": round(hwm / 1024, 1),
        "updates": fast["updates"],
        "wall_s": fast["wall_s"],
        "updates_per_s": fast["updates_per_s"],
        "update_p50_ms": fast["p50_ms"],
        "update_p99_ms": fast["p99_ms"],
        "lost": fast["lost"] + fast["non_200"] + fast["unsent"],
        "error_replies": fast["error_replies"],
        "guide_taps_share": round(taps / max(1, fast["updates"]), 2),
        "chats_chose": chose,
        "chats": len(driver.chats),
        "cpu_ms_per_update": fast["sut_cpu_ms_per_update"],
    }


async def _serve_rounds(
    fake: FakeBotApi,
    session: aiohttp.ClientSession,
    tmp: Path,
    database_url: str,
    content: Path,
    sizes: dict[str, int],
) -> dict[str, Any]:
    """Alternate ``serve`` with the 2 shipped teams and with all the teams, ``rounds`` times.

    One pair of phases gave CPU ratios from 0.83 to 1.07 on this shared 2-core machine: a
    slower minute lands on one side only. Alternating the sides (2 then all, then all then
    2, ...) puts both under the same minutes, and the median of the rounds' ratios keeps
    one bad round from deciding the verdict. Each start gets fresh chats (every chat walks
    onboarding again), so every round sends the same walk to both sides.
    """
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for r in range(sizes["rounds"]):
        sides = {}
        order = ("2", "all") if r % 2 == 0 else ("all", "2")
        for side in order:
            chat_base = CHAT_ID_BASE + 20_000 * r + (10_000 if side == "all" else 0)
            sides[side] = await _serve(
                fake, session, tmp, database_url, SHIPPED_CONTENT if side == "2" else content,
                f"{side}-{r}", sizes["updates"], chat_base,
            )  # fmt: skip
        pairs.append((sides["2"], sides["all"]))
        _progress(f"per-update round {r + 1} of {sizes['rounds']} done")
    ratios = [
        two["cpu_ms_per_update"] / many["cpu_ms_per_update"] if many["cpu_ms_per_update"] else 0.0
        for two, many in pairs
    ]
    return {
        "serve_2_teams": _merged([two for two, _ in pairs]),
        "serve_all_teams": _merged([many for _, many in pairs]),
        "cpu_ratios": [round(x, 3) for x in ratios],
    }


def _merged(phases: list[dict[str, Any]]) -> dict[str, Any]:
    """One side's rounds as one figure: the worst start-up and memory, the median CPU cost
    and p50, the worst p99, and throughput over all the rounds' updates."""
    updates, wall = sum(p["updates"] for p in phases), sum(p["wall_s"] for p in phases)
    return {
        "ready_s": max(p["ready_s"] for p in phases),
        "rss_ready_mb": max(p["rss_ready_mb"] for p in phases),
        "rss_peak_mb": max(p["rss_peak_mb"] for p in phases),
        "updates": updates,
        "updates_per_s": round(updates / wall, 1) if wall else 0.0,
        "update_p50_ms": statistics.median(p["update_p50_ms"] for p in phases),
        "update_p99_ms": max(p["update_p99_ms"] for p in phases),
        "lost": sum(p["lost"] for p in phases),
        "error_replies": sum(p["error_replies"] for p in phases),
        "guide_taps_share": round(
            sum(p["guide_taps_share"] * p["updates"] for p in phases) / max(1, updates), 2
        ),
        "chats_chose_laholm": f"{sum(p['chats_chose'] for p in phases)}/"
        f"{sum(p['chats'] for p in phases)}",
        "cpu_ms_per_update": round(statistics.median(p["cpu_ms_per_update"] for p in phases), 3),
        "rounds": phases,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    sizes = dict(QUICK_SIZES if args.quick else FULL_SIZES)
    if args.runs:
        sizes["runs"] = args.runs
    if args.days:
        sizes["days"] = args.days
    loop, task = asyncio.get_running_loop(), asyncio.current_task()
    if task is not None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
    fake = FakeBotApi(BOT_TOKEN, 0.0)
    await fake.start()
    figures: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-national-") as tmp_name:
            tmp = Path(tmp_name)
            content = tmp / "content"
            shutil.copytree(SHIPPED_CONTENT, content)
            teams, figures["team_files"] = make_teams(content, args.teams)
            async with _database(args.database_url, tmp) as (database_url, database):
                figures["database"] = database
                async with national_core(database_url, content, tmp / "data") as core:
                    t0 = time.perf_counter()
                    rows = await fill_counters(core, teams, sizes["days"])
                    figures["counter_rows"] = rows
                    figures["fill_counters_s"] = round(time.perf_counter() - t0, 1)
                    _progress(f"counters filled: {rows:,} rows, {figures['fill_counters_s']} s")
                    figures.update(await _rollups(core, teams, sizes["days"]))
                    t0 = time.perf_counter()
                    await fill_requests(core, teams, sizes["requests"], sizes["open"])
                    figures["fill_requests_s"] = round(time.perf_counter() - t0, 1)
                    figures.update(await _reports(core, teams, sizes["runs"]))
                    _progress("reports timed")
                async with aiohttp.ClientSession() as session:
                    figures.update(
                        await _serve_rounds(fake, session, tmp, database_url, content, sizes)
                    )
    finally:
        await fake.stop()
    return {
        "command": shlex.join(sys.orig_argv),
        "code": _code_version(),
        "machine": _machine(),
        "sizes": {"teams": len(teams), "languages": len(LANGUAGES), **sizes},
        "figures": figures,
        "targets": _verdicts(figures),
    }


async def _rollups(core: Core, teams: list[str], days: int) -> dict[str, Any]:
    """Fill the rollups of all days but the last ROLLED_BY_PRODUCT directly, check them
    against the counters, then time the product's roll-up of the last days (the fold the
    service runs daily, through the day before yesterday) and check again."""
    out: dict[str, Any] = {}
    cut = LAST_DAY - timedelta(days=min(days, ROLLED_BY_PRODUCT))
    first = LAST_DAY - timedelta(days=days - 1)
    t0 = time.perf_counter()
    filled = await fill_rollups(core.database, cut)
    out["fill_rollups_s"] = round(time.perf_counter() - t0, 1)
    _progress(f"rollups filled: {filled.rows:,} rows, {out['fill_rollups_s']} s {filled.seconds}")
    out["fill_rollups_steps_s"] = filled.seconds
    out["rollup_rows_filled"] = filled.rows
    out["rolled_by_bench_through"] = cut.isoformat()
    who = [teams[0], teams[-1], ALL_TEAMS]
    t0 = time.perf_counter()
    compared, differ = await check_rollups(
        core.database, cut, samples(first, cut, who, CHECKED_KINDS)
    )
    out["check_fill"] = {"sums": compared, "differ": len(differ)}
    check_s = time.perf_counter() - t0
    if differ:
        raise BenchError("the direct fill differs from the counters:\n" + "\n".join(differ[:20]))
    assert core.recorder is not None
    t0 = time.perf_counter()
    await core.recorder.fold_finished_days()
    out["roll_up_s"] = round(time.perf_counter() - t0, 1)
    _progress(f"the product's roll-up of the last days: {out['roll_up_s']} s")
    async with core.database.read_tx() as conn:
        through = await rolled_through(conn)
    if through is None or through < LAST_DAY:
        raise BenchError(f"the product's roll-up stopped at {through}, not {LAST_DAY}")
    out["rolled_by_product"] = f"({cut.isoformat()}, {through.isoformat()}]"
    out["rolled_by_product_days"] = (LAST_DAY - cut).days
    t0 = time.perf_counter()
    compared, differ = await check_rollups(
        core.database, LAST_DAY, samples(cut + timedelta(days=1), LAST_DAY, who, CHECKED_KINDS)
    )
    out["check_after_roll_up"] = {"sums": compared, "differ": len(differ)}
    out["check_s"] = round(check_s + time.perf_counter() - t0, 1)
    _progress(f"rollups checked: {out['check_fill']} {out['check_after_roll_up']}")
    if differ:
        raise BenchError("the rollups differ from the counters:\n" + "\n".join(differ[:20]))
    return out


async def _reports(core: Core, teams: list[str], runs: int) -> dict[str, Any]:
    service = StatsService(core.database, frozenset(teams))
    admin = StaffUser(0, "bench", "admin", frozenset())
    coordinator = StaffUser(1, "kim", "coordinator", frozenset({teams[0]}))
    year = Period.ending("year", LAST_DAY)
    quarter = Period.ending("quarter", LAST_DAY)
    whole_year = Period.ending("year", year.start - timedelta(days=1))
    # The peak resident memory of this process so far (the fills), then from the book on.
    peak_before = _proc_kb(os.getpid(), "VmHWM")
    reset = _reset_peak_rss()
    at_start = _proc_kb(os.getpid(), "VmRSS")
    t0 = time.perf_counter()
    await service.report(admin, year, None)  # the day's first report builds the protected book
    book_s = round(time.perf_counter() - t0, 1)
    peak = _proc_kb(os.getpid(), "VmHWM")
    _progress(
        f"the book built: {book_s} s, peak RSS {peak // 1024} MB (at its start {at_start // 1024})"
    )
    out: dict[str, Any] = {
        "book_build_s": book_s,
        "bench_rss_peak_before_book_mb": round(peak_before / 1024, 1),
        "bench_rss_at_book_start_mb": round(at_start / 1024, 1),
        "bench_rss_peak_book_mb": round(peak / 1024, 1),
        "bench_rss_peak_reset": reset,
        "year_report_service": await timed(runs, lambda: service.report(admin, year, None)),
        # The year before: a whole year, so with its breakdowns (a year not over has none).
        "whole_year_report_service": await timed(
            runs, lambda: service.report(admin, whole_year, None)
        ),
        "team_quarter_service": await timed(
            runs, lambda: service.report(coordinator, quarter, None)
        ),
    }
    await core.staff.create("bench", PASSWORD, "admin", frozenset())
    async with signed_in_staff_web(core, service, "bench", PASSWORD) as (http, origin):

        async def get(path: str) -> None:
            async with http.get(f"{origin}{path}") as response:
                await response.read()
                if response.status != 200:
                    raise BenchError(f"GET {path} answered {response.status}")

        year_page = f"/staff/stats?period=year&date={year.end.isoformat()}"
        out["year_report_page"] = await timed(runs, lambda: get(year_page))
        out["queue_page"] = await timed(runs, lambda: get("/staff/queue"))
        out["queue_api"] = await timed(runs, lambda: get("/api/v1/queue"))
    return out


def _verdicts(f: dict[str, Any]) -> dict[str, bool]:
    many, two = f["serve_all_teams"], f["serve_2_teams"]
    ratio = many["updates_per_s"] / two["updates_per_s"] if two["updates_per_s"] else 0.0
    f["throughput_ratio"] = round(ratio, 3)
    # The bot sends at most 30 messages a second overall (bot.telegram.limits), so updates/s
    # can hit that cap with any number of teams: the per-update cost is its CPU time.
    # The median of the rounds' ratios (see _serve_rounds), not the ratio of the medians.
    cpu = statistics.median(f["cpu_ratios"]) if f["cpu_ratios"] else 0.0
    f["cpu_ratio"] = round(cpu, 3)
    return {
        "startup": many["ready_s"] < TARGETS["startup_s"],
        "memory": max(many["rss_ready_mb"], many["rss_peak_mb"]) < TARGETS["rss_mb"],
        "year_report_service": f["year_report_service"]["p99_ms"] < TARGETS["year_report_p99_ms"],
        "year_report_page": f["year_report_page"]["p99_ms"] < TARGETS["year_report_p99_ms"],
        "whole_year_report": f["whole_year_report_service"]["p99_ms"]
        < TARGETS["year_report_p99_ms"],
        "team_quarter": f["team_quarter_service"]["p99_ms"] < TARGETS["team_quarter_p99_ms"],
        "throughput": ratio >= 1 - TARGETS["throughput_within"],
        "cpu_per_update": cpu >= 1 - TARGETS["throughput_within"],
    }


def print_report(report: dict[str, Any]) -> None:
    s, f, ok = report["sizes"], report["figures"], report["targets"]
    m = report["machine"]

    def mark(key: str) -> str:
        return "PASS" if ok[key] else "FAIL"

    def lat(key: str) -> str:
        return f"p50 {f[key]['p50_ms']:8.1f} ms  p99 {f[key]['p99_ms']:8.1f} ms"

    print(
        f"National benchmark: {s['teams']} teams, {s['languages']} languages, the shipped "
        f"guide's screens, {s['days']} days of counters ({f['counter_rows']:,} rows), "
        f"{s['requests']:,} requests ({s['open']:,} open), {s['runs']} runs per figure"
    )
    print(f"machine: {m['cpus']} CPUs ({m['cpu']}), Python {m['python']}")
    print(f"database: {f['database']}")
    print(f"code: {report['code']}; command: {report['command']}")
    print(f"team files: {f['team_files']}")
    steps = ", ".join(f"{k} {v} s" for k, v in f["fill_rollups_steps_s"].items())
    print(
        f"filling: counters {f['fill_counters_s']} s, requests {f['fill_requests_s']} s, "
        f"rollups through {f['rolled_by_bench_through']} {f['fill_rollups_s']} s "
        f"({f['rollup_rows_filled']:,} rows; {steps})"
    )
    fill, after = f["check_fill"], f["check_after_roll_up"]
    print(
        f"rollups checked: {fill['sums'] + after['sums']:,} sums, "
        f"{fill['differ'] + after['differ']} differ (the direct fill {fill['sums']:,}, after "
        f"the product's roll-up {after['sums']:,}; against sums over stats_counter, "
        f"{f['check_s']} s)"
    )
    print(
        f"the product's roll-up of the last {f['rolled_by_product_days']} days "
        f"{f['rolled_by_product']} (fold_finished_days, the daily job's path): "
        f"{f['roll_up_s']} s (no target)"
    )
    reset = "" if f["bench_rss_peak_reset"] else " (VmHWM not reset: the fills' peak)"
    print(
        "protected figures of every report (built once a day, by the first report): "
        f"{f['book_build_s']} s (no target; reports after it read them); bench process "
        f"peak RSS during it {f['bench_rss_peak_book_mb']:.0f} MB{reset} "
        f"(at its start {f['bench_rss_at_book_start_mb']:.0f} MB; the fills' peak before it: "
        f"{f['bench_rss_peak_before_book_mb']:.0f} MB)"
    )
    many, two = f["serve_all_teams"], f["serve_2_teams"]
    print()
    startup = f"target < {TARGETS['startup_s']:g} s   {mark('startup')}"
    print(
        f"  serve start-up, {s['teams']} teams (to /health/ready)  "
        f"{many['ready_s']:8.2f} s    {startup}"
    )
    memory = f"target < {TARGETS['rss_mb']:g} MB  {mark('memory')}"
    print(
        f"  serve resident memory, ready / peak  {many['rss_ready_mb']:8.1f} / "
        f"{many['rss_peak_mb']:.1f} MB  {memory}"
    )
    target = f"target p99 < {TARGETS['year_report_p99_ms']:g} ms"
    print(
        f"  all-teams year report (service)     {lat('year_report_service')}  {target}  "
        f"{mark('year_report_service')}"
    )
    print(
        f"  all-teams year page (/staff/stats)  {lat('year_report_page')}  {target}  "
        f"{mark('year_report_page')}"
    )
    print(
        f"  the year before, whole (service)    {lat('whole_year_report_service')}  {target}  "
        f"{mark('whole_year_report')}"
    )
    print(
        f"  one team's quarter (service)        {lat('team_quarter_service')}  target p99 < "
        f"{TARGETS['team_quarter_p99_ms']:g} ms  {mark('team_quarter')}"
    )
    print(f"  admin queue page (/staff/queue)     {lat('queue_page')}  (no target)")
    print(f"  admin queue API (/api/v1/queue)     {lat('queue_api')}  (no target)")
    print(
        f"  per-update throughput, 2 teams      {two['updates_per_s']:8.1f} updates/s "
        f"(p50 {two['update_p50_ms']:.1f} ms, p99 {two['update_p99_ms']:.1f} ms, "
        f"ready {two['ready_s']:.2f} s, {two['rss_peak_mb']:.0f} MB)"
    )
    print(
        f"  per-update throughput, {s['teams']} teams    {many['updates_per_s']:8.1f} updates/s "
        f"(p50 {many['update_p50_ms']:.1f} ms, p99 {many['update_p99_ms']:.1f} ms)"
    )
    ratio = f"target >= {1 - TARGETS['throughput_within']:.2f}   {mark('throughput')}"
    print(
        f"  throughput {s['teams']} / 2 teams             {f['throughput_ratio']:8.3f}      {ratio}"
    )
    cpu = f"target >= {1 - TARGETS['throughput_within']:.2f}   {mark('cpu_per_update')}"
    print(
        f"  serve CPU ms per update, 2 / {s['teams']} teams  {two['cpu_ms_per_update']:.2f} / "
        f"{many['cpu_ms_per_update']:.2f}, ratio {f['cpu_ratio']:.3f}  {cpu}"
    )
    rounds = ", ".join(f"{x:.3f}" for x in f["cpu_ratios"])
    print(
        f"  ({len(f['cpu_ratios'])} rounds of {s['updates']:,} updates a side, the sides "
        f"alternating; medians of the rounds; the rounds' CPU ratios: {rounds})"
    )
    print("  (updates/s stops at 30: the bot sends at most 30 messages a second overall)")
    lost = many["lost"] + two["lost"]
    errors = many["error_replies"] + two["error_replies"]
    print(
        f"  updates lost or not 200: {lost}; error replies: {errors}; updates that were "
        f"guide taps (not onboarding): 2 teams {two['guide_taps_share']:.0%}, "
        f"{s['teams']} teams {many['guide_taps_share']:.0%}"
    )
    print(
        f"  chats that chose Laholm (by list, or with {s['teams']} teams by typing its name): "
        f"2 teams {two['chats_chose_laholm']}, {s['teams']} teams {many['chats_chose_laholm']}"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot.bench.national", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="a postgresql:// URL gets a fresh database beside it, dropped afterwards "
        "(default: fresh SQLite)",
    )
    parser.add_argument("--teams", type=int, default=300, help="team files (default 300)")
    parser.add_argument("--runs", type=int, default=0, help="runs per timed figure")
    parser.add_argument(
        "--days", type=int, default=0, help="days of counters (default two years: 730)"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.teams < 2:
        print("--teams must be at least 2 (the shipped teams)", file=sys.stderr)
        return 2
    return bench_main(run, args, print_report, stopped="serve was stopped")


if __name__ == "__main__":
    sys.exit(main())
