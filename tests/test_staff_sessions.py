"""Server-side staff sessions (#11): a copied cookie or bearer token dies with its row.

Through the real product (preview mode) on SQLite and PostgreSQL: a browser's cookie and
an API token are copied into fresh clients (a thief's), then sign-out, DELETE
/api/v1/session, a password, role or team change, deactivation and "sign out everywhere"
must end the copies at once. The idle clock is the staff service's (moved by the test,
never waited for): live polls alone let a session idle out, real navigation does not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from yarl import URL

from bot.__main__ import main
from bot.runtime import Server
from bot.services.staff_sessions import IDLE_SECONDS, agent_family
from bot.storage.models import AuditEvent, StaffSession, table_of
from bot.web.staff.session import COOKIE_NAME, SessionCodec
from tests.conftest import TEST_SECRET
from tests.staff_helpers import PASSWORD, StaffClient, signed_in

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
NEW_PASSWORD = "another long passphrase 2026"


def cookie_of(client: StaffClient) -> str:
    return client.http.cookie_jar.filter_cookies(URL(client.origin))[COOKIE_NAME].value


async def cookie_works(server: Server, cookie: str) -> bool:
    """Whether a fresh client holding only this cookie reaches the queue (a thief's copy)."""
    thief = StaffClient(server)
    try:
        thief.http.cookie_jar.update_cookies({COOKIE_NAME: cookie}, URL(server.origin))
        await thief.get("/staff/queue")
        return thief.status == 200 and URL(thief.url).path == "/staff/queue"
    finally:
        await thief.close()


async def token_of(server: Server, username: str = "anna", password: str = PASSWORD) -> str:
    client = StaffClient(server)
    try:
        status, body = await client.api(
            "POST",
            "/api/v1/session",
            json={"username": username, "password": password},
            headers={"User-Agent": FIREFOX},
        )
        assert status == 200, body
        return str(body["token"])
    finally:
        await client.close()


async def token_works(server: Server, token: str, *, poll: bool = False) -> bool:
    client = StaffClient(server)
    headers = {"Authorization": f"Bearer {token}"}
    if poll:
        headers["X-Staff-Poll"] = "1"
    try:
        status, _body = await client.api("GET", "/api/v1/me", headers=headers)
        assert status in (200, 401)
        return status == 200
    finally:
        await client.close()


class Clock:
    """The staff service's clock, moved by the test (sessions read it at each use)."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


def with_clock(server: Server) -> Clock:
    assert server.core is not None
    clock = Clock()
    server.core.staff.now = clock
    return clock


async def rows(server: Server) -> list[dict[str, Any]]:
    assert server.core is not None
    async with server.core.database.read_tx() as conn:
        result = await conn.execute(select(table_of(StaffSession)))
        return [dict(row) for row in result.mappings()]


async def test_copies_end_at_sign_out_and_at_delete_session(server: Server) -> None:
    async with signed_in(server, "anna") as browser:
        cookie = cookie_of(browser)
        token = await token_of(server)
        assert await cookie_works(server, cookie) and await token_works(server, token)
        # DELETE /api/v1/session with the token ends that token, not the browser.
        client = StaffClient(server)
        try:
            status, _ = await client.api(
                "DELETE", "/api/v1/session", headers={"Authorization": f"Bearer {token}"}
            )
        finally:
            await client.close()
        assert status == 204
        assert not await token_works(server, token)
        assert await cookie_works(server, cookie)
        await browser.post("/staff/logout", {})
        assert "/staff/login" in browser.url
        assert not await cookie_works(server, cookie)

    # The cookie's own DELETE /api/v1/session (with its CSRF header) ends it too.
    async with signed_in(server, "anna") as browser:
        cookie = cookie_of(browser)
        _, me = await browser.api("GET", "/api/v1/me")
        status, _ = await browser.api(
            "DELETE", "/api/v1/session", headers={"X-CSRF-Token": me["csrf_token"]}
        )
        assert status == 204
        assert not await cookie_works(server, cookie)
    # Left: only the cookie of the client that asked for the token (sign-in also signs in
    # a browser), never used since.
    assert [row["kind"] for row in await rows(server)] == ["cookie"]


async def test_an_account_change_ends_every_copy(server: Server) -> None:
    assert server.core is not None
    staff = server.core.staff
    changes: list[tuple[str, Callable[[], Any], str]] = [
        ("password", lambda: staff.set_password("anna", NEW_PASSWORD), NEW_PASSWORD),
        ("role", lambda: staff.set_role("anna", "coordinator"), NEW_PASSWORD),
        ("teams", lambda: staff.set_teams("anna", frozenset({"laholm", "botkyrka"})), NEW_PASSWORD),
        ("deactivate", lambda: staff.deactivate("anna"), ""),
    ]
    async with signed_in(server, "bo") as other:
        bo_cookie = cookie_of(other)
        password = PASSWORD
        for change, act, new_password in changes:
            browser = StaffClient(server)
            try:
                await browser.sign_in("anna", password)
                cookie, token = cookie_of(browser), await token_of(server, "anna", password)
                assert await cookie_works(server, cookie) and await token_works(server, token)
                await act()
                assert not await cookie_works(server, cookie), f"the cookie outlived {change}"
                assert not await token_works(server, token), f"the token outlived {change}"
                await browser.get("/staff/queue")
                assert "/staff/login" in browser.url, "the browser itself is signed out too"
            finally:
                await browser.close()
            assert await cookie_works(server, bo_cookie), "another account's session stays"
            password = new_password


async def test_reactivation_lets_the_user_sign_in_again_and_old_sessions_stay_dead(
    server: Server, monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Any
) -> None:
    assert server.core is not None
    async with signed_in(server, "anna") as browser:
        cookie, token = cookie_of(browser), await token_of(server)
    await server.core.staff.deactivate("anna")
    refused = StaffClient(server)
    try:
        await refused.sign_in("anna")
        assert "/staff/login" in refused.url and refused.status == 401
    finally:
        await refused.close()
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "cli"))
    assert await asyncio.to_thread(main, ["staff", "reactivate", "anna"]) == 0
    async with signed_in(server, "anna") as again:
        assert await cookie_works(server, cookie_of(again))
    assert not await cookie_works(server, cookie) and not await token_works(server, token)
    async with server.core.database.read_tx() as conn:
        audit = table_of(AuditEvent)
        actions = (await conn.execute(select(audit.c.staff, audit.c.action))).all()
    assert ("anna", "account_deactivated") in actions
    assert ("anna", "account_reactivated") in actions
    assert await asyncio.to_thread(main, ["staff", "reactivate", "nobody"]) == 1


async def test_live_polls_alone_let_the_session_idle_out(server: Server) -> None:
    clock = with_clock(server)
    step = IDLE_SECONDS * 0.45
    async with signed_in(server, "anna") as browser, signed_in(server, "bo") as working:
        anna_token = await token_of(server)
        for _ in range(2):  # polls inside the limit answer, but do not move the idle clock
            clock.advance(step)
            await browser.get("/staff/queue/live")
            assert browser.status in (200, 204) and "/staff/login" not in browser.url
            assert await token_works(server, anna_token, poll=True)
            await working.get("/staff/queue")  # real navigation
            assert URL(working.url).path == "/staff/queue"
        # 1.2 x the idle limit since anna's last real request: only polls came since.
        clock.advance(IDLE_SECONDS * 0.3)
        await browser.get("/staff/queue/live")
        assert "/staff/login" in browser.url
        assert not await token_works(server, anna_token)
        await working.get("/staff/queue")
        assert URL(working.url).path == "/staff/queue", "navigation keeps a session alive"
        # The absolute limit still ends a busy session (12 hours after sign-in).
        for _ in range(12):
            clock.advance(3600)
            await working.get("/staff/queue")
        assert "/staff/login" in working.url


async def test_sign_out_everywhere_ends_other_browsers_and_tokens(
    server: Server, monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Any
) -> None:
    async with signed_in(server, "anna") as here, signed_in(server, "anna") as there:
        elsewhere, token = cookie_of(there), await token_of(server)
        await here.get("/staff/queue")
        await here.post("/staff/signout-everywhere", {})
        assert URL(here.url).path == "/staff/queue", "the page's own session stays"
        assert not await cookie_works(server, elsewhere)
        assert not await token_works(server, token)
        assert await cookie_works(server, cookie_of(here))

        # The API: every other session ends, the token asking stays.
        first, second = await token_of(server), await token_of(server)
        client = StaffClient(server)
        try:
            status, body = await client.api(
                "DELETE", "/api/v1/sessions", headers={"Authorization": f"Bearer {first}"}
            )
        finally:
            await client.close()
        # The page's cookie, ``second``, and the cookies of the two clients that asked for the
        # tokens (the API's sign-in also signs a browser in).
        assert status == 200 and body == {"ended": 4}
        assert await token_works(server, first) and not await token_works(server, second)
        assert not await cookie_works(server, cookie_of(here))

        # The command line: every session of the account, this one too.
        monkeypatch.setenv("DATABASE_URL", database_url)
        monkeypatch.setenv("DATA_DIR", str(tmp_path / "cli"))
        assert await asyncio.to_thread(main, ["staff", "signout", "anna"]) == 0
        assert not await token_works(server, first)
    assert await rows(server) == []


async def test_the_table_holds_no_address_no_raw_id_and_only_a_browser_family(
    server: Server,
) -> None:
    async with signed_in(server, "anna") as browser:
        browser.http.headers["User-Agent"] = FIREFOX
        await browser.sign_in("anna")  # a new sign-in: a new id, the old row gone
        cookie = cookie_of(browser)
        token = await token_of(server)
        found = await rows(server)
    sid = SessionCodec(TEST_SECRET.encode()).load(cookie)
    assert sid is not None and sid.sid
    # The browser's second sign-in replaced its first row; the token's client has a cookie.
    assert sorted(row["kind"] for row in found) == ["cookie", "cookie", "token"]
    assert {row["agent"] for row in found} == {"Firefox"}
    assert set(found[0]) == {
        "digest",
        "staff_id",
        "kind",
        "created_at",
        "last_active_at",
        "expires_at",
        "agent",
    }
    dumped = repr(found)
    assert sid.sid not in dumped and token not in dumped and cookie not in dumped
    assert "127.0.0.1" not in dumped and "Mozilla" not in dumped and "anna" not in dumped


async def test_the_purge_round_deletes_expired_sessions(server: Server) -> None:
    assert server.core is not None
    clock = with_clock(server)
    async with signed_in(server, "anna"):
        await token_of(server)
        assert len(await rows(server)) == 3  # the browser, the token and the token's client
        await Server._purge_round(server.core)
        assert len(await rows(server)) == 3, "live sessions stay"
        clock.advance(IDLE_SECONDS + 60)
        await Server._purge_round(server.core)
        assert await rows(server) == []


def test_agent_families() -> None:
    chrome = "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
    assert agent_family(chrome) == "Chrome"
    assert agent_family(chrome + " Edg/120.0") == "Edge"
    assert agent_family(FIREFOX) == "Firefox"
    assert agent_family("Mozilla/5.0 (Macintosh) Version/17.0 Safari/605.1.15") == "Safari"
    assert agent_family(None) == agent_family("") == agent_family("x" * 10_000) == "other"
