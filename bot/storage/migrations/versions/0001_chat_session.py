"""chat_session: where each (pseudonymous) relative is in the guide

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_session",
        sa.Column("pseudonym", sa.String(length=64), primary_key=True),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("team_id", sa.String(length=32), nullable=True),
        sa.Column("node", sa.String(length=32), nullable=False),
        sa.Column("page", sa.Integer(), nullable=False),
        sa.Column("menu_message_id", sa.BigInteger(), nullable=True),
        sa.Column("message_ids", sa.String(length=4000), nullable=False),
        sa.Column("recent_update_ids", sa.String(length=400), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_on", sa.Date(), nullable=False),
    )
    op.create_index("ix_chat_session_updated_on", "chat_session", ["updated_on"])


def downgrade() -> None:
    op.drop_index("ix_chat_session_updated_on", table_name="chat_session")
    op.drop_table("chat_session")
