"""The real product's preview in a real browser, used the way a worried relative would.

`preview_server` (conftest) runs the product as `python -m bot preview` does: the
python-telegram-bot application polls the built-in Bot API emulator, on SQLite and on
PostgreSQL. Here Debian's Chromium opens its chat page on a phone-sized screen and
everything happens through the page: typing, the attachment menu, the language select
and the inline buttons. Which guide screen is showing is derived from the callback code
of the button that was clicked (`g:<node>...`, see bot/callbacks.py), and every screen is
checked against what the product's renderer says that screen is.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from telegram import Bot

from bot import callbacks
from bot.content.loader import load_content
from bot.content.render import Screen
from bot.emulator.server import html_to_text
from bot.runtime import Server
from tests.browser import (
    BOT_MESSAGES,
    MARK_LAST_BOT_JS,
    PHONE,
    SCREEN_SHOWN_JS,
    USER_MESSAGES,
    playwright_api,
    wait_until,
)

REPO = Path(__file__).resolve().parent.parent
TEAM = {"sv": "laholm", "en": "botkyrka"}
# The browser's own language is the *other* one, so the test has to use the page's select.
BROWSER_LOCALE = {"sv": "en-GB", "en": "sv-SE"}
WAIT_MS = 10_000

# The newest bot message: its callback codes and whether the test already saw it.
_LAST_BOT_JS = """() => {
  const all = document.querySelectorAll('[data-testid="message"][data-from="bot"]');
  const m = all[all.length - 1];
  if (!m) return null;
  return {
    stale: m.dataset.seenByTest === "1",
    codes: [...m.querySelectorAll('[data-testid="inline-button"]')]
      .map((b) => b.dataset.callbackData ?? null),
  };
}"""
# Elements the page may build from bot HTML (chat.js keeps an allow-list).
_FOREIGN_ELEMENTS_JS = """() => [...document.querySelectorAll('#messages .text *')]
  .map((e) => e.localName)
  .filter((t) => !['strong', 'em', 'u', 's', 'code', 'pre', 'blockquote', 'a', 'span']
    .includes(t))"""


def codes_of(screen: Screen) -> list[str]:
    return [button.data for button in screen.buttons()]


def visible_text(screen_html: str) -> str:
    return html_to_text(screen_html)[0].strip()


class ChatPage:
    """The preview chat page in one browser tab, plus the product it talks to."""

    def __init__(self, server: Server, tab: Any) -> None:
        assert server.core is not None and server.emulator is not None
        self.server = server
        self.renderer = server.core.renderer
        self.emulator = server.emulator
        self.tab = tab
        self.expect = playwright_api.expect
        self.errors: list[str] = []
        tab.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        tab.on("dialog", lambda dialog: self.errors.append(f"dialog: {dialog.message}"))
        tab.on("console", self._console)
        tab.on("requestfailed", self._request_failed)
        self.lang = "sv"
        self.team: str | None = None

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console error: {message.text}")

    def _request_failed(self, request: Any) -> None:
        # Long polls are aborted on purpose when a new chat starts.
        if "/events" not in request.url:
            self.errors.append(f"request failed: {request.url} {request.failure}")

    # -- the page --------------------------------------------------------------------------

    async def chat_id(self) -> int | None:
        raw = await self.tab.evaluate("sessionStorage.getItem('emulator.chatId')")
        return int(raw) if raw else None

    async def open(self, lang: str) -> None:
        """Open the page, choose the Telegram language in its select, start a fresh chat."""
        if self.tab.url == "about:blank":
            await self.tab.goto(f"{self.server.origin}/preview/")
        await wait_until(self.tab, "() => sessionStorage.getItem('emulator.chatId') !== null")
        before = await self.chat_id()
        await self.tab.get_by_test_id("lang-select").select_option(lang)
        await self.tab.get_by_test_id("new-chat").click()
        await wait_until(
            self.tab, "(old) => sessionStorage.getItem('emulator.chatId') !== old", str(before)
        )
        await self.expect(self.tab.get_by_test_id("start")).to_be_visible()
        await self.expect(self.tab.locator(BOT_MESSAGES)).to_have_count(0)
        chat_id = await self.chat_id()
        assert chat_id is not None
        assert self.emulator.snapshot(chat_id)["user"]["language_code"] == lang
        self.lang = lang

    async def type_and_send(self, text: str) -> None:
        await self.tab.evaluate(MARK_LAST_BOT_JS)
        composer = self.tab.get_by_test_id("composer")
        await composer.fill(text)
        await self.tab.get_by_test_id("send").click()
        await self.expect(composer).to_have_value("")

    async def send_kind(self, kind: str) -> None:
        await self.tab.evaluate(MARK_LAST_BOT_JS)
        await self.tab.get_by_test_id("attach").click()
        await self.tab.get_by_test_id(f"send-{kind}").click()

    async def codes(self) -> list[str]:
        last = await self.tab.evaluate(_LAST_BOT_JS)
        assert last is not None, "no bot message on the page"
        return last["codes"]

    def last_bot(self) -> Any:
        return self.tab.locator(BOT_MESSAGES).last

    async def wait_for(self, screen: Screen, what: str) -> None:
        """Wait until a new (or re-rendered) last bot message shows exactly ``screen``."""
        try:
            await wait_until(self.tab, SCREEN_SHOWN_JS, codes_of(screen), timeout=WAIT_MS)
        except playwright_api.Error as exc:
            last = await self.tab.evaluate(_LAST_BOT_JS)
            status = await self.tab.locator("#status").text_content()
            raise AssertionError(
                f"{what}: the page did not show the expected screen.\n"
                f"expected buttons {codes_of(screen)}\nlast bot message {last}\n"
                f"status {status!r}\nerrors {self.errors}"
            ) from exc
        shown = (await self.last_bot().locator(".text").text_content() or "").strip()
        assert shown == visible_text(screen.text), f"{what}: text differs"

    async def press(self, code: str, screen: Screen, *, label: str | None = None) -> None:
        """Click the button carrying ``code`` (and ``label``) in the newest bot message."""
        await self.tab.evaluate(MARK_LAST_BOT_JS)
        selector = f'[data-testid="inline-button"][data-callback-data="{code}"]'
        button = self.last_bot().locator(selector)
        if label is not None:
            button = button.filter(has_text=label)
        await button.first.click()
        await self.wait_for(screen, f"after clicking {code!r}")

    # -- the product's screens -------------------------------------------------------------

    def _(self, msgid: str) -> str:
        return self.renderer.t(self.lang).gettext(msgid)

    def guide(self, node: str, page: int = 0) -> Screen:
        return self.renderer.guide(self.lang, self.team, node, page, None)

    async def onboard(self, lang: str, team: str) -> None:
        """Open a chat in ``lang``, /start, confirm the language, pick ``team``: the home screen."""
        await self.open(lang)
        await self.type_and_send("/start")
        await self.expect(self.tab.locator(USER_MESSAGES).last.locator(".text")).to_have_text(
            "/start"
        )
        welcome = self.renderer.welcome(lang)
        await self.wait_for(welcome, "after /start")
        assert codes_of(welcome) == [
            callbacks.set_language(lang),
            callbacks.ShowPicker("language").data,
            callbacks.go("emergency"),
        ]
        title = self.last_bot().locator(".text strong").first
        await self.expect(title).to_have_text(self._("Welcome"))
        language_name = self.server.core.content.languages[lang].name
        await self.expect(self.last_bot()).to_contain_text(language_name)
        await self.press(
            callbacks.set_language(lang), self.renderer.team_picker(lang, None, back=False)
        )
        self.team = team
        await self.press(callbacks.set_team(team), self.guide(self.server.core.content.root))

    async def assert_healthy(self) -> None:
        """No script error, dialog, failed request or error notice on the page."""
        assert self.errors == [], self.errors
        status = (await self.tab.locator("#status").text_content() or "").strip()
        for bad in ("Could not", "failed", "Connection lost", "not reachable", "restarted"):
            assert bad not in status, f"the page shows an error: {status!r}"
        assert not await self.tab.locator("#alert").evaluate("(d) => d.open")

    async def assert_fits_phone(self) -> None:
        """Nothing sticks out sideways on the phone-sized viewport."""
        overflow = await self.tab.evaluate("""() => {
          const width = document.documentElement.clientWidth;
          const wide = [...document.querySelectorAll('.app *')]
            .filter((e) => e.getClientRects().length)
            .filter((e) => e.getBoundingClientRect().right > width + 1
                        || e.getBoundingClientRect().left < -1)
            .map((e) => `${e.localName}.${e.className} ${e.textContent.slice(0, 30)}`);
          return {scroll: document.documentElement.scrollWidth, width, wide};
        }""")
        assert overflow["scroll"] <= overflow["width"], overflow
        assert overflow["wide"] == [], overflow


@pytest.fixture
async def chat(browser: Any, preview_server: Server, request: pytest.FixtureRequest) -> ChatPage:
    """A phone-sized Chromium tab on the preview's chat page (the browser's locale differs)."""
    callspec = getattr(request.node, "callspec", None)
    lang = callspec.params.get("lang", "sv") if callspec else "sv"
    context = await browser.new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale=BROWSER_LOCALE.get(lang, "en-GB"),
        reduced_motion="reduce",
    )
    context.set_default_timeout(WAIT_MS)
    return ChatPage(preview_server, await context.new_page())


# -- 1. every screen of the guide, reached by clicking ----------------------------------------


@pytest.mark.parametrize("lang", ["sv", "en"])
async def test_relative_reaches_every_screen_by_clicking(chat: ChatPage, lang: str) -> None:
    content, problems = load_content(REPO / "content")
    assert content is not None, problems
    root = content.root
    await chat.onboard(lang, TEAM[lang])
    back_label = chat.renderer.back_label(lang)
    home_label = chat._("🏠 Home")

    reached: set[str] = set()  # nodes, from the g:<node> codes of the buttons clicked
    screens: set[tuple[str, int]] = {(root, 0)}
    entered: set[str] = {root}

    async def click_go(code: str, **kwargs: Any) -> None:
        action = callbacks.parse(code)
        assert isinstance(action, callbacks.Go), code
        await chat.press(code, chat.guide(action.node, action.page), **kwargs)
        reached.add(action.node)
        screens.add((action.node, action.page))

    async def explore(node: str) -> None:
        """On ``node``'s first page: read every page, then each new child, and come back."""
        page = 0
        while callbacks.go(node, page + 1) in await chat.codes():
            page += 1
            await click_go(callbacks.go(node, page))
        for code in await chat.codes():
            action = callbacks.parse(code)
            if isinstance(action, callbacks.Answer):
                # a step of the self-reflection: its answers lead to screens whose back is here
                target = next(o.goto for o in content.nodes[node].options if o.id == action.option)
                if target in entered or content.nodes[target].parent != node:
                    continue
                entered.add(target)
                await chat.press(code, chat.guide(target))
                reached.add(target)
                screens.add((target, 0))
                await explore(target)
                await click_go(callbacks.go(node), label=back_label)
                continue
            if not isinstance(action, callbacks.Go) or action.back is not None or action.page:
                continue  # settings, answers, "see also", emergency/contact shortcuts, pages
            if action.node in entered:
                continue  # where we came from, home
            entered.add(action.node)
            await click_go(code)
            await explore(action.node)
            await click_go(callbacks.go(node), label=back_label)

    await explore(root)
    assert reached == set(content.nodes), (
        f"not reached: {sorted(set(content.nodes) - reached)}; "
        f"unknown: {sorted(reached - set(content.nodes))}"
    )
    expected_screens = {
        (n, p)
        for n in content.nodes
        for p in range(len(chat.renderer._pages(lang, TEAM[lang], content.nodes[n])))
    }
    assert screens == expected_screens, sorted(expected_screens - screens)

    # Home from the deepest level of menus.
    deep = next(
        n
        for n in content.nodes
        if content.nodes[n].parent not in (None, root)
        and content.nodes[content.nodes[n].parent].kind == "menu"
        and content.nodes[content.nodes[n].parent].parent not in (None, root)
    )
    path = [deep]
    while content.nodes[path[0]].parent != root:
        path.insert(0, content.nodes[path[0]].parent)
    for node in path:
        await click_go(callbacks.go(node))
    await click_go(callbacks.go(root), label=home_label)
    await chat.assert_healthy()


