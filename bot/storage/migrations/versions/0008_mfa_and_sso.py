"""staff accounts: a second factor (TOTP and recovery codes) and single sign-on identities

Revision ID: 0008
Revises: 0007

Why: issue #11 asks for a second factor and OpenID Connect sign-in.
- staff_mfa: one row per account that has started TOTP enrolment. The secret is sealed with
  the app's key (SECRET_KEYS rotation opens it with any key), never stored in clear.
  ``last_step`` is the last accepted 30-second step: a code is accepted once (compare-and-set).
- staff_recovery_code: ten one-time codes per account, stored as keyed digests only.
- staff_identity: the identity provider's issuer and subject linked to one staff account
  (no e-mail: the display name is the account's).
"""

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _utc(name: str, nullable: bool = True) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "staff_mfa",
        sa.Column("staff_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("secret_sealed", sa.String(length=400), nullable=False),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.Column("last_step", sa.BigInteger(), nullable=False),
        _utc("created_at", nullable=False),
        _utc("confirmed_at"),
    )
    op.create_table(
        "staff_recovery_code",
        sa.Column("staff_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("digest", sa.String(length=64), primary_key=True),
        _utc("used_at"),
    )
    op.create_table(
        "staff_identity",
        sa.Column("issuer", sa.String(length=255), primary_key=True),
        sa.Column("subject", sa.String(length=255), primary_key=True),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        _utc("created_at", nullable=False),
        _utc("last_login_at"),
    )
    op.create_index("ix_staff_identity_staff_id", "staff_identity", ["staff_id"])


def downgrade() -> None:
    op.drop_index("ix_staff_identity_staff_id", table_name="staff_identity")
    op.drop_table("staff_identity")
    op.drop_table("staff_recovery_code")
    op.drop_table("staff_mfa")
