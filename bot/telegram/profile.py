"""The bot's public profile: description, short description and command menu, per language.

The description is the "What can this bot do?" card a relative sees in an empty chat,
before pressing Start: the very first thing they read, so it says calmly what the guide
is, that it is anonymous, and that it is not an emergency service. The short description
is shown on the profile page and when the bot is shared. The command menu is what the
"/" button lists.

All three are set at every start of `serve` and `preview`, for every enabled language
(the base language as the default, without ``language_code``), but only when Telegram's
current value differs: each value is read first and written only if it changed. A
restart then costs a few reads and no writes, which keeps us clear of the Bot API's
flood limits on these methods and leaves no trace of needless changes. A failure is
logged by error type only (never a text) and never stops the start: a bot with a stale
description still guides.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from telegram import Bot, BotCommand

from bot.content.model import Content
from bot.i18n import Translator

log = logging.getLogger(__name__)

DESCRIPTION_LIMIT = 512  # Bot API: setMyDescription, 0-512 characters
SHORT_DESCRIPTION_LIMIT = 120  # Bot API: setMyShortDescription, 0-120 characters

T = TypeVar("T")


@dataclass
class ProfileResult:
    """What one publish did: set calls made, set calls skipped as unchanged, failed calls."""

    updated: int = 0  # set* calls made (and accepted)
    unchanged: int = 0  # set* calls skipped: Telegram already had the same value
    failed: int = 0  # get* or set* calls that failed (logged by error type)

    def add(self, other: ProfileResult) -> None:
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.failed += other.failed


def bot_commands(translator: Translator) -> list[BotCommand]:
    """The command menu in one language; /help lists the same commands."""
    _ = translator.gettext
    return [
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


def bot_description(translator: Translator, emergency_number: str | None) -> str:
    """The "What can this bot do?" card, within the Bot API's 512 characters."""
    _ = translator.gettext
    if emergency_number:
        text = _(
            "A calm, anonymous guide for you who worry that someone close to you is being "
            "drawn towards violent extremism. You do not need to give your name. This is "
            "not an emergency service: in danger, call {number}."
        ).format(number=translator.isolate(emergency_number))
    else:  # never "call ." when no emergency number is configured
        text = _(
            "A calm, anonymous guide for you who worry that someone close to you is being "
            "drawn towards violent extremism. You do not need to give your name. This is "
            "not an emergency service."
        )
    return _clip(text, DESCRIPTION_LIMIT, "description", translator.code)


def bot_short_description(translator: Translator) -> str:
    """The profile page's line, within the Bot API's 120 characters."""
    _ = translator.gettext
    text = _("Calm, anonymous guidance for worried relatives. Not an emergency service.")
    return _clip(text, SHORT_DESCRIPTION_LIMIT, "short description", translator.code)


def _clip(text: str, limit: int, what: str, code: str) -> str:
    """A translation longer than Telegram allows is cut (and logged), not refused."""
    text = text.strip()
    if len(text) <= limit:
        return text
    log.warning("%s for %s is longer than %d characters; cut", what, code, limit)
    return text[: limit - 1].rstrip() + "…"


async def publish_profile(
    bot: Bot, content: Content, translators: dict[str, Translator]
) -> ProfileResult:
    """Bring description, short description and commands up to date in every enabled language.

    Reads each value first and sets it only when it differs, so a restart with unchanged
    texts makes no set calls. Languages run concurrently (three reads each, at start).
    Never raises for a Telegram or network failure: it is logged by error type only.
    """
    emergency = content.national.get("emergency")
    number = getattr(emergency, "number", None) if emergency is not None else None
    jobs = [
        _publish_language(
            bot,
            translators[language.code],
            None if language.code == content.base_language else language.code,
            number,
        )
        for language in content.enabled_languages
    ]
    result = ProfileResult()
    for part in await asyncio.gather(*jobs):
        result.add(part)
    return result


async def _publish_language(
    bot: Bot, translator: Translator, code: str | None, number: str | None
) -> ProfileResult:
    result = ProfileResult()
    where = code or "default"
    description = bot_description(translator, number)
    await _sync(
        result,
        "MyDescription",
        where,
        read=lambda: bot.get_my_description(language_code=code),
        same=lambda current: current.description == description,
        write=lambda: bot.set_my_description(description, language_code=code),
    )
    short = bot_short_description(translator)
    await _sync(
        result,
        "MyShortDescription",
        where,
        read=lambda: bot.get_my_short_description(language_code=code),
        same=lambda current: current.short_description == short,
        write=lambda: bot.set_my_short_description(short, language_code=code),
    )
    commands = bot_commands(translator)
    await _sync(
        result,
        "MyCommands",
        where,
        read=lambda: bot.get_my_commands(language_code=code),
        same=lambda current: _pairs(current) == _pairs(commands),
        write=lambda: bot.set_my_commands(commands, language_code=code),
    )
    return result


async def _sync(
    result: ProfileResult,
    name: str,
    where: str,
    *,
    read: Callable[[], Awaitable[T]],
    same: Callable[[T], bool],
    write: Callable[[], Awaitable[bool]],
) -> None:
    """get<name>, and set<name> only when the value differs (or could not be read)."""
    current = await _attempt(result, f"get{name}", where, read)
    if current is not None and same(current):
        result.unchanged += 1
    elif await _attempt(result, f"set{name}", where, write) is not None:
        result.updated += 1


def _pairs(commands: tuple[BotCommand, ...] | list[BotCommand]) -> list[tuple[str, str]]:
    return [(c.command, c.description) for c in commands]


async def _attempt(
    result: ProfileResult, method: str, where: str, call: Callable[[], Awaitable[T]]
) -> T | None:
    """One Bot API call; None when it failed (a failed read still lets us write)."""
    try:
        return await call()
    except Exception as exc:  # Telegram, network or anything else: the start goes on
        result.failed += 1
        log.warning("%s failed for %s: %s", method, where, type(exc).__name__)
        return None

