"""messages: facts made at accept, where the content is in hand — a batch's RCS kind (billing
prices without opening the card) and an acceptance's content commitment (the evidence log chains
it without opening the card and the variables)

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), nullable=True))
    with op.batch_alter_table("message_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_mac", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("message_events", schema=None) as batch_op:
        batch_op.drop_column("content_mac")
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.drop_column("kind")
