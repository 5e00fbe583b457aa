"""HTTP handlers of the opt-out list: /v1/opt-outs (scope `compliance`)."""

from __future__ import annotations

from aiohttp import web

from api.bodies import read_json
from api.middleware import API_KEY_ID, TENANT_ID
from api.pagination import page_limit
from api.problems import Problem
from api.responses import json_response
from compliance.consent_http import IMPORT_TYPES, body_lines, stream_csv
from messages import optouts_openapi as _openapi  # noqa: F401  (registers the API description)
from messages.optouts import OptOutList

OPT_OUTS = web.AppKey("opt_outs", OptOutList)
MAX_PAGE = 1000
_IMPORT_TYPES = {**IMPORT_TYPES, "text/plain": "csv"}

routes = web.RouteTableDef()


@routes.get("/v1/opt-outs")
async def list_opt_outs(request: web.Request) -> web.Response:
    q = request.query
    items, cursor = await request.app[OPT_OUTS].page(
        request[TENANT_ID], cursor=q.get("cursor"), limit=page_limit(q, default=100, maximum=MAX_PAGE)
    )
    return json_response({"data": items, "next_cursor": cursor})


@routes.post("/v1/opt-outs")
async def add(request: web.Request) -> web.Response:
    """`{"to"}` or `{"numbers": [...]}` (source `api`)."""
    return json_response(await request.app[OPT_OUTS].add(request[TENANT_ID], await read_json(request)), status=201)


@routes.post("/v1/opt-outs/search")
async def search(request: web.Request) -> web.Response:
    return json_response(await request.app[OPT_OUTS].search(request[TENANT_ID], await read_json(request)))


@routes.post("/v1/opt-outs/remove")
async def remove_by_number(request: web.Request) -> web.Response:
    """`{"to", "reason"}`: the number subscribes again (who and why are chained)."""
    body = await read_json(request)
    out = await request.app[OPT_OUTS].remove(request[TENANT_ID], body=body, actor=_actor(request))
    return json_response(out)


@routes.post("/v1/opt-outs/import")
async def import_opt_outs(request: web.Request) -> web.Response:
    fmt = _IMPORT_TYPES.get(request.content_type)
    if fmt is None:
        raise Problem(415, f"Content-Type must be one of {', '.join(_IMPORT_TYPES)}")
    return json_response(await request.app[OPT_OUTS].import_lines(request[TENANT_ID], body_lines(request), fmt=fmt))


@routes.get("/v1/opt-outs/export")
async def export_opt_outs(request: web.Request) -> web.StreamResponse:
    return await stream_csv(request, request.app[OPT_OUTS].export(request[TENANT_ID]), "opt-outs.csv")


@routes.delete("/v1/opt-outs/{id}")
async def remove(request: web.Request) -> web.Response:
    body = await read_json(request) if request.can_read_body else {}
    out = await request.app[OPT_OUTS].remove(
        request[TENANT_ID], opt_out_id=request.match_info["id"], body=body, actor=_actor(request)
    )
    return json_response(out)


def _actor(request: web.Request) -> str | None:
    """Who acts: the API key (or the signed-in person's session principal) by its id."""
    return request.get(API_KEY_ID) or None
