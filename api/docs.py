"""`/docs`: the API reference rendered from `/openapi.json` by Swagger UI, whose files come from
the `swagger-ui-py` package shipped with the app (no CDN: the page works offline and its policy
allows scripts and styles from this server only)."""

from __future__ import annotations

import base64
import hashlib
import html
import importlib.resources
import re

from aiohttp import web

from api.problems import PROBLEM_DOCS, PROBLEM_TYPES, STATUS_TYPES

ASSETS = importlib.resources.files("swagger_ui") / "static"
SERVED = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "favicon-32x32.png": "image/png",
}
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Hongyan API reference</title>
<link rel="icon" href="/docs/assets/favicon-32x32.png">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="docs"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/start.js"></script>
</body>
</html>
"""
# Renders /openapi.json; never calls out (no validator badge, no "try it out" by default).
START = """'use strict';
window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#docs',
  deepLinking: true,
  validatorUrl: null,
  tryItOutEnabled: false,
  docExpansion: 'list',
  filter: true,
  displayOperationId: true,
  defaultModelsExpandDepth: 0,
});
"""
# Swagger UI sets style attributes as it draws: styles may be inline, scripts may not.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:;"
        " connect-src 'self'; font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_CACHE = {"Cache-Control": "public, max-age=86400"}


async def docs_page(request: web.Request) -> web.Response:
    return web.Response(text=PAGE, content_type="text/html", headers=HEADERS)


async def docs_start(request: web.Request) -> web.Response:
    return web.Response(text=START, content_type="text/javascript", headers={**HEADERS, **_CACHE})


async def docs_asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in SERVED:
        raise web.HTTPNotFound()
    body = (ASSETS / name).read_bytes()
    return web.Response(body=body, content_type=SERVED[name], headers={**HEADERS, **_CACHE})


PROBLEMS_STYLE = (
    "body{font:15px/1.5 system-ui,sans-serif;max-width:860px;margin:24px auto;padding:0 16px;color:#1f2328}"
    "section{border-top:1px solid #d0d7de;padding:8px 0}section:target{background:#fff8c5}"
    "code{background:#f6f8fa;padding:1px 4px;border-radius:4px}h2{font-size:17px;margin:8px 0 4px}"
)


def _prose(text: str) -> str:
    """Escaped text with its `backticked` names set as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def problems_html() -> str:
    """/docs/problems: every problem `type` the API answers with, one section (anchor) each."""
    sections = []
    for name, (meaning, remedy) in PROBLEM_TYPES.items():
        statuses = ", ".join(str(s) for s, n in STATUS_TYPES.items() if n == name)
        sections.append(
            f'<section id="{name}"><h2><code>{PROBLEM_DOCS}#{name}</code>'
            + (f" · HTTP {statuses}" if statuses else "")
            + f"</h2><p>{_prose(meaning)}</p><p><b>What to do:</b> {_prose(remedy)}</p></section>"
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><title>Hongyan problem types</title>'
        f"<style>{PROBLEMS_STYLE}</style></head><body><h1>Problem types</h1>"
        "<p>Every error is <code>application/problem+json</code> (RFC 9457): <code>type</code> names one of "
        "these sections, <code>detail</code> says what happened, <code>errors[]</code> names each wrong field "
        'by its JSON Pointer with a stable <code>code</code>. The whole API: <a href="/docs">/docs</a>.</p>'
        + "".join(sections)
        + "</body></html>"
    )


async def problems_page(request: web.Request) -> web.Response:
    style_hash = base64.b64encode(hashlib.sha256(PROBLEMS_STYLE.encode()).digest()).decode()
    headers = {
        **HEADERS,
        "Content-Security-Policy": f"default-src 'none'; style-src 'sha256-{style_hash}'; frame-ancestors 'none'",
    }
    return web.Response(text=problems_html(), content_type="text/html", headers=headers)


def docs_routes() -> list[web.RouteDef]:
    return [
        web.get("/docs", docs_page),
        web.get("/docs/problems", problems_page),
        web.get("/docs/start.js", docs_start),
        web.get("/docs/assets/{name}", docs_asset),
    ]
