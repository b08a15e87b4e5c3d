"""Wiring python-telegram-bot in one place: transport, update processor, handlers, commands."""

from __future__ import annotations

import logging

from telegram import BotCommand, Update
from telegram.error import TelegramError
from telegram.ext import Application, TypeHandler

from bot.content.model import Content
from bot.i18n import Translator
from bot.log_policy import enforce_log_privacy
from bot.services.conversation import ConversationService
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


async def publish_commands(
    application: Application, content: Content, translators: dict[str, Translator]
) -> None:
    """Localised command menus, one per enabled language (Telegram picks by the user's language)."""
    for language in content.enabled_languages:
        _ = translators[language.code].gettext
        commands = [
            BotCommand("start", _("Main menu")),
            BotCommand("emergency", _("When there is danger")),
            BotCommand("language", _("Change language")),
            BotCommand("municipality", _("Change municipality")),
            BotCommand("privacy", _("What is stored")),
            BotCommand("status", _("Status of my request")),
            BotCommand("clear", _("Remove the messages in this chat")),
            BotCommand("delete", _("Delete my data")),
            BotCommand("help", _("How this guide works")),
        ]
        try:
            code = None if language.code == content.base_language else language.code
            await application.bot.set_my_commands(commands, language_code=code)
        except TelegramError as exc:
            log.warning("setMyCommands failed for %s: %s", language.code, type(exc).__name__)
