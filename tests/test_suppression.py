"""Small-count protection: no hidden value can be worked out from what is shown with it.

The reader is assumed to know the rules and even which hidden numbers are primary (1..4) and
which complementary (>= 5). For every primary-hidden number, the brute-force check enumerates
every non-negative integer filling of the hidden numbers consistent with all shown cells and
totals, and demands at least two different values for it. Tables are small so enumeration is
exact; small values are frequent so suppression has work to do.
"""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.services.suppression import (
    SMALL,
    BreakdownRefused,
    SuppressedTable,
    refuse_small_breakdown,
    suppress_table,
    suppress_values,
)

count = st.one_of(st.integers(0, 6), st.integers(0, 6), st.integers(0, 12))


@st.composite
def tables(draw: st.DrawFn, max_rows: int = 4, max_cols: int = 3) -> list[list[int]]:
    rows = draw(st.integers(1, max_rows))
    cols = draw(st.integers(1, max_cols))
    return [[draw(count) for _ in range(cols)] for _ in range(rows)]


def feasible_values(
    table: list[list[int]], s: SuppressedTable, row_totals: bool, col_totals: bool
) -> dict[tuple[str, int, int], set[int]]:
    """Every value each primary-hidden number takes over all fillings consistent with the view."""
    rows, cols = len(table), len(table[0])
    grand = s.grand_total_mark is not None
    # The totals the view shows (None: hidden) and their marks; empty when not shown.
    row_shown: list[int | None] = list(s.row_totals or [])
    col_shown: list[int | None] = list(s.col_totals or [])
    row_marks: list[str] = list(s.row_total_marks or [])
    col_marks: list[str] = list(s.col_total_marks or [])
    grand_mark = s.grand_total_mark or ""
    names: list[tuple[str, int, int]] = []
    truth: list[int] = []
    shown: list[int | None] = []
    marks: list[str] = []
    for r in range(rows):
        for c in range(cols):
            names.append(("cell", r, c))
            truth.append(table[r][c])
            shown.append(s.cells[r][c])
            marks.append(s.cell_marks[r][c])
    if row_totals:
        for r in range(rows):
            names.append(("row", r, 0))
            truth.append(sum(table[r]))
            shown.append(row_shown[r])
            marks.append(row_marks[r])
    if col_totals:
        for c in range(cols):
            names.append(("col", 0, c))
            truth.append(sum(table[r][c] for r in range(rows)))
            shown.append(col_shown[c])
            marks.append(col_marks[c])
    if grand:
        names.append(("grand", 0, 0))
        truth.append(sum(map(sum, table)))
        shown.append(s.grand_total)
        marks.append(grand_mark)
    # What is shown is true; what is hidden carries its mark's range.
    for value, mark, real in zip(shown, marks, truth, strict=True):
        assert (value is None) == (mark != "shown")
        if value is not None:
            assert value == real
        if mark == "small":
            assert 0 < real < SMALL
        if mark == "complement":
            assert real >= SMALL
    lo_of = {"small": 1, "complement": SMALL}
    ok = {"small": range(1, SMALL), "complement": range(SMALL, 10**9)}
    # Enumerate the hidden interior cells (totals follow from them), pruning on every line
    # whose total is shown: a complete list of fillings, found without a search over totals.
    hidden_cells = [(r, c) for r in range(rows) for c in range(cols) if s.cells[r][c] is None]
    shown_row = [row_shown[r] if row_totals else None for r in range(rows)]
    shown_col = [col_shown[c] if col_totals else None for c in range(cols)]
    cap = max([sum(map(sum, table)), SMALL]) + SMALL
    grid: list[list[int | None]] = [[s.cells[r][c] for c in range(cols)] for r in range(rows)]

    def line_ok(cells: list[int | None], total: int | None, mark: str, complete: bool) -> bool:
        known = sum(v for v in cells if v is not None)
        if total is not None:
            return known == total if complete else known <= total
        # a hidden total: 1..4 if small, >= 5 if a complement
        if complete:
            return known in ok[mark]
        return mark != "small" or known < SMALL

    def fits(r: int, c: int) -> bool:
        row_done = all(v is not None for v in grid[r])
        col = [grid[i][c] for i in range(rows)]
        col_done = all(v is not None for v in col)
        if row_totals and not line_ok(grid[r], shown_row[r], row_marks[r], row_done):
            return False
        return not col_totals or line_ok(col, shown_col[c], col_marks[c], col_done)

    def grand_ok() -> bool:
        if not grand:
            return True
        g = sum(sum(v for v in row if v is not None) for row in grid)
        if s.grand_total is not None:
            return g == s.grand_total
        return g in ok[grand_mark]

    seen: dict[tuple[str, int, int], set[int]] = {}
    for r, c in hidden_cells:
        if s.cell_marks[r][c] == "small":
            seen[("cell", r, c)] = set()
    if row_totals:
        for r in range(rows):
            if row_marks[r] == "small":
                seen[("row", r, 0)] = set()
    if col_totals:
        for c in range(cols):
            if col_marks[c] == "small":
                seen[("col", 0, c)] = set()
    if grand and s.grand_total_mark == "small":
        seen[("grand", 0, 0)] = set()

    def record() -> None:
        """One complete filling: every hidden cell has a value now."""
        full = [[v for v in row if v is not None] for row in grid]
        assert all(len(row) == cols for row in full)
        for name in seen:
            kind, r, c = name
            if kind == "cell":
                seen[name].add(full[r][c])
            elif kind == "row":
                seen[name].add(sum(full[r]))
            elif kind == "col":
                seen[name].add(sum(full[i][c] for i in range(rows)))
            else:
                seen[name].add(sum(map(sum, full)))

    def search(k: int) -> None:
        if k == len(hidden_cells):
            if grand_ok():
                record()
            return
        r, c = hidden_cells[k]
        mark = s.cell_marks[r][c]
        # a cell is at most any shown total of its lines (a fact the reader has too)
        limits = [cap, shown_row[r], shown_col[c], s.grand_total]
        top = SMALL - 1 if mark == "small" else min(x for x in limits if x is not None)
        for x in range(lo_of[mark], top + 1):
            grid[r][c] = x
            if fits(r, c):
                search(k + 1)
        grid[r][c] = None

    search(0)
    assert all(seen.values()), "the true filling must be among the consistent ones"
    return seen


