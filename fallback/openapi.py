"""OpenAPI fragment for /v1/sms/segments, kept next to the code that enforces it."""

from api.openapi import problem_responses, register_fragment
from fallback.compose import TRAFFIC_TYPES
from fallback.segmentation import CN_MAX_CHARACTERS, GSM7, MAX_PARTS, UCS2

SEGMENTS_REQUEST = {
    "type": "object",
    "required": ["text"],
    "properties": {
        "text": {"type": "string", "description": "Counted exactly as given"},
        "mode": {
            "enum": ["gsm", "cn"],
            "default": "gsm",
            "description": "gsm: 3GPP GSM-7/UCS-2 wire parts (160/153, 70/67), nothing added. "
            f"cn: China billing, the tenant's signature prepended, every character counts 1 "
            f"(70, then 67 per part), at most {CN_MAX_CHARACTERS} characters.",
        },
        "traffic_type": {
            "enum": sorted(TRAFFIC_TYPES),
            "description": "marketing (and advertisement, promotion): the tenant's unsubscribe text "
            "(default 拒收请回复R) is appended after a space, as every marketing SMS ends, and counted",
        },
    },
}
SEGMENTATION = {
    "type": "object",
    "required": ["encoding", "segments", "parts", "characters", "cost"],
    "properties": {
        "encoding": {"enum": [GSM7, UCS2]},
        "segments": {"type": "integer", "minimum": 1, "maximum": MAX_PARTS},
        "parts": {
            "type": "array",
            "description": "Joined, the texts give back the input (in cn mode: signature + text)",
            "items": {
                "type": "object",
                "required": ["text", "units"],
                "properties": {
                    "text": {"type": "string"},
                    "units": {
                        "type": "integer",
                        "minimum": 0,
                        "description": "septets (GSM-7), UTF-16 units (UCS-2) or characters (cn)",
                    },
                },
            },
        },
        "characters": {"type": "integer", "minimum": 0},
        "unsubscribe_text": {
            "type": ["string", "null"],
            "description": "with a traffic_type only: the unsubscribe text appended and counted "
            "(marketing traffic), else null",
        },
        "cost": {
            "type": ["string", "null"],
            "pattern": r"^\d+\.\d{2,4}$",
            "description": "segments × the tenant's SMS price; null when no price is set",
        },
    },
}

register_fragment(
    {
        "paths": {
            "/v1/sms/segments": {
                "post": {
                    "summary": "Count how a text splits into SMS parts and what it costs",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/SmsSegmentsRequest"}}
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "The segmentation",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/SmsSegmentation"}}
                            },
                        },
                        **problem_responses(400, 401, 415, 422),
                    },
                }
            }
        },
        "schemas": {"SmsSegmentsRequest": SEGMENTS_REQUEST, "SmsSegmentation": SEGMENTATION},
    }
)

_ISO = {"type": ["string", "null"], "format": "date-time"}
ROUTE_HEALTH = {
    "type": "object",
    "required": ["route", "state"],
    "properties": {
        "route": {"type": "string"},
        "kind": {"type": ["string", "null"], "description": "The route kind of the routes file: smpp, cmpp, smgp…"},
        "state": {"enum": ["in_rotation", "out_of_rotation", "probing"]},
        "serves": {
            "type": "array",
            "items": {"type": "string"},
            "description": "carrier:primary, carrier:backup, carrier:backupN (see `carriers`)",
        },
        "carriers": {
            "type": "array",
            "description": "The carriers whose traffic this route carries, and in which tier",
            "items": {
                "type": "object",
                "required": ["carrier", "role", "tier"],
                "properties": {
                    "carrier": {"type": "string"},
                    "role": {"type": "string", "description": "primary, backup, backup2…"},
                    "tier": {"type": "integer", "minimum": 0, "description": "0 primary, 1 backup, …"},
                },
            },
        },
        "error_rate": {"type": "number", "minimum": 0, "maximum": 1},
        "latency_p50": {"type": "number", "description": "seconds, over the health window"},
        "latency_p90": {"type": "number", "description": "seconds, over the health window"},
        "latency_p95": {"type": "number", "description": "seconds, over the health window"},
        "throttled": {"type": "boolean", "description": "Paused now: the peer asked us to slow down"},
        "throttles": {"type": "integer", "minimum": 0, "description": "How often the peer asked us to slow down"},
        "max_per_second": {"type": "number"},
        "samples": {"type": "integer", "minimum": 0},
        "reason": {"type": ["string", "null"], "description": "Why the route left rotation"},
        "back_in": {"type": ["number", "null"], "description": "Seconds until a route out of rotation is probed"},
        "last_error": {
            "type": ["string", "null"],
            "description": "The class of the last failure counted against the route: transient or in_doubt, "
            "and the peer's status (e.g. `transient: timeout`)",
        },
        "last_error_at": _ISO,
        "changed_at": {**_ISO, "description": "When the route last changed state"},
        "processes": {
            "type": "integer",
            "minimum": 1,
            "description": "source shared only: how many dispatch processes reported the route (their views merged)",
        },
        "updated_at": {**_ISO, "description": "source shared only: the latest report"},
    },
}
_NUMBER = {"type": "string", "description": "The phone number, E.164 (+8613800138000) or national"}
PORTED_ENTRY = {
    "type": "object",
    "required": ["number", "carrier"],
    "properties": {
        "number": _NUMBER,
        "carrier": {"type": "string", "description": "A carrier of the routes file (e.g. china_unicom)"},
    },
}
_ADMIN = " (the platform operator's `routes-admin` scope)"


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _post(summary: str, request: dict, answer: dict, example: dict, *codes: int, created: bool = False) -> dict:
    responses = {"200": {"description": "Done", "content": _json(answer)}}
    if created:
        responses["201"] = {"description": "Listed for the first time", "content": _json(answer)}
    return {
        "post": {
            "summary": summary + _ADMIN,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": request, "example": example}},
            },
            "responses": {**responses, **problem_responses(400, 401, 403, 404, 415, 422, *codes)},
        }
    }


