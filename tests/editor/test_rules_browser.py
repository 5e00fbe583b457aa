"""The send rules page in a real headless Chromium against the real app: a cap changed in the
page is kept across a reload, an invalid value shows the API's error next to its field, and
today's volume is shown.

Skipped when /usr/bin/chromium is missing, except under CI=true (tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.conftest import CHROMIUM_ARGS, card
from tests.editor.test_browser import loopback_only


@pytest.fixture
def database_url():
    return None  # one run is enough for the browser: the rules API has its own tests on both


@pytest.fixture
async def served(settings, aiohttp_server):
    from server import ACCOUNTS, create_app

    app = create_app(settings)
    server = await aiohttp_server(app)
    _, key = await app[ACCOUNTS].create_tenant("Moon Bakery")
    return server, key


async def test_send_rules_are_edited_in_the_browser(chromium, served):
    from aiohttp import ClientSession
    from playwright.async_api import async_playwright, expect

    server, key = served
    auth = {"Authorization": f"Bearer {key}"}
    async with ClientSession(str(server.make_url(""))) as http:
        sent = await http.post("/v1/messages", json={"to": "+8613800138001", "card": card()}, headers=auth)
        assert sent.status == 202
        sender = (await (await http.post("/v1/api-keys", json={"scopes": ["messages"]}, headers=auth)).json())[
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
            await page.goto(str(server.make_url("/editor/rules")))

            # A key that may only send signs in but is told it cannot see the rules.
            await tid("signin-key").fill(sender)
            await tid("signin-submit").click()
            await expect(tid("status")).to_contain_text("compliance")
            await tid("signout").click()

            await tid("signin-key").fill(key)
            await tid("signin-submit").click()
            await expect(tid("tenant-name")).to_have_text("Moon Bakery")
            await expect(tid("volume")).to_contain_text("1 recipient(s)")
            await expect(tid("volume")).to_contain_text("alert at 100,000")
            rows = tid("cap-row")
            # The defaults: otp 1/1m, 5/1h, 10/1d; marketing 1/1d; new_member marketing 4/30d.
            await expect(rows).to_have_count(5)
            await expect(tid("window-start-marketing")).to_have_value("08:00")
            segment_row = page.locator("[data-testid=cap-row][data-segment=new_member]")
            await expect(segment_row.get_by_test_id("cap-limit")).to_have_value("4")

            # Change the new members' cap to 2 in 30 days and the marketing window; save; reload.
            await segment_row.get_by_test_id("cap-limit").fill("2")
            await tid("window-end-marketing").fill("20:30")
            await tid("save").click()
            await expect(tid("status")).to_have_text("Saved.")
            await page.reload()
            await expect(rows).to_have_count(5)
            segment_row = page.locator("[data-testid=cap-row][data-segment=new_member]")
            await expect(segment_row.get_by_test_id("cap-limit")).to_have_value("2")
            await expect(tid("window-end-marketing")).to_have_value("20:30")

            # An invalid value: the API's error next to the field it names; nothing is saved.
            first = rows.first
            await first.get_by_test_id("cap-period").fill("1w")
            await tid("window-start-marketing").fill("8h")
            await tid("save").click()
            await expect(first.locator("[data-slot=period]")).to_contain_text("expected a period")
            await expect(first.get_by_test_id("cap-period")).to_have_attribute("aria-invalid", "true")
            await expect(page.locator("[data-error-for='/windows/marketing/start']")).to_contain_text("HH:MM")
            await expect(tid("form-error")).to_have_text("")
            async with ClientSession(str(server.make_url(""))) as http:
                rules = await (await http.get("/v1/compliance/send-rules", headers=auth)).json()
            assert rules["windows"]["marketing"] == {"start": "08:00", "end": "20:30"}
            assert rules["segment_caps"]["new_member"] == {"marketing": [{"limit": 2, "period": "30d"}]}

            # A cap removed is gone after saving.
            await first.get_by_test_id("cap-period").fill("1m")
            await tid("window-start-marketing").fill("08:00")
            await segment_row.get_by_test_id("cap-remove").click()
            await tid("save").click()
            await expect(tid("status")).to_have_text("Saved.")
            await page.reload()
            await expect(rows).to_have_count(4)
            assert problems == []
        finally:
            await browser.close()
