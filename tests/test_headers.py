"""Headers on every response, and the preview's own safety (#11, item 10).

Every kind of response the app sends carries the CSP, nosniff and Referrer-Policy and a
``Server`` without aiohttp's or Python's version; HSTS only when the request came over
HTTPS (through a trusted proxy's ``X-Forwarded-Proto``). The preview refuses a
non-loopback HOST unless told, and its emulator's Bot API token is random per run.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.__main__ import main
from bot.config import ConfigError
from bot.emulator.spec import BotApiSpec
from bot.runtime import Server, is_loopback_host
from bot.web.app import create_web_app
from bot.web.headers import CONTENT_SECURITY_POLICY, HSTS
from tests.conftest import REPO, emulator_on_own_port, free_port, make_settings, running_preview
from tests.staff_helpers import PASSWORD, create_accounts
from tests.webhook_helpers import SECRET_HEADER, webhook_serving

BASE = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# A response with a stricter policy of its own (the staff pages, the preview page) keeps
# it; every policy must hold at least these (no inline script or style anywhere).
FLOOR = {
    "default-src": {"'self'", "'none'"},
    "script-src": {"'self'"},
    "style-src": {"'self'"},
    "frame-ancestors": {"'none'"},
    "base-uri": {"'none'"},
    "form-action": {"'self'", "'none'"},
}


def directives(policy: str) -> dict[str, str]:
    parts = (d.strip().split(None, 1) for d in policy.split(";") if d.strip())
    return {p[0]: p[1] if len(p) > 1 else "" for p in parts}


def assert_policy(what: str, policy: str | None) -> None:
    assert policy, (what, "no Content-Security-Policy")
    found = directives(policy)
    for name, allowed in FLOOR.items():
        assert found.get(name) in allowed, (what, name, policy)


OLD_PREVIEW_TOKEN = "100000001:PREVIEW-offline-token-not-for-telegram"


def assert_headers(what: str, response: aiohttp.ClientResponse, *, https: bool = False) -> None:
    for name, value in BASE.items():
        assert response.headers.get(name) == value, (what, name, dict(response.headers))
    assert_policy(what, response.headers.get("Content-Security-Policy"))
    server = response.headers.get("Server", "")
    assert "aiohttp" not in server.lower() and "python" not in server.lower(), (what, server)
    assert not re.search(r"\d+\.\d+", server), (what, server)
    hsts = response.headers.get("Strict-Transport-Security")
    assert hsts == (HSTS if https else None), (what, hsts)


@pytest.fixture
async def preview(tmp_path: Path, spec: BotApiSpec) -> AsyncIterator[Server]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'headers.db'}"
    async with running_preview(url, tmp_path, spec) as server:
        await create_accounts(server)
        yield server


async def test_every_kind_of_response_carries_the_headers(preview: Server) -> None:
    origin = preview.origin
    assert preview.emulator is not None
    token = preview.emulator.token
    seen: dict[str, int] = {}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:

        async def check(what: str, method: str, path: str, status: int, **kw: object) -> str:
            async with http.request(
                method,
                origin + path,
                allow_redirects=False,
                **kw,  # type: ignore[arg-type]
            ) as response:
                assert response.status == status, (what, response.status)
                assert_headers(what, response)
                seen[what] = response.status
                return response.headers.get("Last-Modified", "")

        await check("page", "GET", "/staff/login", 200)
        await check("redirect", "GET", "/staff", 303)
        await check("sign-in redirect", "GET", "/staff/queue", 303)
        await check("404 outside any app", "GET", "/no/such/page", 404)
        await check("405", "POST", "/health", 405)
        modified = await check("static file", "GET", "/staff/static/staff.css", 200)
        await check(
            "304 static", "GET", "/staff/static/staff.css", 304,
            headers={"If-Modified-Since": modified},
        )  # fmt: skip
        await check("favicon", "GET", "/staff/static/favicon.svg", 200)
        await check("OpenAPI JSON", "GET", "/api/openapi.json", 200)
        await check("API 401 JSON", "GET", "/api/v1/me", 401)
        await check("API 404 JSON", "GET", "/api/v1/no-such-thing", 404)
        await check("health", "GET", "/health", 200)
        await check("readiness", "GET", "/health/ready", 200)
        await check("metrics", "GET", "/metrics", 200)
        await check("preview page", "GET", "/preview/", 200)
        await check("preview script", "GET", "/preview/chat.js", 200)
        await check("preview Bot API", "GET", f"/emu/bot{token}/getMe", 200)
        old_token = f"/emu/bot{OLD_PREVIEW_TOKEN}/getMe"
        await check("preview Bot API, the old public token", "GET", old_token, 401)
        await check("CSRF refusal", "POST", "/staff/login", 403, data={"username": "anna"})

        # Signed in: the queue, its live fragment, a case that does not exist.
        async with http.get(f"{origin}/staff/login") as response:
            page = await response.text()
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf
        form = {"username": "anna", "password": PASSWORD, "csrf": csrf.group(1)}
        await check("sign-in post redirect", "POST", "/staff/login", 303, data=form)
        await check("queue page", "GET", "/staff/queue", 200)
        await check("live fragment", "GET", "/staff/queue/live", 200)
        await check("case 404 page", "GET", "/staff/cases/AAA-AAA", 404)

        # The preview's event stream (a streamed response): headers before the first event.
        async with http.post(f"{origin}/preview/api/chats", json={}) as response:
            chat = await response.json()
        chat_id = chat.get("chat_id") or chat.get("id")
        async with http.get(f"{origin}/preview/api/chats/{chat_id}/events") as response:
            assert response.status == 200, response.status
            assert_headers("event stream", response)
            seen["event stream"] = 200
        async with http.get(f"{origin}/health") as response:  # no policy of its own
            assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert len(seen) == 24, seen
    # The preview's Bot API answers this run's random token only (the old public one: 401).
    assert token == preview.preview_token and token != OLD_PREVIEW_TOKEN


@pytest.fixture
async def bare_app() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """The root app alone, with a route that fails, behind a trusted proxy on loopback."""
    app = create_web_app(trusted_proxies=(ipaddress.ip_network("127.0.0.1/32"),))

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("a handler bug")

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"x")
        return response

    app.router.add_get("/boom", boom)
    app.router.add_get("/stream", stream)
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_an_unhandled_error_and_a_stream_carry_them_too(
    bare_app: TestClient[web.Request, web.Application],
) -> None:
    async with bare_app.get("/boom") as response:
        assert response.status == 500
        assert_headers("500", response)
    async with bare_app.get("/stream") as response:
        assert response.status == 200
        assert_headers("stream", response)


async def test_hsts_only_over_https(bare_app: TestClient[web.Request, web.Application]) -> None:
    """The trusted proxy says HTTPS: HSTS; says HTTP or nothing: none."""
    for proto, https in (("https", True), ("http", False), (None, False)):
        headers = {"X-Forwarded-Proto": proto} if proto else {}
        for path, status in (("/health", 200), ("/nothing-here", 404), ("/boom", 500)):
            async with bare_app.get(path, headers=headers) as response:
                assert response.status == status
                assert_headers(f"{path} via {proto}", response, https=https)


async def test_hsts_not_believed_from_an_untrusted_peer() -> None:
    """Without TRUSTED_PROXIES a client's own X-Forwarded-Proto changes nothing."""
    claim = {"X-Forwarded-Proto": "https"}
    async with (
        TestClient(TestServer(create_web_app())) as client,
        client.get("/health", headers=claim) as response,
    ):
        assert_headers("untrusted https claim", response, https=False)


