"""The admin section's staff accounts (#12 item 3): the service, the pages and the API.

An admin adds an account without a password and gets a one-time set-password link; the
link works once (compare-and-set), until it expires, and a newer link replaces it. Staff
and coordinators are refused (403) on pages and API; every form needs its CSRF token; an
admin cannot deactivate or demote themself; every change is audited for the admin and for
the account. One server per database for the module.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from sqlalchemy import text

from bot.emulator.spec import BotApiSpec
from bot.runtime import Server
from bot.services.staff_admin import AdminError, AdminService
from bot.services.totp import TotpService
from tests.conftest import TEST_SECRET, running_preview
from tests.staff_helpers import PASSWORD, StaffClient, create_accounts, signed_in, text_of

pytestmark = pytest.mark.asyncio(loop_scope="module")
NEW_PASSWORD = "a long new password for eva"
LINK_RE = re.compile(r"/staff/set-password/([A-Za-z0-9_-]{43})")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def admin_database_url(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_url: str | None,
) -> str:
    """SQLite and PostgreSQL, one server each for the whole module."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('admin-db') / 'test.db'}"
    if postgres_url is None:
        pytest.skip("no PostgreSQL (set TEST_DATABASE_URL); CI runs this leg")
    return postgres_url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(
    admin_database_url: str, tmp_path_factory: pytest.TempPathFactory, spec: BotApiSpec
) -> AsyncIterator[Server]:
    tmp = tmp_path_factory.mktemp("admin")
    async with running_preview(admin_database_url, tmp, spec) as running:
        await create_accounts(running)
        assert running.core is not None
        await running.core.staff.create(
            "kim", PASSWORD, "coordinator", frozenset({"laholm"}), display_name="Kim"
        )
        yield running


def admin_service(server: Server) -> AdminService:
    """The service as the web door builds it (same key: its links work on the pages too)."""
    assert server.core is not None and server.settings.secret_key is not None
    staff = server.core.staff
    return AdminService(staff, TotpService(staff.database, server.settings.secret_key),
                        server.settings.secret_key)  # fmt: skip


async def actions(server: Server) -> list[tuple[str, str]]:
    assert server.core is not None
    async with server.core.staff.database.read_tx() as conn:
        rows = (await conn.execute(text("SELECT staff, action FROM audit_event"))).all()
    return [(str(staff), str(action)) for staff, action in rows]


async def post_form(client: StaffClient, path: str, fields: list[tuple[str, str]]) -> str:
    """A form with repeated fields (team boxes) and the last page's CSRF token."""
    async with client.http.post(
        client.origin + path, data=[("csrf", client.csrf), *fields]
    ) as response:
        client.status, client.page, client.url = (
            response.status,
            await response.text(),
            str(response.url),
        )
    return client.page


# -- the service -------------------------------------------------------------------------


