"""cards: media crops (source and focal point) and video/audio length

Revision ID: cards_0005
Revises: cards_0004
"""
from alembic import op
import sqlalchemy as sa

revision = "cards_0005"
down_revision = "cards_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("focus_x", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("focus_y", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("duration_ms", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.drop_column("duration_ms")
        batch_op.drop_column("focus_y")
        batch_op.drop_column("focus_x")
        batch_op.drop_column("source_id")
