"""One process holds at most DB_POOL_SIZE + DB_MAX_OVERFLOW + DB_DIRECT_POOL_SIZE
PostgreSQL connections, and work beyond that waits for one instead of failing.

How it is proven without sampling at the right moment: the test database belongs to a
role that is not a superuser and has ``CONNECTION LIMIT`` equal to the budget, so a
connection beyond the budget is refused by PostgreSQL itself ("too many connections")
and the burst would fail. The second test turns the budget above the limit and sees
exactly that refusal, so the instrument is shown to bite. ``pg_stat_activity`` is also
read during the burst (from another database) for the figure the README quotes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from bot.domain import URGENCIES, RequestDraft, StaffUser
from bot.privacy import chat_pseudonym
from bot.runtime import Core, build_core
from tests.conftest import TEST_SECRET, make_settings

BUDGET = {"DB_POOL_SIZE": "2", "DB_MAX_OVERFLOW": "1", "DB_DIRECT_POOL_SIZE": "1"}
LIMIT = 4  # = the budget above
BURST = 50


@dataclass(frozen=True)
class LimitedDatabase:
    url: str  # as the limited role
    name: str
    admin_dsn: str  # a superuser on another database, to watch and to clean up


@pytest.fixture
async def limited_database(pg_database_url: str) -> AsyncIterator[LimitedDatabase]:
    """A database owned by a fresh non-superuser role limited to LIMIT connections."""
    base = make_url(pg_database_url)
    admin_dsn = base.set(drivername="postgresql").render_as_string(hide_password=False)
    suffix = uuid.uuid4().hex[:8]
    role, name = f"relatives_budget_{suffix}", f"relatives_budget_{suffix}"
    admin = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        await admin.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT {LIMIT}')
        await admin.execute(f'CREATE DATABASE "{name}" OWNER "{role}" CONNECTION LIMIT {LIMIT}')
        url = base.set(username=role, database=name).render_as_string(hide_password=False)
        yield LimitedDatabase(url, name, admin_dsn)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()


async def _burst(core: Core, staff: StaffUser, codes: list[str]) -> list[BaseException]:
    """BURST concurrent reads and writes through the services, on both pools; every one
    runs to its end, and the errors are returned."""

    async def one(i: int) -> None:
        match i % 4:
            case 0:  # a write on the engine
                draft = RequestDraft("laholm", "sv", "child", "worry", URGENCIES[i % 3])
                await core.cases.create_request(draft, 20_000_000 + i)
            case 1:  # a read on the direct pool (conversation state)
                await core.store.load(chat_pseudonym(TEST_SECRET.encode(), 30_000_000 + i))
            case 2:  # a read on the engine
                await core.cases.queue(staff)
            case _:  # a write on the direct pool (the claim)
                await core.cases.claim(staff, codes[i % len(codes)])

    results = await asyncio.gather(*(one(i) for i in range(BURST)), return_exceptions=True)
    return [r for r in results if isinstance(r, BaseException)]


async def _core_with_requests(
    url: str, tmp_path: Path, **env: str
) -> tuple[Core, StaffUser, list[str]]:
    core = await build_core(make_settings(url, tmp_path, **env))
    await core.staff.create("anna", "a long enough password", "staff", frozenset({"laholm"}))
    staff = await core.staff.authenticate("anna", "a long enough password")
    assert staff is not None
    codes = []
    for i in range(5):
        draft = RequestDraft("laholm", "sv", "child", "worry", "soon")
        codes.append((await core.cases.create_request(draft, 10_000_000 + i)).code)
    return core, staff, codes


async def test_a_burst_stays_within_the_budget_and_waits_for_connections(
    limited_database: LimitedDatabase, tmp_path: Path
) -> None:
    core, staff, codes = await _core_with_requests(limited_database.url, tmp_path, **BUDGET)
    assert core.settings.db_connection_budget == LIMIT
    watcher = await asyncpg.connect(limited_database.admin_dsn, timeout=10)
    seen: list[int] = []
    try:
        burst = asyncio.ensure_future(_burst(core, staff, codes))
        while not burst.done():  # each count is one round trip; no timer anywhere
            seen.append(
                await watcher.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1",
                    limited_database.name,
                )
            )
        errors = await burst
    finally:
        await watcher.close()
        await core.close()
    assert errors == []  # all 50 finished: they waited for a connection, none was refused
    assert seen and max(seen) <= LIMIT, seen
    print(f"connections seen during the burst: max {max(seen)} in {len(seen)} samples")


async def test_a_budget_above_the_servers_limit_is_refused_by_the_server(
    limited_database: LimitedDatabase, tmp_path: Path
) -> None:
    """The instrument bites: a process allowed more than LIMIT connections hits the limit."""
    too_many = {"DB_POOL_SIZE": "4", "DB_MAX_OVERFLOW": "4", "DB_DIRECT_POOL_SIZE": "2"}
    core, staff, codes = await _core_with_requests(limited_database.url, tmp_path, **too_many)
    try:
        errors = await _burst(core, staff, codes)
    finally:
        await core.close()
    assert any("too many connections" in str(e) for e in errors), errors
