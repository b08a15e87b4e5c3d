"""Small-count protection: no shown number, total or blank can point to fewer than five people.

Rules (every view, export, API answer and the CLI go through ``suppress_table``):

- **Primary suppression.** A count from 1 to 4 (a cell or a total) is hidden and shown as "<5".
- **Zero is shown.** A zero says nobody did something; it cannot point to a person. What a zero
  can do is tell the reader that a small group all share one answer (a topic table whose only
  non-zero cell is hidden); that is why a breakdown of a population under 5 is refused as a whole
  (``refuse_small_breakdown``) instead of being shown with zeros.
- **Complementary suppression.** A line is a set of cells with a shown or hidden sum (a row with
  its row total, a column with its column total, the totals with the grand total). Where the
  shown numbers of a line, or of several lines together, would pin a hidden value, another
  cell is hidden too (the smallest non-zero one of the line), until nothing is pinned.
  Complementary cells are at least 5 and show as "hidden", not as "<5" (that would be false).
- **Totals are never hidden as complements**: a table has totals in one direction only (rows
  or columns, ``suppress_table`` refuses both), so a total is hidden exactly when it is under
  5, and the same quantity shown in two tables on one page (the funnel's "requests created"
  and the requests table's total) is hidden in both or in neither.

The criterion, checked by property tests against brute-force enumeration: assume the reader
knows the rules and even which hidden cells are primary (1..4) and which complementary (>= 5).
Every primary-hidden value must still admit at least two different values among all
non-negative integer fillings consistent with everything shown. The algorithm enforces it with
interval propagation over all lines to a fixed point. Propagation proves outer bounds, so a
value it pins is truly pinned; that it finds every pinned value is what the property test
checks on small tables by enumerating every consistent filling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

SMALL = 5  # same as stats.SMALL; duplicated to keep this module free of imports
INF = 10**12

Mark = Literal["shown", "small", "complement"]


_CANNOT = (
    "Not shown: with so few in some of these figures, any way of showing this table "
    "would let a hidden count be worked out. Choose a longer period or more teams."
)


class BreakdownRefused(Exception):
    """A breakdown of fewer than SMALL would single people out; ``message`` says so plainly."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def small_breakdown_note(what: str) -> str:
    """Why a breakdown of 1..4 ``what`` is not shown (the staff pages translate it)."""
    return (
        f"Not shown: fewer than {SMALL} {what} in this period and team, so a breakdown "
        "could point to a person. Choose a longer period or more teams."
    )


def refuse_small_breakdown(total: int, what: str) -> None:
    """Refuse to break down a population of 1..4 (zero has nothing to protect)."""
    if 0 < total < SMALL:
        raise BreakdownRefused(small_breakdown_note(what))


@dataclass
class SuppressedTable:
    """Values with ``None`` where hidden; ``marks`` say why (for the note and the tests)."""

    cells: list[list[int | None]]
    cell_marks: list[list[Mark]]
    row_totals: list[int | None] | None = None
    row_total_marks: list[Mark] | None = None
    col_totals: list[int | None] | None = None
    col_total_marks: list[Mark] | None = None
    grand_total: int | None = None
    grand_total_mark: Mark | None = None
    hidden: int = field(default=0)  # how many numbers are hidden in all


@dataclass
class _Model:
    """Every number of a table as a variable, and every line as (sum variable, members)."""

    values: list[int]
    is_total: list[bool]
    lines: list[tuple[int, list[int]]]
    marks: list[Mark]


@dataclass(frozen=True)
class _Layout:
    """Where each cell and total sits in the model's flat list of values."""

    cells: list[list[int]]
    rows: list[int]
    cols: list[int]
    grand: int | None


def _build(
    values: Sequence[Sequence[int]], row_totals: bool, col_totals: bool, grand: bool
) -> tuple[_Model, _Layout]:
    n_rows = len(values)
    n_cols = len(values[0]) if n_rows else 0
    vals: list[int] = []
    is_total: list[bool] = []
    cell_idx = [[0] * n_cols for _ in range(n_rows)]
    for r in range(n_rows):
        if len(values[r]) != n_cols:
            raise ValueError("every row needs the same number of columns")
        for c in range(n_cols):
            v = int(values[r][c])
            if v < 0:
                raise ValueError("counts are never negative")
            cell_idx[r][c] = len(vals)
            vals.append(v)
            is_total.append(False)
    lines: list[tuple[int, list[int]]] = []
    row_idx: list[int] = []
    col_idx: list[int] = []
    if row_totals:
        for r in range(n_rows):
            row_idx.append(len(vals))
            vals.append(sum(values[r]))
            is_total.append(True)
            lines.append((row_idx[-1], cell_idx[r]))
    if col_totals:
        for c in range(n_cols):
            col_idx.append(len(vals))
            vals.append(sum(values[r][c] for r in range(n_rows)))
            is_total.append(True)
            lines.append((col_idx[-1], [cell_idx[r][c] for r in range(n_rows)]))
    grand_idx: int | None = None
    if grand:
        grand_idx = len(vals)
        vals.append(sum(sum(row) for row in values))
        is_total.append(True)
        if row_totals:
            lines.append((grand_idx, row_idx))
        if col_totals:
            lines.append((grand_idx, col_idx))
        if not row_totals and not col_totals:
            lines.append((grand_idx, [i for row in cell_idx for i in row]))
    marks: list[Mark] = ["small" if 0 < v < SMALL else "shown" for v in vals]
    return _Model(vals, is_total, lines, marks), _Layout(cell_idx, row_idx, col_idx, grand_idx)


