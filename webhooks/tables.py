"""Webhook endpoints and their delivery outbox.

The endpoint secret and each queued payload (it carries the recipient's number) are sealed
(`*_enc`, SM4-GCM bound to table/column/row id). Times are Unix milliseconds.
"""

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, LargeBinary, String, Table

from store.sealed import SealedColumn
from store.tables import metadata

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False),
    Column("url", String(2048), nullable=False),
    # The subscribed event types, e.g. ["message.status"].
    Column("events", JSON, nullable=False),
    Column("secret_enc", LargeBinary, nullable=False),
    # After a rotation the old secret signs too (a second v1=) until `previous_until_ms`, so
    # receivers can switch without rejecting anything in between.
    Column("previous_secret_enc", LargeBinary, nullable=True),
    Column("previous_until_ms", BigInteger, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    # Soft delete: the delivery history keeps pointing at the endpoint.
    Column("deleted_ms", BigInteger, nullable=True),
    Index("ix_webhook_endpoints_tenant", "tenant_id", "deleted_ms"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), nullable=False),
    Column("endpoint_id", String(32), ForeignKey("webhook_endpoints.id"), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("event_type", String(32), nullable=False),
    Column("message_id", String(32), nullable=True),
    # When the event happened: the per-message order of deliveries to one endpoint.
    Column("event_ms", BigInteger, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("payload_enc", LargeBinary, nullable=False),
    # pending → delivered | failed (gave up) | cancelled (endpoint deleted)
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_ms", BigInteger, nullable=True),
    Column("last_attempt_ms", BigInteger, nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", String(200), nullable=True),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until_ms", BigInteger, nullable=True),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_ms"),
    Index("ix_webhook_deliveries_order", "endpoint_id", "message_id", "event_ms"),
    Index("ix_webhook_deliveries_tenant", "tenant_id", "id"),
    Index("ix_webhook_deliveries_message", "tenant_id", "message_id"),
)

# Sealed columns, for the key-rotation job: (table, column, the row id column used as AD).
SEALED_COLUMNS = (
    SealedColumn(webhook_endpoints, "secret_enc", "secret"),
    SealedColumn(webhook_endpoints, "previous_secret_enc", "previous_secret"),
    SealedColumn(webhook_deliveries, "payload_enc", "payload"),
)
