"""SIGKILL mid-flow: a request whose case code was shown survives; nothing else is lost.

A real `python -m bot serve` process in webhook mode talks to the spec-checking
emulator running in this test. It is killed with SIGKILL while updates are in
flight, started again on the same database, and the relatives carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from sqlalchemy.engine import make_url

from bot.domain import CODE_ALPHABET
from bot.emulator.server import BotApiEmulator
from bot.emulator.spec import BotApiSpec
from bot.services.cases import RELAY_UNFINISHED_AFTER
from bot.storage.database import Database
from bot.storage.engine import create_engine
from tests.case_helpers import case_service
from tests.conftest import REPO, TEST_SECRET, _reset_postgres, emulator_on_own_port, free_port
from tests.helpers import Relative, button_data
from tests.webhook_helpers import registered, webhooks_set

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
        webhooks_before = webhooks_set(self.emulator)
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "serve",
                cwd=REPO, env=self.env, stdin=asyncio.subprocess.DEVNULL,
                stdout=log, stderr=log,
            )  # fmt: skip
        # Started means: it registered its webhook (an emulator event), or it exited.
        await registered(self.emulator, [self.process], [self.log], before=webhooks_before)

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


# --- kill -9 between a commit and its answer ------------------------------------------------


class Hangs:
    """Chosen Bot API calls for chosen chats never answer while the test looks: the bot is
    then between its commit and the answer, and the test kills it there."""

    def __init__(self, emulator: BotApiEmulator, *stuck: tuple[str, int]) -> None:
        self.started = {key: asyncio.Event() for key in stuck}
        self._release = asyncio.Event()
        self._emulator = emulator
        self._saved: dict[str, Any] = {}
        for method in {method.lower() for method, _ in stuck}:
            name, handler = emulator._methods[method]
            self._saved[method] = (name, handler)
            emulator._methods[method] = (name, self._wrap(name, handler))

    def _wrap(self, name: str, handler: Any) -> Any:
        async def hanging(params: dict[str, Any], request: Any) -> Any:
            started = self.started.get((name, params.get("chat_id")))  # type: ignore[arg-type]
            if started is not None and not started.is_set():
                started.set()
                await self._release.wait()
                return True  # to a bot that is gone: nothing reaches the chat
            return await handler(params, request)

        return hanging

    async def all_stuck(self) -> None:
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in self.started.values())), 60)

    def undo(self) -> None:
        self._emulator._methods.update(self._saved)
        self._release.set()


async def _scalar(database_url: str, sql: str) -> Any:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        with sqlite3.connect(url.database) as conn:
            return conn.execute(sql).fetchone()[0]
    conn = await asyncpg.connect(
        f"postgresql://{url.username}@{url.host}:{url.port}/{url.database}", timeout=10
    )
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def _staff_api(
    session: aiohttp.ClientSession, bot: BotProcess, method: str, path: str, **kwargs: Any
) -> tuple[int, Any]:
    async with session.request(method, f"http://127.0.0.1:{bot.port}{path}", **kwargs) as response:
        return response.status, await response.json(content_type=None)


async def _confirmed(relative: Relative) -> str:
    await _to_preview(relative)
    found = CODE_RE.search((await relative.taps("k:ok"))["text"])
    assert found
    return found.group()


async def test_sigkill_between_commit_and_answer_repeats_nothing_and_hides_nothing(
    emulator: BotApiEmulator, database_url: str, tmp_path: Path
) -> None:
    """Killed once with three things between their commit and their answer: a confirm is
    redelivered and shows the case it made (no second case); a follow-up is stored once and
    answered on redelivery; a staff reply cut off mid-relay ends as "delivery unknown" on
    the case, never silent."""
    if database_url.startswith("postgresql"):
        await asyncio.to_thread(_reset_postgres, database_url)
    bot = BotProcess(emulator, database_url, tmp_path)
    await bot.start()
    password = "kill-test-password-1234"
    try:
        confirming, writing, replied_to = Relative(emulator), Relative(emulator), Relative(emulator)
        preview = await _to_preview(confirming)
        await _confirmed(writing)
        code = await _confirmed(replied_to)
        added = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "staff", "add", "anna", "--team", "laholm",
            cwd=REPO, env={**bot.env, "STAFF_PASSWORD": password},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await added.communicate()
        assert added.returncode == 0, out
        credentials = {"username": "anna", "password": password}
        path = f"/api/v1/cases/{code}"
        body = "Ett meddelande till teamet"
        stored = f"SELECT count(*) FROM case_message WHERE body = '{body}'"
        cases_before = await _scalar(database_url, "SELECT count(*) FROM case_request")
        async with aiohttp.ClientSession() as session:
            status, signed = await _staff_api(
                session, bot, "POST", "/api/v1/session", json=credentials
            )
            assert status == 200, signed
            auth = {"Authorization": f"Bearer {signed['token']}"}
            assert (await _staff_api(session, bot, "POST", f"{path}/claim", headers=auth))[0] == 200

            hangs = Hangs(
                emulator,
                ("editMessageText", confirming.chat_id),
                ("sendMessage", writing.chat_id),
                ("sendMessage", replied_to.chat_id),
            )
            confirm = await emulator.user_presses_button(
                confirming.chat_id, preview["message_id"], "k:ok"
            )
            follow_up = await emulator.user_sends_text(writing.chat_id, body)
            reply = asyncio.create_task(
                _staff_api(
                    session, bot, "POST", f"{path}/reply", headers=auth, json={"text": "Hej!"}
                )
            )
            await hangs.all_stuck()
            bot.kill()
            await bot.wait()
            hangs.undo()
            with contextlib.suppress(aiohttp.ClientError):
                await reply  # the connection died with the process
            await bot.start()

            # The confirm: its case exists once; the redelivery shows its code.
            assert (
                await _scalar(database_url, "SELECT count(*) FROM case_request") == cases_before + 1
            )
            await emulator.deliver(confirm)  # Telegram delivers the unacknowledged update again
            await emulator.wait_idle(confirming.chat_id)
            shown = CODE_RE.search(confirming.last()["text"])
            newest = "SELECT code FROM case_request ORDER BY id DESC LIMIT 1"
            assert shown and shown.group() == await _scalar(database_url, newest)
            assert (
                await _scalar(database_url, "SELECT count(*) FROM case_request") == cases_before + 1
            )

            # The follow-up: stored once, answered on redelivery, then nothing more.
            assert await _scalar(database_url, stored) == 1
            answers_before = len(writing.bot_messages())
            await emulator.deliver(follow_up)
            await emulator.wait_idle(writing.chat_id)
            assert await _scalar(database_url, stored) == 1
            assert len(writing.bot_messages()) == answers_before + 1
            assert "Skickat till teamet" in writing.last()["text"]
            await emulator.deliver(follow_up)
            await emulator.wait_idle(writing.chat_id)
            assert len(writing.bot_messages()) == answers_before + 1

            # The staff reply: started, never finished; the sweeper says delivery unknown.
            assert not any("Hej!" in m["text"] for m in replied_to.bot_messages())
            started = "SELECT count(*) FROM case_message WHERE delivery = 'sending'"
            assert await _scalar(database_url, started) == 1
            await _sweep_later(database_url)  # the auto-release round, minutes later
            status, signed = await _staff_api(
                session, bot, "POST", "/api/v1/session", json=credentials
            )
            auth = {"Authorization": f"Bearer {signed['token']}"}
            status, detail = await _staff_api(session, bot, "GET", path, headers=auth)
            assert status == 200, detail
            [staff_reply] = [m for m in detail["messages"] if m["author"] == "staff"]
            assert staff_reply["delivery"] == "failed: delivery_unknown"
    finally:
        if bot.process is not None and bot.process.returncode is None:
            bot.process.terminate()
            await bot.wait()
    unexpected = [p for p in emulator.problems if "webhook delivery" not in p]
    assert unexpected == [], unexpected


async def _sweep_later(database_url: str) -> None:
    """The sweeper as the auto-release round runs it, on a clock past RELAY_UNFINISHED_AFTER."""
    engine = create_engine(database_url)
    database = Database(engine)
    try:
        later = datetime.now(UTC) + RELAY_UNFINISHED_AFTER + timedelta(minutes=1)
        async with case_service(
            database, b"sweeper-key-0123456789abcdef", now=lambda: later
        ) as cases:
            await cases.auto_release()
    finally:
        await database.close()
        await engine.dispose()
