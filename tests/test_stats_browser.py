"""A coordinator reads the statistics in a real headless Chromium (Debian's), both databases.

Signs in, opens the statistics, switches period and team, sees the charts drawn
(canvas with pixels on it, under the page's CSP) with their tables and "<5",
downloads the CSV, and opens the "what is counted" page from its link.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bot.runtime import Server
from tests.browser import PHONE, expect, sign_in, watch
from tests.staff_helpers import PASSWORD, new_request
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
    tab: Any, origin: str, *, team: str, kind: str, day: str, fill_day: bool = True
) -> None:
    """Choose a grid period (a kind and a day in it) and a team, press Show, land on their URL.

    ``fill_day=False`` leaves the day as the form kept it, which must be ``day``.
    """
    await tab.get_by_test_id("period").select_option(kind)
    if fill_day:
        await tab.get_by_label("En dag i perioden").fill(day)
    await tab.get_by_test_id("team").select_option(team)
    await tab.get_by_test_id("show").click()
    await expect(tab).to_have_url(f"{origin}/staff/stats?period={kind}&date={day}&team={team}")


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
    await show_stats(page, server.origin, team="laholm", kind="month", day="2026-11-15")
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
    # Under the book (issue #13) a cell not shown reads "<5", "dold" (5 or more, hidden to
    # protect a small count) or "visas inte" (withheld); never a number.
    await expect(page.locator("td.hidden-count").first).to_be_visible()
    marks = {t.strip() for t in await page.locator("td.hidden-count").all_inner_texts()}
    assert marks and marks <= {"<5", "dold", "visas inte"}, marks
    assert str(BOTKYRKA_ONLY) not in await page.locator("main").inner_text()

    # The other team, another period.
    await show_stats(
        page,
        server.origin,
        team="botkyrka",
        kind="quarter",
        day="2026-11-30",
        fill_day=False,
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


# -- a phone (390 x 844): nothing overlaps, nothing runs off the page (#12 item 4) ----------

# Pairs of a statistics section's parts (heading, note, chart, caption, table) whose boxes
# overlap, sections that overlap each other, and parts that reach past the screen's edge.
OVERLAPS_JS = """() => {
  const overlap = (a, b) => a.left < b.right - 0.5 && b.left < a.right - 0.5
    && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
  const name = (el) => el.closest("section.stat").id + " " + el.tagName.toLowerCase()
    + (el.className ? "." + el.className : "");
  const found = [];
  const sections = [...document.querySelectorAll("section.stat")];
  for (const section of sections) {
    const parts = [...section.querySelectorAll(
      ":scope > h2, :scope > p.note, .chart-box, figcaption, .table-wrap")];
    for (let i = 0; i < parts.length; i++) {
      const a = parts[i].getBoundingClientRect();
      if (a.right > window.innerWidth + 0.5 || a.left < -0.5) {
        found.push("off screen: " + name(parts[i]));
      }
      for (let j = i + 1; j < parts.length; j++) {
        if (overlap(a, parts[j].getBoundingClientRect())) {
          found.push(name(parts[i]) + " overlaps " + name(parts[j]));
        }
      }
    }
  }
  for (let i = 0; i + 1 < sections.length; i++) {
    if (overlap(sections[i].getBoundingClientRect(), sections[i + 1].getBoundingClientRect())) {
      found.push(sections[i].id + " overlaps " + sections[i + 1].id);
    }
  }
  return found;
}"""
BOXES_JS = (
    "(els) => els.map((e) => [e.getBoundingClientRect().left, e.getBoundingClientRect().right])"
)
PAGE_OVERFLOW_JS = "() => [document.scrollingElement.scrollWidth, window.innerWidth]"


@pytest.mark.parametrize("lang", ["sv", "en"])
async def test_a_month_reads_on_a_phone(server: Server, browser: Any, lang: str) -> None:
    assert server.core is not None
    await server.core.staff.create("kim", PASSWORD, "coordinator", frozenset({"laholm"}))
    await seed(server)
    context = await browser.new_context(viewport=PHONE, locale="sv-SE")
    page = await context.new_page()
    problems = watch(page)
    await sign_in(page, server.origin, "kim")
    await page.goto(f"{server.origin}/staff/stats?period=month&date=2026-11-15&team=laholm")
    if lang == "en":
        await page.get_by_test_id("language").click()
        await expect(page.locator("html")).to_have_attribute("lang", "en")
    await charts_drawn(page)

    assert await page.evaluate(OVERLAPS_JS) == []
    scroll_width, inner_width = await page.evaluate(PAGE_OVERFLOW_JS)
    assert scroll_width <= inner_width, (scroll_width, inner_width)

    # The month is one compact table with its column headings, not 30 stacked cards.
    over_time = page.get_by_test_id("stat-conversations_over_time")
    rows = over_time.locator("tbody tr")
    assert await rows.count() == 30
    assert await rows.first.evaluate("(r) => getComputedStyle(r).display") == "table-row"
    await expect(over_time.locator("thead th").first).to_be_visible()
    height = await over_time.locator("table").evaluate("(t) => t.getBoundingClientRect().height")
    assert height < 30 * 45, height
    # The total row sits under the columns' headings: each of its cells has a label above.
    total = over_time.locator("tfoot tr")
    await expect(total.locator("th")).to_have_text("Summa" if lang == "sv" else "Total")
    heads = await over_time.locator("thead th").evaluate_all(BOXES_JS)
    cells = [
        (left + right) / 2 for left, right in await total.locator("th, td").evaluate_all(BOXES_JS)
    ]
    assert len(cells) == len(heads)
    assert all(left <= x <= right for x, (left, right) in zip(cells, heads, strict=True))
    # The funnel's long labels are wrapped to fit beside the bars, none cut off.
    funnel = page.locator('canvas[data-chart="funnel"]')
    await expect(funnel).to_have_attribute("data-labels-fit", "yes")
    assert problems == [], problems
    await context.close()


# -- a language name in its own direction, inside a Swedish line (#12 item 4) ----------------

ORDER_JS = """(th) => {
  const bdi = th.querySelector("bdi");
  const text = [...th.childNodes].find((n) => n.nodeType === 3 && /\\(ar\\)/.test(n.textContent));
  const range = document.createRange();
  const at = text.textContent.indexOf("(ar)");
  range.setStart(text, at);
  range.setEnd(text, at + 4);
  const code = range.getBoundingClientRect();
  const name = bdi.getBoundingClientRect();
  return {
    direction: getComputedStyle(th).direction,
    label: getComputedStyle(th, "::before").content,
    cell: th.getBoundingClientRect().left,
    name: [name.left, name.right],
    code: [code.left, code.right],
  };
}"""


async def test_an_arabic_language_name_reads_in_order_in_a_swedish_line(
    server: Server, browser: Any
) -> None:
    """ "Språk: العربية (ar)", left to right, not "(ar) العربية :Språk" (a phone's labels)."""
    assert server.core is not None
    await server.core.staff.create("kim", PASSWORD, "coordinator", frozenset({"laholm"}))
    context = await browser.new_context(viewport=PHONE, locale="sv-SE")
    page = await context.new_page()
    await sign_in(page, server.origin, "kim")
    await page.goto(f"{server.origin}/staff/content")
    for row in ("language-ar", "translation-ar"):
        th = page.get_by_test_id(row).locator("th")
        await expect(th.locator("bdi")).to_have_text("العربية")
        shown = await th.evaluate(ORDER_JS)
        assert shown["direction"] == "ltr", shown
        assert "Språk" in shown["label"], shown
        assert shown["name"][0] > shown["cell"] + 10, shown  # "Språk: " comes first
        assert shown["name"][1] <= shown["code"][0] + 1, shown  # then the name, then (ar)
    # The queue on a phone: "Språk: العربية", the label first, the name isolated after it.
    await new_request(server, language="ar")
    await page.goto(f"{server.origin}/staff/queue")
    cell = page.get_by_test_id("queue-row").first.locator("td", has=page.locator("bdi[lang=ar]"))
    await expect(cell.locator("bdi")).to_have_text("العربية")
    placed = await cell.evaluate(
        """(td) => [
          getComputedStyle(td).direction,
          getComputedStyle(td, "::before").content,
          td.getBoundingClientRect().left,
          td.querySelector("bdi").getBoundingClientRect().left,
        ]"""
    )
    assert placed[0] == "ltr" and "Språk" in placed[1] and placed[3] > placed[2] + 10, placed
    await context.close()
