"""SQL for conversation state. Core statements: this is the per-update hot path."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.engine import read_tx, write_tx
from bot.storage.models import ChatSession

table = ChatSession.__table__  # type: ignore[attr-defined]
MAX_TRACKED_MESSAGES = 100  # deleteMessages takes at most 100 ids
RECENT_UPDATES = 16  # Telegram redelivers within minutes; a handful of ids is plenty


@dataclass
class SessionState:
    """What we remember about one chat: settings, position, and our own message ids."""

    language: str | None = None
    team_id: str | None = None
    node: str = "home"
    page: int = 0
    menu_message_id: int | None = None
    message_ids: list[int] = field(default_factory=list)
    recent_update_ids: list[int] = field(default_factory=list)
    version: int = 0  # 0: not stored yet

    @property
    def onboarded(self) -> bool:
        return self.language is not None and self.team_id is not None

    def seen(self, update_id: int) -> bool:
        return update_id in self.recent_update_ids

    def track(self, *message_ids: int | None) -> None:
        """Remember message ids for "clear this chat", newest last, at most 100."""
        for message_id in message_ids:
            if message_id is not None and message_id not in self.message_ids:
                self.message_ids.append(message_id)
        del self.message_ids[:-MAX_TRACKED_MESSAGES]


async def load_session(engine: AsyncEngine, pseudonym: str) -> SessionState | None:
    async with read_tx(engine) as conn:
        row = (await conn.execute(select(table).where(table.c.pseudonym == pseudonym))).first()
    if row is None:
        return None
    return SessionState(
        row.language,
        row.team_id,
        row.node,
        row.page,
        row.menu_message_id,
        _int_list(row.message_ids),
        _int_list(row.recent_update_ids),
        row.version,
    )


def _int_list(raw: str) -> list[int]:
    try:
        return [int(i) for i in json.loads(raw)]
    except (ValueError, TypeError):
        return []


async def save_session(
    engine: AsyncEngine, pseudonym: str, state: SessionState, update_id: int, today: date
) -> bool:
    """Store the state if nobody else wrote this chat since it was read; remember ``update_id``.

    One statement: an upsert that only updates the row at the version that was read
    (a brand-new state only inserts). Returns False when another writer got there first.
    """
    recent = [*[i for i in state.recent_update_ids if i != update_id], update_id]
    values = {
        "pseudonym": pseudonym,
        "language": state.language,
        "team_id": state.team_id,
        "node": state.node,
        "page": state.page,
        "menu_message_id": state.menu_message_id,
        "message_ids": json.dumps(state.message_ids[-MAX_TRACKED_MESSAGES:]),
        "recent_update_ids": json.dumps(recent[-RECENT_UPDATES:]),
        "version": state.version + 1,
        "updated_on": today,
    }
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.pseudonym],
        set_={k: stmt.excluded[k] for k in values if k != "pseudonym"},
        where=table.c.version == state.version,
    )
    async with write_tx(engine) as conn:
        result = await conn.execute(stmt)
    if result.rowcount > 0:
        state.version += 1
        state.recent_update_ids = recent[-RECENT_UPDATES:]
        return True
    return False


async def delete_session(engine: AsyncEngine, pseudonym: str) -> int:
    async with write_tx(engine) as conn:
        result = await conn.execute(delete(table).where(table.c.pseudonym == pseudonym))
    return result.rowcount


async def purge_idle_sessions(engine: AsyncEngine, idle_before: date) -> int:
    """Delete conversations nobody has used since ``idle_before``."""
    async with write_tx(engine) as conn:
        result = await conn.execute(delete(table).where(table.c.updated_on < idle_before))
    return result.rowcount
