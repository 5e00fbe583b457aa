"""accounts: each submission of a chatbot's persistent menu or profile, with its audit

Revision ID: accounts_0003
Revises: accounts_0002
"""
from alembic import op
import sqlalchemy as sa


revision = "accounts_0003"
down_revision = "accounts_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chatbot_publishes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("chatbot_id", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("api_key_id", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("operator_code", sa.Integer(), nullable=True),
        sa.Column("submitted_ms", sa.BigInteger(), nullable=False),
        sa.Column("audited_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_chatbot_publishes_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chatbot_publishes")),
    )
    op.create_index("ix_chatbot_publishes_channel", "chatbot_publishes", ["tenant_id", "channel_id", "id"])
    op.create_index("ix_chatbot_publishes_waiting", "chatbot_publishes", ["channel_id", "state", "id"])


def downgrade() -> None:
    op.drop_index("ix_chatbot_publishes_waiting", table_name="chatbot_publishes")
    op.drop_index("ix_chatbot_publishes_channel", table_name="chatbot_publishes")
    op.drop_table("chatbot_publishes")
