"""Problems rendered as aiohttp responses (the HTTP edge of `api.problems`)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from api.problems import PROBLEM_CONTENT_TYPE, Problem


def problem_response(problem: Problem) -> web.Response:
    """Render a Problem as an aiohttp response."""
    return web.Response(
        status=problem.status,
        body=orjson.dumps(problem.body()),
        content_type=PROBLEM_CONTENT_TYPE,
        headers=problem.headers,
    )


def _dumps(value: Any) -> str:
    # One JSON style for every answer: UTF-8 as is (Chinese never as \uXXXX), compact.
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def json_response(
    data: Any = None,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    content_type: str = "application/json",
    reason: str | None = None,
) -> web.Response:
    """An application/json answer (UTF-8, unescaped) — every JSON answer of the API goes here."""
    return web.json_response(
        data, status=status, headers=headers, content_type=content_type, reason=reason, dumps=_dumps
    )


def cacheable_json(request: web.Request, data: Any) -> web.Response:
    """A JSON answer with a strong `ETag` (a digest of its bytes); `304 Not Modified` without a
    body when the request's `If-None-Match` names it (or `*`), so a client polling a template
    re-reads only what changed."""
    body = _dumps(data).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    wanted = request.headers.get("If-None-Match")
    if wanted is not None:
        tags = {t.strip().removeprefix("W/") for t in wanted.split(",")}
        if "*" in tags or etag in tags:
            return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type="application/json", headers=headers)
