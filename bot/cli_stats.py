"""`python -m bot stats`: the coordinators' tables in the terminal, already suppressed.

Whoever can run this command can read the database anyway, so it acts as an
administrator (every team) without a staff account; it still prints only the
suppressed figures, so its output can be pasted into a report as it is.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import date

from bot.config import ConfigError, Settings
from bot.content.loader import load_content
from bot.domain import StaffUser
from bot.services.stats import (
    GRID_KINDS,
    Period,
    Report,
    StatsRefused,
    StatsService,
    day_in,
)
from bot.storage.database import Database
from bot.storage.migrate import upgrade

TERMINAL = StaffUser(id=0, username="terminal", role="admin", teams=frozenset())
GRID = "statistics exist only for --period week, month, quarter or year (--date: a day in it)"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    stats = sub.add_parser("stats", help="print the anonymous statistics tables for a period")
    stats.add_argument(
        "--period", default="month", help="week, month, quarter or year (default month)"
    )
    stats.add_argument("--date", help="a day in the period (YYYY-MM-DD; default today)")
    # Custom ranges are gone (issue #13): an old script's --from/--to gets a line naming the grid.
    stats.add_argument("--from", dest="start", help=argparse.SUPPRESS)
    stats.add_argument("--to", dest="end", help=argparse.SUPPRESS)
    stats.add_argument("--team", help="one team id (default: every team)")
    stats.add_argument("--format", choices=("table", "csv", "json"), default="table")
    stats.add_argument(
        "--separator",
        choices=("comma", "semicolon"),
        default="comma",
        help="CSV separator: semicolon for Excel in Swedish (default comma)",
    )


def _day(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{what} {text!r} is not a date (YYYY-MM-DD)") from None


def period_of(args: argparse.Namespace, today: date) -> Period:
    """The period the arguments ask for; one clear line for anything odd."""
    if args.period == "custom" or args.start or args.end:
        raise ConfigError(f"custom ranges are gone: {GRID}")
    if args.period not in GRID_KINDS:
        raise ConfigError(f"unknown period {args.period!r}: {GRID}")
    last = _day(args.date, "--date") if args.date else today
    return Period.ending(args.period, last)


def render_table(report: Report) -> str:
    """Plain text: one block per table, numbers right-aligned, notes below."""
    teams = ", ".join(report.team_ids) or "no teams"
    lines = [
        f"Statistics {report.period.start} to {report.period.end} ({teams})",
        f"Days are days in {report.time_zone} (TIME_ZONE).",
        "",
    ]
    for table in report.tables:
        lines.append(f"== {table.title} ==")
        if table.rows:
            head = [table.row_label or "", *table.columns]
            body = [[key, *(c.shown for c in cells)] for key, cells in table.rows]
            if table.totals is not None:
                body.append(["Total", *(c.shown for c in table.totals)])
            widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
            for row in [head, *body]:
                first = row[0].ljust(widths[0])
                rest = [v.rjust(w) for v, w in zip(row[1:], widths[1:], strict=True)]
                lines.append("  ".join([first, *rest]).rstrip())
        if table.note:
            lines.append(f"Note: {table.note}")
        lines.append("")
    lines.append('Counts under 5 show as "<5"; "hidden" cells are 5 or more, hidden with them.')
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace, settings: Settings) -> int:
    content, _problems = load_content(settings.content_dir)
    if content is None:
        raise ConfigError(f"cannot read the teams in {settings.content_dir}")
    period = period_of(args, day_in(settings.time_zone)())

    async def report() -> tuple[StatsService, Report]:
        database = Database.for_settings(settings)
        try:
            await upgrade(database.engine)
            service = StatsService(database, frozenset(content.teams), settings.time_zone)
            return service, await service.report(TERMINAL, period, args.team)
        finally:
            await database.close()

    try:
        service, result = asyncio.run(report())
    except StatsRefused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    if args.format == "csv":
        delimiter = ";" if args.separator == "semicolon" else ","
        sys.stdout.write(service.to_csv(result, delimiter=delimiter))
    elif args.format == "json":
        print(json.dumps(service.to_json(result), ensure_ascii=False, indent=2))
    else:
        sys.stdout.write(render_table(result))
    return 0
