"""Outgoing Bot API calls within Telegram's limits, and ``RetryAfter`` honoured and retried.

Telegram asks bots for at most about 30 messages a second overall, about one a second in
one chat (short bursts allowed) and 20 a minute in a group; over that it answers 429 with
``retry_after``. This limiter is python-telegram-bot's rate-limiter interface
(``ExtBot(rate_limiter=...)``: every ``Bot._post`` goes through it, the chat port's and the
relay's included) built on aiolimiter's leaky buckets, like PTB's ``AIORateLimiter``, plus
the per-chat bucket for private chats that PTB leaves out:

- every call with a ``chat_id`` takes from the overall bucket (``overall_per_second``);
- a private chat's new messages (``send*``, not edits or deletions) also take from the
  chat's bucket: ``chat_burst`` at once, then one a second;
- a group's calls take from the group's bucket (``group_per_minute``);
- a 429 pauses every call for ``retry_after`` (Telegram's flood wait is the bot's, not the
  chat's) and the call is tried again, up to ``max_retries`` times: a confirmation or a
  staff reply is delayed, never dropped. ``sleep`` is injectable so tests need not wait.

One limiter per process: with several processes each keeps its own buckets (the overall
limit is then per process; run one bot process per token, as the README says).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)

_Result = bool | dict[str, Any] | list[dict[str, Any]]
Sleep = Callable[[float], Awaitable[None]]


class TelegramLimits(BaseRateLimiter[int]):
    def __init__(
        self,
        *,
        overall_per_second: float = 30,
        chat_burst: int = 20,
        chat_per_second: float = 1,
        group_per_minute: float = 20,
        max_retries: int = 8,
        sleep: Sleep = asyncio.sleep,
        max_chats: int = 1024,
    ) -> None:
        self._overall = AsyncLimiter(overall_per_second, 1) if overall_per_second else None
        self._chat_burst = chat_burst
        self._chat_period = chat_burst / chat_per_second if chat_per_second else 0.0
        self._group_per_minute = group_per_minute
        self._chats: dict[int | str, AsyncLimiter] = {}
        self._max_chats = max_chats
        self._max_retries = max_retries
        self.sleep = sleep
        self._open = asyncio.Event()  # cleared while a 429's retry_after is being waited out
        self._open.set()
        self.retried = 0  # 429s answered and retried since start (for tests and the bench)

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    def _limiter(self, key: int | str, rate: float, period: float) -> AsyncLimiter:
        limiter = self._chats.get(key)
        if limiter is None:
            if len(self._chats) >= self._max_chats:  # drop the idle ones (full capacity)
                for other, idle in list(self._chats.items()):
                    if idle.has_capacity(idle.max_rate):
                        del self._chats[other]
            limiter = self._chats[key] = AsyncLimiter(rate, period)
        return limiter

    def _chat_limiter(self, endpoint: str, chat_id: object) -> AsyncLimiter | None:
        with contextlib.suppress(ValueError, TypeError):
            chat_id = int(chat_id)  # type: ignore[call-overload]
        if isinstance(chat_id, str) or (isinstance(chat_id, int) and chat_id < 0):
            if not self._group_per_minute:
                return None
            return self._limiter(chat_id, self._group_per_minute, 60)
        if isinstance(chat_id, int) and self._chat_period and endpoint.startswith("send"):
            return self._limiter(chat_id, self._chat_burst, self._chat_period)
        return None

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, _Result]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> _Result:
        retries = self._max_retries if rate_limit_args is None else rate_limit_args
        chat_id = data.get("chat_id")
        chat = self._chat_limiter(endpoint, chat_id) if chat_id is not None else None
        overall = self._overall if chat_id is not None else None
        attempt = 0
        while True:
            try:
                async with chat or contextlib.nullcontext(), overall or contextlib.nullcontext():
                    await self._open.wait()
                    return await callback(*args, **kwargs)
            except RetryAfter as exc:
                if attempt >= retries:
                    log.warning("Bot API 429: gave up after %d retries", retries)
                    raise
                attempt += 1
                self.retried += 1
                wait = exc._retry_after.total_seconds() + 0.1
                log.info("Bot API 429: every call waits %.1f s, then this one is retried", wait)
                self._open.clear()
                try:
                    await self.sleep(wait)
                finally:
                    self._open.set()
