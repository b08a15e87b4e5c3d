"""staff accounts: one-time set-password links (an admin adds an account in the browser)

Revision ID: 0010
Revises: 0009

Why: issue #12 asks that an admin can add a staff account without typing a password into
a terminal. The admin gets a one-time link to pass on; the new person opens it and chooses
a password. ``staff_invite`` holds one row per link issued: only a keyed digest of the
random token (never the token), the account it is for, who issued it (a staff username),
when it expires and when it was used. A link is used once: the service sets ``used_at``
by compare-and-set (``UPDATE ... WHERE used_at IS NULL``).
"""

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _utc(name: str, nullable: bool = True) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "staff_invite",
        sa.Column("digest", sa.String(length=64), primary_key=True),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        _utc("created_at", nullable=False),
        _utc("expires_at", nullable=False),
        _utc("used_at"),
    )
    op.create_index("ix_staff_invite_staff_id", "staff_invite", ["staff_id"])
    op.create_index("ix_staff_invite_expires_at", "staff_invite", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_staff_invite_expires_at", table_name="staff_invite")
    op.drop_index("ix_staff_invite_staff_id", table_name="staff_invite")
    op.drop_table("staff_invite")
