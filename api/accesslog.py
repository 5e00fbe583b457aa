"""The access log line, with nothing in it that opens anything.

`client "METHOD path[?name=*…] HTTP/x.y" status size seconds request-id` (the client behind a trusted
proxy, see `api.middleware.client_address`): query values are never written
(names only), and a route parameter named `token` (a short link's, which opens the recipient's
personal page) keeps only its first characters. The PII log filter masks phone numbers and any
`/s/<token>` that reaches a log another way (an unmatched path, an error message).
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from aiohttp.abc import AbstractAccessLogger

from api.middleware import client_address
from api.requestid import request_id_of

TOKEN_PREFIX = 4  # characters of a token kept, to tell requests apart
SECRET_PARAMETERS = frozenset({"token"})


def loggable_target(request) -> str:
    """The request's path with secret route parameters cut to a prefix and query values dropped."""
    path = request.rel_url.raw_path
    match_info = getattr(request, "match_info", None) or {}
    for name in SECRET_PARAMETERS & match_info.keys():
        value = quote(match_info[name], safe="")
        if len(value) > TOKEN_PREFIX:
            path = path.replace(value, value[:TOKEN_PREFIX] + "****")
    names = [quote(name, safe="") for name in request.rel_url.query]
    return path + ("?" + "&".join(f"{n}=*" for n in names) if names else "")


class AccessLogger(AbstractAccessLogger):
    """aiohttp's access logger for the app (`web.run_app(…, access_log_class=AccessLogger)`):
    every request at DEBUG, a server error at WARNING (what an operator must see at INFO), with
    the request's X-Request-Id."""

    def log(self, request, response, time):  # noqa: A002 - aiohttp's signature
        level = logging.WARNING if response.status >= 500 else logging.DEBUG
        if not self.logger.isEnabledFor(level):
            return
        version = f"HTTP/{request.version.major}.{request.version.minor}"
        self.logger.log(
            level,
            '%s "%s %s %s" %s %s %.3fs %s',
            client_address(request) if hasattr(request, "app") else request.remote,
            request.method,
            loggable_target(request),
            version,
            response.status,
            response.body_length,
            time,
            request_id_of(request) or "-",
            extra={"request_id": request_id_of(request) or "-"},
        )
