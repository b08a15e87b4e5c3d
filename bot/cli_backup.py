"""`python -m bot backup [--to PATH]`: a consistent copy of the SQLite database, checked.

Safe while `serve` runs. The copy is a new file (0600) at PATH or at
DATA_DIR/backups/bot-<UTC timestamp>.db; it is checked with PRAGMA integrity_check and
its path and size are printed. Exit 0 when the copy is made and sound.

On PostgreSQL this command copies nothing: it prints the pg_dump command for this
DATABASE_URL (never its password) on standard output, says why on standard error and
exits 2, so a scheduled job that calls it on PostgreSQL fails visibly instead of
believing a backup was made.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot.config import Settings
from bot.storage.backup import (
    BackupError,
    backup_sqlite,
    default_target,
    pg_dump_command,
    sqlite_file,
)

NOT_SQLITE = 2


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = sub.add_parser(
        "backup", help="copy the SQLite database (online, checked); PostgreSQL: print pg_dump"
    )
    backup.add_argument(
        "--to",
        type=Path,
        help="the new backup file (default DATA_DIR/backups/bot-<UTC timestamp>.db)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    now = datetime.now(UTC)
    try:
        source = sqlite_file(settings.database_url)
        if source is None:
            name = str(args.to) if args.to else now.strftime("bot-%Y%m%dT%H%M%SZ.dump")
            print(pg_dump_command(settings.database_url, name))
            print(
                "DATABASE_URL is PostgreSQL: nothing was copied; back it up with the pg_dump "
                "command above (the password from PGPASSWORD or ~/.pgpass)",
                file=sys.stderr,
            )
            return NOT_SQLITE
        target = args.to or default_target(settings.data_dir, now)
        done = backup_sqlite(source, target)
    except BackupError as exc:
        print(f"backup failed: {exc}", file=sys.stderr)
        return 1
    print(f"backup written: {done.path} ({done.size} bytes, integrity {done.integrity})")
    return 0
