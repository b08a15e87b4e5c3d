"""The sign-in brake in the database: counted before argon2, shared by every process.

Real SQLite and PostgreSQL (``database``); the hasher is wrapped to count how many
password checks really ran.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain import StaffUser
from bot.services.signin import ADDRESS, LOOKUP, PAIR, SignInService, forget_old_counters
from bot.services.staff import StaffService
from bot.storage.database import Database
from bot.storage.engine import create_engine
from bot.storage.models import AttemptCounter, table_of

KEY = b"k" * 40
GOOD = "correct horse battery staple"
TEAMS = frozenset({"laholm"})
ATTACKER, VICTIM = "203.0.113.9", "198.51.100.7"


class CountingHasher(PasswordHasher):
    """argon2 with cheap parameters that counts its password checks."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.checks = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.checks += 1
        return super().verify(hash, password)


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher()


async def _signin(
    database: Database, hasher: CountingHasher, clock: Clock, **kw: Any
) -> SignInService:
    staff = StaffService(database, TEAMS, hasher=hasher, now=clock)
    return SignInService(staff, KEY, now=clock, **kw)


@pytest.fixture
async def signin(database: Database, hasher: CountingHasher, clock: Clock) -> SignInService:
    service = await _signin(database, hasher, clock)
    await service.staff.create("anna", GOOD, "staff", TEAMS)
    hasher.checks = 0
    return service


async def test_a_burst_of_sixty_guesses_gets_only_the_free_checks(
    signin: SignInService, hasher: CountingHasher
) -> None:
    results = await asyncio.gather(
        *[signin.sign_in("anna", f"guess {n}", ATTACKER) for n in range(60)]
    )
    refused = [r for r in results if r.retry_after]
    assert hasher.checks <= PAIR.free
    assert len(refused) == 60 - hasher.checks and all(r.user is None for r in results)
    assert all(r.retry_after >= PAIR.delays[0] - 1 for r in refused)


async def test_the_victim_signs_in_from_elsewhere_while_the_attacker_guesses(
    signin: SignInService,
) -> None:
    attack = [signin.sign_in("anna", f"guess {n}", ATTACKER) for n in range(40)]
    results = await asyncio.gather(*attack[:20], signin.sign_in("anna", GOOD, VICTIM), *attack[20:])
    assert results[20].user is not None and results[20].user.username == "anna"
    # and once more after the burst: the attacker's failures are the attacker's alone
    assert (await signin.sign_in("anna", GOOD, VICTIM)).user is not None


async def test_the_right_password_in_the_burst_is_refused_like_the_rest(
    signin: SignInService, hasher: CountingHasher, clock: Clock
) -> None:
    for n in range(PAIR.free):
        assert (await signin.sign_in("anna", f"guess {n}", ATTACKER)).retry_after == 0
    right = await signin.sign_in("anna", GOOD, ATTACKER)
    assert right.user is None and right.retry_after > 0
    assert hasher.checks == PAIR.free  # refused before argon2: nothing learnt from it
    clock.advance(right.retry_after)
    assert (await signin.sign_in("anna", GOOD, ATTACKER)).user is not None
    # the success cleared the pair: the free allowance is there again
    for n in range(PAIR.free):
        assert (await signin.sign_in("anna", f"again {n}", ATTACKER)).retry_after == 0


async def test_the_delay_grows_with_each_failure_and_is_capped(
    signin: SignInService, clock: Clock
) -> None:
    waits = []
    for n in range(PAIR.free + len(PAIR.delays) + 2):
        result = await signin.sign_in("anna", f"guess {n}", ATTACKER)
        if result.retry_after:
            waits.append(result.retry_after)
            clock.advance(result.retry_after)
            result = await signin.sign_in("anna", f"guess {n}", ATTACKER)
            assert result.retry_after == 0
    assert waits == list(PAIR.delays) + [PAIR.delays[-1]] * 2


async def test_spraying_many_usernames_from_one_address_is_braked(
    signin: SignInService, hasher: CountingHasher
) -> None:
    for n in range(ADDRESS.free):
        assert (await signin.sign_in(f"user{n}", "guess", ATTACKER)).retry_after == 0
    sprayed = await signin.sign_in("someone-else", "guess", ATTACKER)
    assert sprayed.retry_after > 0 and hasher.checks == ADDRESS.free
    assert (await signin.sign_in("anna", GOOD, VICTIM)).user is not None


class HeldHasher(CountingHasher):
    """Each check waits until the test lets it go (a thread blocks, as argon2 would)."""

    def __init__(self) -> None:
        super().__init__()
        self.go = threading.Event()
        self.running = 0
        self.most_running = 0
        self._lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        with self._lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        try:
            assert self.go.wait(60), "the test never let the check go"
            return super().verify(hash, password)
        finally:
            with self._lock:
                self.running -= 1


