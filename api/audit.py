"""The audit log's edge: one middleware records every administrative request under /v1/ (every
method but GET/HEAD/OPTIONS, outside the paths that send and receive messages or only compute),
refused ones included, so a route added later is audited without anything to remember.

A handler may name the action, the target or add detail with `audit(request, …)`; the rest is
derived from the route: `POST /v1/reviews/{id}/approve` → action `reviews.approve`, target
`reviews`/{id}; `PUT /v1/compliance/categories/{name}` → `compliance.categories.put`. The
detail holds the route and what handlers add — never request bodies (they may carry personal
data). The record goes to the `AUDIT` sink (accounts/audit.py) after the answer is made.
"""

from __future__ import annotations

import logging

import orjson
from aiohttp import web

from api.auditentry import AuditEntry, AuditSink
from api.middleware import API_KEY_ID, PRINCIPAL, SAFE_METHODS, TENANT_ID, client_address
from api.problems import Problem

log = logging.getLogger("hongyan.audit")


__all__ = ["AUDIT", "AuditEntry", "audit", "audit_middleware", "record"]

AUDIT = web.AppKey("audit", AuditSink)
_ACTION = web.RequestKey("audit_action", str)
_TARGET = web.RequestKey("audit_target", tuple)
_DETAIL = web.RequestKey("audit_detail", dict)

# Sending and receiving messages, and requests that only compute an answer: not administration.
NOT_AUDITED = frozenset(
    {
        ("POST", "/v1/messages"),
        ("POST", "/v1/messages/{id}/cancel"),
        ("POST", "/v1/capabilities"),
        ("POST", "/v1/cards/validate"),
        ("POST", "/v1/cards/render"),
        ("POST", "/v1/editor/preview"),
        ("POST", "/v1/sms/segments"),
        ("POST", "/v1/compliance/check"),
    }
)
# Names clearer than the derived ones.
ACTION_NAMES = {
    ("POST", "/v1/templates/{id}/versions"): "templates.submit",
    ("POST", "/v1/templates"): "templates.create",
    ("PUT", "/v1/channels/{id}/menu"): "channels.menu.publish",
    ("PUT", "/v1/channels/{id}/profile"): "channels.profile.publish",
    ("POST", "/v1/webhooks/{id}/secret"): "webhooks.secret.rotate",
}
_VERBS = {"POST": "create", "PUT": "put", "PATCH": "update", "DELETE": "delete"}
MAX_SCANNED_BODY = 64 * 1024  # a created thing's id is read from answers up to this size


def audit(
    request: web.Request,
    action: str | None = None,
    *,
    target: tuple[str, str | None] | None = None,
    **detail,
) -> None:
    """Name this request's action or target, or add (non-personal) detail to its audit record."""
    if action:
        request[_ACTION] = action
    if target:
        request[_TARGET] = target
    if detail:
        request.setdefault(_DETAIL, {}).update(detail)


def canonical_route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else request.path


def is_audited(request: web.Request) -> bool:
    if not request.path.startswith("/v1/") or request.method in SAFE_METHODS:
        return False
    return (request.method, canonical_route(request)) not in NOT_AUDITED


def derived_action(method: str, route: str) -> tuple[str, str]:
    """(action, target type) for a route: its literal segments after /v1, and the verb."""
    parts = [p for p in route.split("/")[2:] if p]
    words = [p for p in parts if not p.startswith("{")]
    target = []
    for p in parts:
        if p.startswith("{"):
            break
        target.append(p)
    named = ACTION_NAMES.get((method, route))
    # POST to a literal after an id (…/{id}/approve) names the action itself.
    ends_in_verb = method == "POST" and len(parts) >= 2 and parts[-2].startswith("{") and not parts[-1].startswith("{")
    action = named or ".".join(words) + ("" if ends_in_verb else f".{_VERBS.get(method, method.lower())}")
    return action, ".".join(target) or "api"


def actor_of(request: web.Request) -> tuple[str, str, str]:
    """(type, id, display) of who is asking."""
    principal = request.get(PRINCIPAL)
    user_id = getattr(principal, "user_id", "")
    if user_id:
        return "user", user_id, getattr(principal, "login", user_id)
    key_id = request.get(API_KEY_ID, "")
    if key_id:
        return "key", key_id, f"API key {key_id}"
    return "anonymous", "", "anonymous"


async def record(
    request: web.Request,
    action: str,
    target: tuple[str, str | None],
    status: int,
    *,
    tenant_id: str | None = None,
    actor: tuple[str, str, str] | None = None,
    detail: dict | None = None,
) -> None:
    """Write one audit record for `request` (failures are logged, never raised: the action
    itself has happened)."""
    sink = request.app.get(AUDIT)
    if sink is None:
        return
    actor_type, actor_id, display = actor or actor_of(request)
    entry = AuditEntry(
        tenant_id=tenant_id if tenant_id is not None else request.get(TENANT_ID),
        actor_type=actor_type,
        actor_id=actor_id,
        actor_display=display,
        action=action,
        target_type=target[0],
        target_id=target[1],
        client=client_address(request)[:64],
        status=status,
        detail=detail or {},
    )
    try:
        await sink.record(entry)
    except Exception:
        log.exception("writing the audit record of %s failed", action)


@web.middleware
async def audit_middleware(request: web.Request, handler):
    """Record every administrative request once it is answered (or refused, past sign-in)."""
    if not is_audited(request):
        return await handler(request)
    status, response = 500, None
    try:
        response = await handler(request)
        status = response.status
        return response
    except Problem as problem:
        status = problem.status
        raise
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        # No record for a request that never authenticated: a spray of bad keys is not
        # administration (the authentication rate limit answers it).
        if TENANT_ID in request:
            await _record_request(request, status, response)


async def _record_request(request: web.Request, status: int, response) -> None:
    route = canonical_route(request)
    action, target_type = derived_action(request.method, route)
    action = request.get(_ACTION, action)
    params = list(request.match_info.values())
    target = request.get(_TARGET) or (target_type, params[0] if params else _created_id(response))
    detail = {"method": request.method, "route": route, **request.get(_DETAIL, {})}
    await record(request, action, target, status, detail=detail)


def _created_id(response) -> str | None:
    """The `id` of what a POST created, from its JSON answer."""
    if not isinstance(response, web.Response) or response.content_type != "application/json":
        return None
    body = response.body
    if not isinstance(body, bytes | bytearray) or len(body) > MAX_SCANNED_BODY:
        return None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    found = data.get("id") if isinstance(data, dict) else None
    return str(found)[:200] if isinstance(found, str | int) else None
