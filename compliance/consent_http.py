"""HTTP handlers of consent records: /v1/consents (scope `compliance`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from api.bodies import read_json
from api.middleware import TENANT_ID
from api.pagination import page_limit
from api.problems import FieldError, Problem
from api.responses import json_response
from compliance import consent_openapi as _openapi  # noqa: F401  (registers the API description)
from compliance.consent import ConsentBook

CONSENTS = web.AppKey("consents", ConsentBook)
MAX_PAGE = 1000
IMPORT_TYPES = {
    "text/csv": "csv",
    "application/x-ndjson": "ndjson",
    "application/jsonl": "ndjson",
}

routes = web.RouteTableDef()


@routes.post("/v1/consents")
async def grant(request: web.Request) -> web.Response:
    """One consent (`{"to", "scope", "source", "granted_at", "brand", "proof"}`) or a batch
    (`{"consents": [...]}`)."""
    made = await request.app[CONSENTS].grant(request[TENANT_ID], await read_json(request))
    headers = {"Location": f"/v1/consents/{made['id']}"} if "id" in made else None  # one, not a batch
    return json_response(made, status=201, headers=headers)


@routes.get("/v1/consents")
async def list_consents(request: web.Request) -> web.Response:
    q = request.query
    active = {"true": True, "false": False, None: None}.get(q.get("active"), ...)
    if active is ...:
        raise Problem(422, "active is true or false", [FieldError("/active", "true or false")])
    items, cursor = await request.app[CONSENTS].page(
        request[TENANT_ID], cursor=q.get("cursor"), limit=page_limit(q, default=100, maximum=MAX_PAGE), active=active
    )
    return json_response({"data": items, "next_cursor": cursor})


@routes.post("/v1/consents/search")
async def search(request: web.Request) -> web.Response:
    """A number's consents; the number travels in the body, never in a URL."""
    return json_response(await request.app[CONSENTS].search(request[TENANT_ID], await read_json(request)))


@routes.post("/v1/consents/withdraw")
async def withdraw_by_number(request: web.Request) -> web.Response:
    return json_response(await request.app[CONSENTS].withdraw(request[TENANT_ID], await read_json(request)))


@routes.post("/v1/consents/import")
async def import_consents(request: web.Request) -> web.Response:
    """A CSV (header to,scope,source,granted_at,brand) or JSON-lines file in the body; `filename`
    in the query names it in each consent's proof (with the line number)."""
    fmt = IMPORT_TYPES.get(request.content_type)
    if fmt is None:
        raise Problem(415, f"Content-Type must be one of {', '.join(IMPORT_TYPES)}")
    filename = request.query.get("filename", "upload")[:200]
    result = await request.app[CONSENTS].import_lines(
        request[TENANT_ID], body_lines(request), fmt=fmt, filename=filename
    )
    return json_response(result)


@routes.get("/v1/consents/export")
async def export_consents(request: web.Request) -> web.StreamResponse:
    return await stream_csv(request, request.app[CONSENTS].export(request[TENANT_ID]), "consents.csv")


@routes.get("/v1/consents/{id}")
async def get_consent(request: web.Request) -> web.Response:
    return json_response(await request.app[CONSENTS].get(request[TENANT_ID], request.match_info["id"]))


@routes.post("/v1/consents/{id}/withdraw")
async def withdraw(request: web.Request) -> web.Response:
    body = await read_json(request) if request.can_read_body else {}
    out = await request.app[CONSENTS].withdraw(request[TENANT_ID], body, consent_id=request.match_info["id"])
    return json_response(out)


async def body_lines(request: web.Request) -> AsyncIterator[str]:
    """The request body a line at a time (a BOM on the first line dropped)."""
    first = True
    while line := await request.content.readline():
        try:
            text = line.decode("utf-8-sig" if first else "utf-8")
        except UnicodeDecodeError:
            raise Problem(422, "the file is not UTF-8") from None
        first = False
        yield text


async def stream_csv(request: web.Request, chunks: AsyncIterator[bytes], filename: str) -> web.StreamResponse:
    """Stream CSV chunks as they are read (a large list never sits whole in memory)."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{filename}"',
        }
    )
    await response.prepare(request)
    async for chunk in chunks:
        await response.write(chunk)
    await response.write_eof()
    return response
