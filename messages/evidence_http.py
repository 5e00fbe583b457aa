"""The evidence log over HTTP: a message's records with audit paths, signed tree heads,
consistency proofs and the platform's public signing keys (docs/evidence.md says how to check them)."""

from __future__ import annotations

from aiohttp import web

from api.middleware import TENANT_ID
from api.openapi import problem_responses, register_fragment
from api.problems import FieldError, Problem
from api.responses import json_response
from messages.evidence import EvidenceLog

EVIDENCE = web.AppKey("evidence", EvidenceLog)
routes = web.RouteTableDef()
_MAX_SIZE = 2**63 - 1


# The fixed paths come before /v1/evidence/{message_id}, which would match them too.
@routes.get("/v1/evidence/keys")
async def signing_keys(request: web.Request) -> web.Response:
    return json_response({"keys": await request.app[EVIDENCE].signing_keys()})


@routes.get("/v1/evidence/tree-head")
async def tree_head(request: web.Request) -> web.Response:
    head = await request.app[EVIDENCE].tree_head(request[TENANT_ID])
    if head is None:
        raise Problem(404, "no tree head yet: nothing of this tenant is in the evidence log")
    return json_response(head)


def _size(request: web.Request, name: str) -> int:
    raw = request.query.get(name, "")
    if not raw.isascii() or not raw.isdigit() or int(raw) > _MAX_SIZE:
        raise Problem(422, f"{name} must be a tree size (a whole number)", [FieldError(f"/{name}", "not a tree size")])
    return int(raw)


@routes.get("/v1/evidence/consistency")
async def consistency(request: web.Request) -> web.Response:
    first, second = _size(request, "first"), _size(request, "second")
    if first > second:
        raise Problem(422, "first must not exceed second", [FieldError("/first", "larger than second")])
    proof = await request.app[EVIDENCE].consistency(request[TENANT_ID], first, second)
    if proof is None:
        raise Problem(404, "the tenant's tree has not reached that size", [FieldError("/second", "beyond the tree")])
    return json_response({"first": first, "second": second, "consistency_path": proof})


@routes.get("/v1/evidence/{message_id}")
async def message_evidence(request: web.Request) -> web.Response:
    found = await request.app[EVIDENCE].message_evidence(request[TENANT_ID], request.match_info["message_id"])
    if found is None:
        raise Problem(404, "no evidence for this message (unknown, another tenant's, or not chained yet)")
    return json_response(found)


_HEX32 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_JSON = "application/json"
TREE_HEAD = {
    "type": "object",
    "description": "A tenant's evidence tree at one size, signed by the platform (docs/evidence.md)",
    "required": ["tenant_id", "tree_size", "timestamp", "root_hash", "algorithm", "key_id", "signature"],
    "properties": {
        "tenant_id": {"type": "string"},
        "tree_size": {"type": "integer", "minimum": 1},
        "timestamp": {"type": "integer", "description": "Unix milliseconds when the head was signed"},
        "root_hash": _HEX32,
        "algorithm": {"const": "ed25519"},
        "key_id": _HEX32,
        "signature": {"type": "string", "pattern": "^[0-9a-f]{128}$"},
    },
}
RECORD = {
    "type": "object",
    "required": ["seq", "format", "facts", "leaf_hash", "proof"],
    "properties": {
        "seq": {"type": "integer", "minimum": 0, "description": "The record's leaf index in the tenant's tree"},
        "format": {"enum": [1, 2]},
        "facts": {
            "type": "object",
            "required": ["message_id", "event", "at", "recipient"],
            "properties": {
                "message_id": {"type": "string"},
                "event": {"type": "string"},
                "at": {"type": "string"},
                "recipient": _HEX32,
                "content_mac": _HEX32,
                "content_sm3": _HEX32,
            },
        },
        "leaf_hash": _HEX32,
        "proof": {
            "oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "required": ["leaf_index", "tree_size", "audit_path"],
                    "properties": {
                        "leaf_index": {"type": "integer", "minimum": 0},
                        "tree_size": {"type": "integer", "minimum": 1},
                        "audit_path": {"type": "array", "items": _HEX32},
                    },
                },
            ]
        },
    },
}
FRAGMENT = {
    "paths": {
        "/v1/evidence/{message_id}": {
            "get": {
                "summary": "A message's evidence records, each with its audit path to the tenant's signed tree head",
                "parameters": [{"name": "message_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {
                    "200": {
                        "description": "Records and proofs",
                        "content": {_JSON: {"schema": {"$ref": "#/components/schemas/MessageEvidence"}}},
                    },
                    **problem_responses(401, 404),
                },
            }
        },
        "/v1/evidence/tree-head": {
            "get": {
                "summary": "The tenant's latest signed tree head",
                "responses": {
                    "200": {
                        "description": "The signed tree head",
                        "content": {_JSON: {"schema": {"$ref": "#/components/schemas/EvidenceTreeHead"}}},
                    },
                    **problem_responses(401, 404),
                },
            }
        },
        "/v1/evidence/consistency": {
            "get": {
                "summary": "RFC 6962 consistency proof between two sizes of the tenant's tree",
                "parameters": [
                    {"name": n, "in": "query", "required": True, "schema": {"type": "integer", "minimum": 0}}
                    for n in ("first", "second")
                ],
                "responses": {
                    "200": {
                        "description": "The consistency path",
                        "content": {
                            _JSON: {
                                "schema": {
                                    "type": "object",
                                    "required": ["first", "second", "consistency_path"],
                                    "properties": {
                                        "first": {"type": "integer"},
                                        "second": {"type": "integer"},
                                        "consistency_path": {"type": "array", "items": _HEX32},
                                    },
                                }
                            }
                        },
                    },
                    **problem_responses(401, 404, 422),
                },
            }
        },
        "/v1/evidence/keys": {
            "get": {
                "summary": "The platform's public keys that sign evidence tree heads",
                "responses": {
                    "200": {
                        "description": "Every key that signed (or signs) tree heads",
                        "content": {
                            _JSON: {
                                "schema": {
                                    "type": "object",
                                    "required": ["keys"],
                                    "properties": {
                                        "keys": {
                                            "type": "array",
                                            "items": {
                                                "type": "object",
                                                "required": ["key_id", "algorithm", "public_key", "public_key_pem"],
                                                "properties": {
                                                    "key_id": _HEX32,
                                                    "algorithm": {"const": "ed25519"},
                                                    "public_key": _HEX32,
                                                    "public_key_pem": {"type": "string"},
                                                    "created_at": {"type": "string", "format": "date-time"},
                                                },
                                            },
                                        }
                                    },
                                }
                            }
                        },
                    },
                    **problem_responses(401),
                },
            }
        },
    },
    "schemas": {
        "EvidenceTreeHead": TREE_HEAD,
        "MessageEvidence": {
            "type": "object",
            "required": ["message_id", "tree_head", "records"],
            "properties": {
                "message_id": {"type": "string"},
                "tree_head": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/EvidenceTreeHead"}]},
                "records": {"type": "array", "items": RECORD},
            },
        },
    },
}

register_fragment(FRAGMENT)
