"""Sign-in benchmark: webhook latency while 200 sign-in attempts hammer the same process.

Why: argon2 costs tens of milliseconds of CPU per check by design. Without a cap, a
burst of sign-ins (or guesses) fills every core and the relatives' webhook waits. This
runs the real ``serve`` (as ``bot.bench.webhook`` does: a fake Bot API on loopback, the
product as a child process), measures webhook tap-to-reply latency at a fixed rate alone,
then again while 200 workers keep one ``POST /api/v1/session`` each in flight for the
whole phase: from one client address (the brake's case) and from 200 addresses (the
argon2 cap's case; X-Forwarded-For from the trusted 127.0.0.1). Loopback only.

    .venv/bin/python -m bot.bench.signin [--repo /tmp/signin-base] [--rate 20] [--duration 10]

``--repo`` runs the product from another checkout (e.g. a ``git worktree`` of an older
commit) with this venv, to measure the behaviour before a change in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from bot.bench.webhook import (
    BOT_TOKEN,
    FULL,
    HOST,
    WEBHOOK_PATH,
    BenchError,
    Driver,
    FakeBotApi,
    _free_port,
    _full_bot_argv_env,
    _process_cpu,
    _start_sut,
    _stop_sut,
    _wait_ready,
    bench_main,
)

ATTEMPTS = 200


async def _sign_ins(
    session: aiohttp.ClientSession, origin: str, spread: bool, stop: asyncio.Event
) -> Counter[int]:
    """ATTEMPTS workers, each with one wrong sign-in in flight until ``stop``."""
    statuses: Counter[int] = Counter()

    async def worker(n: int) -> None:
        headers = {"X-Forwarded-For": f"10.{n // 250}.{n % 250}.1" if spread else "10.9.9.9"}
        body = {"username": "anna", "password": f"guess {n}"}
        while not stop.is_set():
            try:
                async with session.post(
                    f"{origin}/api/v1/session", json=body, headers=headers
                ) as response:
                    await response.read()
                    statuses[response.status] += 1
            except aiohttp.ClientError:
                statuses[0] += 1

    await asyncio.gather(*(worker(n) for n in range(ATTEMPTS)))
    return statuses


async def run(args: argparse.Namespace) -> dict[str, Any]:
    fake = FakeBotApi(BOT_TOKEN, 0.0)
    await fake.start()
    phases: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-signin-") as tmp_name:
            tmp = Path(tmp_name)
            port = _free_port()
            secret = secrets.token_urlsafe(24)
            argv, env = _full_bot_argv_env(
                fake, port, secret, f"sqlite:///{tmp / 'bench.db'}", tmp / "data"
            )
            env["TRUSTED_PROXIES"] = "127.0.0.1"
            env["PYTHONPATH"] = str(args.repo)
            connector = aiohttp.TCPConnector(limit=ATTEMPTS + 64)
            async with aiohttp.ClientSession(connector=connector) as session:
                sut = await _start_sut(FULL, argv, env, port, tmp / "serve.log", cwd=args.repo)
                try:
                    await _wait_ready(sut, fake, session, health=True)
                    origin = f"http://{HOST}:{port}"
                    # One driver for every phase: it knows where each chat's dialogue is.
                    driver = Driver(
                        fake,
                        session,
                        f"{origin}{WEBHOOK_PATH}",
                        secret,
                        taps=True,
                        chats=50,
                        reply_timeout=30.0,
                        cpu_of_sut=lambda: _process_cpu(sut.process.pid),
                    )
                    for name, spread in (
                        ("alone", None),
                        ("one address", False),
                        ("200 addresses", True),
                    ):
                        stop = asyncio.Event()
                        load = (
                            asyncio.create_task(_sign_ins(session, origin, spread, stop))
                            if spread is not None
                            else None
                        )
                        paced = await driver.fixed_rate(args.rate, args.duration)
                        stop.set()
                        statuses = await load if load is not None else Counter()
                        summary = paced.summary()
                        phases[name] = {
                            "webhook_p50_ms": summary["p50_ms"],
                            "webhook_p99_ms": summary["p99_ms"],
                            "webhook_max_ms": summary["max_ms"],
                            "updates": summary["updates"],
                            "lost": summary["lost"] + summary["unsent"],
                            "sign_in_answers": dict(sorted(statuses.items())),
                        }
                    if sut.process.returncode is not None:
                        raise BenchError(f"serve exited during the run:\n{sut.log_tail()}")
                finally:
                    await _stop_sut(sut)
    finally:
        await fake.stop()
    return {
        "repo": str(args.repo),
        "cpus": os.cpu_count(),
        "rate_per_s": args.rate,
        "duration_s": args.duration,
        "phases": phases,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.bench.signin", description=__doc__)
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[2])
    parser.add_argument("--rate", type=float, default=20.0, help="webhook updates per second")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    args = parser.parse_args(argv)
    if not (args.repo / "bot" / "__main__.py").is_file():
        print(f"--repo {args.repo} is not a checkout of this product", file=sys.stderr)
        return 2
    return bench_main(run, args, None, stopped="the bot was stopped")


if __name__ == "__main__":
    raise SystemExit(main())
