"""Wiring python-telegram-bot in one place: the bot, its transport, processor and handlers.

The bot is built first and on its own (``build_bot``): the relay and the staff notifier
send with it, and the case rules receive those at construction, before the Application
that feeds the conversation exists. The profile (description, short description, command
menu) is in ``profile.py``.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import Update
from telegram.ext import Application, BaseRateLimiter, ExtBot, TypeHandler

from bot.chat.conversation import ConversationService
from bot.log_policy import enforce_log_privacy
from bot.services.flood import IncomingBudget
from bot.services.telemetry import Telemetry
from bot.telegram.flood_gate import FloodGate
from bot.telegram.handlers import TelegramDoor
from bot.telegram.limits import TelegramLimits
from bot.telegram.processor import ChatOrderedUpdateProcessor
from bot.telegram.transport import AiohttpRequest, ObservedRequest

log = logging.getLogger(__name__)
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]

# PTB's Application is generic in six context types; the bot uses none of them.
TelegramApplication = Application[Any, Any, Any, Any, Any, Any]


def build_bot(
    token: str,
    base_url: str,
    *,
    proxy: str | None = None,
    telemetry: Telemetry | None = None,
    limits: BaseRateLimiter[Any] | None = None,
) -> ExtBot[Any]:
    """The Bot API client: a wide pool for sending, a narrow one for long polls.

    ``proxy`` (TELEGRAM_PROXY / HTTPS_PROXY) carries both, so every Bot API call goes out
    through it. The log policy first: PTB logs the API URL, token included, at DEBUG as the
    bot is made. Every call but getUpdates goes through ``limits`` (Telegram's rate limits,
    429s waited out and retried; ``TelegramLimits()`` unless given).
    """
    enforce_log_privacy()
    return ExtBot(
        token,
        base_url=base_url,
        rate_limiter=limits if limits is not None else TelegramLimits(),
        request=_request(telemetry, connection_pool_size=128, proxy=proxy),
        get_updates_request=_request(
            telemetry, connection_pool_size=2, read_timeout=40.0, proxy=proxy
        ),
    )


def _request(telemetry: Telemetry | None, **options: Any) -> AiohttpRequest:
    """The transport; with ``telemetry`` it counts failed Bot API calls by kind."""
    return AiohttpRequest(**options) if telemetry is None else ObservedRequest(telemetry, **options)


def build_application(
    conversation: ConversationService,
    bot: ExtBot[None],
    *,
    with_updater: bool,
    telemetry: Telemetry | None = None,
    budget: IncomingBudget | None = None,
) -> TelegramApplication:
    """The PTB Application; ``with_updater`` False for webhook mode (our aiohttp route feeds it).

    ``budget``: the per-chat budget for incoming updates, checked before anything else.
    """
    enforce_log_privacy()
    gate = FloodGate(budget, conversation, bot, telemetry) if budget is not None else None
    processor = ChatOrderedUpdateProcessor(256, telemetry, gate)
    builder = Application.builder().bot(bot).concurrent_updates(processor)
    if not with_updater:
        builder = builder.updater(None)
    application = builder.build()
    door = TelegramDoor(conversation)
    application.add_handler(TypeHandler(Update, door.on_update))
    application.add_error_handler(door.on_error)
    return application
