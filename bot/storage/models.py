"""Tables. Nothing here may hold a Telegram id, username, name or message text in clear.

The only links to a chat are ``pseudonym`` (a keyed hash of the chat id, see
``bot.privacy``) and ``case_contact`` (the chat id of a relative who asked for
contact, encrypted, deleted soon after the case closes). Message texts of cases
are kept only until ``text_retention_days`` after closing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Dialect, Index, Table, Text
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always UTC and always comes back timezone-aware.

    Why: SQLite stores no zone and hands timestamps back naive; PostgreSQL's timestamptz
    comes back aware. Repairing that here means no caller ever compares naive and aware.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            return value.astimezone(UTC)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


def _utc(*, nullable: bool = True, index: bool = False) -> Column[datetime]:
    """A timezone-aware timestamp column (always written in UTC)."""
    return Column(UTCDateTime(), nullable=nullable, index=index)


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
    # The chat's current contact request (cleared when its contact link is purged) and the
    # JSON of a contact request the relative has not confirmed yet.
    case_id: int | None = Field(default=None)
    draft: str | None = Field(default=None, max_length=4000)


class CaseRequest(SQLModel, table=True):
    """A contact request: a random code and coarse answers, never who the relative is."""

    __tablename__ = "case_request"
    __table_args__ = (Index("ix_case_request_queue", "team_id", "status", "urgency", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=7, unique=True)  # "XXX-XXX"
    team_id: str = Field(max_length=32)
    language: str = Field(max_length=16)
    concerns: str = Field(max_length=16)
    topic: str = Field(max_length=32)
    urgency: str = Field(max_length=8)
    reply_via: str = Field(max_length=8)
    status: str = Field(max_length=16)
    claimed_by_id: int | None = Field(default=None)
    claimed_by: str | None = Field(default=None, max_length=64)  # staff username
    claimed_at: datetime | None = Field(default=None, sa_column=_utc())
    created_at: datetime = Field(sa_column=_utc(nullable=False))
    # Every change stamps updated_at and bumps version: the queue's cheap fingerprint.
    updated_at: datetime = Field(sa_column=_utc(nullable=False))
    first_claim_at: datetime | None = Field(default=None, sa_column=_utc())
    first_reply_at: datetime | None = Field(default=None, sa_column=_utc())
    last_staff_reply_at: datetime | None = Field(default=None, sa_column=_utc())
    closed_at: datetime | None = Field(default=None, sa_column=_utc(index=True))
    outcome: str | None = Field(default=None, max_length=32)
    version: int = Field(default=0)
    # (migration 0005) The relative is told once that staff closed the request: NULL until
    # then, "sent" once told (or tried), "answered" after their one tap on "Did the contact
    # help?" (only that they answered, never what; the answer is only an anonymous count).
    close_notice: str | None = Field(default=None, max_length=8)
    # (migration 0009) The relative's messages over the hourly cap: how many were held back
    # (not stored; never their text) and when the last was, for the case page.
    held_back: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    held_back_at: datetime | None = Field(default=None, sa_column=_utc())


class CaseContact(SQLModel, table=True):
    """The only way back to the relative, kept apart and encrypted (see link_crypto)."""

    __tablename__ = "case_contact"

    case_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    chat_ref: str = Field(max_length=200)
    phone_ref: str | None = Field(default=None, max_length=200)
    # None while the case is open or claimed; set when it closes.
    delete_after: datetime | None = Field(default=None, sa_column=_utc(index=True))


class CaseMessage(SQLModel, table=True):
    """One message of a case; ``body`` becomes NULL when text retention has passed."""

    __tablename__ = "case_message"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(index=True)
    author: str = Field(max_length=8)  # relative, staff, system
    body: str | None = Field(default=None, max_length=3000)
    signature: str | None = Field(default=None, max_length=64)
    delivery: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(sa_column=_utc(nullable=False))


class CaseNote(SQLModel, table=True):
    """An internal note by staff; never shown to the relative."""

    __tablename__ = "case_note"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(index=True)
    author: str = Field(max_length=64)  # staff username
    body: str | None = Field(default=None, max_length=3000)
    created_at: datetime = Field(sa_column=_utc(nullable=False))


class CannedReply(SQLModel, table=True):
    __tablename__ = "canned_reply"
    __table_args__ = (Index("ix_canned_reply_team_language", "team_id", "language"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    language: str = Field(max_length=16)
    title: str = Field(max_length=100)
    body: str = Field(max_length=3000)


class AuditEvent(SQLModel, table=True):
    """Who did what to which case, when: never any message content."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=_utc(nullable=False, index=True))
    staff: str = Field(max_length=64)  # username, or "system"
    action: str = Field(max_length=32)
    case_code: str | None = Field(default=None, max_length=7)
    # sign-ins: a keyed digest of the client address (never the address; migration 0006)
    address: str | None = Field(default=None, max_length=32)
    # a team-setting change (migration 0011): which team, never the values' source text
    team_id: str | None = Field(default=None, max_length=32)


