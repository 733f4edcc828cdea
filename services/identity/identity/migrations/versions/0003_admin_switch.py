"""an admin's switch apart from the activation: `is_active` becomes `activated` (the address
was confirmed), a new `is_active` (not deactivated by an admin), and the last login

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column(
            "is_active",
            new_column_name="activated",
            existing_type=sa.Boolean(),
            existing_nullable=False,
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_active", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # a deactivated account would be active again after the downgrade: keep it out as an
    # unconfirmed one instead
    op.execute(sa.text("UPDATE users SET activated = false WHERE is_active = false"))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("last_login_at")
        batch_op.drop_column("is_active")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column(
            "activated",
            new_column_name="is_active",
            existing_type=sa.Boolean(),
            existing_nullable=False,
        )
