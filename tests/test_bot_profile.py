"""The first thing a relative sees: description, short description and commands per language.

Set at start for every enabled language, read back through the spec-checking emulator,
and written only when they changed.
"""

from __future__ import annotations

import gettext
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from types import SimpleNamespace
from typing import Any, cast

import pytest
from aiohttp.test_utils import TestServer
from babel import Locale
from telegram import Bot
from telegram.request import HTTPXRequest

from bot.content.model import Content, Language
from bot.emulator.server import BotApiEmulator
from bot.emulator.spec import BotApiSpec
from bot.i18n import Translator
from bot.runtime import Server
from bot.telegram.profile import (
    DESCRIPTION_LIMIT,
    SHORT_DESCRIPTION_LIMIT,
    ProfileResult,
    bot_commands,
    bot_description,
    bot_short_description,
    publish_profile,
)

TOKEN = "123456:PROFILE-test-token"
SETTERS = ("setMyDescription", "setMyShortDescription", "setMyCommands")
Validator = Callable[[str, dict[str, Any]], list[str]]


class _Replacing(gettext.NullTranslations):
    """A catalog that translates some msgids (the rest fall back to the English msgid)."""

    def __init__(self, table: dict[str, str]) -> None:
        super().__init__()
        self.table = table

    def gettext(self, message: str) -> str:
        return self.table.get(message, message)


def translator(code: str, table: dict[str, str] | None = None) -> Translator:
    return Translator(code, "ltr", _Replacing(table or {}), Locale.parse(code))


def fake_content(number: str | None = "112") -> Content:
    """Only what publish_profile reads: languages, base language, the emergency number."""
    return cast(
        Content,
        SimpleNamespace(
            enabled_languages=[
                Language("sv", "Svenska", enabled=True),
                Language("en", "English", enabled=True),
            ],
            base_language="sv",
            national={"emergency": SimpleNamespace(number=number)} if number else {},
        ),
    )


def setter_calls(emulator: BotApiEmulator, since: int = 0) -> list[tuple[str, dict[str, Any]]]:
    return [(name, params) for name, params in emulator.calls[since:] if name in SETTERS]


@pytest.fixture
async def make_emulator(
    aiohttp_server: Callable[..., Awaitable[TestServer]], spec: BotApiSpec
) -> Callable[..., Awaitable[BotApiEmulator]]:
    async def factory(validator: Validator | None = None) -> BotApiEmulator:
        emulator = BotApiEmulator(TOKEN, validator=validator or spec.validate_call)
        server = await aiohttp_server(emulator.make_app())
        emulator.set_server_origin(str(server.make_url("")))
        return emulator

    return factory


@pytest.fixture
async def emu(make_emulator: Callable[..., Awaitable[BotApiEmulator]]) -> BotApiEmulator:
    return await make_emulator()


@pytest.fixture
async def bot(emu: BotApiEmulator) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=emu.base_url) as the_bot:
        yield the_bot


# ---------------------------------------------------------------- the real start


async def test_start_sets_every_enabled_language_and_a_second_publish_sets_nothing(
    preview_server: Server,
) -> None:
    core, emulator = preview_server.core, preview_server.emulator
    assert core is not None and emulator is not None and preview_server.application is not None
    bot = preview_server.application.bot
    number = core.content.national["emergency"].number
    languages = core.content.enabled_languages
    assert {lang.code for lang in languages} >= {"sv", "en"}
    for language in languages:
        t = core.translators[language.code]
        code = None if language.code == core.content.base_language else language.code
        description = (await bot.get_my_description(language_code=code)).description
        short = (await bot.get_my_short_description(language_code=code)).short_description
        commands = await bot.get_my_commands(language_code=code)
        assert description == bot_description(t, number)
        assert number in description
        assert 0 < len(description) <= DESCRIPTION_LIMIT
        assert short == bot_short_description(t)
        assert 0 < len(short) <= SHORT_DESCRIPTION_LIMIT
        assert [(c.command, c.description) for c in commands] == [
            (c.command, c.description) for c in bot_commands(t)
        ]
        assert "status" in [c.command for c in commands]
    first = setter_calls(emulator)
    assert len(first) == 3 * len(languages)
    # the base language is the default (no language_code), the others carry theirs
    assert {p.get("language_code") for _, p in first} == {
        None if lang.code == core.content.base_language else lang.code for lang in languages
    }

    before = len(emulator.calls)
    result = await publish_profile(bot, core.content, core.translators)
    assert result == ProfileResult(updated=0, unchanged=3 * len(languages), failed=0)
    assert setter_calls(emulator, before) == []


# ---------------------------------------------------------------- only what changed


async def test_first_publish_sets_all_then_nothing(emu: BotApiEmulator, bot: Bot) -> None:
    translators = {"sv": translator("sv"), "en": translator("en")}
    first = await publish_profile(bot, fake_content(), translators)
    assert first == ProfileResult(updated=6, unchanged=0, failed=0)
    assert emu.descriptions[("description", "")] == bot_description(translators["sv"], "112")
    assert "call 112." in emu.descriptions[("description", "en")]

    before = len(emu.calls)
    second = await publish_profile(bot, fake_content(), translators)
    assert second == ProfileResult(updated=0, unchanged=6, failed=0)
    assert setter_calls(emu, before) == []
    assert emu.problems == []