async def test_the_webhook_answers_with_them(tmp_path: Path, spec: BotApiSpec) -> None:
    token = "123456789:AAF-headers-test-token-abcdefghijklmn"
    secret = "headers-secret_0123456789"
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'webhook.db'}"
    async with (
        emulator_on_own_port(spec, token) as telegram,
        webhook_serving(database_url, tmp_path, telegram, secret) as server,
        aiohttp.ClientSession() as http,
    ):
        url = f"{server.origin}/telegram/webhook"
        async with http.post(url, json={"update_id": 1}) as response:
            assert response.status == 403
            assert_headers("webhook refused", response)
        headers = {SECRET_HEADER: secret}
        async with http.post(url, json={"update_id": 2}, headers=headers) as response:
            assert response.status == 200
            assert_headers("webhook accepted", response)


TEMPLATES = [
    *sorted((REPO / "bot" / "web" / "templates").rglob("*.html")),
    REPO / "bot" / "emulator" / "static" / "chat.html",
]


def test_the_default_policy_is_the_documented_one() -> None:
    assert directives(CONTENT_SECURITY_POLICY) == {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data:",
        "frame-ancestors": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
    }


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_pages_need_nothing_the_policy_forbids(path: Path) -> None:
    """No inline script (a JSON data block is data), style attribute or event handler."""
    source = path.read_text()
    for tag in re.findall(r"<script\b[^>]*>", source):
        assert "src=" in tag or 'type="application/json"' in tag, (path.name, tag)
    assert not re.search(r"<style\b", source), path.name
    assert not re.search(r"\sstyle\s*=", source), path.name
    assert not re.search(r"\son[a-z]+\s*=", source), path.name


