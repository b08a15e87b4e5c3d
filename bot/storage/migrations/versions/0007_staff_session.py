"""staff sessions on the server: a signed-in cookie or API token is valid only while its row is

Revision ID: 0007
Revises: 0006

Why: a sealed cookie or bearer token alone cannot be taken back; a copied one kept working
after sign-out or a password change. Each sign-in now has a row, keyed by a keyed digest
(HMAC-SHA256 under SECRET_KEY) of the random id the cookie or token carries, never the id
itself. The row holds the account, the kind ("cookie" or "token"), its times and the
browser's user-agent family only ("Firefox", "Chrome", "other"): no address, no full
user-agent string. Deleting the rows signs the account out everywhere at once.
"""

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _utc(name: str) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "staff_session",
        sa.Column("digest", sa.String(length=64), primary_key=True),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        _utc("created_at"),
        _utc("last_active_at"),
        _utc("expires_at"),
        sa.Column("agent", sa.String(length=16), nullable=False),
    )
    op.create_index("ix_staff_session_staff_id", "staff_session", ["staff_id"])
    op.create_index("ix_staff_session_expires_at", "staff_session", ["expires_at"])
    op.create_index("ix_staff_session_last_active_at", "staff_session", ["last_active_at"])


def downgrade() -> None:
    op.drop_index("ix_staff_session_last_active_at", table_name="staff_session")
    op.drop_index("ix_staff_session_expires_at", table_name="staff_session")
    op.drop_index("ix_staff_session_staff_id", table_name="staff_session")
    op.drop_table("staff_session")
