"""The RelayPort for Telegram: a staff reply reaches the relative's chat, from the team.

The message is rendered as coming from the team (``ContactScreens.relayed``), with a
first name only when staff chose to sign. Its frame and buttons are in the chat's
language (what the relative chose in the bot), else the request's reply language, else
the base language: the staff's words are in the reply language, the bot's around them
in the language the chat already speaks. The same holds for the one notice that the
team closed the request (``notify_closed``). Telegram's refusals (the relative blocked
the bot, the chat is gone) come back as a short reason the case shows; nothing is raised
and no text is logged.
"""

from __future__ import annotations

import logging

from telegram import Bot
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.chat.contact_screens import ContactScreens
from bot.chat.memory import ChatMemory
from bot.content.render import Renderer, Screen, split_html
from bot.telegram.port import NO_PREVIEW, keyboard

log = logging.getLogger(__name__)


class TelegramRelay:
    """Staff replies and close notices to the relative's chat; sent ids go to its memory."""

    def __init__(self, bot: Bot, renderer: Renderer, memory: ChatMemory | None = None) -> None:
        self._bot = bot
        self._memory = memory  # None: nothing remembered, the request's language is used
        self._renderer = renderer
        self._screens = ContactScreens(renderer)
        self._languages = {lang.code for lang in renderer.content.enabled_languages}

    async def deliver(
        self, chat_id: int, team_id: str, language: str, text: str, signature: str | None
    ) -> str | None:
        """Send the reply; None when Telegram took it, else a reason such as "blocked"."""
        lang = await self._language(chat_id, language)
        return await self._send(chat_id, self._screens.relayed(lang, team_id, text, signature))

    async def notify_closed(
        self, chat_id: int, team_id: str, language: str, code: str
    ) -> str | None:
        """The neutral "your request was closed" notice with the one-tap question."""
        lang = await self._language(chat_id, language)
        return await self._send(chat_id, self._screens.closed_notice(lang, team_id, code))

    async def _language(self, chat_id: int, requested: str) -> str:
        """The chat's language, else the request's reply language, else the base language."""
        if self._memory is not None:
            try:
                chosen = await self._memory.language(chat_id)
            except Exception as exc:  # the reply still goes out, in the request's language
                log.warning("chat language unavailable: %s", type(exc).__name__)
                chosen = None
            if chosen in self._languages:
                return chosen
        return requested if requested in self._languages else self._renderer.content.base_language

    async def _send(self, chat_id: int, screen: Screen) -> str | None:
        chunks = split_html(screen.text)
        sent: list[int] = []
        try:
            for i, chunk in enumerate(chunks):
                params = {
                    "chat_id": chat_id,
                    "text": chunk,
                    "parse_mode": "HTML",
                    "link_preview_options": NO_PREVIEW,
                }
                markup = keyboard(screen) if i == len(chunks) - 1 else None
                if markup is not None:
                    params["reply_markup"] = markup
                message = await self._bot._post("sendMessage", params)
                sent.append(message["message_id"])
        except Forbidden:
            log.info("relay refused: bot blocked or chat gone")
            return "blocked"
        except BadRequest as exc:
            log.info("relay refused: %s", type(exc).__name__)
            return "bad_request"
        except TelegramError as exc:
            log.warning("relay failed: %s", type(exc).__name__)
            return f"telegram_error: {type(exc).__name__}"
        finally:
            if sent and self._memory is not None:
                await self._memory.remember_sent(chat_id, sent)
        return None
