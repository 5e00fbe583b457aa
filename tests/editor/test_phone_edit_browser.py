"""Editing on the phone (issue 17): in a real headless Chromium a designer builds the monthly
bill, a three-card product carousel and a store-locator card with a map and a dial button only by
clicking the palette and the phone preview and typing words into fields — no JSON, no braces —
and each is submitted as a version (the server finds it valid). Clicking the phone preview
selects and focuses what was clicked; the variables picker puts `{{ name }}` at the caret, from
the sample and the tenant's contact attributes; a variable without a sample value is a finding.

Screenshots at desktop and 390×844, light and dark, English and Chinese.
Skipped when /usr/bin/chromium is missing, except under CI=true (see tests/conftest.py)."""

from __future__ import annotations

import json
import re

import pytest
from PIL import Image

from tests.editor.test_browser import (  # noqa: F401
    chromium_browser,
    loopback_only,
    sandbox_app,
    screenshot_dir,
)
from tests.editor.test_defects_browser import signed_in_new_template

SINGLE = "/message/generalPurposeCard/content"
CAROUSEL = "/message/generalPurposeCardCarousel/content"


@pytest.fixture
def database_url():
    return None  # the browser's behaviour does not depend on the storage


async def insert_variable(page, name: str, *, new: bool = False) -> None:
    """Open the picker and insert `name` at the caret of the field last edited."""
    tid = page.get_by_test_id
    await tid("palette-variables").click()
    if new:
        await tid("var-new-name").fill(name)
        await tid("var-new-add").click()
    else:
        await tid(f"var-pick-{name}").click()


async def new_template(page, name: str) -> None:
    from playwright.async_api import expect

    tid = page.get_by_test_id
    await tid("new-template").click()
    await tid("new-name").fill(name)
    await tid("new-create").click()
    await expect(tid("template-name")).to_have_text(name)
    await expect(tid("save-state")).to_have_text("Saved ✓")


async def submit(page, note: str) -> dict:
    """Save, submit a version (only a valid card can be) and return the card as the JSON view shows it."""
    from playwright.async_api import expect

    tid = page.get_by_test_id
    await expect(tid("validation-badge")).to_have_text("valid")
    if await tid("save").is_enabled():  # (else saved already on its own)
        await tid("save").click()
    await expect(tid("save-state")).to_have_text("Saved ✓")
    await tid("submit-note").fill(note)
    await tid("submit-version").click()
    await expect(tid("version-1")).to_contain_text(note)
    await tid("view-json").click()
    card = json.loads(await tid("json-text").input_value())
    await tid("view-visual").click()
    return card


