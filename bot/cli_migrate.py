"""`python -m bot migrate [status] [--sql [--from-empty]]`: the database schema.

`migrate` applies the pending migrations under the "migrate" advisory lock (several
processes starting together migrate once). `migrate status` only reads: the current
revision, the head and what is pending, exit 0 at head and 3 when not. `migrate --sql`
prints the SQL a DBA applies by hand (alembic's offline mode) and changes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import ConfigError, Settings
from bot.storage.database import Database
from bot.storage.migrate import MigrationStatus, status, upgrade, upgrade_sql

NOT_AT_HEAD = 3
T = TypeVar("T")

EPILOG = f"""\
exit status: 0 done (for status: the schema is at head); 2 a configuration problem or a
database that cannot be reached; {NOT_AT_HEAD} (status only) the schema is not at head:
migrations are pending, or the database was migrated by a newer version.

--sql reads the database's current revision (nothing more) and prints the SQL from
there to head; with --from-empty it connects to nothing and prints the SQL that builds
the whole schema in an empty database. Apply it with, e.g., psql -v ON_ERROR_STOP=1 -f.
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `migrate` subcommand on the main parser's subparsers."""
    parser = sub.add_parser(
        "migrate",
        help="bring the database schema up to date (status: what is pending; --sql: the SQL)",
        description=__doc__.splitlines()[0],
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "action",
        nargs="?",
        choices=("status",),
        help="status: print the current revision, the head and the pending migrations",
    )
    parser.add_argument(
        "--sql",
        action="store_true",
        help="print the SQL of the pending migrations instead of running them",
    )
    parser.add_argument(
        "--from-empty",
        action="store_true",
        help="with --sql: the SQL for an empty database (connects to nothing)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.from_empty and not args.sql:
        raise ConfigError("--from-empty goes with --sql")
    if args.action == "status" and args.sql:
        raise ConfigError("migrate status and --sql are separate commands; use one")
    if args.sql:
        return _print_sql(settings, from_empty=args.from_empty)
    if args.action == "status":
        return _print_status(asyncio.run(_on_database(settings, status)))
    asyncio.run(_on_database(settings, upgrade))
    print("database is up to date")
    return 0


async def _on_database(settings: Settings, action: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    database = Database.for_settings(settings)
    try:
        try:
            return await action(database.engine)
        except ConfigError:
            raise
        except Exception as exc:  # any driver error: one line for the operator
            raise ConfigError(f"cannot open the database ({type(exc).__name__}: {exc})") from exc
    finally:
        await database.close()


def _print_status(found: MigrationStatus) -> int:
    print(f"current revision: {found.current or 'none (an empty database)'}")
    print(f"head revision:    {found.head}")
    if not found.known:
        print(
            f"the database's revision {found.current} is not one of this version's "
            "migrations: a newer version migrated it"
        )
        return NOT_AT_HEAD
    if not found.pending:
        print("pending:          none, the schema is at head")
        return 0
    for migration in found.pending:
        print(f"pending:          {migration.revision} {migration.title}")
    return NOT_AT_HEAD


def _print_sql(settings: Settings, *, from_empty: bool) -> int:
    dialect = make_url(settings.database_url).get_backend_name()
    if from_empty:
        current = None
    else:
        found = asyncio.run(_on_database(settings, status))
        if not found.known:
            raise ConfigError(
                f"the database's revision {found.current} is not one of this version's "
                "migrations; no SQL to print"
            )
        current = found.current
    sql = upgrade_sql(dialect, current)
    if not sql:
        print("-- the schema is at head: nothing to run", file=sys.stderr)
    sys.stdout.write(sql)
    return 0
