"""A staff reply's relay, as the case_message row records it: started, then its outcome.

The reply is stored with delivery "sending" in the transaction that stores it; the relay's
outcome ("sent" or "failed: <reason>") replaces it after the network call. A process that
dies in between leaves "sending": the sweeper (the auto-release round) turns relays started
long enough ago into "delivery unknown", shown to staff on the case, never left silent.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage.cases import messages

RELAY_STARTED = "sending"
RELAY_UNKNOWN = "failed: delivery_unknown"


async def mark_unfinished(conn: AsyncConnection, started_before: datetime) -> int:
    """Relays that started before ``started_before`` and never finished: delivery unknown."""
    m = messages.c
    result = await conn.execute(
        update(messages)
        .where(m.author == "staff", m.delivery == RELAY_STARTED, m.created_at < started_before)
        .values(delivery=RELAY_UNKNOWN)
    )
    return int(result.rowcount or 0)
