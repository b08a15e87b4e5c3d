"""Tests for the local Telegram Bot API emulator, driven by a real python-telegram-bot Bot."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, ReplyKeyboardMarkup, Update
from telegram.error import BadRequest, Conflict, InvalidToken
from telegram.ext import ApplicationBuilder, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.emulator import server as emulator_module
from bot.emulator.server import EMULATOR_KEY, BotApiEmulator, html_to_text
from bot.runtime import report_processed

TOKEN = "123456:TEST-token_abc"

ServerFactory = Callable[..., Awaitable[TestServer]]
ClientFactory = Callable[..., Awaitable[TestClient]]


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d)] for t, d in pairs])


@pytest.fixture
async def make_emulator(
    aiohttp_server: ServerFactory,
) -> Callable[..., Awaitable[tuple[BotApiEmulator, TestServer]]]:
    async def factory(**kwargs: Any) -> tuple[BotApiEmulator, TestServer]:
        emulator = BotApiEmulator(TOKEN, **kwargs)
        server = await aiohttp_server(emulator.make_app())
        emulator.set_server_origin(str(server.make_url("")))
        return emulator, server

    return factory


@pytest.fixture
async def emu(make_emulator: Any) -> BotApiEmulator:
    emulator, _ = await make_emulator()
    return emulator


@pytest.fixture
async def bot(emu: BotApiEmulator) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=emu.base_url) as the_bot:
        yield the_bot


@pytest.fixture
async def http(emu: BotApiEmulator) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(emu.base_url.removesuffix("/emu/bot")) as session:
        yield session


# ---------------------------------------------------------------- Bot API basics


async def test_get_me_and_base_url(emu: BotApiEmulator, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.username == "preview_helper_bot"
    assert me.first_name == "Guide"
    assert me.id == 123456
    assert me.is_bot
    assert emu.base_url.endswith("/emu/bot")
    assert emu.calls[0][0] == "getMe"
    assert emu.problems == []


async def test_wrong_token_is_unauthorized(emu: BotApiEmulator) -> None:
    with pytest.raises(InvalidToken):
        async with Bot("999:wrong", base_url=emu.base_url):
            pass


async def test_unknown_method_is_404_and_noted(emu: BotApiEmulator, http: Any) -> None:
    async with http.post(f"/emu/bot{TOKEN}/sendDice", json={"chat_id": 1}) as resp:
        assert resp.status == 404
        assert await resp.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    assert emu.calls[-1] == ("sendDice", {"chat_id": 1})
    assert any("sendDice" in p for p in emu.problems)


async def test_params_as_json_form_and_get(emu: BotApiEmulator, http: Any) -> None:
    chat_id = emu.new_private_chat()
    async with http.post(
        f"/emu/bot{TOKEN}/sendMessage", json={"chat_id": chat_id, "text": "123"}
    ) as resp:
        body = await resp.json()
        assert body["ok"] and body["result"]["text"] == "123"
    markup = json.dumps({"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]})
    form = {"chat_id": str(chat_id), "text": "true", "reply_markup": markup}
    async with http.post(f"/emu/bot{TOKEN}/sendmessage", data=form) as resp:
        result = (await resp.json())["result"]
    assert result["text"] == "true"  # text stays a string even when it looks like JSON
    assert result["reply_markup"] == json.loads(markup)
    multipart = aiohttp.FormData({"chat_id": str(chat_id), "text": "multi"})
    multipart.add_field("photo", b"\x89PNG", filename="x.png")  # forces multipart
    async with http.post(f"/emu/bot{TOKEN}/sendMessage", data=multipart) as resp:
        assert (await resp.json())["result"]["text"] == "multi"
    async with http.get(f"/emu/bot{TOKEN}/getMe") as resp:
        assert (await resp.json())["result"]["username"] == "preview_helper_bot"
    async with http.post(
        f"/emu/bot{TOKEN}/getMe", data=b"{oops", headers={"Content-Type": "application/json"}
    ) as resp:
        assert resp.status == 400
    sent = [params for method, params in emu.calls if method == "sendMessage"]
    assert sent[1]["chat_id"] == chat_id and sent[1]["text"] == "true"


# ---------------------------------------------------------------- messages


async def test_send_message_with_keyboard_then_button_press(emu: BotApiEmulator, bot: Bot) -> None:
    chat_id = emu.new_private_chat(language_code="en", first_name="Sam")
    message = await bot.send_message(
        chat_id,
        "<b>Hej</b> &amp; welcome",
        parse_mode="HTML",
        reply_markup=keyboard(("Yes", "yes"), ("No", "no")),
    )
    assert message.text == "Hej & welcome"
    assert message.entities[0].type == "bold" and message.entities[0].length == 3
    assert message.chat.id == chat_id and message.chat.type == "private"
    assert message.from_user is not None and message.from_user.is_bot
    assert message.reply_markup == keyboard(("Yes", "yes"), ("No", "no"))
    second = await bot.send_message(chat_id, "again")
    assert second.message_id == message.message_id + 1

    [shown, _] = emu.visible_messages(chat_id)
    assert shown["from_bot"] is True
    assert shown["html"] == "<b>Hej</b> &amp; welcome"
    assert shown["text"] == "Hej & welcome"
    assert shown["reply_markup"]["inline_keyboard"][1][0]["callback_data"] == "no"
    assert shown["edited"] is False

    update = await emu.user_presses_button(chat_id, message.message_id, "no")
    [got] = await bot.get_updates(timeout=0)
    assert got.update_id == update["update_id"]
    query = got.callback_query
    assert query is not None and query.data == "no"
    assert query.from_user.id == chat_id and query.from_user.language_code == "en"
    assert query.message is not None and query.message.message_id == message.message_id

    assert await bot.answer_callback_query(query.id, text="Noted")
    assert emu.callback_queries[query.id]["answer"]["text"] == "Noted"
    assert emu.unanswered_callback_queries() == []
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(query.id)
    with pytest.raises(ValueError):
        await emu.user_presses_button(chat_id, message.message_id, "maybe")
    with pytest.raises(ValueError):
        await emu.user_presses_button(chat_id, second.message_id, "yes")
    stale = await emu.user_presses_button(
        chat_id, message.message_id, "maybe", require_button=False
    )
    assert stale["callback_query"]["data"] == "maybe"
    assert emu.problems == []


async def test_edit_message_in_place_and_not_modified(emu: BotApiEmulator, bot: Bot) -> None:
    chat_id = emu.new_private_chat()
    first = await bot.send_message(chat_id, "Question?", reply_markup=keyboard(("A", "a")))
    await bot.send_message(chat_id, "after")
    edited = await bot.edit_message_text(
        "<i>Answered</i>", chat_id=chat_id, message_id=first.message_id, parse_mode="HTML"
    )
    assert not isinstance(edited, bool)
    assert edited.text == "Answered" and edited.edit_date is not None
    assert edited.reply_markup is None  # editing text without markup drops the keyboard
    shown = emu.visible_messages(chat_id)
    assert [m["text"] for m in shown] == ["Answered", "after"]
    assert shown[0]["edited"] is True and shown[0]["reply_markup"] is None

    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text(
            "<em>Answered</em>", chat_id=chat_id, message_id=first.message_id, parse_mode="HTML"
        )
    await bot.edit_message_reply_markup(
        chat_id, first.message_id, reply_markup=keyboard(("B", "b"))
    )
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_reply_markup(
            chat_id, first.message_id, reply_markup=keyboard(("B", "b"))
        )
    assert emu.visible_messages(chat_id)[0]["reply_markup"]["inline_keyboard"][0][0]["text"] == "B"
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", chat_id=chat_id, message_id=999)
    user_update = await emu.user_sends_text(chat_id, "mine")
    with pytest.raises(BadRequest, match=r"(?i)can't be edited"):
        await bot.edit_message_text(
            "x", chat_id=chat_id, message_id=user_update["message"]["message_id"]
        )
    assert emu.problems == []


async def test_delete_messages(emu: BotApiEmulator, bot: Bot) -> None:
    chat_id = emu.new_private_chat()
    sent = await bot.send_message(chat_id, "bye")
    incoming = await emu.user_sends_text(chat_id, "hello")
    assert await bot.delete_message(chat_id, sent.message_id)
    assert [m["text"] for m in emu.visible_messages(chat_id)] == ["hello"]
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(chat_id, sent.message_id)
    more = [await bot.send_message(chat_id, f"m{i}") for i in range(3)]
    ids = [incoming["message"]["message_id"], *(m.message_id for m in more)]
    assert await bot.delete_messages(chat_id, ids)
    assert emu.visible_messages(chat_id) == []
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(424242, "nobody")


async def test_text_rules_html_and_length(emu: BotApiEmulator, bot: Bot) -> None:
    chat_id = emu.new_private_chat()
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(chat_id, "<div>nope</div>", parse_mode="HTML")
    assert any("can't parse entities" in p for p in emu.problems)
    emu.problems.clear()
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(chat_id, "x" * 4097)
    ok = await bot.send_message(chat_id, "<b>" + "y" * 4096 + "</b>", parse_mode="HTML")
    assert len(ok.text or "") == 4096  # the limit counts visible text, not markup
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(chat_id, "k", reply_markup=keyboard(("Long", "d" * 65)))
    with pytest.raises(ValueError):
        await emu.user_sends_text(chat_id, "z" * 4097)
    text, entities = html_to_text('<a href="https://x.se">länk</a> 😀 <tg-spoiler>s</tg-spoiler>')
    assert text == "länk 😀 s"
    assert entities[0] == {"type": "text_link", "url": "https://x.se", "offset": 0, "length": 4}
    assert entities[1] == {"type": "spoiler", "offset": 8, "length": 1}  # emoji = 2 UTF-16 units


async def test_commands_descriptions_and_misc(emu: BotApiEmulator, bot: Bot) -> None:
    from telegram import BotCommand, BotCommandScopeAllPrivateChats, MenuButtonCommands

    chat_id = emu.new_private_chat(language_code="sv")
    assert await bot.set_my_commands([BotCommand("start", "Börja")], language_code="sv")
    assert await bot.set_my_commands(
        [BotCommand("help", "Help")], scope=BotCommandScopeAllPrivateChats()
    )
    assert [c.command for c in await bot.get_my_commands(language_code="sv")] == ["start"]
    assert await bot.get_my_commands(language_code="en") == ()
    assert await bot.set_my_description("Lugn vägledning", language_code="sv")
    assert await bot.set_my_short_description("Kort")
    assert (await bot.get_my_description(language_code="sv")).description == "Lugn vägledning"
    assert await bot.set_chat_menu_button(menu_button=MenuButtonCommands())
    assert await bot.send_chat_action(chat_id, "typing")
    snapshot = emu.snapshot(chat_id)
    assert snapshot["typing"] is True
    assert [c["command"] for c in snapshot["commands"]] == ["help"]  # private scope wins
    assert snapshot["description"] == "Lugn vägledning"
    assert await bot.delete_my_commands(scope=BotCommandScopeAllPrivateChats())
    assert [c["command"] for c in emu.snapshot(chat_id)["commands"]] == ["start"]
    await bot.send_message(
        chat_id, "pick", reply_markup=ReplyKeyboardMarkup([["Ja", "Nej"]], one_time_keyboard=True)
    )
    assert emu.current_reply_keyboard(chat_id) is not None
    await emu.user_sends_text(chat_id, "Ja")
    assert emu.current_reply_keyboard(chat_id) is None
    info = await bot.get_webhook_info()
    assert info.url == "" and info.pending_update_count == 1
    assert emu.problems == []


# ---------------------------------------------------------------- updates


async def test_long_polling_waits_and_wakes_up(emu: BotApiEmulator, bot: Bot) -> None:
    chat_id = emu.new_private_chat()
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == ()
    assert time.monotonic() - started >= 0.9

    polls = sum(1 for name, _ in emu.calls if name == "getUpdates")
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await emu.wait_until(
        lambda: (
            None
            if sum(1 for name, _ in emu.calls if name == "getUpdates") > polls
            else "the poll has not arrived"
        )
    )
    assert not poll.done()  # it arrived and waits: nothing to deliver yet
    await emu.user_sends_text(chat_id, "/start hello")
    updates = await asyncio.wait_for(poll, 3)
    message = updates[0].message
    assert message is not None and message.text == "/start hello"
    assert message.entities[0].type == "bot_command" and message.entities[0].length == 6
    assert message.from_user is not None and message.from_user.language_code == "sv"

    again = await bot.get_updates(timeout=0)  # not confirmed yet: delivered again
    assert [u.update_id for u in again] == [updates[0].update_id]
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == ()
    await emu.wait_idle()  # confirmed, and this bot does not report its processing


async def test_user_sends_odd_kinds_and_raw_updates(emu: BotApiEmulator, bot: Bot) -> None:
    chat_id = emu.new_private_chat()
    for kind in ("sticker", "photo", "voice", "document", "location", "contact"):
        await emu.user_sends(chat_id, kind)
    with pytest.raises(ValueError):
        await emu.user_sends(chat_id, "hologram")
    updates = await bot.get_updates(timeout=0)
    messages = [u.message for u in updates]
    assert all(m is not None for m in messages)
    assert messages[0].sticker is not None and messages[0].sticker.emoji == "🙂"
    assert messages[1].photo and messages[1].photo[-1].width == 1280
    assert messages[2].voice is not None and messages[2].voice.mime_type == "audio/ogg"
    assert messages[3].document is not None and messages[3].document.file_name == "notes.pdf"
    assert messages[4].location is not None
    assert messages[5].contact is not None and messages[5].contact.user_id == chat_id
    assert [m["kind"] for m in emu.visible_messages(chat_id)][:2] == ["sticker", "photo"]

    offset = updates[-1].update_id + 1
    user = {"id": chat_id, "is_bot": False, "first_name": "Test"}
    chat = {"id": chat_id, "type": "private", "first_name": "Test"}
    member = {"user": dict(emu.bot_user), "status": "kicked", "until_date": 0}
    await emu.deliver({"edited_message": {
        "message_id": 1, "date": 1, "edit_date": 2, "chat": chat, "from": user, "text": "e",
    }})  # fmt: skip
    await emu.deliver({"my_chat_member": {
        "chat": chat, "from": user, "date": 3, "old_chat_member": {**member, "status": "member"},
        "new_chat_member": member,
    }})  # fmt: skip
    await emu.deliver({"chat_member": {
        "chat": chat, "from": user, "date": 3, "old_chat_member": member,
        "new_chat_member": member,
    }})  # fmt: skip
    updates = await bot.get_updates(offset=offset, timeout=0)
    assert [bool(u.edited_message) for u in updates] == [True, False]
    assert updates[1].my_chat_member is not None  # chat_member is not a default update type
    await emu.deliver({"chat_member": {
        "chat": chat, "from": user, "date": 3, "old_chat_member": member,
        "new_chat_member": member,
    }})  # fmt: skip
    updates = await bot.get_updates(
        offset=updates[-1].update_id + 1, timeout=0, allowed_updates=["chat_member"]
    )
    assert len(updates) == 1 and updates[0].chat_member is not None


async def test_hand_built_updates_duplicates_and_raw_callbacks(
    emu: BotApiEmulator, bot: Bot
) -> None:
    chat_id = emu.new_private_chat()
    chat = {"id": chat_id, "type": "private"}
    user = {"id": chat_id, "is_bot": False, "first_name": "T"}
    update = {
        "update_id": emu.next_update_id(),
        "message": {"message_id": 9000, "date": 0, "text": "/help", "chat": chat, "from": user},
    }
    await emu.deliver(update)
    [first] = await bot.get_updates(timeout=0)
    assert first.update_id == update["update_id"]
    await emu.user_sends_text(chat_id, "later")
    [later] = await bot.get_updates(offset=first.update_id + 1, timeout=0)
    await emu.deliver(dict(update))  # a duplicate after the bot confirmed a higher offset
    [dup] = await bot.get_updates(offset=later.update_id + 1, timeout=0)
    assert dup.update_id == update["update_id"]  # reaches the bot once more, as a duplicate
    assert await bot.get_updates(offset=dup.update_id + 1, timeout=0) == ()
    assert [m["message_id"] for m in emu.visible_messages(chat_id)] == [9000, 9001]

    raw_query = {
        "id": "stale-1", "chat_instance": "1", "data": "gone", "from": user,
        "message": {"message_id": 9000, "date": 0, "chat": chat, "text": "x"},
    }  # fmt: skip
    await emu.deliver({"update_id": emu.next_update_id(), "callback_query": raw_query})
    [query] = await bot.get_updates(timeout=0)
    assert query.callback_query is not None
    assert await bot.answer_callback_query("stale-1", text="Old button")
    with pytest.raises(TimeoutError, match="not confirmed"):
        await emu.wait_idle(chat_id, timeout=0.1)  # the deadline is what this checks
    assert await bot.get_updates(offset=query.update_id + 1, timeout=0) == ()
    await emu.wait_idle(chat_id)


async def test_webhook_delivery_with_secret_and_order(
    emu: BotApiEmulator, bot: Bot, aiohttp_server: ServerFactory
) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []
    failures = {"left": 2}

    async def hook(request: web.Request) -> web.Response:
        if failures["left"]:
            failures["left"] -= 1
            return web.Response(status=500)
        received.append(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        return web.Response(text="ok")

    receiver = web.Application()
    receiver.router.add_post("/hook", hook)
    hook_server = await aiohttp_server(receiver)

    chat_id = emu.new_private_chat()
    await emu.user_sends_text(chat_id, "queued before the webhook")
    assert await bot.set_webhook(str(hook_server.make_url("/hook")), secret_token="s3cr-et_")
    for text in ("one", "two", "three"):
        await emu.user_sends_text(chat_id, text)
    await emu.wait_idle(chat_id)
    assert [body["message"]["text"] for _, body in received] == [
        "queued before the webhook", "one", "two", "three",
    ]  # fmt: skip
    assert {secret for secret, _ in received} == {"s3cr-et_"}
    assert emu.problems == []  # two 500s were retried successfully
    with pytest.raises(Conflict):
        await bot.get_updates(timeout=0)
    info = await bot.get_webhook_info()
    assert info.url.endswith("/hook") and info.pending_update_count == 0

    failures["left"] = 100
    await emu.user_sends_text(chat_id, "lost")
    await emu.wait_idle(chat_id)
    assert any("webhook delivery" in p for p in emu.problems)

    assert await bot.delete_webhook()
    await emu.user_sends_text(chat_id, "polling again")
    [update] = await bot.get_updates(timeout=0)
    assert update.message is not None and update.message.text == "polling again"


async def test_validator_failure_is_a_bad_request(make_emulator: Any) -> None:
    seen: list[str] = []

    def validator(method: str, params: dict[str, Any]) -> list[str]:
        seen.append(method)
        if method == "sendMessage" and params.get("text") == "bad":
            return ["text must not be 'bad'", "second"]
        return []

    emu, _ = await make_emulator(validator=validator)
    chat_id = emu.new_private_chat()
    async with Bot(TOKEN, base_url=emu.base_url) as bot:
        await bot.send_message(chat_id, "fine")
        with pytest.raises(BadRequest, match=r"(?i)text must not be 'bad'"):
            await bot.send_message(chat_id, "bad")
    assert seen[:2] == ["getMe", "sendMessage"]
    assert emu.problems == ["sendMessage: text must not be 'bad'", "sendMessage: second"]
    assert [m["text"] for m in emu.visible_messages(chat_id)] == ["fine"]


# The bot's own slow work between two calls (a busy database): far longer than any quiet
# period a wait could assume. Simulated bot work, not a wait of the test.
SLOW_WORK = 0.3


async def test_real_application_and_wait_idle(emu: BotApiEmulator) -> None:
    """wait_idle returns after the bot's whole reaction, however long its pauses."""

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        await context.bot.send_chat_action(update.effective_chat.id, "typing")
        await asyncio.sleep(SLOW_WORK)
        await update.effective_chat.send_message(
            "<b>Hello</b>", parse_mode="HTML", reply_markup=keyboard(("Calm", "calm"))
        )

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer()
        await asyncio.sleep(SLOW_WORK)
        await query.edit_message_text("You chose calm.")
        await asyncio.sleep(SLOW_WORK)
        assert update.effective_chat is not None
        await update.effective_chat.send_message("Anything else?")

    app = ApplicationBuilder().token(TOKEN).base_url(emu.base_url).build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(pressed))
    emu.processing_acks = True
    report_processed(app, emu.update_processed)
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            chat_id = emu.new_private_chat()
            await emu.user_sends_text(chat_id, "/start")
            await emu.wait_idle(chat_id)
            [_, reply] = emu.visible_messages(chat_id)
            assert reply["text"] == "Hello" and reply["from_bot"]
            await emu.user_presses_button(chat_id, reply["message_id"], "calm")
            await emu.wait_idle(chat_id)
            texts = [m["text"] for m in emu.visible_messages(chat_id)]
            assert texts == ["/start", "You chose calm.", "Anything else?"]
            assert emu.unanswered_callback_queries() == []
        finally:
            await app.updater.stop()
            await app.stop()
    assert emu.problems == []


