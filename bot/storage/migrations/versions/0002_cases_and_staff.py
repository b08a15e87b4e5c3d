"""contact requests (cases), their encrypted contact links, staff accounts, audit

Revision ID: 0002
Revises: 0001
"""

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _utc(name: str, nullable: bool = True) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.add_column("chat_session", sa.Column("case_id", sa.Integer(), nullable=True))
    op.add_column("chat_session", sa.Column("draft", sa.String(length=4000), nullable=True))

    op.create_table(
        "case_request",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(length=7), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("concerns", sa.String(length=16), nullable=False),
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("urgency", sa.String(length=8), nullable=False),
        sa.Column("reply_via", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("claimed_by_id", sa.Integer(), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        _utc("claimed_at"),
        _utc("created_at", nullable=False),
        _utc("updated_at", nullable=False),
        _utc("first_claim_at"),
        _utc("first_reply_at"),
        _utc("last_staff_reply_at"),
        _utc("closed_at"),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.UniqueConstraint("code"),
    )
    op.create_index(
        "ix_case_request_queue", "case_request", ["team_id", "status", "urgency", "created_at"]
    )
    op.create_index("ix_case_request_closed_at", "case_request", ["closed_at"])

    op.create_table(
        "case_contact",
        sa.Column("case_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("chat_ref", sa.String(length=200), nullable=False),
        sa.Column("phone_ref", sa.String(length=200), nullable=True),
        _utc("delete_after"),
    )
    op.create_index("ix_case_contact_delete_after", "case_contact", ["delete_after"])

    op.create_table(
        "case_message",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=8), nullable=False),
        sa.Column("body", sa.String(length=3000), nullable=True),
        sa.Column("signature", sa.String(length=64), nullable=True),
        sa.Column("delivery", sa.String(length=200), nullable=True),
        _utc("created_at", nullable=False),
    )
    op.create_index("ix_case_message_case_id", "case_message", ["case_id"])

    op.create_table(
        "case_note",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("body", sa.String(length=3000), nullable=True),
        _utc("created_at", nullable=False),
    )
    op.create_index("ix_case_note_case_id", "case_note", ["case_id"])

    op.create_table(
        "canned_reply",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("body", sa.String(length=3000), nullable=False),
    )
    op.create_index("ix_canned_reply_team_language", "canned_reply", ["team_id", "language"])

    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), primary_key=True),
        _utc("at", nullable=False),
        sa.Column("staff", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("case_code", sa.String(length=7), nullable=True),
    )
    op.create_index("ix_audit_event_at", "audit_event", ["at"])

    op.create_table(
        "staff_account",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("display_name", sa.String(length=64), nullable=True),
        _utc("created_at", nullable=False),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "staff_team",
        sa.Column("staff_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("team_id", sa.String(length=32), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("staff_team")
    op.drop_table("staff_account")
    op.drop_index("ix_audit_event_at", table_name="audit_event")
    op.drop_table("audit_event")
    op.drop_index("ix_canned_reply_team_language", table_name="canned_reply")
    op.drop_table("canned_reply")
    op.drop_index("ix_case_note_case_id", table_name="case_note")
    op.drop_table("case_note")
    op.drop_index("ix_case_message_case_id", table_name="case_message")
    op.drop_table("case_message")
    op.drop_index("ix_case_contact_delete_after", table_name="case_contact")
    op.drop_table("case_contact")
    op.drop_index("ix_case_request_closed_at", table_name="case_request")
    op.drop_index("ix_case_request_queue", table_name="case_request")
    op.drop_table("case_request")
    with op.batch_alter_table("chat_session") as batch:
        batch.drop_column("draft")
        batch.drop_column("case_id")
