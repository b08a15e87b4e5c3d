"""A coordinator reads the statistics in a real headless Chromium (Debian's), both databases.

Signs in, opens the statistics, switches period and team, sees the charts drawn
(canvas with pixels on it, under the page's CSP) with their tables and "<5",
downloads the CSV, and opens the "what is counted" page from its link.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

from bot.runtime import Server
from tests.staff_helpers import PASSWORD, create_accounts
from tests.test_stats_web import BOTKYRKA_ONLY, seed

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
playwright_api = (
    importlib.import_module("playwright.async_api")
    if CI
    else pytest.importorskip("playwright.async_api", reason="pip install -e '.[test]'")
)
WAIT_MS = 15_000
# How many pixels of a chart's canvas are not transparent: 0 means nothing was drawn.
INKED = """(canvas) => {
  const { width, height } = canvas;
  const data = canvas.getContext("2d").getImageData(0, 0, width, height).data;
  let inked = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) inked++;
  return inked;
}"""


@pytest.fixture(scope="module")
def chromium() -> str:
    if Path(CHROMIUM).exists():
        return CHROMIUM
    if CI:
        pytest.fail(f"CI=true but {CHROMIUM} is missing: install Debian's chromium package")
    pytest.skip(f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium)")


async def test_a_coordinator_reads_the_statistics(
    preview_server: Server, chromium: str, tmp_path: Path
) -> None:
    server = preview_server
    assert server.core is not None
    await create_accounts(server)
    await server.core.staff.create(
        "kim", PASSWORD, "coordinator", frozenset({"laholm", "botkyrka"})
    )
    await seed(server)
    expect = playwright_api.expect
    problems: list[str] = []
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(
                viewport={"width": 1280, "height": 900}, locale="sv-SE", accept_downloads=True
            )
            page = await context.new_page()
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            page.on(
                "console",
                lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None,
            )
            await page.goto(f"{server.origin}/staff/")
            await page.get_by_label("Användarnamn").fill("kim")
            await page.get_by_label("Lösenord").fill(PASSWORD)
            await page.get_by_role("button", name="Logga in").click()
            await page.get_by_test_id("nav-stats").click()
            await expect(page.get_by_role("heading", name="Statistik", exact=True)).to_be_visible()

            # Switch period and team with the form.
            await page.get_by_test_id("period").select_option("custom")
            await page.get_by_label("Från (eget intervall)").fill("2026-11-01")
            await page.get_by_label("Till (eget intervall)").fill("2026-11-30")
            await page.get_by_test_id("team").select_option("laholm")
            await page.get_by_test_id("show").click()
            await expect(page).to_have_url(
                f"{server.origin}/staff/stats?period=custom&from=2026-11-01&to=2026-11-30"
                "&team=laholm"
            )
            await expect(page.get_by_test_id("stats-scope")).to_contain_text("2026-11-01")

            # Every table has its chart, drawn; the tables show small counts as "<5".
            canvases = page.locator("canvas[data-chart]")
            count = await canvases.count()
            assert count > 0
            await expect(page.locator("body")).to_have_attribute(
                "data-charts-drawn", str(count), timeout=WAIT_MS
            )
            for i in range(count):
                canvas = canvases.nth(i)
                await expect(canvas).to_have_attribute("data-drawn", str(await _columns(canvas)))
                assert await canvas.evaluate(INKED) > 100, await canvas.get_attribute("id")
            over_time = page.get_by_test_id("stat-conversations_over_time")
            await expect(over_time.locator("table")).to_be_visible()
            await expect(page.locator("td.hidden-count").first).to_have_text("<5")
            assert str(BOTKYRKA_ONLY) not in await page.locator("main").inner_text()

            # The other team, another period.
            await page.get_by_test_id("team").select_option("botkyrka")
            await page.get_by_test_id("period").select_option("custom")
            await page.get_by_label("Från (eget intervall)").fill("2026-10-01")
            await page.get_by_test_id("show").click()
            await expect(page).to_have_url(
                f"{server.origin}/staff/stats?period=custom&from=2026-10-01&to=2026-11-30"
                "&team=botkyrka"
            )
            await expect(page.locator("main")).to_contain_text(str(BOTKYRKA_ONLY))
            count = await page.locator("canvas[data-chart]").count()
            await expect(page.locator("body")).to_have_attribute(
                "data-charts-drawn", str(count), timeout=WAIT_MS
            )

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
        finally:
            await browser.close()


async def _columns(canvas: object) -> int:
    """How many data series the chart's JSON gives this canvas (one per table column)."""
    return await canvas.evaluate(  # type: ignore[attr-defined]
        """(c) => JSON.parse(document.getElementById("chart-data").textContent)
                  .find((s) => s.id === c.dataset.chart).datasets.length"""
    )