async def test_wait_idle_times_out_without_a_bot(emu: BotApiEmulator) -> None:
    chat_id = emu.new_private_chat()
    await emu.user_sends_text(chat_id, "anyone?")
    with pytest.raises(TimeoutError, match="not fetched"):
        await emu.wait_idle(chat_id, timeout=0.2)
    await emu.wait_idle(emu.new_private_chat(), timeout=0.5)  # other chats are idle


async def test_wait_for_message_wakes_on_the_message(emu: BotApiEmulator, bot: Bot) -> None:
    chat_id = emu.new_private_chat()
    waiting = asyncio.create_task(
        emu.wait_for_message(chat_id, lambda m: m["from_bot"] and m["text"] == "Hej")
    )
    await bot.send_message(chat_id, "Annat")
    await bot.send_message(chat_id, "Hej")
    assert (await waiting)["text"] == "Hej"
    with pytest.raises(TimeoutError, match="no matching message"):
        await emu.wait_for_message(chat_id, lambda m: m["text"] == "never", timeout=0.1)


async def test_memory_is_bounded(emu: BotApiEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emulator_module, "MAX_MESSAGES_PER_CHAT", 3)
    monkeypatch.setattr(emulator_module, "MAX_CHATS", 2)
    chat_id = emu.new_private_chat()
    for i in range(5):
        await emu.user_sends_text(chat_id, f"t{i}")
    assert [m["text"] for m in emu.visible_messages(chat_id)] == ["t2", "t3", "t4"]
    emu.new_private_chat()
    emu.new_private_chat()
    with pytest.raises(ValueError):
        emu.visible_messages(chat_id)


