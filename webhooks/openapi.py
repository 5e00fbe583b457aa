"""OpenAPI fragment for /v1/webhooks and /v1/webhook-deliveries."""

from api.openapi import problem_responses, register_fragment
from webhooks.endpoints import MAX_URL
from webhooks.outbox import EVENT_TYPES
from webhooks.service import DELIVERY_STATUSES, MAX_PAGE

_TIME = {"type": "string", "format": "date-time"}
_EVENTS = {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"enum": list(EVENT_TYPES)}}
REGISTRATION = {
    "type": "object",
    "required": ["url", "events"],
    "additionalProperties": False,
    "properties": {
        "url": {
            "type": "string",
            "format": "uri",
            "maxLength": MAX_URL,
            "description": "https:// (http:// only where the server allows it, e.g. the sandbox)",
        },
        "events": _EVENTS,
    },
}
ENDPOINT = {
    "type": "object",
    "required": ["id", "url", "events", "created_at"],
    "properties": {"id": {"type": "string"}, "url": {"type": "string"}, "events": _EVENTS, "created_at": _TIME},
}
CREATED = {
    "allOf": [
        {"$ref": "#/components/schemas/WebhookEndpoint"},
        {
            "type": "object",
            "required": ["secret"],
            "properties": {
                "secret": {
                    "type": "string",
                    "description": (
                        "Shown once. Verify `Hongyan-Signature: t=<unix seconds>,v1=<hex HMAC-SM3(UTF-8 secret, "
                        '"<t>." + raw body)>` and reject a t older than 5 minutes.'
                    ),
                }
            },
        },
    ]
}
DELIVERY = {
    "type": "object",
    "required": ["id", "event_id", "event_type", "endpoint_id", "status", "attempts"],
    "properties": {
        "id": {"type": "string"},
        "event_id": {"type": "string"},
        "event_type": {"enum": list(EVENT_TYPES)},
        "endpoint_id": {"type": "string"},
        "message_id": {"type": ["string", "null"]},
        "status": {"enum": list(DELIVERY_STATUSES)},
        "attempts": {"type": "integer"},
        "last_status": {"type": ["integer", "null"], "description": "HTTP status of the last attempt"},
        "last_error": {"type": ["string", "null"]},
        "created_at": _TIME,
        "last_attempt_at": {"type": ["string", "null"], "format": "date-time"},
        "next_attempt_at": {"type": ["string", "null"], "format": "date-time"},
    },
}
EVENT = {
    "type": "object",
    "description": "The body POSTed to an endpoint; `id` is the same on every retry (de-duplicate on it).",
    "required": ["id", "type", "created_at", "data"],
    "properties": {
        "id": {"type": "string"},
        "type": {"enum": list(EVENT_TYPES)},
        "created_at": _TIME,
        "data": {"type": "object"},
    },
}


def _page(ref: str) -> dict:
    return {
        "type": "object",
        "required": ["data", "next_cursor"],
        "properties": {
            "data": {"type": "array", "items": {"$ref": f"#/components/schemas/{ref}"}},
            "next_cursor": {"type": ["string", "null"]},
        },
    }


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


register_fragment(
    {
        "schemas": {
            "WebhookRegistration": REGISTRATION,
            "WebhookEndpoint": ENDPOINT,
            "WebhookCreated": CREATED,
            "WebhookDelivery": DELIVERY,
            "WebhookEvent": EVENT,
        },
        "paths": {
            "/v1/webhooks": {
                "post": {
                    "summary": "Register a webhook endpoint for event types",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/WebhookRegistration"}}
                        },
                    },
                    "responses": {
                        "201": _json({"$ref": "#/components/schemas/WebhookCreated"}, "Registered"),
                        **problem_responses(400, 401, 415, 422),
                    },
                },
                "get": {
                    "summary": "List webhook endpoints (no secrets)",
                    "responses": {"200": _json(_page("WebhookEndpoint"), "The endpoints"), **problem_responses(401)},
                },
            },
            "/v1/webhooks/{id}": {
                "delete": {
                    "summary": "Delete an endpoint; its pending deliveries are cancelled",
                    "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"204": {"description": "Deleted"}, **problem_responses(401, 404)},
                }
            },
            "/v1/webhooks/{id}/secret": {
                "post": {
                    "summary": "Rotate an endpoint's signing secret (the new one signs from the next attempt on)",
                    "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["id", "secret", "rotated_at"],
                                "properties": {
                                    "id": {"type": "string"},
                                    "secret": {"type": "string"},
                                    "rotated_at": _TIME,
                                },
                            },
                            "The new secret, shown once",
                        ),
                        **problem_responses(401, 404),
                    },
                }
            },
            "/v1/webhook-deliveries": {
                "get": {
                    "summary": "Webhook deliveries, newest first",
                    "parameters": [
                        {"name": "message_id", "in": "query", "schema": {"type": "string"}},
                        {"name": "endpoint_id", "in": "query", "schema": {"type": "string"}},
                        {"name": "status", "in": "query", "schema": {"enum": list(DELIVERY_STATUSES)}},
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
                        },
                    ],
                    "responses": {"200": _json(_page("WebhookDelivery"), "A page"), **problem_responses(401, 422)},
                }
            },
        },
    }
)
