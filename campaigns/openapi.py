"""OpenAPI fragment for campaigns (/v1/campaigns)."""

from analytics.openapi import FUNNEL_RESPONSE, FUNNEL_ROW
from api.openapi import problem_responses, register_fragment
from campaigns.service import FUNNEL_GROUPS, STATUSES
from campaigns.spec import MAX_HOURS, MAX_THROTTLE, MAX_VARIANTS, METRICS, RESEND_UNLESS

_JSON = "application/json"
_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
_TEMPLATE = {
    "oneOf": [
        {"type": "string", "minLength": 1},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["name"],
            "properties": {"name": {"type": "string", "minLength": 1}, "version": {"type": "integer", "minimum": 1}},
        },
    ],
    "description": "a template name, or {name, version}; launch pins the version found then",
}
_SHARE = {"type": "number", "exclusiveMinimum": 0, "maximum": 1}
_HOURS = {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_HOURS}
_SPEC_PROPERTIES = {
    "name": {"type": "string", "minLength": 1, "maxLength": 200},
    "template": _TEMPLATE,
    "segment_id": {"type": "string", "description": "the audience: one of your segments (its filter as at launch)"},
    "traffic_type": {"enum": ["notification", "marketing", "otp"], "default": "marketing"},
    "ttl": {"type": "integer", "minimum": 1, "maximum": 1_296_000, "default": 86400},
    "fallback": {"enum": ["sms", "none"], "default": "sms"},
    "start_at": {"type": ["string", "null"], "format": "date-time", "description": "default: at launch"},
    "throttle": {
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_THROTTLE,
        "default": 100,
        "description": "messages a second",
    },
    "window": {
        "type": ["object", "null"],
        "properties": {"start": {"type": "string"}, "end": {"type": "string"}},
        "description": "sends only from start to end (HH:MM) in time_zone; the tenant's send windows apply too",
    },
    "time_zone": {"type": "string", "default": "Asia/Shanghai"},
    "variables": {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "description": "template variable → contact attribute (default: the attribute of the same name)",
    },
    "defaults": {
        "type": "object",
        "additionalProperties": {"type": "string", "maxLength": 500},
        "description": "template variable → the text for a contact without the attribute (else it is skipped)",
    },
    "ab": {
        "type": ["object", "null"],
        "properties": {
            "variants": {
                "type": "array",
                "minItems": 2,
                "maxItems": MAX_VARIANTS,
                "items": {
                    "type": "object",
                    "required": ["name", "share"],
                    "properties": {"name": {"type": "string"}, "share": _SHARE, "template": _TEMPLATE},
                },
            },
            "holdout": {"type": "number", "minimum": 0, "maximum": 1},
            "winner": {
                "type": ["object", "null"],
                "properties": {"after_hours": _HOURS, "metric": {"enum": list(METRICS), "default": "clicked"}},
                "description": "after the variants were sent and after_hours passed, the best variant on the "
                "metric goes to the rest of the audience",
            },
        },
    },
    "resend": {
        "type": ["object", "null"],
        "properties": {
            "after_hours": _HOURS,
            "unless": {"enum": list(RESEND_UNLESS), "default": "read_or_clicked"},
            "channel": {"enum": ["sms"], "description": "the SMS form of the first message (the default)"},
            "template": _TEMPLATE,
        },
        "description": "smart resend: the first message went over RCS and was not read/clicked/answered in time",
    },
}
_SPEC = {"type": "object", "required": ["name", "segment_id"], "properties": _SPEC_PROPERTIES}
_PROGRESS = {
    "type": "object",
    "properties": {k: {"type": "integer"} for k in ("pending", "sent", "skipped", "held_out", "resent")},
}
_CAMPAIGN = {
    "type": "object",
    "required": ["id", "name", "status", "segment_id", "template", "audience", "created_at"],
    "properties": {
        "id": {"type": "string"},
        **_SPEC_PROPERTIES,
        "status": {"enum": list(STATUSES)},
        "phase": {"type": ["string", "null"], "enum": ["snapshot", "sending", "testing", "done", None]},
        "audience": {"type": "integer"},
        "winner": {"type": ["string", "null"]},
        "winner_detail": {"type": ["object", "null"]},
        "error": {"type": ["string", "null"], "description": "why the runner paused it"},
        "progress": _PROGRESS,
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "launched_at": {"type": ["string", "null"], "format": "date-time"},
        "finished_at": {"type": ["string", "null"], "format": "date-time"},
    },
}
_FUNNEL_ROW_OR_NULL = {"oneOf": [FUNNEL_ROW, {"type": "null"}]}
_RESULTS = {
    "type": "object",
    "properties": {
        "campaign_id": {"type": "string"},
        "status": {"enum": list(STATUSES)},
        "metric": {"enum": list(METRICS)},
        "variants": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "variant": {"type": "string"},
                    "contacts": {"type": "integer"},
                    "skipped": {"type": "integer"},
                    "funnel": _FUNNEL_ROW_OR_NULL,
                },
            },
        },
        "test": {"type": ["object", "null"], "description": "each variant against the first: two-proportion z-test"},
        "winner": {"type": ["string", "null"]},
        "winner_detail": {"type": ["object", "null"]},
        "resend": _FUNNEL_ROW_OR_NULL,
        "cost": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