# -- 2. odd input --------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["sv", "en"])
async def test_sticker_and_long_text_get_a_helpful_answer(chat: ChatPage, lang: str) -> None:
    await chat.onboard(lang, TEAM[lang])
    home = chat.guide(chat.server.core.content.root)
    users = chat.tab.locator(USER_MESSAGES)
    bots = chat.tab.locator(BOT_MESSAGES)

    await chat.send_kind("sticker")
    await chat.expect(users).to_have_count(2)
    await chat.expect(users.last).to_contain_text("Sticker")
    await wait_until(chat.tab, SCREEN_SHOWN_JS, codes_of(home))
    await chat.expect(bots).to_have_count(2)  # a new message: the home screen stays above
    await _assert_helpful_notice(chat, home)

    sentence = (
        "Min son har ändrat sig mycket det senaste året och jag vet inte vad jag ska göra. "
        if lang == "sv"
        else "My brother has changed a lot this year and I do not know what to do. "
    )
    long_text = (sentence * 100)[:4000].rstrip()  # near Telegram's 4096 limit
    await chat.type_and_send(long_text)
    await chat.expect(users).to_have_count(3)
    assert (await users.last.locator(".text").text_content()) == long_text
    await wait_until(chat.tab, SCREEN_SHOWN_JS, codes_of(home))
    await chat.expect(bots).to_have_count(3)
    await _assert_helpful_notice(chat, home)

    # The answer's buttons work: the guide goes on from there.
    first_child = chat.server.core.content.nodes[chat.server.core.content.root].children[0]
    await chat.press(callbacks.go(first_child), chat.guide(first_child))
    await chat.assert_healthy()
    await chat.assert_fits_phone()


