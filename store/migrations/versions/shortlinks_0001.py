"""shortlinks: per-recipient short links and their clicks

Revision ID: shortlinks_0001
Revises:
"""
from alembic import op
import sqlalchemy as sa


revision = "shortlinks_0001"
down_revision = None
branch_labels = ("shortlinks",)
depends_on = "0001"


def upgrade() -> None:
    op.create_table(
        "short_links",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.String(length=32), nullable=False),
        sa.Column("batch_id", sa.String(length=32), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.Column("card_enc", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_short_links_tenant_id_tenants")),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], name=op.f("fk_short_links_message_id_messages")),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_short_links")),
    )
    with op.batch_alter_table("short_links", schema=None) as batch_op:
        batch_op.create_index("ix_short_links_tenant_message", ["tenant_id", "message_id"], unique=False)
        batch_op.create_index("ix_short_links_tenant_batch", ["tenant_id", "batch_id"], unique=False)

    op.create_table(
        "link_clicks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.String(length=32), nullable=False),
        sa.Column("batch_id", sa.String(length=32), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("action", sa.Integer(), nullable=True),
        sa.Column("head", sa.Boolean(), nullable=False),
        sa.Column("bot", sa.Boolean(), nullable=False),
        sa.Column("preview", sa.Boolean(), nullable=False),
        sa.Column("agent", sa.String(length=16), nullable=False),
        sa.Column("fingerprint", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_clicks")),
    )
    with op.batch_alter_table("link_clicks", schema=None) as batch_op:
        batch_op.create_index("ix_link_clicks_tenant_message", ["tenant_id", "message_id"], unique=False)
        batch_op.create_index("ix_link_clicks_tenant_batch", ["tenant_id", "batch_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("link_clicks", schema=None) as batch_op:
        batch_op.drop_index("ix_link_clicks_tenant_batch")
        batch_op.drop_index("ix_link_clicks_tenant_message")
    op.drop_table("link_clicks")
    with op.batch_alter_table("short_links", schema=None) as batch_op:
        batch_op.drop_index("ix_short_links_tenant_batch")
        batch_op.drop_index("ix_short_links_tenant_message")
    op.drop_table("short_links")
