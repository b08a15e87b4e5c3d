"""What the protected figures are built from: the same day sums whether the days come
from the rollups, the counters or both (a watermark inside the span), on both databases."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time

from sqlalchemy import delete, func, select

from bot.domain import StaffUser
from bot.services.protected import BOOK_KINDS, UNLISTED, build_book, family_kinds
from bot.services.stats import StatsService
from bot.services.stats_model import Cell, Period, Report
from bot.services.stats_report import BREAKDOWN_NOT_OVER
from bot.storage import stats_book
from bot.storage.database import Database
from bot.storage.stats_book import book_table
from tests.test_stats_rollup import _cells, add, fresh, roll


def _sums(rows: list[tuple[date, str, str, int]]) -> dict[tuple[date, str, str], int]:
    out: dict[tuple[date, str, str], int] = defaultdict(int)
    for day, team, kind, n in rows:
        out[(day, team, kind)] += n
    return {k: v for k, v in out.items() if v}


async def test_day_counts_are_the_same_across_the_watermark(database_url: str) -> None:
    cells = _cells()
    through = date(2027, 2, 20)
    raw: dict[tuple[date, str, str], int] = defaultdict(int)
    for (day, team, _lang, kind, _key), n in cells.items():
        if day <= through and kind in BOOK_KINDS:
            raw[(day, team, kind)] += n
    want = {k: v for k, v in raw.items() if v}
    async with fresh(database_url) as database:
        await add(database, cells)
        seen = []
        for watermark in (None, date(2026, 6, 30), date(2027, 3, 31)):  # none, inside, after
            if watermark is not None:
                await roll(database, watermark)
            async with database.snapshot_tx() as conn:
                rows = await stats_book.day_counts(conn, through, BOOK_KINDS)
            assert _sums(rows) == want, watermark
            seen.append(build_book(rows, through=through, teams=["laholm", "botkyrka"]))
        assert seen[0].cells == seen[1].cells == seen[2].cells  # the same protected figures


async def test_month_key_counts_are_the_same_across_the_watermark(database_url: str) -> None:
    """The guide's usage by month for all teams: whole months only (February 2027 is not
    over on the 20th), the same sums from month rollups, day rollups or counters."""
    cells = _cells()
    through = date(2027, 2, 20)
    want: dict[tuple[date, str, str], int] = defaultdict(int)
    for (day, _team, _lang, kind, key), n in cells.items():
        if day <= date(2027, 1, 31) and kind == "screen_viewed" and n:
            want[(day.replace(day=1), kind, key)] += n
    later = {k: v for k, v in want.items() if k[0] > date(2026, 8, 31)}
    async with fresh(database_url) as database:
        await add(database, cells)
        for watermark in (None, date(2026, 6, 15), date(2026, 9, 30), date(2027, 3, 31)):
            if watermark is not None:
                await roll(database, watermark)
            async with database.snapshot_tx() as conn:
                rows = await stats_book.month_key_counts(conn, through, ["screen_viewed"])
                since = await stats_book.month_key_counts(
                    conn, through, ["screen_viewed"], after=date(2026, 8, 31)
                )
                none = await stats_book.month_key_counts(
                    conn, through, ["screen_viewed"], after=date(2027, 1, 31)
                )
            assert {(m, k, key): n for m, k, key, n in rows} == want, watermark
            assert {(m, k, key): n for m, k, key, n in since} == later, watermark
            assert none == [], watermark


# --- the stored book (migration 0013): built once, read by every process, never rewritten


def _service(database: Database, today: date) -> StatsService:
    service = StatsService(database, frozenset({"laholm", "botkyrka"}))
    service.now = lambda: datetime.combine(today, time(12), UTC)
    return service


ADMIN = StaffUser(0, "root", "admin", frozenset())
WEEK = date(2026, 11, 23)  # Monday to Sunday 29 November


async def _stored_rows(database: Database) -> int:
    async with database.read_tx() as conn:
        return int((await conn.execute(select(func.count()).select_from(book_table))).scalar_one())


async def test_the_book_is_stored_once_and_read_by_another_process(database_url: str) -> None:
    async with fresh(database_url) as database:
        await add(database, {(WEEK, "laholm", "sv", "conversation_started", ""): 12})
        first = _service(database, date(2026, 11, 25))
        report = await first.report(ADMIN, Period.ending("week", WEEK), None)
        stored = await _stored_rows(database)
        assert stored > 0
        async with database.read_tx() as conn:
            assert await stats_book.book_through(conn) == date(2026, 11, 24)
        # Another process (its own service) reads the stored figures, and stores nothing.
        second = _service(database, date(2026, 11, 25))
        again = await second.report(ADMIN, Period.ending("week", WEEK), None)
        assert again.tables == report.tables and await _stored_rows(database) == stored
        # A stored book built from another day is never overwritten by an older one.
        async with database.write_tx() as conn:
            assert not await stats_book.save_book(conn, None, date(2026, 11, 24), [], {}, [])
        assert await _stored_rows(database) == stored


async def test_a_figure_shown_one_day_is_the_same_the_next(database_url: str) -> None:
    """The 23rd's 12 is shown on the 24th; 3 more counted late for the 23rd leave it 12 on
    the 25th, and the week, once over, is the days' published figures: 12 + 6."""
    async with fresh(database_url) as database:
        await add(database, {(WEEK, "laholm", "sv", "conversation_started", ""): 12})
        day_view = Period.ending("week", WEEK)
        laholm = StaffUser(1, "kim", "coordinator", frozenset({"laholm"}))

        async def cells(today: date) -> dict[str, Cell]:
            report = await _service(database, today).report(laholm, day_view, "laholm")
            table = next(t for t in report.tables if t.id == "conversations_over_time")
            assert table.totals is not None
            return {**{key: row[0] for key, row in table.rows}, "total": table.totals[0]}

        on_24th = await cells(date(2026, 11, 24))
        assert on_24th == {"2026-11-23": Cell(12), "total": Cell(None, pending=True)}
        await add(
            database,
            {
                (WEEK, "laholm", "fi", "conversation_started", ""): 3,  # late, for the 23rd
                (date(2026, 11, 24), "laholm", "sv", "conversation_started", ""): 6,
            },
        )
        on_30th = await cells(date(2026, 11, 30))
        assert on_30th["2026-11-23"] == Cell(12) and on_30th["2026-11-24"] == Cell(6)
        assert on_30th["total"] == Cell(18)


