"""Integrator webhooks: endpoint registration and signed, ordered, at-least-once delivery."""
from webhooks.endpoints import Registration, parse_registration
from webhooks.http import WEBHOOKS, routes
from webhooks.outbox import EVENT_TYPES, MESSAGE_STATUS, MESSAGE_USER_EVENT, enqueue, event_body, status_data
from webhooks.service import WebhookService, exponential_backoff
from webhooks.tables import SEALED_COLUMNS
from webhooks import openapi as _openapi  # noqa: F401  (registers the API description)

__all__ = [
    "EVENT_TYPES",
    "MESSAGE_STATUS",
    "MESSAGE_USER_EVENT",
    "Registration",
    "SEALED_COLUMNS",
    "WEBHOOKS",
    "WebhookService",
    "enqueue",
    "event_body",
    "exponential_backoff",
    "parse_registration",
    "routes",
    "status_data",
]
