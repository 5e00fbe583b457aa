"""The transactional outbox: events are queued in the same transaction that produced them."""
from __future__ import annotations

from datetime import datetime, timezone

import orjson
from sqlalchemy import Connection, and_, select

import security
from store import new_id
from store.clock import rfc3339
from store.writer import WriteBatch
from webhooks.tables import webhook_deliveries, webhook_endpoints

MESSAGE_STATUS = "message.status"
MESSAGE_USER_EVENT = "message.user_event"
EVENT_TYPES = (MESSAGE_STATUS, MESSAGE_USER_EVENT)


def ms_to_rfc3339(ms: int) -> str:
    return rfc3339(datetime.fromtimestamp(ms / 1000, timezone.utc))


def status_data(
    *, message_id: str, batch_id: str, to: str, status: str, at_ms: int, source: str, detail: dict | None = None
) -> dict:
    """The `data` of a message.status event (DESIGN.md §3: the event type is the status name)."""
    return {
        "message_id": message_id,
        "batch_id": batch_id,
        "to": to,
        "status": status,
        "event": {"type": status, "at": ms_to_rfc3339(at_ms), "source": source, "detail": detail or {}},
    }


def event_body(event_id: str, kind: str, at_ms: int, data: dict) -> bytes:
    """The exact bytes POSTed (and signed) for an event; the same on every attempt."""
    return orjson.dumps({"id": event_id, "type": kind, "created_at": ms_to_rfc3339(at_ms), "data": data})


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
    body = event_body(event_id, kind, at_ms, payload)

    def fan_out(conn: Connection) -> None:
        endpoints = conn.execute(
            select(webhook_endpoints.c.id, webhook_endpoints.c.events).where(
                and_(webhook_endpoints.c.tenant_id == tenant_id, webhook_endpoints.c.deleted_ms.is_(None))
            )
        ).all()
        rows = []
        for endpoint in endpoints:
            if kind not in endpoint.events:
                continue
            did = new_id()
            rows.append({
                "id": did, "tenant_id": tenant_id, "endpoint_id": endpoint.id, "event_id": event_id,
                "event_type": kind, "message_id": message_id, "event_ms": at_ms, "created_ms": at_ms,
                "payload_enc": keyring.seal(tenant_id, "webhook_deliveries", "payload", did, body),
                "status": "pending", "attempts": 0, "next_attempt_ms": at_ms, "last_attempt_ms": None,
                "last_status": None, "last_error": None, "lease_owner": None, "lease_until_ms": None,
            })
        if rows:
            conn.execute(webhook_deliveries.insert(), rows)

    batch.run(fan_out)