class AttemptCounter(SQLModel, table=True):
    """Failures in a window, shared by all processes (the sign-in and case-lookup brakes).

    Keyed by scope and keyed digests (``bot.services.signin``): no clear address or username.
    """

    __tablename__ = "attempt_counter"

    scope: str = Field(primary_key=True, max_length=8)  # pair, addr, lookup
    address_key: str = Field(default="", primary_key=True, max_length=64)
    account_key: str = Field(default="", primary_key=True, max_length=64)
    failures: int = Field(default=0)
    window_start: datetime = Field(sa_column=_utc(nullable=False, index=True))
    blocked_until: datetime | None = Field(default=None, sa_column=_utc())


class StaffAccount(SQLModel, table=True):
    __tablename__ = "staff_account"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    password_hash: str = Field(max_length=200)  # argon2id
    role: str = Field(max_length=16)
    active: bool = Field(default=True)
    display_name: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_column=_utc(nullable=False))


class StaffTeam(SQLModel, table=True):
    __tablename__ = "staff_team"

    staff_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    team_id: str = Field(primary_key=True, max_length=32)


class StaffSession(SQLModel, table=True):
    """One signed-in browser or API token (migration 0007); only a keyed digest of its id.

    No address and no full user-agent string: ``agent`` is a family ("Firefox", "other").
    """

    __tablename__ = "staff_session"

    digest: str = Field(primary_key=True, max_length=64)  # HMAC-SHA256 of the random id
    staff_id: int = Field(index=True)
    kind: str = Field(max_length=8)  # cookie | token
    created_at: datetime = Field(sa_column=_utc(nullable=False))
    last_active_at: datetime = Field(sa_column=_utc(nullable=False, index=True))
    expires_at: datetime = Field(sa_column=_utc(nullable=False, index=True))
    agent: str = Field(max_length=16)


class StaffMfa(SQLModel, table=True):
    """An account's TOTP second factor (migration 0008): the secret sealed, never in clear.

    ``last_step`` is the last accepted 30-second step: a code is accepted once.
    """

    __tablename__ = "staff_mfa"

    staff_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    secret_sealed: str = Field(max_length=400)
    confirmed: bool = Field(default=False)
    last_step: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = Field(sa_column=_utc(nullable=False))
    confirmed_at: datetime | None = Field(default=None, sa_column=_utc())


class StaffRecoveryCode(SQLModel, table=True):
    """One-time recovery codes (migration 0008): keyed digests only."""

    __tablename__ = "staff_recovery_code"

    staff_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    digest: str = Field(primary_key=True, max_length=64)
    used_at: datetime | None = Field(default=None, sa_column=_utc())


class StaffIdentity(SQLModel, table=True):
    """An identity provider's issuer and subject linked to a staff account (migration 0008)."""

    __tablename__ = "staff_identity"

    issuer: str = Field(primary_key=True, max_length=255)
    subject: str = Field(primary_key=True, max_length=255)
    staff_id: int = Field(index=True)
    created_at: datetime = Field(sa_column=_utc(nullable=False))
    last_login_at: datetime | None = Field(default=None, sa_column=_utc())


class StaffInvite(SQLModel, table=True):
    """A one-time set-password link (migration 0010): only a keyed digest of its token."""

    __tablename__ = "staff_invite"

    digest: str = Field(primary_key=True, max_length=64)  # HMAC-SHA256 of the random token
    staff_id: int = Field(index=True)
    created_by: str = Field(max_length=64)  # the admin's username
    created_at: datetime = Field(sa_column=_utc(nullable=False))
    expires_at: datetime = Field(sa_column=_utc(nullable=False, index=True))
    used_at: datetime | None = Field(default=None, sa_column=_utc())


