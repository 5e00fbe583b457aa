"""OpenAPI fragment for /v1/messages, kept next to the code that enforces it."""

from api.examples import BILL_CARD
from api.openapi import problem_responses, register_fragment
from cards.limits import FILE_NAME_MAX, LOCATION_DATUMS, LOCATION_LABEL_MAX
from messages.ledger import MAX_PAGE
from messages.request import MAX_CLIENT_REF, MAX_MEDIA_ID, MAX_RECIPIENTS, MAX_TTL_S, MIN_TTL_S, TRAFFIC_TYPES

_VARIABLES = {"type": "object", "description": "Per-recipient template variables", "additionalProperties": True}
_CARD = {
    "type": "object",
    "required": ["message"],
    "description": "GSMA Universal Profile bot message (application/vnd.gsma.botmessage.v1.0+json)",
    "properties": {"message": {"type": "object"}},
}
_TEMPLATE = {
    "oneOf": [
        {"type": "string", "minLength": 1},
        {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {"name": {"type": "string", "minLength": 1}, "version": {"type": "integer", "minimum": 1}},
        },
    ]
}
_COMMON = {
    "card": _CARD,
    "text": {
        "type": "string",
        "minLength": 1,
        "maxLength": 2000,
        "description": "A plain text message (jinja2 variables allowed); give exactly one of card, text, file, "
        "location or template",
    },
    "file": {
        "type": "object",
        "required": ["media_id"],
        "additionalProperties": False,
        "description": "A file message: one of your media (POST /v1/media), uploaded to the operator before it is "
        "sent (application/vnd.gsma.rcs-ft-http); without RCS, the SMS names the file and links to a page with it",
        "properties": {
            "media_id": {"type": "string", "minLength": 1, "maxLength": MAX_MEDIA_ID},
            "file_name": {"type": "string", "minLength": 1, "maxLength": FILE_NAME_MAX},
        },
    },
    "location": {
        "type": "object",
        "required": ["latitude", "longitude"],
        "additionalProperties": False,
        "description": "A location message (the interface's geo text); without RCS, the SMS names the place and "
        "links to a page with its map",
        "properties": {
            "latitude": {"type": "number", "minimum": -90, "maximum": 90},
            "longitude": {"type": "number", "minimum": -180, "maximum": 180},
            "label": {"type": "string", "minLength": 1, "maxLength": LOCATION_LABEL_MAX},
            "crs": {
                "enum": sorted(LOCATION_DATUMS),
                "default": "gcj02",
                "description": "the coordinates' datum: gcj02 (China's maps) or wgs84 (GPS)",
            },
        },
    },
    "suggestions": {
        "type": "array",
        "minItems": 1,
        "maxItems": 11,
        "items": {"type": "object"},
        "description": "A suggested chip list shown under the card or text "
        "(application/vnd.gsma.botsuggestion.v1.0+json suggestions)",
    },
    "template": _TEMPLATE,
    "traffic_type": {"enum": list(TRAFFIC_TYPES), "default": "notification"},
    "ttl": {"type": "integer", "minimum": MIN_TTL_S, "maximum": MAX_TTL_S, "default": 86400},
    "send_at": {"type": ["string", "null"], "format": "date-time"},
    "client_ref": {"type": ["string", "null"], "maxLength": MAX_CLIENT_REF},
    "fallback": {
        "enum": ["sms", "none"],
        "default": "sms",
        "description": "when RCS cannot deliver: the SMS fallback, or none (the message ends "
        "`failed`, or `expired` when its TTL ran out)",
    },
    "channel": {
        "enum": ["rcs", "sms"],
        "default": "rcs",
        "description": "rcs: RCS first, then the fallback; sms: straight to the SMS the fallback would send "
        "(not with fallback none)",
    },
}
_SEGMENT = {
    "type": ["string", "null"],
    "pattern": "^[a-z0-9][a-z0-9_.-]{0,31}$",
    "description": "what the recipient is to the brand (e.g. new_member): the segment's frequency caps "
    "(GET /v1/compliance/send-rules, segment_caps) apply as well as the traffic type's",
}
SEND_REQUEST = {
    "oneOf": [
        {
            "type": "object",
            "required": ["to"],
            "additionalProperties": False,
            "properties": {
                "to": {"type": "string", "description": "Phone number; E.164 or national (region CN)"},
                "variables": _VARIABLES,
                "segment": _SEGMENT,
                **_COMMON,
            },
        },
        {
            "type": "object",
            "required": ["recipients"],
            "additionalProperties": False,
            "properties": {
                "recipients": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_RECIPIENTS,
                    "items": {
                        "type": "object",
                        "required": ["to"],
                        "additionalProperties": False,
                        "properties": {"to": {"type": "string"}, "variables": _VARIABLES, "segment": _SEGMENT},
                    },
                },
                **_COMMON,
            },
        },
    ],
    "description": "Exactly one of `card`, `text`, `file`, `location` or `template`.",
}
_STATUS = {
    "type": "string",
    "description": "accepted, scheduled, held (for a reviewer: GET /v1/reviews), queued, rcs_sent, rcs_delivered, rcs_read, "
    "fallback_pending, sms_sent, sms_delivered, sms_failed, rejected, revoked, expired, failed",
}
ACCEPTED = {
    "type": "object",
    "required": ["batch_id", "messages"],
    "properties": {
        "batch_id": {"type": "string"},
        "messages": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "to", "status"],
                "properties": {
                    "id": {"type": "string"},
                    "to": {"type": "string"},
                    "status": _STATUS,
                    "review_id": {
                        "type": "string",
                        "description": "a held message's review item (GET /v1/reviews/{id})",
                    },
                },
            },
        },
    },
}
EVENT = {
    "type": "object",
    "required": ["type", "at", "source"],
    "properties": {
        "type": _STATUS,
        "at": {"type": "string", "format": "date-time"},
        "source": {"type": "string"},
        "detail": {"type": "object"},
    },
}
MESSAGE = {
    "type": "object",
    "required": ["id", "batch_id", "to", "status"],
    "example": {
        "id": "01a2b3c4d5e6f7000a1b2c3d4e5f6a7b",
        "batch_id": "01a2b3c4d5e6f7000a1b2c3d4e5f6a7c",
        "to": "+8613800138001",
        "status": "rcs_read",
        "created_at": "2026-12-04T08:30:00.000Z",
        "expires_at": "2026-12-05T08:30:00.000Z",
        "events": [
            {"type": "accepted", "at": "2026-12-04T08:30:00.000Z", "source": "api"},
            {"type": "queued", "at": "2026-12-04T08:30:00.120Z", "source": "dispatcher"},
            {"type": "rcs_sent", "at": "2026-12-04T08:30:00.480Z", "source": "dispatcher", "detail": {"attempts": 1}},
            {"type": "rcs_delivered", "at": "2026-12-04T08:30:01.900Z", "source": "maap"},
            {"type": "rcs_read", "at": "2026-12-04T08:31:12.000Z", "source": "maap"},
        ],
        "cost": {"charged": "0.0500", "currency": "CNY", "held": None, "refunded": False},
    },
    "properties": {
        "id": {"type": "string"},
        "batch_id": {"type": "string"},
        "to": {"type": "string"},
        "status": _STATUS,
        "test": {
            "type": "boolean",
            "description": "Sent with a test key (`hy_test_…`): it went only to the sandbox simulators and is "
            "never billed",
        },
        "created_at": {"type": "string", "format": "date-time"},
        "expires_at": {"type": "string", "format": "date-time"},
        "short_link": {"type": "string", "format": "uri"},
        "events": {"type": "array", "items": {"$ref": "#/components/schemas/MessageEvent"}},
        "cost": {
            "type": "object",
            "description": "What the message cost (billing: charged only when delivered; docs/billing.md)",
            "properties": {
                "charged": {"type": ["string", "null"], "description": "yuan, four decimals; null until delivered"},
                "currency": {"const": "CNY"},
                "held": {"type": ["string", "null"]},
                "refunded": {"type": "boolean"},
            },
        },
    },
}

