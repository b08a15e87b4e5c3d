"""Conversation state on SQLite and PostgreSQL: round trips, compare-and-set, retention, schema."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.privacy import chat_pseudonym
from bot.storage import cases as cases_db
from bot.storage.database import Database
from bot.storage.migrate import upgrade
from bot.storage.models import ChatSession, metadata, table_of
from bot.storage.sessions import (
    MAX_TRACKED_MESSAGES,
    SessionState,
    SessionStore,
    open_session_store,
)

table = table_of(ChatSession)

TODAY = date(2026, 5, 4)
KEY = b"k" * 32
ALICE = chat_pseudonym(KEY, 111)
BOB = chat_pseudonym(KEY, 222)


@pytest.fixture
async def store(database: Database) -> AsyncIterator[SessionStore]:
    opened = await open_session_store(database)
    try:
        yield opened
    finally:
        await opened.close()


def state(**changes: object) -> SessionState:
    base = SessionState(
        language="sv",
        team_id="laholm",
        node="worry",
        page=1,
        menu_message_id=42,
        message_ids=[40, 41, 42],
    )
    for key, value in changes.items():
        setattr(base, key, value)
    return base


async def node_of(store: SessionStore, pseudonym: str) -> str:
    loaded = await store.load(pseudonym)
    assert loaded is not None, "nothing stored for this chat"
    return loaded.node


async def count_rows(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table))).scalar_one()


# --- save and load -------------------------------------------------------------------


async def test_saved_session_loads_back_equal(store: SessionStore) -> None:
    assert await store.save(ALICE, state(), 10, TODAY) is True
    assert await store.load(ALICE) == state(recent_update_ids=[10], version=1)


async def test_case_pointer_and_draft_round_trip(store: SessionStore) -> None:
    draft = {"concerns": "child", "topic": "online", "text": "Hon är 16 år – “citat” och \\"}
    assert await store.save(ALICE, state(case_id=7, draft=draft), 10, TODAY) is True
    loaded = await store.load(ALICE)
    assert loaded == state(case_id=7, draft=draft, recent_update_ids=[10], version=1)
    assert loaded is not None
    loaded.case_id, loaded.draft = None, None
    assert await store.save(ALICE, loaded, 11, TODAY) is True
    again = await store.load(ALICE)
    assert again is not None and again.case_id is None and again.draft is None


async def test_a_draft_too_large_for_its_column_is_refused(store: SessionStore) -> None:
    with pytest.raises(ValueError):
        await store.save(ALICE, state(draft={"text": "x" * 5000}), 1, TODAY)
    assert await store.load(ALICE) is None


async def test_unknown_pseudonym_loads_as_none(store: SessionStore) -> None:
    assert await store.load(ALICE) is None


async def test_large_telegram_ids_round_trip(store: SessionStore) -> None:
    big = 2**40
    await store.save(ALICE, state(menu_message_id=big, message_ids=[big]), big, TODAY)
    loaded = await store.load(ALICE)
    assert loaded is not None
    assert (loaded.menu_message_id, loaded.message_ids, loaded.recent_update_ids) == (
        big,
        [big],
        [big],
    )


async def test_empty_session_round_trips(store: SessionStore) -> None:
    await store.save(ALICE, SessionState(), 1, TODAY)
    assert await store.load(ALICE) == SessionState(recent_update_ids=[1], version=1)


async def test_sessions_are_kept_apart(store: SessionStore) -> None:
    await store.save(ALICE, state(node="talk"), 5, TODAY)
    await store.save(BOB, state(node="why"), 5, TODAY)
    assert await node_of(store, ALICE) == "talk"
    assert await node_of(store, BOB) == "why"


# --- at least once, effect once ------------------------------------------------------


async def test_a_saved_update_id_is_recognised_as_seen(store: SessionStore) -> None:
    await store.save(ALICE, state(node="talk"), 10, TODAY)
    loaded = await store.load(ALICE)
    assert loaded is not None
    assert loaded.seen(10) and not loaded.seen(11) and not loaded.seen(9)


async def test_lower_update_id_after_a_reset_is_still_applied(store: SessionStore) -> None:
    """Telegram may restart update ids at random after a quiet week."""
    first = state(node="talk")
    await store.save(ALICE, first, 1_000_000, TODAY)
    loaded = await store.load(ALICE)
    assert loaded is not None
    loaded.node = "why"
    assert await store.save(ALICE, loaded, 17, TODAY) is True
    again = await store.load(ALICE)
    assert again is not None and again.node == "why" and again.seen(17)


async def test_stale_writer_loses_to_the_one_that_wrote_first(store: SessionStore) -> None:
    await store.save(ALICE, state(node="talk"), 1, TODAY)
    reader_a = await store.load(ALICE)
    reader_b = await store.load(ALICE)
    assert reader_a is not None and reader_b is not None
    reader_a.node, reader_b.node = "why", "online"
    assert await store.save(ALICE, reader_a, 2, TODAY) is True
    assert await store.save(ALICE, reader_b, 3, TODAY) is False
    assert await node_of(store, ALICE) == "why"


async def test_two_new_states_for_one_chat_insert_once(store: SessionStore) -> None:
    assert await store.save(ALICE, state(node="talk"), 1, TODAY) is True
    assert await store.save(ALICE, state(node="why"), 2, TODAY) is False
    assert await node_of(store, ALICE) == "talk"


async def test_only_the_last_16_update_ids_are_remembered(store: SessionStore) -> None:
    current = state()
    for update_id in range(1, 21):
        assert await store.save(ALICE, current, update_id, TODAY)
    loaded = await store.load(ALICE)
    assert loaded is not None and loaded.recent_update_ids == list(range(5, 21))


async def test_save_stores_at_most_the_newest_100_message_ids(store: SessionStore) -> None:
    await store.save(ALICE, state(message_ids=list(range(1, 151))), 1, TODAY)
    loaded = await store.load(ALICE)
    assert loaded is not None
    assert loaded.message_ids == list(range(51, 151))


# --- SessionState.track --------------------------------------------------------------


def test_track_appends_newest_last() -> None:
    s = SessionState()
    s.track(5, 6)
    s.track(7)
    assert s.message_ids == [5, 6, 7]


def test_track_ignores_duplicates_and_none() -> None:
    s = SessionState(message_ids=[5])
    s.track(5, None, 6, 6)
    assert s.message_ids == [5, 6]


def test_track_keeps_only_the_newest_100() -> None:
    s = SessionState()
    s.track(*range(1, 131))
    assert len(s.message_ids) == MAX_TRACKED_MESSAGES == 100
    assert s.message_ids[0] == 31 and s.message_ids[-1] == 130


# --- deleting ------------------------------------------------------------------------


async def test_delete_session_removes_only_that_chat(store: SessionStore) -> None:
    await store.save(ALICE, state(), 1, TODAY)
    await store.save(BOB, state(), 1, TODAY)
    assert await store.delete(ALICE) == 1
    assert await store.load(ALICE) is None
    assert await store.load(BOB) is not None


async def test_delete_of_unknown_session_removes_nothing(store: SessionStore) -> None:
    assert await store.delete(ALICE) == 0


async def test_purge_deletes_only_sessions_idle_before_the_cutoff(store: SessionStore) -> None:
    cutoff = TODAY - timedelta(days=30)
    await store.save(ALICE, state(), 1, cutoff - timedelta(days=1))
    await store.save(BOB, state(), 1, cutoff)
    assert await store.purge_idle(cutoff) == 1
    assert await store.load(ALICE) is None
    assert await store.load(BOB) is not None


async def test_using_a_session_again_saves_it_from_purge(
    engine: AsyncEngine, store: SessionStore
) -> None:
    cutoff = TODAY - timedelta(days=30)
    current = state()
    await store.save(ALICE, current, 1, cutoff - timedelta(days=5))
    assert await store.save(ALICE, current, 2, TODAY)
    assert await store.purge_idle(cutoff) == 0
    assert await count_rows(engine) == 1


# --- schema --------------------------------------------------------------------------


async def test_upgrade_twice_is_harmless_and_keeps_data(
    engine: AsyncEngine, store: SessionStore
) -> None:
    await store.save(ALICE, state(), 1, TODAY)
    await upgrade(engine)
    assert await store.load(ALICE) == state(recent_update_ids=[1], version=1)


async def test_migrations_create_the_updated_on_index(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        indexes = await conn.run_sync(lambda c: inspect(c).get_indexes("chat_session"))
    assert any(ix["column_names"] == ["updated_on"] for ix in indexes)


async def test_models_match_the_migrations(engine: AsyncEngine) -> None:
    def diff(sync_conn: Connection) -> Any:
        context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
        return compare_metadata(context, metadata)

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []


# --- pseudonyms ----------------------------------------------------------------------


def test_pseudonym_is_64_hex_characters() -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", chat_pseudonym(KEY, 123456789))


def test_pseudonym_is_stable_for_the_same_key_and_chat() -> None:
    assert chat_pseudonym(KEY, 123456789) == chat_pseudonym(bytes(KEY), 123456789)


def test_pseudonym_differs_between_chats() -> None:
    assert chat_pseudonym(KEY, 123456789) != chat_pseudonym(KEY, 123456788)


def test_pseudonym_differs_under_another_key() -> None:
    assert chat_pseudonym(KEY, 123456789) != chat_pseudonym(b"j" * 32, 123456789)


@pytest.mark.parametrize("chat_id", [123456789, 987654321, -1001234567890, 5550001234])
def test_pseudonym_does_not_contain_the_chat_id(chat_id: int) -> None:
    pseudonym = chat_pseudonym(KEY, chat_id)
    assert str(abs(chat_id)) not in pseudonym
    assert f"{abs(chat_id):x}" not in pseudonym


# --- the Database object and its timestamps ------------------------------------------


async def test_timestamps_come_back_timezone_aware_in_utc(database: Database) -> None:
    """SQLite stores no zone; the column type gives every timestamp back as UTC."""
    stockholm = timezone(timedelta(hours=1))
    at = datetime(2026, 5, 4, 10, 30, tzinfo=stockholm)
    values = {
        "team_id": "laholm",
        "language": "sv",
        "concerns": "child",
        "topic": "worry",
        "urgency": "soon",
        "reply_via": "chat",
        "status": "open",
        "created_at": at,
        "updated_at": at,
        "version": 1,
    }
    async with database.write_tx() as conn:
        case_id, _code = await cases_db.insert_with_fresh_code(conn, values, lambda: "AAA-AAA")
    async with database.read_tx() as conn:
        row = await cases_db.case_by_id(conn, case_id)
    assert row is not None
    assert row.created_at == at and row.created_at.utcoffset() == UTC.utcoffset(None)


async def test_one_driver_connection_for_the_process(database: Database) -> None:
    """The session store and the claims share the Database's pool (or hot SQLite file)."""
    if database.is_sqlite:
        assert database.hot() is database.hot()
    else:
        first = await database.pool()
        assert await database.pool() is first
    stored = await open_session_store(database)
    assert await stored.save(ALICE, state(), 1, TODAY) is True
    await database.close()
    if not database.is_sqlite:
        assert first.is_closing()  # closed with the Database, not by the store
