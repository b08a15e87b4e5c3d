"""`python -m bot preview` as a person runs it: several at once never touch each other's data.

Each preview starts empty in a database of its own (a temporary directory removed when it
stops). A second preview on a taken port fails with one line; one on another port runs
beside the first. The first keeps its conversation either way: after the others, its bot
still knows the language and municipality the relative chose.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import REPO, free_port

READY = "Offline preview is running"
DEADLINE = 60.0  # a failure deadline only: every wait below ends on its event


class Preview:
    """One `python -m bot preview` child process and its chat page's JSON API."""

    def __init__(self, tmp_path: Path, port: int) -> None:
        self.port = port
        self.origin = f"http://127.0.0.1:{port}"
        self.env = {
            **os.environ,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "DATA_DIR": str(tmp_path / "data"),
            "TMPDIR": str(tmp_path / "tmp"),
            "LOG_LEVEL": "WARNING",
        }
        for name in ("DATABASE_URL", "TELEGRAM_BOT_TOKEN", "WEBHOOK_URL"):
            self.env.pop(name, None)
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "preview",
            cwd=REPO, env=self.env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip

    async def wait_ready(self) -> None:
        """Read the child's output up to the line it prints once it serves (or its exit)."""
        assert self.process is not None and self.process.stdout is not None
        seen: list[bytes] = []
        async with asyncio.timeout(DEADLINE):
            while line := await self.process.stdout.readline():
                seen.append(line)
                if READY.encode() in line:
                    return
        raise AssertionError(f"the preview did not start: {b''.join(seen)!r}")

    async def finished(self) -> tuple[int, str]:
        """Exit code and stderr of a preview that ends on its own."""
        assert self.process is not None
        async with asyncio.timeout(DEADLINE):
            _, err = await self.process.communicate()
        assert self.process.returncode is not None
        return self.process.returncode, err.decode()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
            async with asyncio.timeout(DEADLINE):
                await self.process.communicate()


@contextlib.asynccontextmanager
async def running(tmp_path: Path, port: int) -> AsyncIterator[Preview]:
    preview = Preview(tmp_path, port)
    await preview.start()
    try:
        await preview.wait_ready()
        yield preview
    finally:
        await preview.stop()


class PageChat:
    """A relative on a preview's chat page, through the JSON API the page itself uses."""

    def __init__(self, session: aiohttp.ClientSession, origin: str) -> None:
        self.session = session
        self.api = f"{origin}/preview/api/chats"
        self.chat_id = 0
        self.seq = -1

    async def open(self) -> None:
        async with self.session.post(self.api, json={"language_code": "sv"}) as response:
            assert response.status == 200
            snapshot = await response.json()
        self.chat_id, self.seq = snapshot["chat_id"], snapshot["seq"]

    async def _wait(self, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The newest bot message once it satisfies ``wanted`` (the events long poll)."""
        async with asyncio.timeout(DEADLINE):
            while True:
                url = f"{self.api}/{self.chat_id}/events?after={self.seq}"
                async with self.session.get(url) as response:
                    snapshot = await response.json()
                self.seq = snapshot["seq"]
                bots = [m for m in snapshot["messages"] if m["from_bot"]]
                if bots and wanted(bots[-1]):
                    return bots[-1]

    async def says(self, text: str, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        url = f"{self.api}/{self.chat_id}/text"
        async with self.session.post(url, json={"text": text}) as response:
            assert response.status == 200
        return await self._wait(wanted)

    async def taps(
        self, message: dict[str, Any], data: str, wanted: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        body = {"message_id": message["message_id"], "callback_data": data}
        async with self.session.post(f"{self.api}/{self.chat_id}/button", json=body) as response:
            assert response.status == 200
        return await self._wait(wanted)


def codes(message: dict[str, Any]) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [b.get("callback_data", "") for row in rows for b in row]


def offers(prefix: str) -> Callable[[dict[str, Any]], bool]:
    return lambda message: any(c.startswith(prefix) for c in codes(message))


def scratch_dirs(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "tmp").glob("bot-preview-*"))


async def test_second_preview_never_touches_the_first_ones_data(tmp_path: Path) -> None:
    (tmp_path / "tmp").mkdir()
    port = free_port()
    async with running(tmp_path, port) as first, aiohttp.ClientSession() as session:
        [first_dir] = scratch_dirs(tmp_path)
        assert (first_dir / "preview.db").exists()
        assert not (tmp_path / "data" / "preview.db").exists()
        relative = PageChat(session, first.origin)
        await relative.open()
        picker = await relative.says("/start", offers("l:"))
        teams = await relative.taps(picker, "l:sv", offers("t:"))
        await relative.taps(teams, "t:laholm", offers("g:"))

        # The same port: refused with one clear line, before it made or removed anything.
        taken = Preview(tmp_path, port)
        await taken.start()
        code, err = await taken.finished()
        assert code == 2, err
        assert err.strip().splitlines() == [
            f"configuration error: cannot listen on 127.0.0.1:{port} (Address already in use);"
            " set PORT to a free port"
        ]
        assert scratch_dirs(tmp_path) == [first_dir]

        # Another port: a preview of its own, beside the first, with a database of its own.
        async with running(tmp_path, free_port()) as second:
            assert len(scratch_dirs(tmp_path)) == 2
            other = PageChat(session, second.origin)
            await other.open()
            await other.says("/start", offers("l:"))  # the second starts empty
        assert scratch_dirs(tmp_path) == [first_dir]  # the second removed only its own

        # The first still knows the relative: /start goes home, not to the language picker.
        home = await relative.says("/start", offers("g:"))
        assert not offers("l:")(home)
    assert scratch_dirs(tmp_path) == []  # stopped: its database went with it
