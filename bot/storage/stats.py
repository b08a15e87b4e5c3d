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
counts once for each, and under '' only if it chose no team that day; its language is ''.

Today's digests (``stats_daily_seen``, one day's keyed digests; see ``StatsRecorder``):

- ``<person 24 hex><team 8 hex>`` (32 characters): this relative was seen with ``team_id``.
- ``s<person>``: a conversation started today; its ``team_id`` column holds the
  conversation's language (its "conversation_started" was counted at once under team '').
- ``t<person>``: the conversation's first choice of a team that day was ``team_id``.

A started conversation belongs to the team chosen the same day: each flush moves its
count from '' to that team (``resolve_started``) and deletes the pair; one without a
choice stays under '' (no municipality chosen yet). A choice without a start that day
(the conversation began on an earlier day, counted there) moves nothing. ``derived_counts``
gives what the digests not folded yet add (today's relatives, pairs not moved yet), so
reports show today; the fold (``fold_seen_before``) books them and deletes the day.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Date, bindparam, delete, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage import stats_rollup
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
    # A day already rolled up (stats_rollup) gets the increments there too.
    through = await stats_rollup.before_counts(conn, min(key[0] for key in increments))
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
    await stats_rollup.add_late(conn, increments, through)


async def add_seen(conn: AsyncConnection, day: date, digests: Iterable[tuple[str, str]]) -> None:
    """Remember today's (digest, team_id) pairs (a digest already there is ignored)."""
    rows = [{"day": day, "digest": d, "team_id": t} for d, t in sorted(set(digests))]
    if not rows:
        return
    statement = _insert(conn)(seen_table).on_conflict_do_nothing(index_elements=["day", "digest"])
    await conn.execute(statement, rows)


# A day's digests (the CTE ``src``: day, digest, team_id) -> ``derived``: (day, team_id,
# language, kind, n): distinct relatives (under '' only those who chose no team that day) and
# the started conversations' moves from '' to the team chosen the same day (+n and -n).
_DERIVED = """
    r AS (SELECT day, substr(digest, 1, 24) AS person, team_id FROM src
          WHERE length(digest) = 32),
    chosen AS (SELECT DISTINCT day, person FROM r WHERE team_id <> ''),
    pairs AS (
        SELECT s.day AS day, t.team_id AS team_id, s.team_id AS language, count(*) AS n
        FROM src s JOIN src t ON t.day = s.day AND t.digest = 't' || substr(s.digest, 2)
        WHERE substr(s.digest, 1, 1) = 's' AND t.team_id <> ''
        GROUP BY s.day, t.team_id, s.team_id
    ),
    derived AS (
        SELECT r.day AS day, r.team_id AS team_id, '' AS language, 'relatives' AS kind,
               count(*) AS n
        FROM r LEFT JOIN chosen ON chosen.day = r.day AND chosen.person = r.person
        WHERE r.team_id <> '' OR chosen.person IS NULL
        GROUP BY r.day, r.team_id
        UNION ALL
        SELECT day, team_id, language, 'conversation_started', n FROM pairs
        UNION ALL
        SELECT day, '', language, 'conversation_started', -sum(n) FROM pairs
        GROUP BY day, language
    )
"""
# One statement, so two processes folding at once cannot both count the same digests:
# the second DELETE waits on the rows the first deleted and then finds them gone.
_FOLD_PG = text(
    "WITH src AS (DELETE FROM stats_daily_seen WHERE day < :today "
    "RETURNING day, digest, team_id),"
    + _DERIVED
    + """
    INSERT INTO stats_counter (day, team_id, language, kind, key, count)
    SELECT day, team_id, language, kind, '', n FROM derived
    ON CONFLICT (day, team_id, language, kind, key)
    DO UPDATE SET count = stats_counter.count + excluded.count
    RETURNING day
    """
).bindparams(bindparam("today", type_=Date))
_SELECT = "SELECT day, team_id, language, kind, n FROM derived"
_BEFORE = text(
    "WITH src AS (SELECT day, digest, team_id FROM stats_daily_seen WHERE day < :today),"
    + _DERIVED
    + _SELECT
).bindparams(bindparam("today", type_=Date))
_BETWEEN = text(
    "WITH src AS (SELECT day, digest, team_id FROM stats_daily_seen "
    "WHERE day >= :start AND day <= :end)," + _DERIVED + _SELECT
).bindparams(bindparam("start", type_=Date), bindparam("end", type_=Date))
# Started conversations with today's choice of a team: (day, start digest, choice digest,
# team, language).
_PAIRS = text(
    """
    SELECT s.day, s.digest, t.digest, t.team_id, s.team_id
    FROM stats_daily_seen s JOIN stats_daily_seen t
      ON t.day = s.day AND t.digest = 't' || substr(s.digest, 2)
    WHERE substr(s.digest, 1, 1) = 's' AND t.team_id <> ''
    """
)


def _day(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


async def fold_seen_before(conn: AsyncConnection, today: date) -> int:
    """Book each earlier day's digests (distinct relatives, conversations' moves to their
    team) and delete them; days folded.

    On SQLite the caller's write transaction (BEGIN IMMEDIATE) already serialises folds.
    """
    if conn.dialect.name == "postgresql":
        result = await conn.execute(_FOLD_PG, {"today": today})
        return len({row[0] for row in result})
    result = await conn.execute(_BEFORE, {"today": today})
    cells = {(_day(d), team, lang, kind, ""): int(n) for d, team, lang, kind, n in result}
    await add_counts(conn, cells)
    await conn.execute(delete(seen_table).where(seen_table.c.day < today))
    return len({key[0] for key in cells})


async def resolve_started(conn: AsyncConnection) -> int:
    """Move each started conversation whose team was chosen that day from '' to the team,
    and delete the pair's digests; conversations moved.

    The caller holds the fold's lock (``locks.try_xact_lock(conn, "stats_fold")``), so two
    processes never move the same pair; the count was booked under '' in the same flush as
    the start's digest, so '' never goes below zero.
    """
    cells: dict[CounterKey, int] = {}
    gone: dict[date, list[str]] = {}
    for raw_day, start, choice, team, language in await conn.execute(_PAIRS):
        day = _day(raw_day)
        for cell, n in (
            ((day, team, language, "conversation_started", ""), 1),
            ((day, "", language, "conversation_started", ""), -1),
        ):
            cells[cell] = cells.get(cell, 0) + n
        gone.setdefault(day, []).extend((start, choice))
    if not gone:
        return 0
    await add_counts(conn, cells)
    s = seen_table.c
    for day, digests in gone.items():
        await conn.execute(delete(seen_table).where(s.day == day, s.digest.in_(digests)))
    return sum(len(d) for d in gone.values()) // 2


async def derived_counts(
    conn: AsyncConnection, start: date, end: date
) -> list[tuple[date, str, str, int]]:
    """(day, team_id, kind, n) that the digests not folded yet add for every team: today's
    distinct relatives, and conversations not yet moved to their team (+n, and -n under '')."""
    result = await conn.execute(_BETWEEN, {"start": start, "end": end})
    return [(_day(d), team, kind, int(n)) for d, team, _lang, kind, n in result]


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
