"""A coordinator reads the statistics in a real headless Chromium (Debian's), both databases.

Signs in, opens the statistics, switches period and team, sees the charts drawn
(canvas with pixels on it, under the page's CSP) with their tables and "<5",
downloads the CSV, and opens the "what is counted" page from its link.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.runtime import Server
from tests.browser import expect, sign_in, watch
from tests.staff_helpers import PASSWORD
from tests.test_stats_web import BOTKYRKA_ONLY, seed

if TYPE_CHECKING:
    from playwright.async_api import Locator

WAIT_MS = 15_000
# How many pixels of a chart's canvas are not transparent: 0 means nothing was drawn.
INKED = """(canvas) => {
  const { width, height } = canvas;
  const data = canvas.getContext("2d").getImageData(0, 0, width, height).data;
  let inked = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) inked++;
  return inked;
}"""


async def show_stats(
    tab: Any, origin: str, *, team: str, start: str, end: str, fill_end: bool = True
) -> None:
    """Choose a custom period and a team in the form, press Show, land on their URL.

    ``fill_end=False`` leaves the end date as the form kept it, which must be ``end``.
    """
    await tab.get_by_test_id("period").select_option("custom")
    await tab.get_by_label("Från (eget intervall)").fill(start)
    if fill_end:
        await tab.get_by_label("Till (eget intervall)").fill(end)
    await tab.get_by_test_id("team").select_option(team)
    await tab.get_by_test_id("show").click()
    await expect(tab).to_have_url(
        f"{origin}/staff/stats?period=custom&from={start}&to={end}&team={team}"
    )


async def charts_drawn(tab: Any) -> int:
    """Wait until the page's script has drawn every chart; how many there are."""
    count: int = await tab.locator("canvas[data-chart]").count()
    await expect(tab.locator("body")).to_have_attribute(
        "data-charts-drawn", str(count), timeout=WAIT_MS
    )
    return count


async def test_a_coordinator_reads_the_statistics(
    server: Server, browser: Any, tmp_path: Path
) -> None:
    assert server.core is not None
    await server.core.staff.create(
        "kim", PASSWORD, "coordinator", frozenset({"laholm", "botkyrka"})
    )
    await seed(server)
    context = await browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="sv-SE", accept_downloads=True
    )
    page = await context.new_page()
    problems = watch(page)
    await sign_in(page, server.origin, "kim")
    await page.get_by_test_id("nav-stats").click()
    await expect(page.get_by_role("heading", name="Statistik", exact=True)).to_be_visible()

    # Switch period and team with the form.
    await show_stats(page, server.origin, team="laholm", start="2026-11-01", end="2026-11-30")
    await expect(page.get_by_test_id("stats-scope")).to_contain_text("2026-11-01")

    # Every table has its chart, drawn; the tables show small counts as "<5".
    count = await charts_drawn(page)
    assert count > 0
    canvases = page.locator("canvas[data-chart]")
    for i in range(count):
        canvas = canvases.nth(i)
        await expect(canvas).to_have_attribute("data-drawn", str(await _columns(canvas)))
        assert await canvas.evaluate(INKED) > 100, await canvas.get_attribute("id")
    over_time = page.get_by_test_id("stat-conversations_over_time")
    await expect(over_time.locator("table")).to_be_visible()
    await expect(page.locator("td.hidden-count").first).to_have_text("<5")
    assert str(BOTKYRKA_ONLY) not in await page.locator("main").inner_text()

    # The other team, another period.
    await show_stats(
        page,
        server.origin,
        team="botkyrka",
        start="2026-10-01",
        end="2026-11-30",
        fill_end=False,
    )
    await expect(page.locator("main")).to_contain_text(str(BOTKYRKA_ONLY))
    await charts_drawn(page)

    # The CSV download holds the same suppressed figures.
    async with page.expect_download() as info:
        await page.get_by_test_id("csv").click()
    download = await info.value
    assert download.suggested_filename.endswith(".csv")
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    csv_text = saved.read_text(encoding="utf-8")
    assert str(BOTKYRKA_ONLY) in csv_text

    # "What is counted", from its link, in the page's language.
    await page.get_by_test_id("about-link").click()
    await expect(page.get_by_test_id("about-title")).to_have_text(
        "Vad som räknas, och vad som aldrig räknas"
    )
    await expect(page.locator("main")).to_contain_text("<5")
    assert problems == [], problems


async def _columns(canvas: Locator) -> int:
    """How many data series the chart's JSON gives this canvas (one per table column)."""
    return int(
        await canvas.evaluate(
            """(c) => JSON.parse(document.getElementById("chart-data").textContent)
                  .find((s) => s.id === c.dataset.chart).datasets.length"""
        )
    )
