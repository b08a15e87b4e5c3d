"""A local fake of the Telegram Bot API plus a browser chat page.

Why: the real bot (python-telegram-bot) must be testable and demonstrable offline. The
emulator speaks enough of https://core.telegram.org/bots/api for our bot (polling and
webhook, messages, edits, deletions, inline keyboards, callback queries, commands) and
records every call so tests can assert on behaviour and on API misuse (``problems``).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import copy
import hmac
import json
import logging
import re
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.tghtml import parse_telegram_html, utf16_length

__all__ = ["EMULATOR_KEY", "BotApiEmulator", "Validator", "html_to_text"]

log = logging.getLogger(__name__)

Validator = Callable[[str, dict[str, Any]], list[str]]
Params = dict[str, Any]

MAX_TEXT_UTF16 = 4096  # Telegram's message length limit (UTF-16 code units after parsing)
MAX_MESSAGES_PER_CHAT = 500
MAX_CHATS = 1000
MAX_PENDING_UPDATES = 5000
MAX_CALLBACK_QUERIES = 2000
MAX_CALLS = 10_000
MAX_PROBLEMS = 1000
MAX_CALLBACK_DATA_BYTES = 64
PAGE_WAIT_MAX = 25.0
MAX_POLL_TIMEOUT = 300.0
WEBHOOK_BACKOFF = (0.05, 0.2, 0.5)  # delays between attempts; len + 1 attempts in total
WEBHOOK_POST_TIMEOUT = 10.0
STATIC_DIR = Path(__file__).with_name("static")
LANGUAGES = ("sv", "en", "ar", "fa", "so", "ti", "tr", "fi")
USER_KINDS = ("sticker", "photo", "voice", "document", "location", "contact")

ALL_UPDATE_TYPES = (
    "message", "edited_message", "channel_post", "edited_channel_post", "business_connection",
    "business_message", "edited_business_message", "deleted_business_messages",
    "message_reaction", "message_reaction_count", "inline_query", "chosen_inline_result",
    "callback_query", "shipping_query", "pre_checkout_query", "purchased_paid_media", "poll",
    "poll_answer", "my_chat_member", "chat_member", "chat_join_request", "chat_boost",
    "removed_chat_boost",
)  # fmt: skip
# Telegram leaves these out unless a bot asks for them explicitly.
NOT_DEFAULT_UPDATE_TYPES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

# Form values that stay strings even when they look like numbers/JSON (PTB sends str raw).
STRING_PARAMS = frozenset({
    "text", "caption", "callback_query_id", "url", "secret_token", "description",
    "short_description", "parse_mode", "language_code", "ip_address", "inline_message_id",
    "business_connection_id", "message_effect_id", "name", "query", "emoji", "title", "action",
})  # fmt: skip

INLINE_BUTTON_ACTIONS = (
    "url", "callback_data", "web_app", "login_url", "switch_inline_query",
    "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
    "callback_game", "pay",
)  # fmt: skip

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

_COMMAND_RE = re.compile(r"^/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?=\s|$)")
_INT_RE = re.compile(r"^-?\d{1,19}$")
_FLOAT_RE = re.compile(r"^-?\d+\.\d+$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class HtmlParseError(ValueError):
    """Telegram's "can't parse entities" error: a real server would refuse the message."""


def html_to_text(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Visible text and entities of a Telegram-HTML string; raises HtmlParseError.

    The parser is the bot's own (bot.tghtml), so the preview refuses exactly what the
    content check refuses.
    """
    parsed = parse_telegram_html(source)
    if parsed.failure is not None:
        raise HtmlParseError(parsed.failure)
    return parsed.text, parsed.entities


def _strip_text(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Trim surrounding whitespace like Telegram does, keeping entity offsets right."""
    lead = utf16_length(text) - utf16_length(text.lstrip())
    stripped = text.strip()
    total = utf16_length(stripped)
    out: list[dict[str, Any]] = []
    for entity in entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, total)
        if end > start:
            out.append({**entity, "offset": start, "length": end - start})
    return stripped, out


# --------------------------------------------------------------------------- helpers


class _ApiError(Exception):
    """A Bot API error response; ``problem`` marks bot bugs worth failing tests on."""

    def __init__(self, code: int, description: str, *, problem: bool = False) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.problem = problem


def _bad(description: str, *, problem: bool = False) -> _ApiError:
    return _ApiError(400, f"Bad Request: {description}", problem=problem)


class _Signal:
    """Wake-all notifier; why: long polls need a cheap broadcast without a shared lock."""

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None

    def notify(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None

    async def wait(self, timeout: float) -> bool:
        if timeout <= 0:
            return False
        if self._event is None:
            self._event = asyncio.Event()
        event = self._event
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        return True


@dataclass
class _Queued:
    """An update waiting for getUpdates.

    ``explicit`` marks updates a test delivered with its own update_id (e.g. a duplicate):
    they reach the bot once even if the bot already confirmed a higher offset.
    """

    update: dict[str, Any]
    explicit: bool = False
    fetched: bool = False

    @property
    def update_id(self) -> int:
        return int(self.update["update_id"])


@dataclass
class _StoredMessage:
    """One message as the chat shows it now (after edits)."""

    raw: dict[str, Any]
    from_bot: bool
    kind: str = "text"
    html: str | None = None
    parse_mode: str | None = None
    edited: bool = False


@dataclass
class _Chat:
    """A simulated private chat with one user."""

    chat_id: int
    user: dict[str, Any]
    chat_instance: str
    messages: OrderedDict[int, _StoredMessage] = field(default_factory=OrderedDict)
    next_message_id: int = 1
    version: int = 0
    typing_until: float = 0.0
    toast: dict[str, Any] | None = None
    reply_keyboard: dict[str, Any] | None = None
    signal: _Signal = field(default_factory=_Signal)
    blocked: bool = False  # the user blocked the bot: Telegram refuses every call with 403

    @property
    def chat_object(self) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": self.chat_id, "type": "private"}
        chat["first_name"] = self.user.get("first_name", "")
        return chat


def _decode_value(name: str, value: str) -> Any:
    """Undo PTB's form encoding: JSON for complex values, plain strings for text."""
    if name in STRING_PARAMS:
        return value
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    if value in ("true", "false"):
        return value == "true"
    if _INT_RE.match(value):
        return int(value)
    if _FLOAT_RE.match(value):
        return float(value)
    return value


def _update_type(update: dict[str, Any]) -> str:
    return next((k for k in update if k != "update_id"), "")


def _update_chat_id(update: dict[str, Any]) -> int | None:
    """The chat an update belongs to (for per-chat ordering and wait_idle)."""
    for key, value in update.items():
        if key == "update_id" or not isinstance(value, dict):
            continue
        chat = value.get("chat")
        if not isinstance(chat, dict) and isinstance(value.get("message"), dict):
            chat = value["message"].get("chat")
        if isinstance(chat, dict) and isinstance(chat_id := chat.get("id"), int):
            return chat_id
        for who in ("from", "user"):
            person = value.get(who)
            if isinstance(person, dict) and isinstance(person_id := person.get("id"), int):
                return person_id
    return None


def _json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=partial(json.dumps, ensure_ascii=False))


def _markup_key(markup: Any) -> str:
    return json.dumps(markup, sort_keys=True, ensure_ascii=False)


