"""The reviewers' page in a real headless Chromium against the real app: a reviewer signs in,
approves one held template and rejects another (a rejection needs a reason), releases a held
message; a key without the `reviews` scope is told it cannot decide.

Skipped when /usr/bin/chromium is missing, except under CI=true (tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.conftest import CHROMIUM_ARGS, card
from tests.editor.test_browser import loopback_only


@pytest.fixture
def database_url():
    return None  # one run is enough for the browser: the storage paths have their own tests


@pytest.fixture
async def served(settings, aiohttp_server):
    from server import ACCOUNTS, create_app

    app = create_app(settings)
    server = await aiohttp_server(app)
    _, key = await app[ACCOUNTS].create_tenant("Moon Bakery")
    return server, key


async def test_a_reviewer_decides_in_the_browser(chromium, served):
    from aiohttp import ClientSession
    from playwright.async_api import async_playwright, expect

    server, key = served
    auth = {"Authorization": f"Bearer {key}"}
    async with ClientSession(str(server.make_url(""))) as http:
        ids = {}
        for name, title in (("promo-a", "全网最低价月饼"), ("promo-b", "顶级月饼礼盒")):
            made = await (
                await http.post("/v1/templates", json={"name": name, "card": card(title=title)}, headers=auth)
            ).json()
            assert made["status"] == "in_review"
            ids[name] = made["id"]
        held = await (
            await http.post("/v1/messages", json={"to": "+8613800138001", "card": card(title="最佳口味")}, headers=auth)
        ).json()
        message_id = held["messages"][0]["id"]
        sender = (await (await http.post("/v1/api-keys", json={"scopes": ["messages", "cards"]}, headers=auth)).json())[
            "api_key"
        ]

    expect.set_options(timeout=10_000)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
            await context.route("**/*", loopback_only)
            page = await context.new_page()
            problems: list[str] = []
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            tid = page.get_by_test_id
            await page.goto(str(server.make_url("/editor/reviews")))

            # A key that may only send signs in but cannot decide.
            await tid("signin-key").fill(sender)
            await tid("signin-submit").click()
            await expect(tid("status")).to_contain_text("reviews")
            await expect(tid("review-item")).to_have_count(0)
            await tid("signout").click()

            await tid("signin-key").fill(key)
            await tid("signin-submit").click()
            await expect(tid("tenant-name")).to_have_text("Moon Bakery")
            items = tid("review-item")
            await expect(items).to_have_count(3)

            a = page.locator("[data-testid=review-item][data-kind=template]:has-text('promo-a')")
            await expect(a).to_contain_text("最低价")
            await a.get_by_test_id("approve").click()
            await expect(items).to_have_count(2)

            b = page.locator("[data-testid=review-item][data-kind=template]:has-text('promo-b')")
            await b.get_by_test_id("reject").click()
            await expect(b.get_by_test_id("error")).to_have_text("A rejection needs a reason.")
            await b.get_by_test_id("reason").fill("Absolute terms")
            await b.get_by_test_id("reject").click()
            await expect(items).to_have_count(1)

            msg = page.locator("[data-testid=review-item][data-kind=message]")
            await expect(msg).to_contain_text("1 message(s) held")
            await msg.get_by_test_id("approve").click()
            await expect(tid("status")).to_have_text("Nothing to review.")

            await tid("filter-state").select_option("rejected")
            await expect(items).to_have_count(1)
            await expect(items.get_by_test_id("decision")).to_contain_text("Absolute terms")
            assert problems == []
        finally:
            await browser.close()

    async with ClientSession(str(server.make_url(""))) as http:
        versions = {
            name: await (await http.get(f"/v1/templates/{tid_}/versions/1", headers=auth)).json()
            for name, tid_ in ids.items()
        }
        assert versions["promo-a"]["status"] == "approved"
        assert versions["promo-b"]["status"] == "rejected" and versions["promo-b"]["status_reason"] == "Absolute terms"
        message = await (await http.get(f"/v1/messages/{message_id}", headers=auth)).json()
        assert message["status"] == "accepted"
