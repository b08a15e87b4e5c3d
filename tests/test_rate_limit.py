"""Outgoing calls within Telegram's limits, and 429s waited out and retried (issue #11).

The emulator plays Telegram, answering 429 with ``retry_after`` where a test asks; the
limiter's sleep is injected, so no test waits out a real flood wait: each waits on the
emulator's received messages (events) only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.content.render import Screen
from bot.emulator.server import BotApiEmulator
from bot.emulator.spec import BotApiSpec
from bot.runtime import Server
from bot.telegram.app import build_bot
from bot.telegram.limits import TelegramLimits
from bot.telegram.port import TelegramChatPort
from tests.conftest import emulator_on_own_port, running_preview
from tests.helpers import bot_messages
from tests.staff_helpers import PASSWORD, new_request

TOKEN = "123456789:AAF-rate-limit-test-token-abcdefghijk"
TOO_MANY = "Too Many Requests: retry after 3"


class EveryOther:
    """Stands in for the emulator's queue of injected errors: a 429 for every other call."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.calls = 0
        self.refused = 0

    def __bool__(self) -> bool:
        self.calls += 1
        return self.calls % 2 == 1

    def popleft(self) -> dict[str, Any]:
        self.refused += 1
        return {
            "ok": False,
            "error_code": 429,
            "description": TOO_MANY,
            "parameters": {"retry_after": 3},
        }