def _file_id(kind: str) -> tuple[str, str]:
    return f"EMU-{kind}-{secrets.token_urlsafe(12)}", secrets.token_urlsafe(6)


# --------------------------------------------------------------------------- the emulator

Handler = Callable[[Params, web.Request | None], Awaitable[Any]]


class BotApiEmulator:
    """Fake Telegram: Bot API endpoints for the bot, user-side helpers for tests and the page."""

    def __init__(
        self,
        token: str,
        *,
        validator: Validator | None = None,
        bot_username: str = "preview_helper_bot",
        bot_first_name: str = "Guide",
        processing_acks: bool = False,
    ) -> None:
        self._token = token
        self._validator = validator
        prefix = token.split(":", 1)[0]
        self.bot_user: dict[str, Any] = {
            "id": int(prefix) if prefix.isdigit() else 7_000_000_001,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        # True when the bot in this process reports each polled update's end through
        # update_processed(): wait_idle then waits for that report, not only for the offset
        # (PTB confirms an update as soon as it has queued it, long before handling it).
        self.processing_acks = processing_acks
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.problems: list[str] = []
        # callback_query_id -> {chat_id, message_id, data, answered, answer}
        self.callback_queries: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.descriptions: dict[tuple[str, str], str] = {}  # (kind, language_code) -> text
        self.menu_buttons: dict[int | None, dict[str, Any]] = {}
        self._chats: OrderedDict[int, _Chat] = OrderedDict()
        self._api_prefix = "/emu"
        self._page_prefix = "/preview"
        self._origin: str | None = None
        self._seq = 0
        self._next_update_id = secrets.randbelow(100_000_000) + 100_000
        # polling state
        self._pending: list[_Queued] = []  # sorted by update_id
        self._allowed: list[str] = []
        self._poll_gen = 0
        self._updates_signal = _Signal()
        self._closing = False
        # webhook state
        self._webhook: dict[str, Any] | None = None
        self._webhook_queues: dict[int | None, deque[dict[str, Any]]] = {}
        self._webhook_tasks: dict[int | None, asyncio.Task[None]] = {}
        self._webhook_last_error: tuple[int, str] | None = None
        self._session: aiohttp.ClientSession | None = None
        # idleness bookkeeping: wait_idle and wait_for_message wake on every change
        self._changed = _Signal()
        self._in_flight: dict[int | None, int] = {}  # chat -> Bot API requests under way
        self._unprocessed: dict[int, int | None] = {}  # update_id -> chat, polled, not done
        self._injected: dict[str, deque[dict[str, Any]]] = {}  # method -> errors (fail_next)
        handlers: dict[str, Handler] = {
            "getMe": self._m_get_me,
            "getUpdates": self._m_get_updates,
            "setWebhook": self._m_set_webhook,
            "deleteWebhook": self._m_delete_webhook,
            "getWebhookInfo": self._m_get_webhook_info,
            "sendMessage": self._m_send_message,
            "editMessageText": self._m_edit_message_text,
            "editMessageReplyMarkup": self._m_edit_message_reply_markup,
            "deleteMessage": self._m_delete_message,
            "deleteMessages": self._m_delete_messages,
            "answerCallbackQuery": self._m_answer_callback_query,
            "setMyCommands": self._m_set_my_commands,
            "getMyCommands": self._m_get_my_commands,
            "deleteMyCommands": self._m_delete_my_commands,
            "setMyDescription": partial(self._m_set_description, "description"),
            "getMyDescription": partial(self._m_get_description, "description"),
            "setMyShortDescription": partial(self._m_set_description, "short_description"),
            "getMyShortDescription": partial(self._m_get_description, "short_description"),
            "setChatMenuButton": self._m_set_chat_menu_button,
            "getChatMenuButton": self._m_get_chat_menu_button,
            "sendChatAction": self._m_send_chat_action,
        }
        self._methods: dict[str, tuple[str, Handler]] = {
            name.lower(): (name, handler) for name, handler in handlers.items()
        }

    # ------------------------------------------------------------------ wiring

    def add_routes(
        self, app: web.Application, *, api_prefix: str = "/emu", page_prefix: str = "/preview"
    ) -> None:
        """Mount the Bot API and the chat page; why: the lead's app hosts both on one port."""
        self._api_prefix = api_prefix.rstrip("/")
        self._page_prefix = page = page_prefix.rstrip("/")
        app[EMULATOR_KEY] = self
        router = app.router
        api_path = f"{self._api_prefix}/bot{{token}}/{{method}}"
        router.add_get(api_path, self._handle_api)
        router.add_post(api_path, self._handle_api)
        if page:
            router.add_get(page, self._page_redirect)
        router.add_get(f"{page}/", self._page_index)
        router.add_get(f"{page}/chat.js", partial(self._page_static, "chat.js"))
        router.add_get(f"{page}/chat.css", partial(self._page_static, "chat.css"))
        router.add_post(f"{page}/api/chats", self._page_create_chat)
        router.add_get(f"{page}/api/chats/{{chat_id}}", self._page_snapshot)
        router.add_get(f"{page}/api/chats/{{chat_id}}/events", self._page_events)
        router.add_post(f"{page}/api/chats/{{chat_id}}/text", self._page_text)
        router.add_post(f"{page}/api/chats/{{chat_id}}/button", self._page_button)
        router.add_post(f"{page}/api/chats/{{chat_id}}/send", self._page_send)
        router.add_post(f"{page}/api/chats/{{chat_id}}/language", self._page_language)
        app.on_shutdown.append(self._on_shutdown)
        app.on_cleanup.append(self._on_cleanup)

    def make_app(self) -> web.Application:
        """A standalone app with default prefixes (handy for tests and small scripts)."""
        app = web.Application()
        self.add_routes(app)
        return app

    def set_server_origin(self, origin: str) -> None:
        """Tell the emulator where it is served, so base_url can be handed to PTB."""
        self._origin = origin.rstrip("/")

    @property
    def token(self) -> str:
        """The bot token this emulator answers to (the preview's is random per run)."""
        return self._token

    @property
    def base_url(self) -> str:
        """PTB's base_url (PTB appends the token)."""
        if self._origin is None:
            raise RuntimeError("call set_server_origin() once the server address is known")
        return f"{self._origin}{self._api_prefix}/bot"

    @property
    def page_url(self) -> str:
        """Where a browser finds the chat page."""
        if self._origin is None:
            raise RuntimeError("call set_server_origin() once the server address is known")
        return f"{self._origin}{self._page_prefix}/"

    async def _on_shutdown(self, app: web.Application) -> None:
        # Why: long polls would otherwise hold aiohttp's graceful shutdown for their timeout.
        self._closing = True
        self._updates_signal.notify()
        for chat in self._chats.values():
            chat.signal.notify()

    async def _on_cleanup(self, app: web.Application) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop webhook delivery and release the HTTP client session."""
        self._closing = True
        self._updates_signal.notify()
        tasks = list(self._webhook_tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._webhook_tasks.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ------------------------------------------------------------------ bookkeeping

    def _problem(self, text: str) -> None:
        log.warning("emulator problem: %s", text)
        self.problems.append(text)
        if len(self.problems) > MAX_PROBLEMS:
            del self.problems[: len(self.problems) - MAX_PROBLEMS]

    def _bump(self, chat: _Chat) -> None:
        self._seq += 1
        chat.version = self._seq
        chat.signal.notify()
        self._changed.notify()

    def _chat(self, chat_id: int) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            raise ValueError(f"unknown chat {chat_id}")
        return chat

    def _add_message(self, chat: _Chat, stored: _StoredMessage) -> None:
        chat.messages[stored.raw["message_id"]] = stored
        while len(chat.messages) > MAX_MESSAGES_PER_CHAT:
            chat.messages.popitem(last=False)
        self._chats.move_to_end(chat.chat_id)
        self._bump(chat)

    def _new_message_id(self, chat: _Chat) -> int:
        message_id = chat.next_message_id
        chat.next_message_id += 1
        return message_id

    # ------------------------------------------------------------------ user side

    def new_private_chat(
        self,
        *,
        language_code: str | None = "sv",
        first_name: str = "Test",
        username: str | None = None,
        chat_id: int | None = None,
    ) -> int:
        """Create a simulated user with a private chat; returns chat id (== user id).

        ``chat_id`` reuses a known id: the same Telegram chat seen by a restarted bot.
        """
        while chat_id is None:
            candidate = secrets.randbelow(8_000_000_000) + 100_000_000
            if candidate not in self._chats and candidate != self.bot_user["id"]:
                chat_id = candidate
        user: dict[str, Any] = {"id": chat_id, "is_bot": False, "first_name": first_name}
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        chat = _Chat(chat_id=chat_id, user=user, chat_instance=str(secrets.randbits(62)))
        self._chats[chat_id] = chat
        while len(self._chats) > MAX_CHATS:
            self._chats.popitem(last=False)
        self._bump(chat)
        return chat_id

    def set_user_language(self, chat_id: int, language_code: str | None) -> None:
        """Change the simulated user's Telegram language (affects later updates)."""
        chat = self._chat(chat_id)
        if language_code:
            chat.user["language_code"] = language_code
        else:
            chat.user.pop("language_code", None)
        self._bump(chat)

    def user_blocks_bot(self, chat_id: int, blocked: bool = True) -> None:
        """The user blocks (or unblocks) the bot; calls to this chat then get 403 as on Telegram."""
        self._chat(chat_id).blocked = blocked

    def fail_next(
        self, method: str, code: int, description: str, *, retry_after: int | None = None
    ) -> None:
        """The next call of ``method`` gets this Bot API error (429 with ``retry_after``, 5xx...).

        For tests of what the bot does when Telegram refuses or fails; each call is one error.
        """
        body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        self._injected.setdefault(method, deque()).append(body)

    def _user_message(self, chat: _Chat, **content: Any) -> dict[str, Any]:
        return {
            "message_id": self._new_message_id(chat),
            "from": dict(chat.user),
            "chat": chat.chat_object,
            "date": int(time.time()),
            **content,
        }

    async def user_sends_text(self, chat_id: int, text: str) -> dict[str, Any]:
        """The user types a message; commands get a bot_command entity like Telegram adds."""
        chat = self._chat(chat_id)
        if not isinstance(text, str) or not text.strip():
            raise ValueError("message text is empty")
        if utf16_length(text) > MAX_TEXT_UTF16:
            raise ValueError(f"message is too long (max {MAX_TEXT_UTF16} characters)")
        content: dict[str, Any] = {"text": text}
        match = _COMMAND_RE.match(text)
        if match:
            content["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_length(match.group())}
            ]
        message = self._user_message(chat, **content)
        self._add_message(chat, _StoredMessage(raw=message, from_bot=False))
        if chat.reply_keyboard and chat.reply_keyboard.get("one_time_keyboard"):
            chat.reply_keyboard = None
            self._bump(chat)
        return await self._deliver({"message": copy.deepcopy(message)})

    async def user_sends(self, chat_id: int, kind: str) -> dict[str, Any]:
        """The user sends a non-text message (sticker, photo, ...) to try odd input."""
        chat = self._chat(chat_id)
        file_id, unique = _file_id(kind)
        content: dict[str, Any]
        if kind == "sticker":
            content = {"sticker": {
                "file_id": file_id, "file_unique_id": unique, "type": "regular",
                "width": 512, "height": 512, "is_animated": False, "is_video": False,
                "emoji": "🙂", "set_name": "EmulatorStickers", "file_size": 24_576,
            }}  # fmt: skip
        elif kind == "photo":
            content = {"photo": [
                {"file_id": f"{file_id}-{w}", "file_unique_id": f"{unique}{w}", "width": w,
                 "height": w * 3 // 4, "file_size": w * 90}
                for w in (90, 320, 1280)
            ]}  # fmt: skip
        elif kind == "voice":
            content = {"voice": {
                "file_id": file_id, "file_unique_id": unique, "duration": 4,
                "mime_type": "audio/ogg", "file_size": 9_870,
            }}  # fmt: skip
        elif kind == "document":
            content = {"document": {
                "file_id": file_id, "file_unique_id": unique, "file_name": "notes.pdf",
                "mime_type": "application/pdf", "file_size": 48_213,
            }}  # fmt: skip
        elif kind == "location":
            content = {"location": {"latitude": 59.329323, "longitude": 18.068581}}
        elif kind == "contact":
            content = {"contact": {
                "phone_number": "+46700000000", "first_name": chat.user.get("first_name", ""),
                "user_id": chat.chat_id,
            }}  # fmt: skip
        else:
            raise ValueError(f"unsupported kind {kind!r}")
        message = self._user_message(chat, **content)
        self._add_message(chat, _StoredMessage(raw=message, from_bot=False, kind=kind))
        return await self._deliver({"message": copy.deepcopy(message)})

    async def user_presses_button(
        self, chat_id: int, message_id: int, callback_data: str, *, require_button: bool = True
    ) -> dict[str, Any]:
        """The user taps an inline button; only buttons really shown can be pressed.

        ``require_button=False`` simulates a stale client that still shows an older version of
        the message (the message itself must still exist).
        """
        chat = self._chat(chat_id)
        stored = chat.messages.get(message_id)
        if stored is None or not stored.from_bot:
            raise ValueError(f"no bot message {message_id} in chat {chat_id}")
        rows = (stored.raw.get("reply_markup") or {}).get("inline_keyboard") or []
        if require_button and not any(
            isinstance(b, dict) and b.get("callback_data") == callback_data
            for row in rows
            for b in row
        ):
            raise ValueError(f"message {message_id} has no button with data {callback_data!r}")
        query_id = str(secrets.randbits(63))
        self.callback_queries[query_id] = {
            "chat_id": chat_id, "message_id": message_id, "data": callback_data,
            "answered": False, "answer": None,
        }  # fmt: skip
        while len(self.callback_queries) > MAX_CALLBACK_QUERIES:
            self.callback_queries.popitem(last=False)
        query = {
            "id": query_id,
            "from": dict(chat.user),
            "message": copy.deepcopy(stored.raw),
            "chat_instance": chat.chat_instance,
            "data": callback_data,
        }
        return await self._deliver({"callback_query": query})

    def next_update_id(self) -> int:
        """Reserve a fresh update_id for a hand-built update passed to deliver()."""
        update_id = self._next_update_id
        self._next_update_id += 1
        return update_id

    async def deliver(self, update: dict[str, Any]) -> None:
        """Deliver a raw update as Telegram would (an update_id is added when missing).

        Why: tests send odd or duplicate updates. A given update_id is kept, even a repeated
        one, and reaches the bot once; a callback_query becomes answerable and a message in a
        known private chat shows up in that chat.
        """
        update = copy.deepcopy(update)
        explicit = isinstance(update.get("update_id"), int)
        if explicit:
            self._next_update_id = max(self._next_update_id, update["update_id"] + 1)
        self._absorb_raw(update)
        await self._deliver(update, explicit=explicit)

    def _absorb_raw(self, update: dict[str, Any]) -> None:
        """Keep emulator state consistent with a hand-built update."""
        query = update.get("callback_query")
        if isinstance(query, dict) and isinstance(query.get("id"), str):
            raw_message = query.get("message")
            shown: dict[str, Any] = raw_message if isinstance(raw_message, dict) else {}
            chat_id = _update_chat_id(update)
            if query["id"] not in self.callback_queries:
                self.callback_queries[query["id"]] = {
                    "chat_id": chat_id, "message_id": shown.get("message_id"),
                    "data": query.get("data"), "answered": False, "answer": None,
                }  # fmt: skip
                while len(self.callback_queries) > MAX_CALLBACK_QUERIES:
                    self.callback_queries.popitem(last=False)
        for key in ("message", "edited_message"):
            message = update.get(key)
            if not isinstance(message, dict) or not isinstance(message.get("message_id"), int):
                continue
            chat = self._chats.get(_update_chat_id({key: message}) or 0)
            if chat is None or (message.get("from") or {}).get("is_bot"):
                continue
            message_id = message["message_id"]
            stored = chat.messages.get(message_id)
            if key == "message" and stored is None:
                kind = next((k for k in ("text", *USER_KINDS) if k in message), "text")
                self._add_message(
                    chat, _StoredMessage(raw=copy.deepcopy(message), from_bot=False, kind=kind)
                )
                chat.next_message_id = max(chat.next_message_id, message_id + 1)
            elif key == "edited_message" and stored is not None and not stored.from_bot:
                stored.raw = copy.deepcopy(message)
                stored.edited = True
                self._bump(chat)

    async def _deliver(self, update: dict[str, Any], *, explicit: bool = False) -> dict[str, Any]:
        if not isinstance(update.get("update_id"), int):
            update = {"update_id": self.next_update_id(), **update}
        if self._webhook is not None:
            if self._is_allowed(_update_type(update), self._webhook["allowed_updates"]):
                self._enqueue_webhook(update)
            return update
        self._queue_for_polling(_Queued(update, explicit=explicit))
        self._updates_signal.notify()
        return update

    def _queue_for_polling(self, queued: _Queued) -> None:
        bisect.insort(self._pending, queued, key=lambda q: q.update_id)
        if len(self._pending) > MAX_PENDING_UPDATES:
            dropped = self._pending.pop(0)
            self._problem(f"update queue overflow: dropped update {dropped.update_id}")

    def visible_messages(self, chat_id: int) -> list[dict[str, Any]]:
        """Messages as the user sees them now (after edits and deletions), oldest first."""
        chat = self._chat(chat_id)
        return [self._visible(m) for m in chat.messages.values()]

    @staticmethod
    def _visible(stored: _StoredMessage) -> dict[str, Any]:
        raw = stored.raw
        return {
            "message_id": raw["message_id"],
            "from_bot": stored.from_bot,
            "kind": stored.kind,
            "text": raw.get("text", f"[{stored.kind}]"),
            "html": stored.html,
            "parse_mode": stored.parse_mode,
            "entities": raw.get("entities", []),
            "reply_markup": raw.get("reply_markup"),
            "edited": stored.edited,
            "date": raw.get("date"),
        }

    def current_reply_keyboard(self, chat_id: int) -> dict[str, Any] | None:
        """The custom reply keyboard the bot currently shows in this chat, if any."""
        return self._chat(chat_id).reply_keyboard

    def unanswered_callback_queries(self) -> list[str]:
        """Ids of callback queries the bot has not answered (Telegram shows a spinner)."""
        return [qid for qid, q in self.callback_queries.items() if not q["answered"]]

    # ------------------------------------------------------------------ idleness

    def update_processed(self, update_id: int) -> None:
        """The bot finished handling a polled update (see ``processing_acks``)."""
        if update_id in self._unprocessed:
            del self._unprocessed[update_id]
            self._changed.notify()

    def _busy_reason(self, chat_id: int | None) -> str | None:
        def mine(key: int | None) -> bool:
            return chat_id is None or key == chat_id

        for queued in self._pending:  # leaves only when a later offset confirms it
            if mine(_update_chat_id(queued.update)):
                state = "not confirmed" if queued.fetched else "not fetched"
                return f"update {queued.update_id} {state} by the bot yet"
        for update_id, key in self._unprocessed.items():
            if mine(key):
                return f"update {update_id} not processed by the bot yet"
        for key, queue in self._webhook_queues.items():
            if queue and mine(key):  # the head leaves once the bot answered its POST
                return f"{len(queue)} webhook deliveries under way"
        for key, count in self._in_flight.items():
            if count and mine(key):
                return f"{count} Bot API requests under way"
        return None

    async def wait_until(self, condition: Callable[[], str | None], timeout: float = 30.0) -> None:
        """Wait until ``condition()`` returns None (else it says what is still missing).

        Why: it is re-checked on every change of the emulator's state (a Bot API call, a
        delivery, a confirmation), never on a timer; ``timeout`` is only a failure deadline.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (missing := condition()) is not None:
            if not await self._changed.wait(deadline - loop.time()):
                if (missing := condition()) is None:
                    return
                raise TimeoutError(f"emulator: still {missing} after {timeout}s")

    async def wait_idle(self, chat_id: int | None = None, timeout: float = 30.0) -> None:
        """Wait until the bot has handled every update delivered so far (in this chat).

        Handled means: polled and confirmed by a later offset and, with ``processing_acks``,
        reported by update_processed(); or, with a webhook, the bot answered the POST. And
        no Bot API request is under way. Why: tests send user input and then need the bot's
        complete reaction before asserting, however slow the machine.
        """
        await self.wait_until(lambda: self._busy_reason(chat_id), timeout)

    async def wait_for_message(
        self,
        chat_id: int,
        predicate: Callable[[dict[str, Any]], bool],
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """Wait for a visible message in this chat that ``predicate`` accepts; return it.

        For a bot that cannot report its work as done (another process, polling).
        """
        found: list[dict[str, Any]] = []

        def missing() -> str | None:
            found[:] = [m for m in self.visible_messages(chat_id) if predicate(m)]
            return None if found else f"no matching message in chat {chat_id}"

        await self.wait_until(missing, timeout)
        return found[-1]

    # ------------------------------------------------------------------ Bot API dispatch

    async def _read_params(self, request: web.Request) -> Params:
        params: Params = {k: _decode_value(k, v) for k, v in request.query.items()}
        if request.method != "POST" or not request.can_read_body:
            return params
        if request.content_type == "application/json":
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("JSON body must be an object")
            params.update(body)
            return params
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, str):
                params[key] = _decode_value(key, value)
            else:  # an uploaded file: keep a placeholder, never the bytes
                params[key] = {"file": getattr(value, "filename", None)}
        return params

    async def _handle_api(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if not hmac.compare_digest(token.encode(), self._token.encode()):
            return _json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, 401
            )
        requested = request.match_info["method"]
        try:
            params = await self._read_params(request)
        except ValueError as exc:
            self.calls.append((requested, {}))
            self._problem(f"{requested}: unreadable parameters ({exc})")
            return _json_response(
                {"ok": False, "error_code": 400, "description": "Bad Request: invalid body"}, 400
            )
        chat_key = params.get("chat_id")
        key = chat_key if isinstance(chat_key, int) else None
        if isinstance(chat_key, str) and chat_key.lstrip("-").isdigit():
            key = int(chat_key)
        polling = requested.lower() == "getupdates"
        if not polling:
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
        try:
            return await self._call(requested, params, request)
        finally:
            if not polling:
                self._in_flight[key] -= 1
                if not self._in_flight[key]:
                    del self._in_flight[key]
                self._changed.notify()

    async def _call(
        self, requested: str, params: Params, request: web.Request | None
    ) -> web.Response:
        """Validate and run one Bot API call, from an HTTP request or a webhook reply."""
        entry = self._methods.get(requested.lower())
        name = entry[0] if entry else requested
        self.calls.append((name, params))
        if len(self.calls) > MAX_CALLS:
            del self.calls[: len(self.calls) - MAX_CALLS]
        self._changed.notify()  # wait_until may wait for a call
        if entry is None:
            self._problem(f"{requested}: method not supported by the emulator")
            return _json_response({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
        injected = self._injected.get(name)
        if injected:  # a test asked for this error (fail_next)
            refusal = injected.popleft()
            return _json_response(refusal, refusal["error_code"])
        if self._validator is not None:
            try:
                found = list(self._validator(name, params))
            except Exception as exc:  # a broken validator must not look like a bot bug
                log.exception("validator crashed")
                found = [f"validator crashed: {exc!r}"]
            if found:
                for problem in found:
                    self._problem(f"{name}: {problem}")
                return _json_response(
                    {"ok": False, "error_code": 400, "description": f"Bad Request: {found[0]}"},
                    400,
                )
        try:
            result = await entry[1](params, request)
        except _ApiError as exc:
            if exc.problem:
                self._problem(f"{name}: {exc.description}")
            body: dict[str, Any] = {
                "ok": False, "error_code": exc.code, "description": exc.description,
            }  # fmt: skip
            return _json_response(body, exc.code)
        return _json_response({"ok": True, "result": result})

    # ------------------------------------------------------------------ parameter helpers

    def _chat_param(self, params: Params, key: str = "chat_id") -> _Chat:
        value = params.get(key)
        if value is None or value == "":
            raise _bad("chat_id is empty", problem=True)
        if isinstance(value, str) and _INT_RE.match(value):
            value = int(value)
        chat = self._chats.get(value) if isinstance(value, int) else None
        if chat is None:
            raise _bad("chat not found")
        if chat.blocked:
            raise _ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    @staticmethod
    def _int_param(params: Params, key: str) -> int:
        value = params.get(key)
        if isinstance(value, bool) or value is None:
            raise _bad(f"{key} is empty" if value is None else f"invalid {key}", problem=True)
        try:
            return int(value)
        except (TypeError, ValueError):
            raise _bad(f"invalid {key}", problem=True) from None

    def _check_markup(self, markup: Any) -> None:
        if markup is None:
            return
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object", problem=True)
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad('field "inline_keyboard" must be an Array of Arrays', problem=True)
            if sum(len(r) for r in rows) > 100:
                raise _bad("reply markup is too long", problem=True)
            for button in (b for row in rows for b in row):
                self._check_inline_button(button)
        elif "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad('field "keyboard" must be an Array of Arrays', problem=True)
            for button in (b for row in rows for b in row):
                text = button.get("text") if isinstance(button, dict) else button
                if not isinstance(text, str) or not text:
                    raise _bad("keyboard button text is empty", problem=True)
        elif not ({"remove_keyboard", "force_reply"} & markup.keys()):
            raise _bad("can't parse reply keyboard markup JSON object", problem=True)

    @staticmethod
    def _check_inline_button(button: Any) -> None:
        if not isinstance(button, dict) or not isinstance(button.get("text"), str):
            raise _bad("can't parse inline keyboard button: text is missing", problem=True)
        if not button["text"].strip():
            raise _bad("BUTTON_TEXT_EMPTY", problem=True)
        actions = [k for k in INLINE_BUTTON_ACTIONS if k in button]
        if len(actions) != 1:
            raise _bad(
                "can't parse inline keyboard button: Text buttons are unallowed in the inline "
                "keyboard"
                if not actions
                else "can't parse inline keyboard button: "
                "exactly one of the optional fields must be used",
                problem=True,
            )
        if "callback_data" in button:
            data = button["callback_data"]
            if (
                not isinstance(data, str)
                or not data
                or len(data.encode("utf-8")) > MAX_CALLBACK_DATA_BYTES
            ):
                raise _bad("BUTTON_DATA_INVALID", problem=True)
        if "url" in button:
            url = button["url"]
            if not isinstance(url, str) or not re.match(r"^(https?|tg)://\S+$", url):
                raise _bad("BUTTON_URL_INVALID", problem=True)

    def _parse_text(self, params: Params) -> tuple[str, list[dict[str, Any]], str | None, str]:
        """Visible text, entities, parse mode and source text of an outgoing message."""
        source = params.get("text")
        if not isinstance(source, str) or not source.strip():
            raise _bad("message text is empty", problem=True)
        parse_mode = params.get("parse_mode") or None
        entities: list[dict[str, Any]] = []
        if parse_mode is None:
            text = source
            given = params.get("entities")
            if isinstance(given, list):
                entities = [e for e in given if isinstance(e, dict)]
        elif not isinstance(parse_mode, str):
            raise _bad("unsupported parse_mode", problem=True)
        elif parse_mode.lower() == "html":
            try:
                text, entities = html_to_text(source)
            except HtmlParseError as exc:
                raise _bad(f"can't parse entities: {exc}", problem=True) from None
        elif parse_mode.lower() in ("markdown", "markdownv2"):
            text = source  # not rendered; the visible text keeps the markup characters
        else:
            raise _bad(f"unsupported parse_mode {parse_mode!r}", problem=True)
        text, entities = _strip_text(text, entities)
        if not text:
            raise _bad("message text is empty", problem=True)
        if utf16_length(text) > MAX_TEXT_UTF16:
            raise _bad("message is too long", problem=True)
        return text, entities, parse_mode, source

    def _bot_message(self, chat: _Chat, params: Params) -> _StoredMessage:
        text, entities, parse_mode, source = self._parse_text(params)
        markup = params.get("reply_markup")
        self._check_markup(markup)
        raw: dict[str, Any] = {
            "message_id": 0,
            "from": dict(self.bot_user),
            "chat": chat.chat_object,
            "date": int(time.time()),
            "text": text,
        }
        if entities:
            raw["entities"] = entities
        reply = params.get("reply_parameters")
        if isinstance(reply, dict) and "message_id" in reply:
            target = chat.messages.get(reply["message_id"])
            if target is not None:
                raw["reply_to_message"] = {
                    k: v for k, v in target.raw.items() if k != "reply_to_message"
                }
            elif not reply.get("allow_sending_without_reply"):
                raise _bad("message to be replied not found")
        if isinstance(markup, dict):
            if "inline_keyboard" in markup:
                raw["reply_markup"] = markup
            elif "keyboard" in markup:
                chat.reply_keyboard = markup
            elif markup.get("remove_keyboard"):
                chat.reply_keyboard = None
        raw["message_id"] = self._new_message_id(chat)
        return _StoredMessage(raw=raw, from_bot=True, html=source, parse_mode=parse_mode)

    def _editable(self, params: Params) -> tuple[_Chat, _StoredMessage]:
        if params.get("inline_message_id"):
            raise _bad("inline messages are not supported by the emulator", problem=True)
        chat = self._chat_param(params)
        message_id = self._int_param(params, "message_id")
        stored = chat.messages.get(message_id)
        if stored is None:
            raise _bad("message to edit not found")
        if not stored.from_bot:
            raise _bad("message can't be edited")
        return chat, stored

    # ------------------------------------------------------------------ methods

    async def _m_get_me(self, params: Params, request: web.Request | None) -> Any:
        return {
            **self.bot_user,
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _is_allowed(self, update_type: str, allowed: list[str]) -> bool:
        if allowed:
            return update_type in allowed
        return update_type not in NOT_DEFAULT_UPDATE_TYPES

    def _take_updates(self, offset: int | None, limit: int) -> list[_Queued]:
        """Forget confirmed updates (id < offset) and those the bot does not want."""
        before = len(self._pending)
        if offset is not None:
            if offset < 0:
                self._pending = self._pending[offset:]
            else:
                self._pending = [
                    q
                    for q in self._pending
                    if q.update_id >= offset or (q.explicit and not q.fetched)
                ]
        self._pending = [
            q for q in self._pending if self._is_allowed(_update_type(q.update), self._allowed)
        ]
        if len(self._pending) != before:
            self._changed.notify()  # confirmed: wait_idle may be waiting for that
        return self._pending[:limit]

    async def _m_get_updates(self, params: Params, request: web.Request | None) -> Any:
        assert request is not None, "getUpdates is refused in webhook replies"
        if self._webhook is not None:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        offset = params.get("offset")
        offset = self._int_param(params, "offset") if offset is not None else None
        limit = params.get("limit")
        limit = min(max(self._int_param(params, "limit"), 1), 100) if limit is not None else 100
        timeout = params.get("timeout")
        timeout = float(self._int_param(params, "timeout")) if timeout is not None else 0.0
        timeout = min(max(timeout, 0.0), MAX_POLL_TIMEOUT)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed = [a for a in allowed if isinstance(a, str)]
        self._poll_gen += 1
        generation = self._poll_gen
        self._updates_signal.notify()  # an older poll must give way to this one
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._webhook is not None:
                raise _ApiError(409, "Conflict: terminated by setWebhook request")
            if generation != self._poll_gen:
                raise _ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one "
                    "bot instance is running",
                )
            batch = self._take_updates(offset, limit)
            remaining = deadline - loop.time()
            if batch or remaining <= 0 or self._closing:
                break
            await self._updates_signal.wait(remaining)
        transport = request.transport
        if not batch or transport is None or transport.is_closing():
            return []  # nobody is listening any more: the bot will fetch these again
        for queued in batch:
            queued.fetched = True
            if self.processing_acks:
                self._unprocessed[queued.update_id] = _update_chat_id(queued.update)
        self._changed.notify()
        return [copy.deepcopy(q.update) for q in batch]

    async def _m_set_webhook(self, params: Params, request: web.Request | None) -> Any:
        url = params.get("url")
        if not isinstance(url, str):
            raise _bad("url is empty", problem=True)
        if not url:
            return await self._m_delete_webhook(params, request)
        if not re.match(r"^https?://[^\s/]+", url):
            raise _bad("bad webhook: invalid webhook URL specified", problem=True)
        secret = params.get("secret_token")
        if secret is not None and (not isinstance(secret, str) or not _SECRET_RE.match(secret)):
            raise _bad("secret token contains unallowed characters", problem=True)
        allowed = params.get("allowed_updates")
        if params.get("drop_pending_updates"):
            self._pending.clear()
            self._webhook_queues.clear()
        self._webhook = {
            "url": url,
            "secret_token": secret,
            "allowed_updates": [a for a in allowed if isinstance(a, str)]
            if isinstance(allowed, list)
            else [],
            "max_connections": params.get("max_connections", 40),
        }
        self._webhook_last_error = None
        self._updates_signal.notify()  # a waiting getUpdates must end with 409
        pending, self._pending = self._pending, []
        for queued in pending:  # updates not confirmed yet now go to the webhook
            if self._is_allowed(_update_type(queued.update), self._webhook["allowed_updates"]):
                self._enqueue_webhook(queued.update)
        return True

    async def _m_delete_webhook(self, params: Params, request: web.Request | None) -> Any:
        if params.get("drop_pending_updates"):
            self._pending.clear()
            self._webhook_queues.clear()
        self._webhook = None
        return True

    async def _m_get_webhook_info(self, params: Params, request: web.Request | None) -> Any:
        if self._webhook is None:
            return {
                "url": "", "has_custom_certificate": False,
                "pending_update_count": len(self._pending),
            }  # fmt: skip
        info: dict[str, Any] = {
            "url": self._webhook["url"],
            "has_custom_certificate": False,
            "pending_update_count": sum(len(q) for q in self._webhook_queues.values()),
            "max_connections": self._webhook["max_connections"],
        }
        if self._webhook["allowed_updates"]:
            info["allowed_updates"] = self._webhook["allowed_updates"]
        if self._webhook_last_error:
            info["last_error_date"], info["last_error_message"] = self._webhook_last_error
        return info

    async def _m_send_message(self, params: Params, request: web.Request | None) -> Any:
        chat = self._chat_param(params)
        stored = self._bot_message(chat, params)
        chat.typing_until = 0.0
        self._add_message(chat, stored)
        return copy.deepcopy(stored.raw)

    async def _m_edit_message_text(self, params: Params, request: web.Request | None) -> Any:
        chat, stored = self._editable(params)
        text, entities, parse_mode, source = self._parse_text(params)
        markup = params.get("reply_markup")
        self._check_markup(markup)
        if markup is not None and "inline_keyboard" not in markup:
            raise _bad("inline keyboard expected", problem=True)
        raw = stored.raw
        if (
            raw.get("text") == text
            and _markup_key(raw.get("entities", [])) == _markup_key(entities)
            and _markup_key(raw.get("reply_markup")) == _markup_key(markup)
        ):
            raise _bad(NOT_MODIFIED.removeprefix("Bad Request: "))
        raw["text"] = text
        raw.pop("entities", None)
        if entities:
            raw["entities"] = entities
        self._set_markup(raw, markup)
        raw["edit_date"] = int(time.time())
        stored.html, stored.parse_mode, stored.edited = source, parse_mode, True
        self._bump(chat)
        return copy.deepcopy(raw)

    @staticmethod
    def _set_markup(raw: dict[str, Any], markup: dict[str, Any] | None) -> None:
        if markup and markup.get("inline_keyboard"):
            raw["reply_markup"] = markup
        else:
            raw.pop("reply_markup", None)

    async def _m_edit_message_reply_markup(
        self, params: Params, request: web.Request | None
    ) -> Any:
        chat, stored = self._editable(params)
        markup = params.get("reply_markup")
        self._check_markup(markup)
        if markup is not None and "inline_keyboard" not in markup:
            raise _bad("inline keyboard expected", problem=True)
        current = stored.raw.get("reply_markup")
        new = markup if markup and markup.get("inline_keyboard") else None
        if _markup_key(current) == _markup_key(new):
            raise _bad(NOT_MODIFIED.removeprefix("Bad Request: "))
        self._set_markup(stored.raw, markup)
        stored.raw["edit_date"] = int(time.time())
        stored.edited = True
        self._bump(chat)
        return copy.deepcopy(stored.raw)

    async def _m_delete_message(self, params: Params, request: web.Request | None) -> Any:
        chat = self._chat_param(params)
        message_id = self._int_param(params, "message_id")
        if chat.messages.pop(message_id, None) is None:
            raise _bad("message to delete not found")
        self._bump(chat)
        return True

    async def _m_delete_messages(self, params: Params, request: web.Request | None) -> Any:
        chat = self._chat_param(params)
        ids = params.get("message_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise _bad("message_ids must be a list of 1-100 identifiers", problem=True)
        removed = [chat.messages.pop(i, None) for i in ids if isinstance(i, int)]
        if any(removed):
            self._bump(chat)
        return True

    async def _m_answer_callback_query(self, params: Params, request: web.Request | None) -> Any:
        query_id = params.get("callback_query_id")
        query = self.callback_queries.get(str(query_id)) if query_id is not None else None
        if query is None or query["answered"]:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        text = params.get("text")
        if isinstance(text, str) and utf16_length(text) > 200:
            raise _bad("MESSAGE_TOO_LONG", problem=True)
        query["answered"] = True
        query["answer"] = dict(params)
        chat = self._chats.get(query["chat_id"])
        if chat is not None and isinstance(text, str) and text:
            self._seq += 1
            chat.toast = {
                "id": self._seq,
                "text": text,
                "show_alert": bool(params.get("show_alert")),
            }
            self._bump(chat)
        return True

    @staticmethod
    def _scope_key(params: Params) -> str:
        scope = params.get("scope") or {"type": "default"}
        if not isinstance(scope, dict) or not isinstance(scope.get("type"), str):
            raise _bad("can't parse BotCommandScope", problem=True)
        return _markup_key(scope)

    async def _m_set_my_commands(self, params: Params, request: web.Request | None) -> Any:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad("commands must be a list of at most 100 BotCommand", problem=True)
        for command in commands:
            if (
                not isinstance(command, dict)
                or not re.match(r"^[a-z0-9_]{1,32}$", str(command.get("command", "")))
                or not 1 <= len(str(command.get("description", ""))) <= 256
            ):
                raise _bad("BOT_COMMAND_INVALID", problem=True)
        key = (self._scope_key(params), str(params.get("language_code") or ""))
        if commands:
            self.commands[key] = [dict(c) for c in commands]
        else:
            self.commands.pop(key, None)
        return True

    async def _m_get_my_commands(self, params: Params, request: web.Request | None) -> Any:
        key = (self._scope_key(params), str(params.get("language_code") or ""))
        return self.commands.get(key, [])

    async def _m_delete_my_commands(self, params: Params, request: web.Request | None) -> Any:
        self.commands.pop((self._scope_key(params), str(params.get("language_code") or "")), None)
        return True

    async def _m_set_description(
        self, kind: str, params: Params, request: web.Request | None
    ) -> Any:
        value = params.get(kind) or ""
        limit = 512 if kind == "description" else 120
        if not isinstance(value, str) or len(value) > limit:
            raise _bad(f"{kind} is too long", problem=True)
        key = (kind, str(params.get("language_code") or ""))
        if value:
            self.descriptions[key] = value
        else:
            self.descriptions.pop(key, None)
        return True

    async def _m_get_description(
        self, kind: str, params: Params, request: web.Request | None
    ) -> Any:
        lang = str(params.get("language_code") or "")
        return {kind: self.descriptions.get((kind, lang), "")}

    async def _m_set_chat_menu_button(self, params: Params, request: web.Request | None) -> Any:
        chat_id = params.get("chat_id")
        button = params.get("menu_button") or {"type": "default"}
        if not isinstance(button, dict) or "type" not in button:
            raise _bad("can't parse menu button", problem=True)
        self.menu_buttons[chat_id if isinstance(chat_id, int) else None] = button
        return True

    async def _m_get_chat_menu_button(self, params: Params, request: web.Request | None) -> Any:
        chat_id = params.get("chat_id")
        key = chat_id if isinstance(chat_id, int) else None
        return self.menu_buttons.get(key) or self.menu_buttons.get(None) or {"type": "default"}

    async def _m_send_chat_action(self, params: Params, request: web.Request | None) -> Any:
        chat = self._chat_param(params)
        if not isinstance(params.get("action"), str):
            raise _bad("action is empty", problem=True)
        chat.typing_until = time.monotonic() + 5.0
        self._bump(chat)
        # "typing" announces a reply, it is not one: wait_idle keeps waiting for the reply.
        return True

    # ------------------------------------------------------------------ webhook delivery

    def _enqueue_webhook(self, update: dict[str, Any]) -> None:
        key = _update_chat_id(update)
        queue = self._webhook_queues.setdefault(key, deque())
        queue.append(update)
        if key not in self._webhook_tasks:
            self._webhook_tasks[key] = asyncio.create_task(self._webhook_worker(key))

    async def _webhook_worker(self, key: int | None) -> None:
        """Deliver one chat's updates strictly in order (Telegram does the same per chat)."""
        try:
            while (queue := self._webhook_queues.get(key)) and not self._closing:
                if self._webhook is None:  # webhook removed: the rest waits for getUpdates
                    for update in queue:
                        self._queue_for_polling(_Queued(update))
                    queue.clear()
                    self._updates_signal.notify()
                    break
                await self._post_update(queue[0])
                if queue and self._webhook_queues.get(key) is queue:
                    queue.popleft()
                self._changed.notify()
        finally:
            self._webhook_tasks.pop(key, None)
            if not self._webhook_queues.get(key):
                self._webhook_queues.pop(key, None)

    async def _post_update(self, update: dict[str, Any]) -> None:
        webhook = self._webhook
        assert webhook is not None
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=WEBHOOK_POST_TIMEOUT)
            )
        headers = {"Content-Type": "application/json"}
        if webhook["secret_token"]:
            headers["X-Telegram-Bot-Api-Secret-Token"] = webhook["secret_token"]
        body = json.dumps(update, ensure_ascii=False).encode("utf-8")
        error = ""
        for attempt in range(len(WEBHOOK_BACKOFF) + 1):
            if attempt:
                await asyncio.sleep(WEBHOOK_BACKOFF[attempt - 1])
            try:
                async with self._session.post(webhook["url"], data=body, headers=headers) as resp:
                    answer = await resp.read()
                    if 200 <= resp.status < 300:
                        await self._webhook_reply(resp.content_type, answer)
                        return
                    error = f"Wrong response from the webhook: {resp.status} {resp.reason}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = f"Connection failed: {exc!r}"
        self._webhook_last_error = (int(time.time()), error)
        self._problem(f"webhook delivery of update {update['update_id']} failed: {error}")

    async def _webhook_reply(self, content_type: str, body: bytes) -> None:
        """Run a method the bot put in its webhook response, as Telegram does.

        Telegram reads a JSON object with a ``method`` field from a 2xx response and
        calls it; the bot never learns the result. Anything else in the body is ignored.
        """
        if content_type != "application/json" or not body:
            return
        try:
            data = json.loads(body)
        except ValueError:
            return
        if not isinstance(data, dict) or not isinstance(data.get("method"), str):
            return
        if data["method"].lower() == "getupdates":
            self._problem("getUpdates cannot be called from a webhook response")
            return
        params = {k: v for k, v in data.items() if k != "method"}
        await self._call(data["method"], params, None)

    # ------------------------------------------------------------------ chat page

    async def _page_redirect(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(f"{self._page_prefix}/")

    async def _page_index(self, request: web.Request) -> web.StreamResponse:
        return await self._page_static("chat.html", request)

    async def _page_static(self, name: str, request: web.Request) -> web.StreamResponse:
        path = STATIC_DIR / name
        if not path.is_file():
            raise web.HTTPNotFound()
        types = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
        return web.Response(
            body=path.read_bytes(),
            content_type=types[path.suffix],
            charset="utf-8",
            headers={
                "Cache-Control": "no-store",
                "Content-Security-Policy": PAGE_CSP,
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            },
        )

    @staticmethod
    def _page_error(status: int, error: str) -> web.Response:
        return _json_response({"ok": False, "error": error}, status)

    async def _page_body(self, request: web.Request) -> dict[str, Any]:
        """JSON object body; why: JSON-only blocks cross-site form posts to this page API."""
        if request.content_type != "application/json":
            raise web.HTTPUnsupportedMediaType(
                text=json.dumps({"ok": False, "error": "send application/json"}),
                content_type="application/json",
            )
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(
                text=json.dumps({"ok": False, "error": "malformed JSON object"}),
                content_type="application/json",
            )
        return body

    def _page_chat(self, request: web.Request) -> _Chat:
        raw = request.match_info["chat_id"]
        chat = self._chats.get(int(raw)) if _INT_RE.match(raw) else None
        if chat is None:
            raise web.HTTPNotFound(
                text=json.dumps({"ok": False, "error": "unknown chat"}),
                content_type="application/json",
            )
        return chat

    def _commands_for(self, chat: _Chat) -> list[dict[str, Any]]:
        lang = str(chat.user.get("language_code") or "")
        scopes = [
            _markup_key({"type": "chat", "chat_id": chat.chat_id}),
            _markup_key({"type": "all_private_chats"}),
            _markup_key({"type": "default"}),
        ]
        for scope in scopes:
            for key in ((scope, lang), (scope, "")):
                if key in self.commands:
                    return self.commands[key]
        return []

    def snapshot(self, chat_id: int) -> dict[str, Any]:
        """Everything the chat page shows, in one JSON-able dict."""
        chat = self._chat(chat_id)
        lang = str(chat.user.get("language_code") or "")
        description = self.descriptions.get(("description", lang)) or self.descriptions.get(
            ("description", ""), ""
        )
        return {
            "ok": True,
            "chat_id": chat.chat_id,
            "seq": chat.version,
            "bot": {k: self.bot_user[k] for k in ("first_name", "username")},
            "user": {"first_name": chat.user.get("first_name"), "language_code": lang or None},
            "messages": [self._visible(m) for m in chat.messages.values()],
            "reply_keyboard": chat.reply_keyboard,
            "typing": chat.typing_until > time.monotonic(),
            "toast": chat.toast,
            "commands": self._commands_for(chat),
            "description": description,
        }

    async def _page_create_chat(self, request: web.Request) -> web.Response:
        body = await self._page_body(request)
        lang = body.get("language_code", "sv")
        if lang is not None and lang not in LANGUAGES:
            return self._page_error(400, "unsupported language_code")
        name = body.get("first_name", "Test")
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= 64:
            return self._page_error(400, "first_name must be 1-64 characters")
        chat_id = self.new_private_chat(language_code=lang, first_name=name.strip())
        return _json_response(self.snapshot(chat_id))

    async def _page_snapshot(self, request: web.Request) -> web.Response:
        return _json_response(self.snapshot(self._page_chat(request).chat_id))

    async def _page_events(self, request: web.Request) -> web.Response:
        """Long poll: answers when the chat changed after ``after`` or after ``timeout`` s."""
        chat = self._page_chat(request)
        try:
            after = int(request.query.get("after", "-1"))
            timeout = float(request.query.get("timeout", PAGE_WAIT_MAX))
        except ValueError:
            return self._page_error(400, "after must be an integer, timeout a number")
        timeout = min(max(timeout, 0.0), PAGE_WAIT_MAX)
        deadline = asyncio.get_running_loop().time() + timeout
        while chat.version <= after and not self._closing:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            await chat.signal.wait(remaining)
            if self._chats.get(chat.chat_id) is not chat:
                return self._page_error(404, "unknown chat")
        return _json_response(self.snapshot(chat.chat_id))

    async def _page_text(self, request: web.Request) -> web.Response:
        chat = self._page_chat(request)
        body = await self._page_body(request)
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            return self._page_error(400, "text is empty")
        if utf16_length(text) > MAX_TEXT_UTF16:
            return self._page_error(400, f"text is longer than {MAX_TEXT_UTF16} characters")
        update = await self.user_sends_text(chat.chat_id, text)
        return _json_response({"ok": True, "update_id": update["update_id"]})

    async def _page_button(self, request: web.Request) -> web.Response:
        chat = self._page_chat(request)
        body = await self._page_body(request)
        message_id, data = body.get("message_id"), body.get("callback_data")
        if isinstance(message_id, bool) or not isinstance(message_id, int):
            return self._page_error(400, "message_id must be an integer")
        if not isinstance(data, str):
            return self._page_error(400, "callback_data must be a string")
        try:
            update = await self.user_presses_button(chat.chat_id, message_id, data)
        except ValueError as exc:
            return self._page_error(409, str(exc))
        return _json_response({"ok": True, "update_id": update["update_id"]})

    async def _page_send(self, request: web.Request) -> web.Response:
        chat = self._page_chat(request)
        body = await self._page_body(request)
        kind = body.get("kind")
        if kind not in USER_KINDS:
            return self._page_error(400, "unsupported kind")
        update = await self.user_sends(chat.chat_id, kind)
        return _json_response({"ok": True, "update_id": update["update_id"]})

    async def _page_language(self, request: web.Request) -> web.Response:
        chat = self._page_chat(request)
        body = await self._page_body(request)
        lang = body.get("language_code")
        if lang is not None and lang not in LANGUAGES:
            return self._page_error(400, "unsupported language_code")
        self.set_user_language(chat.chat_id, lang)
        return _json_response({"ok": True})


EMULATOR_KEY = web.AppKey("bot_api_emulator", BotApiEmulator)
