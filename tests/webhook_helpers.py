"""`serve` in webhook mode for tests: the Bot API emulator on its own port plays Telegram and
posts updates to the product's route (one copy of the set-up, for every webhook test file).

- ``running``: a ``Server`` with these settings, started and stopped around the block.
- ``webhook_serving``: the product in webhook mode on a free port, registered with the
  emulator's token and this secret; a PostgreSQL database is reset first (migrations build it).
- ``post_update``: POST a body to the webhook as Telegram does (with or without the secret).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from bot.config import Settings
from bot.emulator.server import BotApiEmulator
from bot.runtime import Server
from tests.conftest import _reset_postgres, free_port, make_settings

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Server]:
    """The product (webhook or polling mode, as the settings say), stopped on the way out."""
    server = Server(settings)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@contextlib.asynccontextmanager
async def webhook_serving(
    database_url: str, tmp_path: Path, telegram: BotApiEmulator, secret: str, **env: str
) -> AsyncIterator[Server]:
    """The real product in webhook mode against ``telegram`` (its token), these settings."""
    if database_url.startswith("postgresql"):
        await asyncio.to_thread(_reset_postgres, database_url)
    port = free_port()
    settings = make_settings(
        database_url,
        tmp_path,
        PORT=str(port),
        TELEGRAM_BOT_TOKEN=telegram.token,
        TELEGRAM_API_URL=telegram.base_url,
        WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram/webhook",
        WEBHOOK_SECRET=secret,
        **env,
    )
    async with running(settings) as server:
        yield server


async def post_update(
    session: aiohttp.ClientSession,
    server: Server,
    secret: str | None,
    *,
    json: Any = None,
    data: bytes | str | None = None,
) -> tuple[int, Any]:
    """POST to the webhook (the secret header unless None); the status and the JSON answer."""
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    async with session.post(
        f"{server.origin}/telegram/webhook", json=json, data=data, headers=headers
    ) as response:
        body = await response.json() if response.content_type == "application/json" else None
        return response.status, body


def webhooks_set(telegram: BotApiEmulator) -> int:
    """How many setWebhook calls the emulator has received."""
    return sum(1 for name, _ in telegram.calls if name == "setWebhook")


async def registered(
    telegram: BotApiEmulator,
    processes: list[asyncio.subprocess.Process],
    logs: list[Path],
    *,
    before: int = 0,
    timeout: float = 60,
) -> None:
    """Wait until each of these ``serve`` processes has registered its webhook (one
    setWebhook each, more than ``before``: an emulator event, sent once its site serves
    and its bot runs) or one of them exited; the exit or the timeout fails with the logs."""

    def all_set() -> str | None:
        missing = before + len(processes) - webhooks_set(telegram)
        return None if missing <= 0 else f"{missing} setWebhook call(s) missing"

    def tails() -> str:
        return "\n".join(f"{log.name}:\n{log.read_text(errors='replace')[-3000:]}" for log in logs)

    waiting = asyncio.ensure_future(telegram.wait_until(all_set, timeout=timeout))
    exits = [asyncio.ensure_future(process.wait()) for process in processes]
    await asyncio.wait((waiting, *exits), return_when=asyncio.FIRST_COMPLETED)
    for task in (waiting, *exits):
        task.cancel()
    exited = [p.returncode for p in processes if p.returncode is not None]
    assert not exited, f"serve exited ({exited}) before its webhook was set:\n{tails()}"
    try:
        waiting.result()
    except TimeoutError:
        raise AssertionError(f"serve never set its webhook:\n{tails()}") from None
