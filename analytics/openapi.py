"""OpenAPI fragment for conversions and funnels."""

from api.openapi import problem_responses, register_fragment

_JSON = "application/json"
_CONVERSION_IN = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "message_id": {"type": "string", "description": "the message the conversion follows (or short_link)"},
        "short_link": {"type": "string", "description": "the message's short link (https://…/s/TOKEN) or its token"},
        "name": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,64}$", "default": "conversion"},
        "value": {"type": ["string", "integer"], "description": "an exact amount ≥ 0, at most 4 decimals"},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$", "default": "CNY"},
        "occurred_at": {"type": "string", "format": "date-time", "description": "default: now"},
        "id": {"type": "string", "maxLength": 64, "description": "your id: a retry with it records nothing twice"},
    },
}
_CONVERSION = {
    "type": "object",
    "required": ["id", "message_id", "batch_id", "name", "source", "occurred_at", "recorded_at"],
    "properties": {
        "id": {"type": "string"},
        "external_id": {"type": ["string", "null"]},
        "message_id": {"type": "string"},
        "batch_id": {"type": "string"},
        "name": {"type": "string"},
        "value": {"type": ["string", "null"]},
        "currency": {"type": ["string", "null"]},
        "source": {"enum": ["api", "link"]},
        "occurred_at": {"type": "string", "format": "date-time"},
        "recorded_at": {"type": "string", "format": "date-time"},
    },
}
_STAGE = {"type": "integer", "minimum": 0}
FUNNEL_ROW = {
    "type": "object",
    "required": ["group", "accepted", "delivered", "read", "clicked", "replied", "converted"],
    "properties": {
        "group": {
            "type": ["string", "integer"],
            "description": "all, a batch id, rcs/sms, the hour (0–23, China) or the day (YYYY-MM-DD, China)",
        },
        **{
            s: _STAGE
            for s in ("accepted", "delivered", "read", "clicked", "replied", "converted", "rejected", "failed")
        },
        "rates": {"type": "object", "additionalProperties": {"type": ["number", "null"]}},
        "conversion_value": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


# A funnel's answer: JSON (one row per group) or CSV.
FUNNEL_RESPONSE = {
    "description": "One row per group",
    "content": {
        _JSON: {
            "schema": {
                "type": "object",
                "properties": {
                    "group_by": {"type": "string"},
                    "stages": {"type": "array", "items": {"type": "string"}},
                    "data": {"type": "array", "items": FUNNEL_ROW},
                },
            }
        },
        "text/csv": {"schema": {"type": "string"}},
    },
}


def _json(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


register_fragment(
    {
        "paths": {
            "/v1/conversions": {
                "post": {
                    "summary": "Report a conversion (a purchase, a sign-up) that followed a message",
                    "requestBody": {"required": True, "content": {_JSON: {"schema": _CONVERSION_IN}}},
                    "responses": {
                        "201": _json(_CONVERSION, "Recorded"),
                        "200": _json(_CONVERSION, "Recorded before with this id: the first record"),
                        **problem_responses(400, 401, 403, 409, 415, 422),
                    },
                }
            },
            "/v1/messages/{id}/conversions": {
                "get": {
                    "summary": "The conversions reported for a message",
                    "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {
                        "200": _json(
                            {"type": "object", "properties": {"data": {"type": "array", "items": _CONVERSION}}}
                        ),
                        **problem_responses(401, 403),
                    },
                }
            },
            "/v1/analytics/funnel": {
                "get": {
                    "summary": "How many messages reached each stage: accepted → delivered → read → clicked → "
                    "replied → converted, per batch, channel or hour of day",
                    "parameters": [
                        {
                            "name": "batch_id",
                            "in": "query",
                            "schema": {"type": "string"},
                            "description": "repeatable, up to 100",
                        },
                        {"name": "since", "in": "query", "schema": {"type": "string", "format": "date-time"}},
                        {"name": "until", "in": "query", "schema": {"type": "string", "format": "date-time"}},
                        {
                            "name": "group_by",
                            "in": "query",
                            "schema": {"enum": ["none", "batch", "channel", "hour", "day"]},
                        },
                        {"name": "format", "in": "query", "schema": {"enum": ["json", "csv"]}},
                    ],
                    "responses": {
                        "200": FUNNEL_RESPONSE,
                        **problem_responses(401, 403, 422),
                    },
                }
            },
        }
    }
)

# Request examples the sandbox accepts (tests/api/test_openapi_examples.py sends each).
register_fragment(
    {
        "request_examples": {
            "POST /v1/conversions": {
                "message_id": "0193a4f2c8b57d1e9a06b3c2d4e5f6a7",
                "name": "purchase",
                "value": "199.90",
                "id": "order-20261204-0001",
            },
        }
    }
)

# Text answers as the server writes them.
register_fragment(
    {
        "response_examples": {
            "GET /v1/analytics/funnel 200 text/csv": (
                "group,accepted,delivered,read,clicked,replied,converted,opted_out,rejected,failed,conversion_value\n"
                "none,1200,1164,702,233,41,18,3,0,36,3598.20 CNY\n"
            )
        }
    }
)
