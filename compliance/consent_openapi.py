"""OpenAPI fragment for consent records (/v1/consents)."""

from api.openapi import problem_responses, register_fragment
from cards.library import TRAFFIC_TYPES
from compliance.consent import SOURCES

_JSON = "application/json"
_NUMBER = {"type": "string", "description": "a phone number (E.164 or national)", "maxLength": 32}
_SCOPE = {
    "type": "array",
    "items": {"enum": list(TRAFFIC_TYPES)},
    "minItems": 1,
    "description": 'the traffic types the consent covers (default ["marketing"])',
}
_GRANT = {
    "type": "object",
    "required": ["to"],
    "additionalProperties": False,
    "properties": {
        "to": _NUMBER,
        "scope": _SCOPE,
        "source": {"enum": list(SOURCES), "default": "api"},
        "granted_at": {"type": "string", "format": "date-time", "description": "default: now; never in the future"},
        "brand": {"type": "string", "maxLength": 32, "description": "the brand (signature) it was given to"},
        "proof": {"description": "what proves it (the form's fields, the reply…): kept sealed"},
    },
}
_CONSENT = {
    "type": "object",
    "required": ["id", "to", "scope", "source", "granted_at", "withdrawn_at", "active"],
    "properties": {
        "id": {"type": "string"},
        "to": {"type": "string"},
        "scope": {"type": "array", "items": {"type": "string"}},
        "brand": {"type": ["string", "null"]},
        "source": {"type": "string"},
        "granted_at": {"type": "string", "format": "date-time"},
        "withdrawn_at": {"type": ["string", "null"], "format": "date-time"},
        "active": {"type": "boolean"},
        "proof": {"description": "as given; for an import {file, line}; for a keyword reply {text, mo_id}"},
    },
}
_REF = {"$ref": "#/components/schemas/Consent"}
_TO = {"type": "object", "required": ["to"], "properties": {"to": _NUMBER}}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_IMPORT_RESULT = {
    "type": "object",
    "required": ["imported", "lines", "errors"],
    "properties": {
        "imported": {"type": "integer"},
        "lines": {"type": "integer"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"line": {"type": "integer"}, "path": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
_WITHDRAWN = {
    "type": "object",
    "required": ["withdrawn", "ids"],
    "properties": {"withdrawn": {"type": "integer"}, "ids": {"type": "array", "items": {"type": "string"}}},
}


def _json(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _body(schema: dict) -> dict:
    return {"required": True, "content": {_JSON: {"schema": schema}}}


_CSV_BODY = {
    "required": True,
    "content": {
        "text/csv": {"schema": {"type": "string"}},
        "application/x-ndjson": {"schema": {"type": "string"}},
    },
}

register_fragment(
    {
        "schemas": {"Consent": _CONSENT, "ConsentGrant": _GRANT},
        "paths": {
            "/v1/consents": {
                "post": {
                    "summary": "Record a consent, or a batch of them (`consents`): all or none",
                    "requestBody": _body(
                        {
                            "oneOf": [
                                {"$ref": "#/components/schemas/ConsentGrant"},
                                {
                                    "type": "object",
                                    "required": ["consents"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "consents": {
                                            "type": "array",
                                            "minItems": 1,
                                            "maxItems": 1000,
                                            "items": {"$ref": "#/components/schemas/ConsentGrant"},
                                        }
                                    },
                                },
                            ]
                        }
                    ),
                    "responses": {
                        "201": _json(
                            {
                                "oneOf": [
                                    _REF,
                                    # `data` required: a single consent matches one branch only (oneOf)
                                    {
                                        "type": "object",
                                        "required": ["data"],
                                        "properties": {"data": {"type": "array", "items": _REF}},
                                    },
                                ]
                            }
                        ),
                        **problem_responses(400, 401, 403, 415, 422),
                    },
                },
                "get": {
                    "summary": "Consents, newest first (cursor pagination)",
                    "parameters": [
                        {"name": "active", "in": "query", "schema": {"enum": ["true", "false"]}},
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
            },
            "/v1/consents/search": {
                "post": {
                    "summary": "A number's consents (the number in the body, never in a URL)",
                    "requestBody": _body(_TO),
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["to", "consented", "data"],
                                "properties": {
                                    "to": {"type": "string"},
                                    "consented": {"type": "boolean"},
                                    "data": {"type": "array", "items": _REF},
                                },
                            }
                        ),
                        **problem_responses(400, 401, 403, 415, 422),
                    },
                }
            },
            "/v1/consents/withdraw": {
                "post": {
                    "summary": "Withdraw every active consent of a number",
                    "requestBody": _body({**_TO, "properties": {"to": _NUMBER, "source": {"type": "string"}}}),
                    "responses": {"200": _json(_WITHDRAWN), **problem_responses(400, 401, 403, 415, 422)},
                }
            },
            "/v1/consents/import": {
                "post": {
                    "summary": "Import consents: CSV (to,scope,source,granted_at,brand) or JSON lines; "
                    "each invalid line reported with its number",
                    "parameters": [{"name": "filename", "in": "query", "schema": {"type": "string"}}],
                    "requestBody": _CSV_BODY,
                    "responses": {"200": _json(_IMPORT_RESULT), **problem_responses(401, 403, 415, 422)},
                }
            },
            "/v1/consents/export": {
                "get": {
                    "summary": "Every consent as CSV (streamed): id,to,scope,brand,source,granted_at,withdrawn_at",
                    "responses": {
                        "200": {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}},
                        **problem_responses(401, 403),
                    },
                }
            },
            "/v1/consents/{id}": {
                "get": {
                    "summary": "One consent with its proof",
                    "parameters": [_ID],
                    "responses": {"200": _json(_REF), **problem_responses(401, 403, 404)},
                }
            },
            "/v1/consents/{id}/withdraw": {
                "post": {
                    "summary": "Withdraw one consent (409 once withdrawn)",
                    "parameters": [_ID],
                    "requestBody": {
                        "required": False,
                        "content": {
                            _JSON: {"schema": {"type": "object", "properties": {"source": {"type": "string"}}}}
                        },
                    },
                    "responses": {"200": _json(_WITHDRAWN), **problem_responses(400, 401, 403, 404, 409, 415, 422)},
                }
            },
        },
    }
)

# Files as the importers take them, and as the exports write them.
register_fragment(
    {
        "request_examples": {
            "POST /v1/consents/import text/csv": "to,scope,source,granted_at,brand\n+8613800138001,marketing,web_form,2026-11-01T10:00:00Z,【红雁咖啡】\n",
            "POST /v1/consents/import application/x-ndjson": '{"to": "+8613800138001", "scope": ["marketing"], "source": "web_form"}\n',
        },
        "response_examples": {
            "GET /v1/consents/export 200 text/csv": (
                "id,to,scope,brand,source,granted_at,withdrawn_at\n"
                "0193a4f2c8b57d1e9a06b3c2d4e5f6a7,+8613800138001,marketing,【红雁咖啡】,web_form,2026-11-01T10:00:00.000Z,\n"
            ),
        },
    }
)
