"""SIGKILL mid-flow: a request whose case code was shown survives; nothing else is lost.

A real `python -m bot serve` process in webhook mode talks to the spec-checking
emulator running in this test. It is killed with SIGKILL while updates are in
flight, started again on the same database, and the relatives carry on.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.domain import CODE_ALPHABET
from bot.emulator.server import BotApiEmulator
from bot.emulator.spec import BotApiSpec
from tests.conftest import REPO, TEST_SECRET, _reset_postgres, emulator_on_own_port, free_port
from tests.helpers import Relative, button_data

TOKEN = "123456:KILLtestTOKEN_abcdefghijklmnopqrstuvwxyz"
CODE_RE = re.compile(rf"[{CODE_ALPHABET}]{{3}}-[{CODE_ALPHABET}]{{3}}")


class BotProcess:
    """`python -m bot serve` (webhook mode) pointed at the emulator."""

    def __init__(self, emulator: BotApiEmulator, database_url: str, tmp_path: Path) -> None:
        self.emulator = emulator
        self.port = free_port()
        self.env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": emulator.base_url,
            "SECRET_KEY": TEST_SECRET,
            "DATABASE_URL": database_url,
            "DATA_DIR": str(tmp_path / "data"),
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "WEBHOOK_URL": f"http://127.0.0.1:{self.port}/telegram/webhook",
            "WEBHOOK_SECRET": "kill-test-secret",
            "LOG_LEVEL": "WARNING",
        }
        self.log = tmp_path / "bot.log"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        webhooks_before = sum(1 for name, _ in self.emulator.calls if name == "setWebhook")
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "serve",
                cwd=REPO, env=self.env, stdin=asyncio.subprocess.DEVNULL,
                stdout=log, stderr=log,
            )  # fmt: skip

        # Started means: it registered its webhook (an emulator event), or it exited.
        def webhook_set() -> str | None:
            calls = sum(1 for name, _ in self.emulator.calls if name == "setWebhook")
            return None if calls > webhooks_before else "no setWebhook yet"

        registered = asyncio.ensure_future(self.emulator.wait_until(webhook_set, timeout=60))
        exited = asyncio.ensure_future(self.process.wait())
        _, pending = await asyncio.wait((registered, exited), return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        assert self.process.returncode is None, self.log.read_text()[-2000:]
        try:
            registered.result()
        except TimeoutError:
            raise AssertionError("the bot did not start: " + self.log.read_text()[-2000:]) from None

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)

    async def wait(self) -> None:
        if self.process is not None:
            await self.process.wait()


@pytest.fixture
async def emulator(spec: BotApiSpec) -> AsyncIterator[BotApiEmulator]:
    async with emulator_on_own_port(spec, TOKEN) as emulator:
        yield emulator


async def _to_preview(relative: Relative) -> dict:
    await relative.answers_the_request_questions("child", "worry")
    return await relative.taps("k:skip")


async def test_sigkill_loses_at_most_an_unconfirmed_draft(
    emulator: BotApiEmulator, database_url: str, tmp_path: Path
) -> None:
    if database_url.startswith("postgresql"):
        await asyncio.to_thread(_reset_postgres, database_url)
    bot = BotProcess(emulator, database_url, tmp_path)
    await bot.start()
    try:
        confirmed = Relative(emulator)
        preview = await _to_preview(confirmed)
        assert "k:ok" in button_data(preview)
        done = await confirmed.taps("k:ok")
        code = CODE_RE.search(done["text"])
        assert code, done["text"]

        drafting = Relative(emulator)
        await drafting.onboard("sv", "laholm")
        await drafting.taps("g:contact")
        await drafting.taps("k:new")
        await drafting.taps("k:c:adult")

        # In flight when the process dies: a confirm from a third chat and a tap from the second.
        racing = Relative(emulator)
        race_preview = await _to_preview(racing)
        await emulator.user_presses_button(racing.chat_id, race_preview["message_id"], "k:ok")
        await emulator.user_presses_button(
            drafting.chat_id, drafting.last()["message_id"], "k:t:talk"
        )
        bot.kill()
        await bot.wait()

        await bot.start()
        status = await confirmed.says("/status")
        assert code.group() in status["text"], status["text"]

        # The racing confirm either showed its code (then it must exist) or not.
        shown = [CODE_RE.search(m["text"]) for m in racing.bot_messages()]
        shown_codes = [m.group() for m in shown if m]
        racing_status = await racing.says("/status")
        for shown_code in shown_codes:
            assert shown_code in racing_status["text"]

        # The other relative keeps language and municipality; at most the draft step is lost.
        resumed = await drafting.taps("g:contact", from_older_message=True)
        assert "Laholm" in resumed["text"]
        screen = await drafting.taps("k:new", resumed)
        assert any(c.startswith(("k:c:", "k:t:", "k:u:")) for c in button_data(screen))

        health = f"http://127.0.0.1:{bot.port}/health"
        async with aiohttp.ClientSession() as session, session.get(health) as response:
            assert response.status == 200
    finally:
        if bot.process is not None and bot.process.returncode is None:
            bot.process.terminate()
            await bot.wait()
    # Updates posted while the process was down are reported by the emulator; nothing else.
    unexpected = [p for p in emulator.problems if "webhook delivery" not in p]
    assert unexpected == [], unexpected
