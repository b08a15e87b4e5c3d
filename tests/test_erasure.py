"""Erasure that erases (#11): after /delete and the retention purge, the SQLite files
(database, WAL, shared memory) hold none of what the relative and staff wrote.

The files are read as raw bytes while the server still runs (so the WAL and -shm are
there as in production), after a real conversation through the emulator and real staff
pages. The control leg runs the same story with ``secure_delete`` off and finds the
probes: the grep can fail, and what makes it pass is the erasure.
"""

from __future__ import annotations

import re
import sqlite3
import stat
import unicodedata
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain import CODE_ALPHABET
from bot.emulator.spec import BotApiSpec
from bot.runtime import Server
from bot.services.scrub import scrub
from bot.storage import database as database_module
from bot.storage import engine as engine_module
from bot.storage.database import Database
from bot.storage.engine import prepare_sqlite_file, reclaim_sqlite
from tests.conftest import running_preview
from tests.helpers import Relative
from tests.staff_helpers import create_accounts, signed_in

CODE_RE = re.compile(rf"[{CODE_ALPHABET}]{{3}}-[{CODE_ALPHABET}]{{3}}")

NAME = "Tindra Vallqvist"
STREET = "Ormbunksvägen 41"
PHONE = "070-987 65 43"
RELATIVE_TEXT = f"Min son umgås med {NAME} som bor på {STREET}, ring mig på 070-555 12 34"
FOLLOW_UP = "En sak till om Vallqvist: hon kallar sig Zephyrine i chatten"
NOTE = f"Mamman nås på {PHONE} efter klockan fem, säger Ormbunks-grannen"
REPLY = "Tack, vi hör av oss via Pelargonfältet-samtalet i morgon"
PROBES = (NAME, "Vallqvist", STREET, "Ormbunks", "Zephyrine", PHONE, "9876543", "Pelargonf")


def forms(probe: str) -> set[bytes]:
    """The bytes a probe can be stored as: UTF-8 (composed and decomposed), its scrubbed text."""
    texts = {probe, unicodedata.normalize("NFD", probe), scrub(probe).text}
    return {t.encode() for t in texts if len(t) >= 7}


def digits_of(probe: str) -> bytes | None:
    digits = "".join(c for c in probe if c.isdigit())
    return digits.encode() if len(digits) >= 7 else None


def found_in_files(db: Path) -> dict[str, list[str]]:
    """Which probes occur in which of the raw files (database, -wal, -shm)."""
    found: dict[str, list[str]] = {}
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        if not path.exists():
            continue
        raw = path.read_bytes()
        for probe in PROBES:
            needles = forms(probe) | ({d} if (d := digits_of(probe)) else set())
            if any(needle in raw for needle in needles):
                found.setdefault(probe, []).append(path.name)
    return found


async def story(server: Server) -> str:
    """A relative asks for contact with names, a street and a number; staff claim, note, reply."""
    assert server.core is not None and server.emulator is not None
    await create_accounts(server)
    relative = Relative(server.emulator)
    await relative.onboard("sv", "laholm")
    await relative.taps("g:contact")
    await relative.taps("k:new")
    for code in ("k:c:child", "k:t:online", "k:u:soon", "k:r:chat", "k:l:sv"):
        await relative.taps(code)
    await relative.says(RELATIVE_TEXT)
    done = await relative.taps("k:ok")
    found = CODE_RE.search(done["text"])
    assert found, done["text"]
    code = found.group()
    await relative.says(FOLLOW_UP)
    async with signed_in(server, "anna") as anna:
        await anna.get(f"/staff/cases/{code}")
        await anna.post(f"/staff/cases/{code}/claim", {})
        await anna.post(f"/staff/cases/{code}/note", {"text": NOTE})
        await anna.post(f"/staff/cases/{code}/reply", {"text": REPLY})
        assert "Vallqvist" in anna.page and PHONE in anna.page and "Pelargonf" in anna.page
    await server.emulator.wait_idle()
    question = await relative.says("/delete")
    assert "d:y" in str(question["reply_markup"])
    await relative.taps("d:y")
    return code


async def purge_past_retention(server: Server) -> None:
    """The purge loop's round, run as if the retention period had passed."""
    core = server.core
    assert core is not None
    later = datetime.now(UTC) + timedelta(days=core.settings.case_text_retention_days + 1)
    core.cases.now = lambda: later
    await Server._purge_round(core)


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "data" / "bot.db"


