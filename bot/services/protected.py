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

import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

import numpy as np
import numpy.typing as npt

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


@functools.lru_cache(maxsize=65_536)
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
    # Figures of all teams or a group: hidden first where a choice exists, so that a team's
    # own figures (what its coordinator reads) stay shown where they can.
    aggregate: set[int] = field(default_factory=set)

    def var(self, key: FigureKey) -> int:
        found = self.index.get(key)
        if found is None:
            found = self.index[key] = len(self.values)
            self.values.append(0)
            self.marks.append("free")
        return found


@dataclass(frozen=True)
class _Lines:
    """The relations as arrays: each line's total, and its members laid out line by line."""

    totals: npt.NDArray[np.int64]
    members: npt.NDArray[np.int64]
    line_of: npt.NDArray[np.int64]  # the line of each entry of ``members``
    starts: npt.NDArray[np.int64]  # where each line's members begin

    @classmethod
    def of(cls, model: _Model) -> _Lines:
        totals = np.array([t for t, _ in model.lines], dtype=np.int64)
        sizes = np.array([len(m) for _, m in model.lines], dtype=np.int64)
        members = np.array([i for _, m in model.lines for i in m], dtype=np.int64)
        starts = np.zeros(len(sizes), dtype=np.int64)
        if len(sizes):
            starts[1:] = np.cumsum(sizes)[:-1]
        line_of = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
        return cls(totals, members, line_of, starts)


CODES: dict[Mark, int] = {"shown": 0, "small": 1, "complement": 2, "free": 3, "withheld": 4}


def _codes(model: _Model) -> npt.NDArray[np.int8]:
    return np.array([CODES[m] for m in model.marks], dtype=np.int8)


