"""HTTP edge of campaigns (/v1/campaigns; scope `campaigns`)."""

from __future__ import annotations

from aiohttp import web

from analytics.http import funnel_format, funnel_response
from api.bodies import read_json
from api.middleware import TENANT_ID
from api.pagination import decode_cursor, encode_cursor, page_limit
from api.problems import Problem
from campaigns import openapi as _openapi  # noqa: F401  (registers the API description)
from campaigns.service import MAX_PAGE, Campaigns

CAMPAIGNS = web.AppKey("campaigns", Campaigns)
ACTIONS = ("launch", "pause", "resume", "cancel")

routes = web.RouteTableDef()


def _not_found() -> Problem:
    return Problem(404, "no such campaign")


def _id(request: web.Request) -> str:
    return request.match_info["id"]


@routes.post("/v1/campaigns")
async def create_campaign(request: web.Request) -> web.Response:
    view = await request.app[CAMPAIGNS].create(request[TENANT_ID], await read_json(request))
    return web.json_response(view, status=201, headers={"Location": f"/v1/campaigns/{view['id']}"})


@routes.get("/v1/campaigns")
async def list_campaigns(request: web.Request) -> web.Response:
    limit = page_limit(request.query, default=50, maximum=MAX_PAGE)
    cursor = request.query.get("cursor")
    items, last = await request.app[CAMPAIGNS].page(
        request[TENANT_ID],
        after=decode_cursor(cursor) if cursor else None,
        limit=limit,
        status=request.query.get("status"),
    )
    return web.json_response({"data": items, "next_cursor": encode_cursor(last) if last else None})


@routes.get("/v1/campaigns/{id}")
async def get_campaign(request: web.Request) -> web.Response:
    view = await request.app[CAMPAIGNS].get(request[TENANT_ID], _id(request))
    if view is None:
        raise _not_found()
    return web.json_response(view)


@routes.put("/v1/campaigns/{id}")
async def replace_campaign(request: web.Request) -> web.Response:
    view = await request.app[CAMPAIGNS].replace(request[TENANT_ID], _id(request), await read_json(request))
    if view is None:
        raise _not_found()
    return web.json_response(view)


@routes.delete("/v1/campaigns/{id}")
async def delete_campaign(request: web.Request) -> web.Response:
    if not await request.app[CAMPAIGNS].delete(request[TENANT_ID], _id(request)):
        raise _not_found()
    return web.Response(status=204)


async def _act(request: web.Request, action: str) -> web.Response:
    view = await request.app[CAMPAIGNS].act(request[TENANT_ID], _id(request), action)
    if view is None:
        raise _not_found()
    return web.json_response(view)


@routes.post("/v1/campaigns/{id}/launch")
async def launch_campaign(request: web.Request) -> web.Response:
    return await _act(request, "launch")


@routes.post("/v1/campaigns/{id}/pause")
async def pause_campaign(request: web.Request) -> web.Response:
    return await _act(request, "pause")


@routes.post("/v1/campaigns/{id}/resume")
async def resume_campaign(request: web.Request) -> web.Response:
    return await _act(request, "resume")


@routes.post("/v1/campaigns/{id}/cancel")
async def cancel_campaign(request: web.Request) -> web.Response:
    return await _act(request, "cancel")


@routes.get("/v1/campaigns/{id}/results")
async def campaign_results(request: web.Request) -> web.Response:
    results = await request.app[CAMPAIGNS].results(request[TENANT_ID], _id(request))
    if results is None:
        raise _not_found()
    return web.json_response(results)


@routes.get("/v1/campaigns/{id}/funnel")
async def campaign_funnel(request: web.Request) -> web.Response:
    group_by = request.query.get("group_by", "none")
    fmt = funnel_format(request)
    rows = await request.app[CAMPAIGNS].funnel(request[TENANT_ID], _id(request), group_by)
    if rows is None:
        raise _not_found()
    return funnel_response(group_by, rows, fmt, filename=f"campaign-{_id(request)}-funnel.csv")