class TeamSetting(SQLModel, table=True):
    """An admin's languages served and opening hours over a team's file (migration 0011).

    ``overrides`` is JSON with only the overridden groups; no row: the file's values.
    """

    __tablename__ = "team_setting"

    team_id: str = Field(primary_key=True, max_length=32)
    overrides: str = Field(sa_column=Column(Text, nullable=False))
    changed_by: str = Field(max_length=64)  # the admin's username
    changed_at: datetime = Field(sa_column=_utc(nullable=False))


class StatsCounter(SQLModel, table=True):
    """An anonymous daily count: no user key, no time finer than the day (see services.stats)."""

    __tablename__ = "stats_counter"
    __table_args__ = (
        Index("ix_stats_counter_team_kind_day", "team_id", "kind", "day"),
        # all-teams reports read a few kinds over a period (migration 0004)
        Index("ix_stats_counter_kind_day", "kind", "day", "team_id"),
    )

    day: date = Field(primary_key=True)
    team_id: str = Field(default="", primary_key=True, max_length=32)  # '' = none
    language: str = Field(default="", primary_key=True, max_length=16)  # '' = unknown
    kind: str = Field(primary_key=True, max_length=32)
    key: str = Field(default="", primary_key=True, max_length=96)  # node/option id, never text
    count: int = Field(default=0)


class StatsRollup(SQLModel, table=True):
    """Counters summed over language for one grid period (migration 0012, stats_rollup)."""

    __tablename__ = "stats_rollup"
    __table_args__ = (
        Index("ix_stats_rollup_period_kind", "period_kind", "period_start", "kind", "team_id"),
        Index("ix_stats_rollup_team_period", "team_id", "period_kind", "kind", "period_start"),
    )

    period_kind: str = Field(primary_key=True, max_length=8)  # day|week|month|quarter|year
    period_start: date = Field(primary_key=True)
    team_id: str = Field(default="", primary_key=True, max_length=32)  # '' = none
    kind: str = Field(primary_key=True, max_length=32)
    key: str = Field(default="", primary_key=True, max_length=96)
    count: int = Field(default=0)


class StatsRollupState(SQLModel, table=True):
    """The rollups' watermark: every counter day up to ``through`` is rolled up."""

    __tablename__ = "stats_rollup_state"

    name: str = Field(primary_key=True, max_length=32)
    through: date


class StatsBookFigure(SQLModel, table=True):
    """One published figure of the statistics (migration 0013, stats_book): a count per
    kind, grid cell and unit (a team, '' none, '*' all teams, 'group:...' a team group),
    with how every report shows it. Written once, never changed (issue #13)."""

    __tablename__ = "stats_book"
    # One report's cell of every kind (the guide's usage rows are read by prefix, 0014).
    __table_args__ = (Index("ix_stats_book_cell", "first_day", "level", "unit"),)

    # a counter kind, or a breakdown's row ("usage_move#home>talk"; migration 0014: 128)
    kind: str = Field(primary_key=True, max_length=128)
    level: str = Field(primary_key=True, max_length=8)  # day|week|month|quarter|year
    first_day: date = Field(primary_key=True)
    unit: str = Field(default="", primary_key=True, max_length=40)
    count: int = Field(default=0)
    mark: str = Field(max_length=12)  # shown|small|complement|withheld|free


class StatsBookState(SQLModel, table=True):
    """The stored book's last day, and its units and team groups (JSON)."""

    __tablename__ = "stats_book_state"

    name: str = Field(primary_key=True, max_length=32)
    through: date
    units: str = Field(sa_column=Column(Text, nullable=False))  # JSON list of unit names
    groups: str = Field(sa_column=Column(Text, nullable=False))  # JSON {group: [teams]}


class StatsDailySeen(SQLModel, table=True):
    """Today's keyed digests for distinct relatives; folded into a count and deleted next day."""

    __tablename__ = "stats_daily_seen"

    day: date = Field(primary_key=True)
    digest: str = Field(primary_key=True, max_length=32)  # keyed per day and team, truncated
    team_id: str = Field(default="", max_length=32)  # '' = none chosen yet


metadata = SQLModel.metadata


def table_of(model: type[SQLModel]) -> Table:
    """A model's Core table, typed (sqlmodel declares ``__table__`` to no type checker)."""
    name = model.__tablename__
    assert isinstance(name, str)
    return metadata.tables[name]
