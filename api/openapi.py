"""The OpenAPI 3.1 document, assembled from each domain's fragment."""

from __future__ import annotations

import copy
import re

from api.examples import fill_examples
from api.middleware import CSRF_HEADER, SESSION_COOKIE

PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {
            "type": "string",
            "format": "uri-reference",
            "description": "The problem type: a section of /docs/problems (e.g. /docs/problems#validation)",
        },
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


def page_response(description: str, item: dict, example: list | None = None, *, cursor: bool = True) -> dict:
    """A list's 200: `data` (each an `item`) and, where the list pages, `next_cursor`; the
    example's `data` is `example` (None: made from `item`, api/examples.py)."""
    properties: dict = {"data": {"type": "array", "items": item}}
    if cursor:
        properties["next_cursor"] = {"type": ["string", "null"]}
    content: dict = {"schema": {"type": "object", "required": list(properties), "properties": properties}}
    if example is not None:
        content["example"] = {"data": example, **({"next_cursor": None} if cursor else {})}
    return {"description": description, "content": {"application/json": content}}


_FRAGMENTS: list[dict] = []


def register_fragment(fragment: dict) -> None:
    """Add a domain's `{"paths": …, "schemas": …, "webhooks": …}` to the document; its
    `request_examples` map "METHOD /path" (or "METHOD /path media/type …") to the request body's
    example, its `response_examples` "METHOD /path status media/type" to a response's (where
    neither says, api/examples.py makes one from the schema)."""
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
    paths["/readyz"] = {
        "get": {
            "summary": "Readiness: the database, and where the process dispatches, the dispatcher and an SMS route",
            "security": [],
            "responses": {
                "200": {
                    "description": "Ready",
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/Readiness"},
                            "example": {
                                "status": "ready",
                                "checks": {"database": "ok", "dispatcher": "ok", "sms_routes": "ok"},
                            },
                        }
                    },
                },
                "503": {
                    "description": "Not ready (the checks say what)",
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/Readiness"},
                            "example": {"status": "not ready", "checks": {"database": "unavailable: TimeoutError"}},
                        }
                    },
                },
            },
        }
    }
    paths["/metrics"] = {
        "get": {
            "summary": "Prometheus metrics (counts only; HONGYAN_METRICS_TOKEN makes it need a bearer token)",
            "security": [],
            "responses": {
                "200": {
                    "description": "The Prometheus text format",
                    "content": {
                        "text/plain": {"example": 'hongyan_messages_accepted_total{traffic_type="notification"} 2.0'}
                    },
                },
                "401": {"description": "The metrics token is set and was not given"},
            },
        }
    }
    schemas: dict = {
        "Problem": PROBLEM,
        "Readiness": {
            "type": "object",
            "required": ["status", "checks"],
            "properties": {
                "status": {"enum": ["ready", "not ready"]},
                "checks": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
    }
    webhooks: dict = {}
    request_examples: dict = {}
    response_examples: dict = {}
    for frag in _FRAGMENTS:
        request_examples.update(frag.get("request_examples", {}))
        response_examples.update(frag.get("response_examples", {}))
        for path, ops in frag.get("paths", {}).items():
            paths.setdefault(path, {}).update(ops)
        schemas.update(frag.get("schemas", {}))
        webhooks.update(frag.get("webhooks", {}))
    # Whatever takes a key can answer 429: a client past its limit of failed authentications.
    for ops in paths.values():
        for op in ops.values():
            responses = op.get("responses", {}) if isinstance(op, dict) else {}
            if "401" in responses and "429" not in responses:
                responses.update(problem_responses(429))
    document = {
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
        # What the platform POSTs to an integrator's endpoints, one entry per event type.
        "webhooks": webhooks,
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
    # A copy: the fragments' own dicts stay as their modules wrote them.
    document = copy.deepcopy(document)
    for key, value in request_examples.items():
        method, path, *media = key.split(" ")
        contents = document["paths"][path][method.lower()]["requestBody"]["content"]
        for media_type in media or [next(iter(contents))]:
            contents[media_type].pop("examples", None)
            contents[media_type]["example"] = copy.deepcopy(value)
    for key, value in response_examples.items():
        method, path, status, media_type = key.split(" ")
        content = document["paths"][path][method.lower()]["responses"][status]["content"][media_type]
        content.pop("examples", None)
        content["example"] = copy.deepcopy(value)
    return fill_examples(document)


# The API's areas, named after the package that serves them (the tag of each operation).
TAGS = {
    "messages": "Send messages, follow them, cancel them; opt-outs, send rules, evidence",
    "cards": "Validate and render cards; templates and their versions; media",
    "compliance": "Sensitive words, reviews, signatures, consents",
    "accounts": "API keys, users, roles, channels (a brand's own chatbot), chatbot menu and profile",
    "webhooks": "Webhook endpoints and their deliveries",
    "audiences": "Contacts, imports and segments",
    "campaigns": "Campaigns, A/B tests, smart resend and triggered journeys",
    "conversations": "Conversations, the agent inbox, bot rules and the knowledge base",
    "analytics": "Funnels and conversions",
    "billing": "Prices, balance, charges and statements",
    "privacy": "Retention, erasure and export by number (PIPL)",
    "fallback": "SMS segmentation, routes and short links",
    "editor": "The web editor's session, previews and share links",
    "operations": "Liveness, readiness, metrics and this document",
}


def name_operations(document: dict, routes: list[tuple[str, str, str, str]]) -> dict:
    """Give every operation of `document` an `operationId` (its handler's name; the package's
    name before it where two handlers share one) and a tag (the package that serves it), from
    the app's `routes` as (method, path, handler name, handler module). Operations no route
    serves keep what they have; the document lists the tags it uses."""
    served = {
        (m.lower(), re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", p)): (name, module.split(".")[0])
        for m, p, name, module in routes
        if m != "HEAD"
    }
    counts: dict[str, int] = {}
    for name, _ in served.values():
        counts[name] = counts.get(name, 0) + 1
    used: set[str] = set()
    taken: set[str] = set()
    for path, item in document["paths"].items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete") or not isinstance(op, dict):
                continue
            name, package = served.get((method, path), (None, None))
            tag = (op.get("tags") or [package if package in TAGS else "operations"])[0]
            op["tags"] = [tag]
            used.add(tag)
            if "operationId" in op:
                taken.add(op["operationId"])
                continue
            slug = f"{method}_{path.strip('/').replace('/', '_').replace('{', '').replace('}', '').replace('-', '_')}"
            candidate = name if name and counts[name] == 1 else f"{package}_{name}" if name else slug
            op["operationId"] = slug if candidate in taken or name in (None, "handler") else candidate
            taken.add(op["operationId"])
    order = list(TAGS)
    document["tags"] = [
        {"name": t, "description": TAGS.get(t, "")}
        for t in sorted(used, key=lambda t: (t not in TAGS, order.index(t) if t in TAGS else 0, t))
    ]
    return document
