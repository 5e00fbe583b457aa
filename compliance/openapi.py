"""OpenAPI fragment for the word lists (/v1/compliance) and the review queue (/v1/reviews)."""

from api.openapi import problem_responses, register_fragment
from compliance.reviews import KINDS, STATES

_MATCH = {
    "type": "object",
    "required": ["path", "rule", "category", "action", "scope"],
    "properties": {
        "path": {"type": "string", "description": "JSON Pointer to the field the word is in"},
        "rule": {"type": "string", "description": "id of the listed word"},
        "category": {"type": "string"},
        "action": {"enum": ["block", "review"]},
        "scope": {"enum": ["platform", "tenant"]},
        "term": {"type": "string", "description": "the listed word (check and review answers only)"},
    },
}
_CATEGORY = {
    "type": "object",
    "required": ["name", "action", "scope"],
    "properties": {
        "name": {"type": "string"},
        "action": {"enum": ["block", "review"], "description": "block refuses the send (422); review holds it"},
        "description": {"type": ["string", "null"]},
        "scope": {"enum": ["platform", "tenant"]},
        "words": {"type": "integer"},
    },
}
_WORD = {
    "type": "object",
    "required": ["id", "term", "kind"],
    "properties": {
        "id": {"type": "string"},
        "term": {"type": "string"},
        "kind": {"enum": ["word", "allow"], "description": "allow: a whitelisted phrase"},
        "category": {"type": ["string", "null"]},
    },
}
_REVIEW = {
    "type": "object",
    "required": ["id", "kind", "subject", "state", "matches", "created_at"],
    "properties": {
        "id": {"type": "string"},
        "kind": {"enum": list(KINDS)},
        "subject": {"type": "string", "description": "the batch id, template id/version, or chatbot publish id"},
        "state": {
            "enum": list(STATES),
            "description": "pending / approved / rejected: our reviewer's decision; pending_operator / "
            "operator_approved / operator_rejected: the operator's audit (reason: the operator's note)",
        },
        "matches": {"type": "array", "items": {"$ref": "#/components/schemas/ComplianceMatch"}},
        "held": {"type": ["integer", "null"], "description": "messages held (message items)"},
        "reason": {"type": ["string", "null"]},
        "created_at": {"type": "string", "format": "date-time"},
        "decided_at": {"type": ["string", "null"], "format": "date-time"},
        "decisions": {"type": "array", "description": "the decision, chained per tenant (SM3)"},
        "subject_detail": {"type": "object", "description": "the held content or template version"},
    },
}
_JSON = "application/json"
_POLICY = {
    "type": "object",
    "properties": {
        "template_review": {
            "enum": ["matched", "always"],
            "description": "review template versions always, or only when a review category matched",
        },
        "marketing_requires_consent": {
            "type": "boolean",
            "description": "default false; when true a marketing send to a recipient without an active "
            "consent covering marketing is refused (rule consent_required)",
        },
        "unsubscribe_text": {
            "type": "string",
            "minLength": 1,
            "maxLength": 40,
            "description": "ends every marketing SMS (default 拒收请回复R)",
        },
        "consent_keywords": {
            "type": "array",
            "maxItems": 20,
            "items": {"type": "string", "minLength": 1, "maxLength": 20},
            "description": "an SMS reply of one of these words records a marketing consent (default Y, 同意)",
        },
    },
}


def _json(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _body(schema: dict) -> dict:
    return {"required": True, "content": {_JSON: {"schema": schema}}}


_PAGE = {"type": "object", "properties": {"data": {"type": "array"}, "next_cursor": {"type": ["string", "null"]}}}
_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_REASON = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"reason": {"type": "string", "maxLength": 500}},
}

