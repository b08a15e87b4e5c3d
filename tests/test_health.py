"""Health and metrics: live, ready (database reachable, schema at head) and the queue per team.

The outage is real: the SQLite file is moved away (a folder takes its name, so no new file
can be opened there) and the engine's idle connections closed; PostgreSQL's database stops
accepting connections and its backends are terminated. Nothing is mocked.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from bot.domain import RequestDraft
from bot.emulator.spec import BotApiSpec
from bot.runtime import Server
from bot.services.jobs import JobState
from bot.storage.locks import KEYS
from tests.conftest import running_preview

OUTAGE_NOTICED_WITHIN = 5.0  # seconds: the ready check's own timeout is 2 s


async def get(server: Server, path: str) -> tuple[int, Any]:
    """Status and body (JSON when the answer is JSON, else text)."""
    async with aiohttp.ClientSession() as session, session.get(server.origin + path) as response:
        if response.content_type == "application/json":
            return response.status, await response.json()
        return response.status, await response.text()


async def test_live_and_ready_answer_200(preview_server: Server) -> None:
    for path in ("/health", "/health/live", "/health/ready"):
        assert await get(preview_server, path) == (200, {"status": "ok"})


async def _admin(url: str, *statements: str) -> None:
    """Statements on PostgreSQL's maintenance database (never on the one under test)."""
    u = make_url(url)
    conn = await asyncpg.connect(f"postgresql://{u.username}@{u.host}:{u.port}/postgres", timeout=5)
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def database_gone(server: Server, database_url: str) -> AsyncIterator[None]:
    """The server's database is unreachable inside the block and back after it.

    The purge round the server runs as it starts is over first: it would fail in the
    outage and be named by the readiness check.
    """
    assert server.core is not None
    await server.core.jobs.wait_recorded("purge")
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        path = Path(url.database)
        away = path.with_name(path.name + ".away")
        path.rename(away)
        path.mkdir()  # sqlite cannot open a folder: "unable to open database file"
        await server.core.database.engine.dispose()  # idle connections still see the old file
        try:
            yield
        finally:
            shutil.rmtree(path)
            away.rename(path)
        return
    name = url.database
    await _admin(
        database_url,
        f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false',
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        f" WHERE datname = '{name}' AND pid <> pg_backend_pid()",
    )
    try:
        yield
    finally:
        await _admin(database_url, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


async def test_ready_turns_503_when_the_database_goes_and_200_when_it_returns(
    preview_server: Server, database_url: str
) -> None:
    async with database_gone(preview_server, database_url):
        started = time.monotonic()
        status, body = await get(preview_server, "/health/ready")
        assert time.monotonic() - started < OUTAGE_NOTICED_WITHIN
        assert status == 503
        assert body == {"status": "unavailable", "failed": ["database", "schema"]}
        assert await get(preview_server, "/health/live") == (200, {"status": "ok"})
        status, metrics = await get(preview_server, "/metrics")  # still answers, in time
        assert status == 200 and time.monotonic() - started < 2 * OUTAGE_NOTICED_WITHIN
        assert _value(metrics, "helpline_queue_read_ok") == 0
        assert "helpline_updates_handled_total" in metrics
    assert await get(preview_server, "/health/ready") == (200, {"status": "ok"})
    _, metrics = await get(preview_server, "/metrics")
    assert _value(metrics, "helpline_queue_read_ok") == 1


def _value(body: str, name: str) -> float:
    [found] = [
        sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if sample.name == name
    ]
    return found


async def test_ready_names_the_schema_when_it_is_behind_the_code(preview_server: Server) -> None:
    assert preview_server.core is not None
    async with preview_server.core.database.write_tx() as conn:
        await conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
    status, body = await get(preview_server, "/health/ready")
    assert (status, body) == (503, {"status": "unavailable", "failed": ["schema"]})


def _draft(team: str) -> RequestDraft:
    return RequestDraft(
        team_id=team,
        language="sv",
        concerns="young_adult",
        topic="worry",
        urgency="soon",
        text="My brother has new friends and talks about violence.",
    )


def _fixed(stamp: datetime) -> Callable[[], datetime]:
    return lambda: stamp


async def test_metrics_show_the_oldest_waiting_request_per_team_and_no_identifier(
    preview_server: Server,
) -> None:
    core, emulator = preview_server.core, preview_server.emulator
    assert core is not None and emulator is not None
    real_now = core.cases.now
    created = []
    for team, age in (
        ("laholm", timedelta(hours=1)),
        ("laholm", timedelta(0)),
        ("botkyrka", timedelta(minutes=10)),
    ):
        core.cases.now = _fixed(datetime.now(UTC) - age)  # the request's creation time
        chat = emulator.new_private_chat(language_code="sv")
        created.append(await core.cases.create_request(_draft(team), chat))
    core.cases.now = real_now

    status, body = await get(preview_server, "/metrics")
    assert status == 200
    samples = {
        (sample.name, sample.labels.get("team")): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }
    oldest = "helpline_oldest_waiting_request_age_seconds"
    assert 3600 <= samples[(oldest, "laholm")] < 3600 + 60
    assert 600 <= samples[(oldest, "botkyrka")] < 600 + 60
    assert samples[("helpline_requests_active", "laholm")] == 2
    assert samples[("helpline_requests_waiting", "botkyrka")] == 1
    for case in created:
        assert case.code not in body
        assert case.code.replace("-", "") not in body
    assert "violence" not in body


async def _rename(server: Server, table: str, to: str) -> None:
    assert server.core is not None
    async with server.core.database.write_tx() as conn:
        await conn.exec_driver_sql(f"ALTER TABLE {table} RENAME TO {to}")


def _samples(body: str, name: str) -> dict[str, float]:
    return {
        sample.labels["job"]: sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if sample.name == name
    }


async def test_ready_names_a_failed_stats_flush_and_recovers_after_a_good_round(
    preview_server: Server,
) -> None:
    """A real failure (its table gone) in a round called directly: no timer is waited on."""
    core = preview_server.core
    assert core is not None and core.recorder is not None
    assert core.jobs.state("stats_flush") == JobState()  # not run yet: not a failure either
    core.recorder.count("conversation_started", None, "sv")
    await _rename(preview_server, "stats_counter", "stats_counter_away")
    try:
        await Server._stats_flush_round(core)
        status, body = await get(preview_server, "/health/ready")
        assert (status, body) == (503, {"status": "unavailable", "failed": ["jobs: stats_flush"]})
        _, metrics = await get(preview_server, "/metrics")
        assert _samples(metrics, "helpline_job_failing")["stats_flush"] == 1
        failed_at = _samples(metrics, "helpline_job_last_failure_timestamp_seconds")["stats_flush"]
        assert abs(failed_at - time.time()) < 60
        assert "stats_flush" not in _samples(metrics, "helpline_job_last_success_timestamp_seconds")
    finally:
        await _rename(preview_server, "stats_counter_away", "stats_counter")
    await Server._stats_flush_round(core)  # the kept count is written now
    assert await get(preview_server, "/health/ready") == (200, {"status": "ok"})
    _, metrics = await get(preview_server, "/metrics")
    assert _samples(metrics, "helpline_job_failing")["stats_flush"] == 0
    success = _samples(metrics, "helpline_job_last_success_timestamp_seconds")["stats_flush"]
    assert abs(success - time.time()) < 60


async def test_ready_names_a_failed_purge_until_a_round_succeeds(
    preview_server: Server, database_url: str
) -> None:
    core = preview_server.core
    assert core is not None
    async with database_gone(preview_server, database_url):
        await Server._purge_job_round(core)
        status, body = await get(preview_server, "/health/ready")
        assert status == 503
        assert body["failed"] == ["database", "schema", "jobs: purge"]
    status, body = await get(preview_server, "/health/ready")
    assert (status, body) == (503, {"status": "unavailable", "failed": ["jobs: purge"]})
    await Server._purge_job_round(core)
    assert await get(preview_server, "/health/ready") == (200, {"status": "ok"})
    assert core.jobs.state("purge").last_failure is not None
    assert not core.jobs.state("stats_fold").failing


async def test_a_purge_round_another_process_holds_counts_as_success(
    pg_database_url: str, tmp_path: Path, spec: BotApiSpec
) -> None:
    """The lock is held by another session: this process skips the round, and that is fine."""
    async with running_preview(pg_database_url, tmp_path, spec) as server:
        core = server.core
        assert core is not None
        await core.jobs.wait_recorded("purge")  # the server's own first round is over
        core.jobs.failed("purge")  # as if its last own round had failed
        assert (await get(server, "/health/ready"))[0] == 503
        url = make_url(pg_database_url)
        other = await asyncpg.connect(
            f"postgresql://{url.username}@{url.host}:{url.port}/{url.database}", timeout=5
        )
        try:
            assert await other.fetchval("SELECT pg_try_advisory_lock($1)", KEYS["purge"])
            await Server._purge_job_round(core)
        finally:
            await other.close()
        assert not core.jobs.state("purge").failing
        assert await get(server, "/health/ready") == (200, {"status": "ok"})
