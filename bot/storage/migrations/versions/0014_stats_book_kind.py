"""room in stats_book.kind for the guide's usage rows, and an index to read one cell

Revision ID: 0014
Revises: 0013

Why: issue #13. The guide's usage (screens, moves between screens, languages, "was this
helpful") is kept in the stored book too, so that it is the same protected figure in every
report; its row kinds carry a key ("usage_move#<from node>><to node>", a rollup key is up
to 96 characters), longer than the 32 the counter kinds needed. Its keys are open, so a
report reads its rows by prefix: ``ix_stats_book_cell`` finds one report's cell (a month,
quarter or year of all teams) without reading the whole book.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def _stats_book(kind_length: int) -> sa.Table:
    """The table as 0013 made it (SQLite changes a column by copying its table: this
    says what to copy, so that ``migrate --sql`` can write it without a database)."""
    return sa.Table(
        "stats_book",
        sa.MetaData(),
        sa.Column("kind", sa.String(length=kind_length), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("unit", sa.String(length=40), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("mark", sa.String(length=12), nullable=False),
        sa.PrimaryKeyConstraint("kind", "level", "first_day", "unit"),
    )


def _kind_length(old: int, new: int) -> None:
    with op.batch_alter_table("stats_book", copy_from=_stats_book(old)) as batch:
        batch.alter_column(
            "kind",
            existing_type=sa.String(length=old),
            type_=sa.String(length=new),
            existing_nullable=False,
        )


def upgrade() -> None:
    _kind_length(32, 128)
    op.create_index("ix_stats_book_cell", "stats_book", ["first_day", "level", "unit"])


def downgrade() -> None:
    op.drop_index("ix_stats_book_cell", table_name="stats_book")
    _kind_length(128, 32)
