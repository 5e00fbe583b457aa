"""OpenAPI fragment for /v1/cards/validate and /v1/cards/render, next to the handlers."""

from api.examples import BILL_CARD
from api.openapi import problem_responses, register_fragment
from cards.library import load_library
from cards.limits import DEFAULT_PROFILE, PROFILES
from cards.model import BOTMESSAGE_CONTENT_TYPE

CARD = {
    "type": "object",
    "description": "A GSMA UP bot message (`message`: generalPurposeCard, generalPurposeCardCarousel or "
    "text), optionally with a suggested chip list (`suggestions`) and a persistent menu "
    "(`menu`). Unknown keys are kept.",
    "properties": {
        "message": {"type": "object"},
        "suggestions": {"type": "array", "items": {"type": "object"}},
        "menu": {"type": "object"},
    },
}
FINDING = {
    "type": "object",
    "required": ["path", "message"],
    "properties": {
        "path": {"type": "string", "description": "JSON Pointer into the card"},
        "message": {"type": "string"},
    },
}
PROFILE = {
    "enum": list(PROFILES),
    "default": DEFAULT_PROFILE,
    "description": "Operator limits: cn_csp (China Telecom/Unicom CSP interface), gsma, rbm",
}
VALIDATE_REQUEST = {
    "type": "object",
    "required": ["card"],
    "properties": {"card": {"$ref": "#/components/schemas/Card"}, "profile": PROFILE},
}
VALIDATE_ANSWER = {
    "type": "object",
    "required": ["valid", "card", "warnings"],
    "properties": {
        "valid": {"const": True},
        "card": {"$ref": "#/components/schemas/Card", "description": "The card exactly as sent"},
        "warnings": {"type": "array", "items": {"$ref": "#/components/schemas/CardFinding"}},
        "profile": PROFILE,
    },
}
RENDER_REQUEST = {
    "type": "object",
    "description": "Either a card or a template (the tenant's own, else the library's); variables fill "
    "{{ … }} fields (a template without variables uses its sample data).",
    "properties": {
        "card": {"$ref": "#/components/schemas/Card"},
        "template": {
            "description": "A template's name (or `{name, version?}` as in a send): the tenant's own template "
            "of that name first, then the library's (" + ", ".join(sorted(load_library())) + ")",
            "oneOf": [
                {"type": "string", "minLength": 1},
                {
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": False,
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "version": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
                    },
                },
            ],
        },
        "variables": {"type": "object"},
        "profile": PROFILE,
        "locale": {
            "enum": ["zh-CN", "en"],
            "default": "zh-CN",
            "description": "Locale of the money/date filters for a card",
        },
    },
}

register_fragment(
    {
        "paths": {
            "/v1/cards/validate": {
                "post": {
                    "summary": "Validate a card against an operator profile",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/CardValidateRequest"}}
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "Valid (warnings may be listed)",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/CardValidation"}}
                            },
                        },
                        **problem_responses(400, 401, 415, 422),
                    },
                }
            },
            "/v1/cards/render": {
                "post": {
                    "summary": "Render a card or library template with variables",
                    "parameters": [
                        {
                            "name": "format",
                            "in": "query",
                            "required": False,
                            "schema": {"enum": ["gsma", "html", "png", "text"], "default": "gsma"},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CardRenderRequest"}}},
                    },
                    "responses": {
                        "200": {
                            "description": "The rendering",
                            "content": {
                                BOTMESSAGE_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Card"}},
                                "text/html": {"schema": {"type": "string"}},
                                "image/png": {"schema": {"type": "string", "contentMediaType": "image/png"}},
                                "text/plain": {"schema": {"type": "string"}},
                            },
                        },
                        **problem_responses(400, 401, 415, 422),
                    },
                }
            },
        },
        "schemas": {
            "Card": CARD,
            "CardFinding": FINDING,
            "CardValidateRequest": VALIDATE_REQUEST,
            "CardValidation": VALIDATE_ANSWER,
            "CardRenderRequest": RENDER_REQUEST,
        },
    }
)

# Request examples the sandbox accepts (tests/api/test_openapi_examples.py sends each).
register_fragment(
    {
        "request_examples": {
            "POST /v1/cards/render": {"card": BILL_CARD, "variables": {"name": "张先生", "amount": "58.00"}},
        }
    }
)
