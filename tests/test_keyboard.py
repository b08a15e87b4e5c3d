"""Keyboard only, in Debian's Chromium: sign in, find the oldest urgent request, claim it,
reply and close it, with Tab, Shift+Tab, Enter, Space and the arrow keys (and typing).

After every key that moves focus the test asserts that focus is on an element (never
``<body>``) and that the element shows it (the ``:focus-visible`` outline). While someone is
on a queue row, the queue's live refresh brings a new request: the polite live region
announces it and focus stays on the very same element; when the focused row's request
leaves the queue, focus goes to the queue's heading, not to ``<body>``.
"""

from __future__ import annotations

from typing import Any

from bot.domain import StaffUser
from bot.runtime import Server
from tests.browser import expect, watch
from tests.staff_helpers import new_request

WAIT_MS = 15_000
DESKTOP = {"width": 1280, "height": 900}

# What has focus, and whether it shows it (the staff pages' :focus-visible outline).
FOCUS_JS = """() => {
  const el = document.activeElement;
  const style = el ? getComputedStyle(el) : null;
  return {
    body: !el || el === document.body || el === document.documentElement,
    tag: el ? el.localName : null,
    id: el ? el.id : null,
    testid: el ? el.dataset.testid || null : null,
    text: el ? (el.innerText || el.value || "").trim().slice(0, 60) : null,
    focusVisible: el ? el.matches(":focus-visible") : false,
    outline: style ? parseFloat(style.outlineWidth) * (style.outlineStyle === "none" ? 0 : 1) : 0,
  };
}"""


async def focused(tab: Any) -> dict[str, Any]:
    """What has focus now; fails if it is <body> or does not show a focus outline."""
    now: dict[str, Any] = await tab.evaluate(FOCUS_JS)
    assert not now["body"], f"focus landed on <body> ({tab.url})"
    assert now["focusVisible"] and now["outline"] >= 2, f"focus is not visible on {now}"
    return now


async def press(tab: Any, key: str) -> dict[str, Any]:
    await tab.keyboard.press(key)
    return await focused(tab)


async def arrive(tab: Any, url: str) -> None:
    """On ``url`` and loaded: keys pressed earlier would go to the page being left."""
    await expect(tab).to_have_url(url)
    await tab.wait_for_load_state("load")


async def tab_to(tab: Any, selector: str, *, back: bool = False, limit: int = 60) -> None:
    """Tab (or Shift+Tab) until the element matching ``selector`` has focus."""
    seen = []
    for _ in range(limit):
        now = await press(tab, "Shift+Tab" if back else "Tab")
        seen.append(now["testid"] or now["id"] or now["text"] or now["tag"])
        if await tab.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} never got focus; focus went through {seen}")


