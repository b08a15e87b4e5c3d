"""Debian's Chromium under Playwright, one way for every browser test.

Only the browser tests import this module: importing it imports Playwright, which is a
skip on a laptop without the test extras but a failure in CI (CI=true). The browser
itself comes from the ``chromium`` and ``browser`` fixtures in ``tests/conftest.py``.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import CI
from tests.staff_helpers import PASSWORD

# The test extras install Playwright (the Python package only); in CI it must be there.
playwright_api = (
    importlib.import_module("playwright.async_api")
    if CI
    else pytest.importorskip("playwright.async_api", reason="pip install -e '.[test]'")
)
expect = playwright_api.expect

# No sandbox (containers), no GPU, and nothing the browser would fetch on its own.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}

# -- the preview's chat page ----------------------------------------------------------------

BOT_MESSAGES = '[data-testid="message"][data-from="bot"]'
USER_MESSAGES = '[data-testid="message"][data-from="user"]'
# Marks the newest bot message as seen, so a wait can tell a new (or re-rendered) one.
MARK_LAST_BOT_JS = """() => {
  const all = document.querySelectorAll('[data-testid="message"][data-from="bot"]');
  if (all.length) all[all.length - 1].dataset.seenByTest = "1";
}"""
# True once the newest bot message is unseen and carries exactly these callback codes.
SCREEN_SHOWN_JS = """(expected) => {
  const all = document.querySelectorAll('[data-testid="message"][data-from="bot"]');
  const m = all[all.length - 1];
  if (!m || m.dataset.seenByTest === "1") return false;
  const codes = [...m.querySelectorAll('[data-testid="inline-button"]')]
    .map((b) => b.dataset.callbackData ?? null);
  return JSON.stringify(codes) === JSON.stringify(expected)
    && [...m.querySelectorAll('[data-testid="inline-button"]')].every((b) => !b.disabled);
}"""


async def wait_until(tab: Any, predicate: str, arg: Any = None, timeout: float = 15_000) -> None:
    """Wait, frame by frame, until the page-side ``predicate(arg)`` holds.

    Playwright's ``wait_for_function`` compiles its predicate with ``eval`` in the page; under
    the pages' CSP (no 'unsafe-eval') Chromium allows that only in the synchronous part of
    a DevTools evaluation, and Playwright's escape hatch races with its other evaluations
    (microsoft/playwright#36982), so on a loaded machine the wait failed with an EvalError
    instead of waiting. Here the predicate is written into one evaluated function, compiled
    once with it, and then only called: on every animation frame until true, or until
    ``timeout`` ms have passed (then it raises).
    """
    waiter = (
        "async ([arg, timeout]) => { const predicate = " + predicate + ";\n"
        "  const deadline = performance.now() + timeout;\n"
        "  while (!predicate(arg)) {\n"
        "    if (performance.now() > deadline) throw new Error('wait_until: timed out');\n"
        "    await new Promise((done) => requestAnimationFrame(() => done(null)));\n"
        "  }\n"
        "}"
    )
    await tab.evaluate(waiter, [arg, timeout])


@contextlib.asynccontextmanager
async def launched(chromium: str) -> AsyncIterator[Any]:
    """Chromium, headless, closed on the way out whatever the test did."""
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


def watch(tab: Any) -> list[str]:
    """The page's script errors and console errors, collected for a final ``== []``."""
    problems: list[str] = []
    tab.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    tab.on(
        "console",
        lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None,
    )
    return problems


async def sign_in(tab: Any, origin: str, username: str, password: str = PASSWORD) -> None:
    """Sign in on the Swedish staff sign-in page, as a person would: labels and the button."""
    await tab.goto(f"{origin}/staff/")
    await tab.get_by_label("Användarnamn").fill(username)
    await tab.get_by_label("Lösenord").fill(password)
    await tab.get_by_role("button", name="Logga in").click()
