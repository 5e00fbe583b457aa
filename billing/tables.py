"""The price book, the tenants' billing accounts, the append-only ledger and the job's cursor.

Money is an integer count of 1/10000 yuan (`*_units`), never a float: 0.045 CNY is 450.
"""

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, Table

from messages.tables import message_events
from store.tables import metadata

DEFAULT_BOOK = "*"  # the tenant id of the platform's default price book
ANY_CARRIER = "*"

billing_prices = Table(
    "billing_prices",
    metadata,
    # A tenant id, or "*" for the platform default (no foreign key: the default is no tenant).
    Column("tenant_id", String(32), primary_key=True),
    Column("channel", String(8), primary_key=True),  # rcs | sms
    Column("carrier", String(8), primary_key=True),  # cmcc | cucc | ctcc | other | *
    Column("kind", String(16), primary_key=True),  # rcs: text | card | carousel | file | location; sms: part
    Column("price_units", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

billing_accounts = Table(
    "billing_accounts",
    metadata,
    Column("tenant_id", String(32), ForeignKey("tenants.id"), primary_key=True),
    # The sum of the tenant's ledger entries, kept with every entry written (row-locked).
    Column("balance_units", BigInteger, nullable=False),
    # What the open holds add up to (positive): part of the balance already, shown apart.
    Column("held_units", BigInteger, nullable=False, server_default="0"),
    # How far below zero the balance may go; NULL: sends are never refused for money.
    Column("credit_limit_units", BigInteger, nullable=True),
    Column("updated_ms", BigInteger, nullable=False),
)

# Append-only: rows are inserted, never updated or deleted. `entry_key` makes every entry
# exactly-once: `<message id>:hold`, `<message id>:outcome` (the charge or the refund, never
# both), `<message id>:release`; a credit's key comes from its Idempotency-Key or its id.
billing_entries = Table(
    "billing_entries",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False),
    Column("entry_key", String(120), nullable=False),
    Column("message_id", String(32), nullable=True),
    Column("kind", String(16), nullable=False),  # hold | release | charge | refund | credit | adjustment
    Column("channel", String(8), nullable=True),
    Column("carrier", String(8), nullable=True),
    Column("msg_kind", String(16), nullable=True),
    Column("units", Integer, nullable=False),  # messages or SMS parts priced
    Column("unit_price_units", BigInteger, nullable=False),
    Column("amount_units", BigInteger, nullable=False),  # signed: money in (+) or out (-)
    Column("balance_after_units", BigInteger, nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    Column("note", String(200), nullable=True),
    Index("uq_billing_entries_key", "entry_key", unique=True),
    Index("ix_billing_entries_tenant_at", "tenant_id", "at_ms", "id"),
    Index("ix_billing_entries_message", "message_id"),
)

# Where the billing job got to in message_events: (at_ms, id) of the last event it settled.
billing_cursor = Table(
    "billing_cursor",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("at_ms", BigInteger, nullable=False),
    Column("event_id", String(32), nullable=False),
)

# The job reads message events in (at_ms, id) order; the messages package's own indexes lead
# with the message id, so billing brings this one (created by the billing migration).
ix_message_events_at = Index("ix_message_events_at", message_events.c.at_ms, message_events.c.id)
