"""The dashboard in a real headless Chromium against the real app with its sandbox: a tenant's
messages reach their ends (RCS read, SMS delivered, SMS undelivered), and the page — signed in
like the editor — shows the same figures as the funnel API, draws its charts with the bundled
uPlot (no request leaves loopback), and picks up a new send by itself.

Skipped when /usr/bin/chromium is missing, except under CI=true (tests/conftest.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from aiohttp import ClientSession

from tests.conftest import card
from tests.editor.test_browser import chromium_browser, open_page, sandbox_app, screenshot_dir  # noqa: F401

FINAL = {"rcs_read", "sms_delivered", "sms_failed"}


@pytest.fixture
def database_url():
    return None  # one run is enough for the browser: the analytics have their own tests


async def _send(http, auth, numbers: list[str]) -> list[str]:
    body = {"recipients": [{"to": n} for n in numbers], "card": card()}
    resp = await http.post("/v1/messages", json=body, headers=auth)
    assert resp.status == 202, await resp.text()
    ids = [m["id"] for m in (await resp.json())["messages"]]
    for mid in ids:
        for _ in range(500):
            view = await (await http.get(f"/v1/messages/{mid}", headers=auth)).json()
            if view["status"] in FINAL:
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError(f"{mid} stayed {view['status']}")
    return ids


async def test_the_dashboard_shows_the_funnel_and_updates_itself(chromium, sandbox_app, screenshot_dir):  # noqa: F811
    from playwright.async_api import expect

    server, key = sandbox_app
    auth = {"Authorization": f"Bearer {key}"}
    async with ClientSession(str(server.make_url(""))) as http:
        await _send(http, auth, ["+8613800003101", "+8613800003110", "+8613800003119"])
        since = quote((datetime.now(UTC) - timedelta(hours=1)).isoformat())
        figures = await (await http.get(f"/v1/analytics/funnel?since={since}", headers=auth)).json()
        [total] = figures["data"]

        expect.set_options(timeout=15_000)
        async with chromium_browser(chromium) as browser:
            page, problems = await open_page(browser, 1280, 1000)
            tid = page.get_by_test_id
            await page.goto(str(server.make_url("/editor")))
            await tid("signin-key").fill(key)
            await tid("signin-submit").click()
            await expect(tid("tenant-name")).to_have_text("Moon Bakery")
            problems.clear()  # the sign-in page asked for a session before there was one (a 401)

            await page.goto(str(server.make_url("/editor/dashboard?refresh=1")))
            await expect(tid("kpi-accepted")).to_have_text(str(total["accepted"]))
            assert total["accepted"] == 3 and total["delivered"] == 2
            await expect(tid("kpi-delivered")).to_have_text("2 · 66.7 %")
            await expect(tid("kpi-read")).to_have_text("1 · 50.0 %")
            await expect(tid("kpi-sms")).to_have_text("66.7 %")
            await expect(tid("kpi-complaints")).to_have_text("0 · 0.0 %")
            for chart in ("chart-days", "chart-hours", "chart-funnel"):
                await expect(tid(chart).locator("canvas")).to_have_count(1)
            await expect(tid("channel-rcs")).to_contain_text("RCS")
            await expect(tid("channel-sms")).to_contain_text("SMS")
            assert (await tid("dashboard-csv").get_attribute("href")).startswith("/v1/analytics/funnel?")
            await page.screenshot(path=str(screenshot_dir / "dashboard.png"))

            # A new send shows without touching the page.
            await _send(http, auth, ["+8613800003102"])
            await expect(tid("kpi-accepted")).to_have_text("4")
            await expect(tid("kpi-read")).to_have_text("2 · 66.7 %")
            assert problems == []


async def test_the_dashboard_lists_sms_routes_per_carrier_with_their_health(chromium, sandbox_app, screenshot_dir):  # noqa: F811
    """The routes panel shows what GET /v1/sms/routes says, one row per carrier and route."""
    from playwright.async_api import expect

    server, key = sandbox_app
    auth = {"Authorization": f"Bearer {key}"}
    async with ClientSession(str(server.make_url(""))) as http:
        await _send(http, auth, ["+8613800003120"])  # not RCS-capable: an SMS over the sandbox route
        health = (await (await http.get("/v1/sms/routes", headers=auth)).json())["data"]
        routes = {r["route"]: r for r in health}
        assert routes["sandbox"]["samples"] >= 1

        expect.set_options(timeout=15_000)
        async with chromium_browser(chromium) as browser:
            page, problems = await open_page(browser, 1280, 1000)
            tid = page.get_by_test_id
            await page.goto(str(server.make_url("/editor")))
            await tid("signin-key").fill(key)
            await tid("signin-submit").click()
            await expect(tid("tenant-name")).to_have_text("Moon Bakery")
            problems.clear()

            await page.goto(str(server.make_url("/editor/dashboard?refresh=1")))
            board = tid("routes-board")
            await expect(board).to_be_visible()
            row = board.locator('[data-testid=route-row][data-route="sandbox"]')
            await expect(row).to_have_count(len(routes["sandbox"]["carriers"]))
            first = row.first
            await expect(first.get_by_test_id("route-state")).to_have_text("in rotation")
            await expect(first.get_by_test_id("route-kind")).to_have_text("smpp")
            await expect(first.get_by_test_id("route-tier")).to_have_text("primary")
            await expect(first.get_by_test_id("route-errors")).to_contain_text("0.0 % of")
            await expect(tid("routes-note")).to_contain_text("0 not in rotation")
            await page.screenshot(path=str(screenshot_dir / "dashboard-routes.png"), full_page=True)
            assert problems == []