async def test_a_request_handled_from_sign_in_to_close_with_the_keyboard_alone(
    server: Server, browser: Any
) -> None:
    assert server.core is not None
    later = await new_request(server, urgency="soon")
    oldest_urgent = await new_request(server, urgency="urgent", text="Min son pratar om våld.")
    newer_urgent = await new_request(server, urgency="urgent")
    context = await browser.new_context(viewport=DESKTOP, locale="sv-SE")
    context.set_default_timeout(WAIT_MS)
    tab = await context.new_page()
    problems = watch(tab)
    clicks: list[str] = []
    await tab.expose_function("noteClick", lambda kind: clicks.append(kind))
    await context.add_init_script(
        "document.addEventListener('mousedown', () => window.noteClick('mouse'), true)"
    )

    # Sign in: the username field has focus on arrival.
    await tab.goto(f"{server.origin}/staff/login")
    assert (await focused(tab))["id"] == "username"
    await tab.keyboard.type("anna")
    await press(tab, "Tab")
    await tab.keyboard.type("correct horse battery staple")
    await tab_to(tab, "button[type=submit].primary")
    await tab.keyboard.press("Enter")
    await arrive(tab, f"{server.origin}/staff/queue")

    # The skip link is the first stop and takes focus to the content.
    assert (await press(tab, "Tab"))["text"] == "Hoppa till innehållet"
    await tab.keyboard.press("Enter")
    assert (await focused(tab))["id"] == "main"

    # The first row reached is the oldest urgent request (urgent first, longest waiting).
    await tab_to(tab, "[data-testid=queue-row] a")
    row_link = await tab.evaluate_handle("document.activeElement")
    assert await row_link.inner_text() == oldest_urgent.code
    codes = await tab.get_by_test_id("queue-row").evaluate_all(
        "(rows) => rows.map((r) => r.dataset.code)"
    )
    assert codes[:3] == [oldest_urgent.code, newer_urgent.code, later.code]

    # A new request arrives while focus is on the row: announced politely, focus stays put.
    arrived = await new_request(server, urgency="urgent", text="Vi är oroliga för vår kusin.")
    await expect(tab.get_by_test_id("live-status")).to_contain_text(
        "En ny förfrågan i kön.", timeout=WAIT_MS
    )
    await expect(
        tab.locator(f'[data-testid=queue-row][data-code="{arrived.code}"]')
    ).to_be_visible()
    assert await tab.evaluate("(el) => el === document.activeElement", row_link)
    await focused(tab)
    # Shift+Tab and Tab again: the focus order still runs through the same link.
    await press(tab, "Shift+Tab")
    await press(tab, "Tab")
    assert await tab.evaluate("(el) => el === document.activeElement", row_link)

    # Open it, claim it with Space.
    await tab.keyboard.press("Enter")
    await arrive(tab, f"{server.origin}/staff/cases/{oldest_urgent.code}")
    await tab_to(tab, "[data-testid=claim]")
    await tab.keyboard.press("Space")
    await expect(tab.get_by_test_id("flash")).to_have_text("Du har tagit förfrågan.")

    # Write and send a reply, signed with Space on the checkbox.
    await tab_to(tab, "#reply-text")
    await tab.keyboard.type("Hej! Tack för att du skriver. Vi finns här.")
    await tab_to(tab, "#sign")
    await tab.keyboard.press("Space")
    assert await tab.locator("#sign").is_checked()
    await tab_to(tab, "[data-testid=send-reply]")
    await tab.keyboard.press("Enter")
    await expect(tab.get_by_test_id("flash")).to_have_text("Ditt svar skickades.")
    await expect(tab.get_by_test_id("case-message").last).to_contain_text("Vi finns här.")

    # Choose an outcome with the arrow keys, close with Enter.
    await tab_to(tab, "#outcome")
    for _ in range(10):
        if await tab.locator("#outcome").input_value() == "advice":
            break
        await press(tab, "ArrowDown")
    assert await tab.locator("#outcome").input_value() == "advice"
    await tab_to(tab, "[data-testid=close]")
    await tab.keyboard.press("Enter")
    await expect(tab.get_by_test_id("flash")).to_have_text("Förfrågan avslutades.")
    await expect(tab.get_by_test_id("case-status")).to_contain_text("Råd givna")

    assert clicks == [], "the mouse was used"
    assert problems == [], problems
    await context.close()


async def test_focus_on_a_row_that_leaves_the_queue_goes_to_its_heading(
    server: Server, browser: Any
) -> None:
    assert server.core is not None
    leaving = await new_request(server, urgency="urgent")
    await new_request(server, urgency="soon")
    context = await browser.new_context(viewport=DESKTOP, locale="sv-SE")
    context.set_default_timeout(WAIT_MS)
    tab = await context.new_page()
    problems = watch(tab)
    await tab.goto(f"{server.origin}/staff/login")
    await tab.keyboard.type("bo")
    await press(tab, "Tab")
    await tab.keyboard.type("correct horse battery staple")
    await tab.keyboard.press("Enter")
    await arrive(tab, f"{server.origin}/staff/queue")
    await tab_to(tab, f'[data-code="{leaving.code}"] a')

    # Someone else takes it and closes it: the row goes, focus goes to the heading.
    anna = next(a for a in await server.core.staff.list() if a.username == "anna")
    user = StaffUser(anna.id, "anna", "staff", frozenset({"laholm"}))
    assert (await server.core.cases.claim(user, leaving.code)).won
    await server.core.cases.close(user, leaving.code, "advice")
    await expect(tab.locator(f'[data-code="{leaving.code}"]')).to_have_count(0, timeout=WAIT_MS)
    now = await focused(tab)
    assert now["id"] == "queue-heading", now
    assert problems == [], problems
    await context.close()
