"""Staff notices carry no content; staff replies are cleared with "clear this chat"."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain import CODE_ALPHABET
from bot.emulator.spec import BotApiSpec
from bot.runtime import Server
from bot.telegram.notify import TelegramStaffNotifier
from tests.conftest import running_preview
from tests.helpers import Relative, bot_messages

STAFF_CHAT = 7_000_000_001
CODE_RE = re.compile(rf"[{CODE_ALPHABET}]{{3}}-[{CODE_ALPHABET}]{{3}}")


@pytest.fixture
async def server(database_url: str, tmp_path: Path, spec: BotApiSpec) -> AsyncIterator[Server]:
    async with running_preview(
        database_url,
        tmp_path,
        spec,
        STAFF_NOTIFY_CHAT_ID=str(STAFF_CHAT),
        STAFF_NOTIFY_LANGUAGE="en",
    ) as server:
        assert server.emulator is not None
        server.emulator.new_private_chat(chat_id=STAFF_CHAT, language_code="en")
        yield server


async def _request(relative: Relative, urgency: str, text: str) -> str:
    await relative.taps("g:contact")
    await relative.taps("k:new")
    for code in ("k:c:child", "k:t:online", f"k:u:{urgency}"):
        screen = await relative.taps(code)
    if urgency == "urgent":
        await relative.taps("k:go")
    await relative.taps("k:r:chat")
    await relative.taps("k:l:sv")
    await relative.says(text)
    done = await relative.taps("k:ok")
    match = CODE_RE.search(done["text"])
    assert match, screen
    return match.group()


async def test_staff_chat_learns_only_that_a_request_exists(server: Server) -> None:
    relative = Relative(server.emulator)
    await relative.onboard("sv", "botkyrka")
    code = await _request(relative, "urgent", "Min son Erik pratar om vapen")
    notifier = server.core.cases.events
    assert isinstance(notifier, TelegramStaffNotifier)
    await notifier.drain()
    await server.emulator.wait_idle(STAFF_CHAT)
    notices = [m["text"] for m in bot_messages(server.emulator, STAFF_CHAT)]
    assert notices == ["1 new urgent request for Botkyrka Municipality"]
    for secret in (code, "Erik", "vapen", "online", str(relative.chat_id)):
        assert secret not in notices[0]


async def test_clear_this_chat_also_removes_staff_replies(server: Server) -> None:
    relative = Relative(server.emulator)
    await relative.onboard("sv", "laholm")
    code = await _request(relative, "soon", "Jag är orolig")
    await server.core.staff.create("anna", "a long enough password", "staff", frozenset({"laholm"}))
    staff = await server.core.staff.authenticate("anna", "a long enough password")
    assert staff is not None
    assert (await server.core.cases.claim(staff, code)).won
    reply = await server.core.cases.reply(staff, code, "Vi hör av oss i morgon.")
    assert reply.delivery == "sent"
    await server.emulator.wait_idle(relative.chat_id)
    assert any("Vi hör av oss" in m["text"] for m in relative.bot_messages())

    await relative.says("/clear")
    await relative.taps("c:y")
    remaining = [m["text"] for m in server.emulator.visible_messages(relative.chat_id)]
    assert not any("Vi hör av oss" in t for t in remaining), remaining
