"""Previews and the virtual handset in a real headless Chromium (issue 17, Deliver 4 and 7).

In the editor: buttons show their kind in the phone preview; a handset look (HarmonyOS style,
HyperOS style) and the theme are chosen in the preview pane and remembered. Then a test send lands
on the virtual handset, drawn by the same renderer in the same look: the card, its kind-marked
buttons, a tap and a typed reply reach the platform. An SMS-only number's inbox shows a long SMS
joined, with the segments it arrived in, and a reply goes back.

Screenshots at desktop and 390×844, light and dark, zh and en (HONGYAN_SCREENSHOT_DIR keeps them).
Skipped when /usr/bin/chromium is missing, except under CI=true (see tests/conftest.py)."""

from __future__ import annotations

import re

import aiohttp
import pytest

from tests.editor.test_browser import chromium_browser, open_page, sandbox_app, screenshot_dir  # noqa: F401
from tests.editor.test_defects_browser import signed_in_new_template

RCS_NUMBER = "+8613800000001"  # ends in 1: delivered, then read
SMS_NUMBER = "+8613800000010"  # ends in 0: not RCS-capable, the SMS is delivered


async def painted(page) -> None:
    """The preview frame has painted its new document (a srcdoc loads, then paints; the frame
    runs no script, so the page waits two of its own frames)."""
    await page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    await page.wait_for_timeout(150)


@pytest.fixture
def database_url():
    return None  # the pages do not depend on the storage


