"""Sessions that respect the person (#12 item 2), in Debian's Chromium, on both databases.

A warning two minutes before the idle limit, with "Stay signed in" (the server's clock
moves, a live poll does not move it); a reply or note being typed survives an ended
session in the tab (sessionStorage), comes back after signing in again and is sent
only by a new click; signing out forgets it. No sleeps: the browser's time is
Playwright's clock (``clock.install`` / ``fast_forward``), the server's the staff
service's injected clock (``with_clock``). One server and one browser for the module.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from bot.domain import StaffUser
from bot.emulator.spec import BotApiSpec
from bot.runtime import Server
from bot.services.staff_sessions import ABSOLUTE_SECONDS, IDLE_SECONDS
from tests.browser import expect, launched, watch
from tests.conftest import running_preview
from tests.staff_helpers import PASSWORD, StaffClient, create_accounts, new_request
from tests.test_staff_sessions import Clock, with_clock

pytestmark = pytest.mark.asyncio(loop_scope="module")
WAIT_MS = 15_000
WARN_SECONDS = 120  # session.js warns this long before the end
REPLY = "Hej! Tack för att du skriver. Vi finns här, och vi hör av oss i morgon."
NOTE = "Ringde upp, ingen svarade. Försök igen efter lunch."
ENDED_FLASH = "Din session har gått ut. Logga in igen."
RESTORED = "Din osända text har lagts tillbaka. Den har inte skickats än."
READER = StaffUser(id=0, username="reader", role="admin", teams=frozenset({"laholm"}))
LEFT_JS = "() => fetch('/staff/session/left').then((r) => r.json())"
DRAFTS_JS = "() => Object.keys(sessionStorage).filter((k) => k.startsWith('staff-draft:'))"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def live(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory, spec: BotApiSpec
) -> AsyncIterator[Server]:
    tmp = tmp_path_factory.mktemp("session-timeout")
    async with running_preview(module_database_url, tmp, spec) as server:
        await create_accounts(server)
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def clock(live: Server) -> Clock:
    """The staff service's clock (the sessions' idle clock); tests only move it forward."""
    return with_clock(live)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chrome(chromium: str) -> AsyncIterator[Any]:
    async with launched(chromium) as browser:
        yield browser


@pytest_asyncio.fixture(loop_scope="module")
async def tab(chrome: Any) -> AsyncIterator[Any]:
    """A fresh Swedish context (its own cookies and sessionStorage) on Playwright's clock."""
    context = await chrome.new_context(locale="sv-SE")
    context.set_default_timeout(WAIT_MS)
    page = await context.new_page()
    await page.clock.install()
    page.problems = watch(page)
    try:
        yield page
    finally:
        await context.close()


async def sign_in_here(tab: Any, username: str) -> None:
    """Sign in on the sign-in page the tab is on, as a person would."""
    await tab.get_by_label("Användarnamn").fill(username)
    await tab.get_by_label("Lösenord").fill(PASSWORD)
    await tab.get_by_role("button", name="Logga in").click()


async def open_claimed_case(live: Server, tab: Any, username: str) -> str:
    """Sign in, open a new request of Laholm's and claim it; the case code."""
    code = (await new_request(live)).code
    await tab.goto(f"{live.origin}/staff/login?next=/staff/cases/{code}")
    await sign_in_here(tab, username)
    await expect(tab).to_have_url(f"{live.origin}/staff/cases/{code}")
    await tab.get_by_test_id("claim").click()
    await expect(tab.get_by_test_id("flash")).to_have_text("Du har tagit förfrågan.")
    return code


async def staff_messages(live: Server, code: str) -> list[str | None]:
    assert live.core is not None
    detail = await live.core.cases.detail(READER, code)
    return [m.body for m in detail.messages if m.author == "staff"]


async def notes(live: Server, code: str) -> list[str | None]:
    assert live.core is not None
    return [n.body for n in (await live.core.cases.detail(READER, code)).notes]


