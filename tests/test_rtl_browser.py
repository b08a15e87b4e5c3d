"""Right-to-left in a real browser (Debian's Chromium): the preview chat page and the case page.

An Arabic conversation in the preview must read right-to-left: the bot's bubble text and
its inline buttons have the computed direction ``rtl``, the text starts at the right, the
keyboard rows flow from the right, and the bubble stays on the bot's side of the chat
with its tail there. On the staff case page a relative's Arabic request, an Arabic note
and an Arabic reply read right-to-left (``dir="auto"`` on what people wrote), and the reply
and note boxes take RTL input. Everything around them keeps the page's LTR layout.

Arabic texts are written into ``content/`` by the integrator. Until ``ar`` is enabled
there, these tests run on a copy of ``content/`` and ``locales/`` in which Arabic is
enabled with stand-in texts: English with a few Arabic words in front of every title and
page, and a catalog translating every msgid to "ع " + msgid. Once ``content/texts/ar.yaml``
exists and ``languages.yaml`` enables ``ar``, the tests use the real content.
"""

from __future__ import annotations

import shutil
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from babel.messages.pofile import read_po, write_po
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup

from bot import callbacks
from bot.emulator.server import html_to_text
from bot.emulator.spec import BotApiSpec
from bot.runtime import Server
from tests.browser import (
    BOT_MESSAGES,
    MARK_LAST_BOT_JS,
    PHONE,
    SCREEN_SHOWN_JS,
    USER_MESSAGES,
    expect,
    sign_in,
    wait_until,
    watch,
)
from tests.conftest import running_preview
from tests.staff_helpers import create_accounts, new_request

REPO = Path(__file__).resolve().parent.parent
WAIT_MS = 15_000

# Stand-in Arabic ("a guide", "hello"): enough for the bidi algorithm, not a translation.
AR_TITLE = "دليل: "
AR_PAGE = "مرحبا. "
AR_UI = "ع "
ARABIC_REQUEST = "أخي لديه أصدقاء جدد على الإنترنت ويتحدث عن العنف. ماذا أفعل؟"
ARABIC_NOTE = "تحدثنا مع الفريق، سنتصل غدا."
ARABIC_REPLY = "مرحبا، شكرا لأنك كتبت إلينا. نحن هنا من أجلك."
FSI, LRI, RLI, PDI = "\u2068", "\u2066", "\u2067", "\u2069"


def first_strong_direction(text: str) -> str | None:
    """Unicode bidi rules P2-P3 on one paragraph (Python's own character database)."""
    depth = 0
    for ch in text:
        if ch in (FSI, LRI, RLI):
            depth += 1
        elif ch == PDI:
            depth = max(0, depth - 1)
        elif not depth and unicodedata.category(ch).startswith("L"):
            # letters only: symbols such as 🆘 carry bidi class L in Unicode's tables but
            # are pictures, and the page (like Telegram's apps) lets the words decide
            bidi = unicodedata.bidirectional(ch)
            if bidi == "L":
                return "ltr"
            if bidi in ("R", "AL"):
                return "rtl"
    return None


# -- content with Arabic enabled ------------------------------------------------------------


def _arabic_enabled(content_dir: Path) -> bool:
    if not (content_dir / "texts" / "ar.yaml").exists():
        return False
    languages = yaml.safe_load((content_dir / "languages.yaml").read_text(encoding="utf-8"))
    return any(lang.get("code") == "ar" and lang.get("enabled") for lang in languages["languages"])


def _stand_in_pages(entry: dict[str, Any]) -> dict[str, Any]:
    out = dict(entry)
    if "pages" in out:
        out["pages"] = [AR_PAGE + page for page in out["pages"]]
    elif out.get("body") is not None:
        out["body"] = AR_PAGE + out["body"]
    return out