# ---------------------------------------------------------------- chat page


@pytest.fixture
async def page(emu: BotApiEmulator, aiohttp_client: ClientFactory) -> TestClient:
    app = web.Application()
    emu.add_routes(app, api_prefix="/emu", page_prefix="/preview")
    assert app[EMULATOR_KEY] is emu
    return await aiohttp_client(app)


async def test_page_is_served_with_safety_headers(page: TestClient) -> None:
    resp = await page.get("/preview/")
    html = await resp.text()
    assert resp.status == 200 and resp.content_type == "text/html"
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    for testid in ("composer", "send", "lang-select", "new-chat"):
        assert f'data-testid="{testid}"' in html
    assert "no messages leave this computer" in html
    assert '<html lang="en" dir="ltr">' in html
    js = await (await page.get("/preview/chat.js")).text()
    assert "DOMParser" in js and "innerHTML" not in js
    assert (await page.get("/preview/chat.css")).status == 200
    assert (await page.get("/preview", allow_redirects=False)).status == 302


async def test_page_chat_flow(emu: BotApiEmulator, page: TestClient) -> None:
    resp = await page.post("/preview/api/chats", json={"language_code": "ar"})
    assert resp.status == 200
    created = await resp.json()
    chat_id = created["chat_id"]
    assert created["messages"] == [] and created["user"]["language_code"] == "ar"

    resp = await page.post(f"/preview/api/chats/{chat_id}/text", json={"text": "مرحبا"})
    assert resp.status == 200
    async with Bot(TOKEN, base_url=str(page.make_url("/emu/bot"))) as bot:
        [update] = await bot.get_updates(timeout=0)
        assert update.message is not None and update.message.text == "مرحبا"
        assert update.message.from_user is not None
        assert update.message.from_user.language_code == "ar"
        seq = (await (await page.get(f"/preview/api/chats/{chat_id}")).json())["seq"]
        events = f"/preview/api/chats/{chat_id}/events?after={seq}"
        started = time.monotonic()
        unchanged = await (await page.get(f"{events}&timeout=0.3")).json()
        assert unchanged["seq"] == seq  # the events endpoint long-polls: nothing new...
        assert time.monotonic() - started >= 0.3  # ...so it held the answer for its timeout
        waiting = asyncio.create_task(page.get(events))
        sent = await bot.send_message(
            chat_id, "<b>Hej</b>", parse_mode="HTML", reply_markup=keyboard(("OK", "ok"))
        )
        snapshot = await (await asyncio.wait_for(waiting, 30)).json()
        assert snapshot["seq"] > seq
        bot_message = snapshot["messages"][-1]
        assert bot_message["from_bot"] and bot_message["html"] == "<b>Hej</b>"
        assert bot_message["parse_mode"] == "HTML"

        resp = await page.post(
            f"/preview/api/chats/{chat_id}/button",
            json={"message_id": sent.message_id, "callback_data": "ok"},
        )
        assert resp.status == 200
        resp = await page.post(f"/preview/api/chats/{chat_id}/send", json={"kind": "sticker"})
        assert resp.status == 200
        resp = await page.post(
            f"/preview/api/chats/{chat_id}/language", json={"language_code": "fa"}
        )
        assert resp.status == 200
        updates = await bot.get_updates(offset=update.update_id + 1, timeout=0)
        assert updates[0].callback_query is not None and updates[0].callback_query.data == "ok"
        assert updates[1].message is not None and updates[1].message.sticker is not None
        await bot.answer_callback_query(updates[0].callback_query.id, text="Tack")
    snapshot = await (await page.get(f"/preview/api/chats/{chat_id}/events?after=-1")).json()
    assert snapshot["toast"]["text"] == "Tack"
    assert snapshot["user"]["language_code"] == "fa"
    assert emu.problems == []


