"""Words and chart shapes for the statistics tables (the service gives ids, the page labels).

The statistics service speaks English msgids (titles, row labels, columns, notes); the
pages translate them with the page's catalog. Every msgid it may emit is listed here
with ``N_`` so pybabel extracts it into ``locales/messages.pot`` (and the content
check counts it as a staff string); ``tests/test_content_check.py`` builds every table
the service can build and fails on any word of it the Swedish catalog lacks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

from bot.i18n import N_
from bot.services.stats import SMALL, TIME_BUCKETS, UNLISTED, Cell

# A cell hidden although 5 or more (complementary suppression): "<5" would be untrue.
HIDDEN = N_("hidden")
# Withheld: not shown at all, where the rules would otherwise pin a small count (#13).
NOT_SHOWN = N_("not shown")
# Pending: a total of a period not over yet, shown from the day after it ends (#13).
PENDING = N_("after the period")
NOT_OVER_NOTE = N_(
    "This period is not over yet: its totals are shown from the day after it ends, and "
    "never change after that."
)
BREAKDOWN_NOT_OVER = N_(
    "Shown from the day after the period ends, so that no figure of it changes from one day "
    "to the next."
)
# (added, issue #13) the service's refusals and the page's closed-days line, as msgids.
NO_WHOLE_DAY = N_(
    "This period has no finished day yet. Each day's figures are shown from the next day on."
)
BOOK_HIDES_TOTAL = N_(
    "Not shown: its total is hidden in this period's figures so that a small count elsewhere "
    "cannot be worked out, and this table would show it."
)
# (issue #13) the guide's usage tables: the all-teams report's, by month and longer.
USAGE_ALL_TEAMS_ONLY = N_(
    "How the guide is used is shown for all teams together, in the administrators' "
    "report: per team these counts are small, and reports set side by side could give a "
    "small one away."
)
USAGE_NOT_WEEKLY = N_("How the guide is used is shown for months, quarters and years.")
THROUGH = N_("Figures up to and including %(date)s. Each day is counted from the next day on.")
TOTAL = N_("Total")
TIME_BUCKET_LABELS = {
    "under_15m": N_("Under 15 minutes"),
    "15m_1h": N_("15 minutes to 1 hour"),
    "1h_4h": N_("1 to 4 hours"),
    "4h_24h": N_("4 to 24 hours"),
    "1d_3d": N_("1 to 3 days"),
    "over_3d": N_("Over 3 days"),
}
assert set(TIME_BUCKET_LABELS) == set(TIME_BUCKETS)

# Row keys that are not a screen, language, team or vocabulary value.
ROW_KEYS = {
    "none": N_("No municipality chosen yet"),  # the per-team table's relatives without a team
    "": N_("No municipality chosen yet"),
    UNLISTED: N_("Other answers (from an earlier version)"),  # a key outside the vocabulary
}

# What the service writes into its tables (bot/services/stats_report.py), as msgids.
SERVICE_WORDS = (
    # titles
    N_("Conversations and relatives over time"),
    N_("Contact requests over time"),
    N_("From first message to contact request"),
    N_("Most viewed screens"),
    N_("Moves between screens"),
    N_("Languages chosen"),
    N_("Was this helpful? (per article)"),
    N_("Contact requests by urgency"),
    N_("Contact requests by topic"),
    N_("Whom the worry concerns"),
    N_("Preferred way of reply"),
    N_("Time until a request was taken"),
    N_("Time until the first reply"),
    N_("Outcomes of closed requests"),
    N_("Did the contact help?"),
    N_("Per team"),
    # row labels (the first column's heading)
    N_("Day"),
    N_("Week from"),
    N_("Month"),
    N_("Step"),
    N_("Screen"),
    N_("From → to"),
    N_("Language"),
    N_("Article"),
    N_("Urgency"),
    N_("Topic"),
    N_("Whom it concerns"),
    N_("Reply"),
    N_("Time"),
    N_("Outcome"),
    N_("Answer"),
    N_("Team"),
    # columns
    N_("Conversations started"),
    N_("Relatives (distinct per day)"),
    N_("Contact requests"),
    N_("Count"),
    N_("Yes"),
    N_("No"),
    N_("Requests"),
    N_("Answers"),
    # the funnel's steps and the rankings' folded rows
    N_("Guide screens viewed"),
    N_("Contact questions begun"),
    N_("Contact requests sent"),
    N_("Requests withdrawn"),
    N_("Replies that could not be delivered"),
    N_("Other screens"),
    N_("Other moves"),
    # notes
    N_("A relative is counted once per day; rows and totals longer than a day add up the days."),
    N_("A relative is counted once per day; the total adds up the days."),
    N_("Screens are counted per view, not per person."),
    N_(
        "Asked once, when the team closes a request; answering is optional, so not "
        "every closed request has an answer."
    ),
    N_(
        "Not shown: with so few in some of these figures, any way of showing this table "
        "would let a hidden count be worked out. Choose a longer period or more teams."
    ),
)
HIDDEN_NOTE = N_(
    'Counts under 5 show as "<5"; cells marked "hidden" are 5 or more and hidden so '
    "that the small ones cannot be worked out from the totals."
)
# bot.services.suppression.refuse_small_breakdown, with "what" as one of WHAT.
REFUSED_NOTE = N_(
    "Not shown: fewer than %(n)d %(what)s in this period and team, so a breakdown "
    "could point to a person. Choose a longer period or more teams."
)
_REFUSED = re.compile(
    r"Not shown: fewer than (?P<n>\d+) (?P<what>.+?) in this period and team, so a "
    r"breakdown could point to a person\. Choose a longer period or more teams\."
)
WHAT = (
    N_("conversations"),
    N_("contact requests"),
    N_("screen views"),
    N_("moves between screens"),
    N_("language choices"),
    N_("answers to 'Was this helpful?'"),
    N_("requests"),
    N_("taken requests"),
    N_("first replies"),
    N_("closed requests"),
    N_("answers to 'Did the contact help?'"),
)
# The protection note of the printable report (and why small counts are hidden).
PROTECTION_NOTE = N_(
    'Counts under %(n)d are shown as "<%(n)d", and some other cells are hidden as well, '
    "so that no count of fewer than %(n)d people can be worked out from the totals. This "
    "protects the relatives: in a small municipality a few requests could point to a "
    "family."
)

# Tables whose rows are many or long labels read better as horizontal bars.
HORIZONTAL = frozenset({"top_screens", "helpfulness", "funnel", "screen_moves", "drop_off"})


def chart_kind(table_id: str, rows: int) -> str:
    """ "line" for series over time, "hbar" for rankings and the funnel, else "bar"."""
    if table_id.endswith("_over_time"):
        return "line"
    if table_id in HORIZONTAL or rows > 8:
        return "hbar"
    return "bar"


def note_words(note: str, say: Callable[[str], str]) -> str:
    """A table's note in the page's language: the service joins sentences (a table's own
    note, then ``HIDDEN_NOTE``) and fills in the refusal's count, so each part is looked
    up on its own."""
    note = note.strip()
    for tail in (HIDDEN_NOTE, NOT_OVER_NOTE):
        if note.endswith(tail) and note != tail:
            head = note[: -len(tail)]
            return f"{note_words(head, say)} {say(tail)}"
    refused = _REFUSED.fullmatch(note)
    if refused:
        what = refused["what"]
        return say(REFUSED_NOTE) % {"n": int(refused["n"]), "what": say(what)}
    return say(note)


def cell_text(cell: Cell, say: Callable[[str], str]) -> str:
    """A cell as the page shows it, in the page's language ("<5" and numbers as they are)."""
    if cell.complement:
        return say(HIDDEN)
    if cell.withheld:
        return say(NOT_SHOWN)
    if cell.pending:
        return say(PENDING)
    return cell.shown