async def test_preview_looks_and_the_virtual_handset(chromium, sandbox_app, screenshot_dir):  # noqa: F811
    from playwright.async_api import expect

    expect.set_options(timeout=10_000)
    server, key = sandbox_app
    async with chromium_browser(chromium) as browser:
        page, problems = await signed_in_new_template(browser, server, key, "Store locator")
        tid = page.get_by_test_id
        phone = page.frame_locator("[data-testid=phone-preview]")
        await tid("card-0-title").fill("Moon Bakery, Xuhui")
        await tid("card-0-description").fill("Open 9:00–21:00")
        await tid("card-0-add-button").click()
        await tid("card-0-sg-0-kind").select_option("location")
        await tid("card-0-sg-0-text").fill("Find us")
        await tid("card-0-sg-0-lat").fill("31.2304")
        await tid("card-0-sg-0-lng").fill("121.4737")
        await tid("card-0-sg-0-label").fill("Moon Bakery")
        await tid("card-0-add-button").click()
        await tid("card-0-sg-1-kind").select_option("dial")
        await tid("card-0-sg-1-text").fill("Call us")
        await tid("card-0-sg-1-phone").fill("400-820-8820")
        await tid("card-0-add-button").click()
        await tid("card-0-sg-2-text").fill("Tell me more")
        await expect(tid("validation-badge")).to_have_text("valid")

        # Buttons show their kind: an icon, a title and an accessible name in the chosen language.
        await expect(phone.locator(".sg-show_location")).to_have_attribute("title", "Show location")
        await expect(phone.locator(".sg-dial")).to_have_attribute("aria-label", "Call us · Call")
        await expect(phone.get_by_role("button", name="Tell me more · Reply")).to_be_visible()
        await expect(phone.locator(".sg .sg-icon")).to_have_count(3)
        icon = await phone.locator(".sg-dial .sg-icon").evaluate("e => getComputedStyle(e, '::before').content")
        assert icon == '"☎"'

        # The plain look first; then a handset look, chosen and remembered with the theme.
        await expect(tid("preview-look")).to_have_value("")
        await tid("preview-look").select_option("harmony")
        body = phone.locator("body")
        await expect(body).to_have_class(re.compile(r"\blook-harmony\b"))
        await expect(phone.get_by_test_id("look-name")).to_have_text("【月饼铺】")
        await expect(tid("phone-frame")).to_have_attribute("data-look", "harmony")
        radius = await phone.locator("article.card").evaluate("e => getComputedStyle(e).borderTopLeftRadius")
        assert radius == "16px"
        await painted(page)
        await tid("phone-frame").screenshot(path=str(screenshot_dir / "look-harmony-light-en.png"))
        await tid("preview-theme").click()
        await expect(body).to_have_class(re.compile(r"\bdark\b"))
        dark_bg = await body.evaluate("e => getComputedStyle(e).backgroundColor")
        assert dark_bg == "rgb(0, 0, 0)"
        await tid("preview-look").select_option("hyper")
        await expect(body).to_have_class("look look-hyper dark")
        radius = await phone.locator("article.card").evaluate("e => getComputedStyle(e).borderTopLeftRadius")
        assert radius == "22px"  # a distinct shape, not only colours
        await expect(phone.locator("article.card h2")).to_have_text("Moon Bakery, Xuhui")
        await painted(page)
        await tid("phone-frame").screenshot(path=str(screenshot_dir / "look-hyper-dark-en.png"))
        await page.screenshot(path=str(screenshot_dir / "look-desktop-hyper-dark-en.png"))

        await page.reload()
        await expect(tid("preview-look")).to_have_value("hyper")
        await expect(tid("preview-theme")).to_have_attribute("aria-pressed", "true")
        await expect(phone.locator("body")).to_have_class("look look-hyper dark")
        # A freshly loaded page's first frames of the preview paint late (fonts): screenshots
        # taken at once came out blank though the frame's document was complete.
        await page.wait_for_timeout(1500)
        # In Chinese the kinds are named in Chinese.
        await tid("lang-switch").click()
        await expect(phone.locator(".sg-dial")).to_have_attribute("aria-label", "Call us · 拨打电话")
        await expect(tid("preview-look").locator("option[value=harmony]")).to_have_text("鸿蒙风格")
        await tid("preview-theme").click()
        await expect(phone.locator("body")).to_have_class("look look-hyper")
        await expect(phone.locator("article.card h2")).to_have_text("Moon Bakery, Xuhui")
        await painted(page)
        await tid("phone-frame").screenshot(path=str(screenshot_dir / "look-hyper-light-zh.png"))
        await tid("preview-look").select_option("harmony")
        await tid("preview-theme").click()
        await expect(phone.locator("body")).to_have_class("look look-harmony dark")
        await expect(phone.locator("article.card h2")).to_have_text("Moon Bakery, Xuhui")
        await painted(page)
        await tid("phone-frame").screenshot(path=str(screenshot_dir / "look-harmony-dark-zh.png"))
        await page.screenshot(path=str(screenshot_dir / "look-desktop-harmony-dark-zh.png"))
        await tid("lang-switch").click()
        await expect(tid("preview-look").locator("option[value=harmony]")).to_have_text("HarmonyOS style")

        # At phone width the preview pane is a tab; the look and theme stay chosen there.
        await page.set_viewport_size({"width": 390, "height": 844})
        await tid("tab-right").click()
        await expect(tid("preview-look")).to_be_visible()
        await expect(phone.locator("body")).to_have_class("look look-harmony dark")
        await expect(phone.locator(".sg-dial")).to_have_attribute("aria-label", "Call us · Call")
        await painted(page)
        await page.screenshot(path=str(screenshot_dir / "look-phone-harmony-dark-en.png"))
        await tid("preview-theme").click()
        await tid("preview-look").select_option("hyper")
        await expect(phone.locator("body")).to_have_class("look look-hyper")
        await tid("lang-switch").click()
        await expect(phone.locator(".sg-dial")).to_have_attribute("aria-label", "Call us · 拨打电话")
        await painted(page)
        await page.screenshot(path=str(screenshot_dir / "look-phone-hyper-light-zh.png"))
        await tid("lang-switch").click()
        await expect(phone.locator(".sg-dial")).to_have_attribute("aria-label", "Call us · Call")
        await page.set_viewport_size({"width": 1440, "height": 900})

        # A test send lands on the virtual handset, drawn the same way.
        await tid("send-to").fill(RCS_NUMBER)
        await tid("send-test").click()
        await expect(tid("send-status")).to_have_text("Status: read (RCS)", timeout=20_000)
        handset_url = await tid("handset-link").get_attribute("href")
        assert problems == []

        for width, height, size in ((1280, 900, "desktop"), (390, 844, "phone")):
            handset, handset_problems = await open_page(browser, width, height)
            await handset.goto(handset_url)
            card = handset.locator("[data-testid=bot-message]:has(article.card)").first
            await expect(card.locator("article.card h2")).to_have_text("Moon Bakery, Xuhui")
            await expect(card.locator(".sg-dial")).to_have_attribute("title", "Call")
            await expect(handset.locator("body")).to_have_class("look look-harmony")
            await expect(handset.get_by_test_id("chatbot-name")).to_have_text("鸿雁沙箱")
            await handset.screenshot(path=str(screenshot_dir / f"handset-{size}-harmony-light-en.png"), full_page=True)
            if size == "phone":
                # A tap on the card's reply button and a typed message reach the platform.
                await card.get_by_role("button", name="Tell me more · Reply").click()
                await expect(handset.get_by_test_id("user-turn").last).to_contain_text("Tell me more")
                await handset.get_by_test_id("compose-text").fill("Is there parking?")
                await handset.get_by_test_id("compose-send").click()
                await expect(handset.get_by_test_id("user-turn").last).to_contain_text("Is there parking?")
                await expect(handset.get_by_test_id("user-turn")).to_have_count(2)
            # The look, theme and language are chosen on the page and remembered.
            await handset.get_by_test_id("look-hyper").click()
            await handset.get_by_test_id("theme-dark").click()
            await handset.get_by_role("link", name="中文").click()
            await expect(handset.locator("body")).to_have_class("look look-hyper dark")
            await expect(card.locator(".sg-dial")).to_have_attribute("title", "拨打电话")
            await handset.goto(handset_url)
            await expect(handset.locator("body")).to_have_class("look look-hyper dark")
            await handset.screenshot(path=str(screenshot_dir / f"handset-{size}-hyper-dark-zh.png"), full_page=True)
            await handset.get_by_test_id("handset-back").click()  # the conversation list
            await expect(handset.get_by_test_id("handset-row")).to_have_count(1)
            row = handset.get_by_test_id("handset-row")
            await expect(row).to_contain_text("+86138****0001")  # masked, with its newest message
            if size == "desktop":
                await expect(row).to_contain_text("Moon Bakery, Xuhui")
            await handset.screenshot(path=str(screenshot_dir / f"handsets-{size}-hyper-dark-zh.png"))
            assert handset_problems == []
            await handset.context.close()


