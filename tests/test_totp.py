"""The second factor through the real staff pages and API: enrol, sign in, replay, recovery.

The product's clock (``StaffService.now``, which the TOTP service reads) is moved by the
test, and codes are made for that instant with pyotp's ``at``: no test waits 30 seconds.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from sqlalchemy import select

from bot.domain import StaffUser
from bot.emulator.spec import BotApiSpec
from bot.runtime import Server
from bot.storage.database import Database
from bot.storage.engine import create_engine
from bot.storage.models import AuditEvent, StaffMfa, StaffRecoveryCode, table_of
from tests.conftest import REPO, TEST_SECRET, running_preview
from tests.staff_helpers import PASSWORD, StaffClient, create_accounts, text_of

SECRET_RE = re.compile(r'data-testid="totp-secret">([A-Z2-7]+)<')
CODES_RE = re.compile(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>")


class Clock:
    """Real time plus an offset the test moves in whole TOTP steps."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def next_step(self) -> None:
        self.offset += timedelta(seconds=30)


@pytest.fixture
def clock() -> Iterator[Clock]:
    yield Clock()


def use_clock(server: Server, clock: Clock) -> None:
    assert server.core is not None
    server.core.staff.now = clock


async def rows(server: Server, model: Any) -> list[Any]:
    assert server.core is not None
    async with server.core.database.read_tx() as conn:
        return list((await conn.execute(select(table_of(model)))).mappings().all())


async def actions(server: Server) -> list[tuple[str, str]]:
    return [(e["staff"], e["action"]) for e in await rows(server, AuditEvent)]


async def enrol(client: StaffClient, path: str, clock: Clock) -> tuple[str, list[str]]:
    """On an enrolment page already fetched: confirm with a right code; secret and codes."""
    found = SECRET_RE.search(client.page)
    assert found, text_of(client.page)
    secret = found.group(1)
    assert "<svg" in client.page and "otpauth://totp/" in client.page  # QR code and URI
    await client.post(path, {"code": pyotp.TOTP(secret).at(clock())})
    assert client.status == 200, text_of(client.page)
    codes = CODES_RE.findall(client.page)
    assert len(codes) == 10 and len(set(codes)) == 10
    return secret, codes


async def signed_in_as(client: StaffClient) -> str | None:
    status, body = await client.api("GET", "/api/v1/me")
    return body["user"]["username"] if status == 200 else None


async def test_enrol_then_sign_in_with_a_code_once_and_a_recovery_code_once(
    database_url: str, tmp_path: Path, spec: BotApiSpec, clock: Clock
) -> None:
    async with running_preview(database_url, tmp_path, spec) as server:
        await create_accounts(server)
        use_clock(server, clock)
        client = StaffClient(server)
        try:
            await client.sign_in("anna")  # no second factor yet: straight in
            assert "/staff/queue" in client.url
            await client.get("/staff/account/2fa")
            wrong = SECRET_RE.search(client.page)
            assert wrong
            await client.post("/staff/account/2fa", {"code": "000000"})
            assert client.status == 401 and 'data-testid="code-error"' in client.page
            secret, codes = await enrol(client, "/staff/account/2fa", clock)
            totp = pyotp.TOTP(secret)

            # Stored sealed and digested: neither the secret nor a code is in any row.
            stored = repr(await rows(server, StaffMfa)) + repr(
                await rows(server, StaffRecoveryCode)
            )
            assert secret not in stored and not any(c.replace("-", "") in stored for c in codes)
            assert len(await rows(server, StaffRecoveryCode)) == 10

            await client.post("/staff/logout", {})
            await client.sign_in("anna")  # the password alone is not enough now
            assert client.url.endswith("/staff/login/code"), client.url
            assert await signed_in_as(client) is None
            clock.next_step()  # the enrolment's code was that step's: a new step, a new code
            code = totp.at(clock())
            await client.post("/staff/login/code", {"code": code})
            assert "/staff/queue" in client.url and await signed_in_as(client) == "anna"

            # The same code again (same step, another browser) is refused: used once.
            other = StaffClient(server)
            try:
                await other.sign_in("anna")
                await other.post("/staff/login/code", {"code": code})
                assert other.status == 401 and await signed_in_as(other) is None
                # A recovery code works once ...
                await other.post("/staff/login/code", {"code": codes[0].upper()})
                assert "/staff/queue" in other.url and await signed_in_as(other) == "anna"
                await other.post("/staff/logout", {})
                await other.sign_in("anna")
                await other.post("/staff/login/code", {"code": codes[0]})
                assert other.status == 401  # ... and only once
                await other.get("/staff/login/code")
                await other.post("/staff/login/code", {"code": codes[1]})
                assert await signed_in_as(other) == "anna"
                await other.get("/staff/account/2fa")
                assert "8" in text_of(other.page)  # recovery codes left
            finally:
                await other.close()

            # The API asks for the code too; the next step's code works once there as well.
            api = StaffClient(server)
            try:
                body = {"username": "anna", "password": PASSWORD}
                status, answer = await api.api("POST", "/api/v1/session", json=body)
                assert status == 401 and answer["error"] == "code_required"
                clock.next_step()
                body["code"] = totp.at(clock())
                status, answer = await api.api("POST", "/api/v1/session", json=body)
                assert status == 200 and answer["user"]["username"] == "anna"
                status, answer = await api.api("POST", "/api/v1/session", json=body)
                assert status == 401  # replayed
            finally:
                await api.close()
        finally:
            await client.close()
        done = await actions(server)
        assert ("anna", "2fa_enrolled") in done and ("anna", "2fa_recovery_used") in done
        assert done.count(("anna", "2fa_failed")) >= 4 and ("anna", "2fa_signin") in done


