"""Issue #11's last gaps, against the real product on SQLite and PostgreSQL: the API's case
answer paged, staff usernames and display names normalised like every text, and a staff
member's own password change (page and API) through the sign-in brake, ending every other
session and token while the one that asked stays signed in.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from bot.emulator.spec import BotApiSpec
from bot.runtime import Server
from bot.services.oidc import SSO_PASSWORD_HASH
from bot.services.staff import StaffError, StaffService
from bot.storage import cases as db
from bot.storage import staff as staff_db
from bot.storage.database import Database
from bot.storage.models import AuditEvent, table_of
from tests.staff_helpers import PASSWORD, StaffClient, new_request, text_of
from tests.test_oidc import browser, product_with_provider, sso_sign_in

NEW_PASSWORD = "a new and longer passphrase 2026"
TEAMS = frozenset({"laholm"})


async def bearer(client: StaffClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    status, body = await client.api(
        "POST", "/api/v1/session", json={"username": username, "password": password}
    )
    assert status == 200, body
    return {"Authorization": f"Bearer {body['token']}"}


async def audit_actions(server: Server) -> list[tuple[str, str]]:
    assert server.core is not None
    async with server.core.database.read_tx() as conn:
        found = await conn.execute(select(table_of(AuditEvent)).order_by(table_of(AuditEvent).c.id))
        return [(row["staff"], row["action"]) for row in found.mappings()]


# -- 1. the API's case answer, paged ------------------------------------------------------------


async def test_the_api_pages_a_2000_message_case(server: Server, client: StaffClient) -> None:
    assert server.core is not None
    code = (await new_request(server)).code
    start = datetime.now(UTC)
    async with server.core.database.write_tx() as conn:
        row = await db.case_by_code(conn, code)
        assert row is not None
        await conn.execute(
            insert(db.messages),
            [
                {
                    "case_id": row.id,
                    "author": "relative",
                    "body": f"rad {i:04d} " + "x" * 900,
                    "created_at": start + timedelta(seconds=i),
                }
                for i in range(2000)
            ],
        )
    headers = await bearer(client, "anna")
    path = f"/api/v1/cases/{code}"

    async def page(query: str = "") -> dict[str, Any]:
        status, body = await client.api("GET", path + query, headers=headers)
        assert status == 200, body
        return dict(body)

    def numbers(body: dict[str, Any]) -> list[int]:
        return [int(m["body"][4:8]) for m in body["messages"] if m["body"].startswith("rad ")]

    async with client.http.get(client.origin + path, headers=headers) as response:
        assert len(await response.read()) < 100_000  # all 2,000 would be about 2 MB
    newest = await page()
    assert numbers(newest) == list(range(1950, 2000)) and newest["older_before"] is not None
    older = await page(f"?before={newest['older_before']}")
    assert numbers(older) == list(range(1900, 1950))
    assert numbers(await page("?limit=200")) == list(range(1800, 2000))
    seen: list[int] = []
    query = "?limit=200"
    while True:  # paging back to the first message, then there is nothing older
        body = await page(query)
        seen = numbers(body) + seen
        if body["older_before"] is None:
            break
        query = f"?limit=200&before={body['older_before']}"
    assert seen == list(range(2000))
    for bad in ("0", "201", "-1", "x", "1.5", "99999999999"):
        status, body = await client.api("GET", f"{path}?limit={bad}", headers=headers)
        assert status == 400 and body["error"] == "invalid", (bad, body)
    for bad in ("0", "2147483648", "abc", "%00"):
        status, body = await client.api("GET", f"{path}?before={bad}", headers=headers)
        assert status == 400, (bad, body)
    assert numbers(await page("?before=2147483647")) == list(range(1950, 2000))


# -- 2. usernames and display names, normalised ---------------------------------------------------


async def test_usernames_and_display_names_are_normalised_or_refused(database: Database) -> None:
    staff = StaffService(database, TEAMS)
    made = await staff.create(
        "ＤＡＮＡ", PASSWORD, "staff", TEAMS, display_name="Ｄａｎａ\u200b Ek "
    )
    assert (made.username, made.display_name) == ("dana", "Dana Ek")
    zero_width = await staff.create("ad\u200bmin", PASSWORD, "admin", frozenset())
    assert zero_width.username == "admin"
    with pytest.raises(StaffError) as taken:
        await staff.create("ＡＤＭＩＮ", PASSWORD, "admin", frozenset())
    assert taken.value.reason == "exists"
    quiet = await staff.create("erik", PASSWORD, "staff", TEAMS, display_name="\u200b\u2060 \u3164")
    assert quiet.display_name is None  # invisible only: no display name
    for bad in ("da\x00na", "da\ud800na", "da\x07na"):
        with pytest.raises(StaffError) as refused:
            await staff.create(bad, PASSWORD, "staff", TEAMS)
        assert refused.value.reason == "invalid_username"
        assert "\ud800" not in str(refused.value)  # printable by the CLI
    for bad_name in ("A\x00", "B\ud800", "C\x1b[31m"):
        with pytest.raises(StaffError) as refused:
            await staff.create("fredrik", PASSWORD, "staff", TEAMS, display_name=bad_name)
        assert refused.value.reason == "invalid_display_name"
    with pytest.raises(StaffError):
        await staff.set_password("dana", "\ud800" * 12)
    for typed in ("ＤＡＮＡ", "da\u200bna", " Dana "):
        found = await staff.authenticate(typed, PASSWORD)
        assert found is not None and found.username == "dana", typed
    assert await staff.authenticate("da\ud800na", PASSWORD) is None


async def test_sign_in_takes_the_normalised_username_and_refuses_broken_ones_with_400(
    server: Server, client: StaffClient
) -> None:
    for typed in ("ＡＮＮＡ", "an\u200bna"):
        status, body = await client.api(
            "POST", "/api/v1/session", json={"username": typed, "password": PASSWORD}
        )
        assert status == 200 and body["user"]["username"] == "anna", (typed, body)
    raw = b'{"username": "an\\ud800na", "password": "x"}'
    async with client.http.post(
        client.origin + "/api/v1/session", data=raw, headers={"Content-Type": "application/json"}
    ) as response:
        assert response.status == 400
        assert (await response.json())["error"] == "bad_character"
    # The page: a form body whose username is no UTF-8, and one with a control character.
    await client.get("/staff/login")
    for body in (b"username=an%ED%A0%80na", b"username=an%1Bna", b"username=an%00na"):
        async with client.http.post(
            client.origin + "/staff/login",
            data=body + f"&password=x&csrf={client.csrf}".encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ) as response:
            assert response.status in (400, 401), (body, response.status)
    # Failures of "ＢＯ" and "b\u200bo" count on bo's brake: five in all, then a wait.
    for typed in ("ＢＯ", "b\u200bo", "Bo", "ＢＯ", "b\u200bo"):
        status, _ = await client.api(
            "POST", "/api/v1/session", json={"username": typed, "password": "wrong one!"}
        )
        assert status == 401
    status, body = await client.api(
        "POST", "/api/v1/session", json={"username": "bo", "password": PASSWORD}
    )
    assert status == 429, body


# -- 4. a staff member's own password -------------------------------------------------------------


async def test_changing_my_password_on_the_page(server: Server, client: StaffClient) -> None:
    other = StaffClient(server)
    try:
        await other.sign_in("anna")
        token = await bearer(other, "anna")
        await client.sign_in("anna")
        page = await client.get("/staff/account/password")
        assert client.status == 200 and 'data-testid="password-form"' in page
        assert 'href="/staff/account/password"' in page  # in the menu

        async def change(current: str, new: str, repeat: str | None = None) -> str:
            await client.get("/staff/account/password")
            return await client.post(
                "/staff/account/password",
                {"current": current, "new": new, "repeat": new if repeat is None else repeat},
            )

        assert "De två nya lösenorden är inte likadana." in text_of(
            await change(PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "!")
        )
        assert client.status == 400
        assert "minst 12 tecken" in text_of(await change(PASSWORD, "short"))
        assert client.status == 400
        assert "Ditt nuvarande lösenord stämmer inte." in text_of(
            await change("not my password", NEW_PASSWORD)
        )
        assert client.status == 400
        stale = await client.post(
            "/staff/account/password",
            {"current": PASSWORD, "new": NEW_PASSWORD, "repeat": NEW_PASSWORD, "csrf": "x"},
        )
        assert client.status == 403, text_of(stale)

        done = await change(PASSWORD, NEW_PASSWORD)
        assert client.status == 200 and client.url.endswith("/staff/account/password")
        assert "Ditt lösenord är bytt." in text_of(done)
        await client.get("/staff/queue")  # this browser stays signed in
        assert client.status == 200 and client.url.endswith("/staff/queue")
        await other.get("/staff/queue")  # the other browser and the token do not
        assert "/staff/login" in other.url
        status, _ = await other.api("GET", "/api/v1/me", headers=token)
        assert status == 401
        status, _ = await other.api(
            "POST", "/api/v1/session", json={"username": "anna", "password": PASSWORD}
        )
        assert status == 401
        await bearer(other, "anna", NEW_PASSWORD)
    finally:
        await other.close()
    actions = await audit_actions(server)
    assert ("anna", "password_changed") in actions and ("anna", "signin_failed") in actions


async def test_wrong_current_passwords_meet_the_sign_in_brake(
    server: Server, client: StaffClient
) -> None:
    await client.sign_in("bo")
    for _ in range(5):
        await client.get("/staff/account/password")
        await client.post(
            "/staff/account/password",
            {"current": "a wrong guess", "new": NEW_PASSWORD, "repeat": NEW_PASSWORD},
        )
        assert client.status == 400
    await client.get("/staff/account/password")
    page = await client.post(
        "/staff/account/password",
        {"current": PASSWORD, "new": NEW_PASSWORD, "repeat": NEW_PASSWORD},
    )
    assert client.status == 429 and "Vänta" in text_of(page)
    assert ("bo", "signin_throttled") in await audit_actions(server)


async def test_changing_my_password_through_the_api(server: Server, client: StaffClient) -> None:
    headers = await bearer(client, "cecilia")
    other = await bearer(client, "cecilia")
    path = "/api/v1/session/password"
    body = {"current_password": "wrong password!", "new_password": NEW_PASSWORD}
    status, answer = await client.api("PUT", path, json=body, headers=headers)
    assert status == 403 and answer["error"] == "wrong_password"
    status, answer = await client.api(
        "PUT", path, json={"current_password": PASSWORD, "new_password": "short"}, headers=headers
    )
    assert status == 400 and answer["error"] == "weak_password"
    status, answer = await client.api("PUT", path, json={"new_password": 1}, headers=headers)
    assert status == 400
    body["current_password"] = PASSWORD
    status, answer = await client.api("PUT", path, json=body, headers=headers)
    assert status == 200 and answer["user"]["username"] == "cecilia", answer
    renewed = {"Authorization": f"Bearer {answer['token']}"}
    for ended in (headers, other):
        assert (await client.api("GET", "/api/v1/me", headers=ended))[0] == 401
    assert (await client.api("GET", "/api/v1/me", headers=renewed))[0] == 200

    # With the session cookie (and its CSRF header): the cookie is renewed, the old CSRF
    # token goes with the old session.
    status, signed = await client.api(
        "POST", "/api/v1/session", json={"username": "root", "password": PASSWORD}
    )
    assert status == 200
    status, _ = await client.api("PUT", path, json={**body, "new_password": NEW_PASSWORD})
    assert status == 403  # no CSRF header
    csrf = {"X-CSRF-Token": signed["csrf_token"]}
    status, answer = await client.api(
        "PUT", path, json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}, headers=csrf
    )
    assert status == 200 and "token" not in answer and answer["csrf_token"] != csrf["X-CSRF-Token"]
    status, me = await client.api("GET", "/api/v1/me")
    assert status == 200 and me["user"]["username"] == "root"
    old_token = {"Authorization": f"Bearer {signed['token']}"}
    assert (await client.api("GET", "/api/v1/me", headers=old_token))[0] == 401


async def test_an_sso_account_has_no_password_to_change(
    server: Server, client: StaffClient
) -> None:
    assert server.core is not None
    await client.sign_in("anna")
    headers = await bearer(client, "anna")
    async with server.core.database.write_tx() as conn:
        await staff_db.update_account(conn, "anna", password_hash=SSO_PASSWORD_HASH)
    page = await client.get("/staff/account/password")
    assert 'data-testid="password-form"' not in page
    assert "inloggningstjänst" in text_of(page)
    await client.post("/staff/account/password", {"current": "", "new": "", "repeat": ""})
    assert client.status == 403
    status, answer = await client.api(
        "PUT",
        "/api/v1/session/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=headers,
    )
    assert status == 403 and answer["error"] == "sso_only"


async def test_no_password_page_when_local_passwords_are_off(
    database_url: str, tmp_path: Path, spec: BotApiSpec
) -> None:
    async with (
        product_with_provider(database_url, tmp_path, spec, LOCAL_PASSWORDS="false") as (
            server,
            _provider,
        ),
        browser() as http,
    ):
        status, url, _ = await sso_sign_in(server, http)
        assert status == 200 and url.startswith(f"{server.origin}/staff/sso/callback"), url
        async with http.get(f"{server.origin}/staff/account/password") as response:
            page = await response.text()
        assert response.status == 200 and 'data-testid="password-form"' not in page
        assert "avstängd" in text_of(page) or "switched off" in text_of(page)
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf
        async with http.post(
            f"{server.origin}/staff/account/password",
            data={"csrf": csrf.group(1), "current": "x", "new": NEW_PASSWORD},
        ) as response:
            assert response.status == 403
        async with http.get(f"{server.origin}/api/v1/me") as response:
            csrf_token = (await response.json())["csrf_token"]
        async with http.put(
            f"{server.origin}/api/v1/session/password",
            json={"current_password": "x", "new_password": NEW_PASSWORD},
            headers={"X-CSRF-Token": csrf_token},
        ) as response:
            assert response.status == 403
            assert (await response.json())["error"] == "sso_only"