async def _assert_helpful_notice(chat: ChatPage, screen: Screen) -> None:
    """The bot says (in italics) why it cannot read that, then offers the current screen."""
    text = chat.last_bot().locator(".text")
    notice = (await text.locator("em").first.text_content() or "").strip()
    assert len(notice) > 20, notice
    full = (await text.text_content() or "").strip()
    assert full.startswith(notice) and full.endswith(visible_text(screen.text)), full[:200]
    buttons = chat.last_bot().get_by_test_id("inline-button")
    assert await buttons.count() == len(codes_of(screen)) > 0
    for i in range(await buttons.count()):
        assert (await buttons.nth(i).text_content() or "").strip()
    # Said in the relative's language: a UI string of that language's catalog (whose msgids
    # are English), so in Swedish it must be a translation, not an English msgid.
    with (REPO / "locales" / chat.lang / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        strings = {m.id: m.string for m in read_po(handle) if m.id and m.string}
    if chat.lang == "en":
        assert notice in strings or notice in strings.values(), notice
    else:
        assert notice in strings.values() and notice not in strings, notice
    await chat.assert_healthy()


# -- 3. screenshots on a phone -------------------------------------------------------------


async def test_phone_screenshots_home_sv_and_article_en(chat: ChatPage) -> None:
    content = chat.server.core.content
    await chat.onboard("sv", "laholm")
    await chat.assert_fits_phone()
    await chat.tab.screenshot(path="/tmp/preview-home-sv.png")

    await chat.onboard("en", "botkyrka")
    article = next(
        n for n in content.nodes["understand"].children if content.nodes[n].kind == "article"
    )
    await chat.press(callbacks.go("understand"), chat.guide("understand"))
    await chat.press(callbacks.go(article), chat.guide(article))
    await chat.assert_fits_phone()
    await chat.tab.screenshot(path="/tmp/preview-article-en.png")
    await chat.assert_healthy()


# -- 4. bot HTML is rendered from an allow-list, never run ----------------------------------


@pytest.mark.parametrize("lang", ["sv", "en"])
async def test_bot_html_renders_safely(chat: ChatPage, lang: str) -> None:
    await chat.onboard(lang, TEAM[lang])
    tab = chat.tab
    # The product's own HTML: <b> titles become <strong>, contact links open safely.
    contact = chat.guide("contact")
    await chat.press(callbacks.go("contact"), contact)
    text = chat.last_bot().locator(".text")
    title = contact.text.split("\n\n", 1)[0]
    assert title.startswith("<b>") and title.endswith("</b>"), title
    await chat.expect(text.locator("strong").first).to_have_text(visible_text(title))
    assert await text.locator("strong").count() == contact.text.count("<b>") > 1
    assert await text.locator("b").count() == 0
    links = text.locator("a")
    assert await links.count() >= 1
    for i in range(await links.count()):
        link = links.nth(i)
        assert (await link.get_attribute("href") or "").startswith("https://")
        assert "noopener" in (await link.get_attribute("rel") or "").split()
        assert await link.get_attribute("target") == "_blank"

    # What a relative types is shown as text, never as markup.
    trap = "window.__pwned = (window.__pwned || 0) + 1"
    typed = f'<script>{trap}</script><img src=x onerror="{trap}"><b>not bold</b>'
    await chat.type_and_send(typed)
    user_text = tab.locator(USER_MESSAGES).last.locator(".text")
    await chat.expect(user_text).to_have_text(typed)
    assert await user_text.locator("*").count() == 0
    # The bot answers the typed text with its notice and the screen again, as a new message.
    await wait_until(chat.tab, SCREEN_SHOWN_JS, codes_of(contact))
    await chat.expect(tab.locator(BOT_MESSAGES)).to_have_count(2)

    # Hostile HTML from the bot side (sent with the bot's token, as the product would).
    chat_id = await chat.chat_id()
    hostile = (
        "<b>Bold</b> <i>calm</i> "
        f'<a href="javascript:{html.escape(trap, quote=True)}">bad link</a> '
        '<a href="https://example.org/help">good link</a> '
        f"&lt;script&gt;{html.escape(trap)}&lt;/script&gt; "
        f'&lt;img src=x onerror="{html.escape(trap)}"&gt;'
    )
    before = await tab.locator(BOT_MESSAGES).count()
    async with Bot(chat.emulator.token, base_url=chat.emulator.base_url) as bot:
        await bot.send_message(chat_id, hostile, parse_mode="HTML")
    await chat.expect(tab.locator(BOT_MESSAGES)).to_have_count(before + 1)
    text = chat.last_bot().locator(".text")
    await chat.expect(text.locator("strong")).to_have_text("Bold")
    await chat.expect(text.locator("em")).to_have_text("calm")
    await chat.expect(text).to_contain_text(f"<script>{trap}</script>")
    await chat.expect(text).to_contain_text("bad link")
    assert await text.locator("a").count() == 1  # the javascript: link is plain text
    good = text.locator("a")
    assert await good.get_attribute("href") == "https://example.org/help"
    assert "noopener" in (await good.get_attribute("rel") or "").split()

    # No element that could run anything exists (so no handler can fire later either), and
    # nothing ran while the message was built: no wait for time is needed.
    assert await tab.locator("#messages script, #messages img, #messages iframe").count() == 0
    assert await tab.evaluate(_FOREIGN_ELEMENTS_JS) == []
    assert await tab.locator("#messages [onerror], #messages [onclick]").count() == 0
    assert await tab.evaluate("window.__pwned") is None
    await chat.assert_healthy()


# -- 5. the page follows the conversation and says which language is which ------------------


async def test_page_scrolls_to_the_newest_message(chat: ChatPage) -> None:
    """Sent or answered, the newest message is on screen, also once the chat overflows."""
    await chat.onboard("sv", "laholm")
    log = chat.tab.locator("#log")
    users = chat.tab.locator(USER_MESSAGES)
    newest = chat.tab.locator('[data-testid="message"]').last
    for i in range(8):
        sent = await users.count()
        await chat.type_and_send(f"Hej {i}")
        await chat.expect(users).to_have_count(sent + 1)
        await chat.expect(newest).to_be_in_viewport()  # the relative's, or already the answer
        await wait_until(
            chat.tab,
            "() => { const m = document.querySelectorAll('[data-testid=\"message\"]');"
            " return m.length && m[m.length - 1].dataset.from === 'bot'"
            " && m[m.length - 1].dataset.seenByTest !== '1'; }",
        )  # the bot's answer arrived
        await chat.expect(chat.last_bot()).to_be_in_viewport()
    overflow = await log.evaluate("(e) => e.scrollHeight > e.clientHeight")
    assert overflow, "the chat never overflowed: the test proves nothing"
    page_scroll = await chat.tab.evaluate("document.scrollingElement.scrollTop")
    assert page_scroll == 0  # the conversation scrolls, not the whole page
    await chat.assert_healthy()


async def test_language_controls_say_which_language_is_which(chat: ChatPage) -> None:
    await chat.onboard("sv", "laholm")
    tab = chat.tab
    phone = tab.get_by_label("Phone language (Telegram)")
    await chat.expect(phone).to_be_visible()
    await chat.expect(phone).to_have_value("sv")
    note = tab.get_by_test_id("lang-note")
    await chat.expect(note).to_contain_text("The bot's language is chosen in the chat")
    await chat.expect(note).to_contain_text("/language")
    await phone.select_option("en")
    await chat.expect(tab.locator("#status")).to_have_text(
        "Phone language set to English. The bot's language stays as chosen in the chat."
    )
    chat_id = await chat.chat_id()
    assert chat_id is not None
    assert chat.emulator.snapshot(chat_id)["user"]["language_code"] == "en"
    await chat.assert_healthy()
