"""The persistent-menu designer in a real headless Chromium, against the real app and its sandbox
MaaP: a brand designs its chatbot's menu (top entries, a submenu, several kinds of actions) in a
menu template, sees the phone's menu bar, breaks a limit and follows the clickable error to fix
it, publishes the menu to its sandbox channel and watches the simulator's audit arrive (in audit →
approved; a rejected one shows the operator's reason), then submits the chatbot's profile.

Skipped like the other browser tests when Chromium is missing (a failure under CI=true)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from server import SANDBOX
from tests.conftest import CHROMIUM_ARGS
from tests.dispatch.conftest import FAST
from tests.editor.test_browser import open_page, screenshot_dir  # noqa: F401  (a fixture)

CHATBOT = "sip:12520000088@botplatform.sandbox.local"
# The sandbox auditor answers half a second after each update: long enough to see "in audit".
AUDITING = replace(FAST, maap_timing=replace(FAST.maap_timing, audit_delay_s=0.5))


@pytest.fixture
def database_url():
    return None  # one run is enough for the browser: the storage paths have their own tests


@pytest.fixture
async def brand_app(settings, aiohttp_server, unused_tcp_port_factory):
    """The app with its sandbox, a brand and its own chatbot channel at the sandbox MaaP."""
    from server import ACCOUNTS, CHANNELS, Wiring, create_app

    settings = replace(settings, sandbox=True, port=unused_tcp_port_factory())
    app = create_app(settings, Wiring(dispatch=AUDITING))
    server = await aiohttp_server(app, port=settings.port)
    tenant, key = await app[ACCOUNTS].create_tenant("Moon Bakery", signature="【月饼铺】")
    maap = app[SANDBOX].maap
    await app[CHANNELS].create_channel(
        tenant.id,
        {
            "operator": "sandbox",
            "server_root": f"http://{maap.host}:{maap.port}",
            "chatbot_id": CHATBOT,
            "app_id": "moon-app",
            "app_key": "moon-key",
            "callback_token": "moon-callback",
        },
    )
    deadline = time.monotonic() + 5
    while CHATBOT not in maap.chatbots:  # provisioned on the simulator after the commit
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    return server, key, maap


async def test_design_publish_and_audit_a_persistent_menu(chromium, brand_app, screenshot_dir):  # noqa: F811
    from playwright.async_api import async_playwright, expect

    server, key, maap = brand_app
    base = str(server.make_url("/editor")).rstrip("/")
    expect.set_options(timeout=10_000)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            page, problems = await open_page(browser, 1440, 1000)
            tid = page.get_by_test_id

            await page.goto(base)
            await tid("signin-key").fill(key)
            await tid("signin-submit").click()
            await expect(tid("tenant-name")).to_have_text("Moon Bakery")
            await expect(tid("chatbot-channel").locator("option")).to_have_text([f"{CHATBOT} · sandbox"])

            # 1. A menu template: one reply entry to start from.
            await tid("empty-new").click()
            await tid("new-name").fill("Main menu")
            await tid("source-persistent-menu").check()
            await tid("new-create").click()
            await expect(tid("template-name")).to_have_text("Main menu")
            await expect(tid("menu-editor")).to_be_visible()
            await expect(tid("card-0")).to_have_count(0)  # a menu only: no card to edit
            await expect(tid("menu-count")).to_have_text("1/3")
            await expect(tid("menubar-0")).to_have_text("Help")

            # 2. A submenu with a dial and a link, and a location entry: three top entries.
            await tid("menu-add-submenu").click()
            await tid("menu-1-text").fill("Contact")
            await tid("menu-1-0-kind").select_option("dial")
            await tid("menu-1-0-text").fill("Call us")
            await tid("menu-1-0-phone").fill("+8610086")
            await tid("menu-1-add-entry").click()
            await tid("menu-1-1-kind").select_option("url")
            await tid("menu-1-1-text").fill("Website")
            await tid("menu-1-1-url").fill("https://moon.example.cn")
            await tid("menu-add-entry").click()
            await tid("menu-2-kind").select_option("location")
            await tid("menu-2-text").fill("Our shop")
            await expect(tid("menu-count")).to_have_text("3/3")
            await expect(tid("menu-add-entry")).to_be_disabled()  # the CN limit: 3 top entries
            await expect(tid("menu-add-submenu")).to_be_disabled()
            await expect(tid("menubar").locator("button")).to_have_text(["Help", "≡Contact", "Our shop"])
            await tid("menubar-1").click()
            await expect(tid("menubar-popup").locator("li")).to_have_text(["☎Call us", "↗Website"])
            await expect(tid("validation-badge")).to_have_text("valid")
            await expect(tid("save-state")).to_have_text("Saved ✓")

            # 3. Over a limit: the error shows at the field and in the checks; publishing waits.
            await tid("menu-0-text").fill("A" * 26)
            await expect(tid("error-0")).to_contain_text("/menu/entries/0/reply/displayText")
            await expect(tid("menu-editor").get_by_test_id("field-error")).to_have_text(
                "26 characters; the limit is 25"
            )
            await expect(tid("publish-menu")).to_be_disabled()
            await expect(tid("publish-hint")).to_have_text("Fix the menu's errors to publish it.")
            await tid("menu-2-text").focus()  # elsewhere, then back through the error
            await tid("error-0").click()
            await expect(tid("menu-0-text")).to_be_focused()
            await tid("menu-0-text").fill("Help")
            await expect(tid("validation-badge")).to_have_text("valid")

            # 4. Publish to the channel: in audit, then the sandbox's verdict arrives.
            await expect(tid("publish-menu")).to_be_enabled()
            await tid("publish-menu").click()
            await expect(tid("menu-state-badge")).to_have_text("in audit")
            await expect(tid("menu-state-badge")).to_have_text("approved")
            held = maap.chatbots[CHATBOT].info["menu"]
            assert held["entries"][0] == {"reply": {"displayText": "Help", "postback": {"data": "menu-1"}}}
            assert held["entries"][1]["menu"]["displayText"] == "Contact"
            assert held["entries"][2]["action"]["displayText"] == "Our shop"
            assert held["entries"][1]["menu"]["entries"][1]["action"]["urlAction"]["openUrl"] == {
                "url": "https://moon.example.cn",
                "application": "browser",
            }

            # 5. A menu the auditor rejects shows its reason; the approved one stays on phones.
            await tid("menu-0-text").fill("违规抽奖")
            await expect(tid("validation-badge")).to_have_text("valid")
            await tid("publish-menu").click()
            await expect(tid("menu-state-badge")).to_have_text("rejected")
            await expect(tid("menu-state-reason")).to_have_text("sandbox audit: contains “违规”")
            assert maap.chatbots[CHATBOT].info["menu"]["entries"][0]["reply"]["displayText"] == "Help"
            await tid("menu-0-text").fill("Help")

            # 6. The chatbot's profile: a wrong colour is named at its field; then approved.
            await tid("edit-profile").click()
            await expect(tid("profile-dialog")).to_be_visible()
            await tid("profile-theme_colour").fill("red")
            await tid("profile-service_description").fill("Mooncakes, delivered")
            await tid("profile-submit").click()
            await expect(tid("profile-field-error")).to_have_text("String should match pattern '^#[0-9A-Fa-f]{6}$'")
            problems.clear()  # the browser logs the 422 above on purpose
            await tid("profile-theme_colour").fill("#C8102E")
            await tid("profile-submit").click()
            await expect(tid("profile-dialog")).to_be_hidden()
            await expect(tid("profile-state-badge")).to_have_text("approved")
            assert maap.chatbots[CHATBOT].info["themeColour"] == "#C8102E"
            await expect(tid("menubar-popup")).to_be_visible()  # still open since step 2
            await page.screenshot(path=str(screenshot_dir / "menu-designer.png"), full_page=True)

            # 7. In Chinese too.
            await tid("lang-switch").click()
            await expect(tid("publish-menu")).to_have_text("发布菜单")
            await expect(tid("menu-state-badge")).to_have_text("未通过")
            await expect(tid("profile-state-badge")).to_have_text("已通过")
            await page.screenshot(path=str(screenshot_dir / "menu-designer-zh.png"), full_page=True)
            assert problems == []
        finally:
            await browser.close()
