"""The printable statistics report for the municipal board (#12 item 6).

A quarter (or a year) with the period and teams in its heading, every chart with its
table, and why small counts are hidden, in Swedish and English; for coordinators and
administrators as the statistics page is. Printed by Debian's Chromium (Playwright's
``page.pdf()``, which prints with the page's print stylesheet): a PDF of several A4
pages, without the menu or buttons. One server (SQLite: the data layer does not change
the markup) and one Chromium for the module.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.emulator.spec import BotApiSpec
from bot.runtime import Server
from bot.services.stats_report import USAGE_TABLES
from tests.conftest import running_preview
from tests.staff_helpers import PASSWORD, create_accounts, signed_in, text_of
from tests.test_stats_web import BOTKYRKA_ONLY, seed

pytestmark = pytest.mark.asyncio(loop_scope="module")

QUARTER = "/staff/stats/report?period=quarter&date=2026-11-15&team=laholm"
YEAR = "/staff/stats/report?period=year&date=2026-11-15&team=laholm"
WAIT_MS = 15_000
STAT_ID = re.compile(r'<section class="stat" id="stat-([a-z_]+)"')
PDF_PAGE = re.compile(rb"/Type\s*/Page\b(?!s)")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(
    spec: BotApiSpec, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Server]:
    tmp: Path = tmp_path_factory.mktemp("report")
    async with running_preview(f"sqlite+aiosqlite:///{tmp / 'report.db'}", tmp, spec) as server:
        assert server.core is not None
        await create_accounts(server)
        await server.core.staff.create("kim", PASSWORD, "coordinator", frozenset({"laholm"}))
        await seed(server)
        # The report after the quarter is over: a period not over yet has no totals and no
        # breakdowns (test_stats_trial), and this report shows every table.
        assert server.stats is not None
        server.stats.now = lambda: datetime(2027, 1, 2, 12, tzinfo=UTC)
        yield server


async def test_the_report_names_period_and_team_and_shows_every_table(server: Server) -> None:
    async with signed_in(server, "kim") as kim:
        page = await kim.get(QUARTER)
        assert kim.status == 200, text_of(page)
        stats = await kim.get("/staff/stats?period=quarter&date=2026-11-15&team=laholm")
    title = re.search(r'<h1 data-testid="report-title">(.*?)</h1>', page, re.S)
    assert title and text_of(title.group(1)) == "Statistikrapport: Kvartal 4 2026"
    assert "Laholm" in text_of(re.search(r'data-testid="report-teams">(.*?)</p>', page, re.S)[1])
    assert re.search(r"Från 2026-10-01 till 2026-1[0-2]-\d\d", text_of(page))  # up to today
    # Every table of the statistics page is in the report, with its chart's canvas.
    ids = STAT_ID.findall(stats)
    assert ids and sorted(STAT_ID.findall(page)) == sorted(ids)
    # (a team's report has no usage tables: they are the all-teams report's, issue #13)
    usage = len(USAGE_TABLES)
    assert page.count("<table") == len(ids) and page.count("<canvas") >= len(ids) - 3 - usage
    # Small counts hidden, and why; no other team's figure.
    assert re.search(r"<td[^>]*>\s*&lt;5\s*</td>", page)
    protection = re.search(r'data-testid="protection-note">(.*?)</section>', page, re.S)
    assert protection and 'Antal under 5 visas som "<5"' in text_of(protection.group(1))
    assert str(BOTKYRKA_ONLY) not in text_of(page)
    assert "Most viewed screens" not in page and "Mest visade sidor" in page


async def test_the_report_in_english_and_for_a_year(server: Server) -> None:
    async with signed_in(server, "kim", lang="en") as kim:
        quarter = text_of(await kim.get(QUARTER))
        year = text_of(await kim.get(YEAR))
    assert "Statistics report: Quarter 4 2026" in quarter
    assert "How the figures protect the relatives" in quarter
    assert "Statistics report: Year 2026" in year and "From 2026-01-01 to 2026-" in year


async def test_the_report_is_for_coordinators_and_admins(server: Server) -> None:
    async with signed_in(server, "anna") as anna:
        await anna.get(QUARTER)
        assert anna.status == 403
    async with signed_in(server, "root") as root:
        page = await root.get("/staff/stats/report")
        assert root.status == 200, text_of(page)
        assert "Kvartal" in text_of(page)  # a quarter unless asked otherwise
        await root.get("/staff/stats/report?period=decade")
        assert root.status == 400
        await root.get("/staff/stats/report?period=quarter&date=2026-13-45")
        assert root.status == 400
    async with signed_in(server, "kim") as kim:
        await kim.get("/staff/stats/report?period=quarter&team=botkyrka")
        assert kim.status == 403


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(chromium: str) -> AsyncIterator[Any]:
    from tests.browser import launched

    async with launched(chromium) as launched_browser:
        yield launched_browser


async def test_the_report_prints_to_a_pdf_of_several_a4_pages(server: Server, browser: Any) -> None:
    from tests.browser import expect, sign_in, watch

    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="sv-SE")
    try:
        page = await context.new_page()
        problems = watch(page)
        await sign_in(page, server.origin, "kim")
        await page.goto(server.origin + QUARTER)
        charts = await page.locator("canvas[data-chart]").count()
        assert charts > 0
        await expect(page.locator("body")).to_have_attribute(
            "data-charts-drawn", str(charts), timeout=WAIT_MS
        )
        # On paper: no menu, no buttons, no form; the heading, the tables and the charts.
        await page.emulate_media(media="print")
        await expect(page.locator("header.top")).to_be_hidden()
        await expect(page.get_by_test_id("print")).to_be_hidden()
        await expect(page.get_by_test_id("report-filter")).to_be_hidden()
        await expect(page.get_by_test_id("report-title")).to_be_visible()
        await expect(page.locator("table").first).to_be_visible()
        sections = page.get_by_test_id("report-section")
        assert await sections.count() >= 2
        assert await sections.nth(1).evaluate("(s) => getComputedStyle(s).breakBefore") == "page"
        # Each chart fits the A4 page's width (21 cm less 2 x 1.5 cm margins = 18 cm).
        widths = await page.locator(".chart-box").evaluate_all(
            "(boxes) => boxes.map((b) => b.getBoundingClientRect().width)"
        )
        assert widths and max(widths) <= 18 / 2.54 * 96 + 1, widths
        pdf: bytes = await page.pdf(format="A4", print_background=True)
        assert problems == [], problems
    finally:
        await context.close()
    assert pdf.startswith(b"%PDF-")
    pages = len(PDF_PAGE.findall(pdf))
    assert pages >= 3, pages  # the heading and protection note, then a page per section


async def test_the_statistics_page_links_to_its_quarters_report(server: Server) -> None:
    async with signed_in(server, "kim") as kim:
        page = await kim.get("/staff/stats?period=month&date=2026-11-15&team=laholm")
        link = re.search(r'href="([^"]+)" data-testid="report-link"', page)
        assert link, text_of(page)
        assert (
            link.group(1)
            == "/staff/stats/report?period=quarter&amp;date=2026-11-30&amp;team=laholm"
        )
        await kim.get(link.group(1).replace("&amp;", "&"))
        assert kim.status == 200 and "Kvartal 4 2026" in text_of(kim.page)