async def test_require_2fa_enrols_at_sign_in_and_an_admin_reset_is_audited(
    database_url: str, tmp_path: Path, spec: BotApiSpec, clock: Clock
) -> None:
    async with running_preview(database_url, tmp_path, spec, REQUIRE_2FA="true") as server:
        await create_accounts(server)
        use_clock(server, clock)
        anna, root = StaffClient(server), StaffClient(server)
        try:
            await anna.sign_in("anna")
            assert anna.url.endswith("/staff/login/enrol"), anna.url
            assert await signed_in_as(anna) is None  # not signed in before enrolling
            status, answer = await anna.api(
                "POST", "/api/v1/session", json={"username": "anna", "password": PASSWORD}
            )
            assert status == 403 and answer["error"] == "enrol_first"
            await anna.get("/staff/login/enrol")
            await enrol(anna, "/staff/login/enrol", clock)
            assert await signed_in_as(anna) == "anna"  # enrolled and signed in

            await root.sign_in("root")
            await enrol(root, "/staff/login/enrol", clock)
            # A colleague (not an admin) may not reset anyone's factor.
            await anna.get("/staff/account/2fa")
            assert 'data-testid="reset-form"' not in anna.page
            await anna.post("/staff/account/2fa/reset", {"username": "root"})
            assert anna.status == 403
            await root.get("/staff/account/2fa")
            await root.post("/staff/account/2fa/reset", {"username": "anna"})
            assert "anna" in text_of(root.page), text_of(root.page)
            done = await actions(server)
            assert ("root", "2fa_reset") in done and ("anna", "2fa_removed") in done
            await root.get("/staff/audit")
            assert "Removed someone's second factor" in text_of(root.page) or (
                "Tog bort någons tvåstegsverifiering" in text_of(root.page)
            )

            again = StaffClient(server)
            try:
                await again.sign_in("anna")  # no factor any more: enrol again
                assert again.url.endswith("/staff/login/enrol"), again.url
                # Wrong codes are braked like passwords: five, then a wait (429).
                for _ in range(5):
                    await again.post("/staff/login/enrol", {"code": "123456"})
                    assert again.status == 401
                await again.post("/staff/login/enrol", {"code": "123456"})
                assert again.status == 429, again.status
                assert ("anna", "2fa_throttled") in await actions(server)
            finally:
                await again.close()
        finally:
            await anna.close()
            await root.close()