async def test_a_designer_builds_three_cards_by_clicking_and_typing(chromium, sandbox_app, screenshot_dir, tmp_path):  # noqa: F811
    from playwright.async_api import expect

    expect.set_options(timeout=10_000)
    server, key = sandbox_app
    photo = tmp_path / "phone.png"
    Image.new("RGB", (640, 400), (40, 90, 160)).save(photo)
    async with chromium_browser(chromium) as browser:
        page, problems = await signed_in_new_template(browser, server, key, "Monthly bill")
        tid = page.get_by_test_id
        phone = page.frame_locator("[data-testid=phone-preview]")
        typed: list[str] = []  # everything the designer types, to show no braces were among it

        async def type_into(testid: str, text: str) -> None:
            typed.append(text)
            await tid(testid).fill(text)

        async def keys(text: str) -> None:
            typed.append(text)
            await page.keyboard.type(text)

        # (a) The monthly bill: "{{ month }}账单已出：{{ total }}".
        await type_into("card-0-title", "账单已出：")
        await tid("card-0-title").press("Home")
        await insert_variable(page, "month", new=True)
        await expect(tid("card-0-title")).to_have_value("{{ month }}账单已出：")
        await expect(tid("card-0-title")).to_be_focused()
        await page.keyboard.press("End")
        await insert_variable(page, "total", new=True)
        await expect(tid("card-0-title")).to_have_value("{{ month }}账单已出：{{ total }}")
        # Without sample values the card is not called valid: each missing one is a finding.
        await expect(tid("validation-badge")).not_to_have_text("valid")
        finding = page.locator(f"[data-testid^=error-][data-path='{SINGLE}/title']")
        await expect(finding.locator(".issue-message")).to_have_text(
            [
                "no sample value for {{ month }}: give one under Variables",
                "no sample value for {{ total }}: give one under Variables",
            ]
        )
        await expect(tid("var-month-missing")).to_be_visible()
        await type_into("var-month", "2026年10月")
        await type_into("var-total", "¥158.40")
        await expect(finding).to_have_count(0)

        await tid("card-0-description").click()
        await keys("尊敬的")
        await insert_variable(page, "name", new=True)
        await keys("：请于")
        await insert_variable(page, "due", new=True)
        await keys("前缴费，逾期可能影响使用。")
        await expect(tid("card-0-description")).to_have_value(
            "尊敬的{{ name }}：请于{{ due }}前缴费，逾期可能影响使用。"
        )
        await type_into("var-name", "李女士")
        await type_into("var-due", "2026-11-20")

        await tid("palette-button-url").click()
        await expect(tid("card-0-sg-0-text")).to_be_focused()
        await keys("立即缴费")
        await type_into("card-0-sg-0-url", "https://pay.hongyan.example/bill/")
        await insert_variable(page, "bill_id", new=True)
        await type_into("var-bill_id", "B20261001")
        await tid("palette-button-reply").click()
        await expect(tid("card-0-sg-1-text")).to_be_focused()
        await keys("账单有疑问")
        # A chip under the message: the dial button to customer service.
        await tid("palette-to-chips").click()
        await tid("palette-button-dial").click()
        await expect(tid("chip-0-text")).to_be_focused()
        await keys("人工客服")
        await type_into("chip-0-phone", "10000")
        await expect(phone.locator("h2")).to_have_text("2026年10月账单已出：¥158.40")
        await expect(phone.locator(".sg")).to_have_text(["立即缴费", "账单有疑问", "人工客服"])
        await page.screenshot(path=str(screenshot_dir / "phone-edit-bill-desktop-en-light.png"))
        bill = await submit(page, "bill")
        content = bill["message"]["generalPurposeCard"]["content"]
        assert content["title"] == "{{ month }}账单已出：{{ total }}"
        assert content["suggestions"][0]["action"]["urlAction"]["openUrl"]["url"].endswith("/bill/{{ bill_id }}")
        assert content["suggestions"][1]["reply"]["displayText"] == "账单有疑问"
        assert bill["suggestions"][0]["action"]["dialerAction"]["dialPhoneNumber"]["phoneNumber"] == "10000"

        # (b) A three-card product carousel: the palette's Card turns the card into a carousel.
        await new_template(page, "Phones")
        await tid("palette-card").click()
        await tid("palette-card").click()
        await expect(phone.locator("article.card")).to_have_count(3)
        products = [
            ("鸿雁 X1", "6.7 英寸，256 GB", "¥3999"),
            ("鸿雁 X1 Pro", "一亿像素", "¥4999"),
            ("鸿雁 Lite", "轻薄长续航", "¥1999"),
        ]
        for i, (name, words, price) in enumerate(products):
            # Click the card on the phone: its title field is focused.
            await phone.locator("article.card").nth(i).click(position={"x": 20, "y": 10})
            await expect(tid(f"card-{i}-title")).to_be_focused()
            await tid(f"card-{i}-title").select_text()
            await keys(name)
            await type_into(f"card-{i}-description", f"{words}，{price}")
            await tid("palette-media").click()
            await tid(f"card-{i}-media-file").set_input_files(str(photo))
            await expect(tid(f"card-{i}-media-status")).to_contain_text("640")
            await tid("palette-button-url").click()
            await expect(tid(f"card-{i}-sg-0-text")).to_be_focused()
            await keys("立即购买")
            await type_into(f"card-{i}-sg-0-url", f"https://shop.hongyan.example/p/{i + 1}")
        await expect(phone.locator("article.card h2")).to_have_text([p[0] for p in products])
        await expect(phone.locator("article.card img")).to_have_count(3)
        # Reorder by the drag handle, as a person moves the mouse: the third card to the top.
        card2 = f"{CAROUSEL}/2"
        # (Cards with media are tall: the third card's head just below the second card's foot.)
        await page.evaluate(
            "document.querySelector('[data-testid=card-2]').scrollIntoView({block: 'start'});"
            "document.querySelector('.pane-centre').scrollBy(0, -400)"
        )
        src = await tid(f"drag-{card2}").bounding_box()
        dst = await tid("card-1").bounding_box()
        palette = await tid("palette").bounding_box()
        assert src and dst and palette
        assert src["y"] < palette["y"] and dst["y"] + dst["height"] - 30 > 0  # the docked palette hides neither
        await page.mouse.move(src["x"] + src["width"] / 2, src["y"] + src["height"] / 2)
        await page.mouse.down()
        await page.mouse.move(src["x"], src["y"] - 20, steps=4)
        await page.mouse.move(dst["x"] + dst["width"] / 2, dst["y"] + dst["height"] - 30, steps=8)
        await page.mouse.up()
        await expect(phone.locator("article.card h2")).to_have_text(["鸿雁 X1", "鸿雁 Lite", "鸿雁 X1 Pro"])
        # Editing the third card's title shows the third card on the phone (the strip scrolls to it).
        await tid("card-2-title").click()
        await expect(phone.locator("article.card").nth(2)).to_be_in_viewport()
        await expect(phone.locator("article.card h2").nth(2)).to_have_class(re.compile("hy-selected"))
        await page.screenshot(path=str(screenshot_dir / "phone-edit-carousel-desktop-en-light.png"))
        carousel = await submit(page, "phones")
        cards = carousel["message"]["generalPurposeCardCarousel"]["content"]
        assert [c["title"] for c in cards] == ["鸿雁 X1", "鸿雁 Lite", "鸿雁 X1 Pro"]
        assert all(c["media"]["mediaUrl"].startswith(str(server.make_url("/media/"))) for c in cards)

        # (c) A store-locator card with a map button and a dial button.
        await new_template(page, "Stores")
        await type_into("card-0-title", "离您最近的门店")
        await type_into("card-0-description", "鸿雁旗舰店 · 南京东路 100 号，10:00–22:00")
        await tid("palette-button-location").click()
        await keys("查看地图")
        await type_into("card-0-sg-0-label", "鸿雁旗舰店")
        await tid("palette-button-dial").click()
        await keys("致电门店")
        await type_into("card-0-sg-1-phone", "400-820-8820")
        await expect(phone.locator(".sg")).to_have_text(["查看地图", "致电门店"])
        stores = await submit(page, "stores")
        actions = [s["action"] for s in stores["message"]["generalPurposeCard"]["content"]["suggestions"]]
        assert actions[0]["mapAction"]["showLocation"]["location"]["label"] == "鸿雁旗舰店"
        assert actions[1]["dialerAction"]["dialPhoneNumber"]["phoneNumber"] == "400-820-8820"

        assert not [t for t in typed if "{" in t or "}" in t], typed
        assert not problems, problems


