"""OpenAPI fragment for conversations (/v1/conversations)."""

from api.openapi import problem_responses, register_fragment
from conversations.rules import ACTION_KINDS, DEFAULT_THRESHOLD, MATCH_KINDS, MAX_OPTIONS, MAX_RULES, ON_MISS
from conversations.service import MAX_PAGE, MAX_REPLY_TEXT, MAX_STATS_HOURS, STATES

_JSON = "application/json"
_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
_TIME = {"type": "string", "format": "date-time"}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}


def _json(schema_ref: str, description: str = "OK") -> dict:
    return {"description": description, "content": {_JSON: {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}}}


_MESSAGE = {
    "type": "object",
    "required": ["id", "direction", "author", "kind", "channel", "at"],
    "properties": {
        "id": {"type": "string"},
        "direction": {"enum": ["in", "out"]},
        "author": {"enum": ["user", "bot", "agent", "api"]},
        "agent_id": {"type": "string", "description": "the person who replied (author agent)"},
        "kind": {"enum": ["text", "suggestion", "menu", "location", "file", "card", "template"]},
        "channel": {"enum": ["rcs", "sms"]},
        "text": {"type": "string"},
        "postback": {"type": "string", "description": "a tapped chip's or menu entry's postback data"},
        "display_text": {"type": "string"},
        "suggestions": {"type": "array", "items": {"type": "object"}},
        "card": {"type": "object"},
        "template": {"type": "object"},
        "variables": {"type": "object"},
        "location": {"type": "object"},
        "file": {"type": "object"},
        "message_id": {"type": "string", "description": "the outbound message in /v1/messages"},
        "status": {"type": "string", "description": "the outbound message's status"},
        "matched": {
            "type": "object",
            "description": "how the bot chose: rule_id, or answerer/faq_id/confidence (chosen: the user picked "
            "the entry from an ask-back's options), or ask_back, handoff",
        },
        "at": _TIME,
    },
}
_CONVERSATION = {
    "type": "object",
    "required": ["id", "state", "channel", "contact", "assignee", "opened_at", "updated_at", "unanswered"],
    "properties": {
        "id": {"type": "string"},
        "state": {"enum": list(STATES)},
        "channel": {"enum": ["rcs", "sms"], "description": "where the user last wrote from: replies go there"},
        "contact": {
            "type": "object",
            "required": ["number_masked"],
            "properties": {"number_masked": {"type": "string"}, "contact_id": {"type": "string"}},
        },
        "assignee": {"type": ["string", "null"]},
        "opened_at": _TIME,
        "updated_at": _TIME,
        "last_message": {"oneOf": [{"$ref": "#/components/schemas/ConversationMessage"}, {"type": "null"}]},
        "waiting_since": _NULLABLE_TIME,
        "unanswered": {"type": "integer", "minimum": 0},
    },
}
_THREAD = {
    "allOf": [
        {"$ref": "#/components/schemas/Conversation"},
        {
            "type": "object",
            "required": ["messages"],
            "properties": {
                "messages": {"type": "array", "items": {"$ref": "#/components/schemas/ConversationMessage"}}
            },
        },
    ]
}
_REPLY_IN = {
    "type": "object",
    "additionalProperties": False,
    "description": "exactly one of text (with suggestions), card, or template_id (a template's name)",
    "properties": {
        "text": {"type": "string", "minLength": 1, "maxLength": MAX_REPLY_TEXT},
        "suggestions": {"type": "array", "items": {"type": "object"}},
        "card": {"type": "object", "required": ["message"], "properties": {"message": {"type": "object"}}},
        "template_id": {"type": "string", "minLength": 1},
        "template_version": {"type": "integer", "minimum": 1},
        "variables": {"type": "object"},
    },
}
_RULE = {
    "type": "object",
    "required": ["id", "match", "action"],
    "properties": {
        "id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,32}$"},
        "name": {"type": "string", "maxLength": 200},
        "enabled": {"type": "boolean", "default": True},
        "match": {
            "type": "object",
            "required": ["kind"],
            "properties": {
                "kind": {"enum": list(MATCH_KINDS)},
                "value": {"type": "string", "description": "keyword, regular expression, number or postback"},
                "channels": {"type": "array", "items": {"enum": ["rcs", "sms"]}},
                "menu": {"type": "string", "description": "number: only as an answer to this menu rule"},
            },
        },
        "action": {
            "type": "object",
            "required": ["kind"],
            "description": "text {text, suggestions?}; card {card}; template {template, version?, variables?}; "
            f"menu {{text, options: 1–{MAX_OPTIONS} {{label, postback?}}}}; tag {{tag, text?}}; handoff {{text?}}. "
            "journey is refused (journeys run over a segment on a date attribute: tag the contact instead)",
            "properties": {"kind": {"enum": list(ACTION_KINDS)}},
        },
    },
}
_RULES = {
    "type": "object",
    "required": ["rules"],
    "properties": {
        "rules": {"type": "array", "maxItems": MAX_RULES, "items": {"$ref": "#/components/schemas/ConversationRule"}},
        "threshold": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "default": DEFAULT_THRESHOLD,
            "description": "the FAQ / AI confidence an answer needs to be sent (POST /v1/knowledge/match reports it)",
        },
        "on_miss": {"enum": list(ON_MISS), "default": "ask_back"},
    },
}
_OUTCOME = {
    "type": "object",
    "required": ["outcome"],
    "properties": {
        "outcome": {
            "type": "object",
            "required": ["kind", "reply", "handoff"],
            "properties": {
                "kind": {"enum": ["rule", "faq", "ai", "ask_back", "handoff", "none"]},
                "reply": {"type": ["object", "null"]},
                "rule_id": {"type": "string"},
                "faq_id": {"type": "string"},
                "confidence": {"type": "number"},
                "source": {"type": "string"},
                "tag": {"type": "string"},
                "handoff": {"type": "boolean"},
            },
        }
    },
}
_STATS = {
    "type": "object",
    "required": ["queued", "assigned", "open", "oldest_waiting_s", "first_response_s", "handled_by_bot_pct"],
    "properties": {
        "window_hours": {"type": "integer"},
        "queued": {"type": "integer"},
        "assigned": {"type": "integer"},
        "open": {"type": "integer"},
        "oldest_waiting_s": {"type": ["number", "null"]},
        "first_response_s": {
            "type": "object",
            "properties": {
                "p50": {"type": ["number", "null"]},
                "p90": {"type": ["number", "null"]},
                "count": {"type": "integer"},
            },
        },
        "handled_by_bot_pct": {"type": ["number", "null"]},
    },
}
_EMPTY_BODY = {"required": False, "content": {_JSON: {"schema": {"type": "object", "additionalProperties": False}}}}

