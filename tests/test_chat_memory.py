"""ChatMemory: the relay records what it sent and reads the chat's language through it."""

from __future__ import annotations

from datetime import date

from bot.chat.memory import ChatMemory
from bot.storage.database import Database
from bot.storage.sessions import SessionState, open_session_store

KEY = b"k" * 32
CHAT = 4711
TODAY = date(2026, 1, 5)


async def test_sent_ids_join_the_chat_and_the_language_is_the_chosen_one(
    database: Database,
) -> None:
    store = await open_session_store(database)
    try:
        memory = ChatMemory(store, KEY, ("sv", "en"), today=lambda: TODAY)
        assert await memory.language(CHAT) is None  # no state: nothing to remember
        await memory.remember_sent(CHAT, [5])  # and nothing is created for it
        assert await store.load(memory.pseudonym(CHAT)) is None

        state = SessionState(language="sv", message_ids=[1])
        assert await store.save(memory.pseudonym(CHAT), state, 1, TODAY)
        await memory.remember_sent(CHAT, [7, 8])
        stored = await store.load(memory.pseudonym(CHAT))
        assert stored is not None and {1, 7, 8} <= set(stored.message_ids)
        assert await memory.language(CHAT) == "sv"
        assert await ChatMemory(store, KEY, ("en",)).language(CHAT) is None  # not enabled
    finally:
        await store.close()
