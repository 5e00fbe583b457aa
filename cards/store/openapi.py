"""OpenAPI fragment for tenant templates and the template library."""
from api.openapi import problem_responses, register_fragment

_CARD = {"type": "object", "description": "GSMA bot-message JSON; jinja2 variables allowed in text fields"}
_BODY = {
    "type": "object", "required": ["card"], "additionalProperties": False,
    "properties": {
        "card": _CARD, "sample": {"type": "object"}, "note": {"type": "string", "maxLength": 500},
        "traffic_type": {"enum": ["notification", "marketing", "otp"], "default": "notification"},
    },
}
_VERSION = {
    "type": "object", "required": ["id", "name", "version", "card", "traffic_type", "created_at"],
    "properties": {
        "id": {"type": "string"}, "name": {"type": "string"}, "version": {"type": "integer"}, "card": _CARD,
        "sample": {"type": ["object", "null"]}, "traffic_type": {"type": "string"},
        "note": {"type": ["string", "null"]}, "created_at": {"type": "string", "format": "date-time"},
    },
}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_JSON = lambda ref: {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}  # noqa: E731

register_fragment({
    "schemas": {
        "TemplateCreate": {**_BODY, "required": ["name", "card"],
                           "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 100},
                                          **_BODY["properties"]}},
        "TemplateVersionCreate": _BODY,
        "TemplateVersion": _VERSION,
    },
    "paths": {
        "/v1/template-library": {"get": {
            "summary": "The built-in template library, each with sample data",
            "responses": {"200": {"description": "Library templates"}, **problem_responses(401)}}},
        "/v1/templates": {
            "post": {"summary": "Create a template (version 1)",
                     "requestBody": {"required": True, "content": _JSON("TemplateCreate")},
                     "responses": {"201": {"description": "Created", "content": _JSON("TemplateVersion")},
                                   **problem_responses(400, 401, 409, 415, 422)}},
            "get": {"summary": "List templates",
                    "parameters": [{"name": "cursor", "in": "query", "schema": {"type": "string"}},
                                   {"name": "limit", "in": "query",
                                    "schema": {"type": "integer", "minimum": 1, "maximum": 200}}],
                    "responses": {"200": {"description": "A page"}, **problem_responses(401, 422)}},
        },
        "/v1/templates/{id}": {"get": {
            "summary": "A template's latest version and its version list", "parameters": [_ID],
            "responses": {"200": {"description": "The template"}, **problem_responses(401, 404)}}},
        "/v1/templates/{id}/versions": {"post": {
            "summary": "Add a version (earlier versions never change)", "parameters": [_ID],
            "requestBody": {"required": True, "content": _JSON("TemplateVersionCreate")},
            "responses": {"201": {"description": "Created", "content": _JSON("TemplateVersion")},
                          **problem_responses(400, 401, 404, 415, 422)}}},
        "/v1/templates/{id}/versions/{version}": {"get": {
            "summary": "One version", "parameters": [_ID, {"name": "version", "in": "path", "required": True,
                                                          "schema": {"type": "integer", "minimum": 1}}],
            "responses": {"200": {"description": "The version", "content": _JSON("TemplateVersion")},
                          **problem_responses(401, 404)}}},
    },
})