_JOURNEY_PROPERTIES = {
    "name": {"type": "string", "minLength": 1, "maxLength": 200},
    "template": _TEMPLATE,
    "date_attribute": {"type": "string", "description": "a contact attribute holding a date (YYYY-MM-DD)"},
    "offset_days": {
        "type": "integer",
        "minimum": -366,
        "maximum": 366,
        "default": 0,
        "description": "days after the date (negative: before it, e.g. -30 for 30 days before a renewal)",
    },
    "recurrence": {"enum": ["once", "yearly", "monthly"], "default": "once"},
    "send_time": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$", "default": "10:00"},
    "time_zone": {"type": "string", "default": "Asia/Shanghai"},
    "segment_id": {"type": ["string", "null"], "description": "only its members (default: every contact)"},
    "traffic_type": {"enum": ["notification", "marketing", "otp"], "default": "notification"},
    "ttl": {"type": "integer", "minimum": 1, "maximum": 1_296_000},
    "fallback": {"enum": ["sms", "none"]},
    "variables": _SPEC_PROPERTIES["variables"],
    "defaults": _SPEC_PROPERTIES["defaults"],
}
_JOURNEY_IN = {"type": "object", "required": ["name", "template", "date_attribute"], "properties": _JOURNEY_PROPERTIES}
_JOURNEY = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "status": {"enum": ["active", "paused"]},
        **_JOURNEY_PROPERTIES,
        "evaluated_day": {"type": ["string", "null"], "description": "the last local day evaluated completely"},
        "sends": {"type": "object", "additionalProperties": {"type": "integer"}},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}
_FUNNEL_QUERY = [
    {"name": "group_by", "in": "query", "schema": {"enum": list(FUNNEL_GROUPS)}},
    {"name": "format", "in": "query", "schema": {"enum": ["json", "csv"]}},
]


