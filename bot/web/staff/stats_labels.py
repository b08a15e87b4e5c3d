"""Words and chart shapes for the statistics tables (the service gives ids, the page labels)."""

from __future__ import annotations

from bot.i18n import N_
from bot.services.stats import TIME_BUCKETS

# A cell hidden although 5 or more (complementary suppression): "<5" would be untrue.
HIDDEN = N_("hidden")
TIME_BUCKET_LABELS = {
    "under_15m": N_("Under 15 minutes"),
    "15m_1h": N_("15 minutes to 1 hour"),
    "1h_4h": N_("1 to 4 hours"),
    "4h_24h": N_("4 to 24 hours"),
    "1d_3d": N_("1 to 3 days"),
    "over_3d": N_("Over 3 days"),
}
assert set(TIME_BUCKET_LABELS) == set(TIME_BUCKETS)

# Tables whose rows are many or long labels read better as horizontal bars.
HORIZONTAL = frozenset({"top_screens", "helpfulness", "funnel", "screen_moves", "drop_off"})


def chart_kind(table_id: str, rows: int) -> str:
    """ "line" for series over time, "hbar" for rankings and the funnel, else "bar"."""
    if table_id.endswith("_over_time"):
        return "line"
    if table_id in HORIZONTAL or rows > 8:
        return "hbar"
    return "bar"