SEND_EXAMPLES = {
    "card": {
        "summary": "A card to one recipient, with its variables",
        "value": {"to": "+8613800138001", "card": BILL_CARD, "variables": {"name": "张先生", "amount": "58.00"}},
    },
    "batch": {
        "summary": "A batch: one card, each recipient's variables, a TTL and the SMS fallback",
        "value": {
            "recipients": [
                {"to": "+8613800138001", "variables": {"name": "张先生", "amount": "58.00"}},
                {"to": "+8613800138010", "variables": {"name": "李女士", "amount": "126.50"}},
            ],
            "card": BILL_CARD,
            "traffic_type": "notification",
            "ttl": 86400,
            "fallback": "sms",
        },
    },
    "template": {
        "summary": "An approved template version, by name",
        "value": {
            "to": "+8613800138001",
            "template": {"name": "monthly_bill", "version": 2},
            "variables": {"name": "张"},
        },
    },
    "text": {
        "summary": "Plain text with a chip list",
        "value": {
            "to": "+8613800138001",
            "text": "您的快递已到驿站",
            "suggestions": [{"reply": {"displayText": "已取件", "postback": {"data": "picked-up"}}}],
        },
    },
}


register_fragment(
    {
        "schemas": {"SendRequest": SEND_REQUEST, "Accepted": ACCEPTED, "Message": MESSAGE, "MessageEvent": EVENT},
        "paths": {
            "/v1/messages": {
                "post": {
                    "summary": "Send a card to one recipient or a batch",
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "description": "Same key and the same JSON (spacing and key order aside) → the same "
                            "answer again; same key and other JSON → 409, checked before any validation.",
                            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/SendRequest"},
                                "examples": SEND_EXAMPLES,
                            }
                        },
                    },
                    "responses": {
                        "202": {
                            "description": "Accepted and durable",
                            "headers": {
                                "Location": {
                                    "description": "The message, or the batch's list",
                                    "schema": {"type": "string"},
                                },
                            },
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Accepted"},
                                    "example": {
                                        "batch_id": "01a2b3c4d5e6f7000a1b2c3d4e5f6a7c",
                                        "messages": [
                                            {
                                                "id": "01a2b3c4d5e6f7000a1b2c3d4e5f6a7b",
                                                "to": "+8613800138001",
                                                "status": "accepted",
                                            }
                                        ],
                                    },
                                }
                            },
                        },
                        **problem_responses(400, 401, 402, 409, 413, 415, 422, 429),
                    },
                },
                "get": {
                    "summary": "List messages (a batch in recipient order, or all newest first)",
                    "parameters": [
                        {"name": "batch_id", "in": "query", "schema": {"type": "string"}},
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "A page",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["data", "next_cursor"],
                                        "properties": {
                                            "data": {
                                                "type": "array",
                                                "items": {"$ref": "#/components/schemas/Message"},
                                            },
                                            "next_cursor": {"type": ["string", "null"]},
                                        },
                                    }
                                }
                            },
                        },
                        **problem_responses(401, 422),
                    },
                },
            },
            "/v1/messages/{id}": {
                "get": {
                    "summary": "One message with its event history",
                    "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {
                        "200": {
                            "description": "The message",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Message"}}},
                        },
                        **problem_responses(401, 404),
                    },
                }
            },
        },
    }
)

