"""Webhook benchmark: the real `serve` against a bare python-telegram-bot echo bot.

Why: the per-update path is the product's hot path, and "fast enough" only means
something next to a baseline measured in the same run on the same machine. This
process is the driver: it runs a minimal fake Bot API on 127.0.0.1, starts each
system under test as a separate process (so the two never share a CPU budget with
the driver's event loop), posts updates to its webhook and times tap-to-reply:
from POSTing an update until the fake Bot API receives the bot's sendMessage or
editMessageText for that chat.

Two phases per system: (a) throughput, a fixed number of updates as fast as
possible with bounded concurrency and at most one outstanding update per chat;
(b) latency, an open-loop schedule at a fixed offered rate. Everything listens on
loopback only, every loop is bounded, and both subprocesses are stopped on exit,
error or Ctrl+C.

    .venv/bin/python -m bot.bench.webhook [--rtt-ms 20] [--database-url postgresql://...]

The echo bot is this module too: ``python -m bot.bench.webhook --echo-bot ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import aiohttp
from aiohttp import web

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"  # loopback only: this benchmark never sends traffic anywhere else
BOT_TOKEN = "123456789:AAAbenchbenchbenchbenchbenchbench123"
BOT_ID = 123456789
WEBHOOK_PATH = "/telegram/webhook"
CHAT_ID_BASE = 500_000_000
READY_TIMEOUT = 120.0  # content check + migrations at start take a few seconds
POST_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
BUSY_MACHINE_CORES = 0.2  # more CPU than this used by others makes the run suspect
ERROR_TEXT_PREFIX = "⚠️ Something went wrong"  # the product's on_error reply
FULL = "full bot (serve)"
ECHO = "bare PTB echo"
BOT_USER = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": "Bench",
    "username": "bench_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
_BOT_USER_JSON = json.dumps(BOT_USER, separators=(",", ":"))
_TRUE = b'{"ok":true,"result":true}'

# Bot message seen: chat id, message id, callback codes (None: no keyboard), is an error reply.
Listener = Callable[[int, int, list[str] | None, bool], None]


class BenchError(RuntimeError):
    """A system under test could not be started or measured; one line for the operator."""


# --------------------------------------------------------------------------- fake Bot API


class FakeBotApi:
    """Just enough Bot API for both bots, answering fast so it is never the bottleneck.

    Unlike bot.emulator it validates nothing and keeps no history: it only hands out
    message ids, echoes the message back as Telegram would, and tells the driver the
    moment a reply for a chat arrives (before the optional round-trip delay).
    """

    def __init__(self, token: str, rtt: float) -> None:
        self.token = token
        self.rtt = rtt
        self.listener: Listener | None = None
        self.calls: Counter[str] = Counter()
        self.webhook_url: str | None = None
        self.webhook_set = asyncio.Event()
        self._next_id: dict[int, int] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    def reset(self, listener: Listener | None) -> None:
        """Forget everything before the next system under test."""
        self.listener = listener
        self.calls.clear()
        self.webhook_url = None
        self.webhook_set.clear()
        self._next_id.clear()

    def new_message_id(self, chat_id: int) -> int:
        """Message ids are per chat and shared by the bot's and the relative's messages."""
        value = self._next_id.get(chat_id, 0) + 1
        self._next_id[chat_id] = value
        return value

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/bot"

    async def start(self) -> None:
        app = web.Application(client_max_size=2_000_000)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"].lower()
        self.calls[method] += 1
        params = await _params(request)
        status = 200
        if request.match_info["token"] != self.token:
            status, body = 401, b'{"ok":false,"error_code":401,"description":"Unauthorized"}'
        elif method in ("sendmessage", "editmessagetext"):
            body = self._message(method, params)
        elif method == "getme":
            body = b'{"ok":true,"result":' + _BOT_USER_JSON.encode() + b"}"
        elif method == "setwebhook":
            self.webhook_url = str(params.get("url", ""))
            self.webhook_set.set()
            body = _TRUE
        elif method == "getwebhookinfo":
            info = {
                "url": self.webhook_url or "",
                "has_custom_certificate": False,
                "pending_update_count": 0,
            }
            body = json.dumps({"ok": True, "result": info}).encode()
        elif method in (
            "deletewebhook",
            "setmycommands",
            "answercallbackquery",
            "deletemessages",
            "deletemessage",
        ):
            body = _TRUE
        else:
            status, body = 404, b'{"ok":false,"error_code":404,"description":"Not Found"}'
        if self.rtt > 0:
            await asyncio.sleep(self.rtt)
        return web.Response(body=body, status=status, content_type="application/json")

    def _message(self, method: str, params: dict[str, Any]) -> bytes:
        """A Message as Telegram returns it; notify the driver that a reply arrived."""
        chat_id = int(params.get("chat_id", 0))
        text = str(params.get("text", ""))
        markup = params.get("reply_markup")
        codes: list[str] | None = None
        markup_json = ""
        if markup:
            parsed = json.loads(markup) if isinstance(markup, str) else markup
            markup_json = markup if isinstance(markup, str) else json.dumps(parsed)
            codes = [
                b["callback_data"]
                for row in parsed.get("inline_keyboard", ())
                for b in row
                if "callback_data" in b
            ]
        if method == "editmessagetext":
            message_id = int(params.get("message_id", 0))
        else:
            message_id = self.new_message_id(chat_id)
        if self.listener is not None:
            self.listener(chat_id, message_id, codes, text.startswith(ERROR_TEXT_PREFIX))
        result = (
            f'{{"message_id":{message_id},"date":{int(time.time())},'
            f'"chat":{{"id":{chat_id},"type":"private","first_name":"Relative"}},'
            f'"from":{_BOT_USER_JSON},"text":{json.dumps(text)}'
        )
        if markup_json:
            result += f',"reply_markup":{markup_json}'
        return f'{{"ok":true,"result":{result}}}}}'.encode()


async def _params(request: web.Request) -> dict[str, Any]:
    """Bot API parameters from a form, JSON or multipart body (PTB sends forms)."""
    if request.content_type == "application/x-www-form-urlencoded":
        return dict(parse_qsl((await request.read()).decode(), keep_blank_values=True))
    if request.content_type == "application/json":
        raw = await request.read()
        data = json.loads(raw) if raw else {}
        return data if isinstance(data, dict) else {}
    if request.content_type.startswith("multipart/"):
        return {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
    return dict(request.query)


# --------------------------------------------------------------------------- driver


@dataclass
class Chat:
    """One simulated relative: what the bot last showed them, and their pending update."""

    chat_id: int
    codes: list[str] = field(default_factory=list)
    keyboard_message_id: int | None = None
    taps: int = 0
    team_chosen: bool = False  # tapped Laholm in the picker (or in the typed search's list)
    reply: asyncio.Future[float] | None = None
    broken: bool = False  # a reply went missing: a late one could be misattributed


@dataclass
class PhaseStats:
    """What one phase measured; latencies in seconds."""

    updates: int = 0
    latencies: list[float] = field(default_factory=list)
    lost: int = 0
    non_200: int = 0
    errors: int = 0
    unsent: int = 0
    wall: float = 0.0
    max_lag: float = 0.0
    sut_cpu: float = 0.0
    driver_cpu: float = 0.0
    machine_cpu: float = 0.0  # every process's, from /proc/stat: the rest is someone else's

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies)
        ms = 1000.0
        return {
            "updates": self.updates,
            "wall_s": round(self.wall, 3),
            "updates_per_s": round(self.updates / self.wall, 1) if self.wall else 0.0,
            "p50_ms": round(_percentile(lat, 50) * ms, 2),
            "p90_ms": round(_percentile(lat, 90) * ms, 2),
            "p99_ms": round(_percentile(lat, 99) * ms, 2),
            "max_ms": round(lat[-1] * ms, 2) if lat else 0.0,
            "lost": self.lost,
            "non_200": self.non_200,
            "error_replies": self.errors,
            "unsent": self.unsent,
            "max_schedule_lag_ms": round(self.max_lag * ms, 2),
            "sut_cpu_ms_per_update": round(self.sut_cpu * ms / self.updates, 3)
            if self.updates
            else 0.0,
            "driver_cpu_percent": round(100 * self.driver_cpu / self.wall, 1) if self.wall else 0.0,
            "other_processes_cores": round(
                max(0.0, self.machine_cpu - self.driver_cpu - self.sut_cpu) / self.wall, 2
            )
            if self.wall
            else 0.0,
        }


def _percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile (no interpolation: p99 of 1000 samples is the 990th)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


# What a chat types into the municipality picker at scale (``Driver._pick_code``).
TYPE_TEAM_NAME = "type the team's name"
TEAM_NAME = "Laholm"


class Driver:
    """Feeds one system's webhook from many chats, each chat strictly one update at a time."""

    def __init__(
        self,
        fake: FakeBotApi,
        session: aiohttp.ClientSession,
        webhook_url: str,
        secret: str,
        *,
        taps: bool,
        chats: int,
        reply_timeout: float,
        cpu_of_sut: Callable[[], float],
    ) -> None:
        self.fake = fake
        self.session = session
        self.webhook_url = webhook_url
        self.headers = {
            "X-Telegram-Bot-Api-Secret-Token": secret,
            "Content-Type": "application/json",
        }
        self.taps = taps
        self.reply_timeout = reply_timeout
        self.cpu_of_sut = cpu_of_sut
        self.chats = {CHAT_ID_BASE + i: Chat(CHAT_ID_BASE + i) for i in range(chats)}
        self.free: deque[Chat] = deque(self.chats.values())
        self.freed = asyncio.Event()
        self.update_id = 0
        self.stats = PhaseStats()
        fake.reset(self.on_bot_message)

    def on_bot_message(
        self, chat_id: int, message_id: int, codes: list[str] | None, error: bool
    ) -> None:
        """Called by the fake Bot API the moment the bot sends or edits a message."""
        chat = self.chats.get(chat_id)
        if chat is None:
            return
        if codes:
            chat.codes, chat.keyboard_message_id = codes, message_id
        if error:
            self.stats.errors += 1
        if chat.reply is not None and not chat.reply.done():
            chat.reply.set_result(time.perf_counter())

    def next_update(self, chat: Chat) -> bytes:
        """The relative's next action: /start, then taps on what the bot last showed."""
        self.update_id += 1
        user = {
            "id": chat.chat_id,
            "is_bot": False,
            "first_name": "Relative",
            "language_code": "sv",
        }
        code = self._pick_code(chat) if self.taps else None
        typed = None
        if code == TYPE_TEAM_NAME:  # the picker at scale: type the name, as a relative would
            code, typed = None, TEAM_NAME
        message: dict[str, object]
        if code is not None:
            message = {
                "message_id": chat.keyboard_message_id,
                "date": int(time.time()),
                "chat": {"id": chat.chat_id, "type": "private", "first_name": "Relative"},
                "from": BOT_USER,
                "text": "…",
            }
            update: dict[str, Any] = {
                "update_id": self.update_id,
                "callback_query": {
                    "id": str(self.update_id),
                    "from": user,
                    "message": message,
                    "chat_instance": str(chat.chat_id),
                    "data": code,
                },
            }
        else:
            text = typed or ("/start" if self.taps else f"hello {self.update_id}")
            message = {
                "message_id": self.fake.new_message_id(chat.chat_id),
                "date": int(time.time()),
                "from": user,
                "text": text,
                "chat": {"id": chat.chat_id, "type": "private", "first_name": "Relative"},
            }
            if self.taps and typed is None:
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": 6}]
            update = {"update_id": self.update_id, "message": message}
        return json.dumps(update, separators=(",", ":")).encode()

    @staticmethod
    def _pick_code(chat: Chat) -> str | None:
        """Onboard (Swedish, Laholm), then walk the guide through its own buttons. With
        many teams the picker lists groups (``tg:``): then type the name (TYPE_TEAM_NAME)
        and tap Laholm among the matches, so every run walks the same guide, as Laholm's."""
        if chat.keyboard_message_id is None:
            return None
        for wanted in ("l:sv", "t:laholm"):
            if wanted in chat.codes:
                chat.team_chosen = chat.team_chosen or wanted == "t:laholm"
                return wanted
        if not chat.team_chosen and any(c.startswith("tg:") for c in chat.codes):
            return TYPE_TEAM_NAME
        guide = [c for c in chat.codes if c.startswith(("g:", "a:"))]
        if not guide:
            return None
        chat.taps += 1
        return guide[chat.taps % len(guide)]

    async def _post(self, body: bytes) -> int:
        try:
            async with self.session.post(
                self.webhook_url,
                data=body,
                headers=self.headers,
                timeout=aiohttp.ClientTimeout(total=POST_TIMEOUT),
            ) as response:
                answer = await response.read()
                if response.status == 200 and response.content_type == "application/json":
                    self._webhook_reply(answer)
                return response.status
        except (aiohttp.ClientError, TimeoutError):
            return 0

    def _webhook_reply(self, answer: bytes) -> None:
        """Telegram runs a method carried in a webhook response: count it like any call."""
        try:
            data = json.loads(answer)
        except ValueError:
            return
        if isinstance(data, dict) and isinstance(data.get("method"), str):
            self.fake.calls[data["method"].lower()] += 1

    async def run_one(self, chat: Chat) -> None:
        """Post one update and wait (bounded) for both its reply and the webhook's answer."""
        stats = self.stats
        body = self.next_update(chat)
        reply: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        chat.reply = reply
        started = time.perf_counter()
        post = asyncio.ensure_future(self._post(body))
        stats.updates += 1
        waiting: set[asyncio.Future[Any]] = {reply, post}
        await asyncio.wait(waiting, timeout=self.reply_timeout, return_when=asyncio.FIRST_COMPLETED)
        if not reply.done() and post.done() and post.result() == 200:
            left = started + self.reply_timeout - time.perf_counter()
            if left > 0:
                await asyncio.wait({reply}, timeout=left)
        if reply.done():
            stats.latencies.append(reply.result() - started)
        else:
            reply.cancel()
            stats.lost += 1
            chat.broken = True
        if await post != 200:
            stats.non_200 += 1
        chat.reply = None

    def _take(self) -> Chat | None:
        while self.free:
            chat = self.free.popleft()
            if not chat.broken:
                return chat
        return None

    def _give_back(self, chat: Chat) -> None:
        if not chat.broken:
            self.free.append(chat)
            self.freed.set()

    def _begin(self) -> tuple[float, float, float, float]:
        self.stats = PhaseStats()
        return time.perf_counter(), time.process_time(), self.cpu_of_sut(), _machine_cpu()

    def _end(self, begun: tuple[float, float, float, float]) -> PhaseStats:
        wall0, cpu0, sut0, machine0 = begun
        self.stats.wall = time.perf_counter() - wall0
        self.stats.driver_cpu = time.process_time() - cpu0
        self.stats.sut_cpu = self.cpu_of_sut() - sut0
        self.stats.machine_cpu = _machine_cpu() - machine0
        return self.stats

    async def throughput(self, total: int, concurrency: int) -> PhaseStats:
        """``total`` updates as fast as possible, ``concurrency`` in flight, one per chat."""
        remaining = total

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                chat = self._take()
                if chat is None:
                    self.stats.unsent += 1
                    continue
                await self.run_one(chat)
                self._give_back(chat)

        begun = self._begin()
        await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(self.free))))))
        return self._end(begun)

    async def fixed_rate(self, rate: float, duration: float) -> PhaseStats:
        """Open loop: update i is due at i/rate whatever happened to the earlier ones."""
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[None]] = set()

        async def one(chat: Chat) -> None:
            await self.run_one(chat)
            self._give_back(chat)

        begun = self._begin()
        start = loop.time()
        for i in range(max(1, round(rate * duration))):
            due = start + i / rate
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            chat = self._take()
            if chat is None and tasks:  # every live chat awaits a reply: wait, bounded, for one
                self.freed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.freed.wait(), self.reply_timeout + POST_TIMEOUT)
                chat = self._take()
            if chat is None:  # every chat lost a reply, or none came free in time
                self.stats.unsent += 1
                continue
            self.stats.max_lag = max(self.stats.max_lag, loop.time() - due)
            task = asyncio.create_task(one(chat))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
        return self._end(begun)


