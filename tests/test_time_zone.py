"""TIME_ZONE: staff pages' times and statistics days are the municipality's, not UTC.

The clocks are injected: 23:30 UTC on 1 December 2026 is 00:30 on 2 December in
Stockholm (UTC+1 in winter), so the same moment lands on different days by zone.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.domain import StaffUser
from bot.emulator.spec import BotApiSpec
from bot.runtime import Server
from bot.services.stats import Period, StatsRecorder, StatsService, day_in
from bot.storage import cases as case_db
from bot.storage.database import Database
from tests.conftest import running_preview
from tests.helpers import Relative
from tests.staff_helpers import create_accounts, signed_in, text_of

LATE = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)  # 2 December 00:30 in Stockholm
NEXT_LATE = datetime(2026, 12, 2, 23, 30, tzinfo=UTC)  # 3 December 00:30 in Stockholm
ADMIN = StaffUser(id=1, username="root", role="admin", teams=frozenset())
KEY = b"k" * 32


async def counter_days(database: Database, kind: str) -> dict[date, int]:
    async with database.read_tx() as conn:
        rows = await conn.execute(
            text("SELECT day, SUM(count) FROM stats_counter WHERE kind = :kind GROUP BY day"),
            {"kind": kind},
        )
        return {
            (day if isinstance(day, date) else date.fromisoformat(day)): int(n) for day, n in rows
        }


def test_day_in_reads_the_clock_in_the_zone() -> None:
    assert day_in("Europe/Stockholm", lambda: LATE)() == date(2026, 12, 2)
    assert day_in("UTC", lambda: LATE)() == date(2026, 12, 1)
    assert day_in("America/New_York", lambda: LATE)() == date(2026, 12, 1)


@pytest.mark.parametrize(
    ("zone", "day", "next_day"),
    [
        ("Europe/Stockholm", date(2026, 12, 2), date(2026, 12, 3)),
        ("UTC", date(2026, 12, 1), date(2026, 12, 2)),
    ],
)
async def test_recorder_counts_and_folds_on_days_in_the_zone(
    database: Database, zone: str, day: date, next_day: date
) -> None:
    clock = {"now": LATE}
    recorder = StatsRecorder(database, KEY, time_zone=zone, now=lambda: clock["now"])
    recorder.count("conversation_started", "laholm", "sv")
    recorder.seen("pseudonym-1", "laholm")
    assert await recorder.flush()
    assert await counter_days(database, "conversation_started") == {day: 1}
    clock["now"] = NEXT_LATE  # the next day in both zones: the first day's digests fold
    recorder.count("conversation_started", "laholm", "sv")
    assert await recorder.flush()
    assert await counter_days(database, "conversation_started") == {day: 1, next_day: 1}
    assert await counter_days(database, "relatives") == {day: 1}


async def test_report_csv_and_json_name_the_zone(database: Database) -> None:
    recorder = StatsRecorder(database, KEY, time_zone="Europe/Stockholm", now=lambda: LATE)
    for _ in range(6):
        recorder.count("conversation_started", "laholm", "sv")
    assert await recorder.flush()
    service = StatsService(database, frozenset({"laholm"}), "Europe/Stockholm", now=lambda: LATE)
    assert service.today() == date(2026, 12, 2)
    # Closed days only (issue #13): the late start's day is reported from the next day on.
    service.now = lambda: LATE + timedelta(days=1)
    report = await service.report(ADMIN, Period.ending("week", date(2026, 12, 2)), "laholm")
    rows = list(csv.DictReader(io.StringIO(service.to_csv(report))))
    assert rows and {row["time_zone"] for row in rows} == {"Europe/Stockholm"}
    daily = [r for r in rows if r["table"] == "conversations_over_time" and r["row"] != "Total"]
    assert [r["row"] for r in daily if r["value"] not in ("0", "")][:1] == ["2026-12-02"]
    assert service.to_json(report)["time_zone"] == "Europe/Stockholm"


@pytest.mark.parametrize(
    ("env", "day"),
    [({}, date(2026, 12, 2)), ({"TIME_ZONE": "UTC"}, date(2026, 12, 1))],
    ids=["default-stockholm", "utc"],
)
async def test_serve_counts_a_late_start_on_the_day_in_time_zone(
    database_url: str, tmp_path: Path, spec: BotApiSpec, env: dict[str, str], day: date
) -> None:
    """The product as it runs: the runtime hands TIME_ZONE to the recorder."""
    async with running_preview(database_url, tmp_path, spec, **env) as server:
        core = server.core
        assert core is not None and core.recorder is not None and server.emulator is not None
        core.recorder.now = lambda: LATE
        await Relative(server.emulator).says("/start")
        assert await core.recorder.flush()
        assert await counter_days(core.database, "conversation_started") == {day: 1}


async def staff_page_times(server: Server, path: str) -> str:
    await create_accounts(server)
    async with signed_in(server, "root") as root:
        return text_of(await root.get(path))


@pytest.mark.parametrize(
    ("env", "shown", "not_shown"),
    [
        ({"TIME_ZONE": "Europe/Stockholm"}, "2026-12-02 00:30", "23:30"),
        ({"TIME_ZONE": "UTC"}, "2026-12-01 23:30", "00:30"),
        ({"TIME_ZONE": "Asia/Tokyo"}, "2026-12-02 08:30", "23:30"),
    ],
)
async def test_staff_pages_show_times_in_time_zone(
    tmp_path: Path, spec: BotApiSpec, env: dict[str, str], shown: str, not_shown: str
) -> None:
    """An audit row written at 23:30 UTC, shown on the audit page in Swedish."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'tz.db'}"
    async with running_preview(url, tmp_path, spec, **env) as server:
        assert server.core is not None
        async with server.core.database.write_tx() as conn:
            await case_db.record(conn, LATE, "root", "claim", "ABC-DEF")
        page = await staff_page_times(server, "/staff/audit")
    row = next(line for line in page.splitlines() if "ABC-DEF" in line)
    assert shown in row and not_shown not in row, row


async def test_stats_page_says_which_zone_its_days_are_in(tmp_path: Path, spec: BotApiSpec) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'tz.db'}"
    async with running_preview(url, tmp_path, spec, TIME_ZONE="America/New_York") as server:
        page = await staff_page_times(server, "/staff/stats")
    assert "(America/New_York)" in page


@pytest.mark.parametrize("zone", ["Europe/Stockholm", "UTC"])
def test_stats_command_names_the_zone(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    zone: str,
) -> None:
    from bot.__main__ import main
    from tests.conftest import REPO, TEST_SECRET

    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("CONTENT_DIR", str(REPO / "content"))
    monkeypatch.setenv("LOCALES_DIR", str(REPO / "locales"))
    monkeypatch.setenv("TIME_ZONE", zone)
    week = ["stats", "--period", "week", "--date", "2026-12-02"]
    assert main(week) == 0
    assert f"Days are days in {zone} (TIME_ZONE)." in capsys.readouterr().out
    assert main([*week, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows and {row["time_zone"] for row in rows} == {zone}