async def test_clicking_the_phone_preview_selects_and_focuses_the_element(chromium, sandbox_app, screenshot_dir):  # noqa: F811
    from playwright.async_api import expect

    expect.set_options(timeout=10_000)
    server, key = sandbox_app
    async with chromium_browser(chromium) as browser:
        page, problems = await signed_in_new_template(browser, server, key, "Clicks")
        tid = page.get_by_test_id
        phone = page.frame_locator("[data-testid=phone-preview]")
        await tid("card-0-title").fill("Alpha")
        await tid("card-0-description").fill("The first card")
        await tid("palette-media").click()
        await tid("palette-button-reply").click()
        await page.keyboard.type("Yes please")
        await tid("palette-to-chips").click()
        await tid("palette-button-url").click()
        await page.keyboard.type("Our site")
        await tid("palette-card").click()  # a carousel of two now
        await expect(phone.locator("article.card")).to_have_count(2)
        await tid("card-1-title").fill("Bravo")
        await tid("add-menu").click()
        await expect(phone.locator("nav.menu .sg")).to_have_count(1)

        # Hovering outlines what a click would select.
        await phone.locator("article.card h2").first.hover()
        await expect(phone.locator("article.card h2").first).to_have_class(re.compile("hy-hover"))
        cases = [
            (phone.locator("article.card h2").first, "card-0-title"),
            (phone.locator("article.card p").first, "card-0-description"),
            (phone.locator("article.card .media").first, "card-0-media-url"),
            (phone.locator("article.card .actions .sg").first, "card-0-sg-0-text"),
            (phone.locator("nav.chips .sg").first, "chip-0-text"),
            (phone.locator("article.card").nth(1), "card-1-title"),
            (phone.locator("nav.menu .sg").first, "menu-0-text"),
        ]
        for target, field in cases:
            await tid("card-0-title").focus()  # somewhere else first
            await target.click()
            await expect(tid(field)).to_be_focused()
            await expect(tid(field)).to_be_in_viewport()
            # …and not under the palette docked at the pane's foot.
            box, dock = await tid(field).bounding_box(), await tid("palette").bounding_box()
            assert box and dock and box["y"] + box["height"] <= dock["y"] + 1, (field, box, dock)
        # The selection is outlined on the phone too.
        await phone.locator("article.card h2").nth(1).click()
        await expect(phone.locator("article.card h2").nth(1)).to_have_class(re.compile("hy-selected"))
        # From the JSON view, a click on the phone comes back to the visual editor.
        await tid("view-json").click()
        await phone.locator("article.card h2").first.click()
        await expect(tid("card-0-title")).to_be_focused()
        await page.screenshot(path=str(screenshot_dir / "phone-edit-clicks-desktop.png"))
        assert not problems, problems

        # At 390×844 a click on the preview pane opens the edit pane at the field.
        context = page.context
        small = await context.new_page()
        await small.set_viewport_size({"width": 390, "height": 844})
        await small.goto(page.url)
        stid = small.get_by_test_id
        await stid("tab-right").click()
        await small.frame_locator("[data-testid=phone-preview]").locator("article.card h2").nth(1).click()
        await expect(stid("card-1-title")).to_be_focused()
        await expect(stid("card-1-title")).to_be_in_viewport()


