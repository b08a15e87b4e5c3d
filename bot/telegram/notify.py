"""Content-free notices to a staff Telegram chat: "1 new urgent request for Botkyrka".

Why content-free: a staff group is a Telegram chat like any other, on Telegram's
servers and on staff phones. It learns only that a request exists, for which
team and whether it is urgent; everything else stays in the queue behind a
sign-in. The notice is sent in the background so a slow Telegram never delays
the relative's confirmation, and a failure is logged by its type only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from telegram import Bot
from telegram.error import TelegramError

log = logging.getLogger(__name__)


class TelegramStaffNotifier:
    """Implements ``CaseEvents`` for one staff chat (STAFF_NOTIFY_CHAT_ID)."""

    def __init__(
        self,
        bot: Bot,
        chat_id: int,
        team_name: Callable[[str], str],
        gettext: Callable[[str], str],
    ) -> None:
        self._bot = bot
        self._chat_id = chat_id
        self._team_name = team_name
        self._gettext = gettext
        self._pending: set[asyncio.Task[None]] = set()

    def notice(self, team_id: str, urgent: bool) -> str:
        _ = self._gettext
        template = _("1 new urgent request for {team}") if urgent else _("1 new request for {team}")
        return template.format(team=self._team_name(team_id))

    async def new_request(self, team_id: str, urgent: bool) -> None:
        task = asyncio.create_task(self._send(self.notice(team_id, urgent)))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _send(self, text: str) -> None:
        try:
            await self._bot.send_message(self._chat_id, text)
        except TelegramError as exc:
            log.warning("staff notice not sent: %s", type(exc).__name__)

    async def drain(self) -> None:
        """Wait for notices under way (shutdown and tests)."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
