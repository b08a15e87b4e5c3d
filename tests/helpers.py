"""Talking to the bot as a relative would, through the emulator."""

from __future__ import annotations

from typing import Any

from bot.emulator.server import BotApiEmulator


def bot_messages(emulator: BotApiEmulator, chat_id: int) -> list[dict[str, Any]]:
    return [m for m in emulator.visible_messages(chat_id) if m["from_bot"]]


def last_bot_message(emulator: BotApiEmulator, chat_id: int) -> dict[str, Any]:
    messages = bot_messages(emulator, chat_id)
    assert messages, "the bot did not answer"
    return messages[-1]


def buttons(message: dict[str, Any]) -> list[dict[str, str]]:
    markup = message.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


def button_data(message: dict[str, Any]) -> list[str]:
    return [b["callback_data"] for b in buttons(message) if "callback_data" in b]


class Relative:
    """A simulated relative in one private chat."""

    def __init__(self, emulator: BotApiEmulator, language_code: str | None = "sv") -> None:
        self.emulator = emulator
        self.chat_id = emulator.new_private_chat(language_code=language_code)

    async def says(self, text: str) -> dict[str, Any]:
        await self.emulator.user_sends_text(self.chat_id, text)
        await self.emulator.wait_idle(self.chat_id)
        return self.last()

    async def sends(self, kind: str) -> dict[str, Any]:
        await self.emulator.user_sends(self.chat_id, kind)
        await self.emulator.wait_idle(self.chat_id)
        return self.last()

    async def taps(
        self, data: str, message: dict[str, Any] | None = None, *, from_older_message: bool = False
    ) -> dict[str, Any]:
        """Tap a button; ``from_older_message`` taps a code an earlier screen showed.

        Telegram keeps old messages' buttons tappable, and our codes carry all their state,
        so a walk of the whole graph may tap any code it has seen.
        """
        message = message or self.last()
        await self.emulator.user_presses_button(
            self.chat_id, message["message_id"], data, require_button=not from_older_message
        )
        await self.emulator.wait_idle(self.chat_id)
        return self.last()

    async def taps_label(self, fragment: str) -> dict[str, Any]:
        message = self.last()
        for button in buttons(message):
            if fragment in button["text"]:
                return await self.taps(button["callback_data"], message)
        raise AssertionError(
            f"no button with {fragment!r} in {[b['text'] for b in buttons(message)]}"
        )

    async def onboard(self, language: str = "sv", team: str = "laholm") -> dict[str, Any]:
        await self.says("/start")
        await self.taps(f"l:{language}")
        return await self.taps(f"t:{team}")

    async def answers_the_request_questions(
        self, concerns: str, topic: str, urgency: str = "soon", reply: str = "chat"
    ) -> dict[str, Any]:
        """Onboard in Swedish (Laholm), ask for contact, answer every question by button.

        The last screen is the one that asks for the relative's own words.
        """
        await self.onboard("sv", "laholm")
        await self.taps("g:contact")
        await self.taps("k:new")
        for code in (f"k:c:{concerns}", f"k:t:{topic}", f"k:u:{urgency}", f"k:r:{reply}"):
            await self.taps(code)
        return await self.taps("k:l:sv")

    def last(self) -> dict[str, Any]:
        return last_bot_message(self.emulator, self.chat_id)

    def bot_messages(self) -> list[dict[str, Any]]:
        return bot_messages(self.emulator, self.chat_id)
