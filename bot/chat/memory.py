"""What a chat remembers between updates that others write to: messages sent, its language.

A staff reply or a close notice reaches the chat outside an update. The relay records
the ids it sent here (so "clear this chat" also removes them) and asks here which
language the chat chose. Both the conversation and the relay receive this one object,
so neither calls into the other: the graph is built once, without a cycle.

SECRET_KEYS rotation: pseudonyms are keyed hashes, so they cannot be re-keyed in bulk.
Each chat's state moves instead at its next read (``load``): the newest key's pseudonym
first (the only lookup for a chat already moved, so the hot path keeps its statements);
on a miss, each older key's pseudonym in order, and a row found is moved in one statement.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime

from bot.privacy import chat_pseudonym
from bot.storage.sessions import SessionState, SessionStore

log = logging.getLogger(__name__)


def _today() -> date:
    return datetime.now(UTC).date()


class ChatMemory:
    """The session store seen by chat id (pseudonymised here, as everywhere)."""

    def __init__(
        self,
        store: SessionStore,
        secret_key: bytes,
        languages: Iterable[str],
        today: Callable[[], date] = _today,
        old_keys: Sequence[bytes] = (),
    ) -> None:
        self.store = store
        self.secret_key = secret_key  # the newest: the only one that pseudonymises
        self.old_keys = tuple(old_keys)  # older keys, newest first: only to find moved chats
        self.languages = frozenset(languages)  # enabled languages: others are no choice
        self.today = today

    def pseudonym(self, chat_id: int) -> str:
        return chat_pseudonym(self.secret_key, chat_id)

    async def load(self, chat_id: int) -> tuple[str, SessionState | None]:
        """The chat's pseudonym and its state, moved from an older key's pseudonym if there."""
        pseudonym = self.pseudonym(chat_id)
        state = await self.store.load(pseudonym)
        if state is None and self.old_keys:
            state = await self._adopt(chat_id, pseudonym)
        return pseudonym, state

    async def _adopt(self, chat_id: int, pseudonym: str) -> SessionState | None:
        for key in self.old_keys:
            state = await self.store.move(chat_pseudonym(key, chat_id), pseudonym)
            if state is not None:
                log.info("a chat's state moved to the newest key's pseudonym")
                return state
        return None

    async def forget(self, chat_id: int) -> int:
        """Delete the chat's state under every key's pseudonym (the relative's "delete")."""
        removed = await self.store.delete(self.pseudonym(chat_id))
        for key in self.old_keys:
            removed += await self.store.delete(chat_pseudonym(key, chat_id))
        return removed

    async def remember_sent(self, chat_id: int, message_ids: list[int]) -> None:
        """Track messages sent outside an update (staff replies) so "clear this chat" finds them.

        A compare-and-set like every write; retried when an update wrote the chat meanwhile.
        """
        for _attempt in range(3):
            pseudonym, state = await self.load(chat_id)
            if state is None:
                return  # the relative deleted their data: nothing to attach the ids to
            state.track(*message_ids)
            if await self.store.save(pseudonym, state, None, self.today()):
                return
        log.info("sent message ids not remembered: the chat kept changing")

    async def language(self, chat_id: int) -> str | None:
        """The language this chat chose in the bot (None: no state, or no longer enabled).

        Messages sent outside an update (a staff reply's frame, the close notice) use it, so
        the bot keeps speaking the chat's language whatever the request's reply language.
        """
        _pseudonym, state = await self.load(chat_id)
        if state is None or state.language not in self.languages:
            return None
        return state.language
