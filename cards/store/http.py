"""HTTP handlers for /v1/templates (tenant templates) and /v1/template-library."""
from __future__ import annotations

from aiohttp import web

from api.bodies import read_json
from api.problems import FieldError, Problem
from cards.library import load_library
from cards.store.service import TEMPLATES

routes = web.RouteTableDef()
MAX_PAGE = 200


@routes.get("/v1/template-library")
async def library(request: web.Request) -> web.Response:
    return web.json_response({"data": [
        {"name": t.name, "title": t.title, "title_en": t.title_en, "traffic_type": t.traffic_type,
         "card": t.card, "sample": t.sample}
        for t in load_library().values()
    ]})


@routes.post("/v1/templates")
async def create_template(request: web.Request) -> web.Response:
    version = await request.app[TEMPLATES].create(request["tenant_id"], await read_json(request))
    return web.json_response(version.as_dict(), status=201)


@routes.get("/v1/templates")
async def list_templates(request: web.Request) -> web.Response:
    raw = request.query.get("limit", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise Problem(422, f"limit must be 1 to {MAX_PAGE}", [FieldError("/limit", "out of range")])
    items, cursor = await request.app[TEMPLATES].list(request["tenant_id"], cursor=request.query.get("cursor"),
                                                      limit=int(raw))
    return web.json_response({"data": items, "next_cursor": cursor})


@routes.get("/v1/templates/{id}")
async def get_template(request: web.Request) -> web.Response:
    store, tenant, tid = request.app[TEMPLATES], request["tenant_id"], request.match_info["id"]
    latest = await store.version(tenant, tid)
    return web.json_response({**latest.as_dict(), "versions": await store.versions(tenant, tid)})


@routes.get("/v1/templates/{id}/versions/{version:\\d+}")
async def get_version(request: web.Request) -> web.Response:
    v = await request.app[TEMPLATES].version(request["tenant_id"], request.match_info["id"],
                                             int(request.match_info["version"]))
    return web.json_response(v.as_dict())


@routes.post("/v1/templates/{id}/versions")
async def add_version(request: web.Request) -> web.Response:
    v = await request.app[TEMPLATES].add_version(request["tenant_id"], request.match_info["id"],
                                                 await read_json(request))
    return web.json_response(v.as_dict(), status=201)
