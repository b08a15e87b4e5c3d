"""One protected figure per (kind, period, unit): the same number in every report (issue #13).

Why: a report protected on its own can be differenced against another (a team's month
against the all-teams per-team table, a week against its month, a month against its
quarter): a complement hidden in one report is shown in the other, and a small count falls
out. So the figures of *every* report that can be asked for are protected together, once:

- **Figures.** For each counted kind: the count per grid cell (day, ISO week, month,
  quarter, year; only whole periods: a period not over yet has no total) and per unit: each
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
- **Across days.** Each day's book extends the day before's (``previous``): a published
  figure keeps its count and its mark for good, and only the new figures (the new day,
  periods just over, a new group) may be hidden. Reports asked for on different days
  therefore show subsets of the newest book too. Hence no running totals: a period's
  total appears once it is over, and never changes after that.

Propagation proves outer bounds, so whatever it pins is truly pinned; the pair property
test (tests/test_suppression.py) checks reports built from a book by the same reasoning
over day counters.
"""

from __future__ import annotations

import functools
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

import numpy as np
import numpy.typing as npt

from bot.domain import (
    CONCERNS,
    FEEDBACK,
    OUTCOMES,
    REPLY_VIA,
    TOPICS,
    URGENCIES,
    last_whole_month_end,
)
from bot.services.stats_model import SMALL, TIME_BUCKETS, Cell, Period

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
    """The unit name of a group of teams (a coordinator's teams): stable for the same set,
    and short however many teams it holds (a key column of the stored book)."""
    digest = hashlib.sha256("+".join(sorted(teams)).encode()).hexdigest()
    return "group:" + digest[:16]


@functools.lru_cache(maxsize=65_536)
def cell_start(level: Level, day: date) -> date:
    """The first day of the grid cell of ``level`` that holds ``day``."""
    if level == "day":
        return day
    return Period.ending(level, day).start


@functools.lru_cache(maxsize=65_536)
def cell_end(level: Level, start: date) -> date:
    """The last day of the grid cell of ``level`` that begins on ``start``."""
    if level == "day":
        return start
    return Period.ending(level, start).end


@dataclass
class _Model:
    values: list[int] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    lines: list[tuple[int, list[int]]] = field(default_factory=list)
    index: dict[FigureKey, int] = field(default_factory=dict)
    # Figures of all teams or a group: hidden first where a choice exists, so that a team's
    # own figures (what its coordinator reads) stay shown where they can.
    aggregate: set[int] = field(default_factory=set)
    # Figures an earlier book published: their marks never change (see ``build_book``).
    frozen: set[int] = field(default_factory=set)

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


def _withhold(model: _Model, var: int, lines_of: list[list[int]]) -> int | None:
    """Nothing shown is left around a pinned count: the rules pin it (four counts of 1
    under a week of 4, all "<5"). The smallest hidden total of its relations is then not
    shown at all ("withheld": no bound), else the count itself; never a figure an earlier
    book published (None: there is none of those to withhold)."""
    totals = [
        model.lines[li][0]
        for li in lines_of[var]
        if model.marks[model.lines[li][0]] in ("small", "complement")
        and model.lines[li][0] not in model.frozen
    ]
    if totals:
        return min(totals, key=lambda i: (model.values[i], i))
    return None if var in model.frozen else var


def _loosening_order(model: _Model, i: int) -> int:
    if model.marks[i] == "shown":
        return 0 if model.values[i] > 0 else 2
    return 1


def _nearest_loosenable(model: _Model, var: int, lines_of: list[list[int]]) -> int | None:
    """The figure nearest ``var`` through the relations that this book may still hide or
    withhold (not published before): a published count pinned by today's new figures only
    (its own relations all published earlier) is freed by loosening the new ones around
    it. Loosening every new figure gives back the earlier book, which pinned nothing."""
    seen = {var}
    frontier = [var]
    while frontier:
        found = [
            i
            for i in frontier
            if i not in model.frozen and model.marks[i] in ("shown", "small", "complement")
        ]
        if found:  # hide a shown count first, then withhold a hidden one, then a shown 0
            return min(found, key=lambda i: (_loosening_order(model, i), model.values[i], i))
        step: list[int] = []
        for i in frontier:
            for li in lines_of[i]:
                total, members = model.lines[li]
                for j in (total, *members):
                    if j not in seen:
                        seen.add(j)
                        step.append(j)
        frontier = step
    return None


