"""What the protected figures of every report are built from (``bot.services.protected``),
and where they are kept once built (``stats_book``, migration 0013: written once a day,
never rewritten, read by every process).

Day sums per team and kind up to a closed day (never a day still being counted), with
the digests not folded yet added, and the team sets of coordinators who see several teams
(their overview is a unit of its own). Sums only: no row here can name a person.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, insert, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import last_whole_month_end
from bot.storage import locks, stats_rollup
from bot.storage import stats as stats_db
from bot.storage.models import StatsBookFigure, StatsBookState, table_of
from bot.storage.staff import accounts, memberships
from bot.storage.stats import counter_table

c = counter_table.c
r = stats_rollup.rollup_table.c
book_table = table_of(StatsBookFigure)
state_table = table_of(StatsBookState)
b = book_table.c
bs = state_table.c  # the stored book's state


async def day_counts(
    conn: AsyncConnection, through: date, kinds: Collection[str], after: date | None = None
) -> list[tuple[date, str, str, int]]:
    """(day, team_id, kind, sum over languages) for every day up to ``through`` (and after
    ``after``: the days a stored book does not hold yet).

    The rolled-up days come from the rollups' 'day' rows (one row per team and kind, not
    per language and key), the days after the watermark from the counters themselves.
    """
    rows = [
        (day, team, kind, n)
        for day, team, kind, _key, n in await _day_sums(conn, through, kinds, after, False)
    ]
    first = min((row[0] for row in rows), default=through)
    if after is not None:
        first = max(first, after + timedelta(days=1))
    rows += [row for row in await stats_db.derived_counts(conn, first, through) if row[2] in kinds]
    return rows


async def day_key_counts(
    conn: AsyncConnection, through: date, kinds: Collection[str], after: date | None = None
) -> list[tuple[date, str, str, str, int]]:
    """(day, team_id, kind, key, sum over languages): the breakdowns' day counts, as
    ``day_counts`` (no digest adds to these: they are counted when a request is made)."""
    return await _day_sums(conn, through, kinds, after, True)


async def _day_sums(
    conn: AsyncConnection, through: date, kinds: Collection[str], after: date | None, keyed: bool
) -> list[tuple[date, str, str, str, int]]:
    watermark = await stats_rollup.rolled_through(conn)
    rolled = min(watermark, through) if watermark is not None else None
    rows: list[tuple[date, str, str, str, int]] = []
    if rolled is not None and (after is None or rolled > after):
        key = r.key if keyed else literal("")
        statement = (
            select(r.period_start, r.team_id, r.kind, key, func.sum(r["count"]))
            .where(
                r.period_kind == "day",
                r.period_start <= rolled,
                r.team_id != stats_rollup.ALL_TEAMS,
                r.kind.in_(sorted(kinds)),
            )
            .group_by(r.period_start, r.team_id, r.kind, *([r.key] if keyed else []))
        )
        if after is not None:
            statement = statement.where(r.period_start > after)
        rows += [
            (_as_date(day), team, kind, k, int(n))
            for day, team, kind, k, n in await conn.execute(statement)
        ]
    key = c.key if keyed else literal("")
    statement = (
        select(c.day, c.team_id, c.kind, key, func.sum(c["count"]))
        .where(c.day <= through, c.kind.in_(sorted(kinds)))
        .group_by(c.day, c.team_id, c.kind, *([c.key] if keyed else []))
    )
    if rolled is not None:
        statement = statement.where(c.day > rolled)
    if after is not None:
        statement = statement.where(c.day > after)
    rows += [
        (_as_date(day), team, kind, k, int(n))
        for day, team, kind, k, n in await conn.execute(statement)
    ]
    return rows


async def month_key_counts(
    conn: AsyncConnection, through: date, kinds: Collection[str], after: date | None = None
) -> list[tuple[date, str, str, int]]:
    """(first day of the month, kind, key, sum over every team and language) for each whole
    month ending by ``through`` and starting after ``after``: the guide's usage, which is
    kept for all teams together and by month (``protected.build_usage``).

    Months rolled up to their end come from the rollups' all-teams month rows (one row a
    key, not a team and day); the rest of the days from the all-teams day rows and, after
    the watermark, the counters summed over teams.
    """
    months: dict[tuple[date, str, str], int] = {}
    end = last_whole_month_end(through)
    if after is not None and end <= after:
        return []
    watermark = await stats_rollup.rolled_through(conn)
    rolled = min(watermark, end) if watermark is not None else None
    whole = None  # the last day of the last month rolled up to its end
    if rolled is not None:
        whole = last_whole_month_end(rolled)
    sums: list[Any] = []

    async def all_teams_rows(kind: str, last: date | None, since: date | None) -> None:
        """The rollups' all-teams ``kind`` rows dated after ``since`` and up to ``last``."""
        if last is None or (since is not None and last <= since):
            return
        statement = select(r.period_start, r.kind, r.key, r["count"]).where(
            r.period_kind == kind,
            r.period_start <= last,
            r.team_id == stats_rollup.ALL_TEAMS,
            r.kind.in_(sorted(kinds)),
        )
        if since is not None:
            statement = statement.where(r.period_start > since)
        sums.extend(await conn.execute(statement))

    await all_teams_rows("month", whole, after)
    bounds = [d for d in (whole, after) if d is not None]
    done = max(bounds) if bounds else None  # every day up to it is in the month rows
    await all_teams_rows("day", rolled, done)
    statement = (
        select(c.day, c.kind, c.key, func.sum(c["count"]))
        .where(c.day <= end, c.kind.in_(sorted(kinds)))
        .group_by(c.day, c.kind, c.key)
    )
    for bound in (rolled, done):
        if bound is not None:
            statement = statement.where(c.day > bound)
    sums += list(await conn.execute(statement))
    for day, kind, key, n in sums:
        first = _as_date(day).replace(day=1)
        months[(first, kind, key)] = months.get((first, kind, key), 0) + int(n)
    return [(first, kind, key, n) for (first, kind, key), n in sorted(months.items()) if n]


