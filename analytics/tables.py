"""Conversions: what a brand reports a recipient did after a message (a purchase, a sign-up),
tied to the message by its id or the token of its short link. No personal data: the message id,
a name, an optional amount. Times are Unix milliseconds."""

from sqlalchemy import BigInteger, Column, ForeignKey, Index, String, Table

from store.tables import metadata

conversions = Table(
    "conversions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False),
    # The brand's own id for the conversion: a retry with it records nothing twice.
    Column("external_id", String(64), nullable=True),
    Column("message_id", String(32), ForeignKey("messages.id"), nullable=False),
    Column("batch_id", String(32), nullable=False),
    Column("name", String(64), nullable=False),
    # An exact amount in 1/10000 of the currency (store.money), with its ISO 4217 currency: summed
    # exactly in SQL; both NULL without a value.
    Column("value_units", BigInteger, nullable=True),
    Column("currency", String(3), nullable=True),
    Column("source", String(16), nullable=False),  # api | link
    Column("at_ms", BigInteger, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Index("uq_conversions_tenant_external", "tenant_id", "external_id", unique=True),
    Index("ix_conversions_message", "message_id"),
    Index("ix_conversions_tenant_batch", "tenant_id", "batch_id"),
)
