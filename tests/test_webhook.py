"""`serve` in webhook mode: the emulator plays Telegram and posts updates to our route."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.emulator.server import BotApiEmulator
from bot.emulator.spec import BotApiSpec
from bot.runtime import Server
from tests.conftest import _reset_postgres, emulator_on_own_port, free_port, make_settings
from tests.helpers import Relative, button_data

TOKEN = "123456789:AAF-webhook-test-token-abcdefghijklmno"
SECRET = "webhook-secret_0123456789"


@pytest.fixture
async def telegram(spec: BotApiSpec) -> AsyncIterator[BotApiEmulator]:
    """The emulator on its own port, as Telegram's servers would be."""
    async with emulator_on_own_port(spec, TOKEN) as emulator:
        yield emulator
    assert emulator.problems == [], emulator.problems


@pytest.fixture
async def webhook_server(
    database_url: str, tmp_path: Path, telegram: BotApiEmulator
) -> AsyncIterator[Server]:
    if database_url.startswith("postgresql"):
        await asyncio.to_thread(_reset_postgres, database_url)
    port = free_port()
    settings = make_settings(
        database_url,
        tmp_path,
        PORT=str(port),
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=telegram.base_url,
        WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram/webhook",
        WEBHOOK_SECRET=SECRET,
    )
    server = Server(settings)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_webhook_is_registered_with_secret(
    webhook_server: Server, telegram: BotApiEmulator
) -> None:
    calls = [params for method, params in telegram.calls if method == "setWebhook"]
    assert calls and calls[-1]["secret_token"] == SECRET
    assert str(calls[-1]["url"]).endswith("/telegram/webhook")


async def test_relative_is_guided_through_webhook(
    webhook_server: Server, telegram: BotApiEmulator
) -> None:
    relative = Relative(telegram, language_code="sv")
    home = await relative.onboard("sv", "botkyrka")
    assert "g:worry" in button_data(home)
    screen = await relative.taps("g:muni")
    screen = await relative.taps("g:municipality")
    assert "Botkyrka" in screen["text"]


@pytest.mark.parametrize(
    "headers,status",
    [
        ({}, 403),
        ({"X-Telegram-Bot-Api-Secret-Token": "wrong"}, 403),
        ({"X-Telegram-Bot-Api-Secret-Token": SECRET + "x"}, 403),
    ],
)
async def test_webhook_rejects_missing_or_wrong_secret(
    webhook_server: Server, headers: dict, status: int
) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{webhook_server.origin}/telegram/webhook", json={"update_id": 1}, headers=headers
        ) as response,
    ):
        assert response.status == status


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"no": "update_id"}', b"\xff\xfe"])
async def test_webhook_answers_malformed_bodies_and_survives(
    webhook_server: Server, telegram: BotApiEmulator, body: bytes
) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{webhook_server.origin}/telegram/webhook",
            data=body,
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
        ) as response:
            # Permanently unprocessable: acknowledged, so Telegram does not redeliver it.
            assert response.status == 200
            assert (await response.json())["ignored"] == "not an update"
        async with session.get(f"{webhook_server.origin}/health") as response:
            assert response.status == 200
    relative = Relative(telegram)
    reply = await relative.says("/start")
    assert reply["text"]


async def test_button_is_answered_in_the_webhook_response(
    webhook_server: Server, telegram: BotApiEmulator, spec: BotApiSpec
) -> None:
    """The spinner stops through the webhook reply: no request of its own, still spec-valid."""
    relative = Relative(telegram, language_code="sv")
    await relative.onboard("sv", "laholm")
    answered_before = sum(1 for m, _ in telegram.calls if m == "answerCallbackQuery")
    await relative.taps("g:worry")
    answers = [p for m, p in telegram.calls if m == "answerCallbackQuery"]
    assert len(answers) == answered_before + 1

    update = {
        "update_id": 990001,
        "callback_query": {
            "id": "4242",
            "chat_instance": "ci",
            "from": {"id": 777, "is_bot": False, "first_name": "X", "language_code": "sv"},
            "data": "g:worry",
            "message": {
                "message_id": 1,
                "date": 1,
                "chat": {"id": 777, "type": "private"},
                "text": "old",
            },
        },
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{webhook_server.origin}/telegram/webhook",
            json=update,
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
        ) as response,
    ):
        assert response.status == 200
        body = await response.json()
    assert body["method"] == "answerCallbackQuery"
    assert body["callback_query_id"] == "4242"
    params = {k: v for k, v in body.items() if k != "method"}
    assert list(spec.validate_call("answerCallbackQuery", params)) == []