# --- the stored book (migration 0013) -----------------------------------------------------

BOOK_STATE = "stats_book"  # the totals (protected.build_book)
BREAKDOWNS_STATE = "stats_book:breakdowns"  # the breakdowns beside them (build_breakdowns)
USAGE_STATE = "stats_book:usage"  # the guide's usage, all teams by month (build_usage)
BookRow = tuple[str, str, date, str, int, str]  # kind, level, first day, unit, count, mark


@dataclass(frozen=True)
class StoredBook:
    """The stored figures as they are in the tables (the service makes a Book of them)."""

    through: date
    units: list[str]
    groups: dict[str, list[str]]
    rows: list[BookRow]


async def book_through(conn: AsyncConnection, name: str = BOOK_STATE) -> date | None:
    """The last day the stored book covers (None: there is none yet)."""
    result = await conn.execute(select(bs.through).where(bs.name == name))
    value = result.scalar_one_or_none()
    return None if value is None else _as_date(value)


async def load_state(conn: AsyncConnection, name: str = BOOK_STATE) -> StoredBook | None:
    """The stored book's day, units and groups, without its figures (None: none yet)."""
    state = (await conn.execute(select(bs.through, bs.units, bs.groups).where(
        bs.name == name
    ))).first()  # fmt: skip
    if state is None:
        return None
    return StoredBook(_as_date(state[0]), json.loads(state[1]), json.loads(state[2]), [])


def _rows(result: Any) -> list[BookRow]:
    return [
        (kind, level, _as_date(first), unit, int(n), mark)
        for kind, level, first, unit, n, mark in result
    ]


_COLUMNS = (b.kind, b.level, b.first_day, b.unit, b["count"], b.mark)


def _of_kinds(kinds: Collection[str], prefixes: Sequence[str]) -> Any:
    """Kinds named, or (the guide's usage, whose keys are open) beginning with a prefix."""
    starts = (b.kind.startswith(prefix, autoescape=True) for prefix in prefixes)
    return or_(b.kind.in_(sorted(kinds)), *starts)


async def load_book(
    conn: AsyncConnection,
    kinds: Collection[str],
    name: str = BOOK_STATE,
    *,
    prefixes: Sequence[str] = (),
) -> StoredBook | None:
    """The stored book, every figure of these kinds (None: nothing stored yet): to extend
    it. The totals and the breakdowns share the table; each book has its own kinds."""
    state = await load_state(conn, name)
    if state is None:
        return None
    rows = _rows(await conn.execute(select(*_COLUMNS).where(_of_kinds(kinds, prefixes))))
    return StoredBook(state.through, state.units, state.groups, rows)


async def load_figures(
    conn: AsyncConnection,
    kinds: Collection[str],
    wanted: Sequence[tuple[Collection[str], Collection[str], date, date]],
    *,
    prefixes: Sequence[str] = (),
) -> list[BookRow]:
    """The stored figures one report shows: for each (units, levels, first, last), those
    of these kinds whose cell begins from ``first`` to ``last`` (a few hundred rows)."""
    rows: list[BookRow] = []
    for units, levels, first, last in wanted:
        statement = select(*_COLUMNS).where(
            _of_kinds(kinds, prefixes),
            b.level.in_(sorted(levels)),
            b.first_day >= first,
            b.first_day <= last,
        )
        if len(units) < 50:
            statement = statement.where(b.unit.in_(sorted(units)))
        rows += [row for row in _rows(await conn.execute(statement)) if row[3] in units]
    return rows


async def save_book(
    conn: AsyncConnection,
    expected: date | None,
    through: date,
    units: Collection[str],
    groups: Mapping[str, Collection[str]],
    new_rows: Sequence[BookRow],
    name: str = BOOK_STATE,
) -> bool:
    """Add a book's new figures and move its day to ``through``, if the stored book is
    still the one it was built from (its day ``expected``); False if another process
    stored one first (then nothing is written: read theirs). Earlier figures are never
    rewritten: a published figure stays as it was."""
    await locks.wait_xact_lock(conn, "stats_book")
    if await book_through(conn, name) != expected:
        return False
    for start in range(0, len(new_rows), 5_000):
        chunk = new_rows[start : start + 5_000]
        await conn.execute(
            insert(book_table),
            [
                {"kind": k, "level": lv, "first_day": d, "unit": u, "count": n, "mark": m}
                for k, lv, d, u, n, m in chunk
            ],
        )
    values = {
        "through": through,
        "units": json.dumps(sorted(units)),
        "groups": json.dumps({name: sorted(t) for name, t in sorted(groups.items())}),
    }
    if expected is None:
        await conn.execute(insert(state_table).values(name=name, **values))
    else:
        await conn.execute(update(state_table).where(bs.name == name).values(**values))
    return True


async def coordinator_team_sets(conn: AsyncConnection) -> list[frozenset[str]]:
    """The team sets of active coordinators with more than one team."""
    a, m = accounts.c, memberships.c
    statement = (
        select(m.staff_id, m.team_id)
        .join(accounts, a.id == m.staff_id)
        .where(a.role == "coordinator", a.active.is_(True))
    )
    sets: dict[int, set[str]] = {}
    for staff_id, team in await conn.execute(statement):
        sets.setdefault(int(staff_id), set()).add(team)
    return [frozenset(s) for s in sets.values() if len(s) > 1]


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
