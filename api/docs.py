"""`/docs`: the API reference rendered from `/openapi.json` by Swagger UI, whose files come from
the `swagger-ui-py` package shipped with the app (no CDN: the page works offline and its policy
allows scripts and styles from this server only)."""

from __future__ import annotations

import importlib.resources

from aiohttp import web

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


def docs_routes() -> list[web.RouteDef]:
    return [
        web.get("/docs", docs_page),
        web.get("/docs/start.js", docs_start),
        web.get("/docs/assets/{name}", docs_asset),
    ]
