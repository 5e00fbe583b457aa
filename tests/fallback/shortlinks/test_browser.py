"""The landing page in a real headless Chromium: every button does what it should.

Skipped (with the reason) when /usr/bin/chromium is missing, except under CI=true where a
missing browser is a failure. Only loopback is reachable: every other request is aborted.
"""

from __future__ import annotations

import asyncio
import copy
import os
import tempfile
from datetime import UTC
from pathlib import Path

import icalendar
import pytest
from aiohttp import web
from linkkit import FULL_CARD, MOBILE_UA, SCRIPT, ManualClock

from tests.conftest import CHROMIUM_ARGS

SCREENSHOT_DIR = Path(os.environ.get("HONGYAN_SCREENSHOT_DIR", tempfile.gettempdir())) / "hongyan-shortlinks"


@pytest.fixture
def database_url():
    return None  # one run is enough for the browser: the storage paths are covered by test_http


async def test_buttons_in_chromium(chromium, settings, aiohttp_server):
    from datetime import datetime

    from playwright.async_api import async_playwright

    from fallback.shortlinks import SHORTLINKS
    from server import ACCOUNTS, Wiring, create_app
    from store.writer import WriteBatch

    landed = asyncio.get_running_loop().create_future()

    async def landing(request: web.Request) -> web.Response:
        if not landed.done():
            landed.set_result(request.path_qs)
        return web.Response(text="<!doctype html><title>shop</title><h1>Order 42</h1>", content_type="text/html")

    target_app = web.Application()
    target_app.router.add_get("/orders/42", landing)
    target = await aiohttp_server(target_app)
    target_url = str(target.make_url("/orders/42?from=sms"))

    postbacks = []

    async def on_postback(*event):
        postbacks.append(event)

    clock = ManualClock(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    app = create_app(settings, Wiring(clock=clock, on_postback=on_postback))
    server = await aiohttp_server(app)
    tenant, key = await app[ACCOUNTS].create_tenant("Brand", signature="【鸿雁银行】")

    card = copy.deepcopy(FULL_CARD)
    content = card["message"]["generalPurposeCard"]["content"]
    content["suggestions"][0]["action"]["urlAction"]["openUrl"]["url"] = target_url
    from aiohttp import ClientSession

    async with ClientSession() as s:
        resp = await s.post(
            server.make_url("/v1/messages"),
            json={"to": "+8613800138000", "card": card},
            headers={"Authorization": f"Bearer {key}"},
        )
        sent = await resp.json()
    links = app[SHORTLINKS]
    batch = WriteBatch()
    url = links.add_link(
        batch, tenant_id=tenant.id, message_id=sent["messages"][0]["id"], batch_id=sent["batch_id"], card=card
    )
    await links.writer.write(batch)
    # The app's base_url is the configured one; the test server listens elsewhere.
    page_url = str(server.make_url("/s/" + url.rsplit("/", 1)[1]))

    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            context = await browser.new_context(
                user_agent=MOBILE_UA,
                viewport={"width": 390, "height": 844},
                device_scale_factor=2,
                is_mobile=True,
                has_touch=True,
                accept_downloads=True,
                java_script_enabled=False,
            )

            async def loopback_only(route):
                host = route.request.url.split("/")[2].split(":")[0] if "://" in route.request.url else ""
                if host in ("127.0.0.1", "localhost"):
                    await route.continue_()
                else:
                    await route.abort()

            await context.route("**/*", loopback_only)
            page = await context.new_page()
            dialogs = []
            page.on("dialog", lambda d: dialogs.append(d.message))

            resp = await page.goto(page_url)
            assert resp.status == 200
            assert await page.locator("h2").inner_text() == "您的订单 " + SCRIPT  # shown as text
            assert dialogs == [] and await page.locator("script").count() == 0
            assert await page.locator("header.brand").inner_text() == "【鸿雁银行】"
            await page.screenshot(path=str(SCREENSHOT_DIR / "landing.png"), full_page=True)

            assert await page.get_attribute("a.sg-dial", "href") == "tel:+861095588"

            async with page.expect_download() as info:
                await page.click("text=加入日历")
            download = await info.value
            assert download.suggested_filename.endswith(".ics")
            event = icalendar.Calendar.from_ical(Path(await download.path()).read_bytes()).walk("VEVENT")[0]
            assert str(event["summary"]) == "取件"

            await page.click("text=查看订单")
            assert await asyncio.wait_for(landed, 10) == "/orders/42?from=sms"
            await page.wait_for_url(target_url)
            assert await page.locator("h1").inner_text() == "Order 42"

            await page.goto(page_url)
            await page.click("text=门店位置")
            assert (await page.get_attribute("a[href^='geo:']", "href")).startswith("geo:39.908722,116.397499")

            await page.goto(page_url)
            await page.click("button:has-text('确认收货')")
            await page.wait_for_selector("text=已收到")
            await page.screenshot(path=str(SCREENSHOT_DIR / "thanks.png"), full_page=True)
            assert postbacks == [(tenant.id, sent["messages"][0]["id"], "确认收货", "confirm-42")]
        finally:
            await browser.close()

    summary = await links.clicks_summary(tenant.id, message_id=sent["messages"][0]["id"])
    assert summary["by_kind"]["action"]["human_hits"] == 1
    assert summary["by_kind"]["ics"]["human_hits"] == 1 and summary["by_kind"]["postback"]["human_hits"] == 1
    assert summary["by_kind"]["page"]["human_hits"] == 3 and summary["unique_humans"] == 1
