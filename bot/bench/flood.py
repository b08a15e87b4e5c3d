"""Flood benchmark: one chat sends 2,000 updates while 50 other chats use the bot.

Why (issue #11): before the per-chat budget, 2,000 messages from one chat got 2,000 replies
and slowed every other chat from p50 9 ms to 193 ms. This runs the real `serve` in webhook
mode as a child process against the webhook benchmark's fake Bot API (loopback only) and
measures the other chats' tap-to-reply latency twice at the same offered rate: quiet, and
while one chat floods. It prints both, their ratio (the bar: p99 during the flood within
2x the quiet p99), and what the flooding chat got back.

    .venv/bin/python -m bot.bench.flood [--flood 2000] [--chats 50] [--rate 15] \
        [--duration 10] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bot.bench.webhook import (
    BOT_TOKEN,
    FULL,
    HOST,
    POST_TIMEOUT,
    WEBHOOK_PATH,
    BenchError,
    Driver,
    FakeBotApi,
    _code_version,
    _database,
    _free_port,
    _full_bot_argv_env,
    _process_cpu,
    _start_sut,
    _stop_sut,
    _wait_ready,
    bench_main,
)

FLOOD_CHAT = 900_000_001


class TextKeepingBotApi(FakeBotApi):
    """The webhook benchmark's fake Bot API, keeping the text of the message being sent."""

    last_text = ""

    def _message(self, method: str, params: dict[str, Any]) -> bytes:
        self.last_text = str(params.get("text", ""))
        return super()._message(method, params)


class Flooder:
    """One chat posting text updates as fast as ``concurrency`` allows (bounded in total)."""

    def __init__(self, session: aiohttp.ClientSession, url: str, secret: str) -> None:
        self.session = session
        self.url = url
        self.headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
        self.sent = 0
        self.non_200 = 0
        self.replies = 0
        self.notices = 0
        self.wall = 0.0

    def on_reply(self, text: str) -> None:
        self.replies += 1
        if text.startswith("⏸"):
            self.notices += 1

    async def run(self, total: int, concurrency: int, first_update_id: int, rate: float) -> None:
        """Post ``total`` updates at ``rate`` a second whatever the bot answers (open loop).

        Why open loop: a closed loop (post, wait for the answer, post again) floods only as
        fast as the bot answers one chat, about once a second within Telegram's limit, so it
        never goes past the budget. A person or a script flooding a chat does not wait;
        Telegram holds at most ``concurrency`` (max_connections) posts in flight.
        """
        loop = asyncio.get_running_loop()
        in_flight = asyncio.Semaphore(concurrency)
        started = time.perf_counter()
        begun = loop.time()

        async def post(i: int) -> None:
            update = {
                "update_id": first_update_id + i,
                "message": {
                    "message_id": 10_000 + i,
                    "date": int(time.time()),
                    "chat": {"id": FLOOD_CHAT, "type": "private", "first_name": "F"},
                    "from": {"id": FLOOD_CHAT, "is_bot": False, "first_name": "F",
                             "language_code": "sv"},
                    "text": f"flood {i}",
                },
            }  # fmt: skip
            try:
                async with (
                    in_flight,
                    self.session.post(
                        self.url,
                        json=update,
                        headers=self.headers,
                        timeout=aiohttp.ClientTimeout(total=POST_TIMEOUT),
                    ) as response,
                ):
                    await response.read()
                    if response.status != 200:
                        self.non_200 += 1
            except (aiohttp.ClientError, TimeoutError):
                self.non_200 += 1

        tasks = []
        for i in range(total):
            due = begun + i / rate
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            self.sent += 1
            tasks.append(asyncio.create_task(post(i)))
        await asyncio.gather(*tasks)
        self.wall = time.perf_counter() - started


async def run(args: argparse.Namespace) -> dict[str, Any]:
    fake = TextKeepingBotApi(BOT_TOKEN, args.rtt_ms / 1000)
    await fake.start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-flood-") as tmp_name:
            tmp = Path(tmp_name)
            async with _database(args.database_url, tmp) as (database_url, database):
                measured = await _measure(args, fake, tmp, database_url)
    finally:
        await fake.stop()
    quiet, flood = measured["quiet"], measured["during_flood"]
    return {
        "command": shlex.join(sys.orig_argv),
        "code": _code_version(),
        "database": database,
        "settings": {
            "flood_updates": args.flood,
            "flood_concurrency": args.flood_concurrency,
            "other_chats": args.chats,
            "others_rate_per_s": args.rate,
            "duration_s": args.duration,
            "rtt_ms": args.rtt_ms,
        },
        **measured,
        "p99_ratio": round(flood["p99_ms"] / quiet["p99_ms"], 2) if quiet["p99_ms"] else None,
        "p50_ratio": round(flood["p50_ms"] / quiet["p50_ms"], 2) if quiet["p50_ms"] else None,
    }


