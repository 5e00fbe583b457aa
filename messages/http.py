"""HTTP handlers for sending and reading messages (/v1/messages)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from api.bodies import parse_json, read_body, read_json
from api.metrics import METRICS
from api.middleware import TENANT, TENANT_ID, TEST_MODE
from api.pagination import page_limit
from api.problems import FieldError, Problem
from api.ratelimit import RateLimiter, retry_after_header
from api.responses import json_response
from compliance.http import SCREEN  # the word-list screen; a server without it screens nothing
from messages import openapi as _openapi  # noqa: F401  (registers the API description)
from messages.ledger import DEFAULT_PAGE, MAX_PAGE, CardCheck, MessageLedger, Replay, answer_ids
from messages.lifecycle import TooLateToCancel
from messages.request import normalise_number, parse_send_request
from messages.submit import SendChecks

LEDGER = web.AppKey("message_ledger", MessageLedger)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
CARD_CHECK: web.AppKey[CardCheck] = web.AppKey("card_check")
# tenant id, message id → "revoked" | "revoking" | None (no such message); raises TooLateToCancel
CANCEL: web.AppKey[Callable[[str, str], Awaitable[str | None]]] = web.AppKey("cancel")
# tenant id, media id → the tenant's media (cards.media.MediaStore view), or None
MEDIA_LOOKUP: web.AppKey[Callable[[str, str], Awaitable[dict | None]]] = web.AppKey("media_lookup")
# tenant id, E.164 numbers → {number: Capability}
# (`test=True` for a test key: asked of the simulator, never of an operator)
CAPABILITIES: web.AppKey[Callable[..., Awaitable[Mapping[str, object]]]] = web.AppKey("capabilities")
# More fields of one message's view from a layer above (billing's `cost`): (tenant, id) → fields.
VIEW_EXTRAS: web.AppKey[Callable[[str, str], Awaitable[dict]]] = web.AppKey("view_extras")
MAX_CAPABILITY_NUMBERS = 10_000
MAX_IDEMPOTENCY_KEY = 255
JSON = "application/json"

routes = web.RouteTableDef()


def idempotency_key(request: web.Request) -> str | None:
    """The request's Idempotency-Key header, None without one; 422 when it is too long or empty."""
    idem_key = request.headers.get("Idempotency-Key")
    if idem_key is not None and not 0 < len(idem_key) <= MAX_IDEMPOTENCY_KEY:
        raise Problem(
            422,
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters",
            [FieldError("/headers/Idempotency-Key", "bad length")],
        )
    return idem_key


def replayed(replay: Replay) -> web.Response:
    """The stored answer to an earlier request with the same Idempotency-Key."""
    return web.Response(
        status=replay.status, body=replay.body, content_type=JSON, headers={"Idempotent-Replayed": "true"}
    )


@routes.post("/v1/messages")
async def send_messages(request: web.Request) -> web.Response:
    ledger = request.app[LEDGER]
    tenant = request[TENANT]
    test = request.get(TEST_MODE, False)
    idem_key = idempotency_key(request)
    if idem_key is not None and test:
        idem_key = "test\x00" + idem_key  # test and live sends never answer for each other
    raw = await read_body(request)
    if idem_key is not None:
        # Checked before any validation.
        replay = await ledger.replay(tenant["id"], idem_key, raw)
        if replay is not None:
            return replayed(replay)
    req = parse_send_request(parse_json(raw))
    hold = await send_checks(request.app).prepare(req, tenant["id"])  # 422 on a bad field or a blocked word
    limiter = request.app[RATE_LIMITER]
    wait = limiter.take(tenant["id"], tenant["rate_limit"], len(req.recipients))
    if wait:
        raise Problem(
            429,
            f"over this tenant's limit of {tenant['rate_limit']} recipients a second",
            headers={"Retry-After": retry_after_header(wait), **limiter.headers(tenant["id"], tenant["rate_limit"])},
        )
    try:
        answer = await ledger.accept(
            tenant["id"],
            req,
            idempotency=(idem_key, raw) if idem_key else None,
            hold=hold,
            test=test,
        )
    except Exception:
        if idem_key is None:
            raise
        # A concurrent request with the same key won the race: answer as it did.
        replay = await ledger.replay(tenant["id"], idem_key, raw)
        if replay is None:
            raise
        return replayed(replay)
    metrics = request.app.get(METRICS)
    if metrics is not None:
        metrics.accepted.labels(req.traffic_type).inc(len(req.recipients))
    return web.Response(
        status=202, body=answer, content_type=JSON, headers=_accepted_headers(request, answer, batch=req.batch)
    )