async def test_a_changed_translation_makes_exactly_one_set_call(
    emu: BotApiEmulator, bot: Bot
) -> None:
    await publish_profile(bot, fake_content(), {"sv": translator("sv"), "en": translator("en")})
    changed = {
        "sv": translator("sv"),
        "en": translator(
            "en",
            {"Calm, anonymous guidance for worried relatives. Not an emergency service.": "New"},
        ),
    }
    before = len(emu.calls)
    result = await publish_profile(bot, fake_content(), changed)
    assert result == ProfileResult(updated=1, unchanged=5, failed=0)
    calls = setter_calls(emu, before)
    assert [(name, p.get("language_code")) for name, p in calls] == [
        ("setMyShortDescription", "en")
    ]
    assert (await bot.get_my_short_description(language_code="en")).short_description == "New"
    assert emu.problems == []


async def test_a_changed_emulator_state_is_put_back(emu: BotApiEmulator, bot: Bot) -> None:
    translators = {"sv": translator("sv"), "en": translator("en")}
    await publish_profile(bot, fake_content(), translators)
    emu.descriptions[("description", "")] = "Someone changed this in BotFather"
    before = len(emu.calls)
    result = await publish_profile(bot, fake_content(), translators)
    assert result.updated == 1
    calls = setter_calls(emu, before)
    assert [(name, p.get("language_code")) for name, p in calls] == [("setMyDescription", None)]
    assert emu.descriptions[("description", "")] == bot_description(translators["sv"], "112")

    # a new emergency number changes the description of every language, nothing else
    before = len(emu.calls)
    result = await publish_profile(bot, fake_content("911"), translators)
    assert result == ProfileResult(updated=2, unchanged=4, failed=0)
    assert {name for name, _ in setter_calls(emu, before)} == {"setMyDescription"}
    assert "call 911." in (await bot.get_my_description(language_code="en")).description
    assert emu.problems == []


async def test_texts_stay_within_the_bot_api_limits(emu: BotApiEmulator, bot: Bot) -> None:
    for code in ("sv", "en"):
        t = translator(code)
        assert len(bot_description(t, "112")) <= DESCRIPTION_LIMIT
        assert len(bot_description(t, None)) <= DESCRIPTION_LIMIT
        assert "call ." not in bot_description(t, None)
        assert len(bot_short_description(t)) <= SHORT_DESCRIPTION_LIMIT
    # a translator who writes too much is cut to the limit, never refused by Telegram
    wordy = {
        msgid: "Ord " * 300
        for msgid in (
            bot_description(translator("en"), None),
            "Calm, anonymous guidance for worried relatives. Not an emergency service.",
        )
    }
    translators = {"sv": translator("sv", wordy), "en": translator("en")}
    result = await publish_profile(bot, fake_content(None), translators)
    assert result.failed == 0
    assert len(emu.descriptions[("description", "")]) == DESCRIPTION_LIMIT
    assert len(emu.descriptions[("short_description", "")]) <= SHORT_DESCRIPTION_LIMIT
    assert emu.problems == []


# ---------------------------------------------------------------- failures never stop the start


async def test_a_telegram_error_is_logged_by_type_and_does_not_raise(
    make_emulator: Callable[..., Awaitable[BotApiEmulator]],
    spec: BotApiSpec,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def refuse_english_description(name: str, params: dict[str, Any]) -> list[str]:
        if name == "setMyDescription" and params.get("language_code") == "en":
            return ["refused for the test"]
        return spec.validate_call(name, params)

    emulator = await make_emulator(refuse_english_description)
    translators = {"sv": translator("sv"), "en": translator("en")}
    caplog.set_level(logging.WARNING, logger="bot.telegram.profile")
    async with Bot(TOKEN, base_url=emulator.base_url) as bot:
        result = await publish_profile(bot, fake_content(), translators)
    assert result == ProfileResult(updated=5, unchanged=0, failed=1)
    messages = [r.getMessage() for r in caplog.records if r.name == "bot.telegram.profile"]
    assert messages == ["setMyDescription failed for en: BadRequest"]  # no text, no reason
    assert emulator.descriptions.get(("description", "en")) is None
    assert emulator.descriptions[("short_description", "en")]


async def test_telegram_unreachable_is_logged_and_does_not_raise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tests.conftest import free_port

    caplog.set_level(logging.WARNING, logger="bot.telegram.profile")
    request = HTTPXRequest()
    bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{free_port()}/bot", request=request)
    try:
        result = await publish_profile(
            bot, fake_content(), {"sv": translator("sv"), "en": translator("en")}
        )
    finally:
        await request.shutdown()
    # each read fails, each write is still tried (the value is unknown) and fails too
    assert result == ProfileResult(updated=0, unchanged=0, failed=12)
    assert all(
        r.getMessage().endswith(": NetworkError")
        for r in caplog.records
        if r.name == "bot.telegram.profile"
    )
