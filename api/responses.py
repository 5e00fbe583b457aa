"""Problems rendered as aiohttp responses (the HTTP edge of `api.problems`)."""

from __future__ import annotations

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
