"""refresh tokens rotate: the spent ones, to detect their reuse

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "spent_refresh_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("spent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["login_sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    with op.batch_alter_table("spent_refresh_tokens", schema=None) as batch_op:
        batch_op.create_index("ix_spent_refresh_tokens_session", ["session_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("spent_refresh_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_spent_refresh_tokens_session")
    op.drop_table("spent_refresh_tokens")
