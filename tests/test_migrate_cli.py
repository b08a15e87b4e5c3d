"""`python -m bot migrate`, `migrate status` and `migrate --sql`, on SQLite and PostgreSQL.

The commands run through ``bot.__main__.main`` as an operator would type them (settings
from the environment, output on stdout, the exit status returned). ``--sql`` is checked
the way a DBA uses it: its output applied to an empty database (psql on PostgreSQL,
sqlite3 on SQLite) gives the same tables, columns and indexes as ``migrate`` itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from alembic import command
from sqlalchemy.engine import Connection, make_url

from bot.__main__ import main
from bot.storage.engine import create_engine
from bot.storage.migrate import alembic_config, migrations_head, pending_after
from tests.conftest import _reset_postgres

Capsys = pytest.CaptureFixture[str]


@pytest.fixture
def empty_url(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty database (no tables at all) that DATABASE_URL names."""
    if database_url.startswith("postgresql"):
        _reset_postgres(database_url)
    monkeypatch.setenv("DATABASE_URL", database_url)
    return database_url


def _migrate_to(database_url: str, revision: str) -> None:
    """Bring the database to an older revision, as an older version of the product left it."""

    def run(conn: Connection) -> None:
        command.upgrade(alembic_config(conn), revision)

    async def go() -> None:
        engine = create_engine(database_url)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(run)
        finally:
            await engine.dispose()

    asyncio.run(go())


def _revision(database_url: str) -> str | None:
    return _schema(database_url)[1]