register_fragment(
    {
        "schemas": {
            "Conversation": _CONVERSATION,
            "ConversationThread": _THREAD,
            "ConversationMessage": _MESSAGE,
            "ConversationReply": _REPLY_IN,
            "ConversationRule": _RULE,
            "ConversationRules": _RULES,
            "ConversationStats": _STATS,
            "ConversationRuleTest": _OUTCOME,
        },
        "paths": {
            "/v1/conversations": {
                "get": {
                    "summary": "Conversations, the most recently active first",
                    "parameters": [
                        {"name": "state", "in": "query", "schema": {"enum": list(STATES)}},
                        {
                            "name": "assignee",
                            "in": "query",
                            "schema": {"type": "string", "minLength": 1, "maxLength": 32},
                            "description": 'a user id, or "me"',
                        },
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "A page",
                            "content": {
                                _JSON: {
                                    "schema": {
                                        "type": "object",
                                        "required": ["conversations", "next_cursor"],
                                        "properties": {
                                            "conversations": {
                                                "type": "array",
                                                "items": {"$ref": "#/components/schemas/Conversation"},
                                            },
                                            "next_cursor": {"type": ["string", "null"]},
                                        },
                                    }
                                }
                            },
                        },
                        **problem_responses(401, 403, 422),
                    },
                }
            },
            "/v1/conversations/stats": {
                "get": {
                    "summary": "Queue length, oldest wait, first-response times, the bot's share",
                    "parameters": [
                        {
                            "name": "hours",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_STATS_HOURS, "default": 24},
                        }
                    ],
                    "responses": {"200": _json("ConversationStats"), **problem_responses(401, 403, 422)},
                }
            },
            "/v1/conversations/events": {
                "get": {
                    "summary": "Live updates (Server-Sent Events): `conversation`, `message`, `resync`",
                    "description": "A keep-alive comment every 15 s; a slow reader that lost events gets "
                    "`resync` (read the list again). The stream ends after an hour (EventSource reconnects).",
                    "responses": {
                        "200": {
                            "description": "An event stream",
                            "content": {"text/event-stream": {"schema": {"type": "string"}}},
                        },
                        **problem_responses(401, 403, 503),
                    },
                }
            },
            "/v1/conversations/rules": {
                "get": {
                    "summary": "The bot's ordered rules",
                    "responses": {"200": _json("ConversationRules"), **problem_responses(401, 403)},
                },
                "put": {
                    "summary": "Replace the bot's rules (the first enabled rule that matches answers)",
                    "requestBody": {
                        "required": True,
                        "content": {_JSON: {"schema": {"$ref": "#/components/schemas/ConversationRules"}}},
                    },
                    "responses": {"200": _json("ConversationRules"), **problem_responses(400, 401, 403, 413, 415, 422)},
                },
            },
            "/v1/conversations/rules/test": {
                "post": {
                    "summary": "What the bot would do if a user sent this (nothing is sent)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            _JSON: {
                                "schema": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "properties": {
                                        "text": {"type": "string", "maxLength": MAX_REPLY_TEXT},
                                        "postback": {"type": "string", "maxLength": MAX_REPLY_TEXT},
                                        "channel": {"enum": ["rcs", "sms"], "default": "rcs"},
                                        "menu": {"type": "string", "description": "the menu rule shown last (SMS)"},
                                        "misses": {"type": "integer", "minimum": 0, "maximum": 1},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {"200": _json("ConversationRuleTest"), **problem_responses(400, 401, 403, 415, 422)},
                }
            },
            "/v1/conversations/{id}": {
                "get": {
                    "summary": "A conversation with its thread (oldest first)",
                    "parameters": _ID,
                    "responses": {"200": _json("ConversationThread"), **problem_responses(401, 403, 404)},
                }
            },
            "/v1/conversations/{id}/messages": {
                "post": {
                    "summary": "Reply in the conversation (through the message pipeline; durable before 202)",
                    "description": "Over RCS the reply carries the operator's conversationId and inReplyTo "
                    "the user's last message; over SMS it is an SMS to the number.",
                    "parameters": _ID,
                    "requestBody": {
                        "required": True,
                        "content": {_JSON: {"schema": {"$ref": "#/components/schemas/ConversationReply"}}},
                    },
                    "responses": {
                        "202": {
                            "description": "Accepted",
                            "content": {
                                _JSON: {
                                    "schema": {
                                        "type": "object",
                                        "required": ["message"],
                                        "properties": {"message": {"$ref": "#/components/schemas/ConversationMessage"}},
                                    }
                                }
                            },
                        },
                        **problem_responses(400, 401, 402, 403, 404, 413, 415, 422, 429),
                    },
                }
            },
            "/v1/conversations/{id}/assign": {
                "post": {
                    "summary": 'Assign to a person (a user id, "me") or back to the queue (null)',
                    "parameters": _ID,
                    "requestBody": {
                        "required": True,
                        "content": {
                            _JSON: {
                                "schema": {
                                    "type": "object",
                                    "required": ["assignee"],
                                    "additionalProperties": False,
                                    "properties": {"assignee": {"type": ["string", "null"]}},
                                }
                            }
                        },
                    },
                    "responses": {"200": _json("Conversation"), **problem_responses(400, 401, 403, 404, 415, 422)},
                }
            },
            "/v1/conversations/{id}/handoff": {
                "post": {
                    "summary": "Hand the conversation from the bot to the queue",
                    "parameters": _ID,
                    "requestBody": _EMPTY_BODY,
                    "responses": {"200": _json("Conversation"), **problem_responses(400, 401, 403, 404, 415, 422)},
                }
            },
            "/v1/conversations/{id}/close": {
                "post": {
                    "summary": "Close the conversation (the next inbound opens it again with the bot)",
                    "parameters": _ID,
                    "requestBody": _EMPTY_BODY,
                    "responses": {"200": _json("Conversation"), **problem_responses(400, 401, 403, 404, 415, 422)},
                }
            },
        },
    }
)

# Request examples the sandbox accepts (tests/api/test_openapi_examples.py sends each).
register_fragment(
    {
        "request_examples": {
            "PUT /v1/conversations/rules": {
                "threshold": 0.6,
                "on_miss": "ask_back",
                "rules": [
                    {
                        "id": "balance",
                        "match": {"kind": "prefix", "value": "余额"},
                        "action": {"kind": "text", "text": "您的会员余额请在小程序内查询。"},
                    },
                    {"id": "human", "match": {"kind": "exact", "value": "人工"}, "action": {"kind": "handoff"}},
                ],
            },
            "POST /v1/conversations/rules/test": {"text": "余额查询", "channel": "rcs"},
        }
    }
)
