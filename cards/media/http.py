"""HTTP handlers: uploading media (/v1/media) and serving it publicly (/media/{id})."""

from __future__ import annotations

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from api.bodies import read_json
from api.middleware import TENANT_ID
from api.pagination import page_limit
from api.problems import FieldError, Problem
from api.responses import json_response
from cards.media import openapi as _openapi  # noqa: F401  (registers the API description)
from cards.media.images import MAX_UPLOAD_BYTES
from cards.media.service import MediaStore

MEDIA = web.AppKey("media", MediaStore)


async def media_for_url(app: web.Application, url: str) -> bytes | None:
    """The bytes of one of our hosted media URLs from the app's store, or None (see MediaStore)."""
    store = app.get(MEDIA)
    return None if store is None else await store.media_for_url(url)


routes = web.RouteTableDef()
MAX_PAGE = 200
_CHUNK = 64 * 1024
_IMMUTABLE = {
    "Cache-Control": "public, max-age=31536000, immutable",  # an id never names other bytes
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "cross-origin",  # handsets and H5 pages embed it
}


def _too_large() -> Problem:
    mb = MAX_UPLOAD_BYTES // (1024 * 1024)
    return Problem(
        413,
        f"the upload is over {mb} MB",
        [FieldError("/file", f"at most {mb} MB", "upload_too_big", {"limit_mb": mb})],
    )


async def _read_capped(read_chunk) -> bytes:
    """Read a stream, stopping as soon as it passes the upload limit."""
    buf = bytearray()
    while chunk := await read_chunk(_CHUNK):
        buf += chunk
        if len(buf) > MAX_UPLOAD_BYTES:
            raise _too_large()
    return bytes(buf)


async def _upload_bytes(request: web.Request) -> bytes:
    """The file from a multipart form's `file` field, or the raw body."""
    if request.content_length is not None and request.content_length > MAX_UPLOAD_BYTES + _CHUNK:
        raise _too_large()
    if request.content_type == "multipart/form-data":
        try:
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if part.name == "file":
                    return await _read_capped(part.read_chunk)
                await part.release()
        except (ValueError, HttpProcessingError) as exc:  # a malformed multipart body or part header
            why = getattr(exc, "message", None) or str(exc)
            raise Problem(400, "malformed multipart body", [FieldError("/file", why.strip())]) from None
        raise Problem(422, "the form has no `file` field", [FieldError("/file", "required", "required")])
    return await _read_capped(request.content.read)


@routes.post("/v1/media")
async def upload_media(request: web.Request) -> web.Response:
    raw = await _upload_bytes(request)
    if not raw:
        raise Problem(422, "the upload is empty", [FieldError("/file", "an image is required", "upload_empty")])
    item, _new = await request.app[MEDIA].upload(request[TENANT_ID], raw)
    # The same image again answers with the id it already has (201 either way: the contract).
    return json_response(item, status=201, headers={"Location": item["url"]})


@routes.get("/v1/media")
async def list_media(request: web.Request) -> web.Response:
    items, cursor = await request.app[MEDIA].list(
        request[TENANT_ID], cursor=request.query.get("cursor"), limit=page_limit(request.query, maximum=MAX_PAGE)
    )
    return json_response({"data": items, "next_cursor": cursor})


@routes.get("/v1/media/{id}")
async def get_media(request: web.Request) -> web.Response:
    return json_response(await request.app[MEDIA].get(request[TENANT_ID], request.match_info["id"]))


async def _serve(request: web.Request, thumbnail: bool) -> web.Response:
    blob = await request.app[MEDIA].blob(request.match_info["id"], thumbnail=thumbnail)
    if blob is None:
        raise Problem(404, "no such media")
    headers = {**_IMMUTABLE, "ETag": blob.etag}
    if blob.etag in (t.strip() for t in request.headers.get("If-None-Match", "").split(",")):
        return web.Response(status=304, headers=headers)
    return web.Response(body=blob.data, content_type=blob.content_type, headers=headers)


@routes.get("/media/{id}")
async def serve_media(request: web.Request) -> web.Response:
    return await _serve(request, thumbnail=False)


@routes.get("/media/{id}/thumbnail")
async def serve_thumbnail(request: web.Request) -> web.Response:
    return await _serve(request, thumbnail=True)


@routes.post("/v1/media/{id}/crop")
async def crop_media(request: web.Request) -> web.Response:
    body = await read_json(request)
    item = await request.app[MEDIA].crop(request[TENANT_ID], request.match_info["id"], body)
    return json_response(item, status=201, headers={"Location": item["url"]})
