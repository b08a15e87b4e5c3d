"""Debian's nginx with deploy/nginx/relatives-bot.conf in front of two real `serve` processes.

Everything is real except Telegram: nginx (the shipped site file verbatim, with the test's
own copies of the four site-specific include files), a self-signed certificate, two
`python -m bot serve` OS processes in webhook mode on one fresh PostgreSQL database, and
the spec-checking Bot API emulator, which plays Telegram: it posts each update to the
webhook over HTTPS and redelivers one that got a non-2xx answer or a connection error.

The client addresses are loopback addresses of their own (127.0.0.2, 127.0.0.3, ...);
nginx's internal allow list is 127.0.0.1 only, so they are "outside". What the app
believes about an address is observed through the sign-in brake: after five failures
from one address, that address waits (429), another does not.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import json
import os
import shutil
import signal
import ssl
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy.engine import make_url

from bot.emulator.server import BotApiEmulator
from bot.emulator.spec import BotApiSpec
from tests.conftest import CI, REPO, TEST_SECRET, _reset_postgres, free_port
from tests.webhook_helpers import registered

TOKEN = "123456:NGINXtestTOKEN_abcdefghijklmnopqrstuvwxyz"
WEBHOOK_SECRET = "nginx-test-secret"
SITE = REPO / "deploy" / "nginx"
DEADLINE = 120.0  # seconds; only ever a failure deadline, every wait ends on its condition
UPDATES, LANES, KILL_AFTER = 60, 6, 20


def _nginx() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None
    )
    if found:
        return found
    if CI:
        pytest.fail("CI=true but nginx is missing: apt-get install nginx-light")
    pytest.skip("needs Debian's nginx (apt-get install nginx-light)")


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cryptography), and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), False
        )  # Python 3.13's strict verification wants the key identifiers
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class Nginx:
    """nginx in the foreground on free ports, everything it writes under ``directory``."""

    def __init__(
        self, directory: Path, cert: Path, key: Path, https: int, upstreams: list[int]
    ) -> None:
        self.dir = directory
        self.https, self.http = https, free_port()
        conf = directory / "conf"
        shutil.copytree(SITE, conf)  # relatives-bot.conf verbatim; the includes replaced
        site = conf / "relatives-bot"
        (site / "upstream.conf").write_text(
            "".join(f"server 127.0.0.1:{p} max_fails=1 fail_timeout=10s;\n" for p in upstreams)
        )
        (site / "listen-https.conf").write_text(
            f"listen 127.0.0.1:{self.https} ssl;\nserver_name 127.0.0.1;\n"
            f"ssl_certificate {cert};\nssl_certificate_key {key};\n"
        )
        (site / "listen-http.conf").write_text(
            f"listen 127.0.0.1:{self.http};\nserver_name 127.0.0.1;\n"
        )
        (site / "internal.conf").write_text("allow 127.0.0.1;\ndeny all;\n")
        temp = "".join(
            f"{kind}_temp_path {directory / kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        user = "user root;\n" if os.geteuid() == 0 else ""
        self.conf = conf / "nginx.conf"
        self.error_log = directory / "error.log"
        # Its notices on stderr too: "start worker processes" says the ports are open.
        self.conf.write_text(
            f"{user}worker_processes 1;\npid {directory / 'nginx.pid'};\n"
            f"error_log {self.error_log} info;\nerror_log stderr notice;\n"
            "events { worker_connections 512; }\n"
            f"http {{\n{temp}access_log {directory / 'access.log'};\n"
            "include relatives-bot.conf;\n}\n"
        )
        self.process: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None

    async def start(self, binary: str) -> None:
        """Started means: the master opened the listening sockets and logged that it
        starts its workers (read from its stderr, no polling of the port), or it exited."""
        with (self.dir / "nginx.out").open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                binary, "-p", str(self.dir), "-c", str(self.conf), "-g", "daemon off;",
                stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
        stderr = self.process.stderr
        assert stderr is not None
        said: list[bytes] = []

        async def workers_started() -> bool:
            while line := await stderr.readline():
                said.append(line)
                if b"start worker processes" in line:
                    return True
            return False  # EOF: nginx exited

        started = await asyncio.wait_for(workers_started(), DEADLINE)
        assert started, b"".join(said).decode(errors="replace")[-3000:]
        self._drain = asyncio.create_task(self._copy(said, stderr))

    async def _copy(self, said: list[bytes], stderr: asyncio.StreamReader) -> None:
        """Its stderr into nginx.out, the rest as it comes: nginx never blocks on the pipe."""
        with (self.dir / "nginx.out").open("ab") as out:
            out.writelines(said)
            while chunk := await stderr.read(65536):
                out.write(chunk)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)  # fast shutdown: the workers go too
            try:
                await asyncio.wait_for(self.process.wait(), DEADLINE)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self._drain is not None:  # ends when the last worker has closed the pipe
            await asyncio.wait_for(self._drain, DEADLINE)


class BotProcess:
    """`python -m bot serve` in webhook mode behind nginx, trusting it as the proxy."""

    def __init__(
        self, name: str, emulator: BotApiEmulator, database_url: str, tmp: Path, https: int
    ) -> None:
        self.port = free_port()
        self.log = tmp / f"{name}.log"
        self.env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": emulator.base_url,
            "SECRET_KEY": TEST_SECRET,
            "DATABASE_URL": database_url,
            "DATA_DIR": str(tmp / name),
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "WEBHOOK_URL": f"https://127.0.0.1:{https}/telegram/webhook",
            "WEBHOOK_SECRET": WEBHOOK_SECRET,
            "TRUSTED_PROXIES": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
        }
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "serve",
                cwd=REPO, env=self.env, stdin=asyncio.subprocess.DEVNULL,
                stdout=log, stderr=log,
            )  # fmt: skip

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()


async def _status(url: str) -> int | None:
    try:
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            return response.status
    except aiohttp.ClientError:
        return None


def _from(source: str, tls: ssl.SSLContext | None) -> aiohttp.ClientSession:
    """A client whose connections leave from this loopback address."""
    connector = aiohttp.TCPConnector(ssl=tls if tls is not None else False,
                                     local_addr=(source, 0), force_close=True)  # fmt: skip
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True))


async def _wrong_sign_in(http: aiohttp.ClientSession, url: str, n: int, forged: bool) -> int:
    headers = {"X-Forwarded-For": f"198.51.100.{n % 250}"} if forged else {}
    async with http.post(
        f"{url}/api/v1/session",
        json={"username": "nobody", "password": "wrong"},
        headers=headers,
    ) as response:
        await response.read()
        return response.status


async def _until_locked(http: aiohttp.ClientSession, url: str, *, forged: bool) -> int:
    """Wrong sign-ins for one username (each with a new forged X-Forwarded-For) until every
    process says wait: two 429s in a row behind nginx's round robin. The brake counts per
    (address, username) in the shared database. Returns how many attempts that took."""
    row = 0
    for n in range(40):
        status = await _wrong_sign_in(http, url, n, forged)
        assert status in (401, 429), status
        row = row + 1 if status == 429 else 0
        if row == 2:
            return n + 1
    raise AssertionError("the address was never throttled: the app does not see it")


@contextlib.asynccontextmanager
async def _telegram(spec: BotApiSpec, tls: ssl.SSLContext) -> AsyncIterator[Any]:
    """The emulator on its own port; its webhook client trusts the test certificate and
    reports each delivery (the update's chat when sent, its status when answered)."""
    emulator = BotApiEmulator(TOKEN, validator=spec.validate_call)
    runner = web.AppRunner(emulator.make_app(), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    emulator.set_server_origin(f"http://127.0.0.1:{port}")
    watch = SimpleNamespace(sent={}, delivered={}, statuses=[], changed=asyncio.Event())

    async def on_chunk(_s: Any, ctx: SimpleNamespace, params: Any) -> None:
        update = json.loads(params.chunk)
        ctx.chat = update["message"]["chat"]["id"]
        watch.sent.setdefault(ctx.chat, asyncio.get_running_loop().time())

    async def on_end(_s: Any, ctx: SimpleNamespace, params: Any) -> None:
        watch.statuses.append(params.response.status)
        if 200 <= params.response.status < 300 and hasattr(ctx, "chat"):
            watch.delivered.setdefault(ctx.chat, asyncio.Event()).set()
        watch.changed.set()

    trace = aiohttp.TraceConfig()
    trace.on_request_chunk_sent.append(on_chunk)
    trace.on_request_end.append(on_end)
    # The emulator makes its webhook session on first use; this one is used instead, so
    # that it trusts the self-signed certificate, as Telegram trusts an uploaded one.
    emulator._session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=tls),
        timeout=aiohttp.ClientTimeout(total=10),
        trace_configs=[trace],
    )
    try:
        yield emulator, watch
    finally:
        await emulator.close()
        await runner.cleanup()


