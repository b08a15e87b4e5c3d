"""Tables. Nothing here may hold a Telegram id, username, name or message text.

The only link to a chat is ``pseudonym``: a keyed hash of the chat id
(see ``bot.privacy``), useless without the deployment's SECRET_KEY.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel


class ChatSession(SQLModel, table=True):
    """Where one relative is in the guide, so restarts and other processes lose nothing."""

    __tablename__ = "chat_session"

    pseudonym: str = Field(primary_key=True, max_length=64)
    language: str | None = Field(default=None, max_length=16)
    team_id: str | None = Field(default=None, max_length=32)
    # "" until the relative has answered the municipality question; "none" = no municipality.
    node: str = Field(default="home", max_length=32)
    page: int = Field(default=0)
    # The message navigation edits in place, and the ids "clear this chat" deletes.
    menu_message_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    message_ids: str = Field(default="[]", max_length=4000)
    # Updates are delivered at least once: an update_id seen recently is ignored. Telegram may
    # restart update ids at a random value after a quiet week, so "older" means nothing.
    recent_update_ids: str = Field(default="[]", max_length=400)
    # Optimistic concurrency: a write only lands on the version it read.
    version: int = Field(default=0)
    # Day granularity is enough for retention and reveals less about habits.
    updated_on: date = Field(index=True)


metadata = SQLModel.metadata
