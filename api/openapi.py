"""The OpenAPI 3.1 document, assembled from each domain's fragment."""

from __future__ import annotations

from api.middleware import CSRF_HEADER, SESSION_COOKIE

PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["path", "message"],
                "properties": {
                    "path": {"type": "string", "description": "JSON Pointer into the request body"},
                    "message": {"type": "string", "description": "What is wrong, in English"},
                    "code": {
                        "type": "string",
                        "description": "The rule broken, a stable name (card checks: docs/cards.md, Problem codes)",
                    },
                    "params": {"type": "object", "description": "The rule's figures for `code`, e.g. n and limit"},
                },
            },
        },
    },
}


def problem_responses(*codes: int) -> dict:
    """`responses` entries for problem+json answers."""
    text = {
        400: "Malformed JSON",
        401: "Missing or bad API key",
        402: "The tenant's balance and credit limit cannot cover the estimated cost (billing)",
        404: "Not found (or another tenant's)",
        409: "Idempotency-Key reused with another body",
        413: "Body too large",
        415: "Content-Type is not application/json",
        422: "Invalid fields (see errors[].path)",
        429: "Too many requests: over the tenant's rate limit, or too many failed authentications (see Retry-After)",
    }
    return {
        str(c): {
            "description": text.get(c, "Error"),
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for c in codes
    }


_FRAGMENTS: list[dict] = []


def register_fragment(fragment: dict) -> None:
    """Add a domain's `{"paths": …, "schemas": …}` to the document."""
    _FRAGMENTS.append(fragment)


def openapi_document(base_url: str) -> dict:
    paths: dict = {
        "/healthz": {
            "get": {
                "summary": "Liveness",
                "security": [],
                "responses": {
                    "200": {
                        "description": "Serving",
                        "content": {
                            "application/json": {
                                "schema": {"type": "object", "properties": {"status": {"const": "ok"}}}
                            }
                        },
                    }
                },
            }
        }
    }
    schemas: dict = {"Problem": PROBLEM}
    for frag in _FRAGMENTS:
        for path, ops in frag.get("paths", {}).items():
            paths.setdefault(path, {}).update(ops)
        schemas.update(frag.get("schemas", {}))
    # Whatever takes a key can answer 429: a client past its limit of failed authentications.
    for ops in paths.values():
        for op in ops.values():
            responses = op.get("responses", {}) if isinstance(op, dict) else {}
            if "401" in responses and "429" not in responses:
                responses.update(problem_responses(429))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Hongyan 5G message API",
            "version": "1",
            "description": "Send RCS rich cards with SMS fallback. Errors are RFC 7807 problem+json.",
        },
        "servers": [{"url": base_url}],
        # Either the tenant's API key, or the web editor's session cookie (whose unsafe requests
        # also carry the X-CSRF-Token header of the session).
        "security": [{"apiKey": []}, {"editorSession": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "Tenant API key"},
                "editorSession": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": SESSION_COOKIE,
                    "description": "The card editor's session (POST /editor/session); POST, PUT, PATCH and "
                    f"DELETE also need the session's csrf_token in `{CSRF_HEADER}`.",
                },
            },
        },
    }
