"""A bare aiohttp JSON POST handler: the baseline every API bench compares against."""

import sys

from aiohttp import web


async def handle(request: web.Request) -> web.Response:
    body = await request.json()
    return web.json_response({"ok": True, "n": len(body)}, status=202)


async def redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound("https://example.com/landing")


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


app = web.Application()
app.router.add_post("/v1/messages", handle)
app.router.add_get("/s/{token}", redirect)
app.router.add_get("/healthz", health)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
