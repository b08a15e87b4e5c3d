"""Apply Alembic migrations from code, so `serve` and `preview` bring any database up to date."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine) -> None:
    """Run every pending migration in one transaction."""

    def _run(sync_conn: Connection) -> None:
        command.upgrade(alembic_config(sync_conn), "head")

    async with engine.begin() as conn:
        await conn.run_sync(_run)
