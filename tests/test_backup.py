"""`python -m bot backup`: SQLite's online backup to a new 0600 file; pg_dump for PostgreSQL."""

from __future__ import annotations

import asyncio
import shlex
import shutil
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.domain import StaffUser
from bot.emulator.spec import BotApiSpec
from bot.storage.backup import BackupError, pg_dump_command
from tests.conftest import TEST_SECRET, running_preview
from tests.staff_helpers import new_request

ADMIN = StaffUser(id=1, username="root", role="admin", teams=frozenset())


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The product's settings for the command: a SQLite database in DATA_DIR."""
    data = tmp_path / "data"
    monkeypatch.setenv("DATA_DIR", str(data))
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return data


async def make_cases(database_url: str, tmp_path: Path, spec: BotApiSpec, n: int) -> list[str]:
    """Start the product on ``database_url``, file ``n`` contact requests, stop; their codes."""
    async with running_preview(database_url, tmp_path, spec) as server:
        return [(await new_request(server)).code for _ in range(n)]


def audit_actions(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT action FROM audit_event ORDER BY id")]


def test_backup_during_a_write_transaction_has_the_committed_rows(
    env: Path, tmp_path: Path, spec: BotApiSpec, capsys: pytest.CaptureFixture[str]
) -> None:
    live = env / "bot.db"
    codes = asyncio.run(make_cases(f"sqlite+aiosqlite:///{live}", tmp_path, spec, 2))
    with sqlite3.connect(live) as db:
        db.execute("INSERT INTO audit_event (at, staff, action) VALUES ('2026-12-01', 'a', 'one')")
    writer = sqlite3.connect(live, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # serve in the middle of a write
        writer.execute(
            "INSERT INTO audit_event (at, staff, action) VALUES ('2026-12-01', 'a', 'two')"
        )
        target = tmp_path / "copy.db"
        assert main(["backup", "--to", str(target)]) == 0
        writer.execute("COMMIT")
    finally:
        writer.close()
    out = capsys.readouterr().out
    assert f"backup written: {target} ({target.stat().st_size} bytes, integrity ok)" in out
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert not Path(f"{target}-wal").exists()  # one self-contained file
    with sqlite3.connect(target) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        found = {row[0] for row in copy.execute("SELECT code FROM case_request")}
    assert found == set(codes)
    assert audit_actions(target)[-1] == "one"  # the committed row; not the one in flight
    assert audit_actions(live)[-1] == "two"


def test_default_target_is_a_timestamped_file_in_data_dir(
    env: Path, tmp_path: Path, spec: BotApiSpec, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(make_cases(f"sqlite+aiosqlite:///{env / 'bot.db'}", tmp_path, spec, 1))
    assert main(["backup"]) == 0
    (made,) = (env / "backups").glob("bot-*Z.db")
    assert len(made.name) == len("bot-20261201T144240Z.db")
    assert f"backup written: {made} (" in capsys.readouterr().out
    assert stat.S_IMODE(made.stat().st_mode) == 0o600
    assert stat.S_IMODE((env / "backups").stat().st_mode) & 0o077 == 0


def test_backup_refuses_to_overwrite_and_a_missing_database(
    env: Path, tmp_path: Path, spec: BotApiSpec, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backup"]) == 1
    assert "there is no SQLite database at" in capsys.readouterr().err
    asyncio.run(make_cases(f"sqlite+aiosqlite:///{env / 'bot.db'}", tmp_path, spec, 1))
    taken = tmp_path / "taken.db"
    taken.write_bytes(b"an earlier backup")
    assert main(["backup", "--to", str(taken)]) == 1
    err = capsys.readouterr().err
    assert "exists already" in err and "Traceback" not in err and err.count("\n") == 1
    assert taken.read_bytes() == b"an earlier backup"


async def test_a_restored_backup_serves_its_cases(
    env: Path, tmp_path: Path, spec: BotApiSpec
) -> None:
    """Stop, copy the backup into place, start: the case is there, every text readable."""
    live = env / "bot.db"
    (code,) = await make_cases(f"sqlite+aiosqlite:///{live}", tmp_path, spec, 1)
    backup = tmp_path / "nightly.db"
    assert await asyncio.to_thread(main, ["backup", "--to", str(backup)]) == 0
    restored = tmp_path / "restored" / "bot.db"
    restored.parent.mkdir()
    shutil.copyfile(backup, restored)
    async with running_preview(f"sqlite+aiosqlite:///{restored}", tmp_path, spec) as server:
        assert server.core is not None
        detail = await server.core.cases.detail(ADMIN, code)
    assert detail.item.code == code
    assert detail.messages[0].body == "My brother has new friends and talks about violence."


def test_postgresql_prints_pg_dump_without_the_password(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "postgresql://bot:s3cret-pw@db.kommun.se:5433/botdb?sslmode=require"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    assert main(["backup", "--to", "/var/backups/bot.dump"]) == 2
    captured = capsys.readouterr()
    assert "s3cret-pw" not in captured.out + captured.err
    command = shlex.split(captured.out.strip())
    assert command[:3] == ["pg_dump", "--format=custom", "--file=/var/backups/bot.dump"]
    assert command[3] == "--dbname=postgresql://bot@db.kommun.se:5433/botdb?sslmode=require"
    assert "nothing was copied" in captured.err


def test_sqlalchemy_ssl_spelling_becomes_libpq_sslmode() -> None:
    command = pg_dump_command("postgresql+asyncpg://bot@db/botdb?ssl=require", "x.dump")
    assert shlex.split(command)[-1] == "--dbname=postgresql://bot@db/botdb?sslmode=require"


def test_the_printed_pg_dump_command_backs_up_the_database(
    pg_database_url: str, tmp_path: Path, spec: BotApiSpec
) -> None:
    """Run what the command prints against the test PostgreSQL; pg_restore reads the dump."""
    codes = asyncio.run(make_cases(pg_database_url, tmp_path, spec, 1))
    dump = tmp_path / "bot.dump"
    done = subprocess.run(
        shlex.split(pg_dump_command(pg_database_url, str(dump))),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    listing = subprocess.run(
        ["pg_restore", "--list", str(dump)], capture_output=True, text=True, timeout=60
    )
    assert "TABLE DATA public case_request" in listing.stdout, listing.stdout
    data = subprocess.run(
        ["pg_restore", "--data-only", "--table=case_request", "--file=-", str(dump)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert codes[0] in data.stdout


def test_in_memory_sqlite_is_refused() -> None:
    from bot.storage.backup import sqlite_file

    with pytest.raises(BackupError, match="in-memory"):
        sqlite_file("sqlite+aiosqlite:///:memory:")
