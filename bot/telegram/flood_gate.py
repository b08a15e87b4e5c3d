"""The per-chat budget at the door: an update over it is dropped before any work is done.

Checked by the update processor before the chat's lock is taken and before any state is
loaded, so a flooding chat neither queues behind itself nor holds a slot other chats need.
The first update over the budget gets the one "please slow down" notice (in the chat's
language: the one read of state in the whole flood), the rest nothing. The budget is keyed
by the chat's pseudonym (``bot.services.flood``): no chat id is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from telegram import Bot, Update
from telegram.constants import ChatType

from bot.chat.conversation import ConversationService
from bot.chat.flood_screens import slow_down
from bot.services.flood import IncomingBudget, Verdict
from bot.services.telemetry import Telemetry
from bot.telegram.port import TelegramChatPort

log = logging.getLogger(__name__)

# The webhook route checks the budget on the raw update, before python-telegram-bot builds
# its objects (most of a dropped update's cost); the processor then uses that verdict.
flood_verdict: ContextVar[Verdict | None] = ContextVar("flood_verdict", default=None)


def payload_verdict(processor: object, payload: dict[str, Any]) -> Verdict | None:
    """The budget's verdict on a raw update (None: no budget), for the webhook route."""
    gate = getattr(processor, "gate", None)
    return gate.check_payload(payload) if isinstance(gate, FloodGate) else None


def _private_chat_id(payload: dict[str, Any]) -> int | None:
    """The private chat of a message or of a button's message (what effective_chat is)."""
    message = payload.get("message")
    if message is None:
        query = payload.get("callback_query")
        message = query.get("message") if isinstance(query, dict) else None
    chat = message.get("chat") if isinstance(message, dict) else None
    if not isinstance(chat, dict) or chat.get("type") != ChatType.PRIVATE:
        return None
    chat_id = chat.get("id")
    return chat_id if isinstance(chat_id, int) and not isinstance(chat_id, bool) else None


class FloodGate:
    def __init__(
        self,
        budget: IncomingBudget,
        conversation: ConversationService,
        bot: Bot,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.budget = budget
        self._conversation = conversation
        self._bot = bot
        self._telemetry = telemetry  # counts refused updates for /metrics (no chat in it)
        self.after_drop: Callable[[int], None] | None = None  # preview: "handled" to the emulator

    def _admit(self, chat_id: int) -> Verdict:
        """The budget's verdict for the chat; each refused update counted once, here."""
        verdict = self.budget.admit(self._conversation.memory.pseudonym(chat_id))
        if verdict != "admit" and self._telemetry is not None:
            self._telemetry.update_over_budget("notice" if verdict == "notify" else "dropped")
        return verdict

    def check_payload(self, payload: dict[str, Any]) -> Verdict:
        """``check`` on the update's JSON, as the webhook received it."""
        chat_id = _private_chat_id(payload)
        if chat_id is None:
            return "admit"
        return self._admit(chat_id)

    def check(self, update: object) -> Verdict:
        """Private chats' updates take from their chat's bucket; others pass (ignored later)."""
        decided = flood_verdict.get()
        if decided is not None:  # the webhook route checked this update already
            return decided
        if not isinstance(update, Update):
            return "admit"
        chat = update.effective_chat
        if chat is None or chat.type != ChatType.PRIVATE:
            return "admit"
        return self._admit(chat.id)

    def dropped(self, update: object) -> None:
        """An update the budget refused counts as handled (the preview's emulator waits on it)."""
        if self.after_drop is not None and isinstance(update, Update):
            self.after_drop(update.update_id)

    async def notify(self, update: object) -> None:
        """The calm notice; a failure to send it is logged by type and otherwise ignored."""
        assert isinstance(update, Update)
        chat = update.effective_chat
        assert chat is not None
        user = update.effective_user
        log.info("a chat went over its update budget: muted until its budget refills")
        try:
            lang = await self._conversation.memory.language(chat.id)
        except Exception as exc:  # the notice still goes out, in Telegram's language
            log.warning("chat language unavailable: %s", type(exc).__name__)
            lang = None
        if lang is None:
            lang = self._conversation.pick_language(user.language_code if user else None)
        renderer = self._conversation.renderer
        await TelegramChatPort(self._bot, chat.id).send(slow_down(renderer, lang))
