"""Twenty staff claim one request at the same moment: exactly one wins, on both databases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain import RequestDraft, StaffUser
from bot.services.cases import CaseService
from bot.storage.database import Database

KEY = b"race-tests-secret-key-0123456789abcdef"
STAFF = [StaffUser(i, f"staff{i}", "staff", frozenset({"laholm"})) for i in range(1, 21)]
DRAFT = RequestDraft("laholm", "sv", "child", "worry", "urgent")


def fixed_now() -> datetime:
    return datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


async def claims_in_audit(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        query = text("SELECT count(*) FROM audit_event WHERE action = 'claim'")
        return (await conn.execute(query)).scalar_one()


@pytest.mark.parametrize("rounds", [5])
async def test_twenty_simultaneous_claims_have_one_winner(database: Database, rounds: int) -> None:
    service = CaseService(database, KEY, now=fixed_now)
    await claim_rounds(service, rounds)
    assert await claims_in_audit(database.engine) == rounds


async def claim_rounds(service: CaseService, rounds: int) -> None:
    for round_ in range(rounds):
        created = await service.create_request(DRAFT, 1000 + round_)
        results = await asyncio.gather(*(service.claim(s, created.code) for s in STAFF))
        winners = [s.username for s, r in zip(STAFF, results, strict=True) if r.won]
        assert len(winners) == 1, winners
        assert {r.holder for r in results} == {winners[0]}
        item = next(i for i in (await service.queue(STAFF[0])).items if i.code == created.code)
        assert item.claimed_by == winners[0]


async def test_separate_processes_worth_of_connections_have_one_winner(
    database_url: str, database: Database
) -> None:
    """On PostgreSQL every claimant has its own engine (own pool, own connection), as separate
    processes would; on SQLite separate engines share the file and its locking."""
    creator = CaseService(database, KEY, now=fixed_now)
    created = await creator.create_request(DRAFT, 42)
    databases = [Database.open(database_url) for _ in STAFF]
    services = [CaseService(d, KEY, now=fixed_now) for d in databases]
    try:
        # Open every connection first so the claims really start together.
        await asyncio.gather(*(s.queue(STAFF[0]) for s in services))
        start = asyncio.Event()

        async def claim(service: CaseService, staff: StaffUser) -> bool:
            await start.wait()
            return (await service.claim(staff, created.code)).won

        tasks = [asyncio.create_task(claim(s, u)) for s, u in zip(services, STAFF, strict=True)]
        await asyncio.sleep(0)  # let every task reach start.wait()
        start.set()
        won = await asyncio.gather(*tasks)
    finally:
        await asyncio.gather(*(d.close() for d in databases))
    assert sum(won) == 1
    assert await claims_in_audit(database.engine) == 1
