"""OpenAPI fragment for the editor's session and preview endpoints, next to the handlers."""

from api.openapi import problem_responses, register_fragment
from cards.limits import DEFAULT_PROFILE, PROFILES

FINDING = {"$ref": "#/components/schemas/CardFinding"}
SESSION = {
    "type": "object",
    "required": [
        "tenant_id",
        "tenant_name",
        "csrf_token",
        "expires_at",
        "scopes",
        "sandbox",
        "handset_url",
        "signature",
    ],
    "properties": {
        "tenant_id": {"type": "string"},
        "tenant_name": {"type": "string"},
        "csrf_token": {"type": "string", "description": "Send as X-CSRF-Token on unsafe cookie-authenticated requests"},
        "expires_at": {
            "type": "string",
            "format": "date-time",
            "description": "When the session ends unless used (8 h idle, 24 h at most)",
        },
        "scopes": {"type": "array", "items": {"type": "string"}},
        "sandbox": {"type": "boolean"},
        "handset_url": {"type": ["string", "null"], "description": "The sandbox MaaP's virtual handset"},
        "signature": {"type": "string"},
        "sms_price": {"type": ["string", "null"]},
        "user": {
            "type": ["object", "null"],
            "description": "The person signed in (id, login, role); null for an API key",
        },
        "role": {"type": ["string", "null"], "description": "The person's role in this tenant (docs/users.md)"},
        "can": {
            "type": "object",
            "description": "area → read | write: what the role (or the key's scopes) allows",
            "additionalProperties": {"enum": ["read", "write"]},
        },
    },
}
PREVIEW_REQUEST = {
    "type": "object",
    "required": ["card"],
    "properties": {
        "card": {"$ref": "#/components/schemas/Card"},
        "variables": {"type": "object", "description": "Sample values for the card's {{ variables }}"},
        "placeholders": {
            "type": "boolean",
            "default": False,
            "description": "Show variables as {{ name }} instead of the sample",
        },
        "profile": {"enum": list(PROFILES), "default": DEFAULT_PROFILE},
        "locale": {"enum": ["zh-CN", "en"], "default": "zh-CN"},
        "traffic_type": {"enum": ["notification", "marketing", "otp"], "default": "notification"},
    },
}
SMS = {
    "type": ["object", "null"],
    "required": ["text", "encoding", "segments", "cn_billing_units", "cn_parts", "cost", "currency"],
    "properties": {
        "text": {"type": "string", "description": "Signature, body, a short link of the real length, opt-out"},
        "encoding": {"enum": ["GSM-7", "UCS-2"]},
        "segments": {"type": "integer", "description": "Parts on the wire (3GPP TS 23.040)"},
        "cn_billing_units": {"type": ["integer", "null"], "description": "Characters billed in China"},
        "cn_parts": {"type": ["integer", "null"], "description": "Parts billed in China"},
        "cost": {"type": ["string", "null"]},
        "currency": {"type": ["string", "null"]},
    },
}
PREVIEW = {
    "type": "object",
    "required": [
        "valid",
        "errors",
        "warnings",
        "missing_variables",
        "variables_used",
        "card",
        "phone_html",
        "sms",
        "h5_html",
    ],
    "properties": {
        "valid": {"type": "boolean"},
        "errors": {"type": "array", "items": FINDING},
        "warnings": {"type": "array", "items": FINDING},
        "missing_variables": {"type": "array", "items": {"type": "string"}},
        "variables_used": {"type": "array", "items": {"type": "string"}},
        "card": {"type": ["object", "null"], "description": "The card composed with the sample, when it composes"},
        "phone_html": {"type": ["string", "null"], "description": "HTML fragment (with its style) of the card"},
        "sms": SMS,
        "h5_html": {"type": ["string", "null"], "description": "The short-link page, links inert"},
    },
}
_JSON = "application/json"

register_fragment(
    {
        "paths": {
            "/v1/editor/preview": {
                "post": {
                    "summary": "Validate and render every preview of a card template (never 422 for an invalid card)",
                    "requestBody": {
                        "required": True,
                        "content": {_JSON: {"schema": {"$ref": "#/components/schemas/EditorPreviewRequest"}}},
                    },
                    "responses": {
                        "200": {
                            "description": "The previews",
                            "content": {_JSON: {"schema": {"$ref": "#/components/schemas/EditorPreview"}}},
                        },
                        **problem_responses(400, 401, 403, 415, 422),
                    },
                }
            },
            "/editor/session": {
                "post": {
                    "summary": "Sign in to the web UI: a login and password (and TOTP code), or an API key, "
                    "for a session cookie (hongyan_editor)",
                    "description": "A wrong password or TOTP code is a 401 naming `/password` or `/totp` "
                    "(`totp_required` when a code is missing). See docs/users.md.",
                    "security": [],
                    "requestBody": {
                        "required": True,
                        "content": {
                            _JSON: {
                                "schema": {
                                    "oneOf": [
                                        {
                                            "type": "object",
                                            "required": ["login", "password"],
                                            "properties": {
                                                "login": {"type": "string"},
                                                "password": {"type": "string"},
                                                "totp": {"type": "string"},
                                                "tenant_id": {"type": "string"},
                                            },
                                        },
                                        {
                                            "type": "object",
                                            "required": ["api_key"],
                                            "properties": {"api_key": {"type": "string"}},
                                        },
                                    ]
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "Signed in; Set-Cookie carries the session",
                            "content": {_JSON: {"schema": {"$ref": "#/components/schemas/EditorSession"}}},
                        },
                        **problem_responses(400, 401, 403, 415, 422, 429),
                    },
                },
                "get": {
                    "summary": "The current editor session (by its cookie)",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "Signed in",
                            "content": {_JSON: {"schema": {"$ref": "#/components/schemas/EditorSession"}}},
                        },
                        **problem_responses(401),
                    },
                },
                "delete": {
                    "summary": "Sign out (needs X-CSRF-Token)",
                    "security": [],
                    "responses": {
                        "204": {"description": "Signed out; the cookie is cleared"},
                        **problem_responses(401, 403),
                    },
                },
            },
            "/editor/password": {
                "post": {
                    "summary": "Set a password with the one-time token of an invitation's link",
                    "security": [],
                    "requestBody": {
                        "required": True,
                        "content": {
                            _JSON: {
                                "schema": {
                                    "type": "object",
                                    "required": ["token", "password"],
                                    "properties": {"token": {"type": "string"}, "password": {"type": "string"}},
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "Set; the answer names the login",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["login"],
                                        "properties": {"login": {"type": "string"}},
                                    },
                                    "example": {"login": "zhang.wei"},
                                }
                            },
                        },
                        **problem_responses(400, 410, 415, 422, 429),
                    },
                }
            },
        },
        "schemas": {"EditorSession": SESSION, "EditorPreviewRequest": PREVIEW_REQUEST, "EditorPreview": PREVIEW},
    }
)