async def test_the_variables_picker_offers_sample_and_contact_attributes(chromium, sandbox_app, screenshot_dir):  # noqa: F811
    from aiohttp import ClientSession
    from playwright.async_api import expect

    expect.set_options(timeout=10_000)
    server, key = sandbox_app
    async with ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:
        made = await http.post(
            server.make_url("/v1/contacts"),
            json={"phone": "+8613800138001", "attributes": {"city": "杭州", "plan": "5G"}},
        )
        assert made.status == 201, await made.text()
    async with chromium_browser(chromium) as browser:
        page, problems = await signed_in_new_template(browser, server, key, "Picker")
        tid = page.get_by_test_id
        await tid("card-0-title").fill("Hello ")
        await insert_variable(page, "name", new=True)
        await expect(tid("card-0-title")).to_have_value("Hello {{ name }}")
        await tid("var-name").fill("Li")
        # The picker lists the sample's names (with their values) and the contacts' attribute names.
        await tid("card-0-description").fill("Your city: ")
        await tid("palette-variables").click()
        await expect(tid("var-pick-name")).to_contain_text("Li")
        await expect(tid("var-attributes").locator("button")).to_have_text([re.compile("city"), re.compile("plan")])
        await tid("var-pick-city").click()
        await expect(tid("card-0-description")).to_have_value("Your city: {{ city }}")
        # A name that is not a variable name is refused with a reason.
        await tid("palette-variables").click()
        await tid("var-new-name").fill("due date")
        await tid("var-new-add").click()
        await expect(tid("var-error")).to_be_visible()
        await page.keyboard.press("Escape")  # closes the picker, back in the field
        await expect(tid("variable-picker")).to_have_count(0)
        await expect(tid("card-0-description")).to_be_focused()
        # {{ city }} has no sample value: Checks says so, in the chosen language, at the field.
        finding = page.locator(f"[data-testid^=error-][data-path='{SINGLE}/description']")
        await expect(finding.locator(".issue-message")).to_have_text(
            "no sample value for {{ city }}: give one under Variables"
        )
        await tid("lang-switch").click()
        await expect(finding.locator(".issue-message")).to_have_text("变量 {{ city }} 没有示例值：请在“变量”中填写")
        await expect(tid("validation-badge")).not_to_have_text("通过")
        await page.screenshot(path=str(screenshot_dir / "phone-edit-missing-sample-zh.png"))
        await finding.click()
        await expect(tid("card-0-description")).to_be_focused()
        await tid("var-city").fill("杭州")
        await expect(tid("validation-badge")).to_have_text("通过")
        await tid("lang-switch").click()
        assert not problems, problems