# --------------------------------------------------------------------------- subprocesses


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc (0.0 where there is no /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_cpu() -> float:
    """CPU seconds every process on the machine has used (busy time in /proc/stat).

    The machine has two cores and may be shared: what neither the driver nor the bot
    used was someone else's, and the report says how much.
    """
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


@dataclass
class Sut:
    """A system under test running as a child process."""

    label: str
    process: asyncio.subprocess.Process
    port: int
    log_path: Path

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


async def _start_sut(
    label: str,
    argv: list[str],
    env: dict[str, str],
    port: int,
    log_path: Path,
    cwd: Path = REPO_ROOT,  # ``python -m bot`` imports the product from the working directory
) -> Sut:
    with log_path.open("wb") as log:
        # A new session: Ctrl+C reaches only the driver, which then stops the child itself.
        process = await asyncio.create_subprocess_exec(
            *argv,
            env=env,
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    return Sut(label, process, port, log_path)


async def _stop_sut(sut: Sut) -> None:
    """SIGTERM (both bots shut down cleanly on it), SIGKILL if that takes too long."""
    if sut.process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        sut.process.terminate()
    try:
        await asyncio.wait_for(sut.process.wait(), STOP_TIMEOUT)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            sut.process.kill()
        await sut.process.wait()


async def _wait_ready(
    sut: Sut, fake: FakeBotApi, session: aiohttp.ClientSession, health: bool
) -> float:
    """Until the bot registered its webhook and its port answers; seconds it took."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    while loop.time() - began < READY_TIMEOUT:
        if sut.process.returncode is not None:
            raise BenchError(
                f"{sut.label} exited with {sut.process.returncode} before it was "
                f"ready; its output ends:\n{sut.log_tail()}"
            )
        if fake.webhook_set.is_set() and await _answers(sut.port, session, health):
            await asyncio.sleep(0.3)  # PTB's run_webhook starts the Application just after
            return loop.time() - began
        await asyncio.sleep(0.05)
    raise BenchError(
        f"{sut.label} was not ready within {READY_TIMEOUT:.0f} s; "
        f"its output ends:\n{sut.log_tail()}"
    )


async def _answers(port: int, session: aiohttp.ClientSession, health: bool) -> bool:
    try:
        if health:
            async with session.get(
                f"http://{HOST}:{port}/health", timeout=aiohttp.ClientTimeout(total=2)
            ) as response:
                return response.status == 200
        _, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 2)
        writer.close()
        await writer.wait_closed()
        return True
    except (aiohttp.ClientError, OSError, TimeoutError):
        return False


def _full_bot_argv_env(
    fake: FakeBotApi, port: int, secret: str, database_url: str, data_dir: Path
) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ)
    env.update(
        {
            "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
            "TELEGRAM_API_URL": fake.base_url,
            "WEBHOOK_URL": f"http://{HOST}:{port}{WEBHOOK_PATH}",
            "WEBHOOK_SECRET": secret,
            "SECRET_KEY": secrets.token_urlsafe(48),
            "DATABASE_URL": database_url,
            "DATA_DIR": str(data_dir),
            "HOST": HOST,
            "PORT": str(port),
            "LOG_LEVEL": "WARNING",
        }
    )
    return [sys.executable, "-m", "bot", "serve"], env


def _echo_bot_argv_env(
    fake: FakeBotApi, port: int, secret: str
) -> tuple[list[str], dict[str, str]]:
    argv = [
        sys.executable,
        "-m",
        "bot.bench.webhook",
        "--echo-bot",
        "--port",
        str(port),
        "--api-url",
        fake.base_url,
        "--token",
        BOT_TOKEN,
        "--secret",
        secret,
    ]
    return argv, dict(os.environ)


# --------------------------------------------------------------------------- the bare echo bot


def run_echo_bot(port: int, api_url: str, token: str, secret: str) -> None:
    """The baseline: PTB on default settings (httpx, sequential updates, tornado webhook)."""
    from telegram import Update
    from telegram.ext import Application, ContextTypes, MessageHandler, filters

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.message is not None and update.message.text is not None:
            await update.message.reply_text(update.message.text)

    application = Application.builder().token(token).base_url(api_url).build()
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    application.run_webhook(
        listen=HOST,
        port=port,
        url_path=WEBHOOK_PATH.lstrip("/"),
        webhook_url=f"http://{HOST}:{port}{WEBHOOK_PATH}",
        secret_token=secret,
    )


# --------------------------------------------------------------------------- orchestration


@contextlib.asynccontextmanager
async def _database(url: str | None, tmp: Path) -> AsyncIterator[tuple[str, str]]:
    """(DATABASE_URL for the bot, description): a fresh SQLite file, or a throwaway
    PostgreSQL database created next to the given one and dropped afterwards."""
    if not url:
        yield f"sqlite:///{tmp / 'bench.db'}", "SQLite (a fresh file in a temporary directory)"
        return
    parts = urlsplit(url)
    if parts.scheme.split("+")[0] not in ("postgresql", "postgres"):
        yield url, f"{parts.scheme} (as given)"
        return
    import asyncpg

    from bot.config import normalise_database_url
    from bot.storage.pg_connect import connect, pg_target

    # The product's own parsing of the URL: the same server and TLS (sslmode, ...).
    admin = pg_target(normalise_database_url(url))
    if not admin.url.database:
        admin = admin.with_database("postgres")
    name = f"bench_{secrets.token_hex(5)}"
    try:
        conn = await connect(admin, timeout=10)
        try:
            version = await conn.fetchval("SHOW server_version")
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        raise BenchError(
            f"cannot create a database on {parts.hostname or 'localhost'} "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    try:
        where = parts.hostname or "localhost"
        yield (
            urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, "")),
            f"PostgreSQL {version} on {where}, fresh database {name} (dropped afterwards)",
        )
    finally:
        conn = await connect(admin, timeout=10)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


async def _bench_one(
    label: str, args: argparse.Namespace, fake: FakeBotApi, tmp: Path, database_url: str
) -> dict[str, Any]:
    port = _free_port()
    secret = secrets.token_urlsafe(24)
    full = label == FULL
    if full:
        argv, env = _full_bot_argv_env(fake, port, secret, database_url, tmp / "data")
    else:
        argv, env = _echo_bot_argv_env(fake, port, secret)
    fake.reset(None)
    connector = aiohttp.TCPConnector(limit=args.concurrency + 16)
    async with aiohttp.ClientSession(connector=connector) as session:
        sut = await _start_sut(label, argv, env, port, tmp / f"{'full' if full else 'echo'}.log")
        try:
            ready = await _wait_ready(sut, fake, session, health=full)
            driver = Driver(
                fake,
                session,
                f"http://{HOST}:{port}{WEBHOOK_PATH}",
                secret,
                taps=full,
                chats=args.chats,
                reply_timeout=args.reply_timeout,
                cpu_of_sut=lambda: _process_cpu(sut.process.pid),
            )
            fast = await driver.throughput(args.updates, args.concurrency)
            calls = dict(fake.calls)
            paced = await driver.fixed_rate(args.rate, args.duration)
            if sut.process.returncode is not None:
                raise BenchError(
                    f"{label} exited with {sut.process.returncode} during the run; "
                    f"its output ends:\n{sut.log_tail()}"
                )
        finally:
            await _stop_sut(sut)
    per_update = {
        m: round(n / max(1, fast.updates), 2)
        for m, n in sorted(calls.items())
        if m not in ("getme", "setwebhook", "setmycommands", "deletewebhook")
    }
    return {
        "system": label,
        "ready_s": round(ready, 2),
        "throughput": fast.summary(),
        "latency": paced.summary(),
        "bot_api_calls_per_update": per_update,
    }


def _code_version() -> str:
    """Which product code was measured: the commit, and whether the tree had changes."""

    def git(*arguments: str) -> str:
        done = subprocess.run(
            ["git", *arguments],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return done.stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    return head + (" with uncommitted changes" if dirty else "")


def _machine() -> dict[str, Any]:
    import telegram

    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        import tornado

        tornado_version = tornado.version
    except ImportError:
        tornado_version = "missing"
    return {
        "cpus": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "python_telegram_bot": telegram.__version__,
        "aiohttp": aiohttp.__version__,
        "tornado": tornado_version,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    systems = {"both": [FULL, ECHO], "full": [FULL], "echo": [ECHO]}[args.only]
    if ECHO in systems:
        try:
            import tornado  # noqa: F401  (PTB's webhook server)
        except ImportError:
            raise BenchError(
                "the echo bot needs python-telegram-bot[webhooks]: "
                "pip install -e '.[test]' (or pip install tornado)"
            ) from None
    # Ctrl+C or SIGTERM: cancel, so every `finally` below stops the bots and drops the database.
    loop, task = asyncio.get_running_loop(), asyncio.current_task()
    if task is not None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
    fake = FakeBotApi(BOT_TOKEN, args.rtt_ms / 1000)
    await fake.start()
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-webhook-") as tmp_name:
            tmp = Path(tmp_name)
            async with _database(args.database_url if FULL in systems else None, tmp) as (
                database_url,
                database,
            ):
                for label in systems:
                    results.append(await _bench_one(label, args, fake, tmp, database_url))
    finally:
        await fake.stop()
    report: dict[str, Any] = {
        "command": shlex.join(sys.orig_argv),
        "code": _code_version(),
        "machine": _machine(),
        "database": database if FULL in systems else None,
        "settings": {
            "updates": args.updates,
            "chats": args.chats,
            "concurrency": args.concurrency,
            "rate_per_s": args.rate,
            "duration_s": args.duration,
            "rtt_ms": args.rtt_ms,
            "reply_timeout_s": args.reply_timeout,
        },
        "results": results,
    }
    by_label = {r["system"]: r for r in results}
    if FULL in by_label:
        full = by_label[FULL]
        report["targets"] = {
            "p99_under_50ms": full["latency"]["p99_ms"] < 50,
            "nothing_lost": all(
                r[p]["lost"] == 0 and r[p]["non_200"] == 0 and r[p]["unsent"] == 0
                for r in results
                for p in ("throughput", "latency")
            ),
        }
        if ECHO in by_label:
            echo_rate = by_label[ECHO]["throughput"]["updates_per_s"]
            report["targets"]["throughput_at_least_echo"] = (
                full["throughput"]["updates_per_s"] >= echo_rate
            )
    return report


def print_table(report: dict[str, Any]) -> None:
    """The human-readable report: settings, machine, one line per system, the targets."""
    s, m = report["settings"], report["machine"]
    print(
        f"Webhook benchmark: {s['updates']} updates as fast as possible "
        f"({s['concurrency']} in flight, at most one per chat, {s['chats']} chats), "
        f"then {s['rate_per_s']:g} updates/s offered for {s['duration_s']:g} s; "
        f"fake Bot API round trip {s['rtt_ms']:g} ms"
    )
    print(
        f"machine: {m['cpus']} CPUs ({m['cpu']}), {m['os']}, Python {m['python']}, "
        f"python-telegram-bot {m['python_telegram_bot']}, aiohttp {m['aiohttp']}, "
        f"tornado {m['tornado']}"
    )
    if report["database"]:
        print(f"database (full bot): {report['database']}")
    print(f"code: {report['code']}")
    print(f"command: {report['command']}")
    print()
    print(
        f"{'system':<18}{'updates/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'lost':>6}"
        f"{'non-200':>9}{'CPU ms/upd':>12}  (latency at {s['rate_per_s']:g}/s offered)"
    )
    for r in report["results"]:
        fast, paced = r["throughput"], r["latency"]
        lost = fast["lost"] + paced["lost"]
        non_200 = fast["non_200"] + paced["non_200"]
        print(
            f"{r['system']:<18}{fast['updates_per_s']:>10.1f}{paced['p50_ms']:>9.1f}"
            f"{paced['p99_ms']:>9.1f}{paced['max_ms']:>9.1f}{lost:>6}{non_200:>9}"
            f"{fast['sut_cpu_ms_per_update']:>12.2f}"
        )
    print()
    # A local PostgreSQL server works for the full bot: its CPU shows up as "other processes".
    postgres = str(report["database"] or "").startswith("PostgreSQL")
    for r in report["results"]:
        fast, paced = r["throughput"], r["latency"]
        others = (
            "other processes (PostgreSQL too)"
            if postgres and r["system"] == FULL
            else ("other processes")
        )
        calls = ", ".join(f"{k} {v:g}" for k, v in r["bot_api_calls_per_update"].items())
        print(
            f"{r['system']}: ready in {r['ready_s']:.1f} s; under full load p50 "
            f"{fast['p50_ms']:.1f} ms, p99 {fast['p99_ms']:.1f} ms; driver CPU "
            f"{fast['driver_cpu_percent']:.0f}% of a core, {others} "
            f"{fast['other_processes_cores']:.2f} cores; at the fixed rate "
            f"{paced['updates']} updates, schedule lag max {paced['max_schedule_lag_ms']:.1f} "
            f"ms, error replies {fast['error_replies'] + paced['error_replies']}, not sent "
            f"(no chat free) {fast['unsent'] + paced['unsent']}; "
            f"Bot API calls per update: {calls}"
        )
    targets = report.get("targets")
    if targets:
        marks = ", ".join(
            f"{k.replace('_', ' ')}: {'yes' if v else 'NO'}" for k, v in targets.items()
        )
        print(f"targets (full bot): {marks}")
    busy = max(
        (
            r[p]["other_processes_cores"]
            for r in report["results"]
            for p in ("throughput", "latency")
            if not (postgres and r["system"] == FULL)
        ),
        default=0.0,
    )
    if busy > BUSY_MACHINE_CORES:
        print(
            f"WARNING: other processes used up to {busy:.2f} of the {m['cpus']} cores during "
            "this run; the figures are pessimistic, so rerun on a quiet machine to compare"
        )
    print(
        "lost = no reply within the reply timeout; CPU ms/upd = the bot process's CPU "
        "time per update in the throughput phase"
    )


# --------------------------------------------------------------------------- command line


def _bounded(kind: type[int] | type[float], lo: float, hi: float) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        value = kind(raw)
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be between {kind(lo):,} and {kind(hi):,}")
        return value

    return parse


# The numeric options: flag, type, bounds, default and what they set.
_NUMBERS: tuple[tuple[str, type[int] | type[float], float, float, float, str], ...] = (
    ("--updates", int, 1, 1_000_000, 3000, "updates in the throughput phase"),
    ("--chats", int, 1, 100_000, 200, "distinct chats"),
    ("--concurrency", int, 1, 1024, 64, "updates in flight in the throughput phase"),
    ("--rate", float, 0.1, 10_000, 100.0, "offered updates/s in the latency phase"),
    ("--duration", float, 0.1, 3600, 10.0, "seconds of the latency phase"),
    ("--rtt-ms", float, 0, 5000, 0.0, "delay added to every fake Bot API response"),
    (
        "--reply-timeout",
        float,
        0.1,
        600,
        5.0,
        "an update without a reply after this many seconds is lost",
    ),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot.bench.webhook",
        description="Drive `serve` and a bare PTB echo bot through their webhooks; report "
        "updates/s and p50/p99 tap-to-reply latency side by side.",
    )
    for flag, kind, lo, hi, default, what in _NUMBERS:
        parser.add_argument(
            flag,
            type=_bounded(kind, lo, hi),
            default=default,
            help=f"{what} (default {default:g})",
        )
    parser.add_argument(
        "--database-url",
        default=None,
        help="the full bot's database; a postgresql:// URL gets a fresh "
        "database beside it, dropped afterwards (default: fresh SQLite)",
    )
    parser.add_argument(
        "--only",
        choices=("both", "full", "echo"),
        default="both",
        help="which systems to run (default both)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    echo = parser.add_argument_group("internal: run the bare echo bot itself")
    echo.add_argument("--echo-bot", action="store_true", help=argparse.SUPPRESS)
    echo.add_argument("--port", type=_bounded(int, 1, 65535), help=argparse.SUPPRESS)
    echo.add_argument("--api-url", help=argparse.SUPPRESS)
    echo.add_argument("--token", help=argparse.SUPPRESS)
    echo.add_argument("--secret", help=argparse.SUPPRESS)
    return parser


def bench_main(
    bench: Callable[[argparse.Namespace], Coroutine[Any, Any, dict[str, Any]]],
    args: argparse.Namespace,
    print_report: Callable[[dict[str, Any]], None] | None,
    *,
    stopped: str,
) -> int:
    """A benchmark's command: run it, print its report (JSON with ``--json`` or without a
    table printer), a failure as one line; the exit code (1 failed, 130 interrupted)."""
    try:
        report = asyncio.run(bench(args))
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        print(f"interrupted; {stopped}", file=sys.stderr)
        return 130
    with contextlib.suppress(BrokenPipeError):  # piped into head
        if print_report is None or getattr(args, "json", False):
            print(json.dumps(report, indent=2))
        else:
            print_report(report)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.echo_bot:
        if not (args.port and args.api_url and args.token and args.secret):
            print("--echo-bot needs --port, --api-url, --token and --secret", file=sys.stderr)
            return 2
        run_echo_bot(args.port, args.api_url, args.token, args.secret)
        return 0
    return bench_main(run, args, print_table, stopped="the bots were stopped")


if __name__ == "__main__":
    sys.exit(main())