async def test_the_sms_inbox_shows_the_segments_and_takes_a_reply(chromium, sandbox_app, screenshot_dir):  # noqa: F811
    from playwright.async_api import expect

    from server import SANDBOX

    expect.set_options(timeout=10_000)
    server, key = sandbox_app
    smsc = server.app[SANDBOX].smsc
    text = "您好，您订购的月饼礼盒已发货，预计两天内送达。如需改约配送时间，请回复本短信或致电门店。" * 2
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as s:
        async with s.post(str(server.make_url("/v1/messages")), json={"to": SMS_NUMBER, "text": text}) as resp:
            assert resp.status in (200, 201, 202), await resp.text()
    async with chromium_browser(chromium) as browser:
        for width, height, size in ((1280, 900, "desktop"), (390, 844, "phone")):
            page, problems = await open_page(browser, width, height)
            await page.goto(smsc.http_url)
            await page.locator("input[name=number]").fill(SMS_NUMBER)
            await page.get_by_role("button", name="Open").click()
            sms = page.get_by_test_id("sms").first
            await expect(sms, "the SMS reaches the inbox (the page refreshes itself)").to_be_visible(timeout=20_000)
            segments = sms.get_by_test_id("sms-segment")
            count = await segments.count()
            assert count >= 2  # a long UCS-2 SMS: several segments, each shown
            await expect(sms.get_by_test_id("sms-joined")).to_have_text(f"long SMS: {count} segments joined")
            await expect(segments.first.locator(".seq")).to_have_text(f"1/{count}")
            joined = "".join([await segments.nth(i).locator(".part").inner_text() for i in range(count)])
            await expect(sms.locator(".text")).to_have_text(joined)
            assert "月饼礼盒" in joined
            await page.screenshot(path=str(screenshot_dir / f"sms-{size}-harmony-light-en.png"), full_page=True)
            if size == "desktop":
                await page.get_by_test_id("sms-reply-text").fill("改到周六")
                await page.get_by_test_id("sms-reply-send").click()
                await expect(page.get_by_test_id("sms-mine").last).to_contain_text("改到周六")
            await page.get_by_test_id("look-hyper").click()
            await page.get_by_test_id("theme-dark").click()
            await page.get_by_role("link", name="中文").click()
            await expect(page.locator("body")).to_have_class("look look-hyper dark")
            await expect(sms.get_by_test_id("sms-joined")).to_have_text(f"长短信：由 {count} 条拼接")
            await page.screenshot(path=str(screenshot_dir / f"sms-{size}-hyper-dark-zh.png"), full_page=True)
            assert problems == []
            await page.context.close()
