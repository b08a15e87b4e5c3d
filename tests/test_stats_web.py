"""Coordinators' statistics over HTTP against the real product (preview mode), both databases.

Counters are seeded straight into ``stats_counter`` (what the recorder's flush
writes), so these tests check the door: permissions, "<5" everywhere a small
count would be, exports, the API, bad input, and the two openness pages.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import date

import pytest

from bot.runtime import Server
from bot.storage.engine import write_tx
from bot.storage.stats import add_counts
from tests.helpers import Relative
from tests.staff_helpers import PASSWORD, StaffClient, create_accounts, signed_in, text_of

MONTH = "period=month&date=2026-11-15"
BOTKYRKA_ONLY = 173  # a figure only Botkyrka has: must never reach Laholm's coordinator
SMALL_CELL = re.compile(r"<td[^>]*>\s*[1-4]\s*</td>")
CHART_DATA = re.compile(r'<script type="application/json" id="chart-data">(.*?)</script>', re.S)


async def seed(server: Server) -> None:
    assert server.core is not None
    d = date
    counts = {
        (d(2026, 11, 2), "laholm", "sv", "conversation_started", ""): 12,
        (d(2026, 11, 3), "laholm", "sv", "conversation_started", ""): 3,
        (d(2026, 11, 4), "laholm", "en", "conversation_started", ""): 9,
        (d(2026, 11, 2), "laholm", "sv", "language_chosen", "sv"): 20,
        (d(2026, 11, 2), "laholm", "en", "language_chosen", "en"): 2,
        (d(2026, 11, 2), "laholm", "sv", "screen_viewed", "privacy"): 40,
        (d(2026, 11, 2), "laholm", "sv", "screen_viewed", "emergency"): 2,
        (d(2026, 11, 5), "laholm", "sv", "request_created", ""): 7,
        (d(2026, 11, 6), "laholm", "sv", "case_outcome", "advice"): 6,
        (d(2026, 11, 6), "laholm", "sv", "case_outcome", "police"): 1,
        (d(2026, 11, 4), "botkyrka", "sv", "conversation_started", ""): BOTKYRKA_ONLY,
    }
    async with write_tx(server.core.engine) as conn:
        await add_counts(conn, counts)


@pytest.fixture
async def server(preview_server: Server) -> Server:
    await create_accounts(preview_server)
    assert preview_server.core is not None
    await preview_server.core.staff.create("kim", PASSWORD, "coordinator", frozenset({"laholm"}))
    await seed(preview_server)
    return preview_server


@pytest.fixture
async def kim(server: Server) -> AsyncIterator[StaffClient]:
    async with signed_in(server, "kim") as c:
        yield c


def charts_of(page: str) -> list[dict]:
    found = CHART_DATA.search(page)
    assert found, "the page carries its chart data as JSON"
    return json.loads(found.group(1))


async def test_coordinator_sees_their_team_with_small_counts_hidden(
    server: Server, kim: StaffClient
) -> None:
    page = await kim.get(f"/staff/stats?{MONTH}")
    assert kim.status == 200, text_of(page)
    shown = text_of(page)
    assert "Statistik" in shown and "<5" in shown
    assert 'id="stat-conversations_over_time"' in page
    assert not SMALL_CELL.search(page), SMALL_CELL.search(page)
    assert str(BOTKYRKA_ONLY) not in shown
    # Only their own team in the filter.
    assert '<option value="laholm"' in page and '<option value="botkyrka"' not in page
    # Every table has a chart; a hidden cell is a gap (null) in the chart, never a number.
    charts = charts_of(page)
    # (A refused table has no rows, only its note: no chart then.)
    assert charts and page.count("<canvas") == sum(1 for c in charts if c["labels"])
    hidden_seen = 0
    for chart in charts:
        for r, c, mark in chart["hidden"]:
            assert chart["datasets"][c]["data"][r] is None
            assert mark in ("<5", "dold")  # "dold": hidden only to protect a small count
            hidden_seen += 1
        for dataset in chart["datasets"]:
            assert all(v is None or v == 0 or v >= 5 for v in dataset["data"]), chart
    assert hidden_seen > 0
    # The vendored charting library is served by the app itself.
    assert "/staff/static/vendor/chartjs/chart.umd.min.js" in page
    js = await kim.get("/staff/static/vendor/chartjs/chart.umd.min.js")
    assert kim.status == 200 and "Chart.js v4" in js[:200]


async def test_admin_sees_all_teams_and_may_pick_one(server: Server) -> None:
    async with signed_in(server, "root") as root:
        page = await root.get(f"/staff/stats?{MONTH}")
        assert root.status == 200
        assert '<option value="botkyrka"' in page and '<option value="laholm"' in page
        page = await root.get(f"/staff/stats?{MONTH}&team=botkyrka")
        assert root.status == 200 and str(BOTKYRKA_ONLY) in text_of(page)


async def test_staff_and_strangers_are_kept_out(server: Server, client_anna: StaffClient) -> None:
    for path in (
        f"/staff/stats?{MONTH}",
        f"/staff/stats.csv?{MONTH}",
        f"/staff/stats.json?{MONTH}",
        "/staff/content",
    ):
        page = await client_anna.get(path)
        assert client_anna.status == 403, path
        assert 'data-testid="stats-problem"' in page
        assert str(BOTKYRKA_ONLY) not in page and "text/csv" not in page
    status, body = await client_anna.api("GET", f"/api/v1/stats?{MONTH}")
    assert status == 403 and body["error"] == "not_coordinator"
    stranger = StaffClient(server)
    try:
        await stranger.get(f"/staff/stats?{MONTH}")
        assert stranger.url.endswith("/staff/login?next=/staff/stats")
        status, body = await stranger.api("GET", f"/api/v1/stats?{MONTH}")
        assert status == 401
    finally:
        await stranger.close()


@pytest.fixture
async def client_anna(server: Server) -> AsyncIterator[StaffClient]:
    async with signed_in(server, "anna") as c:
        yield c


BAD_INPUT = [
    ("period=fortnight", 400, "unknown_period"),
    # the grid (issue #13): an old link's custom range, however written, names the grid
    ("period=custom&from=2026-11-01&to=2026-11-30", 400, "off_grid"),
    ("period=custom&from=2026-11-20&to=2026-11-01", 400, "off_grid"),
    ("period=custom", 400, "off_grid"),
    ("period=month&from=2026-11-01", 400, "off_grid"),
    ("period=month&date=yesterday", 400, "bad_date"),
    ("period=month&date=2026-02-30", 400, "bad_date"),
    ("period=month&date=0001-01-01", 400, "out_of_range"),
    (f"{MONTH}&team=botkyrka", 403, "team_forbidden"),
    (f"{MONTH}&team=atlantis", 400, "unknown_team"),
    ("period=%00%ff&team=%F0%9F%92%A9", 400, "unknown_period"),
]


@pytest.mark.parametrize(("query", "status", "reason"), BAD_INPUT)
async def test_bad_input_gets_a_clear_answer(
    server: Server, kim: StaffClient, query: str, status: int, reason: str
) -> None:
    page = await kim.get(f"/staff/stats?{query}")
    assert kim.status == status, text_of(page)
    assert 'data-testid="stats-problem"' in page
    assert 'data-testid="stats-filter"' in page, "the form is there to try again"
    assert str(BOTKYRKA_ONLY) not in page
    await kim.get(f"/staff/stats.csv?{query}")
    assert kim.status == status
    code, body = await kim.api("GET", f"/api/v1/stats?{query}")
    assert code == status and body["error"] == reason and body["message"]


async def test_an_old_custom_range_link_gets_the_grid_periods(
    server: Server, kim: StaffClient
) -> None:
    """A bookmarked custom range: a calm 400 naming the grid, with links to the week, month,
    quarter and year around its last day (its team kept), each of which answers."""
    page = await kim.get("/staff/stats?period=custom&from=2026-11-01&to=2026-11-18&team=laholm")
    assert kim.status == 400
    assert "en vecka, en månad, ett kvartal eller ett år" in text_of(page)
    for kind in ("week", "month", "quarter", "year"):
        link = f"/staff/stats?period={kind}&amp;date=2026-11-18&amp;team=laholm"
        assert f'href="{link}" data-testid="grid-{kind}"' in page
        await kim.get(link.replace("&amp;", "&"))
        assert kim.status == 200
    code, body = await kim.api("GET", "/api/v1/stats?period=custom&from=2026-11-01&to=2026-11-18")
    assert code == 400 and body["error"] == "off_grid"
    assert "week, a month, a quarter or a year" in body["message"]


async def test_exports_hold_the_same_suppressed_aggregates(
    server: Server, kim: StaffClient
) -> None:
    async with kim.http.get(f"{kim.origin}/staff/stats.csv?{MONTH}&team=laholm") as response:
        assert response.status == 200
        assert response.content_type == "text/csv"
        disposition = response.headers["Content-Disposition"]
        assert "attachment" in disposition and "statistics-laholm-2026-11-01-2026-11-30.csv" in (
            disposition
        )
        csv_text = await response.text()
    assert "<5" in csv_text and str(BOTKYRKA_ONLY) not in csv_text
    assert not re.search(r"(^|,)[1-4](,|$)", csv_text, re.M), csv_text
    async with kim.http.get(f"{kim.origin}/staff/stats.json?{MONTH}") as response:
        assert response.status == 200 and response.content_type == "application/json"
        exported = json.loads(await response.text())
    status, api = await kim.api("GET", f"/api/v1/stats?{MONTH}")
    assert status == 200 and api == exported
    assert str(BOTKYRKA_ONLY) not in json.dumps(exported)


async def test_the_api_answers_a_bearer_token_like_the_page(server: Server) -> None:
    c = StaffClient(server)
    try:
        status, signed = await c.api(
            "POST", "/api/v1/session", json={"username": "root", "password": PASSWORD}
        )
        assert status == 200
        fresh = StaffClient(server)  # no cookie: the token alone
        try:
            auth = {"Authorization": f"Bearer {signed['token']}"}
            status, body = await fresh.api(
                "GET", f"/api/v1/stats?{MONTH}&team=botkyrka", headers=auth
            )
            assert status == 200 and str(BOTKYRKA_ONLY) in json.dumps(body)
            status, body = await fresh.api("GET", "/api/v1/stats?period=nope", headers=auth)
            assert status == 400 and body["error"] == "unknown_period"
        finally:
            await fresh.close()
    finally:
        await c.close()


async def test_what_is_counted_is_public_and_sets_no_cookie(server: Server) -> None:
    c = StaffClient(server)
    try:
        async with c.http.get(f"{c.origin}/what-is-counted?lang=sv") as response:
            assert response.status == 200
            assert "Set-Cookie" not in response.headers
            assert "script-src 'self'" in response.headers["Content-Security-Policy"]
            sv = text_of(await response.text())
        assert "Vad som räknas" in sv and "<5" in sv and "Telegram" in sv
        en = text_of(await c.get("/what-is-counted?lang=en"))
        assert c.status == 200 and "What is never counted" in en and "<5" in en
        # An odd language falls back to the browser's choice, never an error.
        await c.get("/what-is-counted?lang=%00xx")
        assert c.status == 200
    finally:
        await c.close()


async def test_content_status_shows_coverage_and_review(server: Server, kim: StaffClient) -> None:
    page = await kim.get("/staff/content")
    assert kim.status == 200, text_of(page)
    assert 'data-testid="language-sv"' in page and 'data-testid="language-en"' in page
    row = re.search(r'data-testid="language-sv".*?</tr>', page, re.S)
    assert row and "Nej, inte granskad" in row.group(0)
    assert re.search(r"\d+ / \d+", row.group(0))


async def test_the_bots_privacy_screen_links_to_what_is_counted(server: Server) -> None:
    assert server.emulator is not None
    relative = Relative(server.emulator, language_code="sv")
    await relative.onboard("sv", "laholm")
    screen = await relative.says("/privacy")
    # In preview the public address is the preview's own origin.
    assert f"{server.origin}/what-is-counted?lang=sv" in json.dumps(screen)
    assert "Vad som räknas i statistiken" in screen["text"]


def test_without_a_public_address_the_privacy_screen_says_the_gist_itself() -> None:
    from bot.content.validate import check
    from tests.conftest import REPO

    renderer = check(REPO / "content", REPO / "locales").renderer
    assert renderer is not None
    text = renderer.guide("en", None, "privacy", 0, None).text
    assert "what-is-counted" not in text and "no Telegram ids" in text
    renderer.set_public_url("https://bot.example.se/")
    text = renderer.guide("en", None, "privacy", 0, None).text
    assert '<a href="https://bot.example.se/what-is-counted?lang=en">' in text