def _replies(emulator: BotApiEmulator, chat: int) -> int:
    return sum(
        1
        for name, params in emulator.calls
        if name == "sendMessage" and str(params.get("chat_id")) == str(chat)
    )


async def _versions(database_url: str) -> list[str]:
    u = make_url(database_url)
    conn = await asyncpg.connect(f"postgresql://{u.username}@{u.host}:{u.port}/{u.database}")
    try:
        return [row[0] for row in await conn.fetch("SELECT version_num FROM alembic_version")]
    finally:
        await conn.close()


async def test_nginx_in_front_of_two_processes(
    pg_database_url: str, tmp_path: Path, spec: BotApiSpec
) -> None:
    binary = _nginx()
    await asyncio.to_thread(_reset_postgres, pg_database_url)
    cert, key = _certificate(tmp_path)
    tls = ssl.create_default_context(cafile=str(cert))
    async with _telegram(spec, tls) as (emulator, watch):
        nginx_dir = tmp_path / "nginx"
        nginx_dir.mkdir()
        https_port = free_port()
        bots = [
            BotProcess(name, emulator, pg_database_url, tmp_path, https_port)
            for name in ("one", "two")
        ]
        nginx = Nginx(nginx_dir, cert, key, https_port, [bot.port for bot in bots])
        try:
            await nginx.start(binary)
            # Both at the same moment on one empty database.
            await asyncio.gather(*(bot.start() for bot in bots))
            # Started: both set their webhook (emulator events), so both serve and are ready.
            processes = [bot.process for bot in bots if bot.process is not None]
            await registered(emulator, processes, [bot.log for bot in bots], timeout=DEADLINE)
            for bot in bots:
                ready = await _status(f"http://127.0.0.1:{bot.port}/health/ready")
                assert ready == 200, bot.log.read_text()[-3000:]
            assert len(await _versions(pg_database_url)) == 1  # migrated once

            url = f"https://127.0.0.1:{https_port}"
            await _checks_through_nginx(url, nginx.http, bots, tls)
            await _kill_one_under_a_stream(emulator, watch, bots)
            assert emulator.problems == [], emulator.problems
        finally:
            for bot in bots:
                await bot.kill()
            await nginx.stop()


