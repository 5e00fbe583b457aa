"""HTTP handlers: /v1/webhooks (register, list, delete) and /v1/webhook-deliveries."""

from __future__ import annotations

from aiohttp import web

from api.bodies import read_json
from api.middleware import TENANT_ID
from api.problems import FieldError, Problem
from api.responses import json_response
from security.numbers import ascii_digits
from webhooks import openapi as _openapi  # noqa: F401  (registers the API description)
from webhooks.endpoints import parse_registration
from webhooks.service import DEFAULT_GRACE_S, DEFAULT_PAGE, DELIVERY_STATUSES, MAX_GRACE_S, MAX_PAGE, WebhookService

WEBHOOKS = web.AppKey("webhooks", WebhookService)

routes = web.RouteTableDef()


@routes.post("/v1/webhooks")
async def create_webhook(request: web.Request) -> web.Response:
    service = request.app[WEBHOOKS]
    reg = parse_registration(
        await read_json(request), allow_http=service.allow_http, allow_private=service.allow_private
    )
    return json_response(await service.create_endpoint(request[TENANT_ID], reg), status=201)


@routes.get("/v1/webhooks")
async def list_webhooks(request: web.Request) -> web.Response:
    items = await request.app[WEBHOOKS].list_endpoints(request[TENANT_ID])
    return json_response({"data": items, "next_cursor": None})


@routes.delete("/v1/webhooks/{id}")
async def delete_webhook(request: web.Request) -> web.Response:
    if not await request.app[WEBHOOKS].delete_endpoint(request[TENANT_ID], request.match_info["id"]):
        raise Problem(404, "no such webhook endpoint")
    return web.Response(status=204)


@routes.post("/v1/webhooks/{id}/secret")
async def rotate_secret(request: web.Request) -> web.Response:
    body = await read_json(request) if request.can_read_body else {}
    grace = body.get("grace_seconds", DEFAULT_GRACE_S) if isinstance(body, dict) else None
    if not isinstance(body, dict) or set(body) - {"grace_seconds"}:
        raise Problem(422, "1 field(s) are invalid", [FieldError("", '{"grace_seconds"?: whole seconds}')])
    if not isinstance(grace, int) or isinstance(grace, bool) or not 0 <= grace <= MAX_GRACE_S:
        raise Problem(
            422,
            "1 field(s) are invalid",
            [FieldError("/grace_seconds", f"whole seconds from 0 to {MAX_GRACE_S} (7 days)", code="out_of_range")],
        )
    rotated = await request.app[WEBHOOKS].rotate_secret(request[TENANT_ID], request.match_info["id"], grace)
    if rotated is None:
        raise Problem(404, "no such webhook endpoint")
    return json_response(rotated)


@routes.get("/v1/webhook-deliveries")
async def list_deliveries(request: web.Request) -> web.Response:
    q = request.query
    errors = []
    limit_raw = q.get("limit", str(DEFAULT_PAGE))
    if not ascii_digits(limit_raw) or not 1 <= int(limit_raw) <= MAX_PAGE:
        errors.append(FieldError("/limit", f"must be 1 to {MAX_PAGE}"))
    status = q.get("status")
    if status is not None and status not in DELIVERY_STATUSES:
        errors.append(FieldError("/status", f"must be one of {', '.join(DELIVERY_STATUSES)}"))
    if errors:
        raise Problem(422, f"{len(errors)} query parameter(s) are invalid", errors)
    items, cursor = await request.app[WEBHOOKS].list_deliveries(
        request[TENANT_ID],
        message_id=q.get("message_id"),
        endpoint_id=q.get("endpoint_id"),
        status=status,
        cursor=q.get("cursor"),
        limit=int(limit_raw),
    )
    return json_response({"data": items, "next_cursor": cursor})
