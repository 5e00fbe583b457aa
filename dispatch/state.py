"""Per-message dispatch facts that have no place in `messages`: when a revoke was asked for,
and the SMS submitted for it (the route's part ids, so receipts are tracked again after a
restart)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import JSON, BigInteger, Column, Connection, ForeignKey, String, Table, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from store import Database
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
    # A cancel asked while the message was in flight: the revoke that follows ends it.
    Column("cancel_ms", BigInteger, nullable=True),
)


_CANCELLED = select(dispatch_state.c.message_id).where(
    dispatch_state.c.message_id.in_(bindparam("ids", expanding=True)), dispatch_state.c.cancel_ms.is_not(None)
)


async def cancels_pending(db: Database, message_ids: Sequence[str]) -> set[str]:
    """Those of `message_ids` with a cancel asked while they were in flight."""
    if not message_ids:
        return set()
    async with db.read.connect() as conn:
        return {r.message_id for r in await conn.execute(_CANCELLED, {"ids": list(message_ids)})}


def upsert_state(conn: Connection, message_id: str, tenant_id: str, **values: object) -> None:
    """Set `values` on the message's dispatch facts, creating the row on first use."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(dispatch_state).values(message_id=message_id, tenant_id=tenant_id, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=["message_id"], set_=values))
