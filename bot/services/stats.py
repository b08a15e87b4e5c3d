"""Anonymous usage statistics: daily counters that cannot point to anyone.

INTERFACE CONTRACT (shared by recording in the bot and the queue, the
coordinator pages, exports, the API and `python -m bot stats`; keep names and
types stable, implement the bodies).

What is recorded has no user key of any kind and no time finer than the day:
(day, team, language, kind, key) -> count. Recording is an in-memory increment
(the per-update budget is 0.2 ms CPU); a background flush adds the increments
to the table ``stats_counter`` every few seconds and at shutdown. Distinct
relatives per day are counted from a daily set of keyed digests that is folded
into a counter and deleted when the day is over: nothing that could recognise
a relative survives the day. Started conversations use the same daily digests, so that
a conversation is counted for the team the relative chooses that day (it starts
before the choice), or as "no municipality chosen yet" ('') when none is chosen;
reports read today's digests live, so today's relatives and conversations show today.

Table ``stats_counter`` (migration 0003): day DATE, team_id VARCHAR(32) ('' = none),
language VARCHAR(16) ('' = unknown), kind VARCHAR(32), key VARCHAR(96) ('' = none),
count INTEGER; primary key (day, team_id, language, kind, key).
Table ``stats_daily_seen``: day DATE, digest VARCHAR(32); primary key (day, digest);
rows older than today are folded into kind "relatives" and deleted.

Every number shown anywhere (pages, exports, API, CLI) passes through
``bot.services.suppression``: cells under 5 show as "<5", with complementary
suppression so no hidden value can be worked out from what is shown together.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import StaffUser, last_whole_month_end
from bot.services import stats_report as build
from bot.services.protected import (
    ALL,
    BOOK_KINDS,
    FAMILIES,
    UNLISTED,
    USAGE,
    USAGE_LEVELS,
    USAGE_SOURCES,
    Book,
    book_from_rows,
    build_book,
    build_breakdowns,
    build_usage,
    family_kinds,
    group_unit,
    new_figures,
    usage_is_current,
)
from bot.services.stats_model import (
    GRID_KINDS,
    NO_WHOLE_DAY,
    OFF_GRID,
    SMALL,
    TIME_BUCKETS,
    Cell,
    Period,
    PeriodKind,
    Report,
    StatTable,
    time_bucket,
)
from bot.storage import locks, stats_book, stats_rollup
from bot.storage import stats as stats_db
from bot.storage import stats_report as sql
from bot.storage.database import Database

# The report's value types live in stats_model; the doors import them from here.
__all__ = [
    "FLUSH_SECONDS",
    "GRID_KINDS",
    "KINDS",
    "OFF_GRID",
    "SMALL",
    "TIME_BUCKETS",
    "UNLISTED",
    "Cell",
    "Period",
    "PeriodKind",
    "Report",
    "StatTable",
    "StatsRecorder",
    "StatsRefused",
    "StatsService",
    "day_in",
    "time_bucket",
]

log = logging.getLogger(__name__)

# kind -> what ``key`` holds
KINDS: dict[str, str] = {
    "conversation_started": "'' (first contact of a chat that had no state; counted from the "
    "day's digests for the team chosen that day, else '': see StatsRecorder.started)",
    "relatives": "'' (distinct relatives that day; folded from stats_daily_seen)",
    "screen_viewed": "node id",
    "screen_move": "'<from node>><to node>' (both node ids)",
    "language_chosen": "language code",
    "team_chosen": "team id or 'none'",
    "helpful": "'<node id>:yes' or '<node id>:no'",
    "request_started": "'' (the relative began the contact questions)",
    "request_created": "''",
    "request_urgency": "urgent | soon | later",
    "request_topic": "one of cases.TOPICS",
    "request_concerns": "one of cases.CONCERNS",
    "request_reply_via": "chat | phone",
    "request_withdrawn": "''",
    "time_to_claim": "one of TIME_BUCKETS",
    "time_to_first_reply": "one of TIME_BUCKETS",
    "case_outcome": "one of cases.OUTCOMES",
    "relay_failed": "''",
    # (added) the one-tap answer under the close notice, at most once per closed request
    "contact_feedback": "'yes' | 'partly' | 'no' (\"Did the contact help?\", cases.FEEDBACK)",
}
FLUSH_SECONDS = 10.0

MAX_KEY = 96  # stats_counter.key


def _hex(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def _utc_now() -> datetime:
    return datetime.now(UTC)


def day_in(zone: str, now: Callable[[], datetime] | None = None) -> Callable[[], date]:
    """Today's date in ``zone`` (TIME_ZONE, an IANA name), read from ``now`` (an aware clock).

    Statistics days are the municipality's days: an event at 23:30 UTC on 1 December is
    on 2 December in Europe/Stockholm.
    """
    tz = ZoneInfo(zone)
    clock = now or _utc_now
    return lambda: clock().astimezone(tz).date()


class StatsRecorder:
    """Cheap, synchronous recording from the doors' services; flushed in the background.

    Why in memory: the per-update budget is 0.2 ms CPU, a database write per event
    would cost more than the rest of the update. The price: a crash loses at most the
    increments since the last flush (``FLUSH_SECONDS``); a clean shutdown flushes.
    Pending increments are keyed by day, so a flush after midnight still books each
    count on the day it happened. Nothing here ever raises into an update except an
    unknown ``kind`` (a programming error the tests catch).
    """

    def __init__(
        self,
        database: Database,
        secret_key: bytes,
        today: Callable[[], date] | None = None,
        *,
        time_zone: str = "UTC",
        now: Callable[[], datetime] | None = None,
    ) -> None:
        """``today`` overrides the day outright; otherwise it is ``now`` in ``time_zone``."""
        self.database = database
        self.secret_key = secret_key
        self.time_zone = time_zone
        self.now: Callable[[], datetime] = now or _utc_now
        self.today: Callable[[], date] = today or day_in(time_zone, lambda: self.now())
        self._pending: dict[stats_db.CounterKey, int] = {}
        # day -> {(digest, team_id)}; only digests, never the pseudonym itself
        self._seen: dict[date, set[tuple[str, str]]] = {}
        self._day_keys: dict[date, bytes] = {}
        self._folded_through: date | None = None  # earlier days' digests already folded

    def count(self, kind: str, team_id: str | None, language: str | None, key: str = "") -> None:
        """Add one to today's counter (in memory). Unknown kinds raise ValueError."""
        if kind not in KINDS:
            raise ValueError(f"unknown statistics kind {kind!r}")
        try:
            cell = (self.today(), team_id or "", language or "", kind, key[:MAX_KEY])
            self._pending[cell] = self._pending.get(cell, 0) + 1
        except Exception as exc:  # recording must never break an update
            log.error("statistics count failed: %s", type(exc).__name__, exc_info=exc)

    def seen(self, pseudonym: str, team_id: str | None = None) -> None:
        """Note that this chat used the guide today (for distinct relatives per day).

        ``team_id`` (added): distinct relatives are counted per team; one seen before and
        after choosing a team counts for that team only ('' = seen with no team that day).
        Only a digest keyed with a key for this day is kept; it cannot be linked to
        another day. The digest is the person's part (24 hex) then the team's (8 hex).
        """
        try:
            day, team = self.today(), team_id or ""
            key = self._day_key(day)
            digest = self._person(key, pseudonym) + _hex(key, f"team\x00{team}")[:8]
            self._seen.setdefault(day, set()).add((digest, team))
        except Exception as exc:
            log.error("statistics seen failed: %s", type(exc).__name__, exc_info=exc)

    def started(self, pseudonym: str, language: str | None) -> None:
        """A conversation began (a chat with no state wrote): counted at once under team ''
        (no municipality chosen yet), and moved to the team chosen today (``chose_team``)
        by the next flush.

        The move needs to know that this chat started today: a digest of the day (``s`` +
        the person's part, with the language) waits for the choice, like the digests of
        distinct relatives, and is gone with the day.
        """
        self.count("conversation_started", None, language)
        self._mark("s", pseudonym, (language or "")[:16])

    def chose_team(self, pseudonym: str, team_id: str | None) -> None:
        """The conversation's first choice of a municipality (``team_id`` '' or None: none
        of them, which moves nothing). A conversation started on an earlier day stays
        where it was counted, so nothing is counted twice."""
        if team_id:
            self._mark("t", pseudonym, team_id)

    def _mark(self, prefix: str, pseudonym: str, team: str) -> None:
        try:
            day = self.today()
            digest = prefix + self._person(self._day_key(day), pseudonym)
            self._seen.setdefault(day, set()).add((digest, team))
        except Exception as exc:
            log.error("statistics mark failed: %s", type(exc).__name__, exc_info=exc)

    @staticmethod
    def _person(day_key: bytes, pseudonym: str) -> str:
        return _hex(day_key, f"person\x00{pseudonym}")[:24]

    def _day_key(self, day: date) -> bytes:
        key = self._day_keys.get(day)
        if key is None:
            label = b"stats-seen:" + day.isoformat().encode()
            key = hmac.new(self.secret_key, label, hashlib.sha256).digest()
            self._day_keys = {day: key}  # earlier days' keys are forgotten
        return key

    @property
    def pending(self) -> int:
        """(added) Cells and digests waiting for the next flush."""
        return len(self._pending) + sum(len(v) for v in self._seen.values())

    async def flush(self) -> bool:
        """Add the pending increments to the database and fold finished days' digests.

        A failed flush keeps its increments for the next try, is logged (type and frames)
        and returns False; True when written (or nothing was pending).
        """
        today = self.today()
        pending, self._pending = self._pending, {}
        seen, self._seen = self._seen, {}
        fold = self._folded_through != today
        if not pending and not seen and not fold:
            return True
        # A start or a choice of a team: move started conversations to their team now.
        moves = any(d[0] in "st" for digests in seen.values() for d, _ in digests)
        try:
            async with self.database.write_tx() as conn:
                await stats_db.add_counts(conn, pending)
                for day, digests in sorted(seen.items()):
                    await stats_db.add_seen(conn, day, digests)
                fold = fold or any(day < today for day in seen)
                if fold or moves:
                    # Another process folding now does it for all: skip, retry next flush.
                    locked = await locks.try_xact_lock(conn, "stats_fold")
                    fold = fold and locked
                    if fold:
                        await stats_db.fold_seen_before(conn, today)
                        # Closed days into the rollups (reports read them), a day late:
                        # another process may still fold yesterday's last digests.
                        await stats_rollup.roll_up(conn, today - ROLL_UP_LAG)
                    if locked and moves:
                        await stats_db.resolve_started(conn)
        except Exception as exc:
            log.error("statistics flush failed: %s", type(exc).__name__, exc_info=exc)
            for cell, n in pending.items():
                self._pending[cell] = self._pending.get(cell, 0) + n
            for day, digests in seen.items():
                self._seen.setdefault(day, set()).update(digests)
            return False
        if fold:
            self._folded_through = today
        return True

    async def fold_finished_days(self) -> int:
        """(added) Fold earlier days' digests into "relatives" now (purge); days folded.

        Then roll up the closed days, but not one this process still holds increments or
        digests of (not flushed yet, just after midnight): the next flush rolls it up.
        A failure raises (the purge job logs it by type and records "stats_fold" failed;
        the next round retries).
        """
        today = self.today()
        waiting = [day for day, _, _, _, _ in self._pending] + list(self._seen)
        through = min([today, *waiting]) - ROLL_UP_LAG
        async with self.database.write_tx() as conn:
            if not await locks.try_xact_lock(conn, "stats_fold"):
                return 0  # another process is folding them
            days = await stats_db.fold_seen_before(conn, today)
            await stats_rollup.roll_up(conn, through)
            return days


