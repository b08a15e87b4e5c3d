"""Apply Alembic migrations from code, so `serve` and `preview` bring any database up to date."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.storage.locks import wait_xact_lock

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(
    connection: Connection | None = None, output_buffer: TextIO | None = None
) -> Config:
    config = Config(output_buffer=output_buffer)
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine) -> None:
    """Run every pending migration in one transaction.

    On PostgreSQL the transaction first waits for the "migrate" advisory lock, so
    processes starting together migrate one after another: the first does the work,
    the others then find the schema at head and do nothing (instead of failing on
    tables that appeared under them). The lock ends with the transaction.
    """

    def _run(sync_conn: Connection) -> None:
        command.upgrade(alembic_config(sync_conn), "head")

    async with engine.begin() as conn:
        await wait_xact_lock(conn, "migrate")
        await conn.run_sync(_run)


def migrations_head() -> str | None:
    """The newest revision the code ships (read from the migration scripts, no database)."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def schema_revision(conn: AsyncConnection) -> str | None:
    """The revision alembic recorded; None when there is no alembic_version table (yet)."""
    try:
        return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    except DBAPIError:
        return None


async def at_head(engine: AsyncEngine) -> bool:
    """Whether the database's schema is at the newest migration (MIGRATE_ON_START=false)."""
    async with engine.connect() as conn:
        return await schema_revision(conn) == migrations_head()


@dataclass(frozen=True)
class Migration:
    revision: str
    title: str  # the first line of the migration's docstring


@dataclass(frozen=True)
class MigrationStatus:
    """Where the database's schema stands against the migrations this version ships."""

    current: str | None  # None: no alembic_version table (an empty database)
    head: str | None
    pending: tuple[Migration, ...]  # oldest first
    known: bool  # False: the database's revision is not one of ours (a newer version's?)

    @property
    def at_head(self) -> bool:
        return self.current == self.head


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def pending_after(current: str | None) -> tuple[tuple[Migration, ...], bool]:
    """The migrations from ``current`` (exclusive) to head, oldest first, and whether
    ``current`` is a revision the scripts know."""
    scripts = _scripts()
    if current is not None and current not in {s.revision for s in scripts.walk_revisions()}:
        return (), False
    found = [
        Migration(s.revision, (s.doc or "").strip().splitlines()[0] if s.doc else "")
        for s in scripts.iterate_revisions("head", current or "base")
    ]
    return tuple(reversed(found)), True


async def status(engine: AsyncEngine) -> MigrationStatus:
    """Read the recorded revision (nothing is written) and compare it with the scripts."""
    async with engine.connect() as conn:
        current = await schema_revision(conn)
    pending, known = pending_after(current)
    return MigrationStatus(current, migrations_head(), pending, known)


def upgrade_sql(dialect_name: str, current: str | None) -> str:
    """The SQL that brings a ``dialect_name`` database from ``current`` (None: empty) to
    head, as alembic's offline mode writes it (BEGIN ... COMMIT on PostgreSQL, and the
    alembic_version updates), without connecting to any database."""
    out = io.StringIO()
    config = alembic_config(output_buffer=out)
    config.attributes["dialect_name"] = dialect_name
    if current != migrations_head():
        command.upgrade(config, f"{current}:head" if current else "head", sql=True)
    return out.getvalue()
