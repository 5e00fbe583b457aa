"""HTTP edge of contacts and segments (/v1/contacts, /v1/segments; scope `audiences`).

Numbers travel in bodies and answers, never in a URL. A contacts import (CSV or XLSX) stores
the request body as it arrives and queues a background job (202); an export streams CSV out
page by page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from api.bodies import read_json
from api.middleware import TENANT_ID
from api.pagination import decode_cursor, encode_cursor, page_limit
from api.problems import Problem
from api.query import query_choice
from api.responses import json_response
from audiences import openapi as _openapi  # noqa: F401  (registers the API description)
from audiences.contacts import MAX_PAGE, Contacts
from audiences.imports import ImportJobs
from audiences.openapi import XLSX
from audiences.segments import MAX_PAGE as MAX_MEMBERS_PAGE
from audiences.segments import Segments, parse_preview

CONTACTS = web.AppKey("contacts", Contacts)
SEGMENTS = web.AppKey("segments", Segments)
IMPORTS = web.AppKey("contact_imports", ImportJobs)
IMPORT_TYPES = {"text/csv": "csv", "text/plain": "csv", "application/csv": "csv", XLSX: "xlsx"}
READ_BYTES = 64 * 1024

routes = web.RouteTableDef()


def _after(request: web.Request) -> str | None:
    cursor = request.query.get("cursor")
    return decode_cursor(cursor) if cursor else None


def _page(items: list[dict], last: str | None) -> web.Response:
    return json_response({"data": items, "next_cursor": encode_cursor(last) if last else None})


def _not_found(what: str) -> Problem:
    return Problem(404, f"no such {what}")


# -- contacts ---------------------------------------------------------------------------------
@routes.post("/v1/contacts")
async def upsert_contact(request: web.Request) -> web.Response:
    view, created = await request.app[CONTACTS].upsert(request[TENANT_ID], await read_json(request))
    headers = {"Location": f"/v1/contacts/{view['id']}"} if created else None
    return json_response(view, status=201 if created else 200, headers=headers)


@routes.get("/v1/contacts")
async def list_contacts(request: web.Request) -> web.Response:
    limit = page_limit(request.query, default=50, maximum=MAX_PAGE)
    consent = query_choice(request.query, "include", ("consent",)) == "consent"
    items, last = await request.app[CONTACTS].page(
        request[TENANT_ID], after=_after(request), limit=limit, consent=consent
    )
    return _page(items, last)


@routes.get("/v1/contacts/export")
async def export_contacts(request: web.Request) -> web.StreamResponse:
    contacts, tenant_id = request.app[CONTACTS], request[TENANT_ID]
    names = await contacts.export_columns(tenant_id)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": 'attachment; filename="contacts.csv"',
        }
    )
    response.enable_chunked_encoding()
    await response.prepare(request)
    async for chunk in contacts.export(tenant_id, names):
        await response.write(chunk)
    await response.write_eof()
    return response


@routes.get("/v1/contacts/attributes")
async def contact_attribute_names(request: web.Request) -> web.Response:
    """The attribute names the tenant's contacts use (the card editor's variables picker)."""
    return json_response({"data": await request.app[CONTACTS].attribute_names(request[TENANT_ID])})


async def _body(request: web.Request) -> AsyncIterator[bytes]:
    async for data in request.content.iter_chunked(READ_BYTES):
        yield data


@routes.post("/v1/contacts/imports")
async def import_contacts(request: web.Request) -> web.Response:
    kind = IMPORT_TYPES.get(request.content_type)
    if kind is None:
        raise Problem(415, f"Content-Type must be text/csv or {XLSX}, not {request.content_type or 'missing'}")
    job = await request.app[IMPORTS].upload(request[TENANT_ID], kind, _body(request))
    return json_response(job, status=202, headers={"Location": f"/v1/contacts/imports/{job['id']}"})


@routes.get("/v1/contacts/imports")
async def list_imports(request: web.Request) -> web.Response:
    limit = page_limit(request.query, default=20, maximum=100)
    items, last = await request.app[IMPORTS].page(request[TENANT_ID], after=_after(request), limit=limit)
    return _page(items, last)


@routes.get("/v1/contacts/imports/{id}")
async def get_import(request: web.Request) -> web.Response:
    job = await request.app[IMPORTS].get(request[TENANT_ID], request.match_info["id"])
    if job is None:
        raise _not_found("import")
    return json_response(job)


@routes.post("/v1/contacts/imports/{id}/cancel")
async def cancel_import(request: web.Request) -> web.Response:
    job = await request.app[IMPORTS].cancel(request[TENANT_ID], request.match_info["id"])
    if job is None:
        raise _not_found("import")
    return json_response(job)


@routes.get("/v1/contacts/{id}")
async def get_contact(request: web.Request) -> web.Response:
    view = await request.app[CONTACTS].get(request[TENANT_ID], request.match_info["id"])
    if view is None:
        raise _not_found("contact")
    return json_response(view)


@routes.patch("/v1/contacts/{id}")
async def patch_contact(request: web.Request) -> web.Response:
    body = await read_json(request)
    view = await request.app[CONTACTS].patch(request[TENANT_ID], request.match_info["id"], body)
    if view is None:
        raise _not_found("contact")
    return json_response(view)


@routes.delete("/v1/contacts/{id}")
async def delete_contact(request: web.Request) -> web.Response:
    if not await request.app[CONTACTS].delete(request[TENANT_ID], request.match_info["id"]):
        raise _not_found("contact")
    return web.Response(status=204)


# -- segments ---------------------------------------------------------------------------------
@routes.post("/v1/segments")
async def create_segment(request: web.Request) -> web.Response:
    view = await request.app[SEGMENTS].create(request[TENANT_ID], await read_json(request))
    return json_response(view, status=201, headers={"Location": f"/v1/segments/{view['id']}"})


@routes.get("/v1/segments")
async def list_segments(request: web.Request) -> web.Response:
    limit = page_limit(request.query, default=50, maximum=100)
    items, last = await request.app[SEGMENTS].page(request[TENANT_ID], after=_after(request), limit=limit)
    return _page(items, last)


@routes.post("/v1/segments/preview")
async def preview_segment(request: web.Request) -> web.Response:
    segment_filter = parse_preview(await read_json(request))
    return json_response({"count": await request.app[SEGMENTS].count(request[TENANT_ID], segment_filter)})


async def _segment(request: web.Request) -> dict:
    view = await request.app[SEGMENTS].get(request[TENANT_ID], request.match_info["id"])
    if view is None:
        raise _not_found("segment")
    return view


@routes.get("/v1/segments/{id}")
async def get_segment(request: web.Request) -> web.Response:
    return json_response(await _segment(request))


@routes.put("/v1/segments/{id}")
async def put_segment(request: web.Request) -> web.Response:
    body = await read_json(request)
    view = await request.app[SEGMENTS].replace(request[TENANT_ID], request.match_info["id"], body)
    if view is None:
        raise _not_found("segment")
    return json_response(view)


@routes.delete("/v1/segments/{id}")
async def delete_segment(request: web.Request) -> web.Response:
    if not await request.app[SEGMENTS].delete(request[TENANT_ID], request.match_info["id"]):
        raise _not_found("segment")
    return web.Response(status=204)


@routes.get("/v1/segments/{id}/count")
async def count_segment(request: web.Request) -> web.Response:
    segment = await _segment(request)
    count = await request.app[SEGMENTS].count(request[TENANT_ID], segment["filter"])
    return json_response({"id": segment["id"], "count": count})


@routes.get("/v1/segments/{id}/contacts")
async def segment_contacts(request: web.Request) -> web.Response:
    segment = await _segment(request)
    limit = page_limit(request.query, default=50, maximum=MAX_MEMBERS_PAGE)
    items, last = await request.app[SEGMENTS].members(
        request[TENANT_ID], segment["filter"], after=_after(request), limit=limit
    )
    return _page(items, last)