# Days are rolled up the day after they are closed: a fold of another process's last digests
# for yesterday writes counters directly, and reports read days after the watermark from the
# counters, so nothing folded late is missing from them.
ROLL_UP_LAG = timedelta(days=2)
# The usage book's row kinds ("usage_screen#home"): keys are open, so read by prefix.
USAGE_PREFIXES = tuple(f"{f.kind}#" for f in USAGE)


def book_of_stored(stored: stats_book.StoredBook | None) -> Book | None:
    """The stored book (None: none stored yet)."""
    if stored is None:
        return None
    return book_from_rows(stored.through, stored.units, stored.groups, stored.rows)


class StatsRefused(Exception):
    """A breakdown that would isolate fewer than SMALL, or a team the viewer may not see."""


@dataclass
class StatsService:
    database: Database
    known_teams: frozenset[str]
    time_zone: str = "UTC"  # TIME_ZONE: the days the counters are kept in (the recorder's)
    now: Callable[[], datetime] = _utc_now

    # The (day, groups) the stored book is known to cover: checked once, then each report
    # reads only its own figures from the table (a national book is millions of figures).
    _ready: tuple[date, frozenset[frozenset[str]]] | None = field(
        default=None, init=False, repr=False
    )
    _book_lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    def today(self) -> date:
        """Today in ``time_zone``: the default last day of a period."""
        return day_in(self.time_zone, self.now)()

    async def _ensure_book(self, through: date, groups: list[frozenset[str]]) -> None:
        """Every report's figures through ``through``, protected once (built once a day).

        The book is stored (``stats_book``): each day's extends the one before, so what a
        report showed yesterday is shown the same today. The first report of a day that
        finds it short builds it in a thread (the bot keeps answering meanwhile) and
        stores it, unless another process stored one first (then that one is used). The
        breakdowns are a book of their own beside it (built from its totals).
        """
        key = (through, frozenset(g & self.known_teams for g in groups))
        async with self._book_lock:
            if self._ready == key:
                return
            async with self.database.snapshot_tx() as conn:
                states = [  # no figures
                    book_of_stored(await stats_book.load_state(conn, name))
                    for name in (
                        stats_book.BOOK_STATE,
                        stats_book.BREAKDOWNS_STATE,
                        stats_book.USAGE_STATE,
                    )
                ]
            if any(s is None or not s.covers(through, self.known_teams, key[1]) for s in states):
                await self._stored_book(through, key[1])
            self._ready = key

    async def _report_book(self, period: Period, unit: str, per_team: bool) -> Book:
        """The stored figures this report shows (its unit's rows and totals, its
        breakdowns, and the per-team table's totals), as a Book."""
        whole = Period.ending(period.kind, period.start)
        row_level = "day" if period.kind in ("week", "month") else "month"
        wanted: list[tuple[Collection[str], Collection[str], date, date]] = [
            ({unit}, {row_level, period.kind}, period.start, whole.end)
        ]
        async with self.database.snapshot_tx() as conn:
            state = await stats_book.load_state(conn)
            assert state is not None, "the book is stored before a report reads it"
            if per_team:
                units = [u for u in state.units if u != ALL and not u.startswith("group:")]
                wanted.append((set(units), {period.kind}, period.start, period.start))
            rows = await stats_book.load_figures(conn, BOOK_KINDS, wanted)
            rows += await stats_book.load_figures(
                conn, family_kinds(), [({unit}, {period.kind}, period.start, period.start)]
            )
            if unit == ALL and period.kind in USAGE_LEVELS:
                rows += await stats_book.load_figures(
                    conn,
                    [f.kind for f in USAGE],
                    [({ALL}, {period.kind}, period.start, period.start)],
                    prefixes=USAGE_PREFIXES,
                )
        return book_from_rows(state.through, state.units, state.groups, rows)

    async def _stored_book(self, through: date, groups: frozenset[frozenset[str]]) -> None:
        """Extend the stored books (the totals, then the breakdowns beside them) to
        ``through`` and these groups, and store them."""
        for _ in range(3):  # another process may store first; then read and extend theirs
            book = await self._stored_totals(through, groups)
            if (
                book is not None
                and await self._stored_breakdowns(book)
                and await self._stored_usage(book)
            ):
                return
        raise RuntimeError("the statistics book changed three times while it was built")

    async def _stored_totals(self, through: date, groups: frozenset[frozenset[str]]) -> Book | None:
        """The totals' book through ``through``, stored (None: another process stored one
        first)."""
        async with self.database.snapshot_tx() as conn:
            stored = await stats_book.load_book(conn, BOOK_KINDS)
            previous = await asyncio.to_thread(book_of_stored, stored)
            del stored  # a national book is large: keep one copy of it
            if previous is not None and previous.covers(through, self.known_teams, groups):
                return previous
            counts = await stats_book.day_counts(
                conn, through, BOOK_KINDS, after=previous.through if previous else None
            )
        book = await asyncio.to_thread(
            build_book,
            counts,
            through=through,
            teams=self.known_teams,
            groups=groups,
            previous=previous,
        )
        rows = await asyncio.to_thread(new_figures, book, previous)
        async with self.database.write_tx() as conn:
            stored_ok = await stats_book.save_book(
                conn, previous.through if previous else None, book.through, book.units,
                book.groups, rows,
            )  # fmt: skip
        return book if stored_ok else None

    async def _stored_breakdowns(self, book: Book) -> bool:
        """The breakdowns beside ``book``, stored (False: another process stored first)."""

        async def read(conn: AsyncConnection, previous: Book | None) -> list[Any]:
            return await stats_book.day_key_counts(
                conn,
                book.through,
                [f.kind for f in FAMILIES],
                after=previous.through if previous else None,
            )

        def build_from(counts: list[Any], previous: Book | None) -> Book:
            return build_breakdowns(counts, book=book, teams=self.known_teams, previous=previous)

        return await self._stored_beside(
            book, stats_book.BREAKDOWNS_STATE, family_kinds(), (), read, build_from
        )

    async def _stored_usage(self, book: Book) -> bool:
        """The guide's usage beside ``book``, stored (False: another process stored first).
        Read again only once a month is over (it is kept by month, for all teams)."""

        async def read(conn: AsyncConnection, previous: Book | None) -> list[Any]:
            if usage_is_current(previous, book):
                return []
            return await stats_book.month_key_counts(
                conn,
                book.through,
                USAGE_SOURCES,
                after=last_whole_month_end(previous.through) if previous else None,
            )

        def build_from(counts: list[Any], previous: Book | None) -> Book:
            return build_usage(counts, book=book, previous=previous)

        kinds = [f.kind for f in USAGE]  # the totals; their rows by prefix
        return await self._stored_beside(
            book, stats_book.USAGE_STATE, kinds, USAGE_PREFIXES, read, build_from
        )

    async def _stored_beside(
        self,
        book: Book,
        name: str,
        kinds: list[str],
        prefixes: tuple[str, ...],
        read: Callable[[AsyncConnection, Book | None], Awaitable[list[Any]]],
        build_from: Callable[[list[Any], Book | None], Book],
    ) -> bool:
        """A book beside the totals' ``book`` (state ``name``), extended to its day and
        groups and stored: ``read`` its new counts, ``build_from`` them and the stored
        one (False: another process stored first)."""
        async with self.database.snapshot_tx() as conn:
            stored = await stats_book.load_book(conn, kinds, name, prefixes=prefixes)
            previous = await asyncio.to_thread(book_of_stored, stored)
            del stored
            if (
                previous is not None
                and previous.covers(book.through, book.units, ())
                and set(book.groups) <= set(previous.groups)
            ):
                return True
            counts = await read(conn, previous)
        beside = await asyncio.to_thread(build_from, counts, previous)
        rows = await asyncio.to_thread(new_figures, beside, previous)
        async with self.database.write_tx() as conn:
            return await stats_book.save_book(
                conn, previous.through if previous else None, beside.through,
                beside.units, beside.groups, rows, name,
            )  # fmt: skip

    async def report(self, viewer: StaffUser, period: Period, team_id: str | None) -> Report:
        """Coordinators: their teams; admins: all. ``team_id`` None = all the viewer's teams.

        Raises StatsRefused (its message is a plain English msgid the door shows) for a
        viewer who is not a coordinator or admin, an unknown team, a team outside the
        viewer's teams, an empty period, or a period off the grid (not a whole ISO week,
        month, quarter or year; one not over yet ends today). A breakdown that would single
        out fewer than 5 is not raised but shown as a table with no rows and a ``note``.
        """
        if viewer.role not in ("coordinator", "admin"):
            raise StatsRefused("Statistics are for coordinators and administrators.")
        if period.start > period.end:
            raise StatsRefused("The first day comes after the last day.")
        if not period.on_grid:  # the grid: no free ranges, so no two reports overlap oddly
            raise StatsRefused(OFF_GRID)
        # Closed days only: a day is shown from the next day on, when its counts are final,
        # so every report of the same days shows the same protected figures (issue #13).
        through = self.today() - timedelta(days=1)
        if period.start > through:
            raise StatsRefused(NO_WHOLE_DAY)
        if period.end > through:  # not over yet: up to yesterday, no future zeros
            period = Period(period.start, through, period.kind)
        if team_id is not None:
            if team_id not in self.known_teams:
                raise StatsRefused("There is no such team.")
            if not viewer.can_see(team_id):
                raise StatsRefused("You can only see statistics for your own teams.")
            teams: tuple[str, ...] = (team_id,)
        elif viewer.is_admin:
            teams = tuple(sorted(self.known_teams))
        else:
            teams = tuple(sorted(viewer.teams & self.known_teams))
        # Admins' all-teams view also counts relatives who chose no municipality ('').
        where: frozenset[str] | None = (
            None if viewer.is_admin and team_id is None else frozenset(teams)
        )
        per_team = team_id is None and (where is None or len(teams) > 1)
        # Every figure shown is the book's; the per-team sums only name the teams active.
        by_team: list[tuple[str, str, int]] | None = None
        async with self.database.snapshot_tx() as conn:
            if per_team:
                sums = await sql.report_sums(
                    conn,
                    period.start,
                    period.end,
                    where,
                    series_kinds=[],
                    keyed_kinds=[],
                    team_kinds=["conversation_started", "request_created"],
                )
                by_team = sums.by_team
            groups = await stats_book.coordinator_team_sets(conn)
        if not viewer.is_admin and len(teams) > 1:
            groups.append(frozenset(teams))  # a single sign-on coordinator's teams
        await self._ensure_book(through, groups)
        if team_id is not None or (len(teams) == 1 and where is not None):
            unit = teams[0]
        elif where is None:
            unit = ALL
        else:
            unit = group_unit(teams)
        book = await self._report_book(period, unit, per_team)
        tables = build.build_tables(period, [], [], by_team, last=through, book=book, unit=unit)
        return Report(period, teams, tables, time_zone=self.time_zone)

    def to_csv(
        self,
        report: Report,
        *,
        delimiter: str = ",",
        label: Callable[[str], str] | None = None,
        say: Callable[[str], str] | None = None,
        note: Callable[[str], str] | None = None,
    ) -> str:
        """(period, teams, table, row, column, shown value) rows; hidden numbers as text.

        ``delimiter`` ";" for Swedish Excel; ``label``/``say``/``note`` add the table, row
        and column in the reader's words (see ``stats_report.to_csv``)."""
        return build.to_csv(report, delimiter=delimiter, label=label, say=say, note=note)

    def to_json(self, report: Report) -> dict[str, Any]:
        """Plain JSON types; a hidden number is null beside its shown text."""
        return build.to_json(report)
