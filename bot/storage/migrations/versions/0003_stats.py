"""anonymous statistics: daily counters and today's distinct-relative digests

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stats_counter",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=96), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "team_id", "language", "kind", "key"),
    )
    op.create_index("ix_stats_counter_team_kind_day", "stats_counter", ["team_id", "kind", "day"])
    op.create_table(
        "stats_daily_seen",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("digest", sa.String(length=32), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("day", "digest"),
    )


def downgrade() -> None:
    op.drop_table("stats_daily_seen")
    op.drop_index("ix_stats_counter_team_kind_day", table_name="stats_counter")
    op.drop_table("stats_counter")
