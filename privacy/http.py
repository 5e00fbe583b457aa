"""HTTP edge of the personal-data lifecycle (/v1/privacy, scope `privacy`).

Numbers travel only in request bodies (never in a URL), and answers to erasure name no number.
"""

from __future__ import annotations

import orjson
from aiohttp import web

from api.bodies import parse_json, read_body, read_json
from api.middleware import TENANT_ID
from api.pagination import page_limit
from api.problems import FieldError, Problem
from api.responses import json_response
from messages.http import LEDGER, idempotency_key, replayed
from privacy import openapi as _openapi  # noqa: F401  (registers the API description)
from privacy.service import MAX_PAGE, ErasureInFlight, Privacy, subject_number
from store.ids import is_id

PRIVACY = web.AppKey("privacy", Privacy)

routes = web.RouteTableDef()


@routes.get("/v1/privacy/retention")
async def get_retention(request: web.Request) -> web.Response:
    return json_response(await request.app[PRIVACY].retention(request[TENANT_ID]))


@routes.put("/v1/privacy/retention")
async def put_retention(request: web.Request) -> web.Response:
    body = await read_json(request)
    return json_response(await request.app[PRIVACY].set_retention(request[TENANT_ID], body))


@routes.post("/v1/privacy/purges")
async def purge_now(request: web.Request) -> web.Response:
    """Run the retention purge for this tenant now (the scheduled job covers every tenant)."""
    report = await request.app[PRIVACY].purge(request[TENANT_ID])
    if report is None:
        raise Problem(409, "a purge is running in another process; try again when it is done")
    return json_response(report)


@routes.post("/v1/privacy/erasures")
async def erase(request: web.Request) -> web.Response:
    """Erase one number's data; with an Idempotency-Key a retry answers the first receipt
    (an erasure again would erase nothing more but file a second receipt)."""
    ledger, tenant_id = request.app[LEDGER], request[TENANT_ID]
    idem_key = idempotency_key(request)
    raw = await read_body(request)
    if idem_key is not None and (replay := await ledger.replay(tenant_id, idem_key, raw)) is not None:
        return replayed(replay)
    to = subject_number(parse_json(raw))
    try:
        receipt = await request.app[PRIVACY].erase(request[TENANT_ID], to, source="api")
    except ErasureInFlight as exc:
        raise Problem(
            409,
            f"{exc}: cancel them (POST /v1/messages/{{id}}/cancel) or wait until they end, then erase",
            [FieldError("/to", "messages to this number are still in flight")],
            extra={"message_ids": exc.message_ids[:100]},
        ) from None
    body = orjson.dumps(receipt)
    if idem_key is not None:
        kept = await ledger.remember(tenant_id, idem_key, raw, 201, body)
        if kept.body != body:  # a concurrent request with the key was first: its receipt
            return replayed(kept)
    return web.Response(status=201, body=body, content_type="application/json")


@routes.get("/v1/privacy/erasures")
async def list_erasures(request: web.Request) -> web.Response:
    limit = page_limit(request.query, default=50, maximum=MAX_PAGE)
    after = request.query.get("cursor")
    if after is not None and not is_id(after):  # the cursor is the last receipt's id
        raise Problem(
            422, "cursor is not one this API returned", [FieldError("/cursor", "invalid cursor", code="not_cursor")]
        )
    items, cursor = await request.app[PRIVACY].erasures(request[TENANT_ID], after=after, limit=limit)
    return json_response({"data": items, "next_cursor": cursor})


@routes.post("/v1/privacy/exports")
async def export(request: web.Request) -> web.Response:
    to = subject_number(await read_json(request))
    return json_response(await request.app[PRIVACY].export(request[TENANT_ID], to))
