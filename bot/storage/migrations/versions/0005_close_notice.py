"""contact requests: remember that the relative was told once about the close

Revision ID: 0005
Revises: 0004

Why: when staff close a request the relative gets one neutral notice (and an optional
one-tap "Did the contact help?"). A reopened and closed-again request must not notify
twice, and a second tap on an old answer button must not count twice, so the case row
says NULL (not told), "sent" or "answered". It never holds the answer itself.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("case_request", sa.Column("close_notice", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("case_request") as batch:
        batch.drop_column("close_notice")
