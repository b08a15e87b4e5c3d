"""Sign-in through both doors: the database brake, its answers, and what is audited.

The real product in preview mode (SQLite and PostgreSQL) behind TRUSTED_PROXIES, so a
test can be an attacker and a victim at two client addresses (X-Forwarded-For from
the trusted peer 127.0.0.1, as nginx would send it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.runtime import Server
from bot.services.signin import PAIR
from tests.conftest import BotApiSpec, running_preview
from tests.staff_helpers import PASSWORD, StaffClient, create_accounts, text_of

ATTACKER, VICTIM = "203.0.113.9", "198.51.100.7"


@pytest.fixture
async def server(database_url: str, tmp_path: Path, spec: BotApiSpec) -> AsyncIterator[Server]:
    async with running_preview(database_url, tmp_path, spec, TRUSTED_PROXIES="127.0.0.1") as s:
        await create_accounts(s)
        yield s


async def _api_sign_in(
    server: Server, address: str, username: str, password: str
) -> tuple[int, dict[str, Any], str | None]:
    client = StaffClient(server)
    try:
        async with client.http.post(
            f"{client.origin}/api/v1/session",
            json={"username": username, "password": password},
            headers={"X-Forwarded-For": address},
        ) as response:
            return response.status, await response.json(), response.headers.get("Retry-After")
    finally:
        await client.close()


async def audit_rows(server: Server) -> list[dict[str, Any]]:
    assert server.core is not None
    async with server.core.database.read_tx() as conn:
        result = await conn.execute(text("SELECT * FROM audit_event ORDER BY id"))
        return [dict(row) for row in result.mappings()]


async def test_a_burst_is_braked_while_the_victim_signs_in_from_elsewhere(
    server: Server,
) -> None:
    burst = [_api_sign_in(server, ATTACKER, "anna", f"guess number {n}") for n in range(30)]
    results = await asyncio.gather(
        *burst[:15], _api_sign_in(server, VICTIM, "anna", PASSWORD), *burst[15:]
    )
    victim = results.pop(15)
    assert victim[0] == 200 and victim[1]["user"]["username"] == "anna"
    statuses = [status for status, _, _ in results]
    assert statuses.count(401) <= PAIR.free and set(statuses) == {401, 429}
    for status, body, retry_after in results:
        if status == 429:
            assert body["error"] == "throttled" and int(retry_after or 0) >= 1
    # The right password from the attacker's address now waits like the guesses did.
    status, body, retry_after = await _api_sign_in(server, ATTACKER, "anna", PASSWORD)
    assert status == 429 and body["retry_after"] == int(retry_after or 0) > 0


async def test_the_page_says_how_long_to_wait(server: Server) -> None:
    client = StaffClient(server)
    client.http.headers["X-Forwarded-For"] = ATTACKER
    try:
        for _ in range(PAIR.free):
            await client.sign_in("anna", "wrong password, again")
            assert client.status == 401
        async with client.http.post(
            f"{client.origin}/staff/login",
            data={"username": "anna", "password": PASSWORD, "csrf": client.csrf},
        ) as response:
            page = await response.text()
            assert response.status == 429 and response.headers["Retry-After"] == "30"
        assert "Vänta 1 minut" in text_of(page)
    finally:
        await client.close()
    status, _, _ = await _api_sign_in(server, VICTIM, "anna", PASSWORD)
    assert status == 200


async def test_sign_ins_failures_and_refusals_are_audited_without_secrets(
    server: Server,
) -> None:
    assert (await _api_sign_in(server, VICTIM, "anna", PASSWORD))[0] == 200
    assert (await _api_sign_in(server, VICTIM, "anna", "not the password"))[0] == 401
    typed = "my-secret-typed-as-a-name"
    assert (await _api_sign_in(server, VICTIM, typed, "another secret"))[0] == 401
    for n in range(PAIR.free):
        await _api_sign_in(server, ATTACKER, "bo", f"guess number {n}")
    assert (await _api_sign_in(server, ATTACKER, "bo", PASSWORD))[0] == 429
    rows = await audit_rows(server)
    signins = [(r["staff"], r["action"]) for r in rows if r["action"].startswith("signin")]
    assert signins[:3] == [("anna", "signin"), ("anna", "signin_failed"), ("-", "signin_failed")]
    assert signins[3:] == [("bo", "signin_failed")] * PAIR.free + [("bo", "signin_throttled")]
    addresses = {r["address"] for r in rows if r["action"].startswith("signin")}
    assert len(addresses) == 2 and all(a and len(a) == 32 for a in addresses)
    dumped = repr(rows)
    for secret in (PASSWORD, "not the password", typed, "another secret", ATTACKER, VICTIM):
        assert secret not in dumped
    assert "guess number" not in dumped