register_fragment(
    {
        "schemas": {"ComplianceMatch": _MATCH, "ComplianceCategory": _CATEGORY, "ReviewItem": _REVIEW},
        "paths": {
            "/v1/compliance/categories": {
                "get": {
                    "summary": "The platform's and your word categories, with their actions and word counts",
                    "responses": {"200": _json(_PAGE), **problem_responses(401, 403)},
                }
            },
            "/v1/compliance/categories/{name}": {
                "put": {
                    "summary": "Create or change one of your categories (block or review)",
                    "parameters": [_NAME],
                    "requestBody": _body(
                        {
                            "type": "object",
                            "required": ["action"],
                            "properties": {"action": {"enum": ["block", "review"]}, "description": {"type": "string"}},
                        }
                    ),
                    "responses": {"200": _json(_CATEGORY), **problem_responses(401, 403, 409, 422)},
                },
                "delete": {
                    "summary": "Remove one of your categories and its words",
                    "parameters": [_NAME],
                    "responses": {"204": {"description": "Removed"}, **problem_responses(401, 403, 404)},
                },
            },
            "/v1/compliance/words": {
                "get": {
                    "summary": "Your words and whitelisted phrases, paginated",
                    "parameters": [
                        {"name": "category", "in": "query", "schema": {"type": "string"}},
                        {"name": "kind", "in": "query", "schema": {"enum": ["word", "allow"]}},
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
                    ],
                    "responses": {"200": _json(_PAGE), **problem_responses(401, 403, 422)},
                },
                "post": {
                    "summary": "Add words to a category, or whitelist phrases (allow)",
                    "requestBody": _body(
                        {
                            "type": "object",
                            "properties": {
                                "words": {"type": "array", "items": {"type": "string", "maxLength": 200}},
                                "category": {"type": "string"},
                                "allow": {"type": "array", "items": {"type": "string", "maxLength": 200}},
                            },
                        }
                    ),
                    "responses": {"201": _json({"type": "object"}), **problem_responses(401, 403, 422)},
                },
            },
            "/v1/compliance/words/remove": {
                "post": {
                    "summary": "Remove words (or whitelisted phrases with kind allow)",
                    "requestBody": _body(
                        {
                            "type": "object",
                            "required": ["words"],
                            "properties": {"words": {"type": "array"}, "kind": {"enum": ["word", "allow"]}},
                        }
                    ),
                    "responses": {"200": _json({"type": "object"}), **problem_responses(401, 403, 422)},
                }
            },
            "/v1/compliance/words/import": {
                "post": {
                    "summary": "Import a word file, read line by line (text, CSV term,category,kind, ndjson, JSON array)",
                    "parameters": [
                        {"name": "category", "in": "query", "schema": {"type": "string"}},
                        {"name": "kind", "in": "query", "schema": {"enum": ["word", "allow"]}},
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            t: {"schema": {"type": "string"}}
                            for t in ("text/plain", "text/csv", "application/x-ndjson", "application/json")
                        },
                    },
                    "responses": {"201": _json({"type": "object"}), **problem_responses(401, 403, 415, 422)},
                }
            },
            "/v1/compliance/words/export": {
                "get": {
                    "summary": "Export your words, streamed",
                    "parameters": [
                        {"name": "format", "in": "query", "schema": {"enum": ["json", "ndjson", "csv", "text"]}}
                    ],
                    "responses": {
                        "200": {
                            "description": "The list (ndjson unless `format` says otherwise)",
                            "content": {
                                "application/x-ndjson": {
                                    "schema": {"type": "string"},
                                    "example": '{"term":"加微信","category":"promotion","kind":"word"}\n',
                                },
                                _JSON: {
                                    "schema": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "required": ["term", "kind"],
                                            "properties": {
                                                "term": {"type": "string"},
                                                "category": {"type": ["string", "null"]},
                                                "kind": {"enum": ["word", "allow"]},
                                            },
                                        },
                                    },
                                    "example": [{"term": "加微信", "category": "promotion", "kind": "word"}],
                                },
                                "text/csv": {
                                    "schema": {"type": "string"},
                                    "example": "term,category,kind\n加微信,promotion,word\n",
                                },
                                "text/plain": {"schema": {"type": "string"}, "example": "加微信\n"},
                            },
                        },
                        **problem_responses(401, 403, 422),
                    },
                }
            },
            "/v1/compliance/check": {
                "post": {
                    "summary": "What screening would find in a card or text and its variables (and, with template, the template rules)",
                    "requestBody": _body(
                        {
                            "type": "object",
                            "properties": {
                                "card": {"type": "object"},
                                "text": {"type": "string"},
                                "variables": {"type": "object"},
                                "sample": {"type": "object"},
                                "traffic_type": {"enum": ["notification", "marketing", "otp"]},
                                "template": {"type": "boolean"},
                            },
                        }
                    ),
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["outcome", "matches"],
                                "properties": {
                                    "outcome": {"enum": ["pass", "review", "block"]},
                                    "matches": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/ComplianceMatch"},
                                    },
                                    "template_rules": {"type": "array"},
                                },
                            }
                        ),
                        **problem_responses(401, 403, 422),
                    },
                }
            },
            "/v1/compliance/policy": {
                "get": {
                    "summary": "Your compliance policy: template review, consent, unsubscribe text",
                    "responses": {"200": _json(_POLICY), **problem_responses(401, 403)},
                },
                "put": {
                    "summary": "Change the policy's fields given (the others keep their value)",
                    "requestBody": _body(_POLICY),
                    "responses": {"200": _json({"type": "object"}), **problem_responses(401, 403, 422)},
                },
            },
            "/v1/compliance/signature": {
                "post": {
                    "summary": "Ask for a new SMS signature 【…】: screened, then waits in the review queue",
                    "requestBody": _body(
                        {"type": "object", "required": ["signature"], "properties": {"signature": {"type": "string"}}}
                    ),
                    "responses": {
                        "202": _json({"$ref": "#/components/schemas/ReviewItem"}, "Queued for review"),
                        **problem_responses(401, 403, 409, 422),
                    },
                }
            },
            "/v1/reviews": {
                "get": {
                    "summary": "The review queue: held messages, templates, signatures and operator audits",
                    "parameters": [
                        {"name": "kind", "in": "query", "schema": {"enum": list(KINDS)}},
                        {"name": "state", "in": "query", "schema": {"enum": list(STATES)}},
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
                    ],
                    "responses": {"200": _json(_PAGE), **problem_responses(401, 403, 422)},
                }
            },
            "/v1/reviews/{id}": {
                "get": {
                    "summary": "One review item, what it is about and its decision",
                    "parameters": [_ID],
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/ReviewItem"}),
                        **problem_responses(401, 403, 404),
                    },
                }
            },
            "/v1/reviews/{id}/approve": {
                "post": {
                    "summary": "Approve: held messages go out, the template version becomes sendable",
                    "parameters": [_ID],
                    "requestBody": {"required": False, "content": {_JSON: {"schema": _REASON}}},
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/ReviewItem"}),
                        **problem_responses(401, 403, 404, 409, 422),
                    },
                }
            },
            "/v1/reviews/{id}/reject": {
                "post": {
                    "summary": "Reject with a reason: held messages end rejected, the version rejected",
                    "parameters": [_ID],
                    "requestBody": _body({**_REASON, "required": ["reason"]}),
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/ReviewItem"}),
                        **problem_responses(401, 403, 404, 409, 422),
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
            "PUT /v1/compliance/categories/{name}": {"action": "review", "description": "促销诱导用语，人工复核"},
            "POST /v1/compliance/words": {"words": ["加微信", "免费领取"], "category": "promotion"},
            "POST /v1/compliance/words/remove": {"words": ["免费领取"]},
            "POST /v1/compliance/words/import text/plain": "加微信\n免费领取\n",
            "POST /v1/compliance/words/import text/csv": "term,category,kind\n加微信,promotion,word\n免费,,allow\n",
            "POST /v1/compliance/words/import application/x-ndjson": '{"term": "加微信", "category": "promotion"}\n',
            "POST /v1/compliance/check": {"text": "双十二会员日，全场饮品第二杯半价"},
            "PUT /v1/compliance/policy": {"template_review": "matched", "unsubscribe_text": "拒收请回复R"},
            "POST /v1/compliance/signature": {"signature": "【红雁咖啡】"},
        }
    }
)