async def test_page_rejects_bad_input(emu: BotApiEmulator, page: TestClient) -> None:
    chat_id = (await (await page.post("/preview/api/chats", json={})).json())["chat_id"]
    base = f"/preview/api/chats/{chat_id}"
    bad_json = await page.post(
        f"{base}/text", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert bad_json.status == 400
    assert (await page.post(f"{base}/text", json=["list"])).status == 400
    assert (await page.post(f"{base}/text", data="text=hi")).status == 415
    assert (await page.post(f"{base}/text", json={"text": "x" * 4097})).status == 400
    assert (await page.post(f"{base}/text", json={"text": "   "})).status == 400
    assert (await page.post(f"{base}/text", json={"text": 5})).status == 400
    assert (await page.post(f"{base}/send", json={"kind": "bomb"})).status == 400
    press = await page.post(f"{base}/button", json={"message_id": 1, "callback_data": "x"})
    assert press.status == 409
    assert (await page.post(f"{base}/button", json={"message_id": "1"})).status == 400
    assert (await page.post(f"{base}/language", json={"language_code": "xx"})).status == 400
    assert (await page.post("/preview/api/chats", json={"language_code": "xx"})).status == 400
    assert (await page.get("/preview/api/chats/12345/events")).status == 404
    assert (await page.get("/preview/api/chats/abc")).status == 404
    assert (await page.get(f"{base}/events?after=x")).status == 400
    quick = await page.get(f"{base}/events?after=999999999&timeout=0.1")
    assert quick.status == 200  # times out gracefully with the current snapshot
    assert (await page.post(f"{base}/text", json={"text": "x" * 4096})).status == 200
    assert emu.visible_messages(chat_id)[-1]["text"] == "x" * 4096


# ---------------------------------------------------------------- the page in a real browser


async def test_page_in_browser(emu: BotApiEmulator, page: TestClient, browser: Any) -> None:
    """The chat page in Debian's Chromium (conftest's ``browser``), against this emulator."""
    from tests.browser import expect  # Playwright: only once the browser fixture has it

    base = str(page.make_url(""))
    context = await browser.new_context(
        viewport={"width": 390, "height": 780}, locale="fa-IR", reduced_motion="reduce"
    )
    tab = await context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("dialog", lambda dialog: errors.append(f"dialog: {dialog.message}"))
    await tab.goto(f"{base}/preview/")
    await expect(tab.get_by_test_id("lang-select")).to_have_value("fa")
    await expect(tab.get_by_test_id("start")).to_be_visible()
    composer = tab.get_by_test_id("composer")
    assert await composer.get_attribute("maxlength") == "4096"
    await composer.fill("سلام")
    await composer.press("Enter")
    user_bubble = tab.locator('[data-testid="message"][data-from="user"]')
    await expect(user_bubble).to_have_text(re.compile("سلام"))
    assert await user_bubble.get_attribute("dir") == "rtl"  # from its first letter
    chat_id = int(await tab.evaluate("sessionStorage.getItem('emulator.chatId')"))
    assert emu.visible_messages(chat_id)[0]["text"] == "سلام"

    async with Bot(TOKEN, base_url=str(page.make_url("/emu/bot"))) as bot:
        [update] = await bot.get_updates(timeout=0)
        assert update.message is not None and update.message.from_user is not None
        assert update.message.from_user.language_code == "fa"
        hostile = (
            "<b>Bold</b>\n<i>second line</i> "
            "<a href=\"javascript:alert('x')\">bad link</a> "
            '<a href="https://example.org/help">good link</a> '
            "&lt;img src=x onerror=alert(1)&gt;"
        )
        sent = await bot.send_message(
            chat_id, hostile, parse_mode="HTML", reply_markup=keyboard(("Calm", "calm"))
        )
        bot_bubble = tab.locator('[data-testid="message"][data-from="bot"]')
        await expect(bot_bubble).to_have_count(1)
        text = bot_bubble.locator(".text")
        await expect(text.locator("strong")).to_have_text("Bold")
        await expect(text.locator("a")).to_have_count(1)  # javascript: link is text
        link = text.locator("a")
        assert await link.get_attribute("href") == "https://example.org/help"
        assert await link.get_attribute("rel") == "noopener noreferrer"
        await expect(text).to_contain_text("<img src=x onerror=alert(1)>")
        assert await text.locator("img").count() == 0
        inner = await text.inner_text()
        assert "Bold\nsecond line" in inner  # line breaks survive

        button = tab.get_by_test_id("inline-button")
        await expect(button).to_have_text("Calm")
        await button.focus()
        await tab.keyboard.press("Enter")  # keyboard-usable button
        [press] = await bot.get_updates(offset=update.update_id + 1, timeout=3)
        assert press.callback_query is not None and press.callback_query.data == "calm"
        await bot.answer_callback_query(press.callback_query.id, text="Tack")
        await expect(tab.get_by_role("status")).to_have_text("Tack")

        await bot.edit_message_text("Edited text", chat_id=chat_id, message_id=sent.message_id)
        await expect(bot_bubble).to_have_count(1)
        await expect(bot_bubble.locator(".text")).to_have_text("Edited text")
        await expect(tab.get_by_test_id("inline-button")).to_have_count(0)
        await bot.delete_message(chat_id, sent.message_id)
        await expect(bot_bubble).to_have_count(0)

    await tab.get_by_test_id("attach").click()
    await tab.get_by_test_id("send-sticker").click()
    await expect(user_bubble).to_have_count(2)
    await tab.reload()  # sessionStorage keeps the conversation
    await expect(user_bubble).to_have_count(2)
    await tab.get_by_test_id("new-chat").click()
    await expect(user_bubble).to_have_count(0)
    new_id = int(await tab.evaluate("sessionStorage.getItem('emulator.chatId')"))
    assert new_id != chat_id
    assert errors == []
    assert emu.problems == []