async def test_a_period_not_over_shows_no_breakdown(database_url: str) -> None:
    async with fresh(database_url) as database:
        await add(database, {(WEEK, "laholm", "sv", "screen_viewed", "worry"): 40})
        month = Period.ending("month", WEEK)
        during = await _service(database, date(2026, 11, 26)).report(ADMIN, month, None)
        screens = next(t for t in during.tables if t.id == "top_screens")
        assert screens.rows == [] and screens.note == BREAKDOWN_NOT_OVER
        after = await _service(database, date(2026, 12, 1)).report(ADMIN, month, None)
        screens = next(t for t in after.tables if t.id == "top_screens")
        assert [key for key, _ in screens.rows] == ["worry"]


# --- the breakdowns beside the totals (issue #13): a book of their own, the same rules


def _requests(team: str, topics: dict[str, int]) -> dict[tuple[date, str, str, str, str], int]:
    cells = {(WEEK, team, "sv", "request_created", ""): sum(topics.values())}
    for topic, n in topics.items():
        cells[(WEEK, team, "sv", "request_topic", topic)] = n
    return cells


def _topics(report: Report) -> dict[str, Cell]:
    table = next(t for t in report.tables if t.id == "topics")
    return {key: cells[0] for key, cells in table.rows}


async def test_breakdowns_are_stored_beside_the_totals_and_kept(database_url: str) -> None:
    """Laholm's 3 "worry" requests show as "<5" in its own week and in no report as a
    number; the breakdowns are stored once under their own state, read by another
    process, rebuilt if missing (an upgrade), and a count folded late changes nothing."""
    week = Period.ending("week", WEEK)
    laholm = StaffUser(1, "kim", "coordinator", frozenset({"laholm"}))
    async with fresh(database_url) as database:
        await add(database, {**_requests("laholm", {"worry": 3, "talk": 6}),
                             **_requests("botkyrka", {"talk": 7})})  # fmt: skip
        day = date(2026, 11, 30)
        own = await _service(database, day).report(laholm, week, "laholm")
        every = await _service(database, day).report(ADMIN, week, None)
        mine, all_teams = _topics(own), _topics(every)
        assert mine["worry"].shown == "<5" and mine["talk"].value is None  # its complement
        assert all_teams["worry"].shown == "<5" and all_teams["talk"].value in (13, None)
        async with database.read_tx() as conn:
            assert await stats_book.book_through(conn, stats_book.BREAKDOWNS_STATE) == (
                date(2026, 11, 29)
            )
        stored = await _stored_rows(database)
        again = await _service(database, day).report(laholm, week, "laholm")
        assert again.tables == own.tables and await _stored_rows(database) == stored
        # An upgrade from a version without them: the breakdowns are built on first use.
        async with database.write_tx() as conn:
            await conn.execute(delete(book_table).where(book_table.c.kind.in_(family_kinds())))
            await conn.execute(
                delete(stats_book.state_table).where(
                    stats_book.state_table.c.name == stats_book.BREAKDOWNS_STATE
                )
            )
        rebuilt = await _service(database, day).report(laholm, week, "laholm")
        assert rebuilt.tables == own.tables
        # Counted late for a week already shown: the next day's book keeps the figures.
        await add(database, _requests("laholm", {"worry": 1}))
        later = await _service(database, date(2026, 12, 1)).report(laholm, week, "laholm")
        assert _topics(later) == mine