async def test_a_warning_comes_before_the_end_and_stay_signed_in_extends(
    live: Server, clock: Clock, tab: Any
) -> None:
    code = await open_claimed_case(live, tab, "anna")
    dialog = tab.get_by_role("alertdialog")
    reply = tab.get_by_label("Ditt svar")
    await reply.fill(REPLY)
    await reply.focus()
    await expect(dialog).to_be_hidden()

    # 1 h 58 min 30 s without a real request, on the server and in the browser.
    clock.advance(IDLE_SECONDS - 90)
    await tab.clock.fast_forward((IDLE_SECONDS - 90) * 1000)
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("Är du kvar?")
    await expect(dialog).to_have_accessible_name("Är du kvar?")
    stay = tab.get_by_role("button", name="Fortsätt vara inloggad")
    await expect(stay).to_be_focused()

    # Asking, and the case page's live poll, keep no session alive.
    await tab.evaluate(f"() => fetch('/staff/cases/{code}/live')")
    assert (await tab.evaluate(LEFT_JS))["seconds_left"] <= 90

    await stay.click()
    await expect(dialog).to_be_hidden()
    await expect(reply).to_be_focused()
    answer = await tab.evaluate(LEFT_JS)
    assert answer["signed_in"] and answer["seconds_left"] > IDLE_SECONDS - 60, answer
    await expect(reply).to_have_value(REPLY)
    assert tab.problems == []


async def test_tabs_agree_a_real_request_in_another_tab_means_no_warning(
    live: Server, clock: Clock, tab: Any
) -> None:
    await open_claimed_case(live, tab, "bo")
    other = await tab.context.new_page()
    await other.goto(f"{live.origin}/staff/queue")
    dialog = tab.locator("#session-dialog")
    await expect(dialog).to_have_attribute("data-seconds-left", str(IDLE_SECONDS))

    clock.advance(IDLE_SECONDS - 90)
    await other.reload()  # a real request in the other tab moves the server's idle clock
    clock.advance(30)
    await tab.clock.fast_forward((IDLE_SECONDS - 90) * 1000)
    # The tab asked before warning, heard of the other tab's request, and warns later.
    await expect(dialog).to_have_attribute("data-seconds-left", str(IDLE_SECONDS - 30))
    await expect(dialog).to_be_hidden()
    assert tab.problems == []


async def test_near_the_absolute_limit_the_warning_offers_no_stay(
    live: Server, clock: Clock, tab: Any
) -> None:
    await open_claimed_case(live, tab, "bo")
    for _ in range(6):  # busy all day: a real request every 1 h 54 min
        clock.advance(IDLE_SECONDS - 360)
        await tab.reload()
    clock.advance(ABSOLUTE_SECONDS - 6 * (IDLE_SECONDS - 360) - 60)
    await tab.reload()  # a minute before the 12 hours: the page asks and warns at once
    dialog = tab.get_by_role("alertdialog")
    await expect(dialog).to_have_accessible_name("Du loggas snart ut")
    await expect(tab.get_by_role("button", name="Fortsätt vara inloggad")).to_have_count(0)
    await tab.get_by_role("button", name="Stäng").click()
    await expect(dialog).to_be_hidden()
    assert tab.problems == []


async def test_a_reply_typed_when_the_session_ends_comes_back_and_waits_for_send(
    live: Server, clock: Clock, tab: Any
) -> None:
    code = await open_claimed_case(live, tab, "anna")
    await tab.get_by_label("Ditt svar").fill(REPLY)

    # The session ends (2 h 1 min without a real request); the page says so when it asks.
    clock.advance(IDLE_SECONDS + 60)
    await tab.clock.fast_forward((IDLE_SECONDS - WARN_SECONDS + 1) * 1000)
    dialog = tab.get_by_role("alertdialog")
    await expect(dialog).to_have_accessible_name("Du har loggats ut")
    await tab.get_by_role("link", name="Logga in igen").click()

    await sign_in_here(tab, "anna")
    await expect(tab).to_have_url(f"{live.origin}/staff/cases/{code}")
    reply = tab.get_by_label("Ditt svar")
    await expect(reply).to_have_value(REPLY)
    await expect(tab.get_by_test_id("draft-restored")).to_have_text(RESTORED)
    assert await staff_messages(live, code) == [], "restored, never sent by itself"

    await tab.get_by_test_id("send-reply").click()
    await expect(tab.get_by_test_id("flash")).to_have_text("Ditt svar skickades.")
    assert await staff_messages(live, code) == [REPLY]
    await expect(tab.get_by_label("Ditt svar")).to_have_value("")
    assert await tab.evaluate(DRAFTS_JS) == [], "sent: forgotten"
    await tab.reload()
    await expect(tab.get_by_label("Ditt svar")).to_have_value("")
    await expect(tab.get_by_test_id("draft-restored")).to_have_count(0)
    assert tab.problems == []


