"""Problems rendered as aiohttp responses (the HTTP edge of `api.problems`)."""

from __future__ import annotations

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