async def test_the_cli_resets_a_second_factor_with_an_audit_row(
    tmp_path: Path, clock: Clock
) -> None:
    from bot.services.staff import StaffService
    from bot.services.totp import TotpService
    from bot.storage.migrate import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    engine = create_engine(url)
    await upgrade(engine)
    database = Database(engine)
    try:  # bo has a second factor (enrolled through the service; the pages are tested above)
        view = await StaffService(database, frozenset({"laholm"})).create(
            "bo", PASSWORD, "staff", frozenset({"laholm"})
        )
        user = StaffUser(id=view.id, username="bo", role="staff", teams=frozenset({"laholm"}))
        totp = TotpService(database, TEST_SECRET.encode(), now=clock)
        enrolment = await totp.start(user)
        assert await totp.confirm(user, pyotp.TOTP(enrolment.secret).at(clock())) is not None
    finally:
        await database.close()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": TEST_SECRET,
        "DATA_DIR": str(tmp_path / "data"),
    }
    command = [sys.executable, "-m", "bot", "staff", "2fa-reset", "bo"]
    done = await asyncio.to_thread(
        subprocess.run, command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "bo" in done.stdout and "second factor" in done.stdout
    unknown = await asyncio.to_thread(
        subprocess.run,
        [*command[:-1], "nobody"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert unknown.returncode == 1 and len(unknown.stderr.strip().splitlines()) == 1
    database = Database(create_engine(url))
    try:
        async with database.read_tx() as conn:
            assert (await conn.execute(select(table_of(StaffMfa)))).all() == []
            audit = (await conn.execute(select(table_of(AuditEvent)))).mappings().all()
        assert {("cli", "2fa_reset"), ("bo", "2fa_removed")} <= {
            (e["staff"], e["action"]) for e in audit
        }
    finally:
        await database.close()


async def test_a_secret_sealed_under_an_old_key_opens_and_moves_to_the_new_one(
    database: Database, clock: Clock
) -> None:
    from bot.services.totp import TotpService

    old, new = b"o" * 32, b"n" * 32
    user = StaffUser(id=7, username="dana", role="staff", teams=frozenset({"laholm"}))
    before = TotpService(database, old, now=clock)
    enrolment = await before.start(user)
    assert await before.confirm(user, pyotp.TOTP(enrolment.secret).at(clock())) is not None

    rotated = TotpService(database, new, (old,), now=clock)  # SECRET_KEYS="new old"
    clock.next_step()
    assert await rotated.verify(user, pyotp.TOTP(enrolment.secret).at(clock()))
    only_new = TotpService(database, new, now=clock)  # the old key dropped afterwards
    clock.next_step()
    assert await only_new.verify(user, pyotp.TOTP(enrolment.secret).at(clock()))
    assert not await before.verify(user, pyotp.TOTP(enrolment.secret).at(clock()))


async def test_rekey_reseals_totp_secrets_so_codes_verify_after_the_old_key_goes(
    database: Database, clock: Clock
) -> None:
    """`rekey` (in batches of two) moves every secret an old key sealed, confirmed or still
    being set up; with the old key dropped, each account's codes still verify."""
    from bot.services.link_crypto import LinkCipher
    from bot.services.rekey import rekey
    from bot.services.totp import TotpService

    old, new = b"o" * 32, b"n" * 32
    users = [
        StaffUser(id=i, username=f"user{i}", role="staff", teams=frozenset({"laholm"}))
        for i in (11, 12, 13, 14)
    ]
    before, rotated = TotpService(database, old, now=clock), TotpService(database, new, now=clock)
    secrets_of: dict[int, str] = {}
    for user in users:
        service = rotated if user.id == 13 else before  # 13 set up after the rotation
        enrolment = await service.start(user)
        secrets_of[user.id] = enrolment.secret
        if user.id != 14:  # 14 is still setting up
            code = pyotp.TOTP(enrolment.secret).at(clock())
            assert await service.confirm(user, code) is not None

    report = await rekey(database, LinkCipher(new, (old,)), batch=2)
    assert (report.totp.resealed, report.totp.current, report.totp.unreadable) == (3, 1, 0)
    again = await rekey(database, LinkCipher(new, (old,)), batch=2)
    assert again.totp.resealed == 0 and again.totp.current == 4

    only_new = TotpService(database, new, now=clock)  # SECRET_KEYS="new": the old key gone
    clock.next_step()
    for user in users[:3]:
        assert await only_new.verify(user, pyotp.TOTP(secrets_of[user.id]).at(clock())), user
    pending = await only_new.pending(users[3])
    assert pending is not None and pending.secret == secrets_of[14]
    assert not await before.verify(users[0], pyotp.TOTP(secrets_of[11]).at(clock()))
