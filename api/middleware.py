"""Middlewares: problem+json for every error, bearer-key authentication under /v1/."""
from __future__ import annotations

import logging
from typing import Awaitable, Callable

from aiohttp import web

from api.problems import Problem, problem_response

log = logging.getLogger("hongyan.api")

Authenticate = Callable[[str], Awaitable[object | None]]
AUTHENTICATE = web.AppKey("authenticate", object)


@web.middleware
async def problem_middleware(request: web.Request, handler):
    """Render Problems, HTTP errors and crashes under /v1/ as application/problem+json."""
    try:
        return await handler(request)
    except Problem as problem:
        return problem_response(problem)
    except web.HTTPException as exc:
        if not request.path.startswith("/v1/") or exc.status < 400:
            raise
        if isinstance(exc, web.HTTPRequestEntityTooLarge):
            return problem_response(Problem(413, "request body is too large"))
        return problem_response(Problem(exc.status, exc.reason or "error", headers=_keep_headers(exc)))
    except Exception:
        if not request.path.startswith("/v1/"):
            raise
        log.exception("unhandled error on %s %s", request.method, request.match_info.route.resource
                      and request.match_info.route.resource.canonical)
        return problem_response(Problem(500, "internal error; the request was not completed"))


def _keep_headers(exc: web.HTTPException) -> dict[str, str]:
    allow = exc.headers.get("Allow")
    return {"Allow": allow} if allow else {}


@web.middleware
async def auth_middleware(request: web.Request, handler):
    """Require `Authorization: Bearer <api key>` on /v1/ and put the tenant on the request."""
    if not request.path.startswith("/v1/"):
        return await handler(request)
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Problem(401, "missing API key: send `Authorization: Bearer <api key>`",
                      headers={"WWW-Authenticate": 'Bearer realm="hongyan"'})
    tenant = await request.app[AUTHENTICATE](key.strip())
    if tenant is None:
        raise Problem(401, "the API key is not valid or has been revoked",
                      headers={"WWW-Authenticate": 'Bearer realm="hongyan", error="invalid_token"'})
    scope = required_scope(request.path)
    scopes = getattr(tenant, "scopes", None)
    if scopes is not None and scope not in scopes:
        raise Problem(403, f"this API key lacks the `{scope}` scope")
    request["tenant_id"] = tenant.id
    request["tenant"] = tenant.as_mapping()
    return await handler(request)


# Which scope a path needs (DESIGN.md §7: API keys with scopes); the first matching prefix wins.
_SCOPE_BY_PREFIX = (
    ("/v1/api-keys", "keys"),
    ("/v1/webhook", "webhooks"),
    ("/v1/template", "templates"),
    ("/v1/cards", "cards"),
)


def required_scope(path: str) -> str:
    for prefix, scope in _SCOPE_BY_PREFIX:
        if path.startswith(prefix):
            return scope
    return "messages"
