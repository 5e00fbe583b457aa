"""X-Request-Id: every request has an id — the client's (when it is a sane token) or a new one —
echoed in the answer and carried by every log record written while it is handled, so an
integrator's report and the platform's logs meet on one value."""

from __future__ import annotations

import contextvars
import logging
import os
import re

from aiohttp import web

HEADER = "X-Request-Id"
_SANE = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")  # no spaces, quotes or control characters in logs
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
REQUEST_ID_KEY = web.RequestKey("request_id", str)


def request_id_of(request: web.BaseRequest) -> str | None:
    """The id this request is handled under (None before the middleware ran)."""
    return request.get(REQUEST_ID_KEY)


@web.middleware
async def request_id_middleware(request: web.Request, handler):
    given = request.headers.get(HEADER, "")
    # 128 random bits as 32 hex digits; uuid.uuid4() builds the same from the same source at
    # several times the cost, on every request.
    rid = given if _SANE.fullmatch(given) else os.urandom(16).hex()
    request[REQUEST_ID_KEY] = rid
    token = REQUEST_ID.set(rid)
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # raised to aiohttp (redirects, pages outside /v1/)
        exc.headers[HEADER] = rid
        raise
    finally:
        REQUEST_ID.reset(token)
    response.headers[HEADER] = rid
    return response


class RequestIdFilter(logging.Filter):
    """Gives every record `request_id` (the one being handled, "-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get() or "-"
        return True
