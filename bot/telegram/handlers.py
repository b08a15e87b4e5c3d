"""The Telegram door: turn an update into an Event, call the service, answer the button.

One TypeHandler for every update keeps dispatch cheap; everything below is parsing.
Message text is handed to the service, which uses it only where the contact flow
asks for it (scrubbed before it is stored); it is never logged.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType, MessageEntityType
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.chat.conversation import ConversationService, Event
from bot.storage.faults import is_transient
from bot.telegram.port import TelegramChatPort
from bot.telegram.processor import mark_update_failed
from bot.telegram.webhook_reply import current_webhook_reply

log = logging.getLogger(__name__)


def event_from_update(update: Update) -> Event | None:
    """Classify an update; None for kinds the guide does not act on (edits, channel posts...)."""
    if update.callback_query is not None:
        query = update.callback_query
        message = query.message
        return Event(
            update_id=update.update_id,
            kind="button",
            language_code=query.from_user.language_code if query.from_user else None,
            data=query.data,
            message_id=message.message_id if message is not None else None,
        )
    message = update.message
    if message is None:
        return None
    language = message.from_user.language_code if message.from_user else None
    text = message.text
    if text is not None:
        entity = message.entities[0] if message.entities else None
        if entity and entity.type == MessageEntityType.BOT_COMMAND and entity.offset == 0:
            command = text[1 : entity.length].split("@", 1)[0].lower()
            return Event(
                update.update_id,
                "command",
                language,
                command=command,
                message_id=message.message_id,
            )
        return Event(update.update_id, "text", language, message_id=message.message_id, text=text)
    return Event(update.update_id, "other", language, message_id=message.message_id)


class TelegramDoor:
    """Holds the service; its methods are PTB callbacks."""

    def __init__(self, conversation: ConversationService) -> None:
        self.conversation = conversation

    async def on_update(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not isinstance(update, Update):
            return
        chat = update.effective_chat
        if chat is None or chat.type != ChatType.PRIVATE:
            return  # the guide works in private chats only; groups get nothing from it
        event = event_from_update(update)
        if event is None:
            return
        port = TelegramChatPort(context.bot, chat.id)
        outcome = await self.conversation.handle(chat.id, event, port)
        query = update.callback_query
        if query is None:
            return
        slot = current_webhook_reply.get()
        if slot is not None and slot.offer(
            "answerCallbackQuery", callback_query_id=query.id, text=outcome.toast
        ):
            return
        try:
            await query.answer(outcome.toast)
        except TelegramError as exc:
            log.info("answerCallbackQuery failed: %s", type(exc).__name__)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log where it failed (type and frames: the log formatter prints no message, no
        values), count the update as failed, then tell the relative calmly.

        A transient failure (database unreachable, disk full, a lock or pool wait run out)
        in webhook mode says nothing to the relative: the webhook answers 503, Telegram
        delivers the update again and the relative gets one answer once it is handled. In
        polling mode PTB has already confirmed the update (at its next getUpdates), so the
        relative is asked to send it again in a few minutes, in their language.
        """
        exc = context.error
        mark_update_failed()
        transient = exc is not None and is_transient(exc)
        kind = "transient" if transient else "permanent"
        log.error("update failed: %s (%s)", type(exc).__name__, kind, exc_info=exc)
        slot = current_webhook_reply.get()
        if transient and slot is not None:
            slot.retry = True
            return
        if (
            isinstance(update, Update)
            and update.effective_chat is not None
            and update.effective_chat.type == ChatType.PRIVATE
        ):
            user = update.effective_user
            text = self.conversation.error_text(user.language_code if user is not None else None)
            try:
                if update.callback_query is not None:
                    await update.callback_query.answer()
                await context.bot.send_message(update.effective_chat.id, text)
            except TelegramError:
                pass
