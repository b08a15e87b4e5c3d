"""The outbound proxy (TELEGRAM_PROXY / HTTPS_PROXY) carries every Bot API call.

The proxies here are real: a forward HTTP proxy (an aiohttp server that takes
absolute-form requests, as an HTTP proxy does, and forwards them) and a minimal SOCKS5
server (no authentication, CONNECT), both in front of the Bot API emulator on its own port.
Each counts what it carried; the emulator records what it received.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import contextlib
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.emulator.server import BotApiEmulator
from bot.emulator.spec import BotApiSpec
from bot.runtime import Server
from tests.conftest import REPO, emulator_on_own_port, free_port, make_settings
from tests.helpers import Relative
from tests.webhook_helpers import running

TOKEN = "123456789:AAF-proxy-test-token-abcdefghijklmnopq"


class ForwardProxy:
    """An HTTP forward proxy: only absolute-form requests (``POST http://host/path``)."""

    def __init__(self, credentials: str | None = None) -> None:
        self.credentials = credentials  # "user:password" the proxy demands, or None
        self.carried: list[str] = []  # Bot API method names, in order
        self.refused = 0  # origin-form requests: not proxy requests
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._session: aiohttp.ClientSession | None = None

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        if not request.raw_path.startswith("http://"):
            self.refused += 1
            return web.Response(status=400, text="not a proxy request")
        assert self._session is not None
        if self.credentials is not None:
            expected = "Basic " + base64.b64encode(self.credentials.encode()).decode()
            if request.headers.get("Proxy-Authorization") != expected:
                return web.Response(status=407, headers={"Proxy-Authenticate": "Basic"})
        self.carried.append(request.raw_path.rsplit("/", 1)[-1])
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        async with self._session.request(
            request.method, request.raw_path, data=await request.read(), headers=headers
        ) as upstream:
            body = await upstream.read()
            kept = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
            return web.Response(status=upstream.status, body=body, headers=kept)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[ForwardProxy]:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        self._session = aiohttp.ClientSession(trust_env=False)
        try:
            yield self
        finally:
            await self._session.close()
            await runner.cleanup()


HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "transfer-encoding",
    "content-length",
    "content-encoding",
    "host",
    "upgrade",
}


class Socks5Proxy:
    """SOCKS5 (RFC 1928), no authentication, CONNECT only: counts tunnels and their bytes."""

    def __init__(self) -> None:
        self.tunnels: list[tuple[str, int]] = []
        self.sent = bytearray()  # what clients sent through the tunnels (plain HTTP here)
        self.port = free_port()
        self._writers: set[asyncio.StreamWriter] = set()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            version, count = await reader.readexactly(2)
            methods = await reader.readexactly(count)
            if version != 5 or 0 not in methods:
                writer.write(b"\x05\xff")
                return
            writer.write(b"\x05\x00")
            _, command, _, kind = await reader.readexactly(4)
            if kind == 1:
                host = ".".join(str(b) for b in await reader.readexactly(4))
            elif kind == 3:
                host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
            else:
                writer.write(b"\x05\x08\x00\x01" + bytes(6))
                return
            (port,) = struct.unpack("!H", await reader.readexactly(2))
            if command != 1:
                writer.write(b"\x05\x07\x00\x01" + bytes(6))
                return
            up_reader, up_writer = await asyncio.open_connection(host, port)
            self._writers.add(up_writer)
            self.tunnels.append((host, port))
            writer.write(b"\x05\x00\x00\x01" + bytes(6))
            await writer.drain()
            await asyncio.gather(
                self._pipe(reader, up_writer, record=True), self._pipe(up_reader, writer)
            )
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, record: bool = False
    ) -> None:
        try:
            while chunk := await reader.read(65536):
                if record:
                    self.sent.extend(chunk)
                writer.write(chunk)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Socks5Proxy]:
        server = await asyncio.start_server(self._client, "127.0.0.1", self.port)
        try:
            yield self
        finally:
            server.close()
            for writer in self._writers:  # tunnels still open (Server.close_clients is 3.13)
                writer.close()
            await server.wait_closed()


@pytest.fixture
async def telegram(spec: BotApiSpec) -> AsyncIterator[BotApiEmulator]:
    async with emulator_on_own_port(spec, TOKEN) as emulator:
        yield emulator
    assert emulator.problems == [], emulator.problems


@pytest.fixture
async def http_proxy() -> AsyncIterator[ForwardProxy]:
    async with ForwardProxy().running() as proxy:
        yield proxy


@pytest.fixture(autouse=True)
def proxy_free_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy variables or exceptions from the machine running the tests."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, telegram: BotApiEmulator, **env: str) -> AsyncIterator[Server]:
    """``serve`` in polling mode against the emulator, with these settings."""
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'proxy.db'}",
        tmp_path,
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=telegram.base_url,
        **env,
    )
    async with running(settings) as server:
        yield server


