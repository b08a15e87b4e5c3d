"""Backups: SQLite's online backup API to a new private file; pg_dump's command for PostgreSQL.

SQLite: ``sqlite3.Connection.backup`` copies a consistent snapshot page by page while
``serve`` keeps running (WAL: the copy reads a snapshot and never blocks a writer; a write
transaction still open is not in the copy). The copy is a new file created 0600, switched
to a rollback journal (one self-contained file, no -wal beside it), then checked with
``PRAGMA integrity_check``; a copy that fails the check is deleted.

PostgreSQL is backed up with its own tool: ``pg_dump_command`` is the command for this
DATABASE_URL (host, port, user, database, TLS settings; never the password).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from bot.storage.pg_connect import pg_target

_LIBPQ_TLS = ("sslrootcert", "sslcert", "sslkey")


class BackupError(Exception):
    """A backup that cannot be made; the message is one line for the operator."""


@dataclass(frozen=True)
class SqliteBackup:
    path: Path
    size: int  # bytes
    integrity: str  # "ok"


def sqlite_file(database_url: str) -> Path | None:
    """The SQLite file DATABASE_URL names; None for any other database."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return None
    if not url.database or url.database == ":memory:":
        raise BackupError("DATABASE_URL is an in-memory SQLite database: there is nothing to copy")
    return Path(url.database)


def default_target(data_dir: Path, now: datetime) -> Path:
    """DATA_DIR/backups/bot-<UTC timestamp>.db (``now`` aware; named in UTC)."""
    return data_dir / "backups" / now.astimezone(UTC).strftime("bot-%Y%m%dT%H%M%SZ.db")


def backup_sqlite(source: Path, target: Path) -> SqliteBackup:
    """Copy ``source`` to the new file ``target`` (0600) and check the copy."""
    if not source.is_file():
        raise BackupError(f"there is no SQLite database at {source}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # O_EXCL: never overwrite an earlier backup; 0600 from the first byte (umask aside).
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise BackupError(f"{target} exists already; choose another --to") from None
    except OSError as exc:
        raise BackupError(
            f"cannot create {target} ({exc.strerror or type(exc).__name__})"
        ) from None
    os.close(fd)
    os.chmod(target, 0o600)
    try:
        integrity = _copy(source, target)
    except BaseException:
        with contextlib.suppress(OSError):
            target.unlink()
        raise
    if integrity != "ok":
        target.unlink()
        raise BackupError(f"the copy failed PRAGMA integrity_check ({integrity}); it was deleted")
    return SqliteBackup(target, target.stat().st_size, integrity)


def _copy(source: Path, target: Path) -> str:
    try:
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open {source} ({exc})") from None
    try:
        dst = sqlite3.connect(target, timeout=30)
        try:
            src.backup(dst)  # one step: a single consistent snapshot of the source
            dst.execute("PRAGMA journal_mode=DELETE")  # one file: no -wal beside the copy
            rows = dst.execute("PRAGMA integrity_check").fetchall()
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise BackupError(f"the backup failed ({type(exc).__name__}: {exc})") from None
    finally:
        src.close()
    return "; ".join(str(row[0]) for row in rows)


def pg_dump_command(database_url: str, file_name: str) -> str:
    """The pg_dump command for this PostgreSQL DATABASE_URL, without its password.

    libpq reads the password from PGPASSWORD, PGPASSFILE or ~/.pgpass; TLS parameters
    (sslmode, sslrootcert, sslcert, sslkey) stay in the connection URI, with SQLAlchemy's
    ``ssl=`` spelt as libpq's ``sslmode=``.
    """
    url = make_url(database_url)
    target = pg_target(url)
    query: dict[str, str] = {}
    if target.sslmode is not None:
        query["sslmode"] = target.sslmode
    for name in _LIBPQ_TLS:
        value = url.query.get(name)
        if isinstance(value, str) and value:
            query[name] = value
    libpq = URL.create(
        "postgresql",
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=query,
    )
    uri = libpq.render_as_string(hide_password=False)
    return shlex.join(["pg_dump", "--format=custom", f"--file={file_name}", f"--dbname={uri}"])
