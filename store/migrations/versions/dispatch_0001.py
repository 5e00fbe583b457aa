"""dispatch: per-message dispatch state (revoke asked, SMS submitted)

Revision ID: dispatch_0001
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = "dispatch_0001"
down_revision = "0001"
branch_labels = ("dispatch",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dispatch_state",
        sa.Column("message_id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("revoke_ms", sa.BigInteger(), nullable=True),
        sa.Column("sms_intent_ms", sa.BigInteger(), nullable=True),
        sa.Column("sms_route", sa.String(length=64), nullable=True),
        sa.Column("sms_part_ids", sa.JSON(), nullable=True),
        sa.Column("sms_sent_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], name=op.f("fk_dispatch_state_message_id_messages")),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_dispatch_state")),
    )


def downgrade() -> None:
    op.drop_table("dispatch_state")