async def test_nothing_written_is_left_in_the_files(
    db_file: Path, tmp_path: Path, spec: BotApiSpec
) -> None:
    url = f"sqlite+aiosqlite:///{db_file}"
    async with running_preview(url, tmp_path, spec) as server:
        code = await story(server)
        assert server.core is not None
        before = found_in_files(db_file)
        written = {"Vallqvist", "Ormbunks", PHONE, "Zephyrine", "Pelargonf"}
        assert written <= set(before), before  # the reader finds them while they are stored
        await purge_past_retention(server)
        assert found_in_files(db_file) == {}
        # The case itself stays for statistics, its texts gone (what the purge promises).
        async with server.core.database.read_tx() as conn:
            bodies = (
                await conn.exec_driver_sql(
                    "SELECT count(*) FROM case_message WHERE body IS NOT NULL"
                )
            ).scalar()
        assert bodies == 0 and code
        for path in (db_file, Path(f"{db_file}-wal"), Path(f"{db_file}-shm")):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert stat.S_IMODE(db_file.parent.stat().st_mode) == 0o700
        with closing(sqlite3.connect(db_file)) as db:
            assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
    assert found_in_files(db_file) == {}


async def test_control_without_secure_delete_the_probes_stay(
    db_file: Path, tmp_path: Path, spec: BotApiSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same story with secure_delete off: the deleted texts are still in the file."""
    off = ("PRAGMA secure_delete=OFF", "PRAGMA auto_vacuum=INCREMENTAL")
    monkeypatch.setattr(engine_module, "SQLITE_ERASURE_PRAGMAS", off)
    monkeypatch.setattr(database_module, "SQLITE_ERASURE_PRAGMAS", off)
    url = f"sqlite+aiosqlite:///{db_file}"
    async with running_preview(url, tmp_path, spec) as server:
        await story(server)
        await purge_past_retention(server)
        left = found_in_files(db_file)
    # Freed cells are reused by later writes, so not every probe survives by chance; the
    # relative's follow-up, the staff note and the reply did in every run so far.
    assert {"Vallqvist", "Zephyrine", PHONE, "Pelargonf"} <= set(left), left


def test_files_are_created_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    import os

    old = os.umask(0o000)
    try:
        path = tmp_path / "new" / "deeper" / "bot.db"
        prepare_sqlite_file(str(path))
        with closing(sqlite3.connect(path, isolation_level=None)) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE t (x)")
            db.execute("INSERT INTO t VALUES (1)")
            for suffix in ("", "-wal", "-shm"):
                mode = stat.S_IMODE(Path(f"{path}{suffix}").stat().st_mode)
                assert mode == 0o600, (suffix, oct(mode))
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    finally:
        os.umask(old)


def test_an_existing_world_readable_file_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    sqlite3.connect(path).close()
    path.chmod(0o644)
    prepare_sqlite_file(str(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_old_file_without_auto_vacuum_is_converted_once(tmp_path: Path) -> None:
    """A database made before auto_vacuum: one VACUUM in the round when it is small; a
    big one is left for `purge --vacuum` and says so; the freed pages then leave the file."""
    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t (x)")
        db.executemany("INSERT INTO t VALUES (?)", [("x" * 3000,) for _ in range(200)])
    big = reclaim_sqlite(str(path), vacuum_once_max_bytes=1024)
    assert big.needs_vacuum and not big.vacuumed
    done = reclaim_sqlite(str(path))
    assert done.vacuumed and not done.needs_vacuum and done.wal_truncated
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
        db.execute("DELETE FROM t")
    size = path.stat().st_size
    again = reclaim_sqlite(str(path))
    assert again.freed_pages > 100 and not again.vacuumed
    assert path.stat().st_size < size / 10
    wal = Path(f"{path}-wal")
    assert not wal.exists() or wal.stat().st_size == 0  # the last connection removes it


async def test_control_without_the_checkpoint_the_wal_keeps_everything(
    db_file: Path, tmp_path: Path, spec: BotApiSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    """secure_delete zeroes the database's pages, but the WAL keeps their earlier copies
    until the purge round's checkpoint truncates it: without that step, all is there."""

    async def no_reclaim(self: Database, **_: object) -> None:
        return None

    monkeypatch.setattr(Database, "reclaim", no_reclaim)
    url = f"sqlite+aiosqlite:///{db_file}"
    async with running_preview(url, tmp_path, spec) as server:
        await story(server)
        await purge_past_retention(server)
        left = found_in_files(db_file)
    assert set(left) == set(PROBES) - {"9876543"}, left
    assert all(files == [f"{db_file.name}-wal"] for files in left.values()), left
