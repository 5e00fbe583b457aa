"""HTTP handlers for a tenant's sending rules (/v1/compliance/send-rules)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from aiohttp import web

from api.bodies import read_json
from api.middleware import TENANT_ID
from api.openapi import problem_responses, register_fragment
from api.problems import Problem
from api.responses import json_response
from messages.rules import DEFAULT_ZONE, parse_rules
from messages.send_rules import RulesStore, VolumeCounter
from store import Clock

RULES = web.AppKey("send_rules", RulesStore)
VOLUMES = web.AppKey("daily_volumes", VolumeCounter)
RULES_CLOCK: web.AppKey[Clock] = web.AppKey("send_rules_clock")

routes = web.RouteTableDef()


@routes.get("/v1/compliance/send-rules")
async def get_rules(request: web.Request) -> web.Response:
    rules = await request.app[RULES].get(request[TENANT_ID])
    return json_response(rules.to_json())


@routes.put("/v1/compliance/send-rules")
async def put_rules(request: web.Request) -> web.Response:
    body = await read_json(request)
    rules, errors = parse_rules(body)
    if rules is None:
        raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
    now_ms = int(request.app[RULES_CLOCK].now().timestamp() * 1000)
    await request.app[RULES].put(request[TENANT_ID], rules.to_json(), now_ms)
    return json_response(rules.to_json())


@routes.get("/v1/compliance/volume")
async def get_volume(request: web.Request) -> web.Response:
    """Today's accepted recipients (the tenant's calendar day in China) against its thresholds."""
    tenant_id = request[TENANT_ID]
    day = request.app[RULES_CLOCK].now().astimezone(ZoneInfo(DEFAULT_ZONE)).date().isoformat()
    rules = await request.app[RULES].get(tenant_id)
    count = await request.app[VOLUMES].get(tenant_id, day)
    return json_response({"day": day, "count": count, **rules.daily_volume.to_json()})


_WINDOW = {
    "type": ["object", "null"],
    "required": ["start", "end"],
    "additionalProperties": False,
    "description": "local time in the recipient's time zone; end before start spans midnight; null: any time",
    "properties": {
        "start": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"},
        "end": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"},
    },
}
_CAP = {
    "type": "object",
    "required": ["limit", "period"],
    "additionalProperties": False,
    "properties": {
        "limit": {"type": "integer", "minimum": 1, "maximum": 10000},
        "period": {"type": "string", "pattern": "^[1-9][0-9]{0,5}[smhd]$", "description": "e.g. 1m, 1h, 1d, 30d"},
    },
}
_TYPES = ("notification", "marketing", "otp")
_RULES = {
    "type": "object",
    "properties": {
        "windows": {"type": "object", "properties": {t: _WINDOW for t in _TYPES}, "additionalProperties": False},
        "caps": {
            "type": "object",
            "properties": {t: {"type": "array", "maxItems": 8, "items": _CAP} for t in _TYPES},
            "additionalProperties": False,
        },
        "segment_caps": {
            "type": "object",
            "description": "segment → traffic type → caps, in addition to the traffic type's caps for sends "
            "tagged with the segment (default: new_member, marketing at most 4 in 30d); a segment given "
            "replaces its caps, null removes them",
            "maxProperties": 32,
            "propertyNames": {"pattern": "^[a-z0-9][a-z0-9_.-]{0,31}$"},
            "additionalProperties": {
                "type": ["object", "null"],
                "properties": {t: {"type": "array", "maxItems": 8, "items": _CAP} for t in _TYPES},
                "additionalProperties": False,
            },
        },
        "daily_volume": {
            "type": "object",
            "additionalProperties": False,
            "description": "recipients a day (the tenant's calendar day in China): a tenant.daily_volume webhook "
            "when alert_at is reached (default 100,000), a 429 beyond limit (default none)",
            "properties": {
                "alert_at": {"type": ["integer", "null"], "minimum": 1},
                "limit": {"type": ["integer", "null"], "minimum": 1},
            },
        },
    },
}
_VOLUME = {
    "type": "object",
    "required": ["day", "count", "alert_at", "limit"],
    "properties": {
        "day": {"type": "string", "format": "date"},
        "count": {"type": "integer"},
        "alert_at": {"type": ["integer", "null"]},
        "limit": {"type": ["integer", "null"]},
    },
}
_BODY = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/SendRules"}}}}

register_fragment(
    {
        "schemas": {"SendRules": _RULES},
        "paths": {
            "/v1/compliance/send-rules": {
                "get": {
                    "summary": "The tenant's sending rules: send windows and frequency caps per traffic type",
                    "description": "Defaults: marketing 08:00–21:00 in the recipient's local time and at most "
                    "1 a day per recipient (4 in 30 days to a recipient sent with segment new_member); otp at most 1 a minute, 5 an hour, 10 a day; notification "
                    "unrestricted. A send due outside its window is scheduled for the next opening; a "
                    "recipient over a cap is refused (429 for a single `to`, `rejected` in a batch).",
                    "responses": {"200": {"description": "The rules", **_BODY}, **problem_responses(401, 403)},
                },
                "put": {
                    "summary": "Set the tenant's sending rules (a traffic type left out keeps its default)",
                    "requestBody": {"required": True, **_BODY},
                    "responses": {"200": {"description": "The rules now", **_BODY}, **problem_responses(401, 403, 422)},
                },
            },
            "/v1/compliance/volume": {
                "get": {
                    "summary": "Today's accepted recipients against the daily volume thresholds",
                    "responses": {
                        "200": {"description": "The count", "content": {"application/json": {"schema": _VOLUME}}},
                        **problem_responses(401, 403),
                    },
                }
            },
        },
    }
)

# Request examples the sandbox accepts (tests/api/test_openapi_examples.py sends each).
register_fragment(
    {
        "request_examples": {
            "PUT /v1/compliance/send-rules": {
                "windows": {"marketing": {"start": "08:00", "end": "21:00"}},
                "caps": {"marketing": [{"limit": 2, "period": "1d"}]},
            },
        }
    }
)
