"""The transactional outbox: events are queued in the same transaction that produced them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from sqlalchemy import Connection, select

import security
from store import new_id
from store.bulk import AnyOf
from store.clock import rfc3339
from store.writer import WriteBatch
from webhooks.tables import webhook_deliveries, webhook_endpoints

MESSAGE_STATUS = "message.status"
MESSAGE_USER_EVENT = "message.user_event"
# The operator's audit verdict on a chatbot menu or profile a brand published.
CHANNEL_AUDIT = "channel.audit"
# A tenant's accepted recipients reached its daily volume alert threshold.
TENANT_DAILY_VOLUME = "tenant.daily_volume"
# A message in a conversation, either way (conversations/); a conversation's state changed
# (handed to people, assigned, closed, back with the bot).
CONVERSATION_MESSAGE = "conversation.message"
CONVERSATION_STATE = "conversation.state"
EVENT_TYPES = (
    MESSAGE_STATUS,
    MESSAGE_USER_EVENT,
    CHANNEL_AUDIT,
    TENANT_DAILY_VOLUME,
    CONVERSATION_MESSAGE,
    CONVERSATION_STATE,
)


def ms_to_rfc3339(ms: int) -> str:
    return rfc3339(datetime.fromtimestamp(ms / 1000, UTC))


def status_data(
    *,
    message_id: str,
    batch_id: str,
    to: str,
    status: str,
    at_ms: int,
    source: str,
    detail: dict | None = None,
    test: bool = False,
) -> dict:
    """The `data` of a message.status event (`test`: the message was sent with a test key)."""
    return {
        "message_id": message_id,
        "batch_id": batch_id,
        "to": to,
        "status": status,
        "test": test,
        "event": {"type": status, "at": ms_to_rfc3339(at_ms), "source": source, "detail": detail or {}},
    }


def event_body(event_id: str, kind: str, at_ms: int, data: dict) -> bytes:
    """The exact bytes POSTed (and signed) for an event; the same on every attempt."""
    return orjson.dumps({"id": event_id, "type": kind, "created_at": ms_to_rfc3339(at_ms), "data": data})


# Deliveries this process has queued (a running total): lets `WebhookService.notify_if_enqueued`
# skip looking when a commit queued none, which is most statuses of most tenants.
_enqueued = [0]


def enqueued_total() -> int:
    """How many deliveries this process has queued so far."""
    return _enqueued[0]


def enqueue(
    batch: WriteBatch,
    keyring: security.Keyring,
    *,
    tenant_id: str,
    message_id: str | None,
    kind: str,
    payload: dict,
    at_ms: int,
    event_id: str,
) -> None:
    """Queue one event for every endpoint of the tenant subscribed to `kind`, inside `batch`.

    The fan-out reads the endpoints inside the same transaction, so an endpoint registered
    after this commits never receives the event, and one deleted before it never does either.
    Call `WebhookService.notify()` after the batch committed to have it sent at once.
    """
    if kind not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {kind!r}")
    event = _Event(tenant_id, message_id, kind, at_ms, event_id, event_body(event_id, kind, at_ms, payload))
    # Consecutive events of one batch share one fan-out: one endpoint query, one insert.
    last = batch.statements[-1] if batch.statements else None
    if isinstance(last, _FanOut) and last.keyring is keyring:
        last.events.append(event)
    else:
        batch.run(_FanOut(keyring, [event]))


def fan_out(
    conn: Connection,
    keyring: security.Keyring,
    *,
    tenant_id: str,
    kind: str,
    payload: dict,
    at_ms: int,
    event_id: str,
    message_id: str | None = None,
) -> None:
    """`enqueue` from inside a statement already running in a write transaction: for an event
    that only happens if the statement's own change did (an update that found its row)."""
    if kind not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {kind!r}")
    _FanOut(
        keyring, [_Event(tenant_id, message_id, kind, at_ms, event_id, event_body(event_id, kind, at_ms, payload))]
    )(conn)


@dataclass(frozen=True)
class _Event:
    tenant_id: str
    message_id: str | None
    kind: str
    at_ms: int
    event_id: str
    body: bytes


_ENDPOINTS = select(webhook_endpoints.c.id, webhook_endpoints.c.tenant_id, webhook_endpoints.c.events).where(
    AnyOf(webhook_endpoints.c.tenant_id, "tenants"),
    webhook_endpoints.c.deleted_ms.is_(None),
)


@dataclass
class _FanOut:
    """A WriteBatch statement: one delivery row per (event, subscribed endpoint), payload sealed."""

    keyring: security.Keyring
    events: list[_Event] = field(default_factory=list)

    def __call__(self, conn: Connection) -> None:
        by_tenant: dict[str, list] = {}
        for row in conn.execute(_ENDPOINTS, {"tenants": sorted({e.tenant_id for e in self.events})}):
            by_tenant.setdefault(row.tenant_id, []).append(row)
        rows = []
        for e in self.events:
            for endpoint in by_tenant.get(e.tenant_id, ()):
                if e.kind not in endpoint.events:
                    continue
                did = new_id()
                rows.append(
                    {
                        "id": did,
                        "tenant_id": e.tenant_id,
                        "endpoint_id": endpoint.id,
                        "event_id": e.event_id,
                        "event_type": e.kind,
                        "message_id": e.message_id,
                        "event_ms": e.at_ms,
                        "created_ms": e.at_ms,
                        "payload_enc": self.keyring.seal(e.tenant_id, "webhook_deliveries", "payload", did, e.body),
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_ms": e.at_ms,
                        "last_attempt_ms": None,
                        "last_status": None,
                        "last_error": None,
                        "lease_owner": None,
                        "lease_until_ms": None,
                    }
                )
        if rows:
            conn.execute(webhook_deliveries.insert(), rows)
            _enqueued[0] += len(rows)
