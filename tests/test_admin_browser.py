"""The admin section in a real headless Chromium (Debian's), on SQLite and PostgreSQL (#12).

Done when: an admin, in the browser alone, creates a staff account; the new person signs
in through the set-password link (in a browser of their own); the admin changes its teams,
deactivates and reactivates it; every step appears on the audit log page.
"""

from __future__ import annotations

from typing import Any

from bot.runtime import Server
from tests.browser import expect, watch

WAIT_MS = 15_000
NEW_PASSWORD = "three calm words and more"


async def sign_in_en(tab: Any, origin: str, username: str, password: str) -> None:
    await tab.goto(f"{origin}/staff/login")
    await tab.get_by_label("Username").fill(username)
    await tab.get_by_label("Password").fill(password)
    await tab.get_by_role("button", name="Sign in").click()


async def test_an_admin_runs_an_account_in_the_browser_alone(server: Server, browser: Any) -> None:
    from tests.staff_helpers import PASSWORD

    admin_context = await browser.new_context(locale="en-GB")
    page = await admin_context.new_page()
    problems = watch(page)
    await sign_in_en(page, server.origin, "root", PASSWORD)
    await page.get_by_test_id("nav-admin").click()
    await expect(page.get_by_role("heading", name="Administration")).to_be_visible()
    await page.get_by_test_id("admin-nav").get_by_role("link", name="Staff accounts").click()

    # Add an account: no password typed, a link to pass on.
    form = page.get_by_test_id("account-add")
    await form.get_by_label("Username").fill("maja")
    await form.get_by_label("Name shown to colleagues (optional)").fill("Maja")
    await form.get_by_label("Role").select_option("staff")
    await form.get_by_label("Laholm").check()
    await form.get_by_role("button", name="Add and make a link").click()
    await expect(page.get_by_test_id("issued-link")).to_be_visible(timeout=WAIT_MS)
    link = await page.get_by_test_id("issued-url").input_value()
    assert "/staff/set-password/" in link
    await expect(page.get_by_test_id("account-row").filter(has_text="maja")).to_be_visible()

    # The new person, in a browser of their own, chooses a password and signs in.
    maja_context = await browser.new_context(locale="en-GB")
    maja = await maja_context.new_page()
    maja_problems = watch(maja)
    await maja.goto(link)
    await maja.get_by_label("Your new password").fill(NEW_PASSWORD)
    await maja.get_by_label("The same password again").fill(NEW_PASSWORD)
    await maja.get_by_role("button", name="Set the password").click()
    await expect(maja.get_by_test_id("flash")).to_contain_text("Your password is set")
    await sign_in_en(maja, server.origin, "maja", NEW_PASSWORD)
    await expect(maja).to_have_url(f"{server.origin}/staff/queue", timeout=WAIT_MS)

    # The admin changes its teams, deactivates and reactivates it.
    await page.get_by_role("link", name="maja", exact=True).click()
    change = page.get_by_test_id("account-change")
    await change.get_by_label("Botkyrka").check()
    await change.get_by_role("button", name="Save role and teams").click()
    await expect(page.get_by_test_id("flash")).to_contain_text("were saved")
    await expect(page.get_by_test_id("account-teams")).to_contain_text("Botkyrka")
    await page.get_by_test_id("account-deactivate").click()
    await expect(page.get_by_test_id("account-active")).to_contain_text("No")
    await maja.reload()
    await expect(maja.get_by_role("heading", name="Sign in")).to_be_visible(timeout=WAIT_MS)
    await page.get_by_test_id("account-reactivate").click()
    await expect(page.get_by_test_id("account-active")).to_have_text("Yes")
    await sign_in_en(maja, server.origin, "maja", NEW_PASSWORD)
    await expect(maja).to_have_url(f"{server.origin}/staff/queue", timeout=WAIT_MS)

    # Every step on the audit log page.
    await page.get_by_role("link", name="Audit log").click()
    rows = page.get_by_test_id("audit-row")
    for staff, action in (
        ("root", "Added a staff account"),
        ("maja", "Account added by an administrator"),
        ("maja", "Chose a password with a set-password link"),
        ("root", "Changed someone's teams"),
        ("maja", "Teams changed"),
        ("root", "Deactivated an account"),
        ("maja", "Account deactivated"),
        ("root", "Reactivated an account"),
        ("maja", "Account reactivated"),
    ):
        await expect(rows.filter(has_text=staff).filter(has_text=action).first).to_be_visible()
    assert problems == [] and maja_problems == []
    await maja_context.close()
    await admin_context.close()
