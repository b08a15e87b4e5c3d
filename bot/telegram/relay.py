"""The RelayPort for Telegram: a staff reply reaches the relative's chat, from the team.

The message is rendered in the relative's reply language as coming from "the
helpline team of <municipality>", with a first name only when staff chose to
sign. Telegram's refusals (the relative blocked the bot, the chat is gone) come
back as a short reason the case shows; nothing is raised and no text is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from telegram import Bot
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.content.contact_screens import ContactScreens
from bot.content.render import Renderer, split_html
from bot.telegram.port import NO_PREVIEW, keyboard

log = logging.getLogger(__name__)


class TelegramRelay:
    def __init__(
        self,
        bot: Bot,
        renderer: Renderer,
        remember_sent: Callable[[int, list[int]], Awaitable[None]] | None = None,
    ) -> None:
        self._bot = bot
        self._remember_sent = remember_sent
        self._renderer = renderer
        self._screens = ContactScreens(renderer)
        self._languages = {lang.code for lang in renderer.content.enabled_languages}

    async def deliver(
        self, chat_id: int, team_id: str, language: str, text: str, signature: str | None
    ) -> str | None:
        """Send the reply; None when Telegram took it, else a reason such as "blocked"."""
        lang = language if language in self._languages else self._renderer.content.base_language
        screen = self._screens.relayed(lang, team_id, text, signature)
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
            if sent and self._remember_sent is not None:
                await self._remember_sent(chat_id, sent)
        return None
