"""What recording statistics costs per update: CPU ms, with and without the recorder.

Why: the budget is 0.2 ms CPU per update, and the webhook benchmark's figures
move by more than that from run to run on a busy 2-core machine. This script
measures the difference directly, in one process, on the real code:

* ``recorder``: the calls a typical guidance tap makes (``count`` screen_viewed and
  screen_move, ``seen``), over many chats and screens;
* ``handle``: ``ConversationService.handle`` for guidance taps on a fresh SQLite file,
  with the recorder and with ``stats=None``, in alternating rounds (same state,
  same screens, a port that does nothing), so the difference is the recording.

    .venv/bin/python -m bot.bench.recording [--updates 20000] [--rounds 5] [--json]

CPU time is ``time.process_time`` (this process, all threads). A script, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bot.chat.conversation import Event
from bot.config import load_settings
from bot.content.render import Screen
from bot.services.stats import StatsRecorder

KEY = b"benchmark-only-secret-key-0123456789abcdef"


class _NullPort:
    """A chat that accepts everything at no cost: only the service's own work is timed."""

    async def send(self, screen: Screen) -> list[int]:
        return [1]

    async def edit(self, message_id: int, screen: Screen) -> bool:
        return True

    async def delete(self, message_ids: list[int]) -> None:
        return None


def bench_recorder(updates: int) -> float:
    """CPU ms per update of the recording calls alone (no database)."""
    recorder = StatsRecorder(None, KEY)  # type: ignore[arg-type]  # flush is not called
    nodes = [f"node_{i}" for i in range(50)]
    pseudonyms = [f"{i:064x}" for i in range(200)]
    start = time.process_time()
    for i in range(updates):
        node, previous = nodes[i % 50], nodes[(i + 7) % 50]
        recorder.count("screen_viewed", "laholm", "sv", node)
        recorder.count("screen_move", "laholm", "sv", f"{previous}>{node}")
        recorder.seen(pseudonyms[i % 200], "laholm")
    return (time.process_time() - start) * 1000 / updates


async def bench_handle(updates: int, rounds: int) -> dict[str, Any]:
    from bot.runtime import build_core

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            {
                "DATABASE_URL": f"sqlite:///{Path(tmp) / 'bench.db'}",
                "DATA_DIR": tmp,
                "SECRET_KEY": KEY.decode(),
            },
            require_telegram=False,
        )
        core = await build_core(settings)
        conversation, recorder = core.conversation, core.recorder
        port = _NullPort()
        content = core.content
        targets = [n for n in content.nodes if n not in ("contact",)]
        chats = list(range(1000, 1200))
        update_id = 0

        async def run(n: int) -> float:
            nonlocal update_id
            start = time.process_time()
            for i in range(n):
                update_id += 1
                data = f"g:{targets[i % len(targets)]}"
                event = Event(update_id, "button", "sv", data=data, message_id=1)
                await conversation.handle(chats[i % len(chats)], event, port)
            return (time.process_time() - start) * 1000 / n

        for chat in chats:  # onboard every chat (language, team) before timing
            for data in ("l:sv", "t:laholm"):
                update_id += 1
                await conversation.handle(chat, Event(update_id, "button", "sv", data=data), port)
        await run(min(2000, updates))  # warm the screen cache
        with_stats: list[float] = []
        without: list[float] = []
        for _ in range(rounds):
            conversation.stats = recorder
            with_stats.append(await run(updates))
            if recorder is not None:
                await recorder.flush()  # the background flush, outside the timed loop
            conversation.stats = None
            without.append(await run(updates))
        await core.close()
    on, off = statistics.median(with_stats), statistics.median(without)
    return {
        "handle_ms_with_recording": round(on, 4),
        "handle_ms_without": round(off, 4),
        "difference_ms": round(on - off, 4),
        "rounds_with": [round(x, 4) for x in with_stats],
        "rounds_without": [round(x, 4) for x in without],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=20000, help="updates per round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (median)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {"recorder_ms_per_update": round(bench_recorder(args.updates), 5)}
    result.update(asyncio.run(bench_handle(args.updates, args.rounds)))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"recording calls alone:          {result['recorder_ms_per_update']:.4f} ms CPU/update")
    print(f"handle() with recording:        {result['handle_ms_with_recording']:.4f} ms CPU/update")
    print(f"handle() without (stats=None):  {result['handle_ms_without']:.4f} ms CPU/update")
    print(f"difference (median of rounds):  {result['difference_ms']:+.4f} ms CPU/update")


if __name__ == "__main__":
    main()
