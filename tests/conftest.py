"""Shared fixtures: databases (SQLite and PostgreSQL), the emulator, servers, clients, Chromium.

Every test that takes ``database_url`` runs twice: on a fresh SQLite file and on a
throwaway PostgreSQL database. The PostgreSQL leg is skipped on a laptop without
one, but in CI (CI=true) a missing PostgreSQL is a failure, never a skip; so is a
missing Chromium for the browser tests.

What is here, so that test files use it instead of a copy:
- ``preview_server`` (and ``running_preview`` for other settings): the real product in
  preview mode; ``server`` is the same with the staff accounts of
  ``tests/staff_helpers.py`` (a test file may extend it under the same name), and
  ``client`` a cookie-keeping HTTP client on it for the staff pages and the JSON API.
- ``copy``: content/ and locales/ copied to break on purpose.
- ``emulator_on_own_port``: the Bot API emulator alone, as Telegram's servers would be
  (``tests/webhook_helpers.py`` serves the product in webhook mode against it).
- ``module_database_url``: both databases for a server a test module's tests share.
- ``chromium`` and ``browser``: Debian's Chromium under Playwright (``tests/browser.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from argon2 import PasswordHasher
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings, load_settings
from bot.emulator.server import BotApiEmulator
from bot.emulator.spec import BotApiSpec, default_spec_path
from bot.runtime import Server
from bot.services.staff import StaffService
from bot.storage.database import Database
from tests.staff_helpers import StaffClient, create_accounts

REPO = Path(__file__).resolve().parent.parent
TEST_SECRET = "test-secret-key-for-pseudonyms-0123456789abcdef"
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


# argon2 at the product's cost (64 MiB, three passes) is most of a test server's start (the
# preview's demo accounts) and of each sign-in: seconds per server on a busy two-core
# machine. The servers the tests start in this process hash with cheap parameters; the
# product's are unchanged (tests/test_staff.py tests the hashing and the rehash on sign-in,
# tests/test_signin_throttle.py the cap on argon2; `serve` processes use the product's).
TEST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@dataclass
class _CheapHashStaffService(StaffService):
    hasher: PasswordHasher = field(default_factory=lambda: TEST_HASHER)


@pytest.fixture(scope="session", autouse=True)
def cheap_argon2_in_test_servers() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("bot.runtime.StaffService", _CheapHashStaffService)
        yield


@pytest.fixture(scope="session")
def spec() -> BotApiSpec:
    path = default_spec_path()
    if path is None:
        pytest.fail(
            "the Bot API spec (shared/telegram-bot-api-spec/api.json) was not found; "
            "set BOT_API_SPEC"
        )
    return BotApiSpec.load(path)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    """A throwaway PostgreSQL database for the session, or None when there is no server."""
    base = os.environ.get("TEST_DATABASE_URL", "").strip()
    if not base:
        if CI:
            pytest.fail("CI=true but TEST_DATABASE_URL is not set: the PostgreSQL leg is mandatory")
        yield None
        return
    yield from _with_database(base, f"relatives_test_{uuid.uuid4().hex[:10]}")


def _with_database(base: str, name: str) -> Iterator[str | None]:
    """Create and drop the database with asyncpg (the driver the product uses)."""
    import asyncpg

    url = make_url(base)
    dsn = f"postgresql://{url.username or 'postgres'}@{url.host or '127.0.0.1'}:{url.port or 5432}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(f"{dsn}/{url.database or 'postgres'}", timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(run(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        if CI:
            pytest.fail(f"PostgreSQL at {dsn} is not usable in CI: {exc}")
        yield None
        return
    try:
        yield (
            f"postgresql+asyncpg://{url.username or 'postgres'}@{url.host or '127.0.0.1'}:"
            f"{url.port or 5432}/{name}"
        )
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _reset_postgres(url: str) -> None:
    """Each test starts from an empty schema; the server's migrations build it again."""
    import asyncpg

    u = make_url(url)

    async def run() -> None:
        conn = await asyncpg.connect(
            f"postgresql://{u.username}@{u.host}:{u.port}/{u.database}", timeout=5
        )
        try:
            await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str | None) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    if postgres_url is None:
        pytest.skip("no PostgreSQL (set TEST_DATABASE_URL); CI runs this leg")
    return postgres_url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_database_url(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_url: str | None,
) -> str:
    """``database_url`` for a module-scoped server that a test module's tests share (pytest
    tears it down before another module's test runs, so the PostgreSQL database is free)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('module-db') / 'test.db'}"
    if postgres_url is None:
        pytest.skip("no PostgreSQL (set TEST_DATABASE_URL); CI runs this leg")
    return postgres_url


@pytest.fixture
def pg_database_url(postgres_url: str | None) -> str:
    """PostgreSQL alone, for what only it has (advisory locks, several processes on one
    database); SQLite is one process. CI has PostgreSQL (``postgres_url`` fails without it)."""
    if postgres_url is None:
        pytest.skip("no PostgreSQL (set TEST_DATABASE_URL); CI runs this test")
    return postgres_url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def make_settings(database_url: str, tmp_path: Path, **env: str) -> Settings:
    """Settings for a test server: this database, a private data dir, the test secret."""
    base = {
        "DATABASE_URL": database_url,
        "DATA_DIR": str(tmp_path / "data"),
        "SECRET_KEY": TEST_SECRET,
        "HOST": "127.0.0.1",
        "PORT": "0",
    }
    base.update(env)
    return load_settings(base, require_telegram=False)


@contextlib.asynccontextmanager
async def running_preview(
    database_url: str, tmp_path: Path, spec: BotApiSpec, **env: str
) -> AsyncIterator[Server]:
    """The real product in preview mode with these settings; every Bot API call spec-valid."""
    if database_url.startswith("postgresql"):
        await asyncio.to_thread(_reset_postgres, database_url)
    settings = make_settings(database_url, tmp_path, **env)
    server = Server(settings, preview=True, spec_validator=spec.validate_call)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
    assert server.emulator is not None
    assert server.emulator.problems == [], server.emulator.problems


@pytest.fixture
async def preview_server(
    database_url: str, tmp_path: Path, spec: BotApiSpec
) -> AsyncIterator[Server]:
    """The real product in preview mode: PTB polls the spec-checking emulator.

    Walks through every screen tap faster than any person, so the per-chat flood budget
    is set out of their way here; tests/test_flood.py tests the budget itself.
    """
    async with running_preview(
        database_url, tmp_path, spec, FLOOD_BURST="1000", FLOOD_PER_MINUTE="1000"
    ) as server:
        yield server


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A private copy of content/ and locales/ to break (``content_helpers.edit_yaml``)."""
    shutil.copytree(REPO / "content", tmp_path / "content")
    shutil.copytree(REPO / "locales", tmp_path / "locales")
    return tmp_path


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated, empty database (the PostgreSQL one is shared, so its schema is reset)."""
    from bot.storage.engine import create_engine
    from bot.storage.migrate import upgrade

    if database_url.startswith("postgresql"):
        await asyncio.to_thread(_reset_postgres, database_url)
    eng = create_engine(database_url)
    await upgrade(eng)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
async def database(engine: AsyncEngine) -> AsyncIterator[Database]:
    """The migrated, empty database as services receive it (engine, pool, hot connection)."""
    opened = Database(engine)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def server(preview_server: Server) -> Server:
    """The product in preview mode with the staff accounts (``staff_helpers.ACCOUNTS``)."""
    await create_accounts(preview_server)
    return preview_server


@pytest.fixture
async def client(server: Server) -> AsyncIterator[StaffClient]:
    """A cookie-keeping client on ``server``, not signed in, closed after the test."""
    client = StaffClient(server)
    yield client  # pytest runs the rest at teardown, whether the test passed or not
    await client.close()


@contextlib.asynccontextmanager
async def emulator_on_own_port(spec: BotApiSpec, token: str) -> AsyncIterator[BotApiEmulator]:
    """The Bot API emulator alone on a free port, as Telegram's servers would be."""
    emulator = BotApiEmulator(token, validator=spec.validate_call)
    runner = web.AppRunner(emulator.make_app(), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    emulator.set_server_origin(f"http://127.0.0.1:{port}")
    try:
        yield emulator
    finally:
        await runner.cleanup()


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium (never a downloaded browser); missing is a skip, but a failure in CI."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    if CI:
        pytest.fail(f"CI=true but {CHROMIUM} is missing: install Debian's chromium package")
    pytest.skip(f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium)")


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Any]:
    """Chromium launched headless under Playwright for one test; each test opens its contexts.

    Playwright is imported here, not at the top, so that only browser tests need it.
    """
    from tests.browser import launched

    async with launched(chromium) as launched_browser:
        yield launched_browser
