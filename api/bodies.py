"""Reading JSON request bodies: every error a problem+json naming the field at fault."""

from __future__ import annotations

import orjson
from aiohttp import web

from api.problems import FieldError, Problem


async def read_json(request: web.Request, *, object_required: bool = True):
    """Parse the request body as JSON or raise the matching Problem (415, 413, 400)."""
    return parse_json(await read_body(request), object_required=object_required)


async def read_body(request: web.Request) -> bytes:
    """The raw body of a JSON request (415 for another content type, 413 when too large)."""
    ctype = request.content_type
    if ctype != "application/json" and not ctype.endswith("+json"):
        raise Problem(415, f"Content-Type must be application/json, not {ctype or 'missing'}")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise Problem(413, f"request body is too large ({exc.text})") from None
    return raw


def parse_json(raw: bytes, *, object_required: bool = True):
    """Parse raw bytes as JSON; a non-object top level is a 400 when an object is required."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Problem(400, f"malformed JSON: {exc}") from None
    if object_required and not isinstance(data, dict):
        raise Problem(422, "the body must be a JSON object", [FieldError("", "expected an object")])
    return data
