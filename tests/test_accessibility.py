"""WCAG 2.1 AA, checked by axe-core in Debian's Chromium on every page of tests/a11y_pages.py.

Every page is opened as each role that can see it, in Swedish and English, at phone and
desktop width, and axe-core (vendored: tests/vendor/axe-core/) runs with the tags wcag2a,
wcag2aa, wcag21a and wcag21aa. The bar is 0 violations; a failure lists each rule, the
elements it found and the page. A page answering another status than its entry says
fails too.

One server (SQLite: the data layer does not change the markup) and one Chromium for the
module; one browser context per role and width. Pages keep their real Content Security
Policy: axe is added as an init script, not through the page.

``A11Y_REPORT=/path/file.jsonl`` writes one line per page checked (role, width, language,
status, the rules violated): the figures for the accessibility statement.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyotp
import pytest
import pytest_asyncio

from bot.domain import StaffUser
from bot.emulator.spec import BotApiSpec
from bot.runtime import Server
from bot.services.staff_admin import AdminService
from bot.services.totp import TotpService
from tests.a11y_pages import PAGES, ROLES, Page
from tests.browser import PHONE, launched
from tests.conftest import TEST_SECRET, free_port, running_preview
from tests.helpers import Relative
from tests.oidc_provider import running_provider
from tests.staff_helpers import ACCOUNTS, PASSWORD, new_request
from tests.test_stats_web import seed

pytestmark = pytest.mark.asyncio(loop_scope="module")

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
# WCAG 2.1 A and AA; A11Y_TAGS=...,best-practice shows axe's other advice too (a person's
# review, not the bar).
TAGS = os.environ.get("A11Y_TAGS", "wcag2a,wcag2aa,wcag21a,wcag21aa").split(",")
WIDTHS: dict[str, dict[str, int]] = {"phone": PHONE, "desktop": {"width": 1280, "height": 900}}
LANGS = {"sv": "sv-SE,sv;q=0.9", "en": "en-GB,en;q=0.9"}
WAIT_MS = 15_000
# The account each role signs in with (tests/staff_helpers.py ACCOUNTS, plus kim).
ACCOUNT = {"staff": "anna", "coordinator": "kim", "admin": "root"}
ROLE_TEAMS = {"staff": ("laholm",), "coordinator": ("laholm", "botkyrka"), "admin": ()}

RUN_AXE_JS = """async (tags) => {
  const result = await axe.run(document, {
    runOnly: { type: "tag", values: tags },
    resultTypes: ["violations"],  // passes and incomplete: the first element only
  });
  return {
    violations: result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target.join(" "), summary: n.failureSummary })),
    })),
    passes: result.passes.length,
    incomplete: result.incomplete.map((v) => {
      const node = v.nodes[0];
      return node ? `${v.id} at ${node.target.join(" ")}: ${node.failureSummary}` : v.id;
    }),
  };
}"""
# How far the page is wider than the window, and the widest elements that make it so.
OVERFLOW_JS = """() => {
  const width = document.documentElement.clientWidth;
  const over = document.documentElement.scrollWidth - width;
  if (over <= 0) return null;
  const culprits = [...document.querySelectorAll("body *")]
    .filter((e) => e.getBoundingClientRect().right > width + 1)
    .filter((e) => e.parentElement.getBoundingClientRect().right <= width + 1)
    .slice(0, 5)
    .map((e) => e.localName + (e.id ? "#" + e.id : "") + (e.className ? "." + e.className : ""));
  // Text that does not wrap (a long word or address) sticks out of a box that fits.
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  for (let node = walker.nextNode(); node && culprits.length < 5; node = walker.nextNode()) {
    range.selectNodeContents(node);
    if (range.getBoundingClientRect().right > width + 1) {
      const text = node.nodeValue.trim().slice(0, 60);
      culprits.push(`text in ${node.parentElement.localName}: ${text}`);
    }
  }
  return { over, culprits };
}"""


@dataclass
class Seeded:
    """The server, the browser and what the set-up made (placeholders, second factors)."""

    server: Server
    browser: Any
    values: dict[str, str]
    totp: TotpService
    recovery: dict[str, list[str]] = field(default_factory=dict)  # username: unused codes
    contexts: dict[tuple[str, str], Any] = field(default_factory=dict)  # (who, width)
    users: dict[str, StaffUser] = field(default_factory=dict)

    async def context(self, width: str, lang: str, state: Any = None) -> Any:
        """A new context at this width and language; the caller closes it.

        No ``locale``: Chromium's locale emulation would override the Accept-Language
        header that ``check`` sets per language."""
        context = await self.browser.new_context(
            viewport=WIDTHS[width],
            extra_http_headers={"Accept-Language": LANGS[lang]},
            reduced_motion="reduce",
            storage_state=state,
        )
        context.set_default_timeout(WAIT_MS)
        await context.add_init_script(path=str(AXE))
        return context

    async def tab_of(self, who: str, width: str, lang: str = "sv") -> Any:
        """The tab of ``who`` (a role, or an account name) at this width, signed in once,
        asking for pages in ``lang``."""
        key = (who, width)
        if key not in self.contexts:
            # Signed in at the other width already: the same session (cookies), no new sign-in.
            other = next((c for (w, _), c in self.contexts.items() if w == who), None)
            state = await other.storage_state() if other is not None else None
            context = await self.context(width, "sv", state)
            tab = await context.new_page()
            self.contexts[key] = context
            if who != "public" and state is None:
                await sign_in(self, tab, ACCOUNT.get(who, who))
        context = self.contexts[key]
        await context.set_extra_http_headers({"Accept-Language": LANGS[lang]})
        return context.pages[0]


async def sign_in(seeded: Seeded, tab: Any, username: str) -> None:
    """Password, then a recovery code if the account has a second factor."""
    origin = seeded.server.origin
    await tab.goto(f"{origin}/staff/login")
    await tab.locator("#username").fill(username)
    await tab.locator("#password").fill(PASSWORD)
    await tab.locator("#password").press("Enter")
    await tab.wait_for_url(re.compile(r"/staff/(queue|login/code)"))
    if tab.url.endswith("/staff/login/code"):
        await tab.locator("#code").fill(seeded.recovery[username].pop())
        await tab.locator("#code").press("Enter")
    await tab.wait_for_url(f"{origin}/staff/queue")


async def make_account(seeded: Seeded, username: str, role: str) -> StaffUser:
    assert seeded.server.core is not None
    teams = frozenset(ROLE_TEAMS[role])
    view = await seeded.server.core.staff.create(username, PASSWORD, role, teams)  # type: ignore[arg-type]
    user = StaffUser(view.id, view.username, view.role, view.teams)
    seeded.users[username] = user
    return user


async def enrol(seeded: Seeded, user: StaffUser) -> None:
    """A second factor through the service; its recovery codes kept for signing in."""
    enrolment = await seeded.totp.start(user)
    codes = await seeded.totp.confirm(user, pyotp.TOTP(enrolment.secret).now())
    assert codes is not None
    seeded.recovery[user.username] = list(codes)


# -- setups: pages reached only by doing something first ---------------------------------

Setup = Callable[[Seeded, str, str, str], Awaitable[tuple[Any, Any]]]
# (seeded, role, width, lang) -> (the tab to check, the response if the setup navigated)


async def password_step(seeded: Seeded, role: str, width: str, lang: str) -> tuple[Any, Any]:
    """The public tab after a right password of an account with a second factor."""
    tab = await seeded.tab_of("public", width, lang)
    await tab.goto(f"{seeded.server.origin}/staff/login")
    await tab.locator("#username").fill("mfa")
    await tab.locator("#password").fill(PASSWORD)
    await tab.locator("#password").press("Enter")
    await tab.wait_for_url(f"{seeded.server.origin}/staff/login/code")
    return tab, None


async def wrong_password(seeded: Seeded, role: str, width: str, lang: str) -> tuple[Any, Any]:
    """The sign-in page again after a wrong password, with its error."""
    tab = await seeded.tab_of("public", width, lang)
    await tab.goto(f"{seeded.server.origin}/staff/login")
    await tab.locator("#username").fill(f"nobody-{width}-{lang}")  # one failure per name
    await tab.locator("#password").fill("not the password")
    async with tab.expect_navigation() as navigation:
        await tab.locator("#password").press("Enter")
    return tab, await navigation.value


async def enrolled_twin(seeded: Seeded, role: str, width: str, lang: str) -> tuple[Any, Any]:
    """The tab of an account of the same role that has a second factor."""
    return await seeded.tab_of(f"{role}-2fa", width, lang), None


async def fresh_enrolment(seeded: Seeded, role: str, width: str, lang: str) -> tuple[Any, Any]:
    """An account of the role turns its second factor on: the recovery codes page.

    One account per role, signed in once; before each check its factor is removed
    (as an administrator would) so that it can turn it on again."""
    username = f"{role}-new"
    if username not in seeded.users:
        await make_account(seeded, username, role)
    else:
        await seeded.totp.reset("root", username)
    tab = await seeded.tab_of(username, width, lang)
    await tab.goto(f"{seeded.server.origin}/staff/account/2fa")
    secret = await tab.get_by_test_id("totp-secret").inner_text()
    await tab.locator("#code").fill(pyotp.TOTP(secret).now())
    async with tab.expect_navigation() as navigation:
        await tab.locator("#code").press("Enter")
    return tab, await navigation.value


async def empty_reply(seeded: Seeded, role: str, width: str, lang: str) -> tuple[Any, Any]:
    """The holder sends an empty reply: the case page again, with the refusal."""
    tab = await seeded.tab_of(role, width, lang)
    await tab.goto(f"{seeded.server.origin}/staff/cases/{seeded.values['claimed']}")
    async with tab.expect_navigation() as navigation:
        await tab.get_by_test_id("send-reply").click()
    return tab, await navigation.value


async def session_dialog(tab: Any, origin: str, answer: dict[str, Any]) -> tuple[Any, Any]:
    """The queue with session.js's dialog showing what it shows for this server answer.

    Only this tab's /staff/session/left answers so (the route), and session.js asks when
    the page becomes visible again: no clock is moved for anyone else."""

    async def fulfil(route: Any) -> None:
        await route.fulfill(json=answer, headers={"Cache-Control": "no-store"})

    await tab.route(f"{origin}/staff/session/left", fulfil)
    try:
        response = await tab.goto(f"{origin}/staff/queue")
        await tab.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
        await tab.wait_for_selector("#session-dialog[open]")
    finally:
        await tab.unroute(f"{origin}/staff/session/left", fulfil)
    return tab, response


async def session_warning(seeded: Seeded, role: str, width: str, lang: str) -> tuple[Any, Any]:
    """Two minutes before the idle limit: "Are you still there?" with "Stay signed in"."""
    tab = await seeded.tab_of(role, width, lang)
    answer = {"signed_in": True, "seconds_left": 90, "absolute": False}
    return await session_dialog(tab, seeded.server.origin, answer)


async def session_ended(seeded: Seeded, role: str, width: str, lang: str) -> tuple[Any, Any]:
    """The session ended (in another tab, or the limit passed): "Sign in again"."""
    tab = await seeded.tab_of(role, width, lang)
    return await session_dialog(tab, seeded.server.origin, {"signed_in": False})


async def set_password_link(seeded: Seeded, role: str, width: str, lang: str) -> tuple[Any, Any]:
    """A set-password link an administrator made (a new one each time), opened."""
    assert seeded.server.core is not None
    admin = AdminService(seeded.server.core.staff, seeded.totp, TEST_SECRET.encode())
    issued = await admin.new_link(seeded.users["root"], "bo")
    tab = await seeded.tab_of("public", width, lang)
    return tab, await tab.goto(f"{seeded.server.origin}/staff/set-password/{issued.token}")


async def new_link(seeded: Seeded, role: str, width: str, lang: str) -> tuple[Any, Any]:
    """The administrator makes a set-password link: the account page showing it once."""
    tab = await seeded.tab_of(role, width, lang)
    await tab.goto(f"{seeded.server.origin}/staff/admin/accounts/cecilia")
    async with tab.expect_navigation() as navigation:
        await tab.get_by_test_id("account-link").click()
    await tab.get_by_test_id("issued-url").wait_for()
    return tab, await navigation.value


SETUPS: dict[str, Setup] = {
    "set_password_link": set_password_link,
    "new_link": new_link,
    "session_warning": session_warning,
    "session_ended": session_ended,
    "password_step": password_step,
    "wrong_password": wrong_password,
    "enrolled_twin": enrolled_twin,
    "fresh_enrolment": fresh_enrolment,
    "empty_reply": empty_reply,
}


# -- the module's server, data and browser -------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def seeded(
    chromium: str, spec: BotApiSpec, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Seeded]:
    tmp = tmp_path_factory.mktemp("a11y")
    async with contextlib.AsyncExitStack() as stack:
        provider = await stack.enter_async_context(running_provider(free_port()))
        provider.claims["groups"] = ["everyone"]  # no group the helpline maps: refused
        server = await stack.enter_async_context(
            running_preview(
                f"sqlite+aiosqlite:///{tmp / 'a11y.db'}",
                tmp,
                spec,
                OIDC_ISSUER=provider.issuer,
                OIDC_CLIENT_ID=provider.client_id,
                OIDC_CLIENT_SECRET=provider.client_secret,
                OIDC_GROUP_MAP="helpline-laholm=staff:laholm",
            )
        )
        browser = await stack.enter_async_context(launched(chromium))
        assert server.core is not None and server.emulator is not None
        seeded = Seeded(
            server,
            browser,
            {},
            TotpService(server.core.database, TEST_SECRET.encode()),
        )
        await fill(seeded)
        try:
            yield seeded
        finally:
            for context in seeded.contexts.values():
                await context.close()


async def fill(seeded: Seeded) -> None:
    """Accounts, requests in every state, a canned reply, statistics, second factors."""
    server = seeded.server
    assert server.core is not None and server.emulator is not None
    core = server.core
    for username, (role, teams, name) in ACCOUNTS.items():
        view = await core.staff.create(username, PASSWORD, role, frozenset(teams), name)
        seeded.users[username] = StaffUser(view.id, username, role, view.teams, name)
    kim = await make_account(seeded, "kim", "coordinator")
    anna = seeded.users["anna"]

    unclaimed = await new_request(server, urgency="urgent")
    relative = Relative(server.emulator, language_code="sv")
    claimed = await new_request(
        server, chat_id=relative.chat_id, text="Min bror pratar om våld. Vad gör jag?"
    )
    closed = await new_request(server, urgency="later", text="Min dotter har slutat prata med oss.")
    for code in (claimed.code, closed.code):
        assert (await core.cases.claim(anna, code)).won
    await core.cases.reply(
        anna, claimed.code, "Hej! Tack för att du skriver. Vi finns här.", sign=True
    )
    await core.cases.add_note(anna, claimed.code, "Ringer tillbaka i morgon förmiddag.")
    await server.emulator.wait_idle(relative.chat_id)
    await relative.says("Tack, det känns bättre redan.")
    await core.cases.close(anna, closed.code, "advice")
    await core.cases.add_canned_reply(
        kim, "laholm", "sv", "Hälsning", "Hej! Tack för att du skriver."
    )
    await seed(server)

    await make_account(seeded, "mfa", "staff")
    await enrol(seeded, seeded.users["mfa"])
    for role in ACCOUNT:
        await enrol(seeded, await make_account(seeded, f"{role}-2fa", role))
    seeded.values.update(
        unclaimed=unclaimed.code,
        claimed=claimed.code,
        closed=closed.code,
        account=str(seeded.users["bo"].id),
    )


# -- the check --------------------------------------------------------------------------


async def check(seeded: Seeded, page: Page, role: str, width: str, lang: str) -> dict[str, Any]:
    """Open the page as ``role`` and run axe: what it found, and the status."""
    started = time.monotonic()
    tab, response = None, None
    if page.setup:
        tab, response = await SETUPS[page.setup](seeded, role, width, lang)
    else:
        tab = await seeded.tab_of(role, width, lang)
    if page.path is not None:
        response = await tab.goto(seeded.server.origin + page.path.format(**seeded.values))
    if page.wait_for:
        await tab.wait_for_selector(page.wait_for, state="attached")
    opened = time.monotonic()
    found = await tab.evaluate(RUN_AXE_JS, TAGS)
    return {
        "page": page.name,
        "url": tab.url.removeprefix(seeded.server.origin),
        "role": role,
        "width": width,
        "lang": lang,
        "status": response.status if response is not None else None,
        "html_lang": await tab.evaluate("document.documentElement.lang"),
        # WCAG 1.4.10 (reflow): the page itself never scrolls sideways (a wide table may,
        # inside its own box).
        "overflow": await tab.evaluate(OVERFLOW_JS),
        "violations": found["violations"],
        "passes": found["passes"],  # rules the page passed (0 would mean axe saw nothing)
        "incomplete": found["incomplete"],  # rules axe could not decide (for a person)
        "ms": {
            "open": int(1000 * (opened - started)),
            "axe": int(1000 * (time.monotonic() - opened)),
        },
    }


def described(result: dict[str, Any]) -> list[str]:
    where = (
        f"{result['page']} [{result['url']}] as {result['role']}, "
        f"{result['lang']}, {result['width']}"
    )
    lines = []
    for v in result["violations"]:
        lines.append(f"{where}: {v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"][:5]:
            lines.append(f"    {node['target']}")
        if len(v["nodes"]) > 5:
            lines.append(f"    ... and {len(v['nodes']) - 5} more")
    return lines


async def check_role(seeded: Seeded, role: str, width: str) -> list[dict[str, Any]]:
    """Every page of the role, in both languages, one after the other in its own tab."""
    pages = [page for page in PAGES if role in page.roles]
    assert pages, f"no page lists the role {role!r}"
    return [await check(seeded, page, role, width, lang) for lang in LANGS for page in pages]


def problems_of(result: dict[str, Any], page: Page) -> list[str]:
    where = (
        f"{page.name} [{result['url']}] as {result['role']}, {result['lang']}, {result['width']}"
    )
    problems = []
    if result["status"] != page.status:
        problems.append(f"{where}: answered {result['status']}, the list says {page.status}")
    if result["html_lang"] != result["lang"] and page.path != "/preview/":  # English only
        problems.append(f"{where}: <html lang> is {result['html_lang']!r}")
    if result["overflow"]:
        problems.append(f"{where}: the page scrolls sideways (WCAG 1.4.10): {result['overflow']}")
    if result["passes"] < 5:
        problems.append(f"{where}: axe checked almost nothing ({result['passes']} rules passed)")
    return problems + described(result)


@pytest.mark.parametrize("width", list(WIDTHS))
async def test_every_page_has_no_wcag_21_aa_violations(seeded: Seeded, width: str) -> None:
    """All roles at once (a tab each), every page they see, sv and en, at this width."""
    by_role = await asyncio.gather(*(check_role(seeded, role, width) for role in ROLES))
    results = [result for role_results in by_role for result in role_results]
    pages = {page.name: page for page in PAGES}
    assert len(pages) == len(PAGES), "two pages in tests/a11y_pages.py share a name"
    problems = [line for result in results for line in problems_of(result, pages[result["page"]])]
    report = os.environ.get("A11Y_REPORT")
    if report:
        with open(report, "a", encoding="utf-8") as out:
            for result in results:
                out.write(json.dumps(result, ensure_ascii=False) + "\n")
    assert not problems, f"{len(problems)} problem(s) in {len(results)} pages checked:\n" + (
        "\n".join(problems)
    )


async def test_the_check_finds_violations_put_into_a_real_page(seeded: Seeded) -> None:
    """The check can fail: an image without a text, an unlabelled field and faint text."""
    tab = await seeded.tab_of("staff", "desktop")
    await tab.goto(f"{seeded.server.origin}/staff/queue")
    await tab.evaluate(
        """() => {
      const main = document.querySelector("main");
      main.insertAdjacentHTML("beforeend", '<img src="/staff/static/favicon.svg"><input>');
      const faint = document.createElement("p");
      faint.textContent = "faint";
      faint.style.color = "#bbbbbb";  // CSSOM: allowed under the page's CSP
      main.append(faint);
    }"""
    )
    found = await tab.evaluate(RUN_AXE_JS, TAGS)
    assert {"image-alt", "label", "color-contrast"} <= {v["id"] for v in found["violations"]}


async def test_the_statement_states_what_this_test_checks() -> None:
    """The accessibility statement's figures are this module's: a page added here changes them."""
    from bot.web.staff.accessibility import CHECKED_STATES, CHECKS

    checks = sum(len(page.roles) for page in PAGES) * len(LANGS) * len(WIDTHS)
    assert (len(PAGES), checks) == (CHECKED_STATES, CHECKS), (
        f"update bot/web/staff/accessibility.py: {len(PAGES)} page states, {checks} checks"
    )
