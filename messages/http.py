"""HTTP handlers for sending and reading messages (/v1/messages)."""

from __future__ import annotations

from aiohttp import web

from api.bodies import parse_json, read_body
from api.middleware import TENANT, TENANT_ID
from api.problems import FieldError, Problem
from api.ratelimit import RateLimiter, retry_after_header
from messages import openapi as _openapi  # noqa: F401  (registers the API description)
from messages.ledger import DEFAULT_PAGE, MAX_PAGE, CardCheck, MessageLedger
from messages.request import parse_send_request

LEDGER = web.AppKey("message_ledger", MessageLedger)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
CARD_CHECK: web.AppKey[CardCheck] = web.AppKey("card_check")
MAX_IDEMPOTENCY_KEY = 255
JSON = "application/json"

routes = web.RouteTableDef()


@routes.post("/v1/messages")
async def send_messages(request: web.Request) -> web.Response:
    ledger = request.app[LEDGER]
    tenant = request[TENANT]
    idem_key = request.headers.get("Idempotency-Key")
    if idem_key is not None and not 0 < len(idem_key) <= MAX_IDEMPOTENCY_KEY:
        raise Problem(
            422,
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters",
            [FieldError("/headers/Idempotency-Key", "bad length")],
        )
    raw = await read_body(request)
    if idem_key is not None:
        # Checked before any validation.
        replay = await ledger.replay(tenant["id"], idem_key, raw)
        if replay is not None:
            return web.Response(
                status=replay.status, body=replay.body, content_type=JSON, headers={"Idempotent-Replayed": "true"}
            )
    req = parse_send_request(parse_json(raw))
    check = request.app.get(CARD_CHECK)
    if check is not None and not req.errors:
        req.errors.extend(await check(req, tenant["id"]))
    if req.errors:
        raise Problem(422, f"{len(req.errors)} field(s) are invalid", req.errors)
    wait = request.app[RATE_LIMITER].take(tenant["id"], tenant["rate_limit"], len(req.recipients))
    if wait:
        raise Problem(
            429,
            f"over this tenant's limit of {tenant['rate_limit']} recipients a second",
            headers={"Retry-After": retry_after_header(wait)},
        )
    try:
        answer = await ledger.accept(tenant["id"], req, idempotency=(idem_key, raw) if idem_key else None)
    except Exception:
        if idem_key is None:
            raise
        # A concurrent request with the same key won the race: answer as it did.
        replay = await ledger.replay(tenant["id"], idem_key, raw)
        if replay is None:
            raise
        return web.Response(
            status=replay.status, body=replay.body, content_type=JSON, headers={"Idempotent-Replayed": "true"}
        )
    return web.Response(status=202, body=answer, content_type=JSON)


@routes.get("/v1/messages/{id}")
async def get_message(request: web.Request) -> web.Response:
    view = await request.app[LEDGER].get(request[TENANT_ID], request.match_info["id"])
    if view is None:
        raise Problem(404, "no such message")
    return web.json_response(view)


@routes.get("/v1/messages")
async def list_messages(request: web.Request) -> web.Response:
    q = request.query
    limit_raw = q.get("limit", str(DEFAULT_PAGE))
    if not limit_raw.isdigit() or not 1 <= int(limit_raw) <= MAX_PAGE:
        raise Problem(422, f"limit must be 1 to {MAX_PAGE}", [FieldError("/limit", "out of range")])
    items, cursor = await request.app[LEDGER].list(
        request[TENANT_ID], batch_id=q.get("batch_id"), cursor=q.get("cursor"), limit=int(limit_raw)
    )
    return web.json_response({"data": items, "next_cursor": cursor})
