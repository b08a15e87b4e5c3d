"""Wiring python-telegram-bot in one place: transport, update processor, handlers.

The profile (description, short description, command menu) is in ``profile.py``.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import Application, TypeHandler

from bot.chat.conversation import ConversationService
from bot.log_policy import enforce_log_privacy
from bot.telegram.handlers import TelegramDoor
from bot.telegram.processor import ChatOrderedUpdateProcessor
from bot.telegram.transport import AiohttpRequest

log = logging.getLogger(__name__)
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]


def build_application(
    conversation: ConversationService, *, token: str, base_url: str, with_updater: bool
) -> Application:
    """The PTB Application; ``with_updater`` False for webhook mode (our aiohttp route feeds it)."""
    enforce_log_privacy()
    builder = (
        Application.builder()
        .token(token)
        .base_url(base_url)
        .request(AiohttpRequest(connection_pool_size=128))
        .get_updates_request(AiohttpRequest(connection_pool_size=2, read_timeout=40.0))
        .concurrent_updates(ChatOrderedUpdateProcessor(256))
    )
    if not with_updater:
        builder = builder.updater(None)
    application = builder.build()
    door = TelegramDoor(conversation)
    application.add_handler(TypeHandler(Update, door.on_update))
    application.add_error_handler(door.on_error)
    return application
