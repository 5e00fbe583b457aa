"""HTTP handlers of the fallback domain: `POST /v1/sms/segments`, SMS route health and the\nplatform operator's ported-number overrides."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from api.bodies import read_json
from api.middleware import SCOPES, TENANT, TENANT_ID
from api.problems import FieldError, Problem, pointer
from api.responses import json_response
from fallback import openapi as _openapi  # noqa: F401  (registers the API description)
from fallback.compose import DEFAULT_OPT_OUT_TEXT, MARKETING_TRAFFIC, TRAFFIC_TYPES, with_unsubscribe
from fallback.ported import PortedNumberError, PortedNumbers
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
# A process without routes of its own (an API process) reads what the dispatch processes wrote.
SHARED_HEALTH: web.AppKey[Callable[[], Awaitable[list]]] = web.AppKey("sms_shared_health")
PORTED = web.AppKey("ported_numbers", PortedNumbers)
ADMIN_SCOPE = "routes-admin"


@routes.get("/v1/sms/routes")
async def route_health(request: web.Request) -> web.Response:
    """Health of every SMS route: in or out of rotation, error rate, latency, throttling; this
    process's own routes, else the dispatch processes' shared snapshots."""
    router = request.app.get(ROUTER)
    if router is not None:
        return json_response({"data": router.health(), "source": "process"})
    shared = request.app.get(SHARED_HEALTH)
    return json_response({"data": await shared() if shared is not None else [], "source": "shared"})


# --- ported numbers (the platform operator's `routes-admin` scope) -----------------------------


def _ported(request: web.Request) -> PortedNumbers:
    scopes = request.get(SCOPES)
    if not scopes or ADMIN_SCOPE not in scopes:
        raise Problem(403, f"ported numbers are the platform operator's: they need the `{ADMIN_SCOPE}` scope")
    ported = request.app.get(PORTED)
    if ported is None:
        raise Problem(404, "ported-number overrides are not available in this process")
    return ported


def _bad(exc: PortedNumberError, detail: str) -> Problem:
    path = pointer(exc.field) if exc.field in ("number", "carrier", "csv") else pointer("csv")
    message = str(exc) if path != "/csv" or exc.field == "csv" else f"{exc.field}: {exc}"
    return Problem(422, detail, [FieldError(path, message)])


@routes.get("/v1/sms/ported-numbers")
async def ported_summary(request: web.Request) -> web.Response:
    """How many numbers are listed per carrier, and the carriers a number may be listed with."""
    ported = _ported(request)
    counts = await ported.count()
    return json_response({"carriers": sorted(ported.carriers), "counts": counts, "total": sum(counts.values())})


@routes.get("/v1/sms/ported-numbers/export")
async def ported_export(request: web.Request) -> web.Response:
    """Every listed number and its carrier as CSV (number,carrier), as the import reads it."""
    ported = _ported(request)
    return web.Response(
        text=await ported.export_csv(),
        content_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="ported-numbers.csv"', "Cache-Control": "no-store"},
    )


@routes.post("/v1/sms/ported-numbers")
async def ported_put(request: web.Request) -> web.Response:
    """List a number as served now by `carrier` (or move it to another carrier)."""
    ported = _ported(request)
    body = await read_json(request)
    try:
        created = await ported.put(body.get("number"), body.get("carrier"))
    except PortedNumberError as exc:
        raise _bad(exc, "the ported number cannot be listed") from None
    return json_response({"carrier": body["carrier"], "created": created}, status=201 if created else 200)


@routes.post("/v1/sms/ported-numbers/lookup")
async def ported_lookup(request: web.Request) -> web.Response:
    """The carrier a number is listed with (null: not listed). The number goes in the body, never
    the URL: URLs end up in access logs."""
    ported = _ported(request)
    body = await read_json(request)
    try:
        carrier = await ported.get(body.get("number"))
    except PortedNumberError as exc:
        raise _bad(exc, "the number cannot be looked up") from None
    return json_response({"carrier": carrier})


@routes.post("/v1/sms/ported-numbers/remove")
async def ported_remove(request: web.Request) -> web.Response:
    """Take a number off the list (its prefix decides its carrier again)."""
    ported = _ported(request)
    body = await read_json(request)
    try:
        removed = await ported.remove(body.get("number"))
    except PortedNumberError as exc:
        raise _bad(exc, "the number cannot be removed") from None
    return json_response({"removed": removed})


@routes.post("/v1/sms/ported-numbers/import")
async def ported_import(request: web.Request) -> web.Response:
    """Add or update numbers from CSV (`number,carrier`, header optional): all rows or none."""
    ported = _ported(request)
    body = await read_json(request)
    text = body.get("csv")
    if not isinstance(text, str):
        raise Problem(
            422, "the import needs its CSV", [FieldError(pointer("csv"), "csv is required and must be a string")]
        )
    try:
        report = await ported.import_csv(text)
    except PortedNumberError as exc:
        raise _bad(exc, "the CSV was not imported: nothing changed") from None
    return json_response({"added": report.added, "updated": report.updated, "unchanged": report.unchanged})
