"""Integrator webhooks: endpoint registration and signed, ordered, at-least-once delivery.

Names load on first use, so code that only queues events (`webhooks.outbox`) does not pull in
the HTTP client and server.
"""

import importlib

_EXPORTS = {
    "Registration": "webhooks.endpoints",
    "parse_registration": "webhooks.endpoints",
    "WEBHOOKS": "webhooks.http",
    "routes": "webhooks.http",
    "EVENT_TYPES": "webhooks.outbox",
    "MESSAGE_STATUS": "webhooks.outbox",
    "MESSAGE_USER_EVENT": "webhooks.outbox",
    "enqueue": "webhooks.outbox",
    "event_body": "webhooks.outbox",
    "status_data": "webhooks.outbox",
    "WebhookService": "webhooks.service",
    "exponential_backoff": "webhooks.service",
    "SEALED_COLUMNS": "webhooks.tables",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'webhooks' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
