"""conversations: conversations per brand and recipient, their threads, the bot rules; the
`conversations` scope for keys that held every scope

Revision ID: conversations_0001
Revises: campaigns_0001
"""

from alembic import op
import sqlalchemy as sa

from store.migrations.scopes import drop_scopes, grant_scope


revision = "conversations_0001"
down_revision = "campaigns_0001"
branch_labels = ("conversations",)
depends_on = None

# Every scope there was before this one: keys holding all of them hold everything.
FULL_BEFORE = {
    "audiences",
    "billing",
    "campaigns",
    "cards",
    "channels",
    "compliance",
    "keys",
    "messages",
    "privacy",
    "reviews",
    "templates",
    "users",
    "webhooks",
}


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("number_bidx", sa.LargeBinary(), nullable=False),
        sa.Column("number_enc", sa.LargeBinary(), nullable=False),
        sa.Column("contact_id", sa.String(length=32), nullable=True),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("assignee", sa.String(length=32), nullable=True),
        sa.Column("channel", sa.String(length=4), nullable=False),
        sa.Column("operator_conversation_id", sa.String(length=64), nullable=True),
        sa.Column("last_contribution_id", sa.String(length=64), nullable=True),
        sa.Column("menu", sa.String(length=32), nullable=True),
        sa.Column("misses", sa.Integer(), server_default="0", nullable=False),
        sa.Column("unanswered", sa.Integer(), server_default="0", nullable=False),
        sa.Column("opened_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_inbound_ms", sa.BigInteger(), nullable=True),
        sa.Column("waiting_since_ms", sa.BigInteger(), nullable=True),
        sa.Column("handoff_ms", sa.BigInteger(), nullable=True),
        sa.Column("closed_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("uq_conversations_tenant_bidx", "conversations", ["tenant_id", "number_bidx"], unique=True)
    op.create_index("ix_conversations_tenant_state", "conversations", ["tenant_id", "state", "updated_ms"])
    op.create_table(
        "conversation_messages",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("author", sa.String(length=5), nullable=False),
        sa.Column("agent_id", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("body_enc", sa.LargeBinary(), nullable=True),
        sa.Column("message_id", sa.String(length=32), nullable=True),
        sa.Column("channel", sa.String(length=4), nullable=False),
        sa.Column("matched", sa.JSON(), nullable=True),
        sa.Column("contribution_id", sa.String(length=64), nullable=True),
        sa.Column("operator_conversation_id", sa.String(length=64), nullable=True),
        sa.Column("in_reply_to", sa.String(length=64), nullable=True),
        sa.Column("response_ms", sa.BigInteger(), nullable=True),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_conversation_messages_thread", "conversation_messages", ["conversation_id", "id"])
    op.create_index("ix_conversation_messages_message", "conversation_messages", ["message_id"])
    op.create_index("ix_conversation_messages_tenant_at", "conversation_messages", ["tenant_id", "at_ms"])
    op.create_table(
        "conversation_rules",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    grant_scope(op.get_bind(), "conversations", FULL_BEFORE)


def downgrade() -> None:
    drop_scopes(op.get_bind(), "conversations")
    op.drop_table("conversation_rules")
    op.drop_index("ix_conversation_messages_tenant_at", table_name="conversation_messages")
    op.drop_index("ix_conversation_messages_message", table_name="conversation_messages")
    op.drop_index("ix_conversation_messages_thread", table_name="conversation_messages")
    op.drop_table("conversation_messages")
    op.drop_index("ix_conversations_tenant_state", table_name="conversations")
    op.drop_index("uq_conversations_tenant_bidx", table_name="conversations")
    op.drop_table("conversations")