async def test_argon2_is_capped_and_a_full_queue_is_refused_at_once(
    database: Database, clock: Clock
) -> None:
    held = HeldHasher()
    signin = await _signin(database, held, clock, workers=2, max_waiting=4)
    await signin.staff.create("anna", GOOD, "staff", TEAMS)
    tasks = [
        asyncio.create_task(signin.sign_in("anna", "guess", f"192.0.2.{n}")) for n in range(12)
    ]
    done: set[asyncio.Task[Any]] = set()
    async with asyncio.timeout(30):  # the refused ones answer while the four are held
        while len(done) < 12 - 4:
            finished, _ = await asyncio.wait(set(tasks) - done, return_when=asyncio.FIRST_COMPLETED)
            done |= finished
    assert len(done) == 12 - 4
    busy = [t.result() for t in done]
    assert all(r.busy and r.retry_after == 1 and r.user is None for r in busy)
    held.go.set()
    rest = await asyncio.gather(*(set(tasks) - done))
    assert all(r.user is None and not r.busy and r.retry_after == 0 for r in rest)
    assert held.checks == 4 and held.most_running <= 2
    # nothing was counted for the refused ones: their address still has its allowance
    refused_address = next(f"192.0.2.{n}" for n, t in enumerate(tasks) if t in done)
    assert (await signin.sign_in("anna", GOOD, refused_address)).user is not None


async def test_the_counters_hold_no_clear_address_or_username(
    signin: SignInService, engine: AsyncEngine
) -> None:
    await signin.sign_in("nobody-here", "guess", ATTACKER)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(table_of(AttemptCounter)))).mappings().all()
    assert {r["scope"] for r in rows} == {PAIR.scope, ADDRESS.scope}
    dumped = repr([dict(r) for r in rows])
    assert ATTACKER not in dumped and "nobody" not in dumped and "guess" not in dumped


async def test_case_code_misses_are_braked_per_account(signin: SignInService, clock: Clock) -> None:
    anna = StaffUser(id=1, username="anna", role="staff", teams=TEAMS)
    bo = StaffUser(id=2, username="bo", role="staff", teams=TEAMS)
    for _ in range(LOOKUP.free - 1):
        await signin.lookup_missed(anna)
        assert await signin.lookup_wait(anna) == 0
    await signin.lookup_missed(anna)
    assert await signin.lookup_wait(anna) == LOOKUP.delays[0]
    assert await signin.lookup_wait(bo) == 0
    clock.advance(LOOKUP.delays[0])
    assert await signin.lookup_wait(anna) == 0


async def test_two_instances_on_one_postgresql_share_the_counter(
    pg_database_url: str, hasher: CountingHasher, clock: Clock
) -> None:
    from bot.storage.migrate import upgrade
    from tests.conftest import _reset_postgres

    await asyncio.to_thread(_reset_postgres, pg_database_url)
    engines = [create_engine(pg_database_url), create_engine(pg_database_url)]
    databases = [Database(e) for e in engines]
    try:
        await upgrade(engines[0])
        first = await _signin(databases[0], hasher, clock)
        second = await _signin(databases[1], hasher, clock)
        await first.staff.create("anna", GOOD, "staff", TEAMS)
        hasher.checks = 0
        both = [
            (first if n % 2 else second).sign_in("anna", f"guess {n}", ATTACKER) for n in range(30)
        ]
        results = await asyncio.gather(*both)
        assert hasher.checks <= PAIR.free
        assert sum(1 for r in results if r.retry_after) == 30 - hasher.checks
        assert (await second.sign_in("anna", GOOD, ATTACKER)).retry_after > 0
        async with engines[0].connect() as conn:
            count = (await conn.execute(text("SELECT count(*) FROM attempt_counter"))).scalar()
        assert count == 2  # one pair, one address: the same rows for both instances
    finally:
        for database in databases:
            await database.close()
        for engine in engines:
            await engine.dispose()


async def test_the_purge_forgets_counters_past_every_brakes_memory(
    signin: SignInService, engine: AsyncEngine, clock: Clock
) -> None:
    await signin.sign_in("anna", "wrong", ATTACKER)

    async def rows() -> int:
        async with engine.connect() as conn:
            return len((await conn.execute(select(table_of(AttemptCounter)))).all())

    assert await rows() == 2
    clock.advance(1800)  # within the brakes' hour: kept
    assert await forget_old_counters(signin.staff.database, clock()) == 0
    assert await rows() == 2
    clock.advance(1801)  # past it: the purge round's call deletes them
    assert await forget_old_counters(signin.staff.database, clock()) == 2
    assert await rows() == 0