# -- the preview ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("no-such-host.invalid", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


async def test_preview_refuses_a_public_host_unless_told(tmp_path: Path, spec: BotApiSpec) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
    server = Server(make_settings(url, tmp_path, HOST="0.0.0.0"), preview=True)
    with pytest.raises(ConfigError, match=r"preview refuses HOST=0\.0\.0\.0") as refused:
        await server.start()
    assert "\n" not in str(refused.value) and "--public" in str(refused.value)
    assert server.core is None, "refused before anything was built"
    # Told explicitly: it serves on every address.
    async with running_preview(url, tmp_path, spec, HOST="0.0.0.0", PREVIEW_ALLOW_PUBLIC="true"):
        pass


def test_preview_command_refuses_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("PORT", str(free_port()))
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("PREVIEW_ALLOW_PUBLIC", raising=False)
    assert main(["preview"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and "preview refuses HOST=0.0.0.0" in err, err


async def test_preview_public_flag_serves_and_warns(tmp_path: Path) -> None:
    """`python -m bot preview --public` on 0.0.0.0: it runs, says so, and answers."""
    port = free_port()
    env = {**os.environ, "HOST": "0.0.0.0", "PORT": str(port), "LOG_LEVEL": "WARNING"}
    env.update(DATA_DIR=str(tmp_path / "data"), TMPDIR=str(tmp_path))
    for name in ("DATABASE_URL", "TELEGRAM_BOT_TOKEN", "WEBHOOK_URL", "PREVIEW_ALLOW_PUBLIC"):
        env.pop(name, None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "preview", "--public",
        cwd=REPO, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        lines: list[str] = []
        async with asyncio.timeout(60):  # a failure deadline: the wait ends on the line
            while line := (await process.stdout.readline()).decode():
                lines.append(line)
                if "Chat with the bot" in line:
                    break
        output = "".join(lines)
        assert "WARNING: HOST=0.0.0.0 is not loopback" in output, output
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/health") as response:
                assert response.status == 200
            async with http.get(
                f"http://127.0.0.1:{port}/emu/bot{OLD_PREVIEW_TOKEN}/getMe"
            ) as response:
                assert response.status == 401, "the old public token drives nothing"
    finally:
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(60):
            await process.communicate()


def test_each_preview_has_its_own_random_token(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 't.db'}"
    tokens = {Server(make_settings(url, tmp_path), preview=True).preview_token for _ in range(5)}
    assert len(tokens) == 5 and OLD_PREVIEW_TOKEN not in tokens
    assert all(re.fullmatch(r"\d{9}:[A-Za-z0-9_-]{40,}", t) for t in tokens), tokens
