"""`python -m bot stats` prints the same suppressed tables; bad arguments get one clear line."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.storage import stats as stats_db
from bot.storage.engine import create_engine, write_tx
from bot.storage.migrate import upgrade
from tests.conftest import REPO, TEST_SECRET, _reset_postgres


def _fill(database_url: str) -> None:
    async def run() -> None:
        engine = create_engine(database_url)
        try:
            await upgrade(engine)
            cells = {}
            for i in range(7):
                day = date(2026, 11, 16) + timedelta(days=i)
                cells[(day, "laholm", "sv", "conversation_started", "")] = 3 + i  # 3..9
                cells[(day, "botkyrka", "fi", "conversation_started", "")] = 20
            cells[(date(2026, 11, 17), "laholm", "sv", "screen_viewed", "worry")] = 2
            async with write_tx(engine) as conn:
                await stats_db.add_counts(conn, cells)
        finally:
            await engine.dispose()

    if database_url.startswith("postgresql"):
        _reset_postgres(database_url)
    asyncio.run(run())


@pytest.fixture
def env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    _fill(database_url)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("CONTENT_DIR", str(REPO / "content"))
    monkeypatch.setenv("LOCALES_DIR", str(REPO / "locales"))
    return database_url


WEEK = ["stats", "--period", "week", "--date", "2026-11-18"]


def test_table_output_hides_small_counts(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*WEEK, "--team", "laholm"]) == 0
    out = capsys.readouterr().out
    assert "Statistics 2026-11-16 to 2026-11-22 (laholm)" in out
    assert "2026-11-16" in out and "<5" in out
    assert "== Conversations and relatives over time ==" in out
    total = next(line for line in out.splitlines() if line.startswith("Total"))
    assert total.split()[1] == str(sum(3 + i for i in range(7)))


def test_csv_and_json_formats(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*WEEK, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows and rows[0]["teams"] == "botkyrka laholm"
    assert not {"1", "2", "3", "4"} & {r["value"] for r in rows}
    assert main([*WEEK, "--format", "json", "--team", "botkyrka"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["teams"] == ["botkyrka"] and data["period"]["kind"] == "week"
    over = next(t for t in data["tables"] if t["id"] == "conversations_over_time")
    assert over["totals"][0] == {"value": 140, "shown": "140"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # the grid (issue #13): an old script's custom range is told what there is instead
        (
            ["stats", "--period", "custom", "--from", "2026-11-01", "--to", "2026-11-05"],
            "custom ranges are gone: statistics exist only for --period week, month, quarter",
        ),
        (["stats", "--period", "week", "--from", "2026-11-01"], "week, month, quarter or year"),
        (["stats", "--to", "2026-11-01"], "custom ranges are gone"),
        (["stats", "--period", "fortnight"], "unknown period 'fortnight'"),
        (["stats", "--date", "2026-13-01"], "not a date"),
    ],
)
def test_bad_arguments_get_one_line(
    env: str, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_unknown_team_is_refused(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*WEEK, "--team", "nowhere"]) == 1
    assert "refused: There is no such team." in capsys.readouterr().err


def test_runs_as_a_command(env: str) -> None:
    """The real entry point, as an operator types it (a week on the grid, JSON)."""
    result = subprocess.run(
        [sys.executable, "-m", "bot", "stats", "--period", "week", "--date", "2026-11-18",
         "--format", "json"],
        capture_output=True, text=True, timeout=120, cwd=REPO, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["period"] == {"start": "2026-11-16", "end": "2026-11-22", "kind": "week"}