_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
_CAPABILITY = {"enum": ["supported", "not_supported", "unknown", "invalid"]}

register_fragment(
    {
        "paths": {
            "/v1/messages/{id}/cancel": {
                "post": {
                    "summary": "Cancel a message: not sent yet → revoked at once; in flight over RCS → revoked "
                    "at the operator first (the outcome follows as events and webhooks)",
                    "parameters": _ID,
                    "responses": {
                        "200": {
                            "description": "Revoked: it will never be sent",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Message"}}},
                        },
                        "202": {
                            "description": "Being revoked at the operator",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Message"}}},
                        },
                        **problem_responses(401, 404, 409, 503),
                    },
                }
            },
            "/v1/capabilities": {
                "post": {
                    "summary": "Whether numbers can receive RCS business messages now (never a boolean)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["numbers"],
                                    "properties": {
                                        "numbers": {
                                            "type": "array",
                                            "minItems": 1,
                                            "maxItems": 10_000,
                                            "items": {"type": "string"},
                                        }
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "One answer per number, in the order given",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "results": {
                                                "type": "array",
                                                "items": {
                                                    "type": "object",
                                                    "properties": {
                                                        "number": {"type": ["string", "null"]},
                                                        "e164": {"type": ["string", "null"]},
                                                        "capability": _CAPABILITY,
                                                    },
                                                },
                                            }
                                        },
                                    }
                                }
                            },
                        },
                        **problem_responses(400, 401, 415, 422),
                    },
                }
            },
        }
    }
)