async def test_a_note_saved_after_the_session_ended_goes_through_sign_in_unsaved(
    live: Server, clock: Clock, tab: Any
) -> None:
    code = await open_claimed_case(live, tab, "bo")
    await tab.get_by_label("Ny anteckning").fill(NOTE)
    clock.advance(IDLE_SECONDS + 60)  # the page has not noticed yet: the person clicks Save
    await tab.get_by_test_id("add-note").click()

    await expect(tab).to_have_url(re.compile(r"/staff/login\?next="))
    await expect(tab.get_by_test_id("flash")).to_have_text(ENDED_FLASH)
    assert await notes(live, code) == []
    await sign_in_here(tab, "bo")
    await expect(tab).to_have_url(f"{live.origin}/staff/cases/{code}")
    await expect(tab.get_by_label("Ny anteckning")).to_have_value(NOTE)
    await expect(tab.get_by_test_id("draft-restored")).to_have_text(RESTORED)
    assert await notes(live, code) == [], "restored, never saved by itself"
    await tab.get_by_test_id("add-note").click()
    await expect(tab.get_by_test_id("flash")).to_have_text("Anteckningen sparades.")
    assert await notes(live, code) == [NOTE]
    assert tab.problems == []


async def test_signing_out_forgets_the_typed_text(live: Server, tab: Any) -> None:
    code = await open_claimed_case(live, tab, "anna")
    await tab.get_by_label("Ditt svar").fill(REPLY)
    assert len(await tab.evaluate(DRAFTS_JS)) == 1
    await tab.get_by_test_id("sign-out").click()
    await expect(tab.get_by_test_id("flash")).to_have_text("Du har loggat ut.")
    assert await tab.evaluate(DRAFTS_JS) == []
    await tab.goto(f"{live.origin}/staff/login?next=/staff/cases/{code}")
    await sign_in_here(tab, "anna")
    await expect(tab).to_have_url(f"{live.origin}/staff/cases/{code}")
    await expect(tab.get_by_label("Ditt svar")).to_have_value("")
    await expect(tab.get_by_test_id("draft-restored")).to_have_count(0)
    assert tab.problems == []


# -- the two endpoints over HTTP -------------------------------------------------------------


async def test_the_endpoints_answer_json_and_need_the_csrf_token(
    live: Server, clock: Clock
) -> None:
    client = StaffClient(live)
    try:
        async with client.http.get(f"{live.origin}/staff/session/left") as resp:
            assert resp.status == 200 and await resp.json() == {"signed_in": False}
            assert resp.headers["Cache-Control"] == "no-store"
        await client.sign_in("cecilia")
        csrf = client.csrf
        clock.advance(600)
        for _ in range(2):  # asking twice: the second answer is ten minutes less, too
            async with client.http.get(f"{live.origin}/staff/session/left") as resp:
                body = await resp.json()
            assert body == {
                "signed_in": True,
                "seconds_left": IDLE_SECONDS - 600,
                "absolute": False,
            }
        async with client.http.post(f"{live.origin}/staff/session/stay", data={}) as resp:
            assert resp.status == 403, "no CSRF token, no stay"
        form = {"csrf": csrf}
        async with client.http.post(f"{live.origin}/staff/session/stay", data=form) as resp:
            assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
            assert (await resp.json())["seconds_left"] == IDLE_SECONDS
    finally:
        await client.close()
