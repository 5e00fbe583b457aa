"""messages: what recipients did in answer to a message (kind, source, time; never the
content), and an index of a tenant's messages by time

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa


revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_interactions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.String(length=32), nullable=False),
        sa.Column("batch_id", sa.String(length=32), nullable=False),
        sa.Column("to_bidx", sa.LargeBinary(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_message_interactions_message_id_messages")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_interactions")),
    )
    op.create_index("ix_message_interactions_message", "message_interactions", ["message_id"])
    op.create_index("ix_message_interactions_tenant_batch", "message_interactions", ["tenant_id", "batch_id"])
    op.create_index("ix_message_interactions_tenant_bidx", "message_interactions", ["tenant_id", "to_bidx", "at_ms"])
    op.create_index("ix_messages_tenant_created", "messages", ["tenant_id", "created_ms"])


def downgrade() -> None:
    op.drop_index("ix_messages_tenant_created", table_name="messages")
    op.drop_table("message_interactions")
