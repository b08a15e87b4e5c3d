"""teams: languages served and opening hours set by an admin in the browser

Revision ID: 0011
Revises: 0010

Why: issue #12 asks that an admin can change a team's languages served and opening hours
without editing content/teams/*.yaml on the server. The file stays the default; a row of
``team_setting`` overrides it while it exists, and "reset" deletes the row. One row per
team: ``overrides`` is a JSON object with only the overridden groups ("languages": codes,
verified, source; "hours": weekly ranges, verified, source), then who (a staff username)
and when changed it last. These are a team's public facts, never anything about a
relative. ``audit_event.team_id`` names the team a team-setting change was about (the
audit row says which field changed, never the source text).
"""

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _utc(name: str, nullable: bool = True) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "team_setting",
        sa.Column("team_id", sa.String(length=32), primary_key=True),
        sa.Column("overrides", sa.Text(), nullable=False),
        sa.Column("changed_by", sa.String(length=64), nullable=False),
        _utc("changed_at", nullable=False),
    )
    op.add_column("audit_event", sa.Column("team_id", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_event") as batch:
        batch.drop_column("team_id")
    op.drop_table("team_setting")
