"""the stored book of protected statistics figures

Revision ID: 0013
Revises: 0012

Why: issue #13. Every report shows the same protected figure for a kind, grid cell and
unit, and a figure once published never changes: the next day's protection starts from
the figures already published (``bot.services.protected``), so reports asked for on
different days cannot be differenced either. ``stats_book`` holds those figures (a
count and how it is shown), ``stats_book_state`` the last day they cover, the units
and the team groups. Sums of counters only: nothing here is about a person.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stats_book",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("unit", sa.String(length=40), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("mark", sa.String(length=12), nullable=False),
        sa.PrimaryKeyConstraint("kind", "level", "first_day", "unit"),
    )
    op.create_table(
        "stats_book_state",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("through", sa.Date(), nullable=False),
        sa.Column("units", sa.Text(), nullable=False),
        sa.Column("groups", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("stats_book_state")
    op.drop_table("stats_book")
