"""OpenAPI fragment for /v1/webhooks and /v1/webhook-deliveries."""

from api.openapi import problem_responses, register_fragment
from webhooks.endpoints import MAX_URL
from webhooks.outbox import EVENT_TYPES
from webhooks.service import DEFAULT_GRACE_S, DELIVERY_STATUSES, MAX_GRACE_S, MAX_PAGE

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
                    "summary": "Rotate an endpoint's signing secret: the new one signs from the next attempt on, "
                    "the old one too (a second v1=) through the grace period",
                    "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "properties": {
                                        "grace_seconds": {
                                            "type": "integer",
                                            "minimum": 0,
                                            "maximum": MAX_GRACE_S,
                                            "default": DEFAULT_GRACE_S,
                                            "description": "How long the old secret still signs (0: not at all)",
                                        }
                                    },
                                },
                                "example": {"grace_seconds": 86400},
                            }
                        },
                    },
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["id", "secret", "rotated_at", "previous_secret_valid_until"],
                                "properties": {
                                    "id": {"type": "string"},
                                    "secret": {"type": "string"},
                                    "rotated_at": _TIME,
                                    "previous_secret_valid_until": {"type": ["string", "null"], "format": "date-time"},
                                },
                            },
                            "The new secret, shown once",
                        ),
                        **problem_responses(401, 404, 422),
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


# -- the events themselves (OpenAPI 3.1 `webhooks`): each type's `data`, with an example -------
_STR, _NSTR = {"type": "string"}, {"type": ["string", "null"]}
_EVENT_AT = {"type": "object", "required": ["type", "at", "source"], "properties": {
    "type": _STR, "at": _TIME, "source": _STR, "detail": {"type": "object"}}}  # fmt: skip
