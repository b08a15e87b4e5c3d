"""StatsService.report on SQLite and PostgreSQL: the right sums, nothing under 5, team rules."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.domain import StaffUser
from bot.services import stats_report
from bot.services.stats import (
    SMALL,
    Cell,
    Period,
    Report,
    StatsRecorder,
    StatsRefused,
    StatTable,
)
from tests.stats_helpers import report_service

TEAMS = frozenset({"laholm", "botkyrka"})
ADMIN = StaffUser(1, "ada", "admin", frozenset())
KIM = StaffUser(2, "kim", "coordinator", frozenset({"laholm"}))
STAFF = StaffUser(3, "sam", "staff", frozenset({"laholm"}))
NOV = Period(date(2026, 11, 1), date(2026, 11, 30), "month")
AFTER = datetime(2027, 6, 1, tzinfo=UTC)


def _fixture_cells() -> dict:
    cells: dict = {}
    for i in range(30):
        day = date(2026, 11, 1) + timedelta(days=i)
        cells[(day, "laholm", "sv", "conversation_started", "")] = 2 + i % 7  # 2..8 a day
        cells[(day, "laholm", "", "relatives", "")] = 2 + i % 7
        cells[(day, "botkyrka", "fi", "conversation_started", "")] = 10
    cells[(date(2026, 11, 3), "laholm", "sv", "screen_viewed", "worry")] = 40
    cells[(date(2026, 11, 3), "laholm", "sv", "screen_viewed", "talk")] = 12
    cells[(date(2026, 11, 3), "laholm", "sv", "screen_viewed", "online")] = 3
    cells[(date(2026, 11, 3), "laholm", "sv", "screen_move", "home>worry")] = 9
    cells[(date(2026, 11, 3), "laholm", "sv", "helpful", "worry:yes")] = 7
    cells[(date(2026, 11, 3), "laholm", "sv", "helpful", "worry:no")] = 2
    cells[(date(2026, 11, 3), "laholm", "sv", "helpful", "talk:yes")] = 6
    cells[(date(2026, 11, 3), "laholm", "sv", "helpful", "talk:no")] = 5
    # Three contact requests for laholm: every breakdown of them must be refused.
    cells[(date(2026, 11, 4), "laholm", "sv", "request_created", "")] = 3
    cells[(date(2026, 11, 4), "laholm", "sv", "request_topic", "online")] = 3
    cells[(date(2026, 11, 4), "laholm", "sv", "request_urgency", "soon")] = 3
    # Nineteen for botkyrka: urgent 1 must be hidden, and with it another cell.
    cells[(date(2026, 11, 5), "botkyrka", "fi", "request_created", "")] = 19
    cells[(date(2026, 11, 5), "botkyrka", "fi", "request_urgency", "urgent")] = 1
    cells[(date(2026, 11, 5), "botkyrka", "fi", "request_urgency", "soon")] = 8
    cells[(date(2026, 11, 5), "botkyrka", "fi", "request_urgency", "later")] = 10
    cells[(date(2026, 12, 1), "laholm", "sv", "conversation_started", "")] = 999  # outside
    cells[(date(2026, 11, 9), "", "", "conversation_started", "")] = 4  # no team chosen
    return cells


def _table(report: Report, table_id: str) -> StatTable:
    return next(t for t in report.tables if t.id == table_id)


def _every_value(report: Report) -> list[int]:
    out = []
    for t in report.tables:
        for _, cells in t.rows:
            out += [c.value for c in cells if c.value is not None]
        out += [c.value for c in t.totals or [] if c.value is not None]
    return out


async def test_a_coordinator_sees_only_their_team_with_small_counts_hidden(
    database_url: str,
) -> None:
    async with report_service(database_url, _fixture_cells(), TEAMS) as service:
        service.now = lambda: AFTER  # the fixture's periods are over
        report = await service.report(KIM, NOV, None)
        assert report.team_ids == ("laholm",)
        assert all(v == 0 or v >= SMALL for v in _every_value(report))
        over = _table(report, "conversations_over_time")
        assert len(over.rows) == 30 and over.rows[0][0] == "2026-11-01"
        conversations = sum(2 + i % 7 for i in range(30))
        # Issue #13: the month total is the one protected figure every report shows (here
        # hidden, since the all-teams per-team table hides laholm beside "none" 4): the
        # true count or hidden, never another number; the funnel shows the same figure.
        assert over.totals is not None and over.totals[0].value in (conversations, None)
        # Days with 2-4 conversations are hidden; botkyrka's 10 a day never appear.
        shown = [cells[0].shown for _, cells in over.rows]
        assert shown[:3] == ["<5", "<5", "<5"] and shown[3] in ("5", "hidden")
        assert "10" not in shown
        funnel = dict((k, c[0]) for k, c in _table(report, "funnel").rows)
        assert funnel["Conversations started"] == over.totals[0]
        assert funnel["Contact requests sent"].value is None  # 3: "<5" or not shown
        # Three requests: their breakdowns are refused with a plain note, not shown ("fewer
        # than 5" beside a "<5"; beside a total not shown at all, not even that).
        sent = funnel["Contact requests sent"]
        for table_id in ("topics", "urgency"):
            table = _table(report, table_id)
            assert table.rows == [] and table.note
            if sent.withheld:
                assert table.note == stats_report.BOOK_HIDES_TOTAL
            else:
                assert "fewer than 5" in table.note
        # How the guide is used is for all teams together (issue #13): not in a team's.
        for table_id in stats_report.USAGE_TABLES:
            table = _table(report, table_id)
            assert table.rows == [] and table.note == stats_report.USAGE_ALL_TEAMS_ONLY


async def test_the_guides_usage_is_shown_for_all_teams_protected_across_reports(
    database_url: str,
) -> None:
    async with report_service(database_url, _fixture_cells(), TEAMS) as service:
        service.now = lambda: AFTER  # the fixture's periods are over
        # 40 + 12 + 3 screen views: the 3 is pinned by the total, so the 12 is hidden as
        # its complement; the ranking shows the 40 and folds the rest into "Other".
        for period in (NOV, Period(date(2026, 10, 1), date(2026, 12, 31), "quarter")):
            report = await service.report(ADMIN, period, None)
            screens = _table(report, "top_screens")
            assert [(k, c[0].shown) for k, c in screens.rows] == [
                ("worry", "40"),
                ("Other screens", "15"),
            ]
            assert screens.totals == [Cell(55)]
            moves = _table(report, "screen_moves")
            assert [(k, c[0].shown) for k, c in moves.rows] == [("home>worry", "9")]
        week = Period(date(2026, 11, 2), date(2026, 11, 8), "week")
        languages = _table(await service.report(ADMIN, week, None), "languages")
        assert languages.rows == [] and languages.note == stats_report.USAGE_NOT_WEEKLY


async def test_complementary_cell_is_hidden_and_says_so(database_url: str) -> None:
    async with report_service(database_url, _fixture_cells(), TEAMS) as service:
        service.now = lambda: AFTER  # the fixture's periods are over
        # Within a breakdown: "No" 2 for "worry" is "<5", so "No" 5 for "talk" is hidden too
        # (the column total 7 would give it away), and the note says why.
        helpful = _table(await service.report(ADMIN, NOV, None), "helpfulness")
        shown = {k: [c.shown for c in cells] for k, cells in helpful.rows}
        assert shown == {"talk": ["6", "hidden"], "worry": ["7", "<5"]}
        assert helpful.note and "hidden" in helpful.note
        # A breakdown whose total the book hides (botkyrka's 19 requests, hidden beside
        # laholm's 3 in the per-team table) is not shown: its total would give it away.
        report = await service.report(ADMIN, NOV, "botkyrka")
        funnel = dict((k, c[0]) for k, c in _table(report, "funnel").rows)
        urgency = _table(report, "urgency")
        if funnel["Contact requests sent"].value is None:
            assert urgency.rows == [] and urgency.note and "total is hidden" in urgency.note
        else:
            assert urgency.totals is not None and urgency.totals[0].value == 19


async def test_admin_all_teams_adds_the_per_team_table_and_teamless_counts(
    database_url: str,
) -> None:
    async with report_service(database_url, _fixture_cells(), TEAMS) as service:
        service.now = lambda: AFTER  # the fixture's periods are over
        report = await service.report(ADMIN, NOV, None)
        assert report.team_ids == ("botkyrka", "laholm")
        over = _table(report, "conversations_over_time")
        laholm = sum(2 + i % 7 for i in range(30))
        assert over.totals is not None and over.totals[0].value in (laholm + 300 + 4, None)
        by_team = {k: cells for k, cells in _table(report, "by_team").rows}
        # "none" (4) is hidden, and at least one more figure of its line with it.
        assert by_team["none"][0].shown == "<5"
        line = [by_team["laholm"][0], by_team["botkyrka"][0], over.totals[0]]
        assert any(c.value is None for c in line)
        assert {c.value for c in line} <= {laholm, 300, laholm + 304, None}
        # One figure everywhere (issue #13): laholm in the per-team table is laholm's own
        # month total in laholm's own report.
        own = _table(await service.report(ADMIN, NOV, "laholm"), "conversations_over_time")
        assert own.totals is not None and own.totals[0] == by_team["laholm"][0]


async def test_refusals_are_plain(database_url: str) -> None:
    async with report_service(database_url, {}, TEAMS) as service:
        with pytest.raises(StatsRefused, match="your own teams"):
            await service.report(KIM, NOV, "botkyrka")
        with pytest.raises(StatsRefused, match="no such team"):
            await service.report(ADMIN, NOV, "nowhere")
        with pytest.raises(StatsRefused, match="coordinators and administrators"):
            await service.report(STAFF, NOV, None)
        with pytest.raises(StatsRefused, match="first day"):
            await service.report(ADMIN, Period(date(2026, 11, 2), date(2026, 11, 1), "month"), None)
        # the grid: a range that is no whole week, month, quarter or year is refused
        for off_grid in (
            Period(date(2026, 11, 2), date(2026, 11, 20), "month"),
            Period(date(2026, 11, 2), date(2026, 11, 9), "week"),  # Monday to the next Monday
        ):
            with pytest.raises(StatsRefused, match="a week, a month, a quarter or a year"):
                await service.report(ADMIN, off_grid, None)
        empty = await service.report(KIM, NOV, "laholm")
        assert all(v == 0 for v in _every_value(empty))


async def test_quarter_by_month_and_year_by_month(database_url: str) -> None:
    async with report_service(database_url, _fixture_cells(), TEAMS) as service:
        service.now = lambda: AFTER  # the fixture's periods are over
        quarter = Period.ending("quarter", date(2026, 11, 15))
        rows = _table(await service.report(ADMIN, quarter, None), "conversations_over_time").rows
        # Changed (issue #13): a quarter's rows are its months, not weeks cut at its edges,
        # so every row is a grid figure other reports show too, and the same protected one.
        assert [k for k, _ in rows] == ["2026-10", "2026-11", "2026-12"]
        year = Period.ending("year", date(2026, 11, 15))
        report = await service.report(ADMIN, year, None)
        rows = _table(report, "conversations_over_time").rows
        assert [k for k, _ in rows][-2:] == ["2026-11", "2026-12"]
        # December's 999 is hidden as a complement in the book (all teams and laholm alike)
        # on this fixture; a month row holds its month's days (the row exists, never a
        # wrong number). TODO(H3, lead): a fixture whose December figure the book shows.
        assert rows[-1][1][0].value in (999, None)


async def test_csv_and_json_carry_the_same_suppressed_figures(database_url: str) -> None:
    async with report_service(database_url, _fixture_cells(), TEAMS) as service:
        service.now = lambda: AFTER  # the fixture's periods are over
        report = await service.report(ADMIN, NOV, None)
        lines = list(csv.DictReader(io.StringIO(service.to_csv(report))))
        values = [r["value"] for r in lines if r["column"] != "note"]
        assert "<5" in values and "hidden" in values
        assert not {"1", "2", "3", "4"} & set(values)
        worry = [r for r in lines if r["table"] == "helpfulness" and r["row"] == "worry"]
        assert [r["value"] for r in worry] == ["7", "<5"]
        assert worry[0]["teams"] == "botkyrka laholm"
        data = service.to_json(report)
        import json

        json.dumps(data)  # plain JSON types only
        helpful = next(t for t in data["tables"] if t["id"] == "helpfulness")
        assert helpful["rows"][1] == {
            "key": "worry",
            "cells": [{"value": 7, "shown": "7"}, {"value": None, "shown": "<5"}],
        }
        assert data["period"] == {"start": "2026-11-01", "end": "2026-11-30", "kind": "month"}


async def test_a_period_not_over_yet_ends_yesterday_and_a_day_counts_the_next_day(
    database_url: str,
) -> None:
    """Changed (issue #13): closed days only. On the day itself the report ends the day
    before; the next day, the day's relatives and conversations (from its digests) are in."""
    today = date(2026, 11, 10)
    async with report_service(database_url, {}, TEAMS) as service:
        service.now = lambda: datetime(2026, 11, 10, 12, tzinfo=UTC)
        recorder = StatsRecorder(service.database, b"k" * 32, today=lambda: today)
        for i in range(6):
            recorder.started(f"chat-{i}", "sv")
            recorder.seen(f"chat-{i}", None)
            recorder.chose_team(f"chat-{i}", "laholm")
            recorder.seen(f"chat-{i}", "laholm")
        recorder.started("undecided", "sv")
        recorder.seen("undecided", None)
        assert await recorder.flush()
        report = await service.report(KIM, Period.ending("month", today), None)
        assert report.period == Period(date(2026, 11, 1), date(2026, 11, 9), "month")
        rows = _table(report, "conversations_over_time").rows
        assert len(rows) == 9 and all(c.value == 0 for _, cells in rows for c in cells)
        service.now = lambda: datetime(2026, 11, 11, 8, tzinfo=UTC)  # the next morning
        report = await service.report(KIM, Period.ending("month", today), None)
        assert report.period == Period(date(2026, 11, 1), today, "month")
        rows = _table(report, "conversations_over_time").rows
        assert len(rows) == 10 and rows[-1][0] == "2026-11-10"
        # 6 relatives for laholm that day; its 6 conversations, or all teams' 7 beside the
        # undecided one's "<5", are hidden in every report that shows them.
        conversations, relatives = rows[-1][1]
        assert relatives.value == 6 and conversations.shown in ("6", "hidden")
        funnel = dict((k, c[0]) for k, c in _table(report, "funnel").rows)
        assert funnel["Conversations started"].value in (6, None)
        everyone = await service.report(ADMIN, Period.ending("week", today), None)
        rows = _table(everyone, "conversations_over_time").rows
        assert rows[-1][0] == "2026-11-10"
        conversations, relatives = rows[-1][1]
        assert relatives.value == 7 and conversations.shown in ("7", "hidden")
        year = await service.report(ADMIN, Period.ending("year", today), None)
        assert _table(year, "conversations_over_time").rows[-1][0] == "2026-11"
        with pytest.raises(StatsRefused, match="no finished day"):  # December has no day yet
            await service.report(ADMIN, Period.ending("month", date(2026, 12, 5)), None)


def test_the_benchmark_still_runs() -> None:
    """Tiny numbers, nothing timed: keeps bot.bench.stats working as the product changes."""
    import subprocess
    import sys

    from tests.conftest import REPO

    done = subprocess.run(
        [sys.executable, "-m", "bot.bench.stats", "--runs", "1", "--days", "10",
         "--conversations", "4"],
        cwd=REPO, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "GET /staff/stats, all teams, year" in done.stdout