def protection_note(say: Callable[[str], str]) -> str:
    return say(PROTECTION_NOTE) % {"n": SMALL}


# The printable report's sections (a page each on paper): table ids in reading order.
# A table the service adds later and no section names goes under OTHER_SECTION.
REPORT_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        N_("Use of the guide"),
        (
            "conversations_over_time",
            "funnel",
            "top_screens",
            "screen_moves",
            "languages",
            "helpfulness",
        ),
    ),
    (
        N_("Contact requests"),
        ("requests_over_time", "urgency", "topics", "concerns", "reply_via", "by_team"),
    ),
    (
        N_("The teams' work with the requests"),
        ("time_to_claim", "time_to_first_reply", "outcomes", "contact_feedback"),
    ),
)
OTHER_SECTION = N_("Other figures")


def report_sections(table_ids: list[str]) -> list[tuple[str, list[str]]]:
    """(section msgid, the ids of its tables that the report has), empty sections left out."""
    placed: set[str] = set()
    out: list[tuple[str, list[str]]] = []
    for title, ids in REPORT_SECTIONS:
        present = [i for i in ids if i in table_ids]
        placed.update(present)
        if present:
            out.append((title, present))
    rest = [i for i in table_ids if i not in placed]
    if rest:
        out.append((OTHER_SECTION, rest))
    return out


def period_name(
    kind: str, start: date, end: date, say: Callable[[str], str], month_name: str
) -> str:
    """The report's period in words: "Quarter 4 2026", "Year 2026", "November 2026"."""
    if kind == "quarter":
        return say(N_("Quarter %(quarter)d %(year)d")) % {
            "quarter": (start.month - 1) // 3 + 1,
            "year": start.year,
        }
    if kind == "year":
        return say(N_("Year %(year)d")) % {"year": start.year}
    if kind == "month":
        return month_name
    if kind == "week":
        week = start.isocalendar()
        return say(N_("Week %(week)d, %(year)d")) % {"week": week.week, "year": week.year}
    return f"{start.isoformat()} – {end.isoformat()}"