def _bounds(
    model: _Model, lines: _Lines | None = None, codes: npt.NDArray[np.int8] | None = None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Outer bounds that propagation over every relation proves, to a fixed point.

    Every relation is applied at once per round (arrays, so that a national deployment's
    hundreds of thousands of figures take seconds): a total lies within the sums of its
    members' bounds, and a member within the total's bounds less the others'. Each step
    only narrows a bound that holds, so every bound proved is true.
    """
    lines = lines or _Lines.of(model)
    codes = _codes(model) if codes is None else codes
    values = np.array(model.values, dtype=np.int64)
    shown, small, comp = codes == 0, codes == 1, codes == 2
    lo = np.where(shown, values, np.where(small, 1, np.where(comp, SMALL, 0))).astype(np.int64)
    hi = np.where(shown, values, np.where(small, SMALL - 1, INF)).astype(np.int64)
    if not len(lines.totals):
        return lo, hi
    t_idx, m_idx, l_of, starts = lines.totals, lines.members, lines.line_of, lines.starts
    for _ in range(10_000):  # converges long before; a bound narrows at least by 1 a round
        m_lo, m_hi = lo[m_idx], hi[m_idx]
        unbounded = m_hi >= INF
        s_lo = np.add.reduceat(m_lo, starts)
        n_inf = np.add.reduceat(unbounded.astype(np.int64), starts)
        fin_hi = np.add.reduceat(np.where(unbounded, 0, m_hi), starts)
        s_hi = np.where(n_inf > 0, INF, np.minimum(fin_hi, INF))
        t_lo, t_hi = lo[t_idx], hi[t_idx]
        others_inf = n_inf[l_of] - unbounded
        others_hi = fin_hi[l_of] - np.where(unbounded, 0, m_hi)
        cand_lo = np.where(others_inf == 0, t_lo[l_of] - others_hi, 0)
        cand_hi = np.where(t_hi[l_of] < INF, t_hi[l_of] - (s_lo[l_of] - m_lo), INF)
        new_lo, new_hi = lo.copy(), hi.copy()
        np.maximum.at(new_lo, t_idx, s_lo)
        np.minimum.at(new_hi, t_idx, s_hi)
        np.maximum.at(new_lo, m_idx, cand_lo)
        np.minimum.at(new_hi, m_idx, cand_hi)
        if np.array_equal(new_lo, lo) and np.array_equal(new_hi, hi):
            break
        if (new_lo > new_hi).any():  # pragma: no cover - the figures are true sums
            raise RuntimeError("figures inconsistent with their relations")
        lo, hi = new_lo, new_hi
    return lo, hi


def _withhold(model: _Model, var: int, lines_of: list[list[int]]) -> int:
    """Nothing shown is left around a pinned count: the rules pin it (four counts of 1
    under a week of 4, all "<5"). The smallest hidden total of its relations is then not
    shown at all ("withheld": no bound), else the count itself."""
    totals = [
        model.lines[li][0]
        for li in lines_of[var]
        if model.marks[model.lines[li][0]] in ("small", "complement")
    ]
    return min(totals, key=lambda i: (model.values[i], i)) if totals else var


def _complement_for(
    model: _Model,
    var: int,
    lines_of: list[list[int]],
    touched: set[int],
    barren: set[tuple[int, bool]],
) -> tuple[int, int] | None:
    """(the smallest shown non-zero figure in a relation through ``var``, that relation);
    all teams' or a group's figures before a team's, members before totals, the shortest
    relations first (a day's week before all teams).
    (-1, li): a relation this round already chose in comes first, so wait for propagation.
    ``barren`` remembers relations with nothing left to hide (they stay so in a round)."""
    lines = sorted(lines_of[var], key=lambda li: (len(model.lines[li][1]), li))
    for with_totals in (False, True):
        for li in lines:
            if li in touched:
                return -1, li
            if (li, with_totals) in barren:
                continue
            total, members = model.lines[li]
            pool = [i for i in members if model.marks[i] == "shown" and model.values[i] > 0]
            if (
                (with_totals or total in model.aggregate)
                and model.marks[total] == "shown"
                and model.values[total] > 0
            ):
                pool.append(total)
            if pool:
                agg = model.aggregate
                return min(pool, key=lambda i: (i not in agg, model.values[i], i)), li
            barren.add((li, with_totals))
    return None


def protect(model: _Model, rounds: int = 500) -> None:
    """Hide complements until propagation pins no hidden small count (see the module).

    Each round frees every pinned count whose relations no earlier choice of the round
    touched (one complement each), then propagates again: many pins, few rounds.
    """
    lines_of: list[list[int]] = [[] for _ in model.values]
    for li, (total, members) in enumerate(model.lines):
        lines_of[total].append(li)
        for i in members:
            lines_of[i].append(li)
    arrays = _Lines.of(model)
    codes = _codes(model)
    for _ in range(rounds):
        lo, hi = _bounds(model, arrays, codes)
        at_one = (lo >= hi) & ((codes == 1) | (codes == 2))
        primary = np.flatnonzero(at_one & (codes == 1)).tolist()
        if not primary:
            return
        others = np.flatnonzero(at_one & (codes == 2)).tolist()
        touched: set[int] = set()
        barren: set[tuple[int, bool]] = set()
        for var in [*primary, *others]:
            found = _complement_for(model, var, lines_of, touched, barren)
            if found is not None and found[0] < 0:
                continue  # a relation of it changed this round: propagate first
            if found is None:
                if model.marks[var] != "small":
                    continue
                pick, line = _withhold(model, var, lines_of), -1 - var
            else:
                pick, line = found
            if line in touched:
                continue  # this round's choice in that relation may free it: propagate first
            touched.add(line)
            mark: Mark = "complement" if model.marks[pick] == "shown" else "withheld"
            model.marks[pick] = mark
            codes[pick] = CODES[mark]
    lo, hi = _bounds(model, arrays, codes)
    names = {i: key for key, i in model.index.items()}
    stuck = [names[i] for i in np.flatnonzero((lo >= hi) & (codes == 1)).tolist()]
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
    start = first or min((day for cells in per.values() for day, _ in cells), default=through)
    days = _days(min(start, through), through)
    out: dict[FigureKey, Cell] = {}
    for kind in BOOK_KINDS:
        data = per.get(kind, {})
        if not data:
            continue  # nothing counted: every figure is 0, shown (Book.cell's default)
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
    model.aggregate = {
        i for (_, _, _, unit), i in model.index.items() if unit == ALL or unit.startswith("group:")
    }
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
