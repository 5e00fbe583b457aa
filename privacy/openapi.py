"""OpenAPI fragment for the personal-data lifecycle (/v1/privacy)."""

from api.openapi import problem_responses, register_fragment
from privacy import kinds as _kinds  # noqa: F401  (fills the registry the schema is built from)
from privacy.registry import REGISTRY

_JSON = "application/json"


def _json(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _days(kind) -> dict:
    default = "kept until erased" if kind.default_days is None else f"{kind.default_days} days"
    return {
        "type": ["integer", "null"],
        "minimum": kind.min_days,
        "maximum": kind.max_days,
        "description": f"{kind.description}; default {default}; null keeps them until erased",
    }


_RETENTION = {
    "type": "object",
    "additionalProperties": False,
    "properties": {name: _days(kind) for name, kind in REGISTRY.retention.items()},
}
_SUBJECT = {
    "type": "object",
    "required": ["to"],
    "additionalProperties": False,
    "properties": {"to": {"type": "string", "description": "the person's number, E.164 (+86…)"}},
}
_COUNTS = {"type": "object", "additionalProperties": {"type": "integer"}}
_RECEIPT = {
    "type": "object",
    "required": ["id", "erased_at", "source", "erased", "kept"],
    "properties": {
        "id": {"type": "string"},
        "erased_at": {"type": "string", "format": "date-time"},
        "source": {"enum": ["api", "cli"]},
        "erased": {**_COUNTS, "description": "rows deleted per kind"},
        "kept": {**_COUNTS, "description": "rows kept per kind (opt-outs, evidence hashes); see docs/privacy.md"},
    },
}
_EXPORT = {
    "type": "object",
    "required": ["to", "exported_at", "messages", "clicks", "opt_outs"],
    "properties": {
        "to": {"type": "string"},
        "exported_at": {"type": "string", "format": "date-time"},
        "messages": {"type": "array", "items": {"type": "object"}},
        "clicks": {"type": "array", "items": {"type": "object"}},
        "opt_outs": {"type": "array", "items": {"type": "object"}},
        "conversations": {"type": "array", "items": {"type": "object"}, "description": "threads with the brand"},
        "retention_days": {"type": "object"},
    },
}
_PURGE = {
    "type": "object",
    "required": ["purged", "complete"],
    "properties": {"purged": _COUNTS, "complete": {"type": "boolean"}, "at": {"type": "string"}},
}

register_fragment(
    {
        "schemas": {"PrivacyRetention": _RETENTION, "ErasureReceipt": _RECEIPT, "PersonalDataExport": _EXPORT},
        "paths": {
            "/v1/privacy/retention": {
                "get": {
                    "summary": "How many days each kind of personal data is kept (scope privacy)",
                    "responses": {"200": _json(_RETENTION), **problem_responses(401, 403)},
                },
                "put": {
                    "summary": "Change the days of the kinds named (the others keep theirs)",
                    "requestBody": {"required": True, "content": {_JSON: {"schema": _RETENTION}}},
                    "responses": {"200": _json(_RETENTION), **problem_responses(400, 401, 403, 415, 422)},
                },
            },
            "/v1/privacy/purges": {
                "post": {
                    "summary": "Purge what is past your retention now (it also runs on schedule)",
                    "responses": {
                        "200": _json(_PURGE, "Rows deleted per kind"),
                        **problem_responses(401, 403, 409),
                    },
                }
            },
            "/v1/privacy/erasures": {
                "post": {
                    "summary": "Erase what you hold on one number (the number in the body, never the URL)",
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                            "description": "A retry with the same key and body answers the first receipt "
                            "(Idempotent-Replayed: true); with another body, 409.",
                        }
                    ],
                    "requestBody": {"required": True, "content": {_JSON: {"schema": _SUBJECT}}},
                    "responses": {
                        "201": _json(_RECEIPT, "Erased; the receipt names no number"),
                        **problem_responses(400, 401, 403, 409, 415, 422),
                    },
                },
                "get": {
                    "summary": "Your erasure receipts, newest first",
                    "parameters": [
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "data": {"type": "array", "items": _RECEIPT},
                                    "next_cursor": {"type": ["string", "null"]},
                                },
                            }
                        ),
                        **problem_responses(401, 403, 422),
                    },
                },
            },
            "/v1/privacy/exports": {
                "post": {
                    "summary": "Everything you hold on one number, as JSON",
                    "requestBody": {"required": True, "content": {_JSON: {"schema": _SUBJECT}}},
                    "responses": {"200": _json(_EXPORT), **problem_responses(400, 401, 403, 415, 422)},
                }
            },
        },
    }
)