def _schema(database_url: str) -> tuple[set[tuple[str, ...]], str | None]:
    """Every (table, column, type, nullable) and index definition, and alembic's revision."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        db = sqlite3.connect(str(url.database))
        try:
            found: set[tuple[str, ...]] = set()
            tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            for table in tables:
                for _cid, name, kind, notnull, _default, _pk in db.execute(
                    f'PRAGMA table_info("{table}")'
                ):
                    found.add((table, name, kind, str(notnull)))
            for (sql,) in db.execute("SELECT sql FROM sqlite_master WHERE type='index'"):
                if sql:
                    found.add(("index", " ".join(sql.split())))
            revision = None
            if "alembic_version" in tables:
                row = db.execute("SELECT version_num FROM alembic_version").fetchone()
                revision = row[0] if row else None
            return found, revision
        finally:
            db.close()

    async def read() -> tuple[set[tuple[str, ...]], str | None]:
        conn = await asyncpg.connect(
            url.set(drivername="postgresql").render_as_string(hide_password=False), timeout=10
        )
        try:
            columns = await conn.fetch(
                "SELECT table_name, column_name, data_type, is_nullable, "
                "coalesce(column_default, '') AS d FROM information_schema.columns "
                "WHERE table_schema = 'public'"
            )
            indexes = await conn.fetch(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'"
            )
            has_version = await conn.fetchval("SELECT to_regclass('public.alembic_version')")
            revision = (
                await conn.fetchval("SELECT version_num FROM alembic_version")
                if has_version
                else None
            )
        finally:
            await conn.close()
        found = {tuple(str(v) for v in row.values()) for row in columns}
        found |= {("index", row["indexdef"]) for row in indexes}
        return found, revision

    return asyncio.run(read())


def test_status_of_an_empty_database_lists_every_migration_and_exits_3(
    empty_url: str, capsys: Capsys
) -> None:
    assert main(["migrate", "status"]) == 3
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "current revision: none (an empty database)"
    assert lines[1] == f"head revision:    {migrations_head()}"
    pending = [line.split()[1] for line in lines[2:]]
    assert pending == [m.revision for m in pending_after(None)[0]]
    assert pending[0] == "0001" and pending[-1] == migrations_head()
    assert _schema(empty_url) == (set(), None)  # status only reads


def test_migrate_then_status_at_head_exits_0(empty_url: str, capsys: Capsys) -> None:
    assert main(["migrate"]) == 0
    assert capsys.readouterr().out == "database is up to date\n"
    assert main(["migrate", "status"]) == 0
    out = capsys.readouterr().out
    assert f"current revision: {migrations_head()}\n" in out
    assert "pending:          none, the schema is at head" in out
    assert main(["migrate", "--sql"]) == 0  # nothing to run
    captured = capsys.readouterr()
    assert captured.out == "" and "at head" in captured.err


def test_a_database_behind_shows_what_is_pending_and_its_sql(
    empty_url: str, capsys: Capsys
) -> None:
    _migrate_to(empty_url, "0003")
    assert main(["migrate", "status"]) == 3
    out = capsys.readouterr().out
    assert "current revision: 0003\n" in out
    assert [line.split()[1] for line in out.splitlines() if line.startswith("pending:")] == [
        "0004",
        "0005",
        "0006",
        "0007",
        "0008",
        "0009",
        "0010",
        "0011",
        "0012",
        "0013",
        "0014",
    ]
    assert main(["migrate", "--sql"]) == 0
    sql = capsys.readouterr().out
    assert "Running upgrade 0003 -> 0004" in sql and "Running upgrade 0004 -> 0005" in sql
    assert "Running upgrade 0005 -> 0006" in sql and "attempt_counter" in sql
    assert "Running upgrade 0006 -> 0007" in sql and "staff_session" in sql
    assert "ix_stats_counter_kind_day" in sql and "close_notice" in sql
    assert "CREATE TABLE chat_session" not in sql  # only what is pending
    assert "Running upgrade 0007 -> 0008" in sql and "staff_mfa" in sql
    assert "staff_recovery_code" in sql and "staff_identity" in sql
    assert "Running upgrade 0008 -> 0009" in sql and "held_back" in sql
    assert "Running upgrade 0009 -> 0010" in sql and "staff_invite" in sql
    assert "Running upgrade 0010 -> 0011" in sql and "team_setting" in sql
    assert "Running upgrade 0011 -> 0012" in sql and "stats_rollup_state" in sql
    assert "Running upgrade 0012 -> 0013" in sql and "stats_book_state" in sql
    assert "Running upgrade 0013 -> 0014" in sql
    assert f"UPDATE alembic_version SET version_num='{migrations_head()}'" in sql
    assert _revision(empty_url) == "0003"  # --sql changed nothing


def test_a_revision_this_version_does_not_know_is_not_at_head(
    empty_url: str, capsys: Capsys
) -> None:
    assert main(["migrate"]) == 0

    async def newer() -> None:
        from sqlalchemy import text

        engine = create_engine(empty_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        finally:
            await engine.dispose()

    asyncio.run(newer())
    capsys.readouterr()
    assert main(["migrate", "status"]) == 3
    assert "9999 is not one of this version's migrations" in capsys.readouterr().out
    assert main(["migrate", "--sql"]) == 2
    assert "no SQL to print" in capsys.readouterr().err


def test_sql_from_empty_applied_by_hand_gives_the_schema_migrate_gives(
    empty_url: str, capsys: Capsys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = make_url(empty_url)
    if url.get_backend_name() == "sqlite":
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'never-created.db'}")
    else:  # --from-empty connects to nothing: a port where no server listens is fine
        monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nothing")
    assert main(["migrate", "--sql", "--from-empty"]) == 0
    sql = capsys.readouterr().out
    assert not (tmp_path / "never-created.db").exists()
    script = tmp_path / "schema.sql"
    script.write_text(sql, encoding="utf-8")

    with _second_database(empty_url, tmp_path) as by_hand:
        if url.get_backend_name() == "sqlite":
            db = sqlite3.connect(str(make_url(by_hand).database))
            try:
                db.executescript(sql)
            finally:
                db.close()
        else:
            plain = make_url(by_hand).set(drivername="postgresql")
            subprocess.run(
                [
                    "psql",
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-f",
                    str(script),
                    plain.render_as_string(hide_password=False),
                ],
                check=True,
                capture_output=True,
            )
        monkeypatch.setenv("DATABASE_URL", empty_url)
        assert main(["migrate"]) == 0
        expected, expected_revision = _schema(empty_url)
        got, got_revision = _schema(by_hand)
    assert expected_revision == got_revision == migrations_head()
    assert {t for t, *_ in expected} >= {"case_request", "chat_session", "stats_counter"}
    assert got == expected


@contextlib.contextmanager
def _second_database(database_url: str, tmp_path: Path) -> Iterator[str]:
    """Another empty database beside the test's: a SQLite file, or a PostgreSQL database
    on the same server (dropped afterwards)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'by-hand.db'}"
        return
    name = f"relatives_by_hand_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> None:
        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_help_says_what_the_exit_status_means(capsys: Capsys) -> None:
    with pytest.raises(SystemExit):
        main(["migrate", "--help"])
    out = capsys.readouterr().out
    assert "status" in out and "--sql" in out and "--from-empty" in out
    assert "3 (status only) the schema is not at head" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["migrate", "--from-empty"], "--from-empty goes with --sql"),
        (["migrate", "status", "--sql"], "use one"),
    ],
)
def test_option_mistakes_are_one_line(
    argv: list[str], message: str, capsys: Capsys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_an_unreachable_database_is_one_line(
    capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nothing")
    assert main(["migrate", "status"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("configuration error: cannot open the database")
    assert err.count("\n") == 1
