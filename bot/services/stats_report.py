"""Build the report's tables from period sums; every number passes through suppression.

Why these shapes: every table has totals in one direction only (column totals), so a
total is hidden exactly when it is under 5 and the same quantity shown in two tables on
one page (the funnel's steps, the requests table's total, each breakdown's total) is
hidden in both or in neither. Rankings (top screens, moves) show only rows of 5 or more
and fold the rest into "Other ...", so their order says nothing about small counts;
breakdowns list their vocabulary in a fixed order, never sorted by the hidden values.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

from bot.domain import CONCERNS, FEEDBACK, OUTCOMES, REPLY_VIA, TOPICS, URGENCIES
from bot.services.protected import ALL, FAMILY_OF, UNLISTED, USAGE_OF, Book, Level, key_kind
from bot.services.stats_model import (
    SMALL,
    TIME_BUCKETS,
    Cell,
    Period,
    Report,
    StatTable,
)
from bot.services.suppression import (
    BreakdownRefused,
    refuse_small_breakdown,
    small_breakdown_note,
    suppress_table,
    suppress_values,
)

TOP_SCREENS = 20
TOP_MOVES = 15
SERIES_KINDS = ["conversation_started", "relatives", "request_created"]
KEYED_KINDS = [
    "conversation_started",
    "screen_viewed",
    "screen_move",
    "language_chosen",
    "helpful",
    "request_started",
    "request_created",
    "request_urgency",
    "request_topic",
    "request_concerns",
    "request_reply_via",
    "request_withdrawn",
    "time_to_claim",
    "time_to_first_reply",
    "case_outcome",
    "relay_failed",
    "contact_feedback",
]
OTHER_SCREENS = "Other screens"
OTHER_MOVES = "Other moves"
HIDDEN_NOTE = (
    'Counts under 5 show as "<5"; cells marked "hidden" are 5 or more and hidden so '
    "that the small ones cannot be worked out from the totals."
)


def bucket_size(period: Period) -> str:
    """Rows of a series: days for a week or month, months for a quarter or a year.

    Only grid cells (issue #13): a quarter's rows are its months, not weeks cut at its
    edges, so every row is a figure some other report shows too, and the same one.
    """
    if period.kind in ("week", "month"):
        return "day"
    return "month"


def bucket_of(day: date, size: str, period: Period) -> str:
    if size == "day":
        return day.isoformat()
    if size == "week":
        return max(day - timedelta(days=day.weekday()), period.start).isoformat()
    return day.strftime("%Y-%m")


def buckets(period: Period, last: date | None = None) -> list[str]:
    """The series' rows, never a day after ``last`` (today: a future day is not a zero)."""
    size = bucket_size(period)
    out: list[str] = []
    day = period.start
    end = period.end if last is None else min(period.end, last)
    while day <= end:
        key = bucket_of(day, size, period)
        if not out or out[-1] != key:
            out.append(key)
        day += timedelta(days=1)
    return out


def _refused(table_id: str, title: str, row_label: str, columns: list[str], note: str) -> StatTable:
    return StatTable(table_id, title, row_label, columns, rows=[], totals=None, note=note)


def column_table(
    table_id: str,
    title: str,
    row_label: str,
    columns: list[str],
    rows: Sequence[tuple[str, Sequence[int]]],
    what: str,
    note: str | None = None,
) -> StatTable:
    """A breakdown with a total per column, suppressed; refused when it cannot be protected."""
    values = [list(v) for _, v in rows]
    try:
        for col in range(len(columns)):
            refuse_small_breakdown(sum(v[col] for v in values), what)
        if not values:
            return StatTable(table_id, title, row_label, columns, [], [Cell(0)] * len(columns))
        s = suppress_table(values, col_totals=True)
    except BreakdownRefused as exc:
        return _refused(table_id, title, row_label, columns, exc.message)
    shown_rows = [
        (key, [Cell(v, m == "complement") for v, m in zip(vals, marks, strict=True)])
        for (key, _), vals, marks in zip(rows, s.cells, s.cell_marks, strict=True)
    ]
    totals = [Cell(v) for v in s.col_totals or []]
    if any(m == "complement" for row in s.cell_marks for m in row):
        note = f"{note} {HIDDEN_NOTE}" if note else HIDDEN_NOTE
    return StatTable(table_id, title, row_label, columns, shown_rows, totals, note)


def ranking(
    table_id: str,
    title: str,
    row_label: str,
    counts: dict[str, int],
    top: int,
    other: str,
    what: str,
) -> StatTable:
    """The biggest rows of 5 or more, the rest folded into one "Other" row."""
    big = sorted(((k, v) for k, v in counts.items() if v >= SMALL), key=lambda kv: (-kv[1], kv[0]))
    shown = big[:top]
    rest = sum(counts.values()) - sum(v for _, v in shown)
    rows: list[tuple[str, list[int]]] = [(k, [v]) for k, v in shown]
    if rest or not rows:
        rows.append((other, [rest]))
    return column_table(table_id, title, row_label, ["Count"], rows, what)


def _bucket_start(key: str, size: str) -> date:
    return date.fromisoformat(key if size == "day" else f"{key}-01")


def build_tables(
    period: Period,
    series: list[tuple[date, str, int]],
    keyed: list[tuple[str, str, int]],
    by_team: list[tuple[str, str, int]] | None,
    last: date | None = None,
    *,
    book: Book | None = None,
    unit: str = ALL,
) -> list[StatTable]:
    """The report's tables. With ``book`` (every report's figures protected once, see
    ``bot.services.protected``), every table shows the book's figures for ``unit`` (a team,
    a group or ALL) unchanged, ``series`` and ``keyed`` are not read, and ``by_team`` only
    names the teams of the per-team table; a breakdown whose total the book hides is not
    shown. Without it, each table is protected on its own (the checkers' per-report view)."""
    if book is not None:
        return _tables_from_book(period, by_team, last, book, unit)
    size = bucket_size(period)
    rows_over_time = buckets(period, last)
    over: dict[str, dict[str, int]] = {k: defaultdict(int) for k in SERIES_KINDS}
    for day, kind, n in series:
        over[kind][bucket_of(day, size, period)] += n
    per: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for kind, key, n in keyed:
        per[kind][key] += n

    def total(kind: str) -> int:
        return sum(per[kind].values())

    time_label = {"day": "Day", "week": "Week from", "month": "Month"}[size]
    tables = [
        column_table(
            "conversations_over_time",
            "Conversations and relatives over time",
            time_label,
            ["Conversations started", "Relatives (distinct per day)"],
            [(b, [over["conversation_started"][b], over["relatives"][b]]) for b in rows_over_time],
            "conversations",
            note=(
                "A relative is counted once per day; rows and totals longer than a day add "
                "up the days."
            )
            if size != "day"
            else "A relative is counted once per day; the total adds up the days.",
        ),
        column_table(
            "requests_over_time",
            "Contact requests over time",
            time_label,
            ["Contact requests"],
            [(b, [over["request_created"][b]]) for b in rows_over_time],
            "contact requests",
        ),
    ]
    steps = [
        ("Conversations started", total("conversation_started")),
        ("Guide screens viewed", total("screen_viewed")),
        ("Contact questions begun", total("request_started")),
        ("Contact requests sent", total("request_created")),
        ("Requests withdrawn", total("request_withdrawn")),
        ("Replies that could not be delivered", total("relay_failed")),
    ]
    funnel_values = suppress_values([n for _, n in steps])
    tables.append(
        StatTable(
            "funnel",
            "From first message to contact request",
            "Step",
            ["Count"],
            [(label, [Cell(v)]) for (label, _), v in zip(steps, funnel_values, strict=True)],
            note="Screens are counted per view, not per person.",
        )
    )
    tables.append(
        ranking(
            "top_screens",
            "Most viewed screens",
            "Screen",
            per["screen_viewed"],
            TOP_SCREENS,
            OTHER_SCREENS,
            "screen views",
        )
    )
    tables.append(
        ranking(
            "screen_moves",
            "Moves between screens",
            "From → to",
            per["screen_move"],
            TOP_MOVES,
            OTHER_MOVES,
            "moves between screens",
        )
    )
    tables.append(
        column_table(
            "languages",
            "Languages chosen",
            "Language",
            ["Count"],
            sorted((k, [v]) for k, v in per["language_chosen"].items()),
            "language choices",
        )
    )
    helpful: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for key, n in per["helpful"].items():
        node, _, answer = key.rpartition(":")
        if answer in ("yes", "no") and node:
            helpful[node][0 if answer == "yes" else 1] += n
    tables.append(
        column_table(
            "helpfulness",
            "Was this helpful? (per article)",
            "Article",
            ["Yes", "No"],
            sorted(helpful.items()),
            "answers to 'Was this helpful?'",
        )
    )
    for table_id, title, row_label, kind, vocabulary, what in (
        ("urgency", "Contact requests by urgency", "Urgency", "request_urgency", URGENCIES,
         "requests"),
        ("topics", "Contact requests by topic", "Topic", "request_topic", TOPICS, "requests"),
        ("concerns", "Whom the worry concerns", "Whom it concerns", "request_concerns",
         CONCERNS, "requests"),
        ("reply_via", "Preferred way of reply", "Reply", "request_reply_via", REPLY_VIA,
         "requests"),
        ("time_to_claim", "Time until a request was taken", "Time", "time_to_claim",
         TIME_BUCKETS, "taken requests"),
        ("time_to_first_reply", "Time until the first reply", "Time", "time_to_first_reply",
         TIME_BUCKETS, "first replies"),
        ("outcomes", "Outcomes of closed requests", "Outcome", "case_outcome", OUTCOMES,
         "closed requests"),
    ):  # fmt: skip
        counts = per[kind]
        keys = list(vocabulary) + sorted(k for k in counts if k not in vocabulary)
        tables.append(
            column_table(
                table_id, title, row_label, ["Requests"], [(k, [counts[k]]) for k in keys], what
            )
        )
    feedback = per["contact_feedback"]
    answers = list(FEEDBACK) + sorted(k for k in feedback if k not in FEEDBACK)
    tables.append(
        column_table(
            "contact_feedback",
            "Did the contact help?",
            "Answer",
            ["Answers"],
            [(k, [feedback[k]]) for k in answers],
            "answers to 'Did the contact help?'",
            note=FEEDBACK_NOTE,
        )
    )
    if by_team is not None:
        teams: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for team, kind, n in by_team:
            teams[team or "none"][0 if kind == "conversation_started" else 1] += n
        tables.append(
            column_table(
                "by_team",
                "Per team",
                "Team",
                ["Conversations started", "Contact requests"],
                sorted(teams.items()),
                "conversations",
            )
        )
    return tables


FEEDBACK_NOTE = (
    "Asked once, when the team closes a request; answering is optional, so not every closed "
    "request has an answer."
)
# The breakdowns the book keeps (``protected.FAMILIES``): table id -> (family, what it counts).
FAMILY_TABLES = {
    "urgency": ("request_urgency", "requests"),
    "topics": ("request_topic", "requests"),
    "concerns": ("request_concerns", "requests"),
    "reply_via": ("request_reply_via", "requests"),
    "time_to_claim": ("time_to_claim", "taken requests"),
    "time_to_first_reply": ("time_to_first_reply", "first replies"),
    "outcomes": ("case_outcome", "closed requests"),
    "contact_feedback": ("contact_feedback", "answers to 'Did the contact help?'"),
}


# The guide's usage tables (``protected.USAGE``): table id -> (families, top rows or None).
# A ranking shows its biggest rows of 5 or more and folds the rest into its "Other" row.
USAGE_TABLES: dict[str, tuple[tuple[str, ...], tuple[int, str] | None, str]] = {
    "top_screens": (("usage_screen",), (TOP_SCREENS, OTHER_SCREENS), "screen views"),
    "screen_moves": (("usage_move",), (TOP_MOVES, OTHER_MOVES), "moves between screens"),
    "languages": (("usage_language",), None, "language choices"),
    "helpfulness": (
        ("usage_helpful_yes", "usage_helpful_no"),
        None,
        "answers to 'Was this helpful?'",
    ),
}
USAGE_ALL_TEAMS_ONLY = (
    "How the guide is used is shown for all teams together, in the administrators' "
    "report: per team these counts are small, and reports set side by side could give a "
    "small one away."
)
USAGE_NOT_WEEKLY = "How the guide is used is shown for months, quarters and years."
FUNNEL = [
    ("Conversations started", "conversation_started"),
    ("Guide screens viewed", "screen_viewed"),
    ("Contact questions begun", "request_started"),
    ("Contact requests sent", "request_created"),
    ("Requests withdrawn", "request_withdrawn"),
    ("Replies that could not be delivered", "relay_failed"),
]
BOOK_HIDES_TOTAL = (
    "Not shown: its total is hidden in this period's figures so that a small count elsewhere "
    "cannot be worked out, and this table would show it."
)
# (issue #13) a period not over yet: no totals, and no breakdowns (their rows are totals
# too): a running total asked for on two days would give away the day between.
NOT_OVER_NOTE = (
    "This period is not over yet: its totals are shown from the day after it ends, and "
    "never change after that."
)
BREAKDOWN_NOT_OVER = (
    "Shown from the day after the period ends, so that no figure of it changes from one day "
    "to the next."
)


def _tables_from_book(
    period: Period,
    by_team: list[tuple[str, str, int]] | None,
    last: date | None,
    book: Book,
    unit: str,
) -> list[StatTable]:
    size = bucket_size(period)
    level: Level = period.kind
    rows_over_time = buckets(period, last)
    row_level: Level = "day" if size == "day" else "month"

    def fig(kind: str, lvl: Level, start: date, who: str = unit) -> Cell:
        return book.cell(kind, lvl, start, who)

    def over_time(kinds: list[str]) -> tuple[list[tuple[str, list[Cell]]], list[Cell]]:
        rows = [
            (b, [fig(k, row_level, _bucket_start(b, size)) for k in kinds]) for b in rows_over_time
        ]
        return rows, [fig(k, level, period.start) for k in kinds]

    def table(
        table_id: str,
        title: str,
        row_label: str,
        columns: list[str],
        rows: list[tuple[str, list[Cell]]],
        totals: list[Cell] | None,
        note: str | None = None,
    ) -> StatTable:
        every = [c for _, cells in rows for c in cells] + list(totals or [])
        if any(c.pending for c in every):
            note = f"{note} {NOT_OVER_NOTE}" if note else NOT_OVER_NOTE
        if any(c.complement for c in every):
            note = f"{note} {HIDDEN_NOTE}" if note else HIDDEN_NOTE
        return StatTable(table_id, title, row_label, columns, rows, totals, note)

    time_label = {"day": "Day", "month": "Month"}[size]
    conv_rows, conv_totals = over_time(["conversation_started", "relatives"])
    req_rows, req_totals = over_time(["request_created"])
    tables = [
        table(
            "conversations_over_time",
            "Conversations and relatives over time",
            time_label,
            ["Conversations started", "Relatives (distinct per day)"],
            conv_rows,
            conv_totals,
            note=(
                "A relative is counted once per day; rows and totals longer than a day add "
                "up the days."
            )
            if size != "day"
            else "A relative is counted once per day; the total adds up the days.",
        ),
        table(
            "requests_over_time",
            "Contact requests over time",
            time_label,
            ["Contact requests"],
            req_rows,
            req_totals,
        ),
        table(
            "funnel",
            "From first message to contact request",
            "Step",
            ["Count"],
            [(label, [fig(kind, level, period.start)]) for label, kind in FUNNEL],
            None,
            note="Screens are counted per view, not per person.",
        ),
    ]
    headings = build_tables(period, [], [], None, last)  # each table's id, title and columns
    skip = {"conversations_over_time", "requests_over_time", "funnel", "by_team"}
    over = Period.ending(period.kind, period.start).end <= book.through

    def from_book(t: StatTable) -> StatTable:
        """A breakdown the book keeps: its rows as the book has them, in every report."""
        family = FAMILY_OF[FAMILY_TABLES[t.id][0]]
        start = period.start

        def refused(note: str) -> StatTable:
            return _refused(t.id, t.title, t.row_label, t.columns, note)

        few = small_breakdown_note(FAMILY_TABLES[t.id][1])
        if family.total is not None:
            of = fig(family.total, level, start)
            if of.value is None:  # "<5": too few; hidden or withheld: the rows would show it
                return refused(BOOK_HIDES_TOTAL if of.complement or of.withheld else few)
        total, mark = book.figures.get((family.kind, level, start, unit), (0, "shown"))
        if mark != "shown":  # too few to break down (or rows that miss their total)
            return refused(few if 0 < total < SMALL else BOOK_HIDES_TOTAL)
        keys = list(family.keys)
        if book.mark(key_kind(family.kind, UNLISTED), level, start, unit) is not None:
            keys.append(UNLISTED)
        rows = [(k, [fig(key_kind(family.kind, k), level, start)]) for k in keys]
        note = FEEDBACK_NOTE if t.id == "contact_feedback" else None
        return table(t.id, t.title, t.row_label, t.columns, rows, [Cell(total)], note)

    def usage(t: StatTable) -> StatTable:
        """A table of the guide's usage: the book's figures for all teams (see USAGE)."""
        if unit != ALL:
            return _refused(t.id, t.title, t.row_label, t.columns, USAGE_ALL_TEAMS_ONLY)
        if level == "week":
            return _refused(t.id, t.title, t.row_label, t.columns, USAGE_NOT_WEEKLY)
        families, ranking_of, what = USAGE_TABLES[t.id]
        columns: list[list[tuple[str, Cell]]] = []
        totals: list[Cell] = []
        for name in families:
            family = USAGE_OF[name]
            if family.total is not None and fig(family.total, level, start).value is None:
                return _refused(t.id, t.title, t.row_label, t.columns, BOOK_HIDES_TOTAL)
            total, mark = book.figures.get((name, level, start, ALL), (0, "shown"))
            if mark != "shown" or 0 < total < SMALL:
                note = small_breakdown_note(what) if 0 < total < SMALL else BOOK_HIDES_TOTAL
                return _refused(t.id, t.title, t.row_label, t.columns, note)
            columns.append(book.family_rows(name, level, start, ALL))
            totals.append(Cell(total))
        if ranking_of is None:
            keys = sorted({key for rows in columns for key, _ in rows})
            rows = [(k, [dict(col).get(k, Cell(0)) for col in columns]) for k in keys]
            return table(t.id, t.title, t.row_label, t.columns, rows, totals)
        top, other = ranking_of
        big = [(k, c) for k, c in columns[0] if c.value is not None and c.value >= SMALL]
        shown = sorted(big, key=lambda kc: (-(kc[1].value or 0), kc[0]))[:top]
        rest = (totals[0].value or 0) - sum(c.value or 0 for _, c in shown)
        ranked: list[tuple[str, list[Cell]]] = [(k, [c]) for k, c in shown]
        if rest or not ranked:  # the total less the rows shown ("<5" when it is small)
            ranked.append((other, [Cell(None if 0 < rest < SMALL else rest)]))
        return table(t.id, t.title, t.row_label, t.columns, ranked, totals)

    start = period.start
    for t in headings:
        if t.id in skip:
            continue
        if t.id in USAGE_TABLES and (unit != ALL or level == "week"):
            t = usage(t)  # never shown there, over or not
        elif not over:
            t = _refused(t.id, t.title, t.row_label, t.columns, BREAKDOWN_NOT_OVER)
        elif t.id in FAMILY_TABLES:
            t = from_book(t)
        elif t.id in USAGE_TABLES:
            t = usage(t)
        tables.append(t)
    if by_team is not None:
        members = sorted({team or "none" for team, _, _ in by_team})
        rows = [
            (
                name,
                [
                    fig(k, level, period.start, "" if name == "none" else name)
                    for k in PER_TEAM_COLUMNS
                ],
            )
            for name in members
        ]
        tables.append(
            table(
                "by_team",
                "Per team",
                "Team",
                ["Conversations started", "Contact requests"],
                rows,
                [fig(k, level, period.start) for k in PER_TEAM_COLUMNS],
            )
        )
    return tables


PER_TEAM_COLUMNS = ["conversation_started", "request_created"]


CSV_COLUMNS = [
    "period_start",
    "period_end",
    "time_zone",
    "teams",
    "table",
    "row",
    "column",
    "value",
]
LABEL_COLUMNS = ["table_title", "row_label", "column_label"]


def to_csv(
    report: Report,
    *,
    delimiter: str = ",",
    label: Callable[[str], str] | None = None,
    say: Callable[[str], str] | None = None,
    note: Callable[[str], str] | None = None,
) -> str:
    """One tidy row per shown number: the same figures as the page, already suppressed.

    ``time_zone`` on every row says whose days the dates (the period's and the daily rows')
    are: TIME_ZONE's, not UTC. Dates are ISO 8601 (YYYY-MM-DD; months YYYY-MM); every
    value is a whole count or its shown text ("<5", "hidden"), never a hidden number, so
    no decimal or thousands separator is ever written (Excel reads the counts as numbers
    in every locale). ``delimiter`` ";" is what Excel expects where the decimal separator
    is a comma (Swedish). With ``label`` (a row key in words) and ``say`` (a msgid in the
    reader's language), three more columns name the table, row and column in words, and
    notes and "hidden" are in that language too; ``note`` translates a table's note.
    """
    words = say or (lambda msgid: msgid)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    labelled = label is not None
    writer.writerow(CSV_COLUMNS + (LABEL_COLUMNS if labelled else []))
    head = [
        report.period.start.isoformat(),
        report.period.end.isoformat(),
        report.time_zone,
        " ".join(report.team_ids),
    ]

    def row(table: StatTable, key: str, column: str, value: str, key_words: str) -> None:
        cells = [*head, table.id, key, column, value]
        if label is not None:
            cells += [words(table.title), key_words, words(column)]
        writer.writerow(cells)

    def shown(cell: Cell) -> str:
        return words(cell.shown) if cell.complement or cell.withheld or cell.pending else cell.shown

    for table in report.tables:
        for key, cells in table.rows:
            key_words = label(key) if label is not None else key
            for column, cell in zip(table.columns, cells, strict=True):
                row(table, key, column, shown(cell), key_words)
        if table.totals is not None:
            for column, cell in zip(table.columns, table.totals, strict=True):
                row(table, "Total", column, shown(cell), words("Total"))
        if table.note:
            row(table, "", "note", (note or words)(table.note), "")
    return out.getvalue()


def _cell(cell: Cell) -> dict[str, Any]:
    return {"value": cell.value, "shown": cell.shown}


def to_json(report: Report) -> dict[str, Any]:
    """Plain JSON types only; a hidden number is null with its shown text ("<5" / "hidden")."""
    return {
        "period": {
            "start": report.period.start.isoformat(),
            "end": report.period.end.isoformat(),
            "kind": report.period.kind,
        },
        "time_zone": report.time_zone,  # the days are days in this zone
        "teams": list(report.team_ids),
        "small_count_limit": SMALL,
        "tables": [
            {
                "id": t.id,
                "title": t.title,
                "row_label": t.row_label,
                "columns": list(t.columns),
                "rows": [{"key": key, "cells": [_cell(c) for c in cells]} for key, cells in t.rows],
                "totals": [_cell(c) for c in t.totals] if t.totals is not None else None,
                "note": t.note,
            }
            for t in report.tables
        ],
    }
