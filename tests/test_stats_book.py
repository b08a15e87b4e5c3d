"""What the protected figures are built from: the same day sums whether the days come
from the rollups, the counters or both (a watermark inside the span), on both databases."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from bot.services.protected import BOOK_KINDS, build_book
from bot.storage import stats_book
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
