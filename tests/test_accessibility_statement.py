"""The accessibility statement at /accessibility: public, Swedish and English, Digg's parts.

One server with the municipality's ACCESSIBILITY_* settings and one without, for the
module (the page reads no database: SQLite is enough).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from bot.emulator.spec import BotApiSpec
from bot.runtime import Server
from bot.web.staff.accessibility import CHECKED_STATES, CHECKS, DIGG_REPORT_URL, MADE_ON
from tests.conftest import running_preview
from tests.staff_helpers import create_accounts, signed_in, text_of

pytestmark = pytest.mark.asyncio(loop_scope="module")
CONTACT = "tillganglighet@kommun.example"
ORGANISATION = "Exempelby kommun"
SECTIONS = ("service", "status", "gaps", "method", "report", "supervision")


def _sqlite(tmp: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp / 'test.db'}"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def configured(
    tmp_path_factory: pytest.TempPathFactory, spec: BotApiSpec
) -> AsyncIterator[Server]:
    tmp = tmp_path_factory.mktemp("a11y-set")
    env = {"ACCESSIBILITY_CONTACT": CONTACT, "ACCESSIBILITY_ORGANISATION": ORGANISATION}
    async with running_preview(_sqlite(tmp), tmp, spec, **env) as server:
        await create_accounts(server)
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def unconfigured(
    tmp_path_factory: pytest.TempPathFactory, spec: BotApiSpec
) -> AsyncIterator[Server]:
    tmp = tmp_path_factory.mktemp("a11y-unset")
    async with running_preview(_sqlite(tmp), tmp, spec) as server:
        yield server


async def fetch(
    server: Server, query: str = "", accept: str = ""
) -> tuple[int, dict[str, str], str]:
    headers = {"Accept-Language": accept} if accept else {}
    url = f"{server.origin}/accessibility{query}"
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as resp:
        return resp.status, dict(resp.headers), await resp.text()


@pytest.mark.parametrize(
    ("query", "accept", "lang", "title", "status"),
    [
        ("?lang=sv", "", "sv", "Tillgänglighetsredogörelse", "delvis förenliga"),
        ("?lang=en", "sv-SE", "en", "Accessibility statement", "partially compliant"),
        ("", "en-GB,en;q=0.9", "en", "Accessibility statement", "partially compliant"),
        ("", "", "sv", "Tillgänglighetsredogörelse", "delvis förenliga"),
        ("?lang=ar", "de", "sv", "Tillgänglighetsredogörelse", "delvis förenliga"),
    ],
)
async def test_the_statement_is_public_in_swedish_and_english(
    configured: Server, query: str, accept: str, lang: str, title: str, status: str
) -> None:
    code, headers, page = await fetch(configured, query, accept)
    assert code == 200
    assert f'<html lang="{lang}">' in page
    assert f"<h1 data-testid=\"statement-title\">{title}</h1>" in page
    for section in SECTIONS:
        assert f'data-testid="section-{section}"' in page, section
    text = text_of(page)
    assert status in text
    assert "WCAG 2.1" in text and "EN 301 549" in text
    assert MADE_ON.isoformat() in text, "the date the statement was made"
    assert f" {CHECKED_STATES} " in text and f" {CHECKS} " in text, "what the tests measure"
    assert f'href="{DIGG_REPORT_URL}"' in page, "Digg's reporting form"
    assert "Set-Cookie" not in headers, "a public page: no session"
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    other = "en" if lang == "sv" else "sv"
    assert f'href="/accessibility?lang={other}"' in page


async def test_the_configured_organisation_and_contact_are_shown(configured: Server) -> None:
    _, _, page = await fetch(configured, "?lang=sv")
    assert f'<a href="mailto:{CONTACT}" data-testid="contact">{CONTACT}</a>' in page
    assert f"{ORGANISATION} står bakom den här tjänsten." in text_of(page)
    assert 'data-testid="no-contact"' not in page


async def test_no_contact_is_invented_when_none_is_configured(unconfigured: Server) -> None:
    for lang, words in (
        ("sv", "publicerar sin kontaktväg för frågor om tillgänglighet på sin egen webbplats"),
        ("en", "publishes its contact for questions about accessibility on its own website"),
    ):
        code, _, page = await fetch(unconfigured, f"?lang={lang}")
        assert code == 200
        assert words in text_of(page)
        assert 'data-testid="contact"' not in page and "mailto:" not in page
        # The only addresses on the page are its own and Digg's form: none made up.
        assert [a for a in _links(page) if a.startswith(("http", "mailto"))] == [DIGG_REPORT_URL]


async def test_staff_pages_and_the_sign_in_page_link_to_it(configured: Server) -> None:
    url = f"{configured.origin}/staff/login"
    async with aiohttp.ClientSession(headers={"Accept-Language": "sv"}) as http, http.get(url) as r:
        login = await r.text()
    assert 'href="/accessibility?lang=sv" data-testid="accessibility-link"' in login
    async with signed_in(configured, "anna", lang="en") as client:
        queue = await client.get("/staff/queue")
    assert 'href="/accessibility?lang=en" data-testid="accessibility-link"' in queue
    assert "Accessibility statement" in text_of(queue)


def _links(page: str) -> list[str]:
    return re.findall(r'href="([^"]+)"', page)
