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

register_fragment(
    {
        "paths": {
            "/v1/sms/routes": {
                "get": {
                    "summary": "SMS route health: in or out of rotation, error rate, p90 latency, throttling",
                    "responses": {
                        "200": {
                            "description": "Every route",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["data"],
                                        "properties": {
                                            "data": {
                                                "type": "array",
                                                "items": {
                                                    "type": "object",
                                                    "required": ["route", "state"],
                                                    "properties": {
                                                        "route": {"type": "string"},
                                                        "state": {"type": "string"},
                                                        "serves": {"type": "array", "items": {"type": "string"}},
                                                        "error_rate": {"type": "number"},
                                                        "latency_p90": {"type": "number"},
                                                        "throttled": {
                                                            "type": "boolean",
                                                            "description": "Paused now: the peer asked us to slow down",
                                                        },
                                                        "throttles": {
                                                            "type": "integer",
                                                            "minimum": 0,
                                                            "description": "How often the peer asked us to slow down",
                                                        },
                                                        "max_per_second": {"type": "number"},
                                                        "samples": {"type": "integer", "minimum": 0},
                                                        "reason": {"type": ["string", "null"]},
                                                        "back_in": {"type": ["number", "null"]},
                                                    },
                                                },
                                            }
                                        },
                                    }
                                }
                            },
                        },
                        **problem_responses(401),
                    },
                }
            }
        }
    }
)
