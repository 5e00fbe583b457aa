"""Per-message dispatch facts that have no place in `messages`: when a revoke was asked for,
and the SMS submitted for it (the route it went to and the route's part ids, so receipts are
tracked again after a restart, and an SMS in doubt is known as such)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import JSON, BigInteger, Column, Connection, ForeignKey, String, Table, and_, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from store import Database
from store.tables import metadata

dispatch_state = Table(
    "dispatch_state",
    metadata,
    Column("message_id", String(32), ForeignKey("messages.id"), primary_key=True),
    Column("tenant_id", String(32), nullable=False),
    Column("revoke_ms", BigInteger, nullable=True),
    # Set (with sms_route) right before the SMS's first part goes on the wire: found without
    # part ids after a restart, the SMS is in doubt (the route may have taken it).
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


_IN_DOUBT = select(dispatch_state.c.message_id, dispatch_state.c.sms_route).where(
    dispatch_state.c.message_id.in_(bindparam("ids", expanding=True)),
    and_(dispatch_state.c.sms_intent_ms.is_not(None), dispatch_state.c.sms_part_ids.is_(None)),
)


async def sms_in_doubt(db: Database, message_ids: Sequence[str]) -> dict[str, str | None]:
    """Those of `message_ids` whose SMS was marked as going on the wire and never recorded as
    answered: message id → the route it went to."""
    if not message_ids:
        return {}
    async with db.read.connect() as conn:
        return {r.message_id: r.sms_route for r in await conn.execute(_IN_DOUBT, {"ids": list(message_ids)})}


def mark_sms_intent(conn: Connection, marks: Sequence[tuple[str, str, str, int]]) -> set[str]:
    """Mark SMS as about to go on the wire: (message id, tenant id, route, at ms) each. A message
    already marked (another sender has it) is left alone; returns the ids marked now."""
    if not marks:
        return set()
    ids = [m[0] for m in marks]
    taken = {
        r.message_id
        for r in conn.execute(
            select(dispatch_state.c.message_id).where(
                dispatch_state.c.message_id.in_(ids), dispatch_state.c.sms_intent_ms.is_not(None)
            )
        )
    }
    rows = [
        {"message_id": mid, "tenant_id": tenant, "sms_intent_ms": at_ms, "sms_route": route}
        for mid, tenant, route, at_ms in marks
        if mid not in taken
    ]
    if rows:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(dispatch_state)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["message_id"],
                set_={"sms_intent_ms": stmt.excluded.sms_intent_ms, "sms_route": stmt.excluded.sms_route},
            ),
            rows,
        )
    return {str(r["message_id"]) for r in rows}


def clear_sms_intent(conn: Connection, message_ids: Sequence[str]) -> None:
    """The SMS did not go out (refused, or to be sent again): drop its mark."""
    if message_ids:
        conn.execute(
            dispatch_state.update()
            .where(dispatch_state.c.message_id.in_(list(message_ids)))
            .values(sms_intent_ms=None, sms_route=None)
        )
