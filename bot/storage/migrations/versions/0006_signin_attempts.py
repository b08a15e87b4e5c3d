"""sign-in brake in the database, and where audited events came from (as a digest)

Revision ID: 0006
Revises: 0005

Why: the sign-in brake lived in each process's memory, so several processes each allowed
their own guesses and a burst of concurrent guesses all reached argon2 before the first
failure was counted. ``attempt_counter`` holds failure counters that one statement
reserves before the password is checked, shared by every process on the database. A row
is keyed by a scope ("pair": address and account, "addr": address over all usernames,
"lookup": case-code misses by account) and keyed digests (HMAC with SECRET_KEY) of the
client address and the username, never the clear values. ``audit_event.address`` is the
same kind of digest of where a sign-in came from (never the clear address).
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attempt_counter",
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("address_key", sa.String(length=64), nullable=False),
        sa.Column("account_key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("scope", "address_key", "account_key"),
    )
    op.create_index("ix_attempt_counter_window_start", "attempt_counter", ["window_start"])
    op.add_column("audit_event", sa.Column("address", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_event") as batch:
        batch.drop_column("address")
    op.drop_index("ix_attempt_counter_window_start", table_name="attempt_counter")
    op.drop_table("attempt_counter")
