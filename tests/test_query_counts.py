"""The hot paths' statement counts, pinned on SQLite and PostgreSQL.

Counted: every statement SQLAlchemy sends (its ``before_cursor_execute`` event) and every
statement sent straight to the driver (``Database.observe``: the session store's hot
SQLite connection and the one asyncpg pool). A server's background jobs (purge, auto-release,
statistics flush) run in tasks of their own and are not counted.

Each test fails when its path grows a statement: how is said beside each assertion.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event

from bot.domain import RequestDraft, StaffUser
from bot.runtime import Server
from bot.services.cases import CaseService
from bot.storage.database import Database
from tests.helpers import Relative, button_data
from tests.staff_helpers import StaffClient

KEY = b"query-count-tests-secret-key-0123456789"
LAHOLM = StaffUser(7, "anna", "staff", frozenset({"laholm"}))
OTHER = StaffUser(8, "bo", "staff", frozenset({"laholm"}))
DRAFT = RequestDraft("laholm", "sv", "child", "worry", "soon")

# README, "The per-update hot path skips the ORM": conversation state is read and written
# by two plain statements straight on the driver.
PER_UPDATE = 2
# One read transaction: the visible cases and the queue's counts. SQLite's BEGIN goes
# through the cursor (engine.py issues it), PostgreSQL's does not.
QUEUE = {"sqlite": 3, "postgresql": 2}
# The page: the session's account and teams, then the queue read (SQLite: a BEGIN each).
QUEUE_PAGE = {"sqlite": 6, "postgresql": 4}
# SQLite: BEGIN IMMEDIATE, the conditional UPDATE, the audit INSERT. PostgreSQL: one
# statement on the pool (UPDATE and audit INSERT in one CTE).
CLAIM_WON = {"sqlite": 3, "postgresql": 1}
# A lost claim also reads who holds the case (SQLite in the same transaction).
CLAIM_LOST = {"sqlite": 3, "postgresql": 2}


def in_background_job() -> bool:
    """Whether the running task is one of the server's periodic loops (``Server.*_loop``)."""
    task = asyncio.current_task()
    name = getattr(task.get_coro(), "__qualname__", "") if task is not None else ""
    return name.startswith("Server.") and name.endswith("_loop")


@contextmanager
def counting(database: Database) -> Iterator[list[str]]:
    """The statements sent while the block runs, except from the server's background jobs."""
    seen: list[str] = []

    def note(sql: str) -> None:
        if not in_background_job():
            seen.append(" ".join(sql.split())[:120])

    def on_cursor(*args: Any) -> None:  # (conn, cursor, statement, parameters, ...)
        note(args[2])

    event.listen(database.engine.sync_engine, "before_cursor_execute", on_cursor)
    stop = database.observe(note)
    try:
        yield seen
    finally:
        stop()
        event.remove(database.engine.sync_engine, "before_cursor_execute", on_cursor)


def dialect(database: Database) -> str:
    return "sqlite" if database.is_sqlite else "postgresql"


async def test_a_button_tap_costs_at_most_the_statements_the_readme_promises(
    preview_server: Server,
) -> None:
    core = preview_server.core
    assert core is not None and preview_server.emulator is not None
    relative = Relative(preview_server.emulator)
    home = await relative.onboard("sv", "laholm")
    guide = next(
        code for code in button_data(home) if code.startswith("g:") and code != "g:contact"
    )
    with counting(core.database) as seen:
        screen = await relative.taps(guide)
    assert screen["message_id"], "the tap was answered"
    # Fails when the tap grows a statement: e.g. reading the chat's case on every update, a
    # write per sent message id, or the state going through SQLAlchemy (BEGIN counted).
    assert 1 <= len(seen) <= PER_UPDATE, seen


async def _cases(service: CaseService, count: int, first_chat: int) -> list[str]:
    return [(await service.create_request(DRAFT, first_chat + i)).code for i in range(count)]


def _service(database: Database) -> CaseService:
    return CaseService(database, KEY, now=lambda: datetime(2026, 5, 4, 9, 0, tzinfo=UTC))


async def test_the_queue_costs_the_same_for_5_and_50_cases(database: Database) -> None:
    service = _service(database)
    await _cases(service, 5, 1000)
    with counting(database) as five:
        queue = await service.queue(LAHOLM)
    assert queue.total == 5
    await _cases(service, 45, 2000)
    with counting(database) as fifty:
        queue = await service.queue(LAHOLM)
    assert queue.total == 50 and len(queue.items) == 50
    # Fails on an N+1: one more statement per case (e.g. each case's contact link or last
    # message read for its row) makes 50 cases cost more than 5.
    assert len(five) == len(fifty) == QUEUE[dialect(database)], (five, fifty)


async def test_the_queue_page_costs_the_same_for_5_and_50_cases(
    preview_server: Server,
) -> None:
    core = preview_server.core
    assert core is not None
    await core.staff.create("anna", "query count password 0123", "staff", frozenset({"laholm"}))
    client = StaffClient(preview_server)
    try:
        await client.sign_in("anna", "query count password 0123")
        await _cases(core.cases, 5, 1000)
        with counting(core.database) as five:
            await client.get("/staff/queue")
        assert client.status == 200
        await _cases(core.cases, 45, 2000)
        with counting(core.database) as fifty:
            page = await client.get("/staff/queue")
        assert client.status == 200 and page.count("/staff/cases/") >= 50
    finally:
        await client.close()
    # Fails when the page or its session check reads per case (an N+1 in a view or template).
    assert len(five) == len(fifty) <= QUEUE_PAGE[dialect(core.database)], (five, fifty)


async def test_a_claim_is_one_statement_on_postgresql_and_one_transaction_on_sqlite(
    database: Database,
) -> None:
    service = _service(database)
    (code,) = await _cases(service, 1, 1000)
    with counting(database) as won:
        assert (await service.claim(LAHOLM, code)).won
    with counting(database) as lost:
        result = await service.claim(OTHER, code)
    assert (result.won, result.holder) == (False, "anna")
    # Fails when the PostgreSQL claim leaves its one CTE (e.g. back through SQLAlchemy:
    # BEGIN, UPDATE, INSERT) or SQLite's claim takes another statement (e.g. a visibility
    # read before the UPDATE).
    assert len(won) == CLAIM_WON[dialect(database)], won
    assert len(lost) == CLAIM_LOST[dialect(database)], lost