def check_protected(table: list[list[int]], row_totals: bool, col_totals: bool) -> None:
    try:
        s = suppress_table(table, row_totals=row_totals, col_totals=col_totals)
    except BreakdownRefused:
        # Refusing to show a table is always safe; that it is rare is checked below.
        return
    for name, values in feasible_values(table, s, row_totals, col_totals).items():
        assert len(values) >= 2, f"{name} is pinned to {values} in {table} -> {s}"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(max_rows=5, max_cols=2))
@example([[1], [5]])
@example([[3], [7], [9]])
@example([[0], [4], [0]])
def test_column_totals_never_reveal_a_hidden_cell(table: list[list[int]]) -> None:
    check_protected(table, row_totals=False, col_totals=True)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(max_rows=3, max_cols=4))
def test_row_totals_never_reveal_a_hidden_cell(table: list[list[int]]) -> None:
    check_protected(table, row_totals=True, col_totals=False)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(max_rows=3, max_cols=3))
@example([[3, 4], [6, 9]])
@example([[1, 9], [9, 9]])
def test_row_column_and_grand_totals_never_reveal_a_hidden_cell(table: list[list[int]]) -> None:
    check_protected(table, row_totals=True, col_totals=True)


@settings(max_examples=300, deadline=None)
@given(tables(max_rows=6, max_cols=3), st.booleans(), st.booleans())
def test_every_small_count_is_hidden_and_nothing_else_is_changed(
    table: list[list[int]], row_totals: bool, col_totals: bool
) -> None:
    try:
        s = suppress_table(table, row_totals=row_totals, col_totals=col_totals)
    except BreakdownRefused:
        return
    for r, row in enumerate(table):
        for c, value in enumerate(row):
            shown = s.cells[r][c]
            if 0 < value < SMALL:
                assert shown is None and s.cell_marks[r][c] == "small"
            elif shown is not None:
                assert shown == value
            else:
                assert s.cell_marks[r][c] == "complement" and value > 0
    for totals, marks in ((s.row_totals, s.row_total_marks), (s.col_totals, s.col_total_marks)):
        for total, mark in zip(totals or [], marks or [], strict=True):
            assert total is None or total == 0 or total >= SMALL
            if not (row_totals and col_totals):
                # one direction only: a total is hidden exactly when it is small (or fail safe)
                assert mark in ("shown", "small") or total is None


@settings(max_examples=200, deadline=None)
@given(tables(max_rows=8, max_cols=1))
def test_one_direction_totals_hide_only_when_small(table: list[list[int]]) -> None:
    """The same total in two tables on one page is hidden in both or in neither."""
    try:
        s = suppress_table(table, col_totals=True)
    except BreakdownRefused:
        return
    total = sum(r[0] for r in table)
    assert s.col_total_marks is not None
    assert s.col_total_marks[0] == ("small" if 0 < total < SMALL else "shown")


def test_zero_is_shown_and_a_lone_small_count_gets_a_complement() -> None:
    s = suppress_table([[0], [3], [12], [40]], col_totals=True)
    assert s.cells == [[0], [None], [None], [40]]
    assert s.cell_marks[2][0] == "complement"
    assert s.col_totals == [55]


def test_refusal_only_when_nothing_else_protects() -> None:
    # 1 + 5 = 6: hiding both still pins the 1 (the other is at least 5); the total is shown
    # in other tables on the page, so the table is refused rather than the total hidden.
    for table in ([[1], [5]], [[0], [1], [1], [1], [1]]):
        try:
            suppress_table(table, col_totals=True)
        except BreakdownRefused as exc:
            assert "Choose a longer period" in exc.message
        else:  # pragma: no cover
            raise AssertionError(f"{table} was shown")
    # Common shapes are shown, not refused.
    suppress_table([[1], [6], [7]], col_totals=True)
    suppress_table([[2, 9], [3, 9], [0, 9]], col_totals=True)


def test_a_small_total_is_hidden() -> None:
    s = suppress_table([[0], [3], [0]], col_totals=True)
    assert s.col_totals == [None]
    assert s.cells == [[0], [None], [0]]


def test_a_small_breakdown_is_refused_but_zero_and_five_are_not() -> None:
    refuse_small_breakdown(0, "requests")
    refuse_small_breakdown(5, "requests")
    for total in range(1, SMALL):
        try:
            refuse_small_breakdown(total, "requests")
        except BreakdownRefused as exc:
            assert "fewer than 5 requests" in exc.message
        else:  # pragma: no cover - the assertion is the test
            raise AssertionError(f"a breakdown of {total} was not refused")


def test_independent_values_only_hide_small_ones() -> None:
    assert suppress_values([0, 1, 4, 5, 99]) == [0, None, None, 5, 99]