@pytest.mark.parametrize("width,height", [(1440, 900), (390, 844)])
async def test_palette_and_picker_screenshots(chromium, sandbox_app, screenshot_dir, width, height):  # noqa: F811
    """The palette, the picker and the preview's selection outline, light and dark, en and zh."""
    from playwright.async_api import expect

    expect.set_options(timeout=10_000)
    server, key = sandbox_app
    async with chromium_browser(chromium) as browser:
        page, problems = await signed_in_new_template(browser, server, key, "Shots", width=1440, height=900)
        tid = page.get_by_test_id
        await tid("card-0-title").fill("月饼礼盒 ")
        await insert_variable(page, "name", new=True)
        await tid("palette-media").click()
        await tid("palette-button-url").click()
        await page.keyboard.type("立即购买")
        await tid("palette-button-dial").click()
        await page.keyboard.type("致电")
        await tid("card-0-sg-1-phone").fill("400-820-8820")
        if await tid("save").is_enabled():
            await tid("save").click()
        await expect(tid("save-state")).to_have_text("Saved ✓")
        url = page.url
        state = await page.context.storage_state()
        for lang, scheme in [("en", "light"), ("zh-CN", "dark"), ("en", "dark"), ("zh-CN", "light")]:
            context = await browser.new_context(
                viewport={"width": width, "height": height}, locale=lang, color_scheme=scheme, storage_state=state
            )
            await context.route("**/*", loopback_only)
            shot = await context.new_page()
            await shot.add_init_script("localStorage.removeItem('hongyan.editor.locale')")
            await shot.goto(url)
            stid = shot.get_by_test_id
            await expect(stid("palette")).to_be_visible() if width > 900 else await stid("tab-centre").click()
            await expect(stid("palette-card")).to_be_visible()
            await stid("card-0-title").click()
            await stid("palette-variables").click()
            await expect(stid("variable-picker")).to_be_visible()
            name = f"phone-edit-palette-{width}-{lang}-{scheme}.png"
            await shot.screenshot(path=str(screenshot_dir / name))
            if width < 900:
                await stid("tab-right").click()
            frame = shot.frame_locator("[data-testid=phone-preview]")
            await frame.locator(".actions .sg").first.hover()
            await shot.screenshot(path=str(screenshot_dir / f"phone-edit-preview-{width}-{lang}-{scheme}.png"))
            await context.close()
        assert not problems, problems