def _json(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _list(item: dict, summary: str, *query: dict) -> dict:
    """A GET of a keyset page of items."""
    return {
        "summary": summary,
        "parameters": [
            *query,
            {"name": "cursor", "in": "query", "schema": {"type": "string"}},
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
        ],
        "responses": {
            "200": _json(
                {
                    "type": "object",
                    "properties": {
                        "data": {"type": "array", "items": item},
                        "next_cursor": {"type": ["string", "null"]},
                    },
                }
            ),
            **problem_responses(401, 403, 422),
        },
    }


def _action(summary: str) -> dict:
    return {
        "post": {
            "summary": summary,
            "parameters": _ID,
            "responses": {"200": _json(_CAMPAIGN), **problem_responses(401, 403, 404, 409, 422)},
        }
    }


register_fragment(
    {
        "paths": {
            "/v1/campaigns": {
                "post": {
                    "summary": "Create a campaign (a draft)",
                    "requestBody": {"required": True, "content": {_JSON: {"schema": _SPEC}}},
                    "responses": {"201": _json(_CAMPAIGN, "Created"), **problem_responses(400, 401, 403, 415, 422)},
                },
                "get": _list(
                    _CAMPAIGN,
                    "List campaigns (id order)",
                    {"name": "status", "in": "query", "schema": {"enum": list(STATUSES)}},
                ),
            },
            "/v1/campaigns/{id}": {
                "get": {
                    "summary": "A campaign with its progress",
                    "parameters": _ID,
                    "responses": {"200": _json(_CAMPAIGN), **problem_responses(401, 403, 404)},
                },
                "put": {
                    "summary": "Change a draft",
                    "parameters": _ID,
                    "requestBody": {"required": True, "content": {_JSON: {"schema": _SPEC}}},
                    "responses": {"200": _json(_CAMPAIGN), **problem_responses(400, 401, 403, 404, 409, 415, 422)},
                },
                "delete": {
                    "summary": "Delete a draft",
                    "parameters": _ID,
                    "responses": {"204": {"description": "Deleted"}, **problem_responses(401, 403, 404, 409)},
                },
            },
            "/v1/campaigns/{id}/launch": _action("Launch a draft: scheduled for start_at, or running now"),
            "/v1/campaigns/{id}/pause": _action("Pause: no page goes until it is resumed"),
            "/v1/campaigns/{id}/resume": _action("Resume a paused campaign"),
            "/v1/campaigns/{id}/cancel": _action("Cancel: nothing more goes; what was sent stays on record"),
            "/v1/campaigns/{id}/results": {
                "get": {
                    "summary": "Per variant: audience, funnel and the A/B test; the resend; the cost",
                    "parameters": _ID,
                    "responses": {"200": _json(_RESULTS), **problem_responses(401, 403, 404)},
                }
            },
            "/v1/campaigns/{id}/funnel": {
                "get": {
                    "summary": "The campaign's funnel per variant, kind, carrier, channel, hour or day",
                    "parameters": [*_ID, *_FUNNEL_QUERY],
                    "responses": {"200": FUNNEL_RESPONSE, **problem_responses(401, 403, 404, 422)},
                }
            },
            "/v1/journeys": {
                "post": {
                    "summary": "Create a triggered journey (active at once)",
                    "requestBody": {"required": True, "content": {_JSON: {"schema": _JOURNEY_IN}}},
                    "responses": {"201": _json(_JOURNEY, "Created"), **problem_responses(400, 401, 403, 415, 422)},
                },
                "get": _list(_JOURNEY, "List journeys (id order)"),
            },
            "/v1/journeys/{id}": {
                "get": {
                    "summary": "A journey with its send counts",
                    "parameters": _ID,
                    "responses": {"200": _json(_JOURNEY), **problem_responses(401, 403, 404)},
                },
                "put": {
                    "summary": "Change a journey (from the next evaluation on)",
                    "parameters": _ID,
                    "requestBody": {"required": True, "content": {_JSON: {"schema": _JOURNEY_IN}}},
                    "responses": {"200": _json(_JOURNEY), **problem_responses(400, 401, 403, 404, 415, 422)},
                },
            },
            "/v1/journeys/{id}/pause": {
                "post": {
                    "summary": "Pause a journey (no evaluation until resumed)",
                    "parameters": _ID,
                    "responses": {"200": _json(_JOURNEY), **problem_responses(401, 403, 404)},
                }
            },
            "/v1/journeys/{id}/resume": {
                "post": {
                    "summary": "Resume a journey",
                    "parameters": _ID,
                    "responses": {"200": _json(_JOURNEY), **problem_responses(401, 403, 404)},
                }
            },
            "/v1/journeys/{id}/funnel": {
                "get": {
                    "summary": "The funnel of what a journey sent",
                    "parameters": [*_ID, *_FUNNEL_QUERY],
                    "responses": {"200": FUNNEL_RESPONSE, **problem_responses(401, 403, 404, 422)},
                }
            },
        }
    }
)

# Request examples the sandbox accepts (tests/api/test_openapi_examples.py sends each).
register_fragment(
    {
        "request_examples": {
            "POST /v1/campaigns": {
                "name": "双十二会员日",
                "template": "monthly_bill",
                "segment_id": "0193a4f2c8b57d1e9a06b3c2d4e5f6a7",
                "traffic_type": "marketing",
            },
            "PUT /v1/campaigns/{id}": {
                "name": "双十二会员日（第二波）",
                "template": "monthly_bill",
                "segment_id": "0193a4f2c8b57d1e9a06b3c2d4e5f6a7",
                "traffic_type": "marketing",
            },
        }
    }
)

# Text answers as the server writes them.
register_fragment(
    {
        "response_examples": {
            "GET /v1/campaigns/{id}/funnel 200 text/csv": (
                "group,accepted,delivered,read,clicked,replied,converted,opted_out,rejected,failed,conversion_value\n"
                "a,1200,1164,702,233,41,18,3,0,36,3598.20 CNY\n"
            ),
            "GET /v1/journeys/{id}/funnel 200 text/csv": (
                "group,accepted,delivered,read,clicked,replied,converted,opted_out,rejected,failed,conversion_value\n"
                "none,1200,1164,702,233,41,18,3,0,36,3598.20 CNY\n"
            ),
        }
    }
)