_THREAD_MESSAGE = {
    "type": "object",
    "required": ["id", "direction", "author", "kind", "channel", "at"],
    "properties": {
        "id": _STR,
        "direction": {"enum": ["in", "out"]},
        "author": {"enum": ["user", "bot", "agent", "api"]},
        "kind": _STR,
        "channel": {"enum": ["rcs", "sms"]},
        "text": _STR,
        "postback": _STR,
        "card": {"type": "object"},
        "message_id": {"type": "string", "description": "An outbound's message in /v1/messages"},
        "agent_id": _STR,
        "at": _TIME,
    },
}
_TEST = {"type": "boolean", "description": "Sent with a test key (`hy_test_…`): simulators only, never billed"}
EVENT_DATA: dict[str, tuple[str, dict, dict]] = {
    # type: (summary, the schema of `data`, an example of `data`)
    "message.status": (
        "A message's status changed (accepted → … → rcs_read / sms_delivered / failed / expired / revoked)",
        {
            "type": "object",
            "required": ["message_id", "batch_id", "to", "status", "event"],
            "properties": {
                "message_id": _STR,
                "batch_id": _STR,
                "to": _STR,
                "status": _STR,
                "test": _TEST,
                "event": _EVENT_AT,
            },
        },  # fmt: skip
        {
            "message_id": "01a2b3c4d5e6f7000a1b2c3d4e5f6a7b",
            "batch_id": "01a2b3c4d5e6f7000a1b2c3d4e5f6a7c",
            "to": "+8613800138001",
            "status": "rcs_read",
            "test": False,
            "event": {"type": "rcs_read", "at": "2026-12-04T08:00:03.120Z", "source": "maap", "detail": {}},
        },
    ),
    "message.user_event": (
        "A recipient answered a message: a reply, a tapped chip, a location, a file, an SMS reply",
        {
            "type": "object",
            "required": ["message_id", "batch_id", "to", "event"],
            "properties": {
                "message_id": _STR,
                "batch_id": _STR,
                "to": _STR,
                "test": _TEST,
                "event": {
                    "type": "object",
                    "required": ["kind", "at", "source"],
                    "properties": {
                        "kind": {
                            "enum": [
                                "text",
                                "suggestion_response",
                                "location",
                                "file",
                                "device_specifics",
                                "spam_report",
                            ]
                        },
                        "at": _TIME,
                        "source": {"enum": ["rcs", "sms", "sms_link"]},
                        "text": _NSTR,
                        "postback": _NSTR,
                        "display_text": _NSTR,
                        "location": {"type": ["object", "null"]},
                        "opt_out": {"type": "boolean"},
                    },
                },
            },
        },  # fmt: skip
        {
            "message_id": "01a2b3c4d5e6f7000a1b2c3d4e5f6a7b",
            "batch_id": "01a2b3c4d5e6f7000a1b2c3d4e5f6a7c",
            "to": "+8613800138001",
            "event": {
                "kind": "suggestion_response",
                "at": "2026-12-04T08:01:10.000Z",
                "source": "rcs",
                "text": None,
                "postback": "pay_bill",
                "display_text": "立即缴费",
            },
        },
    ),
    "channel.audit": (
        "The operator's verdict on a chatbot menu or profile the brand published",
        {
            "type": "object",
            "required": ["channel_id", "chatbot_id", "publish_id", "kind", "state"],
            "properties": {
                "channel_id": _STR,
                "chatbot_id": _STR,
                "publish_id": _STR,
                "kind": {"enum": ["menu", "profile"]},
                "state": {"enum": ["approved", "rejected"]},
                "reason": _NSTR,
                "submitted_at": _TIME,
                "audited_at": _TIME,
            },
        },  # fmt: skip
        {
            "channel_id": "01a2b3c4d5e6f7000a1b2c3d4e5f6a80",
            "chatbot_id": "sip:12520000101@botplatform.rcs.chinatelecom.cn",
            "publish_id": "01a2b3c4d5e6f7000a1b2c3d4e5f6a81",
            "kind": "menu",
            "state": "approved",
            "reason": None,
            "submitted_at": "2026-12-04T07:00:00.000Z",
            "audited_at": "2026-12-04T07:20:00.000Z",
        },
    ),
    "tenant.daily_volume": (
        "The tenant's accepted recipients today (China's day) reached its alert threshold",
        {
            "type": "object",
            "required": ["day", "count", "alert_at"],
            "properties": {
                "day": {"type": "string", "format": "date"},
                "count": {"type": "integer"},
                "alert_at": {"type": "integer"},
                "limit": {"type": ["integer", "null"]},
            },
        },  # fmt: skip
        {"day": "2026-12-04", "count": 80012, "alert_at": 80000, "limit": 100000},
    ),
    "conversation.message": (
        "A message in a conversation, either way (docs/conversations.md)",
        {
            "type": "object",
            "required": ["conversation_id", "number", "message"],
            "properties": {"conversation_id": _STR, "number": _STR, "message": _THREAD_MESSAGE},
        },  # fmt: skip
        {
            "conversation_id": "01a2b3c4d5e6f7000a1b2c3d4e5f6a90",
            "number": "+8613800138001",
            "message": {
                "id": "01a2b3c4d5e6f7000a1b2c3d4e5f6a91",
                "direction": "in",
                "author": "user",
                "kind": "text",
                "channel": "rcs",
                "text": "我的话费还剩多少",
                "at": "2026-12-04T08:02:00.000Z",
            },
        },
    ),
    "conversation.state": (
        "A conversation changed hands: handed to people, assigned, closed, back with the bot",
        {
            "type": "object",
            "required": ["conversation_id", "number", "state", "previous_state", "at"],
            "properties": {
                "conversation_id": _STR,
                "number": _STR,
                "state": {"enum": ["bot", "queued", "assigned", "closed"]},
                "previous_state": {"enum": ["bot", "queued", "assigned", "closed"]},
                "assignee": _NSTR,
                "at": _TIME,
            },
        },  # fmt: skip
        {
            "conversation_id": "01a2b3c4d5e6f7000a1b2c3d4e5f6a90",
            "number": "+8613800138001",
            "state": "queued",
            "previous_state": "bot",
            "assignee": None,
            "at": "2026-12-04T08:02:01.000Z",
        },
    ),
}
assert set(EVENT_DATA) == set(EVENT_TYPES), "every event type is described"


def _schema_name(kind: str) -> str:
    return "Event" + "".join(part.title() for part in kind.replace("_", ".").split("."))


def _webhook(kind: str) -> dict:
    summary, _, example = EVENT_DATA[kind]
    name = _schema_name(kind)
    return {
        "post": {
            "summary": summary,
            "operationId": f"webhook_{kind.replace('.', '_')}",
            "tags": ["webhooks"],
            "description": "POSTed to every endpoint subscribed to this type, signed in `Hongyan-Signature`.",
            "parameters": [
                {
                    "name": "Hongyan-Signature",
                    "in": "header",
                    "required": True,
                    "schema": {"type": "string"},
                    "example": "t=1796371200,v1=5f2b…",
                }
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{name}"},
                        "example": {
                            "id": "01a2b3c4d5e6f7000a1b2c3d4e5f6aa0",
                            "type": kind,
                            "created_at": "2026-12-04T08:02:01.000Z",
                            "data": example,
                        },
                    }
                },
            },
            "responses": {"2XX": {"description": "Taken; anything else is retried with back-off"}},
        }
    }


register_fragment(
    {
        "schemas": {
            _schema_name(kind): {
                "allOf": [
                    {"$ref": "#/components/schemas/WebhookEvent"},
                    {"type": "object", "properties": {"type": {"const": kind}, "data": schema}},
                ]
            }
            for kind, (_, schema, _) in EVENT_DATA.items()
        },
        "webhooks": {kind: _webhook(kind) for kind in EVENT_TYPES},
    }
)
