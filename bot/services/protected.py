"""One protected figure per (kind, period, unit): the same number in every report (issue #13).

Why: a report protected on its own can be differenced against another (a team's month
against the all-teams per-team table, a week against its month, a month against its
quarter): a complement hidden in one report is shown in the other, and a small count falls
out. So the figures of *every* report that can be asked for are protected together, once:

- **Figures.** For each counted kind: the count per grid cell (day, ISO week, month,
  quarter, year; a period not over yet counts up to the last day covered) and per unit: each
  team, "no municipality chosen" (''), every team group a coordinator sees (``GROUP``) and
  all teams (``ALL``). A figure is *published* when some report shows it; the others (a
  day of a funnel-only kind, '' over time) are still unknowns a reader could reason about.
- **Relations.** A month, a week are the sums of their days; a quarter and a year the sums
  of their months; a group and all teams the sums of their units, in every cell.
- **Rule.** Published counts of 1 to 4 are hidden ("<5"). Then, over all relations at once,
  interval propagation (the same reasoning as ``suppression``: "<5" is 1..4, "hidden" at
  least 5, what is not published any count) looks for a hidden small count that the
  published figures pin to one value; each is freed by hiding the smallest shown non-zero
  figure of one of its relations (a complement, shown as "hidden"), until none is pinned.
- Every view then *shows* these figures; it never suppresses them again. Two reports
  together show a subset of the published figures, so they reveal nothing the whole set
  does not, and the whole set pins no small count.

Propagation proves outer bounds, so whatever it pins is truly pinned; the pair property
test (tests/test_suppression.py) checks reports built from a book by the same reasoning
over day counters.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

from bot.services.stats_model import SMALL, Cell, Period

ALL = "*"  # every team and '' (the admins' all-teams view)
Level = Literal["day", "week", "month", "quarter", "year"]
LEVELS: tuple[Level, ...] = ("day", "week", "month", "quarter", "year")
PERIOD_LEVELS: tuple[Level, ...] = ("week", "month", "quarter", "year")
FigureKey = tuple[str, Level, date, str]  # (kind, level, first day, unit)
INF = 10**12

# Kinds shown over time (rows per day or month) and as totals; the per-team kinds are also
# shown per team in the all-teams and group views; the funnel-only kinds only as totals.
SERIES_KINDS = ("conversation_started", "relatives", "request_created")
PER_TEAM_KINDS = ("conversation_started", "request_created")
FUNNEL_ONLY_KINDS = ("screen_viewed", "request_started", "request_withdrawn", "relay_failed")
BOOK_KINDS = SERIES_KINDS + FUNNEL_ONLY_KINDS

# free: not published (no report shows it); withheld: published as "not shown" (no bound).
Mark = Literal["shown", "small", "complement", "free", "withheld"]


def group_unit(teams: Iterable[str]) -> str:
    """The unit name of a group of teams (a coordinator's teams): stable for the same set."""
    return "group:" + "+".join(sorted(teams))


def cell_start(level: Level, day: date) -> date:
    """The first day of the grid cell of ``level`` that holds ``day``."""
    if level == "day":
        return day
    return Period.ending(level, day).start


@dataclass
class _Model:
    values: list[int] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    lines: list[tuple[int, list[int]]] = field(default_factory=list)
    index: dict[FigureKey, int] = field(default_factory=dict)

    def var(self, key: FigureKey) -> int:
        found = self.index.get(key)
        if found is None:
            found = self.index[key] = len(self.values)
            self.values.append(0)
            self.marks.append("free")
        return found


def _bounds(model: _Model) -> tuple[list[int], list[int]]:
    """Outer bounds that propagation over every relation proves (a worklist to a fixed point)."""
    n = len(model.values)
    lo = [0] * n
    hi = [INF] * n
    for i, (v, m) in enumerate(zip(model.values, model.marks, strict=True)):
        if m == "shown":
            lo[i] = hi[i] = v
        elif m == "small":
            lo[i], hi[i] = 1, SMALL - 1
        elif m == "complement":
            lo[i] = SMALL
    lines_of: list[list[int]] = [[] for _ in range(n)]
    active: list[int] = []
    for li, (total, members) in enumerate(model.lines):
        if lo[total] == hi[total] and all(lo[i] == hi[i] for i in members):
            continue  # everything known: nothing to learn
        active.append(li)
        lines_of[total].append(li)
        for i in members:
            lines_of[i].append(li)
    queue = list(active)
    queued = set(queue)
    budget = 200 * max(1, len(active))
    while queue and budget > 0:
        budget -= 1
        li = queue.pop()
        queued.discard(li)
        total, members = model.lines[li]
        s_lo = sum(lo[i] for i in members)
        finite = [hi[i] for i in members if hi[i] < INF]
        unbounded = len(members) - len(finite)  # members with no upper bound yet
        s_hi = sum(finite) if not unbounded else INF
        changed: list[int] = []
        if s_lo > lo[total]:
            lo[total] = s_lo
            changed.append(total)
        if s_hi < hi[total]:
            hi[total] = s_hi
            changed.append(total)
        t_lo, t_hi = lo[total], hi[total]
        s_fin = sum(finite)
        for i in members:
            own_unbounded = hi[i] >= INF
            if unbounded - own_unbounded == 0:  # every other member is bounded above
                others_hi = s_fin - (0 if own_unbounded else hi[i])
                new_lo = t_lo - others_hi
                if new_lo > lo[i]:
                    lo[i] = new_lo
                    changed.append(i)
            if t_hi < INF:
                new_hi = t_hi - (s_lo - lo[i])
                if new_hi < hi[i]:
                    hi[i] = new_hi
                    changed.append(i)
        for var in changed:
            for other in lines_of[var]:
                if other not in queued:
                    queued.add(other)
                    queue.append(other)
    return lo, hi


def _complement_for(model: _Model, var: int, lines_of: list[list[int]]) -> int | None:
    """The smallest shown non-zero figure in a relation through ``var`` (members first)."""
    lines = sorted(
        lines_of[var],
        key=lambda li: sum(
            model.marks[i] != "shown" for i in [model.lines[li][0], *model.lines[li][1]]
        ),
    )
    for with_totals in (False, True):
        for li in lines:
            total, members = model.lines[li]
            pool = [i for i in members if model.marks[i] == "shown" and model.values[i] > 0]
            if with_totals and model.marks[total] == "shown" and model.values[total] > 0:
                pool.append(total)
            if pool:
                return min(pool, key=lambda i: (model.values[i], i))
    return None


def protect(model: _Model, rounds: int = 200) -> None:
    """Hide complements until propagation pins no hidden small count (see the module)."""
    lines_of: list[list[int]] = [[] for _ in model.values]
    for li, (total, members) in enumerate(model.lines):
        lines_of[total].append(li)
        for i in members:
            lines_of[i].append(li)
    for _ in range(rounds):
        lo, hi = _bounds(model)
        pinned = [
            i for i, m in enumerate(model.marks) if m in ("small", "complement") and lo[i] >= hi[i]
        ]
        primary = [i for i in pinned if model.marks[i] == "small"]
        if not primary:
            return
        chosen = False
        for var in [*primary, *(i for i in pinned if i not in primary)]:
            pick = _complement_for(model, var, lines_of)
            if pick is not None:
                model.marks[pick] = "complement"
                chosen = True
                break
        if not chosen:
            # Nothing shown is left around a pinned count: the rules pin it (four counts
            # of 1 under a week of 4, all "<5"). The tightest published total of its
            # relations is then not shown at all ("withheld": no bound), else the count.
            var = primary[0]
            totals = [
                model.lines[li][0]
                for li in lines_of[var]
                if model.marks[model.lines[li][0]] in ("small", "complement")
            ]
            model.marks[min(totals, key=lambda i: (model.values[i], i)) if totals else var] = (
                "withheld"
            )
    lo, hi = _bounds(model)
    names = {i: key for key, i in model.index.items()}
    stuck = [names[i] for i, m in enumerate(model.marks) if m == "small" and lo[i] >= hi[i]]
    raise RuntimeError(f"protection did not settle: {stuck[:3]}")  # pragma: no cover


@dataclass(frozen=True)
class Book:
    """The published figures of every report through ``through``, each protected once."""

    through: date
    cells: Mapping[FigureKey, Cell]

    def cell(self, kind: str, level: Level, start: date, unit: str) -> Cell:
        """The figure as every report shows it (0 where nothing was counted)."""
        return self.cells.get((kind, level, start, unit), Cell(0))


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def build_book(
    counts: Iterable[tuple[date, str, str, int]],
    *,
    through: date,
    teams: Iterable[str],
    groups: Iterable[frozenset[str]] = (),
    first: date | None = None,
) -> Book:
    """Protect every published figure from day counts (day, team_id, kind, count).

    ``teams``: the teams a report can be asked for (their own views); any other team_id in
    the counts (a removed team) and '' appear only in the all-teams view's per-team table.
    ``groups``: the team sets of coordinators who see several teams (their overview).
    ``first``: the first day counted (default: the first day in ``counts``).
    """
    per: dict[str, dict[tuple[date, str], int]] = defaultdict(lambda: defaultdict(int))
    for day, team, kind, n in counts:
        if kind in BOOK_KINDS and day <= through and n:
            per[kind][(day, team)] += n
    known = sorted(set(teams))
    group_sets = sorted({frozenset(g) & set(known) for g in groups if len(g) > 1}, key=sorted)
    group_sets = [g for g in group_sets if len(g) > 1]
    start = first or min(
        (day for cells in per.values() for day, _ in cells), default=through
    )
    days = _days(min(start, through), through)
    out: dict[FigureKey, Cell] = {}
    for kind in BOOK_KINDS:
        data = per.get(kind, {})
        units = sorted(set(known) | {t for _, t in data} | {""})
        out.update(_protect_kind(kind, data, days, units, known, group_sets))
    return Book(through, out)


def _protect_kind(
    kind: str,
    data: Mapping[tuple[date, str], int],
    days: list[date],
    units: list[str],
    known: list[str],
    group_sets: list[frozenset[str]],
) -> dict[FigureKey, Cell]:
    model = _Model()
    published: set[int] = set()
    series = kind in SERIES_KINDS
    per_team = kind in PER_TEAM_KINDS
    known_set = set(known)
    group_units = [(group_unit(g), sorted(g)) for g in group_sets]
    all_units = [*units, ALL, *(name for name, _ in group_units)]

    def publishes(unit: str, level: Level) -> bool:
        in_own_view = unit in known_set or unit == ALL or unit.startswith("group:")
        if level == "day":
            return series and in_own_view
        return in_own_view or (per_team and unit != ALL)  # the per-team tables

    for unit in all_units:
        for day in days:
            for level in LEVELS:
                i = model.var((kind, level, cell_start(level, day), unit))
                if publishes(unit, level):
                    published.add(i)
    for day in days:
        for unit in units:
            n = data.get((day, unit), 0)
            if not n:
                continue
            targets = [unit, ALL, *(name for name, members in group_units if unit in members)]
            for target in targets:
                for level in LEVELS:
                    model.values[model.index[(kind, level, cell_start(level, day), target)]] += n
    # Relations: time within every unit, units within every cell.
    for unit in all_units:
        children: dict[FigureKey, list[int]] = defaultdict(list)
        for day in days:
            d = model.index[(kind, "day", day, unit)]
            m = model.index[(kind, "month", cell_start("month", day), unit)]
            for level in ("week", "month"):
                children[(kind, level, cell_start(level, day), unit)].append(d)
            if day.day == 1 or day == days[0]:
                for level in ("quarter", "year"):
                    children[(kind, level, cell_start(level, day), unit)].append(m)
        for key, parts in children.items():
            model.lines.append((model.index[key], sorted(set(parts))))
    cells = {(level, cell_start(level, day)) for day in days for level in LEVELS}
    for level, start in sorted(cells):
        members_all = [model.index[(kind, level, start, u)] for u in units]
        model.lines.append((model.index[(kind, level, start, ALL)], members_all))
        for name, team_ids in group_units:
            model.lines.append(
                (
                    model.index[(kind, level, start, name)],
                    [model.index[(kind, level, start, t)] for t in team_ids],
                )
            )
    for i in published:
        v = model.values[i]
        model.marks[i] = "small" if 0 < v < SMALL else "shown"
    protect(model)
    out: dict[FigureKey, Cell] = {}
    for key, i in model.index.items():
        mark = model.marks[i]
        if mark == "free":
            continue
        value = model.values[i]
        if mark == "shown":
            if value:
                out[key] = Cell(value)
        else:
            out[key] = Cell(None, mark == "complement", withheld=mark == "withheld")
    return out
