"""OpenAPI fragment for tenant templates and the template library."""

from api.examples import BILL_CARD
from api.openapi import page_response, problem_responses, register_fragment

_CARD = {"type": "object", "description": "GSMA bot-message JSON; jinja2 variables allowed in text fields"}
_BODY = {
    "type": "object",
    "required": ["card"],
    "additionalProperties": False,
    "properties": {
        "card": _CARD,
        "sample": {"type": "object"},
        "note": {"type": "string", "maxLength": 500},
        "traffic_type": {"enum": ["notification", "marketing", "otp"], "default": "notification"},
    },
}
_VERSION = {
    "type": "object",
    "required": ["id", "name", "version", "card", "traffic_type", "created_at"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "version": {"type": "integer"},
        "card": _CARD,
        "sample": {"type": ["object", "null"]},
        "traffic_type": {"type": "string"},
        "note": {"type": ["string", "null"]},
        "created_at": {"type": "string", "format": "date-time"},
        "status": {
            "enum": ["in_review", "approved", "rejected"],
            "description": "only approved versions are sent; approved at once in the sandbox",
        },
        "status_reason": {"type": ["string", "null"], "description": "why a version was rejected"},
    },
}
_ERRORS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["path", "message"],
        "properties": {"path": {"type": "string"}, "message": {"type": "string"}},
    },
}
_DRAFT = {
    "type": "object",
    "required": ["card", "sample", "traffic_type", "updated_at", "valid", "errors"],
    "properties": {
        "card": _CARD,
        "sample": {"type": ["object", "null"]},
        "traffic_type": {"type": "string"},
        "updated_at": {"type": "string", "format": "date-time"},
        "valid": {"type": "boolean", "description": "whether submitting it as a version would succeed"},
        "errors": _ERRORS,
    },
}
_SUMMARY = {
    "type": "object",
    "required": ["id", "name", "latest_version", "has_draft", "versions", "updated_at"],
    "description": "The latest version's fields (null while the template has only a draft), "
    "the version list and whether a draft exists",
    "properties": {
        **{k: v for k, v in _VERSION["properties"].items()},
        "version": {"type": ["integer", "null"]},
        "card": {"type": ["object", "null"]},
        "traffic_type": {"type": ["string", "null"]},
        "status": {"type": ["string", "null"]},
        "latest_version": {"type": ["integer", "null"]},
        "has_draft": {"type": "boolean"},
        "updated_at": {"type": "string", "format": "date-time"},
        "versions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "version": {"type": "integer"},
                    "note": {"type": ["string", "null"]},
                    "status": {"type": "string"},
                    "status_reason": {"type": ["string", "null"]},
                    "created_at": {"type": "string"},
                },
            },
        },
    },
}
_SIDE = {"oneOf": [{"type": "integer", "minimum": 1, "maximum": 2**31 - 1}, {"const": "draft"}]}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_JSON = lambda ref: {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}  # noqa: E731

