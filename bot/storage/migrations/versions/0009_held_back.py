"""contact requests: how many of the relative's messages were held back by the hourly cap

Revision ID: 0009
Revises: 0008

Why: issue #11 caps the relative's messages stored per request per hour (a flood must not
fill a case). What goes over the cap is not stored; staff see on the case page that N
messages were held back, and the relative is told once per episode that the team will
read their earlier messages first. ``held_back`` counts them (never their text);
``held_back_at`` is the last one, so a new episode (an hour after the last) tells the
relative again.
"""

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _held_back_at() -> sa.Column[datetime]:
    return sa.Column("held_back_at", sa.DateTime(timezone=True), nullable=True)


def upgrade() -> None:
    op.add_column(
        "case_request",
        sa.Column("held_back", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("case_request", _held_back_at())


def downgrade() -> None:
    with op.batch_alter_table("case_request") as batch:
        batch.drop_column("held_back_at")
        batch.drop_column("held_back")
