"""Process different chats concurrently while keeping each chat's updates in order.

Real Telegram is tens of milliseconds away: handled one at a time, a bot waits
on every round trip. A lock per chat keeps "tap, then tap again" in order; the
locks are dropped as soon as nobody waits on them, so memory stays bounded.

With a ``Telemetry`` it also counts each update by kind and outcome and times it (the
wait for the chat's lock included: that is what the relative waits). PTB hands handler
errors to the error handler and does not re-raise them, so the door's error handler marks
the update failed through ``mark_update_failed`` (a context variable: same task).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Coroutine
from contextvars import ContextVar
from typing import Any, Protocol

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.services.telemetry import Telemetry, UpdateKind

_failed: ContextVar[list[bool] | None] = ContextVar("update_failed", default=None)


def mark_update_failed() -> None:
    """Called by the error handler: the update being processed in this task failed."""
    slot = _failed.get()
    if slot is not None:
        slot[0] = True


def update_kind(update: object) -> UpdateKind:
    if isinstance(update, Update):
        if update.callback_query is not None:
            return "callback_query"
        if update.message is not None:
            return "message"
    return "other"


def update_chat_key(update: object) -> int | None:
    if isinstance(update, Update) and update.effective_chat is not None:
        return update.effective_chat.id
    return None


class Gate(Protocol):
    """The per-chat budget (``bot.telegram.flood_gate.FloodGate``)."""

    def check(self, update: object) -> str: ...
    async def notify(self, update: object) -> None: ...
    def dropped(self, update: object) -> None: ...


class ChatOrderedUpdateProcessor(BaseUpdateProcessor):
    def __init__(
        self,
        max_concurrent_updates: int = 256,
        telemetry: Telemetry | None = None,
        gate: Gate | None = None,
    ) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}
        self.telemetry = telemetry
        self.gate = gate  # the per-chat budget, checked before anything else

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        if self.gate is not None:
            verdict = self.gate.check(update)
            if verdict != "admit":  # over budget: not handled at all (and not counted)
                if isinstance(coroutine, Coroutine):
                    coroutine.close()
                try:
                    if verdict == "notify":
                        await self.gate.notify(update)
                finally:
                    self.gate.dropped(update)
                return
        if self.telemetry is None:
            await self._in_chat_order(update, coroutine)
            return
        started = time.perf_counter()
        failed = [False]
        token = _failed.set(failed)
        try:
            await self._in_chat_order(update, coroutine)
        except BaseException:
            failed[0] = True
            raise
        finally:
            _failed.reset(token)
            self.telemetry.update_handled(
                update_kind(update), not failed[0], time.perf_counter() - started
            )

    async def _in_chat_order(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = update_chat_key(update)
        if key is None:
            await coroutine
            return
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            self._waiting[key] -= 1
            if self._waiting[key] == 0:
                del self._waiting[key]
                del self._locks[key]

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None
