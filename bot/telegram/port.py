"""The ChatPort for Telegram: sends, edits and deletes, reporting failure instead of raising.

A relative who blocked the bot, a message too old to edit, a button on a message
that no longer exists: each is an ordinary answer from Telegram, turned into a
return value the service can act on. Logs name the Bot API error, never content.

Calls go through ``Bot._post`` (what PTB's own methods and ``do_api_request`` call)
with the keyboard already serialised: the port only needs a message id back, and
building and parsing full Message objects was a measurable part of each update.
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from typing import Any

from telegram import Bot
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.content.render import Screen, split_html

log = logging.getLogger(__name__)
NO_PREVIEW = json.dumps({"is_disabled": True})


def keyboard(screen: Screen) -> str | None:
    """The screen's inline keyboard as Bot API JSON (screens repeat, so it is cached)."""
    return _keyboard_json(screen.keyboard) if screen.keyboard else None


@lru_cache(maxsize=4096)
def _keyboard_json(rows: tuple[tuple[Any, ...], ...]) -> str:
    return json.dumps(
        {
            "inline_keyboard": [
                [{"text": b.label, "callback_data": b.data} for b in row] for row in rows
            ]
        },
        ensure_ascii=False,
    )


class TelegramChatPort:
    def __init__(self, bot: Bot, chat_id: int) -> None:
        self._bot = bot
        self._chat_id = chat_id

    async def send(self, screen: Screen) -> list[int]:
        """Send the screen, split at paragraphs if Telegram's limit needs it; return the ids."""
        chunks = split_html(screen.text)
        sent: list[int] = []
        for i, chunk in enumerate(chunks):
            markup = keyboard(screen) if i == len(chunks) - 1 else None
            try:
                message = await self._call("sendMessage", chunk, markup)
            except Forbidden:
                log.info("chat unreachable (bot blocked or chat gone)")
                break
            except TelegramError as exc:
                log.warning("sendMessage failed: %s", type(exc).__name__)
                break
            sent.append(message["message_id"])
        return sent

    async def edit(self, message_id: int, screen: Screen) -> bool:
        """Edit in place; False when Telegram cannot (too old, gone, too long): send instead."""
        if len(split_html(screen.text)) > 1:
            return False
        try:
            await self._call("editMessageText", screen.text, keyboard(screen), message_id)
        except BadRequest as exc:
            if "not modified" in str(exc).lower():
                return True
            log.info("editMessageText refused (%s); sending a new message", type(exc).__name__)
            return False
        except Forbidden:
            return True  # nobody to show it to; sending would fail the same way
        return True

    async def _call(
        self, method: str, text: str, markup: str | None, message_id: int | None = None
    ) -> Any:
        params: dict[str, Any] = {
            "chat_id": self._chat_id,
            "text": text,
            "parse_mode": "HTML",
            "link_preview_options": NO_PREVIEW,
        }
        if message_id is not None:
            params["message_id"] = message_id
        if markup is not None:
            params["reply_markup"] = markup
        return await self._bot._post(method, params)

    async def delete(self, message_ids: list[int]) -> None:
        for start in range(0, len(message_ids), 100):
            batch = message_ids[start : start + 100]
            try:
                await self._bot.delete_messages(self._chat_id, batch)
            except TelegramError as exc:
                log.info("deleteMessages failed for a batch: %s", type(exc).__name__)
