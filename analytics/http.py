"""HTTP edge of analytics: conversions (`POST /v1/conversions`) and funnels
(`GET /v1/analytics/funnel`, JSON or CSV), under the `messages` scope."""

from __future__ import annotations

import csv
import io

from aiohttp import web

from analytics import openapi as _openapi  # noqa: F401  (registers the API description)
from analytics.service import GROUPS, STAGES, Analytics, parse_scope
from api.bodies import read_json
from api.middleware import TENANT_ID
from api.problems import FieldError, Problem
from api.responses import json_response

ANALYTICS = web.AppKey("analytics", Analytics)

routes = web.RouteTableDef()


@routes.post("/v1/conversions")
async def record_conversion(request: web.Request) -> web.Response:
    view, new = await request.app[ANALYTICS].record_conversion(request[TENANT_ID], await read_json(request))
    return json_response(view, status=201 if new else 200)


@routes.get("/v1/messages/{id}/conversions")
async def message_conversions(request: web.Request) -> web.Response:
    items = await request.app[ANALYTICS].conversions_of(request[TENANT_ID], request.match_info["id"])
    return json_response({"data": items})


@routes.get("/v1/analytics/funnel")
async def funnel(request: web.Request) -> web.Response:
    analytics = request.app[ANALYTICS]
    group_by = request.query.get("group_by", "none")
    if group_by not in GROUPS:
        raise Problem(422, "unknown grouping", [FieldError("/group_by", f"one of {', '.join(GROUPS)}")])
    fmt = funnel_format(request)
    scope = parse_scope(request.query, analytics.now_ms())
    rows = await analytics.funnel(request[TENANT_ID], scope, group_by)
    return funnel_response(group_by, rows, fmt)


def funnel_format(request: web.Request) -> str:
    """The `format` query parameter: json (the default) or csv."""
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv"):
        raise Problem(422, "unknown format", [FieldError("/format", "json or csv")])
    return fmt


def funnel_response(group_by: str, rows: list[dict], fmt: str, filename: str = "funnel.csv") -> web.Response:
    """A funnel's rows as JSON, or as CSV (one line per group)."""
    if fmt == "json":
        return json_response({"group_by": group_by, "stages": list(STAGES), "data": rows})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["group", *STAGES, "opted_out", "rejected", "failed", "conversion_value"])
    for r in rows:
        value = ";".join(f"{amount} {cur}" for cur, amount in sorted(r["conversion_value"].items()))
        writer.writerow([r["group"], *(r[s] for s in STAGES), r["opted_out"], r["rejected"], r["failed"], value])
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
