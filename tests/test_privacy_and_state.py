"""Privacy rules and durable state, proven on the real product after real conversations."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, func, select

from bot.emulator.server import BotApiEmulator
from bot.runtime import Server
from tests.conftest import _reset_postgres, make_settings
from tests.helpers import Relative, button_data

SECRET_TEXT = "Min bror Zebulon Quist på Kvarngatan 12 chattar med en grupp"
NAME = "Zebulonia"
USERNAME = "zeb_quist_77"
# What the scripted session tells the bot that must never be stored or logged.
TOLD = (NAME, USERNAME, "Zebulon", "Kvarngatan", "46701234567")


async def dump_tables(server: Server) -> list[str]:
    """Every value of every row of every table, as text."""
    engine = server.core.engine
    metadata = MetaData()
    async with engine.connect() as conn:
        await conn.run_sync(metadata.reflect)
        values: list[str] = []
        for table in metadata.sorted_tables:
            for row in (await conn.execute(select(table))).all():
                values.extend(str(v) for v in row)
    return values


def private_chat_with_identity(emulator: BotApiEmulator) -> Relative:
    relative = Relative(emulator)
    relative.chat_id = emulator.new_private_chat(
        language_code="sv", first_name=NAME, username=USERNAME
    )
    return relative


async def scripted_session(relative: Relative) -> None:
    await relative.onboard("sv", "botkyrka")
    await relative.taps("g:worry")
    await relative.taps("g:worry_check")
    await relative.taps("a:worry_check:safe")
    await relative.says(SECRET_TEXT)
    await relative.sends("photo")
    await relative.says(f"@{USERNAME} +46701234567")
    await relative.says("/privacy")


async def test_no_identifier_or_text_in_any_table(preview_server: Server) -> None:
    relative = private_chat_with_identity(preview_server.emulator)
    await scripted_session(relative)
    values = await dump_tables(preview_server)
    assert values, "the session should have stored its state"
    dump = "\n".join(values)
    for forbidden in (str(relative.chat_id), *TOLD):
        assert forbidden not in dump, forbidden


async def test_logs_carry_no_identifier_or_text(
    preview_server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    relative = private_chat_with_identity(preview_server.emulator)
    await scripted_session(relative)
    await relative.taps("x", from_older_message=True)  # a stray cancel, for good measure
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert caplog.records, "expected some log output to inspect"
    token = preview_server.settings.telegram_bot_token or "PREVIEW"
    for forbidden in (str(relative.chat_id), *TOLD, token):
        assert forbidden not in logged, forbidden


async def test_delete_erases_everything_about_the_chat(preview_server: Server) -> None:
    relative = Relative(preview_server.emulator)
    other = Relative(preview_server.emulator)
    await relative.onboard()
    await other.onboard()
    question = await relative.says("/delete")
    assert "d:y" in button_data(question)
    done = await relative.taps("d:y")
    assert "raderat" in done["text"]
    table = await _session_rows(preview_server)
    assert table == 1, "only the other relative's state remains"
    welcome = await relative.says("/start")
    assert "l:sv" in button_data(welcome), "a deleted chat starts from the beginning"


async def _session_rows(server: Server) -> int:
    from bot.storage.models import ChatSession

    async with server.core.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(ChatSession))).scalar_one()


async def test_clear_chat_removes_both_sides_of_the_conversation(preview_server: Server) -> None:
    emulator = preview_server.emulator
    relative = Relative(emulator)
    await relative.onboard()
    await relative.taps("g:talk")
    await relative.says("hej")
    await relative.says("/help")
    assert len(emulator.visible_messages(relative.chat_id)) >= 5
    question = await relative.says("/clear")
    await relative.taps("c:y", question)
    left = emulator.visible_messages(relative.chat_id)
    assert len(left) == 1 and left[0]["from_bot"], left
    assert "rensad" in left[0]["text"]


async def test_delete_and_clear_together(preview_server: Server) -> None:
    emulator = preview_server.emulator
    relative = Relative(emulator)
    await relative.onboard()
    await relative.says("/privacy")
    question = await relative.says("/delete")
    await relative.taps("d:yc", question)
    left = emulator.visible_messages(relative.chat_id)
    assert len(left) == 1 and "raderat" in left[0]["text"]
    assert await _session_rows(preview_server) == 0


async def test_state_survives_a_restart(database_url: str, tmp_path: Path, spec: Any) -> None:
    """A new process on the same database remembers language, municipality and buttons."""
    if database_url.startswith("postgresql"):
        await asyncio.to_thread(_reset_postgres, database_url)
    settings = make_settings(database_url, tmp_path)
    first = Server(settings, preview=True, spec_validator=spec.validate_call)
    await first.start()
    try:
        relative = Relative(first.emulator, language_code="en")
        await relative.onboard("en", "botkyrka")
        await relative.taps("g:talk")
    finally:
        await first.stop()

    second = Server(settings, preview=True, spec_validator=spec.validate_call)
    await second.start()
    try:
        # Same chat id in the new emulator: the relative's Telegram chat is the same chat.
        emulator = second.emulator
        again = Relative(emulator)
        again.chat_id = emulator.new_private_chat(language_code="en", chat_id=relative.chat_id)
        home = await again.says("/start")
        assert "g:worry" in button_data(home), "language and municipality were remembered"
        screen = await again.taps("g:municipality", from_older_message=True)
        assert "Botkyrka" in screen["text"]
        assert second.emulator.problems == []
    finally:
        await second.stop()
