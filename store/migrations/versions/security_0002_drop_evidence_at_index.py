"""security: drop the evidence records' at_ms index (unchained events are found by a flag now)

Revision ID: security_0002
Revises: security_0001
"""
from alembic import op

revision = "security_0002"
down_revision = "security_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_evidence_records_at", table_name="evidence_records")


def downgrade() -> None:
    op.create_index("ix_evidence_records_at", "evidence_records", ["at_ms"])