class Sleeps:
    """The limiter's sleep: records each wait and only yields (no real time passes)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
async def telegram(spec: BotApiSpec) -> AsyncIterator[BotApiEmulator]:
    async with emulator_on_own_port(spec, TOKEN) as emulator:
        yield emulator
    assert emulator.problems == [], emulator.problems


async def _bot(emulator: BotApiEmulator, limits: TelegramLimits) -> Any:
    bot = build_bot(TOKEN, emulator.base_url, limits=limits)
    await bot.initialize()
    return bot


def _refuse_every_other(emulator: BotApiEmulator, method: str) -> EveryOther:
    refusals = EveryOther(method)
    emulator._injected[method] = refusals  # type: ignore[assignment]
    return refusals


async def test_fifty_confirmations_all_arrive_when_every_other_call_gets_429(
    telegram: BotApiEmulator,
) -> None:
    sleeps = Sleeps()
    limits = TelegramLimits(sleep=sleeps)
    bot = await _bot(telegram, limits)
    chats = [telegram.new_private_chat() for _ in range(50)]
    refusals = _refuse_every_other(telegram, "sendMessage")
    try:
        screens = [Screen(f"✓ Request ABC-{i:03d} sent.") for i in range(50)]
        sent = await asyncio.gather(
            *(TelegramChatPort(bot, chat).send(s) for chat, s in zip(chats, screens, strict=True))
        )
        await telegram.wait_idle()
    finally:
        await bot.shutdown()
    assert all(len(ids) == 1 for ids in sent), "a confirmation was dropped"
    for chat, screen in zip(chats, screens, strict=True):
        assert [m["text"] for m in bot_messages(telegram, chat)] == [screen.text]
    assert refusals.refused >= 25 and limits.retried == refusals.refused
    assert sleeps.waits and all(wait == pytest.approx(3.1) for wait in sleeps.waits)


async def test_a_429_pauses_every_call_until_its_wait_is_over(telegram: BotApiEmulator) -> None:
    release = asyncio.Event()
    waiting = asyncio.Event()

    async def held_sleep(seconds: float) -> None:
        waiting.set()
        await release.wait()

    limits = TelegramLimits(sleep=held_sleep)
    bot = await _bot(telegram, limits)
    first, second = telegram.new_private_chat(), telegram.new_private_chat()
    telegram.fail_next("sendMessage", 429, TOO_MANY, retry_after=3)
    try:
        refused = asyncio.create_task(TelegramChatPort(bot, first).send(Screen("one")))
        await waiting.wait()  # the 429 came back: the limiter is in its flood wait
        other = asyncio.create_task(TelegramChatPort(bot, second).send(Screen("two")))
        await telegram.wait_idle()  # nothing is under way: the second call is held back
        assert bot_messages(telegram, second) == [] and not other.done()
        release.set()
        assert await refused == [1] and await other == [1]
    finally:
        await bot.shutdown()
    assert [m["text"] for m in bot_messages(telegram, first)] == ["one"]


async def test_a_429_after_the_retries_is_reported_not_raised(telegram: BotApiEmulator) -> None:
    limits = TelegramLimits(sleep=Sleeps(), max_retries=2)
    bot = await _bot(telegram, limits)
    chat = telegram.new_private_chat()
    for _ in range(3):
        telegram.fail_next("sendMessage", 429, TOO_MANY, retry_after=3)
    try:
        assert await TelegramChatPort(bot, chat).send(Screen("lost")) == []
        assert await TelegramChatPort(bot, chat).send(Screen("next")) == [1]
    finally:
        await bot.shutdown()
    assert limits.retried == 2


async def test_a_chats_new_messages_wait_for_its_bucket_while_other_chats_go_on(
    telegram: BotApiEmulator,
) -> None:
    # One message at once per chat, then one an hour: the second waits, others do not.
    limits = TelegramLimits(chat_burst=1, chat_per_second=1 / 3600)
    bot = await _bot(telegram, limits)
    busy, other = telegram.new_private_chat(), telegram.new_private_chat()
    try:
        assert await TelegramChatPort(bot, busy).send(Screen("first")) == [1]
        held = asyncio.create_task(TelegramChatPort(bot, busy).send(Screen("second")))
        assert await TelegramChatPort(bot, other).send(Screen("elsewhere")) == [1]
        # An edit is not a new message: it does not wait for the chat's bucket.
        port = TelegramChatPort(bot, busy)
        assert await port.edit(1, Screen("first, edited"))
        await telegram.wait_idle()
        assert not held.done()
        assert [m["text"] for m in bot_messages(telegram, busy)] == ["first, edited"]
        held.cancel()
    finally:
        await bot.shutdown()


async def test_a_groups_calls_take_from_the_groups_bucket() -> None:
    limits = TelegramLimits(group_per_minute=1)
    calls: list[str] = []

    async def call(name: str) -> dict[str, Any]:
        calls.append(name)
        return {"message_id": len(calls)}

    async def send(chat_id: int | str, name: str) -> Any:
        return await limits.process_request(
            call, (name,), {}, "sendMessage", {"chat_id": chat_id}, None
        )

    await send(-100123, "group 1")
    held = asyncio.create_task(send(-100123, "group 2"))
    await send("@channel", "channel 1")
    await send(42, "private 1")
    assert calls == ["group 1", "channel 1", "private 1"] and not held.done()
    held.cancel()


async def test_a_staff_reply_after_a_429_is_delivered_and_marked_delivered(
    database_url: str, tmp_path: Path, spec: BotApiSpec
) -> None:
    async with running_preview(database_url, tmp_path, spec) as server:
        assert server.core is not None
        await server.core.staff.create("anna", PASSWORD, "staff", frozenset({"laholm"}))
        await _reply_after_429(server)


async def _reply_after_429(server: Server) -> None:
    assert server.core is not None and server.emulator is not None
    assert server.application is not None
    limits = server.application.bot.rate_limiter
    assert isinstance(limits, TelegramLimits)
    sleeps = Sleeps()
    limits.sleep = sleeps
    chat = server.emulator.new_private_chat(language_code="sv")
    created = await new_request(server, chat_id=chat)
    staff = await server.core.staff.authenticate("anna", PASSWORD)
    assert staff is not None
    await server.core.cases.claim(staff, created.code)
    server.emulator.fail_next("sendMessage", 429, TOO_MANY, retry_after=3)
    shown = await server.core.cases.reply(staff, created.code, "Hej, vi hörs i morgon.")
    assert shown.delivery == "sent"
    assert sleeps.waits == [pytest.approx(3.1)] and limits.retried == 1
    texts = [m["text"] for m in bot_messages(server.emulator, chat)]
    assert len(texts) == 1 and "Hej, vi hörs i morgon." in texts[0]
    detail = await server.core.cases.detail(staff, created.code)
    assert [m.delivery for m in detail.messages if m.author == "staff"] == ["sent"]
