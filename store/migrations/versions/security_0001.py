"""security: the SM3 evidence chain (records and per-tenant heads)

Revision ID: security_0001
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = "security_0001"
down_revision = "0001"
branch_labels = ("security",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evidence_records",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.String(length=32), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(), nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "seq", name=op.f("pk_evidence_records")),
        sa.UniqueConstraint("event_id", name=op.f("uq_evidence_records_event_id")),
    )
    op.create_index("ix_evidence_records_message", "evidence_records", ["message_id"])
    op.create_index("ix_evidence_records_at", "evidence_records", ["at_ms"])
    op.create_table(
        "evidence_heads",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("next_seq", sa.BigInteger(), nullable=False),
        sa.Column("head", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_evidence_heads")),
    )


def downgrade() -> None:
    op.drop_table("evidence_heads")
    op.drop_table("evidence_records")