async def _checks_through_nginx(
    url: str, http_port: int, bots: list[BotProcess], tls: ssl.SSLContext
) -> None:
    # Ready through nginx, from the internal network (127.0.0.1), on both upstreams.
    async with _from("127.0.0.1", tls) as inside:
        for _ in bots:
            async with inside.get(f"{url}/health/ready") as response:
                assert response.status == 200
                assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
                assert "nginx/" not in response.headers.get("Server", "")  # server_tokens off
        async with inside.get(f"{url}/metrics") as response:
            assert response.status == 200
    async with _from("127.0.0.2", tls) as outside:
        # Health and metrics are refused from outside (HSTS even on the refusal).
        for path in ("/metrics", "/health/ready", "/health/live", "/health"):
            async with outside.get(url + path) as response:
                assert response.status == 403, path
                assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
        # The staff sign-in page: the session cookie is Secure (and HttpOnly, SameSite).
        async with outside.get(f"{url}/staff/login") as response:
            assert response.status == 200
            cookie = response.headers["Set-Cookie"]
            assert "Secure" in cookie and "HttpOnly" in cookie, cookie
        # The webhook is POST only, its body limited as the app's; plain HTTP redirects.
        async with outside.get(f"{url}/telegram/webhook") as response:
            assert response.status == 403
        too_big = b"{" + b" " * 1_000_001 + b"}"
        async with outside.post(f"{url}/telegram/webhook", data=too_big) as response:
            assert response.status == 413
        async with outside.get(f"{url}/emu/bot{TOKEN}/getMe") as response:
            assert response.status == 404  # nothing but the app's routes
    async with _from("127.0.0.2", None) as plain:
        redirect = f"http://127.0.0.1:{http_port}/staff/login?lang=sv"
        async with plain.get(redirect, allow_redirects=False) as response:
            assert response.status == 308
            assert response.headers["Location"] == "https://127.0.0.1/staff/login?lang=sv"

    # The real client address reaches the app: 127.0.0.2 is locked out (a new forged
    # X-Forwarded-For on every attempt changes nothing), 127.0.0.3 is not.
    async with _from("127.0.0.2", tls) as two:
        attempts = await _until_locked(two, url, forged=True)
        assert attempts >= 6  # five free failures before any wait
    async with _from("127.0.0.3", tls) as three:
        statuses = [await _wrong_sign_in(three, url, 1000 + n, False) for n in range(2)]
        assert statuses == [401, 401]  # both processes: this address has not failed before
    # A forged X-Forwarded-For sent straight to a process by an untrusted peer is ignored:
    # a new "address" per attempt still ends in the brake of the peer's own address.
    direct = f"http://127.0.0.1:{bots[1].port}"
    async with _from("127.0.0.5", None) as forger:
        statuses = [await _wrong_sign_in(forger, direct, n, True) for n in range(6)]
        assert statuses == [401] * 5 + [429]