def bounds(model: _Model) -> tuple[list[int], list[int]]:
    """Tightest intervals that interval propagation over every line can prove."""
    lo: list[int] = []
    hi: list[int] = []
    for v, m in zip(model.values, model.marks, strict=True):
        if m == "shown":
            lo.append(v)
            hi.append(v)
        elif m == "small":
            lo.append(1)
            hi.append(SMALL - 1)
        else:
            lo.append(SMALL)
            hi.append(INF)
    changed = True
    rounds = 0
    while changed and rounds < 200:
        changed = False
        rounds += 1
        for total, members in model.lines:
            s_lo = sum(lo[i] for i in members)
            s_hi = sum(hi[i] for i in members)
            if s_lo > lo[total]:
                lo[total], changed = s_lo, True
            if s_hi < hi[total]:
                hi[total], changed = s_hi, True
            for i in members:
                new_lo = lo[total] - (s_hi - hi[i])
                new_hi = hi[total] - (s_lo - lo[i])
                if new_lo > lo[i]:
                    lo[i], changed = new_lo, True
                if new_hi < hi[i]:
                    hi[i], changed = new_hi, True
    return lo, hi


def _pinned(model: _Model) -> tuple[list[int], list[int]]:
    """(primary-hidden values that are pinned, every hidden value that is pinned)."""
    lo, hi = bounds(model)
    hidden = [i for i, m in enumerate(model.marks) if m != "shown" and lo[i] >= hi[i]]
    return [i for i in hidden if model.marks[i] == "small"], hidden


def _candidates(model: _Model, var: int) -> list[int]:
    """Shown non-zero cells (never totals) in the lines through ``var``, fewest hidden
    lines first."""
    lines = sorted(
        (ln for ln in model.lines if var == ln[0] or var in ln[1]),
        key=lambda ln: sum(model.marks[i] != "shown" for i in [ln[0], *ln[1]]),
    )
    for _total, members in lines:
        pool = [
            i
            for i in members
            if model.marks[i] == "shown" and model.values[i] > 0 and not model.is_total[i]
        ]
        if pool:
            return pool
    return []


def _protect(model: _Model) -> None:
    """Hide further numbers until no primary-hidden value is pinned by what is shown.

    A pinned primary value is freed by hiding the smallest shown cell of one of its lines; if
    its lines have none left, the pin comes through another hidden value that is pinned (a
    complement whose other lines are all shown), so a cell of that value's lines is hidden.
    Only interior cells are hidden, never a total. When nothing is left to hide, the table
    is refused (``BreakdownRefused``).
    """
    for _ in range(2 * len(model.values) + 2):
        primary, hidden = _pinned(model)
        if not primary:
            return
        choice = None
        for var in [*primary, *(h for h in hidden if h not in primary)]:
            pool = _candidates(model, var)
            if pool:
                choice = min(pool, key=lambda i: (model.values[i], i))
                break
        if choice is None:
            raise BreakdownRefused(_CANNOT)
        model.marks[choice] = "complement"
    if _pinned(model)[0]:
        # Even with everything hidden, the rules themselves pin a value (four hidden ones
        # under a hidden total of 4 must all be 1): such a table is not shown at all.
        raise BreakdownRefused(_CANNOT)


def suppress_table(
    values: Sequence[Sequence[int]],
    *,
    row_totals: bool = False,
    col_totals: bool = False,
    grand_total: bool | None = None,
) -> SuppressedTable:
    """Suppress a rows x columns table of counts and the totals shown with it.

    Totals in one direction only (every report table): with row and column totals both,
    interval propagation can miss a pin (a hidden cell fixed by a cycle of rows and columns,
    which only wider reasoning finds), so such a table is refused with a ValueError rather
    than protected on a check that is known to fall short. ``grand_total``: the sum of every
    cell too (default: none). Raises ``BreakdownRefused`` when no suppression pattern
    protects every small count.
    """
    if row_totals and col_totals:
        raise ValueError("totals in one direction only: rows or columns, not both")
    model, layout = _build(values, row_totals, col_totals, bool(grand_total))
    _protect(model)

    def shown(i: int) -> int | None:
        return model.values[i] if model.marks[i] == "shown" else None

    cells_idx, rows_idx, cols_idx, grand_idx = layout.cells, layout.rows, layout.cols, layout.grand
    return SuppressedTable(
        cells=[[shown(i) for i in row] for row in cells_idx],
        cell_marks=[[model.marks[i] for i in row] for row in cells_idx],
        row_totals=[shown(i) for i in rows_idx] if row_totals else None,
        row_total_marks=[model.marks[i] for i in rows_idx] if row_totals else None,
        col_totals=[shown(i) for i in cols_idx] if col_totals else None,
        col_total_marks=[model.marks[i] for i in cols_idx] if col_totals else None,
        grand_total=shown(grand_idx) if isinstance(grand_idx, int) else None,
        grand_total_mark=model.marks[grand_idx] if isinstance(grand_idx, int) else None,
        hidden=sum(m != "shown" for m in model.marks),
    )


def suppress_values(values: Sequence[int]) -> list[int | None]:
    """Independent numbers with no shown sum (a funnel's steps): primary suppression only."""
    return [None if 0 < v < SMALL else v for v in values]
