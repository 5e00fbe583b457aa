"""/docs in Chromium: the API reference renders from /openapi.json with the files shipped with
the app (nothing from another origin, no policy violation) and lists every operation by its id."""

from __future__ import annotations

from tests.conftest import CHROMIUM_ARGS
from tests.editor.test_browser import screenshot_dir as screenshot_dir  # noqa: F401  (a fixture)


async def test_the_reference_lists_every_operation(chromium, settings, aiohttp_server, screenshot_dir):  # noqa: F811
    from playwright.async_api import async_playwright

    from server import create_app

    server = await aiohttp_server(create_app(settings))
    base = str(server.make_url("")).rstrip("/")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            problems, elsewhere = [], []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("request", lambda r: elsewhere.append(r.url) if not r.url.startswith(base) else None)
            document = await (await page.request.get(f"{base}/openapi.json")).json()
            ids = {
                op["operationId"]
                for section in ("paths", "webhooks")  # the webhooks are listed as operations too
                for item in document[section].values()
                for method, op in item.items()
                if method in ("get", "post", "put", "patch", "delete")
            }
            await page.goto(f"{base}/docs")
            await page.wait_for_function(f"document.querySelectorAll('.opblock').length >= {len(ids)}", timeout=30_000)
            shown = set(await page.locator(".opblock-summary-operation-id").all_inner_texts())
            assert shown == ids
            assert await page.locator(".info .title").inner_text() != ""
            await page.screenshot(path=str(screenshot_dir / "docs-desktop.png"))
            await page.set_viewport_size({"width": 390, "height": 844})
            await page.screenshot(path=str(screenshot_dir / "docs-390.png"))
            assert problems == [] and elsewhere == []
        finally:
            await browser.close()