async def _measure(
    args: argparse.Namespace, fake: TextKeepingBotApi, tmp: Path, database_url: str
) -> dict[str, Any]:
    port = _free_port()
    secret = secrets.token_urlsafe(24)
    argv, env = _full_bot_argv_env(fake, port, secret, database_url, tmp / "data")
    fake.reset(None)
    url = f"http://{HOST}:{port}{WEBHOOK_PATH}"
    # Telegram delivers every chat's updates over at most max_connections (default 40)
    # connections: the flood and the other chats share them, as they would in production.
    connector = aiohttp.TCPConnector(limit=args.flood_concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        sut = await _start_sut(FULL, argv, env, port, tmp / "full.log")
        try:
            await _wait_ready(sut, fake, session, health=True)
            driver = Driver(
                fake, session, url, secret, taps=True, chats=args.chats,
                reply_timeout=args.reply_timeout,
                cpu_of_sut=lambda: _process_cpu(sut.process.pid),
            )  # fmt: skip
            flooder = Flooder(session, url, secret)
            others = driver.on_bot_message

            def listener(chat_id: int, message_id: int, codes: Any, error: bool) -> None:
                if chat_id == FLOOD_CHAT:
                    flooder.on_reply(fake.last_text)
                else:
                    others(chat_id, message_id, codes, error)

            fake.listener = listener
            await driver.throughput(args.chats * 3, args.chats)  # everyone onboarded first
            quiet = (await driver.fixed_rate(args.rate, args.duration)).summary()
            flood_task = asyncio.create_task(
                flooder.run(
                    args.flood, args.flood_concurrency, 50_000_000, args.flood / args.duration
                )
            )
            during = (await driver.fixed_rate(args.rate, args.duration)).summary()
            await flood_task
            if sut.process.returncode is not None:
                raise BenchError(f"serve exited during the run:\n{sut.log_tail()}")
        finally:
            await _stop_sut(sut)
    keys = ("updates", "p50_ms", "p90_ms", "p99_ms", "max_ms", "lost", "non_200", "unsent")
    return {
        "quiet": {k: quiet[k] for k in keys},
        "during_flood": {k: during[k] for k in keys},
        "flooding_chat": {
            "updates_posted": flooder.sent,
            "posted_in_s": round(flooder.wall, 2),
            "non_200": flooder.non_200,
            "replies": flooder.replies,
            "slow_down_notices": flooder.notices,
        },
    }


def print_report(report: dict[str, Any]) -> None:
    print(f"command:  {report['command']}")
    print(f"code:     {report['code']}")
    print(f"database: {report['database']}")
    s = report["settings"]
    print(
        f"{s['other_chats']} chats walking the guide at {s['others_rate_per_s']:g} updates/s for "
        f"{s['duration_s']:g} s, quiet and while one chat posts {s['flood_updates']} updates "
        f"(over {s['duration_s']} s, {s['flood_concurrency']} connections shared by all chats)"
    )
    print(f"{'other chats':<14}{'updates':>8}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}"
          f"{'max ms':>9}{'lost':>6}{'non200':>7}")  # fmt: skip
    for label, key in (("quiet", "quiet"), ("during flood", "during_flood")):
        r = report[key]
        print(
            f"{label:<14}{r['updates']:>8}{r['p50_ms']:>9.1f}{r['p90_ms']:>9.1f}"
            f"{r['p99_ms']:>9.1f}{r['max_ms']:>9.1f}{r['lost']:>6}{r['non_200']:>7}"
        )
    print(f"p50 ratio {report['p50_ratio']}, p99 ratio {report['p99_ratio']} (bar: p99 <= 2)")
    f = report["flooding_chat"]
    print(
        f"flooding chat: {f['updates_posted']} updates in {f['posted_in_s']} s "
        f"({f['non_200']} not answered 200), {f['replies']} replies, "
        f"{f['slow_down_notices']} slow-down notice(s)"
    )


def _positive(kind: type[int] | type[float]) -> Any:
    def parse(raw: str) -> Any:
        try:
            value = kind(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {raw!r}") from None
        if value <= 0 or value > 100_000:
            raise argparse.ArgumentTypeError(f"out of range (0, 100000]: {raw}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot.bench.flood",
        description="Other chats' latency, quiet and while one chat floods `serve`'s webhook.",
    )
    parser.add_argument("--flood", type=_positive(int), default=2000, help="updates (2000)")
    parser.add_argument(
        "--flood-concurrency",
        type=_positive(int),
        default=40,
        help="connections in flight at most, shared by all chats: Telegram's max_connections (40)",
    )
    parser.add_argument("--chats", type=_positive(int), default=50, help="other chats (50)")
    parser.add_argument("--rate", type=_positive(float), default=15.0, help="their updates/s")
    parser.add_argument("--duration", type=_positive(float), default=10.0, help="per phase, s")
    parser.add_argument("--rtt-ms", type=float, default=0.0, help="fake Bot API delay (0)")
    parser.add_argument("--reply-timeout", type=_positive(float), default=10.0, help="(10 s)")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--json", action="store_true", help="print JSON instead")
    return parser


def main(argv: list[str] | None = None) -> int:
    return bench_main(
        run, build_parser().parse_args(argv), print_report, stopped="the bot was stopped"
    )


if __name__ == "__main__":
    sys.exit(main())
