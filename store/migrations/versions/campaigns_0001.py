"""campaigns: campaigns, their audience snapshots and messages, triggered journeys and the
occurrences they served; the `campaigns` scope for keys that held every scope

Revision ID: campaigns_0001
Revises: 0007, audiences_0001, billing_0001
"""

from alembic import op
import sqlalchemy as sa

from store.migrations.scopes import drop_scopes, grant_scope


revision = "campaigns_0001"
down_revision = ("0007", "audiences_0001", "billing_0001")
branch_labels = ("campaigns",)
depends_on = None

# Every scope there was before this one: keys holding all of them hold everything, and gain
# `campaigns` (keys someone narrowed keep what they had).
FULL_BEFORE = {
    "audiences",
    "billing",
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
        "campaigns",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("filter", sa.JSON(), nullable=True),
        sa.Column("start_ms", sa.BigInteger(), nullable=True),
        sa.Column("audience", sa.Integer(), server_default="0", nullable=False),
        sa.Column("snapshot_after", sa.String(length=32), nullable=True),
        sa.Column("next_page", sa.Integer(), server_default="0", nullable=False),
        sa.Column("paced_ms", sa.BigInteger(), nullable=True),
        sa.Column("tested_ms", sa.BigInteger(), nullable=True),
        sa.Column("winner", sa.String(length=16), nullable=True),
        sa.Column("winner_detail", sa.JSON(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until_ms", sa.BigInteger(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("launched_ms", sa.BigInteger(), nullable=True),
        sa.Column("finished_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_campaigns_tenant_id", "campaigns", ["tenant_id", "id"])
    op.create_index("ix_campaigns_status", "campaigns", ["status"])
    op.create_table(
        "campaign_recipients",
        sa.Column("campaign_id", sa.String(length=32), nullable=False),
        sa.Column("contact_id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("variant", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("page", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.String(length=32), nullable=True),
        sa.Column("sent_ms", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("resend", sa.String(length=12), nullable=True),
        sa.Column("resend_page", sa.Integer(), nullable=True),
        sa.Column("resend_ms", sa.BigInteger(), nullable=True),
        sa.Column("resend_message_id", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"]),
        sa.PrimaryKeyConstraint("campaign_id", "contact_id"),
    )
    op.create_index(
        "ix_campaign_recipients_state", "campaign_recipients", ["campaign_id", "state", "variant", "contact_id"]
    )
    op.create_index("ix_campaign_recipients_resend", "campaign_recipients", ["campaign_id", "resend", "sent_ms"])
    op.create_table(
        "campaign_messages",
        sa.Column("message_id", sa.String(length=32), nullable=False),
        sa.Column("campaign_id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("variant", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("carrier", sa.String(length=8), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("message_id"),
    )
    op.create_index("ix_campaign_messages_campaign", "campaign_messages", ["campaign_id", "variant"])
    op.create_table(
        "journeys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("evaluated_day", sa.String(length=10), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until_ms", sa.BigInteger(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_journeys_tenant_id", "journeys", ["tenant_id", "id"])
    op.create_table(
        "journey_sends",
        sa.Column("journey_id", sa.String(length=32), nullable=False),
        sa.Column("contact_id", sa.String(length=32), nullable=False),
        sa.Column("occurrence", sa.String(length=10), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.String(length=32), nullable=True),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("page", sa.String(length=120), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["journey_id"], ["journeys.id"]),
        sa.PrimaryKeyConstraint("journey_id", "contact_id", "occurrence"),
    )
    op.create_index("ix_journey_sends_page", "journey_sends", ["journey_id", "state", "page"])
    grant_scope(op.get_bind(), "campaigns", FULL_BEFORE)


def downgrade() -> None:
    drop_scopes(op.get_bind(), "campaigns")
    op.drop_index("ix_journey_sends_page", table_name="journey_sends")
    op.drop_table("journey_sends")
    op.drop_index("ix_journeys_tenant_id", table_name="journeys")
    op.drop_table("journeys")
    op.drop_index("ix_campaign_messages_campaign", table_name="campaign_messages")
    op.drop_table("campaign_messages")
    op.drop_index("ix_campaign_recipients_resend", table_name="campaign_recipients")
    op.drop_index("ix_campaign_recipients_state", table_name="campaign_recipients")
    op.drop_table("campaign_recipients")
    op.drop_index("ix_campaigns_status", table_name="campaigns")
    op.drop_index("ix_campaigns_tenant_id", table_name="campaigns")
    op.drop_table("campaigns")