register_fragment(
    {
        "schemas": {
            "TemplateCreate": {
                **_BODY,
                "required": ["name", "card"],
                "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 100}, **_BODY["properties"]},
            },
            "TemplateVersionCreate": _BODY,
            "TemplateVersion": _VERSION,
            "TemplateDraft": _DRAFT,
            "TemplateDraftSave": {
                "type": "object",
                "required": ["card"],
                "additionalProperties": False,
                "description": "sample and traffic_type left out keep their current values",
                "properties": {
                    "card": _CARD,
                    "sample": {"type": ["object", "null"]},
                    "traffic_type": _BODY["properties"]["traffic_type"],
                },
            },
            "TemplateSummary": _SUMMARY,
            "TemplateDiff": {
                "type": "object",
                "required": ["from", "to", "changes", "notes"],
                "properties": {
                    "from": _SIDE,
                    "to": _SIDE,
                    "notes": {
                        "type": "object",
                        "description": "Each side's version note (null for the draft or a version without one)",
                        "required": ["from", "to"],
                        "properties": {"from": {"type": ["string", "null"]}, "to": {"type": ["string", "null"]}},
                    },
                    "changes": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["op", "path"],
                            "properties": {
                                "op": {"enum": ["add", "remove", "replace"]},
                                "path": {
                                    "type": "string",
                                    "description": "JSON Pointer: /card/…, /sample/…, /traffic_type (a version's note is no change)",
                                },
                                "old": {},
                                "new": {},
                            },
                        },
                    },
                },
            },
        },
        "paths": {
            "/v1/template-library": {
                "get": {
                    "summary": "The built-in template library, each with sample data",
                    "responses": {
                        "200": page_response(
                            "Library templates",
                            {
                                "type": "object",
                                "required": ["name", "card"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "title": {"type": "string"},
                                    "title_en": {"type": "string"},
                                    "traffic_type": {"type": "string"},
                                    "card": {"type": "object"},
                                    "sample": {"type": "object"},
                                },
                            },
                            [
                                {
                                    "name": "monthly_bill",
                                    "title": "月度账单",
                                    "title_en": "Monthly bill",
                                    "traffic_type": "notification",
                                    "card": BILL_CARD,
                                    "sample": {"name": "张先生", "amount": "58.00"},
                                }
                            ],
                            cursor=False,
                        ),
                        **problem_responses(401),
                    },
                }
            },
            "/v1/templates": {
                "post": {
                    "summary": "Create a template (version 1), or with `draft: true` one that has only a draft",
                    "description": 'With `"draft": true` the card may be invalid; the answer is then a '
                    "TemplateSummary (latest_version null, has_draft true).",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        {"$ref": "#/components/schemas/TemplateCreate"},
                                        {
                                            "type": "object",
                                            "required": ["name", "card", "draft"],
                                            "properties": {
                                                "name": {"type": "string"},
                                                "card": {"type": "object"},
                                                "draft": {"const": True},
                                                "sample": {"type": ["object", "null"]},
                                                "traffic_type": {"type": "string"},
                                            },
                                        },
                                    ]
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "Created",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "oneOf": [
                                            {"$ref": "#/components/schemas/TemplateVersion"},
                                            {"$ref": "#/components/schemas/TemplateSummary"},
                                        ]
                                    }
                                }
                            },
                        },
                        **problem_responses(400, 401, 409, 415, 422),
                    },
                },
                "get": {
                    "summary": "List templates",
                    "parameters": [
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
                    ],
                    "responses": {
                        "200": page_response(
                            "A page",
                            {
                                "type": "object",
                                "required": ["id", "name", "latest_version", "has_draft"],
                                "properties": {
                                    "id": {"type": "string"},
                                    "name": {"type": "string"},
                                    "latest_version": {"type": ["integer", "null"]},
                                    "has_draft": {"type": "boolean"},
                                    "traffic_type": {"type": "string"},
                                    "created_at": {"type": "string", "format": "date-time"},
                                    "updated_at": {"type": "string", "format": "date-time"},
                                },
                            },
                            [
                                {
                                    "id": "0193a4f2c8b57d1e9a06b3c2d4e5f6a9",
                                    "name": "monthly_bill",
                                    "latest_version": 2,
                                    "has_draft": False,
                                    "traffic_type": "notification",
                                    "created_at": "2026-11-20T02:00:00.000Z",
                                    "updated_at": "2026-12-04T08:30:00.000Z",
                                }
                            ],
                        ),
                        **problem_responses(401, 422),
                    },
                },
            },
            "/v1/templates/{id}": {
                "get": {
                    "summary": "A template's latest version and its version list",
                    "parameters": [_ID],
                    "responses": {
                        "200": {"description": "The template", "content": _JSON("TemplateSummary")},
                        **problem_responses(401, 404),
                    },
                }
            },
            "/v1/templates/{id}/versions": {
                "post": {
                    "summary": "Add a version (earlier versions never change), or submit the draft as one",
                    "description": '`{"from_draft": true, "note"?}` submits the draft: 422 listing its errors when '
                    "invalid; on success the draft is cleared.",
                    "parameters": [_ID],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        {"$ref": "#/components/schemas/TemplateVersionCreate"},
                                        {
                                            "type": "object",
                                            "required": ["from_draft"],
                                            "additionalProperties": False,
                                            "properties": {
                                                "from_draft": {"const": True},
                                                "note": {"type": "string", "maxLength": 500},
                                            },
                                        },
                                    ]
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": {"description": "Created", "content": _JSON("TemplateVersion")},
                        **problem_responses(400, 401, 404, 409, 415, 422),
                    },
                }
            },
            "/v1/templates/{id}/draft": {
                "get": {
                    "summary": "The template's draft with its validation",
                    "parameters": [_ID],
                    "responses": {
                        "200": {"description": "The draft", "content": _JSON("TemplateDraft")},
                        **problem_responses(401, 404),
                    },
                },
                "put": {
                    "summary": "Save the draft (saved even when the card is invalid)",
                    "parameters": [_ID],
                    "requestBody": {"required": True, "content": _JSON("TemplateDraftSave")},
                    "responses": {
                        "200": {"description": "Saved", "content": _JSON("TemplateDraft")},
                        **problem_responses(400, 401, 404, 415, 422),
                    },
                },
                "delete": {
                    "summary": "Discard the draft",
                    "parameters": [_ID],
                    "responses": {"204": {"description": "Gone (or there was none)"}, **problem_responses(401, 404)},
                },
            },
            "/v1/templates/{id}/duplicate": {
                "post": {
                    "summary": "A new template: version 1 copies this one's latest version, its draft copies this one's draft",
                    "parameters": [_ID],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["name"],
                                    "additionalProperties": False,
                                    "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 100}},
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": {"description": "Created", "content": _JSON("TemplateSummary")},
                        **problem_responses(400, 401, 404, 409, 415, 422),
                    },
                }
            },
            "/v1/templates/{id}/diff": {
                "get": {
                    "summary": "Changes between two versions (either may be `draft`)",
                    "parameters": [
                        _ID,
                        {"name": "from", "in": "query", "required": True, "schema": _SIDE},
                        {"name": "to", "in": "query", "required": True, "schema": _SIDE},
                    ],
                    "responses": {
                        "200": {"description": "The changes", "content": _JSON("TemplateDiff")},
                        **problem_responses(401, 404, 422),
                    },
                }
            },
            "/v1/templates/{id}/versions/{version}": {
                "get": {
                    "summary": "One version",
                    "parameters": [
                        _ID,
                        {
                            "name": "version",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
                        },
                    ],
                    "responses": {
                        "200": {"description": "The version", "content": _JSON("TemplateVersion")},
                        **problem_responses(401, 404),
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
            "POST /v1/templates": {
                "name": "monthly_bill",
                "card": BILL_CARD,
                "sample": {"name": "张先生", "amount": "58.00"},
                "traffic_type": "notification",
            },
            "POST /v1/templates/{id}/versions": {
                "card": BILL_CARD,
                "sample": {"name": "李女士", "amount": "126.50"},
                "note": "十二月账单改版",
            },
            "POST /v1/templates/{id}/duplicate": {"name": "monthly_bill_2027"},
        }
    }
)
