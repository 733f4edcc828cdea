"""video_sizes: the source's and each rendition's bytes, for the admin's table

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

Existing videos keep null in both (their sizes were never recorded).
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rendition_bytes", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("source_bytes", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.drop_column("source_bytes")
        batch_op.drop_column("rendition_bytes")
