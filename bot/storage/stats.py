"""SQL for anonymous statistics: daily counters and today's distinct-relative digests.

Plain SQLAlchemy Core on a connection the service opened (``engine.write_tx`` /
``read_tx``). Counters are added to with an upsert (``count = count + excluded``),
so several processes flushing the same cell add up instead of overwriting.

Read helpers for reporting (``bot.services.stats.StatsService``):

- ``counters(conn, start, end, team_ids, kinds=None)`` -> rows of
  ``(day, team_id, language, kind, key, count)`` for ``start <= day <= end``
  (both inclusive), ``team_id`` in ``team_ids`` (an empty collection = no rows),
  optionally only the given kinds. Raw daily cells: suppression is the caller's job.
- Sums over a period for reports: ``bot.storage.stats_report``.

Cells: ``team_id`` '' means the relative had not chosen a municipality (or chose
none) when it was counted; include '' in ``team_ids`` where such counts belong
(e.g. an admin's all-teams view). ``language`` '' = unknown. Kind "relatives"
(distinct relatives per day) is per team: a relative seen with two teams that day
counts once for each; its language is ''.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage.models import StatsCounter, StatsDailySeen, table_of

counter_table = table_of(StatsCounter)
seen_table = table_of(StatsDailySeen)

CounterKey = tuple[date, str, str, str, str]  # day, team_id, language, kind, key


@dataclass(frozen=True, slots=True)
class CounterRow:
    day: date
    team_id: str
    language: str
    kind: str
    key: str
    count: int


def _insert(conn: AsyncConnection) -> Any:
    """The dialect's INSERT, which has ON CONFLICT (the two differ only in their types)."""
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


async def add_counts(conn: AsyncConnection, increments: Mapping[CounterKey, int]) -> None:
    """Add each increment to its cell, creating the cell when it is new."""
    if not increments:
        return
    rows = [
        {"day": d, "team_id": t, "language": lang, "kind": k, "key": key, "count": n}
        for (d, t, lang, k, key), n in sorted(increments.items())
    ]
    statement = _insert(conn)(counter_table)
    statement = statement.on_conflict_do_update(
        index_elements=["day", "team_id", "language", "kind", "key"],
        set_={"count": counter_table.c.count + statement.excluded.count},
    )
    await conn.execute(statement, rows)


async def add_seen(conn: AsyncConnection, day: date, digests: Iterable[tuple[str, str]]) -> None:
    """Remember today's (digest, team_id) pairs (a digest already there is ignored)."""
    rows = [{"day": day, "digest": d, "team_id": t} for d, t in sorted(set(digests))]
    if not rows:
        return
    statement = _insert(conn)(seen_table).on_conflict_do_nothing(index_elements=["day", "digest"])
    await conn.execute(statement, rows)


# One statement, so two processes folding at once cannot both count the same digests:
# the second DELETE waits on the rows the first deleted and then finds them gone.
_FOLD_PG = text(
    """
    WITH gone AS (
        DELETE FROM stats_daily_seen WHERE day < :today RETURNING day, team_id
    )
    INSERT INTO stats_counter (day, team_id, language, kind, key, count)
    SELECT day, team_id, '', 'relatives', '', count(*) FROM gone GROUP BY day, team_id
    ON CONFLICT (day, team_id, language, kind, key)
    DO UPDATE SET count = stats_counter.count + excluded.count
    RETURNING day
    """
)


async def fold_seen_before(conn: AsyncConnection, today: date) -> int:
    """Count each earlier day's digests into kind "relatives" and delete them; days folded.

    On SQLite the caller's write transaction (BEGIN IMMEDIATE) already serialises folds.
    """
    if conn.dialect.name == "postgresql":
        result = await conn.execute(_FOLD_PG, {"today": today})
        return len({row[0] for row in result})
    s = seen_table.c
    result = await conn.execute(
        select(s.day, s.team_id, func.count()).where(s.day < today).group_by(s.day, s.team_id)
    )
    cells = {(row[0], row[1], "", "relatives", ""): int(row[2]) for row in result}
    if cells:
        await add_counts(conn, cells)
        await conn.execute(delete(seen_table).where(s.day < today))
    return len({key[0] for key in cells})


async def counters(
    conn: AsyncConnection,
    start: date,
    end: date,
    team_ids: Collection[str],
    kinds: Collection[str] | None = None,
) -> list[CounterRow]:
    """Raw daily cells for a period (inclusive) and teams; see the module docstring."""
    if not team_ids:
        return []
    c = counter_table.c
    statement = select(c.day, c.team_id, c.language, c.kind, c.key, c["count"]).where(
        c.day >= start, c.day <= end, c.team_id.in_(list(team_ids))
    )
    if kinds is not None:
        statement = statement.where(c.kind.in_(list(kinds)))
    result = await conn.execute(statement)
    return [CounterRow(*row) for row in result]
