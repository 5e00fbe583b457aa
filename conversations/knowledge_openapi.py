"""OpenAPI fragment for the knowledge base (/v1/knowledge)."""

from api.openapi import problem_responses, register_fragment
from conversations.knowledge import (
    MAX_ANSWER_CHARS,
    MAX_PAGE,
    MAX_PROMPT_CHARS,
    MAX_QUESTION_CHARS,
    MAX_QUESTIONS,
    MAX_TAGS,
    MAX_TIMEOUT_S,
)

_JSON = "application/json"
_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
_CARD = {"type": "object", "description": "a GSMA card (see /v1/cards), checked with the cards library"}
_ANSWER = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {
        "text": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_ANSWER_CHARS,
            "description": "plain text (SMS or RCS)",
        },
        "card": _CARD,
    },
    "description": "text, a card or both: the card over RCS, the text over SMS (or the card's text form)",
}
_FAQ_PROPERTIES = {
    "questions": {
        "type": "array",
        "minItems": 1,
        "maxItems": MAX_QUESTIONS,
        "items": {"type": "string", "minLength": 1, "maxLength": MAX_QUESTION_CHARS},
        "description": "the ways a user may ask it; the first is its title (ask-back chips)",
    },
    "answer": _ANSWER,
    "enabled": {"type": "boolean", "default": True},
    "tags": {"type": "array", "maxItems": MAX_TAGS, "items": {"type": "string", "minLength": 1, "maxLength": 50}},
}
_FAQ_IN = {
    "type": "object",
    "additionalProperties": False,
    "required": ["questions", "answer"],
    "properties": {**_FAQ_PROPERTIES, "id": {"type": "string", "description": "ignored"}},
}
_FAQ = {
    "type": "object",
    "required": ["id", "questions", "answer", "enabled", "tags", "created_at", "updated_at"],
    "properties": {
        "id": {"type": "string"},
        **_FAQ_PROPERTIES,
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}
_MATCH_IN = {
    "type": "object",
    "required": ["text"],
    "properties": {
        "text": {"type": "string", "minLength": 1, "maxLength": 1000},
        "limit": {"type": "integer", "minimum": 1, "maximum": 20, "default": 5},
    },
}
_MATCHES = {
    "type": "object",
    "required": ["matches", "threshold"],
    "properties": {
        "matches": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["faq_id", "score", "confidence", "question"],
                "properties": {
                    "faq_id": {"type": "string"},
                    "score": {"type": "number", "description": "BM25 score of the entry's best question variant"},
                    "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                    "question": {"type": "string", "description": "the entry's first question"},
                },
            },
            "description": "best first",
        },
        "threshold": {
            "type": "number",
            "description": "the brand's (its bot rules, GET /v1/conversations/rules): at or above it the bot answers",
        },
    },
}
_SYNONYMS = {
    "type": "object",
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
    "description": 'canonical word → words users say for it (e.g. {"流量": ["数据", "上网"]})',
}
_ANSWERER_PROPERTIES = {
    "kind": {"enum": ["openai", None], "description": "an OpenAI-compatible chat-completions endpoint"},
    "enabled": {"type": "boolean"},
    "base_url": {"type": ["string", "null"], "description": "POST {base_url}/chat/completions"},
    "model": {"type": ["string", "null"], "maxLength": 200},
    "timeout_s": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_TIMEOUT_S},
    "system_prompt": {"type": ["string", "null"], "maxLength": MAX_PROMPT_CHARS},
    "synonyms": _SYNONYMS,
}
_ANSWERER_IN = {
    "type": "object",
    "properties": {
        **_ANSWERER_PROPERTIES,
        "api_key": {"type": ["string", "null"], "description": "written only (sealed); null removes it"},
    },
    "description": "fields left out keep their value",
}
_ANSWERER = {
    "type": "object",
    "required": ["kind", "enabled", "api_key_set"],
    "properties": {**_ANSWERER_PROPERTIES, "api_key_set": {"type": "boolean"}},
}


def _json(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _body(schema: dict) -> dict:
    return {"required": True, "content": {_JSON: {"schema": schema}}}


register_fragment(
    {
        "paths": {
            "/v1/knowledge/faqs": {
                "post": {
                    "summary": "Add an FAQ entry",
                    "requestBody": _body(_FAQ_IN),
                    "responses": {"201": _json(_FAQ, "Created"), **problem_responses(400, 401, 403, 415, 422)},
                },
                "get": {
                    "summary": "FAQ entries (id order)",
                    "parameters": [
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
                        },
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["faqs", "next_cursor"],
                                "properties": {
                                    "faqs": {"type": "array", "items": _FAQ},
                                    "next_cursor": {"type": ["string", "null"]},
                                },
                            }
                        ),
                        **problem_responses(401, 403, 422),
                    },
                },
            },
            "/v1/knowledge/faqs/{id}": {
                "get": {
                    "summary": "An FAQ entry",
                    "parameters": _ID,
                    "responses": {"200": _json(_FAQ), **problem_responses(401, 403, 404)},
                },
                "put": {
                    "summary": "Replace an FAQ entry",
                    "parameters": _ID,
                    "requestBody": _body(_FAQ_IN),
                    "responses": {"200": _json(_FAQ), **problem_responses(400, 401, 403, 404, 415, 422)},
                },
                "delete": {
                    "summary": "Delete an FAQ entry",
                    "parameters": _ID,
                    "responses": {"204": {"description": "Deleted"}, **problem_responses(401, 403, 404)},
                },
            },
            "/v1/knowledge/match": {
                "post": {
                    "summary": "Rank the FAQ entries for a question (nothing is sent)",
                    "requestBody": _body(_MATCH_IN),
                    "responses": {"200": _json(_MATCHES), **problem_responses(400, 401, 403, 415, 422)},
                }
            },
            "/v1/knowledge/answerer": {
                "get": {
                    "summary": "How the FAQ matches (synonyms) and the external AI service that answers what it cannot",
                    "responses": {"200": _json(_ANSWERER), **problem_responses(401, 403)},
                },
                "put": {
                    "summary": "Change how the bot answers free text",
                    "requestBody": _body(_ANSWERER_IN),
                    "responses": {"200": _json(_ANSWERER), **problem_responses(400, 401, 403, 415, 422)},
                },
            },
        }
    }
)
