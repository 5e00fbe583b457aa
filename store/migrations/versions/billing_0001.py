"""billing: price book, billing accounts, the append-only ledger, the job's cursor, an
(at_ms, id) index on message_events; the `billing` scope for keys that held every scope

Revision ID: billing_0001
Revises: privacy_0001, accounts_0004

After the privacy and accounts branches (both down revisions, not depends_on: a dependency
alone stays a script head the version table never lists), so the keys that held every scope
then (users and privacy included) are the ones granted `billing`.
"""

from alembic import op
import sqlalchemy as sa

from store.migrations.scopes import drop_scopes, grant_scope


revision = "billing_0001"
down_revision = ("privacy_0001", "accounts_0004")
branch_labels = ("billing",)
depends_on = None

FULL_BEFORE = {
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
        "billing_prices",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("carrier", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("price_units", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "channel", "carrier", "kind", name=op.f("pk_billing_prices")),
    )
    op.create_table(
        "billing_accounts",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("balance_units", sa.BigInteger(), nullable=False),
        sa.Column("held_units", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("credit_limit_units", sa.BigInteger(), nullable=True),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_billing_accounts_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_billing_accounts")),
    )
    op.create_table(
        "billing_entries",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("entry_key", sa.String(length=120), nullable=False),
        sa.Column("message_id", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=True),
        sa.Column("carrier", sa.String(length=8), nullable=True),
        sa.Column("msg_kind", sa.String(length=16), nullable=True),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("unit_price_units", sa.BigInteger(), nullable=False),
        sa.Column("amount_units", sa.BigInteger(), nullable=False),
        sa.Column("balance_after_units", sa.BigInteger(), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_billing_entries_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_entries")),
    )
    op.create_index("uq_billing_entries_key", "billing_entries", ["entry_key"], unique=True)
    op.create_index("ix_billing_entries_tenant_at", "billing_entries", ["tenant_id", "at_ms", "id"])
    op.create_index("ix_billing_entries_message", "billing_entries", ["message_id"])
    op.create_table(
        "billing_cursor",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_billing_cursor")),
    )
    op.create_index("ix_message_events_at", "message_events", ["at_ms", "id"])
    grant_scope(op.get_bind(), "billing", FULL_BEFORE)


def downgrade() -> None:
    drop_scopes(op.get_bind(), "billing", "billing-admin")
    op.drop_index("ix_message_events_at", table_name="message_events")
    op.drop_table("billing_cursor")
    op.drop_index("ix_billing_entries_message", table_name="billing_entries")
    op.drop_index("ix_billing_entries_tenant_at", table_name="billing_entries")
    op.drop_index("uq_billing_entries_key", table_name="billing_entries")
    op.drop_table("billing_entries")
    op.drop_table("billing_accounts")
    op.drop_table("billing_prices")
