"""Staff accounts: argon2 hashes, roles, teams, sign-in; and the `python -m bot staff` CLI."""

from __future__ import annotations

import io
from pathlib import Path
from typing import ClassVar

import pytest
from argon2 import PasswordHasher
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.__main__ import main
from bot.services.staff import MIN_PASSWORD_LENGTH, StaffError, StaffService
from bot.storage.database import Database
from tests.conftest import _reset_postgres

TEAMS = frozenset({"laholm", "botkyrka"})
GOOD = "correct horse battery staple"
# Cheap parameters keep the tests quick; the product uses argon2-cffi's defaults.
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def service(engine: AsyncEngine) -> StaffService:
    return StaffService(Database(engine), TEAMS, hasher=FAST)


async def test_create_then_sign_in(service: StaffService, engine: AsyncEngine) -> None:
    view = await service.create(" Anna ", GOOD, "staff", frozenset({"laholm"}), "Anna")
    assert (view.username, view.role, view.teams, view.active) == (
        "anna",
        "staff",
        frozenset({"laholm"}),
        True,
    )
    user = await service.authenticate("ANNA", GOOD)
    assert user is not None
    assert (user.id, user.username, user.teams, user.display_name) == (
        view.id,
        "anna",
        frozenset({"laholm"}),
        "Anna",
    )
    assert user.can_see("laholm") and not user.can_see("botkyrka")
    async with engine.connect() as conn:
        stored = (await conn.execute(text("SELECT password_hash FROM staff_account"))).scalar_one()
    assert stored.startswith("$argon2id$") and GOOD not in stored


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("anna", "wrong password!!"),
        ("nobody", GOOD),
        ("", GOOD),
        ("anna", ""),
        ("anna", "x" * 5000),
    ],
)
async def test_wrong_or_unknown_credentials_get_none(
    service: StaffService, username: str, password: str
) -> None:
    await service.create("anna", GOOD, "staff", frozenset({"laholm"}))
    assert await service.authenticate(username, password) is None


async def test_unknown_users_cost_a_hash_verification_too(engine: AsyncEngine) -> None:
    class Counting(PasswordHasher):
        calls: ClassVar[list[str]] = []

        def verify(self, hash: str | bytes, password: str | bytes) -> bool:
            self.calls.append(str(hash))
            return super().verify(hash, password)

    hasher = Counting(time_cost=1, memory_cost=1024, parallelism=1)
    service = StaffService(Database(engine), TEAMS, hasher=hasher)
    await service.create("anna", GOOD, "staff", frozenset({"laholm"}))
    await service.deactivate("anna")
    assert await service.authenticate("nobody", GOOD) is None
    assert await service.authenticate("anna", GOOD) is None  # inactive: same work, same answer
    assert len(hasher.calls) == 2 and all(h.startswith("$argon2") for h in hasher.calls)


async def test_deactivated_accounts_cannot_sign_in_or_keep_a_session(
    service: StaffService,
) -> None:
    view = await service.create("anna", GOOD, "staff", frozenset({"laholm"}))
    assert await service.get(view.id) is not None
    await service.deactivate("anna")
    assert await service.authenticate("anna", GOOD) is None
    assert await service.get(view.id) is None
    assert [a.active for a in await service.list()] == [False]


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"password": "short"}, "weak_password"),
        ({"password": "x" * (MIN_PASSWORD_LENGTH - 1)}, "weak_password"),
        ({"role": "boss"}, "invalid_role"),
        ({"teams": frozenset({"atlantis"})}, "unknown_team"),
        ({"teams": frozenset()}, "unknown_team"),
        ({"username": "a b"}, "invalid_username"),
    ],
)
async def test_bad_accounts_are_refused(
    service: StaffService, kwargs: dict[str, object], reason: str
) -> None:
    values: dict[str, object] = {
        "username": "anna",
        "password": GOOD,
        "role": "staff",
        "teams": frozenset({"laholm"}),
    }
    values.update(kwargs)
    with pytest.raises(StaffError) as refused:
        await service.create(**values)  # type: ignore[arg-type]  # wrong values on purpose
    assert refused.value.reason == reason
    assert await service.list() == []


async def test_usernames_are_unique(service: StaffService) -> None:
    await service.create("anna", GOOD, "staff", frozenset({"laholm"}))
    with pytest.raises(StaffError) as refused:
        await service.create("ANNA", GOOD, "admin", frozenset())
    assert refused.value.reason == "exists"


