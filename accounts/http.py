"""/v1/api-keys: more keys per tenant, each limited to scopes, shown once, revocable."""

from __future__ import annotations

from aiohttp import web

from accounts.service import MAX_KEY_NAME
from api.bodies import read_json
from api.middleware import SCOPES as CALLER_SCOPES
from api.middleware import TENANT_ID, TEST_MODE
from api.openapi import page_response, problem_responses, register_fragment
from api.problems import FieldError, Problem
from api.responses import json_response
from security import SCOPES, parse_scopes
from security.apikeys import ENVIRONMENTS, TEST_SCOPES, scopes_beyond

ACCOUNTS_SERVICE = web.AppKey("accounts_service", object)
routes = web.RouteTableDef()


@routes.post("/v1/api-keys")
async def create_key(request: web.Request) -> web.Response:
    body = await read_json(request)
    errors = [FieldError(f"/{k}", "unknown field") for k in body if k not in ("scopes", "name", "environment")]
    # A test key makes test keys only; a live key makes live keys unless asked for a test one.
    caller_test = request.get(TEST_MODE, False)
    environment = body.get("environment", "test" if caller_test else "live")
    if environment not in ENVIRONMENTS:
        errors.append(FieldError("/environment", f"one of: {', '.join(ENVIRONMENTS)}"))
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip() or len(name) > MAX_KEY_NAME):
        errors.append(
            FieldError("/name", f"1 to {MAX_KEY_NAME} characters", code="length", params={"max": MAX_KEY_NAME})
        )
    scopes = body.get("scopes")
    if not isinstance(scopes, list) or not scopes or not all(isinstance(x, str) for x in scopes):
        errors.append(FieldError("/scopes", f"a non-empty list of: {', '.join(sorted(SCOPES))}"))
    else:
        try:
            parse_scopes(scopes)
        except ValueError as exc:
            errors.append(FieldError("/scopes", str(exc)))
        else:
            beyond = set(scopes) - TEST_SCOPES
            if environment == "test" and beyond:
                errors.append(FieldError("/scopes", f"a test key cannot hold: {', '.join(sorted(beyond))}"))
    if errors:
        raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
    if caller_test and environment != "test":
        raise Problem(
            403, "a test API key can create only test keys", [FieldError("/environment", "a test key makes test keys")]
        )
    _within_callers_scopes(request, scopes, "grant")
    made = await request.app[ACCOUNTS_SERVICE].create_api_key(
        request[TENANT_ID], scopes, name.strip() if name else None, environment=environment
    )
    return json_response(made, status=201)


def _within_callers_scopes(request: web.Request, scopes, verb: str) -> None:
    """403 naming /scopes unless the calling key holds every one of `scopes`: a key with only
    `keys` must not mint (or revoke) a key that can do more than it can."""
    beyond = scopes_beyond(request.get(CALLER_SCOPES), scopes)
    if beyond:
        names = ", ".join(f"`{s}`" for s in sorted(beyond))
        raise Problem(
            403,
            f"this API key cannot {verb} scopes it does not hold: {names}",
            [FieldError("/scopes", f"not held by the calling key: {', '.join(sorted(beyond))}")],
        )


@routes.get("/v1/api-keys")
async def list_keys(request: web.Request) -> web.Response:
    return json_response({"data": await request.app[ACCOUNTS_SERVICE].list_api_keys(request[TENANT_ID])})


@routes.delete("/v1/api-keys/{id}")
async def revoke_key(request: web.Request) -> web.Response:
    service, key_id = request.app[ACCOUNTS_SERVICE], request.match_info["id"]
    target = next((k for k in await service.list_api_keys(request[TENANT_ID]) if k["id"] == key_id), None)
    if target is not None:
        # Revoking a stronger key would lock its holder out: the same rule as granting.
        _within_callers_scopes(request, target["scopes"], "revoke")
        if request.get(TEST_MODE, False) and target["environment"] != "test":
            raise Problem(403, "a test API key can revoke only test keys")
    if not await service.revoke_api_key(request[TENANT_ID], key_id):
        raise Problem(404, "no such active API key")
    return web.Response(status=204)


_KEY = {
    "type": "object",
    "required": ["id", "scopes", "created_at"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": ["string", "null"]},
        "environment": {
            "enum": list(ENVIRONMENTS),
            "description": "`test`: the key reads `hy_test_…`; what it sends goes only to the sandbox simulators "
            "(even where real channels are configured), is marked `test` and is never billed",
        },
        "scopes": {"type": "array", "items": {"enum": sorted(SCOPES)}},
        "created_at": {"type": "string", "format": "date-time"},
        "last_used_at": {
            "type": ["string", "null"],
            "format": "date-time",
            "description": "When it last authenticated a request (to the minute)",
        },
        "revoked_at": {"type": ["string", "null"], "format": "date-time"},
        "api_key": {"type": "string", "description": "Only in the answer to POST: shown once"},
    },
}
register_fragment(
    {
        "schemas": {"ApiKey": _KEY},
        "paths": {
            "/v1/api-keys": {
                "post": {
                    "summary": "Create an API key limited to scopes (needs the `keys` scope)",
                    "description": "A key can grant only scopes it holds itself: asking for more is a 403 "
                    "naming `/scopes`. A test key (`hy_test_…`) creates only test keys.",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["scopes"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "name": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_NAME},
                                        "environment": {
                                            "enum": list(ENVIRONMENTS),
                                            "description": "`live` (the default for a live caller) or `test`; "
                                            f"a test key holds only: {', '.join(sorted(TEST_SCOPES))}",
                                        },
                                        "scopes": {"type": "array", "minItems": 1, "items": {"enum": sorted(SCOPES)}},
                                    },
                                },
                                "example": {"name": "billing system", "scopes": ["messages"]},
                            }
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "The key, shown this once",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApiKey"}}},
                        },
                        **problem_responses(400, 401, 403, 415, 422),
                    },
                },
                "get": {
                    "summary": "List the tenant's API keys (never the keys themselves)",
                    "responses": {
                        "200": page_response(
                            "Keys",
                            {"$ref": "#/components/schemas/ApiKey"},
                            [
                                {
                                    "id": "0193a4f2c8b57d1e",
                                    "name": "订单系统",
                                    "scopes": ["messages", "templates"],
                                    "created_at": "2026-12-04T08:30:00.000Z",
                                    "last_used_at": "2026-12-04T08:30:00.000Z",
                                    "revoked_at": None,
                                }
                            ],
                            cursor=False,
                        ),
                        **problem_responses(401, 403),
                    },
                },
            },
            "/v1/api-keys/{id}": {
                "delete": {
                    "summary": "Revoke a key (only one whose scopes the calling key holds too)",
                    "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"204": {"description": "Revoked"}, **problem_responses(401, 403, 404)},
                }
            },
        },
    }
)