async def _kill_one_under_a_stream(
    emulator: BotApiEmulator, watch: SimpleNamespace, bots: list[BotProcess]
) -> None:
    """Updates from many chats in LANES closed loops; the first process is SIGKILLed
    once KILL_AFTER were answered. Every update must be answered and its reply sent.

    Exactly once holds for every update the killed process was not in the middle of. One
    it was handling may be answered twice: the bot sends the reply before it saves the
    chat's state with the update_id (bot/chat/conversation.py), so a kill between the two
    leaves the retry on the other process nothing to recognise it by. The test allows
    that (and prints how often it happened) only for updates in flight at the kill."""

    async def one_update() -> int:
        chat = emulator.new_private_chat(language_code="sv")
        event = watch.delivered.setdefault(chat, asyncio.Event())
        await emulator.user_sends_text(chat, "/start")
        await asyncio.wait_for(event.wait(), DEADLINE)
        return chat

    replies_per_update = _replies(emulator, await one_update())
    assert replies_per_update >= 1
    done: list[int] = []
    killed = asyncio.Event()
    in_flight_at_kill: set[int] = set()

    async def lane(count: int) -> None:
        for _ in range(count):
            done.append(await one_update())
            if len(done) == KILL_AFTER and not killed.is_set():
                killed.set()
                in_flight_at_kill.update(c for c in watch.sent if not watch.delivered[c].is_set())
                await bots[0].kill()

    await asyncio.gather(*(lane(UPDATES // LANES) for _ in range(LANES)))
    assert killed.is_set() and len(done) == UPDATES
    counts = {chat: _replies(emulator, chat) for chat in done}
    lost = [chat for chat, n in counts.items() if n == 0]
    doubled = [chat for chat, n in counts.items() if n > replies_per_update]
    failed_attempts = [s for s in watch.statuses if not 200 <= s < 300]
    print(
        f"\nnginx kill: {UPDATES} updates, {len(in_flight_at_kill)} in flight at the kill, "
        f"{len(failed_attempts)} non-2xx webhook answers, {len(lost)} lost, "
        f"{len(doubled)} with a second reply"
    )
    assert lost == []
    assert failed_attempts == []  # nginx sent each failed POST on to the other process
    # A second reply can only come from an update the killed process was handling: it had
    # sent the reply but not yet saved the chat's state (with the update_id), so the retry
    # on the other process does not know it was handled.
    assert set(doubled) <= in_flight_at_kill, (doubled, in_flight_at_kill)
    assert all(n <= 2 * replies_per_update for n in counts.values())
    ready = f"http://127.0.0.1:{bots[1].port}/health/ready"
    assert await _status(ready) == 200  # the other process carried on
