"""analytics: conversions reported by brands, tied to a message

Revision ID: analytics_0001
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa


revision = "analytics_0001"
down_revision = "0006"
branch_labels = ("analytics",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("message_id", sa.String(length=32), nullable=False),
        sa.Column("batch_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value_units", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_conversions_tenant_id_tenants")),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], name=op.f("fk_conversions_message_id_messages")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversions")),
    )
    op.create_index("uq_conversions_tenant_external", "conversions", ["tenant_id", "external_id"], unique=True)
    op.create_index("ix_conversions_message", "conversions", ["message_id"])
    op.create_index("ix_conversions_tenant_batch", "conversions", ["tenant_id", "batch_id"])


def downgrade() -> None:
    op.drop_table("conversions")