def _build_arabic_copy(root: Path) -> tuple[Path, Path]:
    """content/ and locales/ copied, with ar enabled and stand-in Arabic everywhere."""
    content_dir, locales_dir = root / "content", root / "locales"
    shutil.copytree(REPO / "content", content_dir)
    shutil.copytree(REPO / "locales", locales_dir)

    languages_path = content_dir / "languages.yaml"
    languages = yaml.safe_load(languages_path.read_text(encoding="utf-8"))
    for lang in languages["languages"]:
        if lang["code"] == "ar":
            lang["enabled"] = True
    languages_path.write_text(yaml.safe_dump(languages, allow_unicode=True), encoding="utf-8")

    english = yaml.safe_load((content_dir / "texts" / "en.yaml").read_text(encoding="utf-8"))
    nodes = {}
    for node_id, entry in english["nodes"].items():
        text = _stand_in_pages(entry)
        text["title"] = AR_TITLE + entry["title"]
        text["button"] = (AR_UI + entry["button"])[:40]
        if entry.get("options"):
            text["options"] = {k: AR_UI + v for k, v in entry["options"].items()}
        nodes[node_id] = text
    (content_dir / "texts" / "ar.yaml").write_text(
        yaml.safe_dump({"nodes": nodes}, allow_unicode=True), encoding="utf-8"
    )

    for team_path in sorted((content_dir / "teams").glob("*.yaml")):
        team = yaml.safe_load(team_path.read_text(encoding="utf-8"))
        for key in ("name", "staff_name", "reply_title"):
            if isinstance(team.get(key), dict) and "en" in team[key]:
                team[key]["ar"] = team[key]["en"]  # a Latin name, isolated by the renderer
        for contact in team.get("contacts") or []:
            contact["label"]["ar"] = AR_UI + contact["label"]["en"]
        team["screen"]["ar"] = _stand_in_pages(team["screen"]["en"])
        team_path.write_text(yaml.safe_dump(team, allow_unicode=True), encoding="utf-8")

    with (locales_dir / "messages.pot").open("rb") as handle:
        catalog = read_po(handle, locale="ar")
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, tuple | list):
            singular, plural = message.id[0], message.id[1]
            message.string = tuple(
                AR_UI + (singular if k == 1 else plural) for k in range(catalog.num_plurals)
            )
        else:
            message.string = AR_UI + message.id
    po_dir = locales_dir / "ar" / "LC_MESSAGES"
    po_dir.mkdir(parents=True, exist_ok=True)
    with (po_dir / "messages.po").open("wb") as handle:
        write_po(handle, catalog)
    return content_dir, locales_dir


