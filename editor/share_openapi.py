"""OpenAPI fragment for share links of template versions, next to their handlers."""

from api.openapi import problem_responses, register_fragment

_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_VERSION = {
    "name": "version",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
}
_SHARE_ID = {"name": "share_id", "in": "path", "required": True, "schema": {"type": "string"}}
_JSON = lambda ref: {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}  # noqa: E731
_LIST = {
    "application/json": {
        "schema": {
            "type": "object",
            "required": ["data"],
            "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/ShareLink"}}},
        }
    }
}

register_fragment(
    {
        "schemas": {
            "ShareLinkCreate": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"expires_in_days": {"enum": [1, 7, 30], "default": 7}},
            },
            "ShareDecision": {
                "type": "object",
                "required": ["id", "decision", "name", "comment", "at"],
                "properties": {
                    "id": {"type": "string"},
                    "decision": {"enum": ["approved", "changes_requested"]},
                    "name": {"type": "string", "description": "as the reviewer gave it"},
                    "comment": {"type": "string"},
                    "at": {"type": "string", "format": "date-time"},
                },
            },
            "ShareLink": {
                "type": "object",
                "required": ["id", "template_id", "version", "url", "token", "state", "created_at", "expires_at"],
                "properties": {
                    "id": {"type": "string", "description": "random, not a secret by itself"},
                    "template_id": {"type": "string"},
                    "version": {"type": "integer"},
                    "url": {
                        "type": "string",
                        "description": "<public base URL>/share/<token>: a read-only preview anyone holding it "
                        "may open and approve or ask changes on, without an account",
                    },
                    "token": {"type": "string", "description": "<id>.<HMAC>; any change makes it unknown (404)"},
                    "state": {"enum": ["active", "expired", "revoked"]},
                    "created_at": {"type": "string", "format": "date-time"},
                    "expires_at": {"type": "string", "format": "date-time"},
                    "revoked_at": {"type": ["string", "null"], "format": "date-time"},
                    "decisions": {"type": "array", "items": {"$ref": "#/components/schemas/ShareDecision"}},
                },
            },
        },
        "paths": {
            "/v1/templates/{id}/versions/{version}/shares": {
                "post": {
                    "summary": "Share a version for approval: a signed, expiring link to its read-only preview",
                    "parameters": [_ID, _VERSION],
                    "requestBody": {"required": False, "content": _JSON("ShareLinkCreate")},
                    "responses": {
                        "201": {"description": "The link", "content": _JSON("ShareLink")},
                        **problem_responses(400, 401, 404, 415, 422),
                    },
                },
                "get": {
                    "summary": "The version's share links (newest first) with the decisions made through them",
                    "parameters": [_ID, _VERSION],
                    "responses": {"200": {"description": "The links", "content": _LIST}, **problem_responses(401, 404)},
                },
            },
            "/v1/templates/{id}/versions/{version}/shares/{share_id}": {
                "get": {
                    "summary": "One share link",
                    "parameters": [_ID, _VERSION, _SHARE_ID],
                    "responses": {
                        "200": {"description": "The link", "content": _JSON("ShareLink")},
                        **problem_responses(401, 404),
                    },
                }
            },
            "/v1/templates/{id}/versions/{version}/shares/{share_id}/revoke": {
                "post": {
                    "summary": "Revoke a share link now (its page answers 410; revoking twice changes nothing)",
                    "parameters": [_ID, _VERSION, _SHARE_ID],
                    "responses": {
                        "200": {"description": "The revoked link", "content": _JSON("ShareLink")},
                        **problem_responses(401, 404),
                    },
                }
            },
            "/v1/templates/{id}/shares": {
                "get": {
                    "summary": "Every version's share links of a template, with their decisions",
                    "parameters": [_ID],
                    "responses": {"200": {"description": "The links", "content": _LIST}, **problem_responses(401, 404)},
                }
            },
        },
    }
)
