"""Status transitions of messages, written as one unit: the status change, its event row and
the `message.status` webhook commit in the same transaction (DESIGN.md §3).

A transition is decided inside the write transaction, against the status the row has then, so
the dispatcher and the MaaP / SMSC callbacks never overwrite each other's newer state.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import JSON, BigInteger, Column, Connection, ForeignKey, String, Table, bindparam, select

import security
import webhooks
from messages.tables import message_events, messages
from store import new_id
from store.bulk import executemany
from store.tables import metadata
from store.writer import WriteBatch
from webhooks.tables import webhook_endpoints

# Per-message dispatch facts that have no place in `messages`: when a revoke was asked for,
# and the SMS submitted for it (SMSC part ids, so receipts are tracked again after a restart).
dispatch_state = Table(
    "dispatch_state",
    metadata,
    Column("message_id", String(32), ForeignKey("messages.id"), primary_key=True),
    Column("tenant_id", String(32), nullable=False),
    Column("revoke_ms", BigInteger, nullable=True),
    # Set before the submit_sm goes out: a restart that finds it without part ids cannot know
    # whether the SMSC took the message, and must not send it again.
    Column("sms_intent_ms", BigInteger, nullable=True),
    Column("sms_route", String(64), nullable=True),
    Column("sms_part_ids", JSON, nullable=True),
    Column("sms_sent_ms", BigInteger, nullable=True),
)

# Statuses after which nothing more is sent for a message.
FINAL = frozenset({"rcs_delivered", "rcs_read", "sms_delivered", "sms_failed", "failed", "rejected", "expired"})

KEEP = object()  # "leave this column as it is"


@dataclass
class Change:
    """One transition of one message. Applied only when the message's current status is in
    `when` (None: any status); otherwise the event is still recorded if `record_anyway`."""

    message_id: str
    status: str
    at_ms: int
    source: str
    detail: dict | None = None
    when: frozenset[str] | None = None
    due_ms: object = None  # int, None (nothing to do until a callback) or KEEP
    attempts: object = KEEP  # int or KEEP
    record_anyway: bool = False
    then: list["Change"] = field(default_factory=list)  # applied after this one, if it applied


# The evidence chain holds what a message's accept/send/deliver history is (DESIGN.md §7);
# `queued` is the dispatcher's own bookkeeping (claims and retry schedules), so its events go
# into the ledger already marked as needing no chaining.
NOT_EVIDENCE = frozenset({"queued"})

_ROWS = select(
    messages.c.id, messages.c.tenant_id, messages.c.batch_id, messages.c.to_enc, messages.c.status,
    messages.c.due_ms, messages.c.attempts,
).where(messages.c.id.in_(bindparam("ids", expanding=True)))

_HOOKED = select(webhook_endpoints.c.tenant_id).where(
    webhook_endpoints.c.tenant_id.in_(bindparam("tenants", expanding=True)), webhook_endpoints.c.deleted_ms.is_(None),
).distinct()

_UPDATE = (
    messages.update()
    .where(messages.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"), updated_ms=bindparam("b_at"), due_ms=bindparam("b_due"),
        attempts=bindparam("b_attempts"), lease_owner=None, lease_until_ms=None,
    )
)


@dataclass
class Applied:
    """What a group of changes did: (message id, status) of each applied change."""

    applied: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


class Transitions:
    """Builds WriteBatch statements that apply `Change`s and queue their webhooks."""

    def __init__(self, keyring: security.Keyring, id_factory: Callable[[], str] = new_id):
        self.keyring = keyring
        self.new_id = id_factory

    def add(self, batch: WriteBatch, changes: list[Change]) -> Applied:
        """Add `changes` to `batch`; the returned `Applied` is filled when the batch commits."""
        result = Applied()
        if changes:
            batch.run(lambda conn: self._apply(conn, changes, result))
        return result

    def _apply(self, conn: Connection, changes: list[Change], result: Applied) -> None:
        ids = sorted({c.message_id for c in _flatten(changes)})
        rows = {r.id: r for r in conn.execute(_ROWS, {"ids": ids})}
        # Opening the number and building the payload is wasted on a tenant without endpoints.
        hooked = {r.tenant_id for r in conn.execute(_HOOKED, {"tenants": sorted({r.tenant_id for r in rows.values()})})}
        state = {mid: [r.status, r.due_ms, r.attempts] for mid, r in rows.items()}
        updates, events = [], []
        hooks = WriteBatch()
        todo = list(changes)
        while todo:
            c = todo.pop(0)
            row = rows.get(c.message_id)
            if row is None:
                continue
            current = state[c.message_id]
            applies = c.when is None or current[0] in c.when
            if applies:
                current[0] = c.status
                if c.due_ms is not KEEP:
                    current[1] = c.due_ms
                if c.attempts is not KEEP:
                    current[2] = c.attempts
                updates.append({"b_id": c.message_id, "b_status": c.status, "b_at": c.at_ms,
                                "b_due": current[1], "b_attempts": current[2]})
                result.applied.append((c.message_id, c.status))
                todo[0:0] = c.then
            else:
                result.skipped.append((c.message_id, c.status))
                if not c.record_anyway or current[0] == c.status:
                    continue
            event_id = self.new_id()
            events.append({"id": event_id, "message_id": c.message_id, "tenant_id": row.tenant_id,
                           "type": c.status, "at_ms": c.at_ms, "source": c.source, "detail": c.detail,
                           "chained": c.status in NOT_EVIDENCE})
            if row.tenant_id not in hooked:
                continue
            to = self.keyring.open(row.tenant_id, "messages", "to", row.id, row.to_enc).decode()
            webhooks.enqueue(
                hooks, self.keyring, tenant_id=row.tenant_id, message_id=row.id, kind=webhooks.MESSAGE_STATUS,
                payload=webhooks.status_data(message_id=row.id, batch_id=row.batch_id, to=to, status=c.status,
                                             at_ms=c.at_ms, source=c.source, detail=c.detail),
                at_ms=c.at_ms, event_id=event_id,
            )
        if updates:
            # Several changes of one message in one group: the last one is the row's state.
            executemany(conn, _UPDATE, updates)
        if events:
            executemany(conn, message_events, events)
        for statement in hooks.statements:
            statement(conn)


def _flatten(changes: list[Change]):
    for c in changes:
        yield c
        yield from _flatten(c.then)
