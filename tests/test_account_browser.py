"""A staff member changes their own password in a real headless Chromium (Debian's), on SQLite
and PostgreSQL: from the menu, by label, with the keyboard's form; a mistake is said beside
the form, the change is said in the flash, this browser stays signed in, another browser of
the same account is signed out, and the new password signs in.
"""

from __future__ import annotations

from typing import Any

from bot.runtime import Server
from tests.browser import PHONE, expect, sign_in, watch

NEW_PASSWORD = "a new and longer passphrase 2026"
WAIT_MS = 15_000


async def test_a_password_change_in_the_browser(server: Server, browser: Any) -> None:
    elsewhere = await browser.new_context(viewport=PHONE, locale="sv-SE")
    other = await elsewhere.new_page()
    await sign_in(other, server.origin, "anna")
    await expect(other.get_by_test_id("queue-empty")).to_be_visible(timeout=WAIT_MS)

    context = await browser.new_context(viewport=PHONE, locale="sv-SE")
    page = await context.new_page()
    problems = watch(page)
    await sign_in(page, server.origin, "anna")
    await page.get_by_test_id("nav-password").click()
    await expect(page.get_by_role("heading", name="Byt lösenord")).to_be_visible()

    # A mistake: the two new ones differ; said beside the form, nothing changed.
    await page.get_by_label("Nuvarande lösenord").fill("correct horse battery staple")
    await page.get_by_label("Nytt lösenord", exact=True).fill(NEW_PASSWORD)
    await page.get_by_label("Nytt lösenord igen").fill(NEW_PASSWORD + "!")
    await page.get_by_test_id("change-password").click()
    await expect(page.get_by_test_id("password-error")).to_have_text(
        "De två nya lösenorden är inte likadana."
    )

    await page.get_by_label("Nuvarande lösenord").fill("correct horse battery staple")
    await page.get_by_label("Nytt lösenord", exact=True).fill(NEW_PASSWORD)
    await page.get_by_label("Nytt lösenord igen").fill(NEW_PASSWORD)
    await page.get_by_test_id("change-password").click()
    await expect(page.get_by_test_id("flash")).to_contain_text("Ditt lösenord är bytt.")
    await page.get_by_role("link", name="Kö").click()  # still signed in here
    await expect(page.get_by_test_id("queue-empty")).to_be_visible(timeout=WAIT_MS)

    await other.reload()  # the other browser's session ended with the old password
    await expect(other.get_by_label("Användarnamn")).to_be_visible()
    await sign_in(other, server.origin, "anna", NEW_PASSWORD)
    await expect(other.get_by_test_id("queue-empty")).to_be_visible(timeout=WAIT_MS)
    # The refused form's own answer (400, as intended) is the one resource the browser notes.
    unexpected = [p for p in problems if "status of 400 (Bad Request)" not in p]
    assert unexpected == [] and len(problems) == 1, problems
