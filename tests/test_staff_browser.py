"""Staff and relative together, in a real headless Chromium (Debian's), on SQLite and PostgreSQL.

The relative uses the real bot flow through the spec-checking emulator; a staff
member uses the staff pages in the browser on a phone-sized screen: signs in,
sees the new request appear WITHOUT reloading, claims it, replies; the relative
receives the reply in the chat and answers; the answer appears on the case page,
again without a reload; staff close the request with an outcome.
"""

from __future__ import annotations

import re
from typing import Any

from bot.domain import CODE_ALPHABET
from bot.runtime import Server
from tests.browser import PHONE, expect, sign_in, watch
from tests.helpers import Relative

WAIT_MS = 15_000
CODE_RE = re.compile(rf"[{CODE_ALPHABET}]{{3}}-[{CODE_ALPHABET}]{{3}}")


async def relative_sends_a_request(relative: Relative) -> str:
    """The real bot flow: talk to someone, answer with buttons, write, confirm; the case code."""
    await relative.answers_the_request_questions("young_adult", "online")
    await relative.says("Min bror har fått nya vänner på nätet och pratar om våld.")
    done = await relative.taps("k:ok")
    found = CODE_RE.search(done["text"])
    assert found, done["text"]
    return found.group()


async def test_staff_and_relative_through_the_browser(server: Server, browser: Any) -> None:
    assert server.emulator is not None
    context = await browser.new_context(viewport=PHONE, locale="sv-SE")
    page = await context.new_page()
    problems = watch(page)
    await sign_in(page, server.origin, "anna")
    await expect(page.get_by_test_id("queue-empty")).to_be_visible(timeout=WAIT_MS)
    loads: list[Any] = []
    page.on("load", lambda _: loads.append(1))

    # A relative asks for contact through the bot; the row appears without a reload.
    relative = Relative(server.emulator, language_code="sv")
    code = await relative_sends_a_request(relative)
    row = page.locator(f'[data-testid="queue-row"][data-code="{code}"]')
    await expect(row).to_be_visible(timeout=WAIT_MS)
    await expect(page.get_by_test_id("waiting-count")).to_contain_text("1 förfrågan väntar")
    assert loads == [], "the queue must update without a page reload"

    # Claim and reply, with the keyboard where it matters.
    await row.get_by_role("link", name=code).click()
    await page.get_by_test_id("claim").click()
    await expect(page.get_by_test_id("flash")).to_have_text("Du har tagit förfrågan.")
    await page.get_by_label("Ditt svar").fill("Hej! Tack för att du skriver. Vi finns här.")
    await page.get_by_label("Underteckna med mitt förnamn (Anna)").check()
    await page.get_by_test_id("send-reply").click()
    await expect(page.get_by_test_id("flash")).to_have_text("Ditt svar skickades.")
    await expect(page.get_by_test_id("case-message").last).to_contain_text("Levererat")

    # The relative receives it from the team, signed, and answers in the chat.
    await server.emulator.wait_idle(relative.chat_id)
    arrived = relative.last()
    assert "Vi finns här." in arrived["text"] and "Anna" in arrived["text"]
    case_loads = len(loads)
    await relative.says("Tack, det känns bättre redan.")
    answer = page.get_by_test_id("case-message").filter(has_text="det känns bättre")
    await expect(answer).to_be_visible(timeout=WAIT_MS)
    assert len(loads) == case_loads, "the answer must appear without a reload"
    assert await answer.get_attribute("data-author") == "relative"

    # Close with an outcome.
    await page.get_by_label("Utfall").select_option("advice")
    await page.get_by_test_id("close").click()
    await expect(page.get_by_test_id("flash")).to_have_text("Förfrågan avslutades.")
    await expect(page.get_by_test_id("case-status")).to_contain_text("Råd givna")

    # Nothing about who the relative is reached the page.
    content = await page.content()
    assert str(relative.chat_id) not in content
    assert problems == [], problems