_BY_NUMBER = {"type": "object", "required": ["number"], "properties": {"number": _NUMBER}}

register_fragment(
    {
        "paths": {
            "/v1/sms/routes": {
                "get": {
                    "summary": "SMS route health: per route its carriers and tier, state, error rate, latencies, "
                    "throttling, last error and last change",
                    "description": "`source: process` when this process holds the routes; `shared` in an API "
                    "process, from the snapshots the dispatch processes write (at most a few seconds old; "
                    "docs/deployment.md).",
                    "responses": {
                        "200": {
                            "description": "Every route",
                            "content": _json(
                                {
                                    "type": "object",
                                    "required": ["data"],
                                    "properties": {
                                        "data": {
                                            "type": "array",
                                            "items": ROUTE_HEALTH,
                                        },
                                        "source": {"enum": ["process", "shared"]},
                                    },
                                }
                            ),
                        },
                        **problem_responses(401),
                    },
                }
            },
            "/v1/sms/ported-numbers/export": {
                "get": {
                    "summary": "Every listed number and its carrier as CSV (number,carrier)" + _ADMIN,
                    "responses": {
                        "200": {"description": "The CSV", "content": {"text/csv": {"schema": {"type": "string"}}}},
                        **problem_responses(401, 403, 404),
                    },
                }
            },
            "/v1/sms/ported-numbers": {
                "get": {
                    "summary": "Ported-number overrides: how many per carrier, and the carriers allowed" + _ADMIN,
                    "responses": {
                        "200": {
                            "description": "The counts",
                            "content": _json(
                                {
                                    "type": "object",
                                    "required": ["carriers", "counts", "total"],
                                    "properties": {
                                        "carriers": {"type": "array", "items": {"type": "string"}},
                                        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
                                        "total": {"type": "integer", "minimum": 0},
                                    },
                                }
                            ),
                        },
                        **problem_responses(401, 403, 404),
                    },
                },
                **_post(
                    "List a ported number with the carrier that serves it now",
                    {"$ref": "#/components/schemas/PortedNumber"},
                    {
                        "type": "object",
                        "required": ["carrier", "created"],
                        "properties": {"carrier": {"type": "string"}, "created": {"type": "boolean"}},
                    },
                    {"number": "+8613800138000", "carrier": "china_unicom"},
                    created=True,
                ),
            },
            "/v1/sms/ported-numbers/lookup": _post(
                "The carrier a number is listed with (null: not listed; the number in the body, never the URL)",
                _BY_NUMBER,
                {"type": "object", "required": ["carrier"], "properties": {"carrier": {"type": ["string", "null"]}}},
                {"number": "+8613800138000"},
            ),
            "/v1/sms/ported-numbers/remove": _post(
                "Take a number off the list: its prefix decides its carrier again",
                _BY_NUMBER,
                {"type": "object", "required": ["removed"], "properties": {"removed": {"type": "boolean"}}},
                {"number": "+8613800138000"},
            ),
            "/v1/sms/ported-numbers/import": _post(
                "Add or update ported numbers from CSV (number,carrier; a header row optional): all rows or none",
                {"type": "object", "required": ["csv"], "properties": {"csv": {"type": "string"}}},
                {
                    "type": "object",
                    "required": ["added", "updated", "unchanged"],
                    "properties": {k: {"type": "integer", "minimum": 0} for k in ("added", "updated", "unchanged")},
                },
                {"csv": "number,carrier\n+8613800138000,china_unicom\n+8618912345678,china_mobile\n"},
            ),
        },
        "schemas": {"PortedNumber": PORTED_ENTRY},
    }
)
