"""accounts: each brand's own chatbot channels at an operator

Revision ID: accounts_0002
Revises: 0001

The accounts tables so far are in the foundation (0001, 0005); this is the accounts branch
off it (down_revision, like the other domains' branches), needing only `tenants`.
"""
from alembic import op
import sqlalchemy as sa


revision = "accounts_0002"
down_revision = "0001"
branch_labels = ("accounts",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channels",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("operator", sa.String(length=16), nullable=False),
        sa.Column("server_root", sa.String(length=255), nullable=False),
        sa.Column("scheme", sa.String(length=8), nullable=False),
        sa.Column("chatbot_id", sa.String(length=300), nullable=False),
        sa.Column("app_id", sa.String(length=128), nullable=False),
        sa.Column("app_key_enc", sa.LargeBinary(), nullable=False),
        sa.Column("callback_token_enc", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("profile_audit", sa.String(length=16), nullable=False),
        sa.Column("profile_audit_reason", sa.String(length=500), nullable=True),
        sa.Column("profile_audit_ms", sa.BigInteger(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_channels_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channels")),
    )
    op.create_index("ix_channels_tenant_id", "channels", ["tenant_id", "id"], unique=False)
    op.create_index("uq_channels_chatbot_id", "channels", ["chatbot_id"], unique=True)
    # A partial unique index (SQLite ≥ 3.8 and PostgreSQL): one active channel per tenant.
    op.create_index(
        "uq_channels_active_tenant",
        "channels",
        ["tenant_id"],
        unique=True,
        sqlite_where=sa.text("status = 'active'"),
        postgresql_where=sa.text("status = 'active'"),
    )
    # Keys that could do everything before keep doing everything: they gain the new scope.
    op.execute(
        "UPDATE api_keys SET scopes = 'cards channels keys messages templates webhooks' "
        "WHERE scopes = 'cards keys messages templates webhooks'"
    )


def downgrade() -> None:
    op.drop_index("uq_channels_active_tenant", table_name="channels")
    op.drop_index("uq_channels_chatbot_id", table_name="channels")
    op.drop_index("ix_channels_tenant_id", table_name="channels")
    op.drop_table("channels")
