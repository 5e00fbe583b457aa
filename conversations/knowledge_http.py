"""HTTP edge of the knowledge base (/v1/knowledge; scope `conversations`)."""

from __future__ import annotations

from aiohttp import web

from api.bodies import read_json
from api.middleware import TENANT_ID
from api.pagination import decode_cursor, encode_cursor, page_limit
from api.problems import FieldError, Problem
from api.responses import json_response
from conversations import knowledge_openapi as _openapi  # noqa: F401  (registers the API description)
from conversations.http import CONVERSATIONS
from conversations.knowledge import MAX_PAGE, Knowledge
from conversations.rules import DEFAULT_THRESHOLD

KNOWLEDGE = web.AppKey("knowledge", Knowledge)

routes = web.RouteTableDef()


def _not_found() -> Problem:
    return Problem(404, "no such FAQ entry")


def _id(request: web.Request) -> str:
    return request.match_info["id"]


@routes.post("/v1/knowledge/faqs")
async def create_faq(request: web.Request) -> web.Response:
    view = await request.app[KNOWLEDGE].create(request[TENANT_ID], await read_json(request))
    return json_response(view, status=201, headers={"Location": f"/v1/knowledge/faqs/{view['id']}"})


@routes.get("/v1/knowledge/faqs")
async def list_faqs(request: web.Request) -> web.Response:
    limit = page_limit(request.query, default=50, maximum=MAX_PAGE)
    cursor = request.query.get("cursor")
    items, last = await request.app[KNOWLEDGE].page(
        request[TENANT_ID], after=decode_cursor(cursor) if cursor else None, limit=limit
    )
    return json_response({"faqs": items, "next_cursor": encode_cursor(last) if last else None})


@routes.get("/v1/knowledge/faqs/{id}")
async def get_faq(request: web.Request) -> web.Response:
    view = await request.app[KNOWLEDGE].get(request[TENANT_ID], _id(request))
    if view is None:
        raise _not_found()
    return json_response(view)


@routes.put("/v1/knowledge/faqs/{id}")
async def replace_faq(request: web.Request) -> web.Response:
    view = await request.app[KNOWLEDGE].replace(request[TENANT_ID], _id(request), await read_json(request))
    if view is None:
        raise _not_found()
    return json_response(view)


@routes.delete("/v1/knowledge/faqs/{id}")
async def delete_faq(request: web.Request) -> web.Response:
    if not await request.app[KNOWLEDGE].delete(request[TENANT_ID], _id(request)):
        raise _not_found()
    return web.Response(status=204)


@routes.post("/v1/knowledge/match")
async def match(request: web.Request) -> web.Response:
    body = await read_json(request)
    limit = body.get("limit", 5)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 20:
        raise Problem(422, "invalid body", [FieldError("/limit", "must be an integer from 1 to 20")])
    tenant_id = request[TENANT_ID]
    matches = await request.app[KNOWLEDGE].match(tenant_id, body.get("text"), limit)
    # The threshold is the bot rules' (one setting for the whole bot: the pipeline holds
    # answers to it and hands it to the knowledge chain with each question).
    conversations = request.app.get(CONVERSATIONS)
    threshold = await conversations.threshold(tenant_id) if conversations is not None else DEFAULT_THRESHOLD
    return json_response({"matches": matches, "threshold": threshold})


@routes.get("/v1/knowledge/answerer")
async def get_answerer(request: web.Request) -> web.Response:
    return json_response(await request.app[KNOWLEDGE].get_answerer(request[TENANT_ID]))


@routes.put("/v1/knowledge/answerer")
async def put_answerer(request: web.Request) -> web.Response:
    return json_response(await request.app[KNOWLEDGE].put_answerer(request[TENANT_ID], await read_json(request)))
