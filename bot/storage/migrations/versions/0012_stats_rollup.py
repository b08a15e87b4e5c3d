"""statistics rollups: counters summed per day, ISO week, month, quarter and year

Revision ID: 0012
Revises: 0011

Why: issue #13. The all-teams year report summed the raw daily counters every time (57 M
rows for 300 teams over two years: 20-33 s). ``stats_rollup`` holds the same counts summed
over language for whole grid periods (``period_kind`` 'day', 'week' (ISO, from Monday),
'month', 'quarter', 'year'; ``period_start`` its first day), so a report reads a few
rows per team instead. ``stats_rollup_state`` is the watermark: every counter day up to
``through`` (inclusive) is in the rollups; later days are read from the counters. No
column holds anything about a person: they are the counters' cells, summed.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stats_rollup",
        sa.Column("period_kind", sa.String(length=8), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=96), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("period_kind", "period_start", "team_id", "kind", "key"),
    )
    # One period, all teams, some kinds (the admins' all-teams report).
    op.create_index(
        "ix_stats_rollup_period_kind",
        "stats_rollup",
        ["period_kind", "period_start", "kind", "team_id"],
    )
    # One team, a range of periods (a coordinator's report).
    op.create_index(
        "ix_stats_rollup_team_period",
        "stats_rollup",
        ["team_id", "period_kind", "kind", "period_start"],
    )
    op.create_table(
        "stats_rollup_state",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("through", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("stats_rollup_state")
    op.drop_index("ix_stats_rollup_team_period", table_name="stats_rollup")
    op.drop_index("ix_stats_rollup_period_kind", table_name="stats_rollup")
    op.drop_table("stats_rollup")
