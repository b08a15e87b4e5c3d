"""Alembic environment: handed a live connection by bot.storage.migrate, or, for
`python -m bot migrate --sql`, only a dialect's name (offline mode: SQL text, no database)."""

from __future__ import annotations

from alembic import context

from bot.storage.models import metadata

if context.is_offline_mode():
    dialect = context.config.attributes.get("dialect_name")
    if dialect is None:
        raise RuntimeError("run `python -m bot migrate --sql` (bot.storage.migrate.upgrade_sql)")
    context.configure(
        dialect_name=dialect,
        target_metadata=metadata,
        literal_binds=True,
        render_as_batch=dialect == "sqlite",
    )
else:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `python -m bot migrate` (bot.storage.migrate)")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
with context.begin_transaction():
    context.run_migrations()
