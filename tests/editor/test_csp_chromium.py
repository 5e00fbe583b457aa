"""The shell's Content-Security-Policy in a real headless Chromium: the previews, shown in
sandboxed srcdoc iframes that inherit it, keep their style and draw media we host, while inline
script stays blocked.

Skipped when /usr/bin/chromium is missing, except under CI=true where that is a failure.
"""

from __future__ import annotations

import base64

import orjson
from aiohttp import web

from editor import EditorConfig, Previewer, editor_routes, parse_request
from tests.conftest import CHROMIUM_ARGS

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
MEDIA_ID = "csp0123456789abcdefghij"
SHELL = """<!doctype html><html><head><meta charset="utf-8"><title>csp</title></head><body>
<iframe id="phone" sandbox=""></iframe><iframe id="h5" sandbox=""></iframe>
<script>document.body.dataset.inline = "ran";</script>
<script type="module" src="/editor/static/main.js"></script></body></html>"""
MAIN = """const r = await (await fetch('/editor/static/preview.json')).json();
document.getElementById('phone').srcdoc = '<!doctype html><html><head><style>body{margin:3px}</style></head><body>'
  + r.phone_html + '</body></html>';
document.getElementById('h5').srcdoc = r.h5_html;
document.body.dataset.module = 'ran';"""


async def test_previews_in_srcdoc_iframes_keep_style_and_media_under_the_csp(
    chromium, tmp_path, aiohttp_server, unused_tcp_port_factory
):
    from playwright.async_api import async_playwright

    port = unused_tcp_port_factory()
    base = f"http://127.0.0.1:{port}"
    card = {
        "message": {
            "generalPurposeCard": {
                "layout": {"cardOrientation": "VERTICAL"},
                "content": {
                    "title": "月饼礼盒",
                    "media": {
                        "mediaUrl": f"{base}/media/{MEDIA_ID}",
                        "mediaContentType": "image/png",
                        "mediaFileSize": len(PNG),
                        "height": "MEDIUM_HEIGHT",
                    },
                },
            }
        }
    }
    answer = Previewer(base).preview(parse_request({"card": card}), {"signature": "【鸿雁测试】", "sms_price": None})
    static = tmp_path / "static"
    static.mkdir()
    (static / "index.html").write_text(SHELL)
    (static / "main.js").write_text(MAIN)
    (static / "preview.json").write_bytes(orjson.dumps(answer))
    media_hits = []

    async def media(request):
        media_hits.append(request.match_info["id"])
        return web.Response(body=PNG, content_type="image/png")

    app = web.Application()
    app.add_routes(editor_routes(EditorConfig(base_url=base, static_dir=static)))
    app.router.add_get("/media/{id}", media)
    await aiohttp_server(app, port=port)

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            violations = []
            page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            await page.goto(f"{base}/editor")
            await page.wait_for_function("document.body.dataset.module === 'ran'")
            assert await page.evaluate("document.body.dataset.inline") is None  # inline script blocked
            for name in ("phone", "h5"):
                frame = page.frame_locator(f"#{name}")
                card_el = frame.locator(".card").first
                await card_el.wait_for()
                # card.css applied: rounded card, and the hosted image loaded from our origin.
                assert await card_el.evaluate("e => getComputedStyle(e).borderTopLeftRadius") == "12px"
                img = frame.locator(f'img[src="/media/{MEDIA_ID}"]')
                await img.wait_for()
                await page.wait_for_function(
                    f"() => document.getElementById('{name}').contentDocument === null"
                )  # opaque origin
                assert await img.evaluate("i => i.complete && i.naturalWidth") == 1
            assert media_hits and set(media_hits) == {MEDIA_ID}
            assert all("inline script" in v or "script-src" in v for v in violations), violations
        finally:
            await browser.close()
