"""Per-message dispatch facts that have no place in `messages`: when a revoke was asked for,
and the SMS submitted for it (the route's part ids, so receipts are tracked again after a
restart)."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Connection, ForeignKey, String, Table
from sqlalchemy.dialects import postgresql, sqlite

from store.tables import metadata

dispatch_state = Table(
    "dispatch_state",
    metadata,
    Column("message_id", String(32), ForeignKey("messages.id"), primary_key=True),
    Column("tenant_id", String(32), nullable=False),
    Column("revoke_ms", BigInteger, nullable=True),
    # Set before the SMS is submitted: a restart that finds it without part ids cannot know
    # whether the route took the message, and must not send it again.
    Column("sms_intent_ms", BigInteger, nullable=True),
    Column("sms_route", String(64), nullable=True),
    Column("sms_part_ids", JSON, nullable=True),
    Column("sms_sent_ms", BigInteger, nullable=True),
)


def upsert_state(conn: Connection, message_id: str, tenant_id: str, **values: object) -> None:
    """Set `values` on the message's dispatch facts, creating the row on first use."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(dispatch_state).values(message_id=message_id, tenant_id=tenant_id, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=["message_id"], set_=values))
