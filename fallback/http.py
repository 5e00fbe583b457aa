"""HTTP handlers of the fallback domain: `POST /v1/sms/segments`."""

from __future__ import annotations

import orjson
from aiohttp import web

from api.bodies import read_json
from api.middleware import TENANT
from api.problems import FieldError, Problem, pointer
from fallback import openapi as _openapi  # noqa: F401  (registers the API description)
from fallback.segmentation import SegmentationError, segment_sms

routes = web.RouteTableDef()

_MODES = ("gsm", "cn")


@routes.post("/v1/sms/segments")
async def count_segments(request: web.Request) -> web.Response:
    """Count how `text` splits into SMS parts; `cn` mode prepends the tenant's signature."""
    body = await read_json(request)
    text = body.get("text")
    mode = body.get("mode", "gsm")
    errors = []
    if not isinstance(text, str):
        errors.append(FieldError(pointer("text"), "text is required and must be a string"))
    if mode not in _MODES:
        errors.append(FieldError(pointer("mode"), 'mode must be "gsm" or "cn"'))
    if errors:
        raise Problem(422, "the request cannot be counted", errors)
    tenant = request.get(TENANT) or {}
    try:
        result = segment_sms(text, mode, tenant.get("signature"), price=tenant.get("sms_price"))
    except SegmentationError as exc:
        raise Problem(422, str(exc), [FieldError(pointer("text"), str(exc))]) from None
    return web.Response(body=orjson.dumps(result.as_dict()), content_type="application/json")


ROUTER = web.AppKey("sms_router", object)


@routes.get("/v1/sms/routes")
async def route_health(request: web.Request) -> web.Response:
    """Health of every SMS route: in or out of rotation, error rate, latency, throttling."""
    router = request.app.get(ROUTER)
    return web.json_response({"data": router.health() if router is not None else []})