async def test_a_topic_no_longer_offered_is_counted_under_other_answers(
    database_url: str,
) -> None:
    """Counters an earlier version wrote with a topic it no longer offers: kept as one row,
    so that the rows still add up to the requests."""
    week = Period.ending("week", WEEK)
    async with fresh(database_url) as database:
        await add(database, _requests("laholm", {"worry": 6, "retired_topic": 5}))
        report = await _service(database, date(2026, 11, 30)).report(ADMIN, week, "laholm")
        topics = _topics(report)
        assert topics[UNLISTED] == Cell(5) and topics["worry"] == Cell(6)
        table = next(t for t in report.tables if t.id == "topics")
        assert table.totals == [Cell(11)]


# --- the guide's usage (issue #13): all teams together, by month, in the book too

LONG_MOVE = "online_recruitment_signs>leaving_a_milieu_support"  # longer than 32


def _usage(report: Report, table_id: str) -> dict[str, str]:
    table = next(t for t in report.tables if t.id == table_id)
    return {key: cells[0].shown for key, cells in table.rows}


async def test_the_guides_usage_is_stored_by_month_and_kept(database_url: str) -> None:
    """November's moves and languages: stored under their own state once November is over
    (long keys too), the same in the quarter and for another process, and a count folded
    late for November changes none of it."""
    november = Period.ending("month", WEEK)
    quarter = Period.ending("quarter", WEEK)
    async with fresh(database_url) as database:
        await add(
            database,
            {
                (WEEK, "laholm", "sv", "screen_move", LONG_MOVE): 9,
                (WEEK, "laholm", "sv", "language_chosen", "sv"): 8,
                (WEEK, "botkyrka", "fi", "language_chosen", "fi"): 3,
                (WEEK, "", "en", "language_chosen", "en"): 6,
            },
        )
        day = date(2026, 12, 1)
        first = await _service(database, day).report(ADMIN, november, None)
        assert _usage(first, "screen_moves") == {LONG_MOVE: "9"}
        languages = _usage(first, "languages")
        assert languages["fi"] == "<5" and "hidden" in languages.values()  # its complement
        async with database.read_tx() as conn:
            assert await stats_book.book_through(conn, stats_book.USAGE_STATE) == (
                date(2026, 11, 30)
            )
        stored = await _stored_rows(database)
        async with database.read_tx() as conn:
            kinds = set((await conn.execute(select(book_table.c.kind))).scalars())
        assert f"usage_move#{LONG_MOVE}" in kinds
        again = await _service(database, day).report(ADMIN, november, None)
        assert again.tables == first.tables and await _stored_rows(database) == stored
        # Counted late for November: January's book keeps November's figures as they were.
        await add(database, {(WEEK, "laholm", "sv", "language_chosen", "fi"): 4})
        later = _service(database, date(2027, 1, 2))
        assert _usage(await later.report(ADMIN, november, None), "languages") == languages
        whole = await later.report(ADMIN, quarter, None)
        assert _usage(whole, "screen_moves") == {LONG_MOVE: "9"}