@pytest.fixture(scope="module")
def arabic_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The real content once it enables Arabic, else a copy with stand-in Arabic texts."""
    if _arabic_enabled(REPO / "content"):
        return REPO / "content", REPO / "locales"
    return _build_arabic_copy(tmp_path_factory.mktemp("arabic"))


@pytest.fixture
async def arabic_server(
    database_url: str, tmp_path: Path, spec: BotApiSpec, arabic_dirs: tuple[Path, Path]
) -> AsyncIterator[Server]:
    """The product in preview mode (as `preview_server`), on the content with Arabic."""
    content_dir, locales_dir = arabic_dirs
    async with running_preview(
        database_url, tmp_path, spec, CONTENT_DIR=str(content_dir), LOCALES_DIR=str(locales_dir)
    ) as server:
        yield server


@pytest.fixture
async def browser_context(browser: Any) -> Any:
    """A phone-sized context in Swedish, without animations."""
    context = await browser.new_context(viewport=PHONE, locale="sv-SE", reduced_motion="reduce")
    context.set_default_timeout(WAIT_MS)
    return context


# -- the preview chat page -------------------------------------------------------------------

# Layout facts of the newest message from ``from`` (bot or user), as the browser computed them.
_MESSAGE_LAYOUT_JS = """(from) => {
  const all = document.querySelectorAll(`[data-testid="message"][data-from="${from}"]`);
  const m = all[all.length - 1];
  const log = document.getElementById('messages').getBoundingClientRect();
  const box = m.getBoundingClientRect();
  const bubble = m.querySelector('.bubble');
  const text = m.querySelector('.text');
  const style = (e) => getComputedStyle(e);
  return {
    messageDirection: style(m).direction,
    bubbleDirection: style(bubble).direction,
    textDirection: style(text).direction,
    textAlign: style(text).textAlign,
    gapLeft: box.left - log.left,
    gapRight: log.right - box.right,
    tailBottomLeft: style(bubble).borderBottomLeftRadius,
    tailBottomRight: style(bubble).borderBottomRightRadius,
    metaDirection: style(m.querySelector('.meta')).direction,
    keyboardDirection: m.querySelector('.keyboard')
      ? style(m.querySelector('.keyboard')).direction : null,
    buttons: [...m.querySelectorAll('[data-testid="inline-button"]')].map((b) => ({
      label: b.textContent,
      direction: style(b).direction,
    })),
    rows: [...m.querySelectorAll('.keyboard .row')].map((row) =>
      [...row.querySelectorAll('button')].map((b) => b.getBoundingClientRect().left)),
    bubbleText: text.textContent,
  };
}"""


async def _wait_for_screen(tab: Any, codes: list[str]) -> None:
    await wait_until(tab, SCREEN_SHOWN_JS, codes, timeout=WAIT_MS)


async def _press(tab: Any, code: str, next_codes: list[str]) -> None:
    await tab.evaluate(MARK_LAST_BOT_JS)
    selector = f'[data-testid="inline-button"][data-callback-data="{code}"]'
    await tab.locator(BOT_MESSAGES).last.locator(selector).first.click()
    await _wait_for_screen(tab, next_codes)


def _assert_reads_rtl(layout: dict[str, Any], *, wide_rows: bool = True) -> None:
    """An RTL bot message: text, bubble, keyboard rtl; every button as its label reads."""
    assert layout["textDirection"] == "rtl", layout
    assert layout["bubbleDirection"] == "rtl", layout
    assert layout["textAlign"] == "start", layout  # start is the right edge in rtl
    assert layout["keyboardDirection"] == "rtl", layout
    rtl_buttons = 0
    for button in layout["buttons"]:
        expected = first_strong_direction(button["label"]) or "rtl"  # neutral: the message's
        assert button["direction"] == expected, button
        rtl_buttons += expected == "rtl"
    # Most labels are Arabic; a Latin one (a switch to "Svenska") may read LTR on its own.
    assert rtl_buttons >= max(1, len(layout["buttons"]) / 2), layout["buttons"]
    # The rows flow right-to-left: each button starts left of the one before it.
    wide = [row for row in layout["rows"] if len(row) > 1]
    assert wide or not wide_rows, layout["rows"]
    for row in wide:
        assert row == sorted(row, reverse=True), layout["rows"]
    # The bubble stays on the bot's side (left in this LTR page), its tail there too.
    assert layout["gapLeft"] < 1 and layout["gapRight"] > 10, layout
    assert layout["tailBottomLeft"] == "4px" and layout["tailBottomRight"] != "4px", layout
    assert layout["metaDirection"] == "ltr", layout  # the preview's own words and the time


async def test_arabic_conversation_in_the_preview_reads_right_to_left(
    arabic_server: Server, browser_context: Any
) -> None:
    server = arabic_server
    assert server.core is not None and server.emulator is not None
    renderer = server.core.renderer
    content = server.core.content
    assert content.languages["ar"].enabled and content.languages["ar"].direction == "rtl"
    tab = await browser_context.new_page()
    problems = watch(tab)

    # The page's own language select: a relative whose Telegram is in Arabic.
    await tab.goto(f"{server.origin}/preview/")
    await wait_until(tab, "() => sessionStorage.getItem('emulator.chatId') !== null")
    before = await tab.evaluate("sessionStorage.getItem('emulator.chatId')")
    await tab.get_by_test_id("lang-select").select_option("ar")
    await tab.get_by_test_id("new-chat").click()
    await wait_until(tab, "(old) => sessionStorage.getItem('emulator.chatId') !== old", before)
    await expect(tab.get_by_test_id("start")).to_be_visible()
    composer = tab.get_by_test_id("composer")
    await composer.fill("/start")
    await tab.get_by_test_id("send").click()
    welcome = renderer.welcome("ar")
    await _wait_for_screen(tab, [b.data for b in welcome.buttons()])
    _assert_reads_rtl(await tab.evaluate(_MESSAGE_LAYOUT_JS, "bot"), wide_rows=False)

    team = sorted(content.teams)[0]
    picker = renderer.team_picker("ar", None, back=False)
    await _press(tab, callbacks.set_language("ar"), [b.data for b in picker.buttons()])
    home = renderer.guide("ar", team, content.root, 0, None)
    await _press(tab, callbacks.set_team(team), [b.data for b in home.buttons()])
    layout = await tab.evaluate(_MESSAGE_LAYOUT_JS, "bot")
    _assert_reads_rtl(layout)
    assert first_strong_direction(html_to_text(home.text)[0]) == "rtl", home.text[:80]
    await tab.screenshot(path="/tmp/preview-home-ar.png")

    # An article screen, a level down, reads right-to-left as well.
    first = content.nodes[content.root].children[0]
    screen = renderer.guide("ar", team, first, 0, None)
    await _press(tab, callbacks.go(first), [b.data for b in screen.buttons()])
    _assert_reads_rtl(await tab.evaluate(_MESSAGE_LAYOUT_JS, "bot"))

    # What the relative types in Arabic reads RTL on the relative's side, tail there.
    await tab.evaluate(MARK_LAST_BOT_JS)
    await composer.fill(ARABIC_REQUEST)
    await tab.get_by_test_id("send").click()
    await expect(tab.locator(USER_MESSAGES).last.locator(".text")).to_have_text(ARABIC_REQUEST)
    mine = await tab.evaluate(_MESSAGE_LAYOUT_JS, "user")
    assert mine["textDirection"] == "rtl" and mine["textAlign"] == "start", mine
    assert mine["gapRight"] < 1 and mine["gapLeft"] > 10, mine
    assert mine["tailBottomRight"] == "4px" and mine["tailBottomLeft"] != "4px", mine

    # LTR is unchanged in the same chat: a Swedish message with two buttons in one row.
    chat_id = int(await tab.evaluate("sessionStorage.getItem('emulator.chatId')"))
    bots = tab.locator(BOT_MESSAGES)
    await _wait_for_screen(tab, [b.data for b in screen.buttons()])  # the bot's answer
    count = await bots.count()
    async with Bot(server.emulator.token, base_url=server.emulator.base_url) as bot:
        await bot.send_message(
            chat_id,
            "<b>Hej</b> och välkommen, العربية finns också.",
            parse_mode="HTML",
            reply_markup=InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton("Ja", callback_data="x:1"),
                        InlineKeyboardButton("Nej", callback_data="x:2"),
                    ]
                ]
            ),
        )
    await expect(bots).to_have_count(count + 1)
    ltr = await tab.evaluate(_MESSAGE_LAYOUT_JS, "bot")
    assert ltr["textDirection"] == ltr["keyboardDirection"] == "ltr", ltr
    assert [b["direction"] for b in ltr["buttons"]] == ["ltr", "ltr"], ltr
    assert ltr["rows"][0] == sorted(ltr["rows"][0]), ltr["rows"]  # left to right
    assert ltr["gapLeft"] < 1 and ltr["tailBottomLeft"] == "4px", ltr
    assert await tab.evaluate("document.documentElement.dir") == "ltr"
    assert problems == [], problems


# -- the staff case page -----------------------------------------------------------------


async def _direction(locator: Any) -> str:
    return await locator.evaluate("(e) => getComputedStyle(e).direction")


async def test_staff_case_page_shows_arabic_right_to_left(
    arabic_server: Server, browser_context: Any
) -> None:
    server = arabic_server
    assert server.core is not None
    await create_accounts(server)
    # The relative wrote in Arabic; the request is in Arabic only where Arabic is offered.
    language = "ar" if server.core.content.languages["ar"].enabled else "sv"
    created = await new_request(server, team="laholm", text=ARABIC_REQUEST, language=language)
    page = await browser_context.new_page()
    problems = watch(page)

    await sign_in(page, server.origin, "anna")
    await expect(page.get_by_test_id("queue-empty").or_(page.locator("#queue"))).to_be_visible()
    await page.goto(f"{server.origin}/staff/cases/{created.code}")

    request = page.get_by_test_id("case-message").filter(has_text=ARABIC_REQUEST)
    body = request.locator(".body")
    await expect(body).to_have_text(ARABIC_REQUEST)
    assert await body.get_attribute("dir") == "auto"
    assert await _direction(body) == "rtl"
    # Around it the page stays LTR: the heading and the message's own meta line.
    assert await _direction(page.locator("h1")) == "ltr"
    assert await _direction(request.locator(".meta")) == "ltr"

    # The note box and the reply box take Arabic and turn right-to-left as it is typed.
    note_box = page.locator("#note-text")
    assert await note_box.get_attribute("dir") == "auto"
    await note_box.fill(ARABIC_NOTE)
    assert await _direction(note_box) == "rtl"
    await page.get_by_test_id("add-note").click()
    note = page.get_by_test_id("note").filter(has_text=ARABIC_NOTE).locator(".body")
    await expect(note).to_have_text(ARABIC_NOTE)
    assert await _direction(note) == "rtl"

    await page.get_by_test_id("claim").click()
    reply_box = page.locator("#reply-text")
    await expect(reply_box).to_be_visible()
    assert await reply_box.get_attribute("dir") == "auto"
    assert await _direction(reply_box) == "ltr"  # empty: the page's direction
    await reply_box.fill(ARABIC_REPLY)
    assert await _direction(reply_box) == "rtl"
    await page.get_by_test_id("send-reply").click()
    reply = page.get_by_test_id("case-message").filter(has_text=ARABIC_REPLY)
    await expect(reply).to_have_attribute("data-author", "staff")
    assert await _direction(reply.locator(".body")) == "rtl"

    # A Latin note still reads left-to-right.
    await page.locator("#note-text").fill("Ringer tillbaka i morgon.")
    await page.get_by_test_id("add-note").click()
    latin = page.get_by_test_id("note").filter(has_text="Ringer tillbaka").locator(".body")
    await expect(latin).to_be_visible()
    assert await _direction(latin) == "ltr"
    await page.screenshot(path="/tmp/staff-case-ar.png", full_page=True)
    assert problems == [], problems
