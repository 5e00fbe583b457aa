"""knowledge: a brand's FAQ entries and answering settings (synonyms, the external AI answerer
with its key sealed); the `conversations` scope for keys that held every scope

Revision ID: knowledge_0001
Revises: campaigns_0001
"""

from alembic import op
import sqlalchemy as sa

from store.migrations.scopes import drop_scopes, grant_scope


revision = "knowledge_0001"
down_revision = "campaigns_0001"
branch_labels = ("knowledge",)
depends_on = None

# Every scope there was before `conversations` (conversations_0001 grants the same way).
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
        "knowledge_faqs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("questions", sa.JSON(), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_knowledge_faqs_tenant_id", "knowledge_faqs", ["tenant_id", "id"])
    op.create_table(
        "knowledge_settings",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), server_default="0", nullable=False),
        sa.Column("synonyms", sa.JSON(), nullable=False),
        sa.Column("ai_kind", sa.String(length=16), nullable=True),
        sa.Column("ai_enabled", sa.Boolean(), nullable=False),
        sa.Column("ai_base_url", sa.String(length=500), nullable=True),
        sa.Column("ai_model", sa.String(length=200), nullable=True),
        sa.Column("ai_key_enc", sa.LargeBinary(), nullable=True),
        sa.Column("ai_timeout_s", sa.Float(), nullable=False),
        sa.Column("ai_system_prompt", sa.Text(), nullable=True),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    grant_scope(op.get_bind(), "conversations", FULL_BEFORE)


def downgrade() -> None:
    drop_scopes(op.get_bind(), "conversations")
    op.drop_table("knowledge_settings")
    op.drop_index("ix_knowledge_faqs_tenant_id", table_name="knowledge_faqs")
    op.drop_table("knowledge_faqs")
