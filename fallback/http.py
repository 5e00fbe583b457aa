"""HTTP handlers of the fallback domain: `POST /v1/sms/segments`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from api.bodies import read_json
from api.middleware import TENANT, TENANT_ID
from api.problems import FieldError, Problem, pointer
from api.responses import json_response
from fallback import openapi as _openapi  # noqa: F401  (registers the API description)
from fallback.compose import DEFAULT_OPT_OUT_TEXT, MARKETING_TRAFFIC, TRAFFIC_TYPES, with_unsubscribe
from fallback.segmentation import SegmentationError, segment_sms

routes = web.RouteTableDef()
# tenant id → the unsubscribe text its marketing SMS end with (its compliance policy)
UNSUBSCRIBE_TEXT = web.AppKey("unsubscribe_text", Callable[[str], Awaitable[str]])

_MODES = ("gsm", "cn")


@routes.post("/v1/sms/segments")
async def count_segments(request: web.Request) -> web.Response:
    """Count how `text` splits into SMS parts; `cn` mode prepends the tenant's signature; a
    marketing `traffic_type` appends the tenant's unsubscribe text, as every marketing SMS ends."""
    body = await read_json(request)
    text = body.get("text")
    mode = body.get("mode", "gsm")
    traffic_type = body.get("traffic_type")
    errors = []
    if not isinstance(text, str):
        errors.append(FieldError(pointer("text"), "text is required and must be a string"))
    if mode not in _MODES:
        errors.append(FieldError(pointer("mode"), 'mode must be "gsm" or "cn"'))
    if traffic_type is not None and (not isinstance(traffic_type, str) or traffic_type not in TRAFFIC_TYPES):
        errors.append(FieldError(pointer("traffic_type"), "not a traffic type"))
    if errors:
        raise Problem(422, "the request cannot be counted", errors)
    tenant = request.get(TENANT) or {}
    unsubscribe = None
    if traffic_type in MARKETING_TRAFFIC:
        lookup = request.app.get(UNSUBSCRIBE_TEXT)
        unsubscribe = await lookup(request[TENANT_ID]) if lookup is not None else DEFAULT_OPT_OUT_TEXT
        text = with_unsubscribe(text, unsubscribe)
    try:
        result = segment_sms(text, mode, tenant.get("signature"), price=tenant.get("sms_price"))
    except SegmentationError as exc:
        raise Problem(422, str(exc), [FieldError(pointer("text"), str(exc))]) from None
    out = result.as_dict()
    if traffic_type is not None:  # named only when the traffic type was asked about
        out["unsubscribe_text"] = unsubscribe
    return web.Response(body=orjson.dumps(out), content_type="application/json")


ROUTER = web.AppKey("sms_router", object)


@routes.get("/v1/sms/routes")
async def route_health(request: web.Request) -> web.Response:
    """Health of every SMS route: in or out of rotation, error rate, latency, throttling."""
    router = request.app.get(ROUTER)
    return json_response({"data": router.health() if router is not None else []})