async def test_a_link_sets_the_password_once_and_a_newer_link_replaces_it(server: Server) -> None:
    admin_svc = admin_service(server)
    assert server.core is not None
    root = await server.core.staff.authenticate("root", PASSWORD)
    assert root is not None
    issued = await admin_svc.create(root, "svc.one", "staff", frozenset({"laholm"}), "Ett")
    assert await server.core.staff.authenticate("svc.one", "anything at all here") is None
    assert await admin_svc.link_account(issued.token) == "svc.one"
    with pytest.raises(AdminError) as weak:
        await admin_svc.use_link(issued.token, "short")
    assert weak.value.reason == "weak_password"
    # Two at once: one wins the compare-and-set, the other is told the link is used.
    results = await asyncio.gather(
        admin_svc.use_link(issued.token, NEW_PASSWORD),
        admin_svc.use_link(issued.token, NEW_PASSWORD + " too"),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["AdminError", "str"]
    assert await server.core.staff.authenticate("svc.one", NEW_PASSWORD) is not None or (
        await server.core.staff.authenticate("svc.one", NEW_PASSWORD + " too") is not None
    )
    with pytest.raises(AdminError) as used:
        await admin_svc.link_account(issued.token)
    assert used.value.reason == "link_invalid"

    first = await admin_svc.new_link(root, "svc.one")
    second = await admin_svc.new_link(root, "svc.one")
    with pytest.raises(AdminError):
        await admin_svc.use_link(first.token, NEW_PASSWORD)
    assert await admin_svc.use_link(second.token, "the forgotten one replaced") == "svc.one"
    # The table holds digests only: the token is nowhere in it.
    async with server.core.staff.database.read_tx() as conn:
        stored = (await conn.execute(text("SELECT digest, created_by FROM staff_invite"))).all()
    assert stored and all(second.token not in d and len(d) == 64 for d, _ in stored)
    assert {by for _, by in stored} == {"root"}


async def test_a_link_expires(server: Server) -> None:
    admin_svc = admin_service(server)
    assert server.core is not None
    root = await server.core.staff.authenticate("root", PASSWORD)
    assert root is not None
    issued = await admin_svc.create(root, "svc.late", "staff", frozenset({"laholm"}))
    clock = server.core.staff.now
    later = clock() + timedelta(hours=72, seconds=1)
    server.core.staff.now = lambda: later
    try:
        with pytest.raises(AdminError) as late:
            await admin_svc.use_link(issued.token, NEW_PASSWORD)
        assert late.value.reason == "link_invalid"
        # The purge round forgets links past their expiry (used or not).
        await Server._purge_round(server.core)
        async with server.core.staff.database.read_tx() as conn:
            left = await conn.execute(
                text("SELECT COUNT(*) FROM staff_invite WHERE expires_at < :t"), {"t": later}
            )
        assert left.scalar_one() == 0
    finally:
        server.core.staff.now = clock
    for bad in ("", "x" * 43, "../../etc", "A" * 500):
        with pytest.raises(AdminError):
            await admin_svc.link_account(bad)


async def test_only_admins_and_never_against_themself(server: Server) -> None:
    admin_svc = admin_service(server)
    assert server.core is not None
    root = await server.core.staff.authenticate("root", PASSWORD)
    kim = await server.core.staff.authenticate("kim", PASSWORD)
    assert root is not None and kim is not None
    for call in (
        admin_svc.accounts(kim),
        admin_svc.create(kim, "nope", "staff", frozenset({"laholm"})),
        admin_svc.deactivate(kim, "anna"),
        admin_svc.new_link(kim, "anna"),
    ):
        with pytest.raises(AdminError) as refused:
            await call
        assert refused.value.reason == "forbidden"
    for call in (
        admin_svc.deactivate(root, "root"),
        admin_svc.change(root, "ROOT", role="staff", teams=frozenset({"laholm"})),
    ):
        with pytest.raises(AdminError) as self_refused:
            await call
        assert self_refused.value.reason == "self"
    for reason, call in (
        ("exists", admin_svc.create(root, "anna", "staff", frozenset({"laholm"}))),
        ("invalid_username", admin_svc.create(root, "Å!", "staff", frozenset({"laholm"}))),
        ("invalid_role", admin_svc.create(root, "newbie", "boss", frozenset({"laholm"}))),
        ("unknown_team", admin_svc.create(root, "newbie", "staff", frozenset({"mars"}))),
        ("unknown_team", admin_svc.create(root, "newbie", "staff", frozenset())),
        ("not_found", admin_svc.deactivate(root, "nobody")),
    ):
        with pytest.raises(AdminError) as bad:
            await call
        assert bad.value.reason == reason


# -- the pages ---------------------------------------------------------------------------


async def test_the_pages_add_change_deactivate_and_reactivate_with_audit(server: Server) -> None:
    async with signed_in(server, "root", "en") as root:
        await root.get("/staff/admin")
        assert root.status == 200 and "Staff accounts" in text_of(root.page)
        await root.get("/staff/admin/accounts")
        assert root.status == 200
        listed = text_of(root.page)
        assert "anna" in listed and "kim" in listed and "argon2" not in root.page
        page = await post_form(
            root,
            "/staff/admin/accounts/add",
            [("username", "Eva"), ("display_name", "Eva"), ("role", "staff"),
             ("team", "laholm")],
        )  # fmt: skip
        assert root.status == 200, text_of(page)
        found = LINK_RE.search(page)
        assert found, text_of(page)
        link = found.group(0)

        # The new person opens the link in another browser and chooses a password.
        eva = StaffClient(server, accept_language="en")
        try:
            await eva.get(link)
            assert eva.status == 200 and "eva" in text_of(eva.page)
            await eva.post(link, {"password": NEW_PASSWORD, "password2": "different " * 3})
            assert eva.status == 400 and "differ" in text_of(eva.page)
            await eva.post(link, {"password": NEW_PASSWORD, "password2": NEW_PASSWORD})
            assert "/staff/login" in eva.url and "password is set" in text_of(eva.page)
            await eva.get(link)
            assert eva.status == 404 and "cannot be used" in text_of(eva.page)
            await eva.sign_in("eva", NEW_PASSWORD)
            assert "/staff/queue" in eva.url
        finally:
            await eva.close()

        await root.get("/staff/admin/accounts/eva")
        await post_form(
            root,
            "/staff/admin/accounts/eva/change",
            [("role", "staff"), ("team", "laholm"), ("team", "botkyrka")],
        )
        assert root.status == 200 and "were saved" in text_of(root.page)
        await root.post("/staff/admin/accounts/eva/deactivate", {})
        assert "deactivated" in text_of(root.page)
        await root.post("/staff/admin/accounts/eva/reactivate", {})
        assert "reactivated" in text_of(root.page)
        await root.post("/staff/admin/accounts/eva/link", {})
        assert LINK_RE.search(root.page)
        await root.post("/staff/admin/accounts/eva/2fa-reset", {})
        assert "had no second factor" in text_of(root.page)

        # Themself: a clear refusal, nothing changed.
        await root.get("/staff/admin/accounts/root")
        await root.post("/staff/admin/accounts/root/deactivate", {})
        assert root.status == 409 and "your own account" in text_of(root.page)
        await post_form(root, "/staff/admin/accounts/root/change", [("role", "coordinator")])
        assert root.status == 409

        # Without the CSRF token: refused, nothing changed.
        await root.post("/staff/admin/accounts/eva/deactivate", {}, csrf=False)
        assert root.status == 403

        await root.get("/staff/audit")
        log = text_of(root.page)
    done = await actions(server)
    for pair in (
        ("root", "account_add"),
        ("eva", "account_created"),
        ("eva", "password_set"),
        ("root", "account_teams"),
        ("eva", "teams_changed"),
        ("root", "account_deactivate"),
        ("eva", "account_deactivated"),
        ("root", "account_reactivate"),
        ("eva", "account_reactivated"),
        ("root", "account_link"),
    ):
        assert pair in done, pair
    assert ("eva", "account_deactivated") in done
    assert "Deactivated an account" in log and "Added a staff account" in log


async def test_staff_and_coordinators_are_refused_the_admin_pages(server: Server) -> None:
    for username in ("anna", "kim"):
        async with signed_in(server, username, "en") as who:
            for path in ("/staff/admin", "/staff/admin/accounts", "/staff/admin/accounts/anna"):
                await who.get(path)
                assert who.status == 403 and "Only administrators" in text_of(who.page), path
            await who.get("/staff/queue")
            await who.post("/staff/admin/accounts/bo/deactivate", {})
            assert who.status == 403
            assert "Administration" not in text_of(await who.get("/staff/queue"))
    assert server.core is not None
    assert await server.core.staff.authenticate("bo", PASSWORD) is not None


# -- the API -----------------------------------------------------------------------------


async def test_the_api_runs_accounts_as_the_pages_do(server: Server) -> None:
    client = StaffClient(server)
    try:
        status, body = await client.api(
            "POST", "/api/v1/session", json={"username": "root", "password": PASSWORD}
        )
        assert status == 200
        bearer = {"Authorization": f"Bearer {body['token']}"}
        status, listed = await client.api("GET", "/api/v1/admin/accounts", headers=bearer)
        assert status == 200 and "anna" in {a["username"] for a in listed["accounts"]}
        assert all("password" not in str(a) for a in listed["accounts"])
        status, made = await client.api(
            "POST",
            "/api/v1/admin/accounts",
            json={"username": "api.one", "role": "staff", "teams": ["laholm"]},
            headers=bearer,
        )
        assert status == 201 and LINK_RE.search(made["set_password_url"])
        assert made["account"]["active"] is True
        status, changed = await client.api(
            "PATCH",
            "/api/v1/admin/accounts/api.one",
            json={"role": "coordinator", "teams": ["botkyrka"]},
            headers=bearer,
        )
        assert status == 200 and changed["role"] == "coordinator"
        assert changed["teams"] == ["botkyrka"]
        status, off = await client.api(
            "POST", "/api/v1/admin/accounts/api.one/deactivate", headers=bearer
        )
        assert status == 200 and off["active"] is False
        status, on = await client.api(
            "POST", "/api/v1/admin/accounts/api.one/reactivate", headers=bearer
        )
        assert status == 200 and on["active"] is True
        status, reset = await client.api(
            "POST", "/api/v1/admin/accounts/api.one/2fa-reset", headers=bearer
        )
        assert status == 200 and reset == {"removed": False}
        status, link = await client.api(
            "POST", "/api/v1/admin/accounts/api.one/link", headers=bearer
        )
        assert status == 201 and link["set_password_url"] != made["set_password_url"]
        for method, path, payload, expected in (
            ("POST", "/api/v1/admin/accounts", {"username": "x"}, 400),
            ("POST", "/api/v1/admin/accounts", {"username": "anna", "role": "staff",
                                                "teams": ["laholm"]}, 409),
            ("POST", "/api/v1/admin/accounts", {"username": "n2", "role": "staff",
                                                "teams": "laholm"}, 400),
            ("PATCH", "/api/v1/admin/accounts/root", {"role": "staff", "teams": ["laholm"]}, 409),
            ("POST", "/api/v1/admin/accounts/root/deactivate", None, 409),
            ("GET", "/api/v1/admin/accounts/nobody", None, 404),
            ("PATCH", "/api/v1/admin/accounts/anna", {"role": 5}, 400),
        ):  # fmt: skip
            status, refused = await client.api(method, path, json=payload, headers=bearer)
            assert status == expected, (method, path, refused)
        # A cookie without the CSRF header is refused.
        status, _ = await client.api("POST", "/api/v1/admin/accounts/api.one/deactivate")
        assert status == 403
    finally:
        await client.close()
    for username in ("anna", "kim"):
        other = StaffClient(server)
        try:
            status, body = await other.api(
                "POST", "/api/v1/session", json={"username": username, "password": PASSWORD}
            )
            bearer = {"Authorization": f"Bearer {body['token']}"}
            status, _ = await other.api("GET", "/api/v1/admin/accounts", headers=bearer)
            assert status == 403
            status, _ = await other.api(
                "POST", "/api/v1/admin/accounts/bo/deactivate", headers=bearer
            )
            assert status == 403
        finally:
            await other.close()


# -- the command line ----------------------------------------------------------------------


async def test_the_cli_adds_an_account_with_a_link_instead_of_a_password(
    server: Server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.__main__ import main

    monkeypatch.setenv("DATABASE_URL", server.settings.database_url)
    monkeypatch.setenv("DATA_DIR", str(server.settings.data_dir))
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("PUBLIC_URL", server.origin)
    monkeypatch.delenv("STAFF_PASSWORD", raising=False)
    argv = ["staff", "add", "cli.made", "--team", "laholm", "--name", "Cli", "--link"]
    assert await asyncio.to_thread(main, argv) == 0  # never asks for a password
    out = capsys.readouterr().out
    found = LINK_RE.search(out)
    assert "created cli.made" in out and found, out
    person = StaffClient(server, accept_language="en")
    try:
        await person.get(found.group(0))
        await person.post(found.group(0), {"password": NEW_PASSWORD, "password2": NEW_PASSWORD})
        await person.sign_in("cli.made", NEW_PASSWORD)
        assert "/staff/queue" in person.url
    finally:
        await person.close()
    assert ("cli", "account_add") in await actions(server)
    assert await asyncio.to_thread(main, argv) == 1
    assert "already exists" in capsys.readouterr().err


async def test_the_section_speaks_swedish_and_links_canned_replies(server: Server) -> None:
    async with signed_in(server, "root", "sv") as root:
        page = text_of(await root.get("/staff/admin/accounts"))
        assert "Personalkonton" in page and "Lägg till ett konto" in page
        assert "Senaste inloggning" in page and "Staff accounts" not in page
        canned = await root.get("/staff/canned")
        assert 'data-testid="admin-nav"' in canned
    async with signed_in(server, "kim", "sv") as kim:
        canned = await kim.get("/staff/canned")
        assert kim.status == 200 and 'data-testid="admin-nav"' not in canned
        assert 'data-testid="nav-admin"' not in canned
