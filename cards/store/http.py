"""HTTP handlers for /v1/templates (tenant templates) and /v1/template-library."""

from __future__ import annotations

from aiohttp import web

from api.bodies import read_json
from api.middleware import TENANT_ID
from api.pagination import page_limit
from api.problems import FieldError, Problem
from api.responses import cacheable_json, json_response
from cards.library import load_library
from cards.store import openapi as _openapi  # noqa: F401  (registers the API description)
from cards.store.service import MAX_VERSION, TemplateStore
from security.numbers import ascii_digits

TEMPLATES = web.AppKey("templates", TemplateStore)

routes = web.RouteTableDef()
MAX_PAGE = 200


@routes.get("/v1/template-library")
async def library(request: web.Request) -> web.Response:
    return json_response(
        {
            "data": [
                {
                    "name": t.name,
                    "title": t.title,
                    "title_en": t.title_en,
                    "traffic_type": t.traffic_type,
                    "card": t.card,
                    "sample": t.sample,
                }
                for t in load_library().values()
            ]
        }
    )


@routes.post("/v1/templates")
async def create_template(request: web.Request) -> web.Response:
    body = await read_json(request)
    store, tenant = request.app[TEMPLATES], request[TENANT_ID]
    if body.get("draft") is True:  # a blank start in the editor: only a draft, maybe invalid
        draft = await store.create_draft_only(tenant, body)
        return json_response(draft, status=201, headers={"Location": f"/v1/templates/{draft['id']}"})
    if "draft" in body and body["draft"] is not False:
        raise Problem(422, "draft must be a boolean", [FieldError("/draft", "must be true or false")])
    version = await store.create(tenant, {k: v for k, v in body.items() if k != "draft"})
    return json_response(version.as_dict(), status=201, headers=_version_location(version.as_dict()))


def _version_location(view: dict) -> dict[str, str]:
    return {"Location": f"/v1/templates/{view['id']}/versions/{view['version']}"}


@routes.get("/v1/templates")
async def list_templates(request: web.Request) -> web.Response:
    items, cursor = await request.app[TEMPLATES].list(
        request[TENANT_ID], cursor=request.query.get("cursor"), limit=page_limit(request.query, maximum=MAX_PAGE)
    )
    return json_response({"data": items, "next_cursor": cursor})


@routes.get("/v1/templates/{id}")
async def get_template(request: web.Request) -> web.Response:
    return cacheable_json(request, await request.app[TEMPLATES].summary(request[TENANT_ID], request.match_info["id"]))


@routes.get("/v1/templates/{id}/versions/{version:\\d+}")
async def get_version(request: web.Request) -> web.Response:
    number = _version_number(request.match_info["version"])
    if number is None:  # beyond any version storage can hold: none exists
        raise Problem(404, "no such template version", [FieldError("/version", f"versions go up to {MAX_VERSION}")])
    v = await request.app[TEMPLATES].version(request[TENANT_ID], request.match_info["id"], number)
    return cacheable_json(request, v.as_dict())


@routes.post("/v1/templates/{id}/versions")
async def add_version(request: web.Request) -> web.Response:
    v = await request.app[TEMPLATES].add_version(request[TENANT_ID], request.match_info["id"], await read_json(request))
    return json_response(v.as_dict(), status=201, headers=_version_location(v.as_dict()))


@routes.get("/v1/templates/{id}/draft")
async def get_draft(request: web.Request) -> web.Response:
    return cacheable_json(request, await request.app[TEMPLATES].draft(request[TENANT_ID], request.match_info["id"]))


@routes.put("/v1/templates/{id}/draft")
async def save_draft(request: web.Request) -> web.Response:
    draft = await request.app[TEMPLATES].save_draft(
        request[TENANT_ID], request.match_info["id"], await read_json(request)
    )
    return json_response(draft)


@routes.delete("/v1/templates/{id}/draft")
async def delete_draft(request: web.Request) -> web.Response:
    await request.app[TEMPLATES].delete_draft(request[TENANT_ID], request.match_info["id"])
    return web.Response(status=204)


@routes.post("/v1/templates/{id}/duplicate")
async def duplicate(request: web.Request) -> web.Response:
    copy = await request.app[TEMPLATES].duplicate(
        request[TENANT_ID], request.match_info["id"], await read_json(request)
    )
    return json_response(copy, status=201, headers={"Location": f"/v1/templates/{copy['id']}"})


def _version_number(raw: str) -> int | None:
    """A version number given as text (ASCII digits, 1 to MAX_VERSION), else None."""
    if ascii_digits(raw) and len(raw) <= len(str(MAX_VERSION)) and 1 <= int(raw) <= MAX_VERSION:
        return int(raw)
    return None


def _side(request: web.Request, name: str) -> int | str:
    raw = request.query.get(name, "")
    if raw == "draft":
        return raw
    number = _version_number(raw)
    if number is not None:
        return number
    raise Problem(
        422,
        f"`{name}` must be a version number or `draft`",
        [FieldError(f"/{name}", f"a version number (1 to {MAX_VERSION}) or draft")],
    )


@routes.get("/v1/templates/{id}/diff")
async def diff(request: web.Request) -> web.Response:
    old, new = _side(request, "from"), _side(request, "to")
    changes, notes = await request.app[TEMPLATES].diff(request[TENANT_ID], request.match_info["id"], old, new)
    return json_response({"from": old, "to": new, "changes": changes, "notes": notes})