async def test_admins_need_no_team_and_see_every_team(service: StaffService) -> None:
    await service.create("root", GOOD, "admin", frozenset())
    user = await service.authenticate("root", GOOD)
    assert user is not None and user.can_see("botkyrka") and user.can_see("laholm")


async def test_password_and_team_changes(service: StaffService) -> None:
    view = await service.create("anna", GOOD, "coordinator", frozenset({"laholm"}))
    await service.set_password("anna", "another long passphrase")
    assert await service.authenticate("anna", GOOD) is None
    assert await service.authenticate("anna", "another long passphrase") is not None
    await service.set_teams("anna", frozenset({"laholm", "botkyrka"}))
    user = await service.get(view.id)
    assert user is not None and user.teams == TEAMS
    for call, reason in (
        (service.set_teams("anna", frozenset({"atlantis"})), "unknown_team"),
        (service.set_password("anna", "short"), "weak_password"),
        (service.set_password("nobody", GOOD), "not_found"),
        (service.set_teams("nobody", TEAMS), "not_found"),
        (service.deactivate("nobody"), "not_found"),
    ):
        with pytest.raises(StaffError) as refused:
            await call
        assert refused.value.reason == reason


async def test_old_hashes_are_upgraded_on_sign_in(engine: AsyncEngine) -> None:
    old = StaffService(Database(engine), TEAMS, hasher=FAST)
    await old.create("anna", GOOD, "staff", frozenset({"laholm"}))
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    current = StaffService(Database(engine), TEAMS, hasher=stronger)
    assert await current.authenticate("anna", GOOD) is not None
    async with engine.connect() as conn:
        stored = (await conn.execute(text("SELECT password_hash FROM staff_account"))).scalar_one()
    assert not stronger.check_needs_rehash(stored)


# --- the CLI ---------------------------------------------------------------------------


@pytest.fixture
def cli_env(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> pytest.MonkeyPatch:
    if database_url.startswith("postgresql"):
        _reset_postgres(database_url)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SECRET_KEY", raising=False)  # managing staff needs no secret key
    monkeypatch.setenv("STAFF_PASSWORD", GOOD)
    return monkeypatch


def test_cli_manages_accounts(cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    assert (
        main(["staff", "add", "anna", "--role", "staff", "--team", "laholm", "--name", "Anna"]) == 0
    )
    assert "created anna (staff; teams: laholm)" in capsys.readouterr().out
    assert main(["staff", "teams", "anna", "--team", "laholm", "--team", "botkyrka"]) == 0
    cli_env.setenv("STAFF_PASSWORD", "a new long passphrase")
    assert main(["staff", "passwd", "anna"]) == 0
    assert main(["staff", "add", "root", "--role", "admin"]) == 0
    assert main(["staff", "deactivate", "root"]) == 0
    capsys.readouterr()
    assert main(["staff", "list"]) == 0
    listing = capsys.readouterr().out
    assert "anna\tstaff\tbotkyrka,laholm\tactive" in listing
    assert "root\tadmin\t-\tinactive" in listing
    assert GOOD not in listing


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["staff", "add", "bo", "--team", "atlantis"], "unknown team (atlantis)"),
        (["staff", "add", "anna", "--team", "laholm"], "already exists"),
        (["staff", "passwd", "nobody"], "no account"),
        (["staff", "deactivate", "nobody"], "no account"),
        (["staff", "add", "bo", "--team", "laholm"], "at least 12"),
    ],
)
def test_cli_refusals_are_one_line_and_non_zero(
    cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, argv: list[str], expected: str
) -> None:
    assert main(["staff", "add", "anna", "--team", "laholm"]) == 0
    capsys.readouterr()
    if argv[2] == "bo" and expected == "at least 12":
        cli_env.setenv("STAFF_PASSWORD", "short")
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert err.splitlines()[0].startswith(f"staff {argv[1]}:")


def test_cli_refuses_to_read_a_password_from_nowhere(
    cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    cli_env.delenv("STAFF_PASSWORD")
    cli_env.setattr("sys.stdin", io.StringIO(""))  # not a terminal
    assert main(["staff", "add", "anna", "--team", "laholm"]) == 2
    assert "STAFF_PASSWORD" in capsys.readouterr().err


def test_cli_has_no_password_argument(cli_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit):
        main(["staff", "add", "anna", "--team", "laholm", "--password", GOOD])
