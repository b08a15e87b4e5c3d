"""SQL for the attempt counters behind the sign-in and case-lookup brakes (``attempt_counter``).

A row counts failures for one key in a window: ``scope`` says what the key is ("pair": a
client address and a username, "addr": a client address over all usernames, "lookup":
case-code misses by one account); the keys are keyed digests made by the service, never
the clear address or username. ``reserve`` is one INSERT ... ON CONFLICT DO UPDATE ...
WHERE ... RETURNING (the same on SQLite and PostgreSQL): a row that is not blocked gets
one more failure counted, and a new block when the count passes its free allowance; a
blocked row is left as it is and comes back as no row. Concurrent reservations of one row
queue on its row lock (PostgreSQL) or the write lock (SQLite), so no burst outruns it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage.models import AttemptCounter, UTCDateTime, table_of

counters = table_of(AttemptCounter)


@dataclass(frozen=True)
class Brake:
    """How one scope brakes: ``free`` failures, then the delays (seconds) of the next ones.

    After ``free + i`` failures the key waits ``delays[i]`` (the last delay repeats); a row
    whose latest block (or, never blocked, whose window start) is older than ``forget``
    seconds starts again from nothing.
    """

    scope: str
    free: int
    delays: tuple[int, ...]
    forget: int


@dataclass(frozen=True)
class Key:
    scope: str
    address_key: str = ""
    account_key: str = ""


def _insert(conn: AsyncConnection) -> Any:
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


def _at(value: datetime) -> Any:
    return literal(value, UTCDateTime())


async def reserve(
    conn: AsyncConnection, brakes: Sequence[Brake], keys: Sequence[Key], now: datetime
) -> set[Key]:
    """Count one failure on each key that is not blocked now; the keys that were counted.

    One statement for all keys. A key missing from the answer was blocked (nothing about
    it changed). The caller rolls back when it needs all or nothing.
    """
    c = counters.c
    stale_when = or_(
        *[
            and_(
                c.scope == b.scope,
                func.coalesce(c.blocked_until, c.window_start)
                < _at(now - timedelta(seconds=b.forget)),
            )
            for b in brakes
        ]
    )
    failures = case((stale_when, 1), else_=c.failures + 1)
    ladder: list[tuple[Any, Any]] = []
    for brake in brakes:
        # The longest block first: the first branch whose count is reached wins.
        for index in reversed(range(len(brake.delays))):
            reached = failures >= brake.free + index
            until = _at(now + timedelta(seconds=brake.delays[index]))
            ladder.append((and_(c.scope == brake.scope, reached), until))
    blocked_until = case(*ladder, else_=None)
    rows = [
        {
            "scope": k.scope,
            "address_key": k.address_key,
            "account_key": k.account_key,
            "failures": 1,
            "window_start": now,
            "blocked_until": None,
        }
        for k in keys
    ]
    statement = _insert(conn)(counters).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=["scope", "address_key", "account_key"],
        set_={
            "failures": failures,
            "window_start": case((stale_when, _at(now)), else_=c.window_start),
            "blocked_until": blocked_until,
        },
        where=or_(c.blocked_until.is_(None), c.blocked_until <= _at(now)),
    ).returning(c.scope, c.address_key, c.account_key)
    result = await conn.execute(statement)
    return {Key(scope, address, account) for scope, address, account in result.all()}


async def blocked_until(conn: AsyncConnection, keys: Sequence[Key]) -> datetime | None:
    """The latest block of these keys (None: none is blocked, or none has a row)."""
    c = counters.c
    match = or_(
        *[
            and_(c.scope == k.scope, c.address_key == k.address_key, c.account_key == k.account_key)
            for k in keys
        ]
    )
    found = (await conn.execute(select(c.blocked_until).where(match))).scalars().all()
    stamps = [stamp for stamp in found if stamp is not None]
    return max(stamps) if stamps else None


async def clear(conn: AsyncConnection, key: Key) -> None:
    """Forget a key (a correct password clears its address and account pair)."""
    c = counters.c
    await conn.execute(
        delete(counters).where(
            c.scope == key.scope, c.address_key == key.address_key, c.account_key == key.account_key
        )
    )


async def give_back(conn: AsyncConnection, key: Key) -> None:
    """Take back one counted failure that turned out to be a success (never below zero)."""
    c = counters.c
    await conn.execute(
        update(counters)
        .where(
            c.scope == key.scope, c.address_key == key.address_key, c.account_key == key.account_key
        )
        .values(failures=case((c.failures > 0, c.failures - 1), else_=0))
    )


async def delete_forgotten(conn: AsyncConnection, before: datetime) -> int:
    """Rows whose latest block (or window start) is older than ``before``: how many went."""
    c = counters.c
    statement = delete(counters).where(func.coalesce(c.blocked_until, c.window_start) < before)
    return int((await conn.execute(statement)).rowcount)
