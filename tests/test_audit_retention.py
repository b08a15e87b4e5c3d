"""AUDIT_RETENTION_DAYS: audit rows older than that are deleted by every purge.

The purge is the service's (``CaseService.purge``), run by `python -m bot purge` and by
serve's purge loop (``Server._purge_round``); all three are exercised here, on SQLite and
PostgreSQL, with rows of different ages written at injected times.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.emulator.spec import BotApiSpec
from bot.runtime import Server
from bot.services.cases import CaseService, RetentionSettings
from bot.storage import cases as db
from bot.storage.database import Database
from bot.storage.engine import create_engine
from bot.storage.migrate import upgrade
from tests.conftest import TEST_SECRET, _reset_postgres, running_preview

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
KEY = b"k" * 32


async def write_audit(database: Database, ages_in_days: dict[str, float], now: datetime) -> None:
    """One audit row per action name, written ``age`` days before ``now``."""
    async with database.write_tx() as conn:
        for action, age in ages_in_days.items():
            await db.record(conn, now - timedelta(days=age), "anna", action, None)


async def actions_left(database: Database) -> set[str]:
    async with database.read_tx() as conn:
        return {row.action for row in await db.audit_rows(conn, 1000)}


AGES = {"claim": 400, "reply": 366, "note": 364.9, "close": 30, "reopen": 0}


async def test_purge_deletes_audit_rows_older_than_the_retention(database: Database) -> None:
    await write_audit(database, AGES, NOW)
    service = CaseService(
        database, KEY, RetentionSettings(audit_retention_days=365), now=lambda: NOW
    )
    report = await service.purge()
    assert report.audit_deleted == 2
    assert await actions_left(database) == {"note", "close", "reopen"}
    assert (await service.purge()).audit_deleted == 0  # nothing more to do

    later = CaseService(database, KEY, RetentionSettings(audit_retention_days=30), now=lambda: NOW)
    assert (await later.purge()).audit_deleted == 1  # "note"; "close" is exactly 30 days old
    assert await actions_left(database) == {"close", "reopen"}


async def test_serve_purge_round_uses_the_setting(
    database_url: str, tmp_path: Path, spec: BotApiSpec
) -> None:
    """The round serve's purge loop runs, on a server started with AUDIT_RETENTION_DAYS=30."""
    async with running_preview(database_url, tmp_path, spec, AUDIT_RETENTION_DAYS="30") as server:
        core = server.core
        assert core is not None
        core.cases.now = lambda: NOW
        await write_audit(core.database, AGES, NOW)
        await Server._purge_round(core)
        assert await actions_left(core.database) == {"close", "reopen"}


def test_purge_command_prints_how_many_audit_rows_went(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`python -m bot purge` against the wall clock: rows 400 and 10 days old, 100 days kept."""
    if database_url.startswith("postgresql"):
        _reset_postgres(database_url)

    async def prepare() -> None:
        engine = create_engine(database_url)
        database = Database(engine)
        try:
            await upgrade(engine)
            await write_audit(database, {"claim": 400, "reply": 10}, datetime.now(UTC))
        finally:
            await database.close()

    asyncio.run(prepare())
    for name, value in {
        "DATABASE_URL": database_url,
        "DATA_DIR": str(tmp_path / "data"),
        "SECRET_KEY": TEST_SECRET,
        "AUDIT_RETENTION_DAYS": "100",
    }.items():
        monkeypatch.setenv(name, value)
    assert main(["purge"]) == 0
    out = capsys.readouterr().out
    assert "removed 1 audit row(s) older than AUDIT_RETENTION_DAYS" in out

    async def left() -> set[str]:
        database = Database(create_engine(database_url))
        try:
            return await actions_left(database)
        finally:
            await database.close()

    assert asyncio.run(left()) == {"reply"}
