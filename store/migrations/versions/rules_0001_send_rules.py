"""rules: each tenant's sending rules, and the frequency-cap ledger; the `compliance` scope

Revision ID: rules_0001
Revises: accounts_0002 (a branch of its own off it: its scope grant extends the list that one wrote)
"""

import sqlalchemy as sa
from alembic import op

revision = "rules_0001"
down_revision = "accounts_0002"
branch_labels = ("rules",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "send_rules",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_send_rules")),
    )
    op.create_table(
        "cap_keys",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("to_bidx", sa.LargeBinary(), nullable=False),
        sa.Column("traffic_type", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "to_bidx", "traffic_type", name=op.f("pk_cap_keys")),
    )
    op.create_table(
        "cap_sends",
        sa.Column("message_id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("to_bidx", sa.LargeBinary(), nullable=False),
        sa.Column("traffic_type", sa.String(length=16), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_cap_sends")),
    )
    op.create_table(
        "daily_volumes",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "day", name=op.f("pk_daily_volumes")),
    )
    op.create_index("ix_cap_sends_key", "cap_sends", ["tenant_id", "traffic_type", "to_bidx", "at_ms"])
    # Keys that could do everything keep doing everything: they gain the new scope.
    op.execute(
        "UPDATE api_keys SET scopes = 'cards channels compliance keys messages templates webhooks' "
        "WHERE scopes = 'cards channels keys messages templates webhooks'"
    )


def downgrade() -> None:
    op.drop_index("ix_cap_sends_key", table_name="cap_sends")
    op.drop_table("daily_volumes")
    op.drop_table("cap_sends")
    op.drop_table("cap_keys")
    op.drop_table("send_rules")
