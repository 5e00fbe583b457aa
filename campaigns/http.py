"""HTTP edge of campaigns (/v1/campaigns; scope `campaigns`)."""

from __future__ import annotations

from aiohttp import web

from analytics.http import funnel_format, funnel_response
from api.bodies import read_json
from api.middleware import TENANT_ID
from api.pagination import decode_cursor, encode_cursor, page_limit
from api.problems import Problem
from api.query import query_choice
from api.responses import json_response
from campaigns import openapi as _openapi  # noqa: F401  (registers the API description)
from campaigns.journeys import Journeys
from campaigns.service import FUNNEL_GROUPS, MAX_PAGE, Campaigns

CAMPAIGNS = web.AppKey("campaigns", Campaigns)
JOURNEYS = web.AppKey("journeys", Journeys)
ACTIONS = ("launch", "pause", "resume", "cancel")

routes = web.RouteTableDef()


def _not_found() -> Problem:
    return Problem(404, "no such campaign")


def _id(request: web.Request) -> str:
    return request.match_info["id"]


@routes.post("/v1/campaigns")
async def create_campaign(request: web.Request) -> web.Response:
    view = await request.app[CAMPAIGNS].create(request[TENANT_ID], await read_json(request))
    return json_response(view, status=201, headers={"Location": f"/v1/campaigns/{view['id']}"})


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
    return json_response({"data": items, "next_cursor": encode_cursor(last) if last else None})


@routes.get("/v1/campaigns/{id}")
async def get_campaign(request: web.Request) -> web.Response:
    view = await request.app[CAMPAIGNS].get(request[TENANT_ID], _id(request))
    if view is None:
        raise _not_found()
    return json_response(view)


@routes.put("/v1/campaigns/{id}")
async def replace_campaign(request: web.Request) -> web.Response:
    view = await request.app[CAMPAIGNS].replace(request[TENANT_ID], _id(request), await read_json(request))
    if view is None:
        raise _not_found()
    return json_response(view)


@routes.delete("/v1/campaigns/{id}")
async def delete_campaign(request: web.Request) -> web.Response:
    if not await request.app[CAMPAIGNS].delete(request[TENANT_ID], _id(request)):
        raise _not_found()
    return web.Response(status=204)


def _action(action: str):
    async def handler(request: web.Request) -> web.Response:
        view = await request.app[CAMPAIGNS].act(request[TENANT_ID], _id(request), action)
        if view is None:
            raise _not_found()
        return json_response(view)

    handler.__name__ = f"{action}_campaign"
    return handler


for _name in ACTIONS:  # POST /v1/campaigns/{id}/launch | pause | resume | cancel
    routes.post(f"/v1/campaigns/{{id}}/{_name}")(_action(_name))


@routes.get("/v1/campaigns/{id}/results")
async def campaign_results(request: web.Request) -> web.Response:
    results = await request.app[CAMPAIGNS].results(request[TENANT_ID], _id(request))
    if results is None:
        raise _not_found()
    return json_response(results)


@routes.get("/v1/campaigns/{id}/funnel")
async def campaign_funnel(request: web.Request) -> web.Response:
    group_by, fmt = _funnel_query(request)  # a bad parameter is a 422 whether or not the campaign exists
    if await request.app[CAMPAIGNS].get(request[TENANT_ID], _id(request)) is None:
        raise _not_found()
    return await _funnel(request, "campaign")


def _funnel_query(request: web.Request) -> tuple[str, str]:
    return query_choice(request.query, "group_by", FUNNEL_GROUPS, "none") or "none", funnel_format(request)


async def _funnel(request: web.Request, what: str) -> web.Response:
    group_by, fmt = _funnel_query(request)
    rows = await request.app[CAMPAIGNS].funnel(request[TENANT_ID], _id(request), group_by)
    return funnel_response(group_by, rows, fmt, filename=f"{what}-{_id(request)}-funnel.csv")


# -- journeys ---------------------------------------------------------------------------------
@routes.post("/v1/journeys")
async def create_journey(request: web.Request) -> web.Response:
    view = await request.app[JOURNEYS].create(request[TENANT_ID], await read_json(request))
    return json_response(view, status=201, headers={"Location": f"/v1/journeys/{view['id']}"})


@routes.get("/v1/journeys")
async def list_journeys(request: web.Request) -> web.Response:
    limit = page_limit(request.query, default=50, maximum=MAX_PAGE)
    cursor = request.query.get("cursor")
    items, last = await request.app[JOURNEYS].page(
        request[TENANT_ID], after=decode_cursor(cursor) if cursor else None, limit=limit
    )
    return json_response({"data": items, "next_cursor": encode_cursor(last) if last else None})


@routes.get("/v1/journeys/{id}")
async def get_journey(request: web.Request) -> web.Response:
    view = await request.app[JOURNEYS].get(request[TENANT_ID], _id(request))
    if view is None:
        raise Problem(404, "no such journey")
    return json_response(view)


@routes.put("/v1/journeys/{id}")
async def replace_journey(request: web.Request) -> web.Response:
    view = await request.app[JOURNEYS].replace(request[TENANT_ID], _id(request), await read_json(request))
    if view is None:
        raise Problem(404, "no such journey")
    return json_response(view)


def _journey_status(status: str):
    async def handler(request: web.Request) -> web.Response:
        view = await request.app[JOURNEYS].set_status(request[TENANT_ID], _id(request), status)
        if view is None:
            raise Problem(404, "no such journey")
        return json_response(view)

    return handler


routes.post("/v1/journeys/{id}/pause")(_journey_status("paused"))
routes.post("/v1/journeys/{id}/resume")(_journey_status("active"))


@routes.get("/v1/journeys/{id}/funnel")
async def journey_funnel(request: web.Request) -> web.Response:
    _funnel_query(request)
    if await request.app[JOURNEYS].get(request[TENANT_ID], _id(request)) is None:
        raise Problem(404, "no such journey")
    return await _funnel(request, "journey")
