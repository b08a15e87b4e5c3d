"""`serve` in webhook mode: the emulator plays Telegram and posts updates to our route."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from bot.emulator.server import BotApiEmulator
from bot.emulator.spec import BotApiSpec
from bot.runtime import Server
from tests.conftest import emulator_on_own_port
from tests.helpers import Relative, button_data
from tests.webhook_helpers import post_update, webhook_serving

TOKEN = "123456789:AAF-webhook-test-token-abcdefghijklmno"
SECRET = "webhook-secret_0123456789"

# One emulator and one server per database for the module's tests: none needs a fresh one
# (each relative is a new chat; the counts are taken before and after).
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def telegram(spec: BotApiSpec) -> AsyncIterator[BotApiEmulator]:
    """The emulator on its own port, as Telegram's servers would be."""
    async with emulator_on_own_port(spec, TOKEN) as emulator:
        yield emulator
    assert emulator.problems == [], emulator.problems


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def webhook_server(
    module_database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    telegram: BotApiEmulator,
) -> AsyncIterator[Server]:
    tmp = tmp_path_factory.mktemp("webhook")
    async with webhook_serving(module_database_url, tmp, telegram, SECRET) as server:
        yield server


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
        status, answer = await post_update(session, webhook_server, SECRET, data=body)
        # Permanently unprocessable: acknowledged, so Telegram does not redeliver it.
        assert status == 200
        assert answer["ignored"] == "not an update"
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
    async with aiohttp.ClientSession() as session:
        status, body = await post_update(session, webhook_server, SECRET, json=update)
    assert status == 200
    assert body["method"] == "answerCallbackQuery"
    assert body["callback_query_id"] == "4242"
    params = {k: v for k, v in body.items() if k != "method"}
    assert list(spec.validate_call("answerCallbackQuery", params)) == []
