"""statistics reports: index by kind and day for all-teams views

Revision ID: 0004
Revises: 0003

Why: an admin's all-teams report has no team filter, so the (team_id, kind, day)
index cannot narrow the few series kinds it sums by day; without this index those
sums scan a whole year of every kind.
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_stats_counter_kind_day", "stats_counter", ["kind", "day", "team_id"])


def downgrade() -> None:
    op.drop_index("ix_stats_counter_kind_day", table_name="stats_counter")