def _complement_for(
    model: _Model,
    var: int,
    lines_of: list[list[int]],
    touched: set[int],
    barren: set[tuple[int, bool]],
) -> tuple[int, int] | None:
    """(the smallest shown non-zero figure in a relation through ``var``, that relation);
    all teams' or a group's figures before a team's, members before totals, the shortest
    relations first (a day's week before all teams); never one an earlier book published.
    (-1, li): a relation this round already chose in comes first, so wait for propagation.
    ``barren`` remembers relations with nothing left to hide (they stay so in a round)."""
    lines = sorted(lines_of[var], key=lambda li: (len(model.lines[li][1]), li))
    frozen = model.frozen
    for with_totals in (False, True):
        for li in lines:
            if li in touched:
                return -1, li
            if (li, with_totals) in barren:
                continue
            total, members = model.lines[li]
            pool = [
                i
                for i in members
                if model.marks[i] == "shown" and model.values[i] > 0 and i not in frozen
            ]
            if (
                (with_totals or total in model.aggregate)
                and model.marks[total] == "shown"
                and model.values[total] > 0
                and total not in frozen
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
    touched (one complement each), then propagates again: many pins, few rounds. Figures
    in ``model.frozen`` keep their marks: only the others are hidden or withheld.
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
                pick = _withhold(model, var, lines_of)
                if pick is None:
                    pick = _nearest_loosenable(model, var, lines_of)
                if pick is None:  # pragma: no cover - the earlier book pinned nothing
                    break
                line = -1 - var
            else:
                pick, line = found
            if line in touched:
                continue  # this round's choice in that relation may free it: propagate first
            touched.add(line)
            shown = model.marks[pick] == "shown" and model.values[pick] > 0
            mark: Mark = "complement" if shown else "withheld"
            model.marks[pick] = mark
            codes[pick] = CODES[mark]
    lo, hi = _bounds(model, arrays, codes)
    names = {i: key for key, i in model.index.items()}
    stuck = [names[i] for i in np.flatnonzero((lo >= hi) & (codes == 1)).tolist()]
    raise RuntimeError(f"protection did not settle: {stuck[:3]}")  # pragma: no cover


# A stored figure: (count, mark). The book keeps every figure some report shows, and every
# count of a figure no report shows, so that the next day's book starts from exactly these.
Figure = tuple[int, Mark]
PENDING = Cell(None, pending=True)


@dataclass(frozen=True)
class Book:
    """The published figures of every report through ``through``, each protected once.

    ``figures``: the ledger (what is stored): every published figure with its mark, and
    the counts of unpublished ones that are not 0. ``units``: every unit it has figures
    for; ``groups``: each team group's unit name and teams. A figure of a period not over
    by ``through`` is not in it: every total is of a whole period, so it never changes.
    """

    through: date
    figures: Mapping[FigureKey, Figure]
    units: frozenset[str] = frozenset()
    groups: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @functools.cached_property
    def cells(self) -> dict[FigureKey, Cell]:
        out: dict[FigureKey, Cell] = {}
        for key, (value, mark) in self.figures.items():
            if mark == "shown":
                out[key] = Cell(value)
            elif mark != "free":
                out[key] = Cell(None, mark == "complement", withheld=mark == "withheld")
        return out

    def mark(self, kind: str, level: Level, start: date, unit: str) -> Mark | None:
        """How the figure is kept (None: nothing counted, so 0 and shown)."""
        found = self.figures.get((kind, level, start, unit))
        return None if found is None else found[1]

    def family_rows(
        self, family: str, level: Level, start: date, unit: str
    ) -> list[tuple[str, Cell]]:
        """(key, figure) of every row of a breakdown with open keys that a report shows."""
        prefix = f"{family}#"
        return sorted(
            (kind[len(prefix) :], cell)
            for (kind, lvl, first, who), cell in self.cells.items()
            if lvl == level and first == start and who == unit and kind.startswith(prefix)
        )

    def cell(self, kind: str, level: Level, start: date, unit: str) -> Cell:
        """The figure as every report shows it (0 where nothing was counted); a period not
        over yet has no total: PENDING (shown once the period is over)."""
        if level != "day" and cell_end(level, start) > self.through:
            return PENDING
        return self.cells.get((kind, level, start, unit), Cell(0))

    def covers(self, through: date, teams: Iterable[str], groups: Iterable[frozenset[str]]) -> bool:
        """Whether this book already has every figure of these days, teams and groups."""
        return (
            self.through >= through
            and set(teams) <= self.units
            and all(group_unit(g) in self.groups for g in groups if len(g) > 1)
        )


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _is_aggregate(unit: str) -> bool:
    return unit == ALL or unit.startswith("group:")


def build_book(
    counts: Iterable[tuple[date, str, str, int]],
    *,
    through: date,
    teams: Iterable[str],
    groups: Iterable[frozenset[str]] = (),
    first: date | None = None,
    previous: Book | None = None,
) -> Book:
    """Protect every published figure from day counts (day, team_id, kind, count).

    ``teams``: the teams a report can be asked for (their own views); any other team_id in
    the counts (a removed team) and '' appear only in the all-teams view's per-team table.
    ``groups``: the team sets of coordinators who see several teams (their overview).
    ``first``: the first day counted (default: the first day in ``counts``).
    ``previous``: the book of an earlier day. What it published stays exactly as it was
    (same counts, same marks: a figure shown yesterday is never hidden today, nor the
    reverse), its days' counts are its own (a count added late to a published day is not
    taken in), and only the new figures (new days, periods just over, new groups) are
    hidden where needed. So every report of every day together shows one set of figures,
    and that set pins no small count. Counts of days up to ``previous.through`` are
    ignored.
    """
    if previous is not None and previous.covers(through, teams, groups):
        return previous
    if previous is not None:  # never a shorter book than the stored one (a clock set back)
        through = max(through, previous.through)
    after = previous.through if previous is not None else None
    per: dict[str, dict[tuple[date, str], int]] = defaultdict(lambda: defaultdict(int))
    for day, team, kind, n in counts:
        if kind in BOOK_KINDS and day <= through and n and (after is None or day > after):
            per[kind][(day, team)] += n
    old_units: set[str] = set()
    old_groups: dict[str, frozenset[str]] = {}
    if previous is not None:
        old_units = set(previous.units)
        old_groups = dict(previous.groups)
        for (kind, level, day, unit), (value, _mark) in previous.figures.items():
            if level == "day" and value and not _is_aggregate(unit):
                per[kind][(day, unit)] += value
    known = sorted(set(teams))
    current = {frozenset(g) & set(known) for g in groups if len(g) > 1}
    group_map = dict(old_groups)
    for g in current:
        if len(g) > 1:
            group_map.setdefault(group_unit(g), frozenset(g))
    group_units = sorted((name, sorted(members)) for name, members in group_map.items())
    starts = [day for cells in per.values() for day, _ in cells]
    start = first or min(starts, default=through)
    days = _days(min(start, through), through)
    base_units = sorted(
        set(known) | {u for u in old_units if not _is_aggregate(u)} | {""}
        | {t for cells in per.values() for _, t in cells}
    )  # fmt: skip
    figures: dict[FigureKey, Figure] = {}
    for kind in BOOK_KINDS:
        data = per.get(kind, {})
        old = (
            {k: f for k, f in previous.figures.items() if k[0] == kind}
            if previous is not None
            else {}
        )
        if not data and not old:
            continue  # nothing counted: every figure is 0, shown (Book.cell's default)
        frozen = _Frozen(after, old_units, old) if previous is not None else None
        figures.update(_protect_kind(kind, data, days, base_units, known, group_units, frozen))
    units = frozenset({*base_units, ALL, *(name for name, _ in group_units)})
    return Book(through, figures, units, group_map)


@dataclass(frozen=True)
class _Frozen:
    """What an earlier book published: its last day, its units and its figures of a kind."""

    through: date | None
    units: set[str]
    figures: Mapping[FigureKey, Figure]

    def holds(self, key: FigureKey) -> bool:
        _, level, start, unit = key
        return (
            self.through is not None
            and unit in self.units
            and cell_end(level, start) <= self.through
        )


def _protect_kind(
    kind: str,
    data: Mapping[tuple[date, str], int],
    days: list[date],
    units: list[str],
    known: list[str],
    group_units: list[tuple[str, list[str]]],
    frozen: _Frozen | None,
) -> dict[FigureKey, Figure]:
    model = _Model()
    published: set[int] = set()
    series = kind in SERIES_KINDS
    per_team = kind in PER_TEAM_KINDS
    known_set = set(known)
    all_units = [*units, ALL, *(name for name, _ in group_units)]
    through = days[-1]

    def publishes(unit: str, level: Level) -> bool:
        in_own_view = unit in known_set or _is_aggregate(unit)
        if level == "day":
            # '' (and a removed team) has no days in any report, but its weeks and months
            # are in the per-team tables once over: protected as if shown, so that those
            # totals, when they come, pin nothing an earlier day's book left free.
            return series and (in_own_view or per_team)
        return in_own_view or (per_team and unit != ALL)  # the per-team tables

    def over(level: Level, day: date) -> bool:
        return level == "day" or cell_end(level, cell_start(level, day)) <= through

    for unit in all_units:
        for day in days:
            for level in LEVELS:
                if not over(level, day):
                    continue  # a period not over yet has no figure (Book.cell: PENDING)
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
                    if over(level, day):
                        model.values[
                            model.index[(kind, level, cell_start(level, day), target)]
                        ] += n
    # Relations: time within every unit (whole periods only), units within every cell.
    for unit in all_units:
        children: dict[FigureKey, list[int]] = defaultdict(list)
        for day in days:
            d = model.index[(kind, "day", day, unit)]
            for level in ("week", "month"):
                if over(level, day):
                    children[(kind, level, cell_start(level, day), unit)].append(d)
            if (day.day == 1 or day == days[0]) and over("month", day):
                m = model.index[(kind, "month", cell_start("month", day), unit)]
                for level in ("quarter", "year"):
                    if over(level, day):
                        children[(kind, level, cell_start(level, day), unit)].append(m)
        for key, parts in children.items():
            model.lines.append((model.index[key], sorted(set(parts))))
    cells = {
        (level, cell_start(level, day)) for day in days for level in LEVELS if over(level, day)
    }
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
    model.aggregate = {i for (_, _, _, unit), i in model.index.items() if _is_aggregate(unit)}
    for i in published:
        v = model.values[i]
        model.marks[i] = "small" if 0 < v < SMALL else "shown"
    if frozen is not None:
        for key, i in model.index.items():
            if frozen.holds(key):
                value, mark = frozen.figures.get(key, (0, "free"))
                if value != model.values[i]:  # pragma: no cover - the same days' counts
                    raise RuntimeError(f"an earlier book's figure changed: {key}")
                model.marks[i] = mark
                model.frozen.add(i)
    protect(model)
    return {
        key: (model.values[i], model.marks[i])
        for key, i in model.index.items()
        if model.marks[i] != "free" or model.values[i]
    }


FigureRow = tuple[str, str, date, str, int, str]  # kind, level, first day, unit, count, mark


def book_from_rows(
    through: date,
    units: Iterable[str],
    groups: Mapping[str, Iterable[str]],
    rows: Iterable[FigureRow],
) -> Book:
    """A stored book as it was built (``new_figures`` wrote its rows)."""
    figures: dict[FigureKey, Figure] = {}
    for kind, level, first, unit, count, mark in rows:
        if level not in LEVELS or mark not in CODES:
            raise ValueError(f"not a stored figure: {level!r}, {mark!r}")
        figures[(kind, level, first, unit)] = (count, mark)
    return Book(
        through,
        figures,
        frozenset(units),
        {name: frozenset(teams) for name, teams in groups.items()},
    )


def new_figures(book: Book, previous: Book | None) -> list[FigureRow]:
    """The figures of ``book`` that ``previous`` does not hold: what to store. A figure
    ``previous`` holds is the same in ``book`` (``build_book`` never changes one)."""
    old = previous.figures if previous is not None else {}
    return [
        (kind, level, first, unit, count, mark)
        for (kind, level, first, unit), (count, mark) in book.figures.items()
        if (kind, level, first, unit) not in old
    ]


# --- breakdowns (issue #13): the same figures across reports, like the totals above ------


@dataclass(frozen=True)
class Family:
    """A breakdown kept in the book: the counter kind that holds its keys, its keys in the
    table's order, and the book kind that is its total (each request has one urgency, one
    topic ...), or None: the breakdown's own total (the sum of its keys)."""

    kind: str
    keys: tuple[str, ...]
    total: str | None = None
    # The guide's usage (USAGE): the counter kind it counts and, for "was this helpful",
    # the answer it keeps ("node:yes" is row "node" of the yes family); its keys are open.
    source: str = ""
    answer: str = ""

    def row_of(self, key: str) -> str | None:
        """The row a counter key of ``source`` is counted in (None: not this family's)."""
        if not self.answer:
            return key
        node, _, answer = key.rpartition(":")
        return node if node and answer == self.answer else None


# The breakdowns of requests and cases: about people, so kept in the book. (The screens,
# moves, languages and "was this helpful" tables count use of the guide's content: they are
# kept for all teams by month, see USAGE below.)
FAMILIES: tuple[Family, ...] = (
    Family("request_urgency", URGENCIES, "request_created"),
    Family("request_topic", TOPICS, "request_created"),
    Family("request_concerns", CONCERNS, "request_created"),
    Family("request_reply_via", REPLY_VIA, "request_created"),
    Family("time_to_claim", TIME_BUCKETS),
    Family("time_to_first_reply", TIME_BUCKETS),
    Family("case_outcome", OUTCOMES),
    Family("contact_feedback", FEEDBACK),
)
FAMILY_OF = {f.kind: f for f in FAMILIES}
UNLISTED = "?"  # a key outside the vocabulary (an earlier version's): counted, never lost


def key_kind(family: str, key: str) -> str:
    """The book kind of one row of a breakdown ("request_topic#worry")."""
    return f"{family}#{key}"


def family_kinds() -> list[str]:
    """Every book kind the breakdowns keep: each family's total and each of its rows."""
    return [
        kind
        for f in FAMILIES
        for kind in (f.kind, *(key_kind(f.kind, k) for k in (*f.keys, UNLISTED)))
    ]


def build_breakdowns(
    counts: Iterable[tuple[date, str, str, str, int]],
    *,
    book: Book,
    teams: Iterable[str],
    previous: Book | None = None,
) -> Book:
    """Protect every breakdown of ``FAMILIES`` across reports, from day counts (day,
    team_id, kind, key, count), beside ``book`` (the totals, built first: its days,
    units and groups are this one's).

    A breakdown is shown for a whole period and a unit with a report of its own (a team,
    a group, all teams) when its total is a shown number of that book (a breakdown beside
    a hidden total would give the total away) or, for a breakdown with its own total, when
    that total is 0 or at least 5. Its rows are then protected like the totals: across
    periods (a quarter is its months, a month and a week their days), across units (all
    teams and a group are their teams) and across the rows (they add up to the total), with
    every total taken as known exactly (more than a reader knows, so what is safe here is
    safe for them). ``previous``: the breakdowns of an earlier day, kept exactly as they
    were (see ``build_book``); counts of its days are its own.
    """
    known = set(teams)
    if (
        previous is not None
        and previous.through >= book.through
        and book.units <= previous.units
        and set(book.groups) <= set(previous.groups)
    ):
        return previous
    through = book.through if previous is None else max(book.through, previous.through)
    after = previous.through if previous is not None else None
    per: dict[str, dict[tuple[date, str, str], int]] = defaultdict(lambda: defaultdict(int))
    for day, team, kind, key, n in counts:
        family = FAMILY_OF.get(kind)
        if family is None or not n or day > through or (after is not None and day <= after):
            continue
        per[kind][(day, team, key if key in family.keys else UNLISTED)] += n
    if previous is not None:
        for (kind, level, day, unit), (value, _mark) in previous.figures.items():
            name, _, key = kind.partition("#")
            if key and name in FAMILY_OF and level == "day" and value and not _is_aggregate(unit):
                per[name][(day, unit, key)] += value
    groups = sorted((name, members) for name, members in book.groups.items())
    units = frozenset(book.units | (previous.units if previous is not None else frozenset()))
    frozen = _Frozen(after, set(previous.units), previous.figures) if previous is not None else None
    figures: dict[FigureKey, Figure] = {}
    for family in FAMILIES:
        data = per.get(family.kind)
        if data:
            figures.update(_protect_family(family, data, through, known, groups, book, frozen))
    return Book(through, figures, units, dict(book.groups))


# A row's figure is part of these: a day of its week and month, a month of its quarter and year.
_UPS: dict[Level, tuple[Level, ...]] = {"day": ("week", "month"), "month": ("quarter", "year")}


def _protect_family(
    family: Family,
    data: Mapping[tuple[date, str, str], int],
    through: date,
    known: set[str],
    groups: list[tuple[str, frozenset[str]]],
    book: Book,
    frozen: _Frozen | None,
    levels: tuple[Level, ...] = LEVELS,
) -> dict[FigureKey, Figure]:
    """One breakdown's figures, protected. Sparse: a figure that is 0 is no unknown (shown,
    it is known; not shown, taking it as known is more than a reader knows). ``levels``:
    the grid levels it has figures at (the guide's usage: months and up, see
    ``build_usage``); the first is the one ``data`` counts."""
    model = _Model()
    values: dict[FigureKey, int] = defaultdict(int)

    def over(level: Level, day: date) -> bool:
        return level == "day" or cell_end(level, cell_start(level, day)) <= through

    for (day, unit, key), n in data.items():
        targets = dict.fromkeys([unit, ALL, *(g for g, members in groups if unit in members)])
        for target in targets:
            for level in levels:
                if over(level, day):
                    start = cell_start(level, day)
                    values[(key_kind(family.kind, key), level, start, target)] += n
                    values[(family.kind, level, start, target)] += n
    for figure in sorted(values):
        model.values[model.var(figure)] = values[figure]

    def shown_total(level: Level, start: date, unit: str) -> bool:
        """Whether this period's breakdown is shown for ``unit`` (see build_breakdowns)."""
        if level == "day" or not (unit in known or _is_aggregate(unit)):
            return False
        total = values.get((family.kind, level, start, unit), 0)
        if family.total is None:
            return total == 0 or total >= SMALL
        return book.cell(family.total, level, start, unit).value == total

    # Relations: time within each row and unit, units within each cell, rows within a total.
    over_time: dict[int, list[int]] = defaultdict(list)
    over_units: dict[int, list[int]] = defaultdict(list)
    over_rows: dict[int, list[int]] = defaultdict(list)
    for (kind, level, start, unit), i in model.index.items():
        if "#" not in kind:
            continue  # a total: known, so its own sums tell nothing
        for up in _UPS.get(level, ()):
            if over(up, start):
                over_time[model.index[(kind, up, cell_start(up, start), unit)]].append(i)
        if not _is_aggregate(unit):
            over_units[model.index[(kind, level, start, ALL)]].append(i)
            for name, members in groups:
                if unit in members:
                    over_units[model.index[(kind, level, start, name)]].append(i)
        over_rows[model.index[(family.kind, level, start, unit)]].append(i)
    for relation in (over_time, over_units, over_rows):
        model.lines += [(total, sorted(parts)) for total, parts in sorted(relation.items())]
    names = {i: key for key, i in model.index.items()}
    published: dict[int, bool] = {}
    for i, (kind, level, start, unit) in names.items():
        published[i] = shown_total(level, start, unit)
        if "#" not in kind:
            model.marks[i] = "shown"  # a total: known (see build_breakdowns)
            model.frozen.add(i)
        elif published[i]:
            v = model.values[i]
            model.marks[i] = "small" if 0 < v < SMALL else "shown"
    if frozen is not None:
        for figure, i in model.index.items():
            if "#" in figure[0] and frozen.holds(figure):
                found = frozen.figures.get(figure)
                if found is None:
                    continue  # not kept: not published then, so not now (see below)
                value, mark = found
                if value != model.values[i]:  # pragma: no cover - the same days' counts
                    raise RuntimeError(f"an earlier book's figure changed: {figure}")
                model.marks[i] = mark
                model.frozen.add(i)
    model.aggregate = {i for i, figure in names.items() if _is_aggregate(figure[3])}
    try:
        protect(model)
    except RuntimeError:  # pragma: no cover - not seen; never a report that fails for it
        for i, mark in enumerate(model.marks):  # show none of this family's new rows
            if i not in model.frozen and mark in ("shown", "small", "complement"):
                model.marks[i] = "withheld"
    # Kept: what reports show, every period's total (a report tells "fewer than 5" by it),
    # and a team's day counts (what the next day's book starts from); not the rest, which
    # no report shows (a national book would be millions more figures).
    out: dict[FigureKey, Figure] = {}
    for i, (kind, level, start, unit) in names.items():
        mark = model.marks[i]
        row = "#" in kind
        if not row:
            mark = "shown" if published[i] else "free"
        # the counts the next day's book starts from: a team's days, or (usage) the months
        base = row and level == levels[0] and (level != "day" or i not in model.aggregate)
        if mark != "free" or base or (not row and level != "day"):
            out[(kind, level, start, unit)] = (model.values[i], mark)
    return out


def with_breakdowns(book: Book, breakdowns: Book | None) -> Book:
    """One book of the totals and the breakdowns (their figures never share a kind)."""
    if breakdowns is None:
        return book
    return Book(
        book.through,
        {**book.figures, **breakdowns.figures},
        book.units | breakdowns.units,
        {**breakdowns.groups, **book.groups},
    )


# --- the guide's usage (issue #13): all teams together, months and longer --------------

# The screens, moves, languages and "was this helpful" tables count use of the guide's
# content, which is one for every team: they are for developing it, so they are shown in
# the all-teams report only, and for months, quarters and years only. Per team and per week
# these counts are small and many (200 screens, thousands of moves), and a report's own
# protection does not hold across reports: so they are kept in the book too, for ALL.
USAGE: tuple[Family, ...] = (
    Family("usage_screen", (), "screen_viewed", source="screen_viewed"),
    Family("usage_move", (), source="screen_move"),
    Family("usage_language", (), source="language_chosen"),
    Family("usage_helpful_yes", (), source="helpful", answer="yes"),
    Family("usage_helpful_no", (), source="helpful", answer="no"),
)
USAGE_OF = {f.kind: f for f in USAGE}
USAGE_SOURCES = tuple(sorted({f.source for f in USAGE}))
USAGE_LEVELS: tuple[Level, ...] = ("month", "quarter", "year")


def usage_is_current(previous: Book | None, book: Book) -> bool:
    """Whether ``previous`` (the stored usage) already holds every month over by ``book``'s
    day: then only its day moves on (see ``build_usage``)."""
    if previous is None:
        return False
    return last_whole_month_end(previous.through) == last_whole_month_end(book.through)


def build_usage(
    counts: Iterable[tuple[date, str, str, int]],
    *,
    book: Book,
    previous: Book | None = None,
) -> Book:
    """Protect the guide's usage across reports, from month counts of all teams (first
    day of the month, counter kind, key, count) beside ``book`` (the totals).

    Like the breakdowns (``build_breakdowns``): a family's rows of a month, a quarter, a
    year are protected together, across periods (a quarter and a year are their months)
    and rows (they add up to the total, taken as known); the screens only where their
    total (the funnel's screen views) is a shown figure of ``book``. ``previous``: the
    usage of an earlier day, kept exactly as it was; only months after its last whole
    month are counted (``month_key_counts``), the earlier ones are its own.
    """
    through = book.through if previous is None else max(book.through, previous.through)
    if previous is not None and usage_is_current(previous, book):
        return Book(through, previous.figures, book.units, dict(book.groups))
    after = last_whole_month_end(previous.through) if previous is not None else None
    last = last_whole_month_end(through)
    per: dict[str, dict[tuple[date, str, str], int]] = defaultdict(lambda: defaultdict(int))
    for month, source, key, n in counts:
        if not n or month > last or (after is not None and month <= after):
            continue
        for family in USAGE:
            row = family.row_of(key) if family.source == source else None
            if row is not None:
                per[family.kind][(month, ALL, row)] += n
    if previous is not None:
        for (kind, level, first, unit), (value, _mark) in previous.figures.items():
            name, _, key = kind.partition("#")
            if key and name in USAGE_OF and level == "month" and unit == ALL and value:
                per[name][(first, ALL, key)] += value
    frozen = _Frozen(after, {ALL}, previous.figures) if previous is not None else None
    figures: dict[FigureKey, Figure] = {}
    for family in USAGE:
        data = per.get(family.kind)
        if data:
            figures.update(
                _protect_family(family, data, through, set(), [], book, frozen, USAGE_LEVELS)
            )
    return Book(through, figures, book.units, dict(book.groups))
