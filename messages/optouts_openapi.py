"""OpenAPI fragment for the opt-out list (/v1/opt-outs)."""

from api.openapi import problem_responses, register_fragment

_JSON = "application/json"
_NUMBER = {"type": "string", "description": "a phone number (E.164 or national)", "maxLength": 32}
_ENTRY = {
    "type": "object",
    "required": ["id", "to", "source", "created_at"],
    "properties": {
        "id": {"type": "string"},
        "to": {"type": ["string", "null"], "description": "null for opt-outs recorded before numbers were kept"},
        "source": {
            "type": "string",
            "description": "sms_reply, spam_report, link_page, api, import",
        },
        "created_at": {"type": "string", "format": "date-time"},
    },
}
_REF = {"$ref": "#/components/schemas/OptOut"}
_TO = {"type": "object", "required": ["to"], "properties": {"to": _NUMBER}}
_REMOVE = {"type": "object", "properties": {"to": _NUMBER, "reason": {"type": "string", "maxLength": 500}}}
_REMOVED = {
    "type": "object",
    "required": ["removed"],
    "properties": {"removed": {"type": "integer"}, "id": {"type": ["string", "null"]}},
}


def _json(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


register_fragment(
    {
        "schemas": {"OptOut": _ENTRY},
        "paths": {
            "/v1/opt-outs": {
                "get": {
                    "summary": "The marketing opt-out list, newest first (cursor pagination)",
                    "parameters": [
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["data", "next_cursor"],
                                "properties": {
                                    "data": {"type": "array", "items": _REF},
                                    "next_cursor": {"type": ["string", "null"]},
                                },
                            }
                        ),
                        **problem_responses(401, 403, 422),
                    },
                },
                "post": {
                    "summary": "Add one number (`to`) or many (`numbers`), source api",
                    "requestBody": {
                        "required": True,
                        "content": {
                            _JSON: {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "to": _NUMBER,
                                        "numbers": {"type": "array", "items": _NUMBER, "minItems": 1, "maxItems": 1000},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": _json(
                            {
                                "type": "object",
                                "required": ["added", "already_listed"],
                                "properties": {"added": {"type": "integer"}, "already_listed": {"type": "integer"}},
                            }
                        ),
                        **problem_responses(400, 401, 403, 415, 422),
                    },
                },
            },
            "/v1/opt-outs/search": {
                "post": {
                    "summary": "Whether a number is on the list (the number in the body, never in a URL)",
                    "requestBody": {"required": True, "content": {_JSON: {"schema": _TO}}},
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["to", "opted_out", "entry"],
                                "properties": {
                                    "to": {"type": "string"},
                                    "opted_out": {"type": "boolean"},
                                    "entry": {"oneOf": [_REF, {"type": "null"}]},
                                },
                            }
                        ),
                        **problem_responses(400, 401, 403, 415, 422),
                    },
                }
            },
            "/v1/opt-outs/remove": {
                "post": {
                    "summary": "Take a number off the list (it subscribes again); who and why are chained",
                    "requestBody": {"required": True, "content": {_JSON: {"schema": {**_REMOVE, "required": ["to"]}}}},
                    "responses": {"200": _json(_REMOVED), **problem_responses(400, 401, 403, 404, 415, 422)},
                }
            },
            "/v1/opt-outs/import": {
                "post": {
                    "summary": "Import numbers a line each (CSV or JSON lines): invalid lines reported with "
                    "their number, duplicates counted",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "text/csv": {"schema": {"type": "string"}},
                            "application/x-ndjson": {"schema": {"type": "string"}},
                        },
                    },
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["added", "duplicates", "lines", "errors"],
                                "properties": {
                                    "added": {"type": "integer"},
                                    "duplicates": {"type": "integer"},
                                    "lines": {"type": "integer"},
                                    "errors": {"type": "array", "items": {"type": "object"}},
                                },
                            }
                        ),
                        **problem_responses(401, 403, 415, 422),
                    },
                }
            },
            "/v1/opt-outs/export": {
                "get": {
                    "summary": "The list as CSV (streamed): id,to,source,created_at",
                    "responses": {
                        "200": {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}},
                        **problem_responses(401, 403),
                    },
                }
            },
            "/v1/opt-outs/{id}": {
                "delete": {
                    "summary": "Take an entry off the list by its id (optional body: reason)",
                    "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "requestBody": {"required": False, "content": {_JSON: {"schema": _REMOVE}}},
                    "responses": {"200": _json(_REMOVED), **problem_responses(400, 401, 403, 404, 415, 422)},
                }
            },
        },
    }
)

# Request examples the sandbox accepts (tests/api/test_openapi_examples.py sends each).
register_fragment(
    {
        "request_examples": {
            "POST /v1/opt-outs": {"to": "+8613800138009"},
            "POST /v1/opt-outs/remove": {"to": "+8613800138009"},
        }
    }
)

# Files as the importers take them, and as the exports write them.
register_fragment(
    {
        "request_examples": {
            "POST /v1/opt-outs/import text/csv": "phone,note\n13800138009,回复R退订\n+8613800138010,客服登记\n",
            "POST /v1/opt-outs/import application/x-ndjson": '{"to": "+8613800138009"}\n',
        },
        "response_examples": {
            "GET /v1/opt-outs/export 200 text/csv": "id,to,source,created_at\n0193a4f2c8b57d1e9a06b3c2d4e5f6a7,+8613800138009,import,2026-12-04T08:30:00.000Z\n",
        },
    }
)