def _accepted_headers(request: web.Request, answer: bytes, *, batch: bool) -> dict[str, str]:
    """Where to follow what was accepted (the message, or the batch's messages), and the rate
    limit as it now stands."""
    tenant = request[TENANT]
    batch_id, first_id = answer_ids(answer)
    location = f"/v1/messages?batch_id={batch_id}" if batch else f"/v1/messages/{first_id}"
    return {"Location": location, **request.app[RATE_LIMITER].headers(tenant["id"], tenant["rate_limit"])}


def send_checks(app: web.Application) -> SendChecks:
    """The checks a send passes before accept, with what this app has wired."""
    return SendChecks(app.get(CARD_CHECK), app.get(SCREEN), app.get(MEDIA_LOOKUP))


@routes.get("/v1/messages/{id}")
async def get_message(request: web.Request) -> web.Response:
    view = await request.app[LEDGER].get(request[TENANT_ID], request.match_info["id"])
    if view is None:
        raise Problem(404, "no such message")
    extras = request.app.get(VIEW_EXTRAS)
    if extras is not None:
        view.update(await extras(request[TENANT_ID], view["id"]))
    return json_response(view)


@routes.get("/v1/messages")
async def list_messages(request: web.Request) -> web.Response:
    q = request.query
    limit = page_limit(q, default=DEFAULT_PAGE, maximum=MAX_PAGE)
    items, cursor = await request.app[LEDGER].list(
        request[TENANT_ID], batch_id=q.get("batch_id"), cursor=q.get("cursor"), limit=limit
    )
    return json_response({"data": items, "next_cursor": cursor})


@routes.post("/v1/messages/{id}/cancel")
async def cancel_message(request: web.Request) -> web.Response:
    """Cancel: a message not sent yet is `revoked` at once (200); one in flight over RCS is
    revoked at the operator first (202, the outcome follows as events and webhooks)."""
    cancel = request.app.get(CANCEL)
    if cancel is None:
        raise Problem(503, "cancelling needs the dispatcher, which this server does not run")
    message_id = request.match_info["id"]
    try:
        outcome = await cancel(request[TENANT_ID], message_id)
    except TooLateToCancel as exc:
        raise Problem(409, str(exc), extra={"message_status": exc.status}) from None
    if outcome is None:
        raise Problem(404, "no such message")
    view = await request.app[LEDGER].get(request[TENANT_ID], message_id)
    return json_response({**(view or {}), "cancel": outcome}, status=200 if outcome == "revoked" else 202)


@routes.post("/v1/capabilities")
async def capabilities(request: web.Request) -> web.Response:
    """Whether numbers can receive RCS business messages: `supported`, `not_supported`,
    `unknown` or `invalid` each, from what the platform learnt and the channel's own check."""
    body = await read_json(request)
    numbers = body.get("numbers") if isinstance(body, dict) else None
    if not isinstance(numbers, list) or not 1 <= len(numbers) <= MAX_CAPABILITY_NUMBERS:
        raise Problem(
            422,
            f"numbers must be a list of 1 to {MAX_CAPABILITY_NUMBERS} phone numbers",
            [FieldError("/numbers", "expected a non-empty list")],
        )
    e164: list[str | None] = []
    for i, raw in enumerate(numbers):
        e164.append(normalise_number(raw))
        if i % 1000 == 999:
            await asyncio.sleep(0)  # a long list must not hold the loop
    valid = sorted({n for n in e164 if n is not None})
    check = request.app.get(CAPABILITIES)
    answers: Mapping[str, object] = (
        await check(request[TENANT_ID], valid, test=request.get(TEST_MODE, False))
        if check is not None and valid
        else {}
    )
    results = [
        {
            "number": raw if isinstance(raw, str) else None,
            "e164": n,
            "capability": "invalid" if n is None else str(getattr(answers.get(n), "value", "unknown")),
        }
        for raw, n in zip(numbers, e164)
    ]
    return json_response({"results": results})
