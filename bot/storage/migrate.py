"""Apply Alembic migrations from code, so `serve` and `preview` bring any database up to date."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.storage.locks import wait_xact_lock

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
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