async def test_every_bot_api_call_goes_through_the_http_proxy(
    tmp_path: Path, telegram: BotApiEmulator, http_proxy: ForwardProxy
) -> None:
    async with serving(tmp_path, telegram, TELEGRAM_PROXY=http_proxy.url):
        reply = await Relative(telegram).says("/start")
        assert reply["text"]
    received = [method for method, _ in telegram.calls]
    assert {"getMe", "getUpdates", "sendMessage"} <= set(received)
    assert sorted(http_proxy.carried) == sorted(received)  # each one, none around it
    assert http_proxy.refused == 0


async def test_proxy_credentials_in_the_url_are_sent(
    tmp_path: Path, telegram: BotApiEmulator
) -> None:
    """TELEGRAM_PROXY=http://user:password@host:port (percent-encoded) authenticates."""
    async with ForwardProxy("bot:p@ss word").running() as proxy:
        url = f"http://bot:p%40ss%20word@127.0.0.1:{proxy.port}"
        async with serving(tmp_path, telegram, TELEGRAM_PROXY=url):
            await Relative(telegram).says("/start")
    assert proxy.carried and sorted(proxy.carried) == sorted(m for m, _ in telegram.calls)


async def test_https_proxy_variable_is_used_when_telegram_proxy_is_unset(
    tmp_path: Path, telegram: BotApiEmulator, http_proxy: ForwardProxy
) -> None:
    async with serving(tmp_path, telegram, HTTPS_PROXY=http_proxy.url):
        await Relative(telegram).says("/start")
    assert sorted(http_proxy.carried) == sorted(method for method, _ in telegram.calls)


async def test_without_the_setting_no_call_goes_through_a_proxy(
    tmp_path: Path,
    telegram: BotApiEmulator,
    http_proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only the setting counts: the process's own proxy variables are not read by the session."""
    monkeypatch.setenv("HTTP_PROXY", http_proxy.url)  # aiohttp's trust_env would use this
    monkeypatch.setenv("http_proxy", http_proxy.url)
    async with serving(tmp_path, telegram):
        reply = await Relative(telegram).says("/start")
        assert reply["text"]
    assert telegram.calls
    assert http_proxy.carried == []


async def test_every_bot_api_call_goes_through_the_socks5_proxy(
    tmp_path: Path, telegram: BotApiEmulator
) -> None:
    socks = Socks5Proxy()
    async with (
        socks.running(),
        serving(tmp_path, telegram, TELEGRAM_PROXY=f"socks5://127.0.0.1:{socks.port}"),
    ):
        await Relative(telegram).says("/start")
    emulator_port = int(telegram.base_url.split(":")[2].split("/")[0])
    assert socks.tunnels and all(port == emulator_port for _, port in socks.tunnels)
    carried = socks.sent.decode("latin-1")
    for method in {method for method, _ in telegram.calls}:
        assert f"/bot{TOKEN}/{method} HTTP/1.1" in carried, method
    # Every call the emulator saw came through a tunnel (requests start "POST /bot...").
    assert carried.count(f"/bot{TOKEN}/") == len(telegram.calls)


async def test_a_dead_proxy_is_a_clear_start_failure(
    tmp_path: Path, telegram: BotApiEmulator
) -> None:
    """Nothing listens at the proxy: start fails (PTB's NetworkError), the emulator sees nothing."""
    from telegram.error import NetworkError

    with pytest.raises(NetworkError):
        async with serving(tmp_path, telegram, TELEGRAM_PROXY=f"http://127.0.0.1:{free_port()}"):
            pass
    assert telegram.calls == []


def private_telegram_imports(source: str) -> list[str]:
    """``import telegram._x`` / ``from telegram._x import y`` / ``from telegram import _x``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "telegram" and any(
                part.startswith("_") and not part.startswith("__") for part in parts[1:]
            ):
                found.append(f"{node.lineno}: {name}")
    return found


def test_no_module_imports_private_python_telegram_bot_modules() -> None:
    """``telegram._*`` is PTB's private API: it changes without notice between releases."""
    assert private_telegram_imports("from telegram._utils.types import ODVInput")
    assert private_telegram_imports("import telegram._bot")
    assert private_telegram_imports("from telegram import _utils")
    assert not private_telegram_imports("from telegram.request import BaseRequest")
    found = [
        f"{path.relative_to(REPO)}:{line}"
        for path in sorted((REPO / "bot").rglob("*.py"))
        for line in private_telegram_imports(path.read_text(encoding="utf-8"))
    ]
    assert found == []
