"""The card editor in a real headless Chromium, against the real app and its sandbox.

Signs in with the tenant's key, builds a three-card carousel with four kinds of actions from a
blank template through the visual editor, watches every preview follow, breaks a limit and undoes
it, saves, submits two versions and diffs them, sends a test and finds it on the virtual handset,
switches language, and takes screenshots at desktop and phone width (kept under
$HONGYAN_SCREENSHOT_DIR/hongyan-editor when that is set, else in a temporary folder).

Skipped (with the reason) when /usr/bin/chromium is missing, except under CI=true where a
missing browser is a failure. Only loopback is reachable: every other request is aborted.
"""

from __future__ import annotations

import json
import os
import re
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.conftest import CHROMIUM_ARGS
from tests.dispatch.conftest import FAST

CAROUSEL = "/message/generalPurposeCardCarousel/content"


@pytest.fixture
def database_url():
    return None  # one run is enough for the browser: the storage paths have their own tests


@pytest.fixture
def screenshot_dir(tmp_path_factory) -> Path:
    keep = os.environ.get("HONGYAN_SCREENSHOT_DIR")
    path = Path(keep) / "hongyan-editor" if keep else tmp_path_factory.mktemp("editor-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    print(f"\neditor screenshots in {path}")
    return path


@pytest.fixture
async def sandbox_app(settings, aiohttp_server, unused_tcp_port_factory):
    """The app with its sandbox MaaP/SMSC on loopback, serving on its settings' port."""
    from dataclasses import replace

    from server import ACCOUNTS, Wiring, create_app

    settings = replace(settings, sandbox=True, port=unused_tcp_port_factory())
    app = create_app(settings, Wiring(dispatch=FAST))
    server = await aiohttp_server(app, port=settings.port)
    _, key = await app[ACCOUNTS].create_tenant("Moon Bakery", signature="【月饼铺】", sms_price="0.045")
    return server, key


@asynccontextmanager
async def chromium_browser(chromium: Path):
    """A headless Chromium for one test, closed after it."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


async def open_page(browser, width: int, height: int):
    """A page that reaches only loopback, and the list its script errors and console errors go to."""
    context = await browser.new_context(viewport={"width": width, "height": height}, locale="en-US")
    await context.route("**/*", loopback_only)
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    return page, problems


async def loopback_only(route):
    host = route.request.url.split("/")[2].split(":")[0] if "://" in route.request.url else ""
    if host in ("127.0.0.1", "localhost") or not route.request.url.startswith("http"):
        await route.continue_()
    else:
        await route.abort()


async def test_editor_end_to_end(chromium, sandbox_app, screenshot_dir, tmp_path):
    from PIL import Image
    from playwright.async_api import async_playwright, expect

    from cards.library import load_library

    photo = tmp_path / "mooncake.png"
    Image.new("RGB", (640, 400), (214, 150, 60)).save(photo)

    server, key = sandbox_app
    base = str(server.make_url("/editor")).rstrip("/")
    expect.set_options(timeout=10_000)

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            page, problems = await open_page(browser, 1440, 900)
            tid = page.get_by_test_id

            # 1. Sign in: a wrong key is refused, the tenant's key opens the editor.
            await page.goto(base)
            await tid("signin-key").fill("hy_wrong")
            await tid("signin-submit").click()
            await expect(tid("signin-error")).to_have_text("This API key is not valid or has been revoked.")
            problems.clear()  # the 401 above is logged by the browser on purpose
            await tid("signin-key").fill(key)
            await tid("signin-submit").click()
            await expect(tid("tenant-name")).to_have_text("Moon Bakery")
            await expect(tid("sandbox-badge")).to_be_visible()

            # 2. A blank template: one vertical card with a title.
            await tid("empty-new").click()
            await tid("new-name").fill("Mid-autumn offer")
            await expect(tid("source-")).to_be_checked()
            # A blank card, text, file or location message, a persistent menu, and the library.
            await expect(tid("new-sources").locator("input[type=radio]")).to_have_count(len(load_library()) + 5)
            await tid("new-create").click()
            await expect(tid("template-name")).to_have_text("Mid-autumn offer")
            await expect(tid("save-state")).to_have_text("Saved ✓")
            phone = page.frame_locator("[data-testid=phone-preview]")
            await expect(phone.locator("h2")).to_have_text("Your title")

            # 3. Build the carousel of three cards in the visual editor.
            await tid("card-0-title").fill("Mooncakes for {{ name }}")
            await expect(tid("var-name-missing")).to_be_visible()
            await tid("var-name").fill("Li Lei")
            await expect(tid("var-name-missing")).to_have_count(0)
            await expect(phone.locator("h2").first).to_have_text("Mooncakes for Li Lei")
            await tid("placeholders").check()
            await expect(phone.locator("h2").first).to_have_text("Mooncakes for {{ name }}")
            await tid("placeholders").uncheck()
            await expect(phone.locator("h2").first).to_have_text("Mooncakes for Li Lei")
            await tid("kind-carousel").click()
            await tid("add-card").click()
            await expect(page.locator(".card-editor[data-path^='/message']")).to_have_count(3)
            await tid("card-1-title").fill("Lotus seed paste")
            await tid("card-2-description").fill("Visit the flagship store")
            await tid("card-2-title").fill("Our shop")
            await expect(phone.locator("article.card")).to_have_count(3)

            # Four kinds of actions: open URL, dial, show location, calendar event (and a reply).
            await tid("card-0-add-button").click()
            await tid("card-0-sg-0-kind").select_option("url")
            await tid("card-0-sg-0-text").fill("Shop now")
            await tid("card-0-sg-0-url").fill("https://shop.example/autumn")
            await tid("card-0-add-button").click()
            await tid("card-0-sg-1-text").fill("Remind me")
            await tid("card-1-add-button").click()
            await tid("card-1-sg-0-kind").select_option("dial")
            await tid("card-1-sg-0-text").fill("Call us")
            await tid("card-1-sg-0-phone").fill("+8610095588")
            await tid("card-2-add-button").click()
            await tid("card-2-sg-0-kind").select_option("location")
            await tid("card-2-sg-0-text").fill("Find the shop")
            await tid("card-2-sg-0-lat").fill("31.2304")
            await tid("card-2-sg-0-lng").fill("121.4737")
            await tid("card-2-sg-0-label").fill("Flagship store")
            await tid("card-2-add-button").click()
            await tid("card-2-sg-1-kind").select_option("calendar")
            await tid("card-2-sg-1-text").fill("Tasting day")
            await tid("card-2-sg-1-start").fill("2026-12-05T10:00")
            await tid("card-2-sg-1-end").fill("2026-12-05T12:00")
            await tid("card-2-sg-1-event-title").fill("Mooncake tasting")

            # An image: uploaded (re-encoded, thumbnailed by the server) and drawn in the preview.
            await tid("card-0-media-file").set_input_files(str(photo))
            await expect(tid("card-0-media-status")).to_contain_text("640×400")
            await expect(tid("card-0-media-url")).to_have_value(re.compile(r"/media/[A-Za-z0-9_-]+$"))
            await expect(phone.locator("article.card img")).to_have_count(1)

            # Every preview follows: phone, SMS (text, parts, cost) and the H5 page.
            await expect(tid("validation-badge")).to_have_text("valid")
            for text in ("Shop now", "Remind me", "Call us", "Find the shop", "Tasting day"):
                await expect(phone.get_by_text(text, exact=True)).to_be_visible()
            await expect(tid("sms-text")).to_contain_text("Mooncakes for Li Lei")
            await expect(tid("sms-text")).to_contain_text("【月饼铺】")
            await expect(tid("sms-encoding")).to_have_text("UCS-2")
            await expect(tid("sms-cost")).to_contain_text("CNY")
            h5 = page.frame_locator("[data-testid=h5-preview]")
            await expect(h5.get_by_text("Lotus seed paste")).to_be_visible()
            await expect(h5.get_by_text("Tasting day")).to_be_visible()
            await tid("preview-theme").click()
            await expect(tid("phone-frame")).to_have_class(re.compile(r"\bdark\b"))
            await tid("phone-frame").screenshot(path=str(screenshot_dir / "phone-preview-dark.png"))
            await tid("preview-theme").click()

            await page.evaluate("document.querySelectorAll('.pane').forEach(p => p.scrollTo(0, 0))")
            drawn = await phone.locator("article.card img").evaluate(
                "img => (img.complete && img.naturalWidth > 0) || new Promise(done => img.onload = () => done(true))"
            )
            assert drawn  # the uploaded image is served from this origin to the sandboxed preview
            await page.screenshot(path=str(screenshot_dir / "desktop-carousel.png"))
            unlabelled = await page.evaluate("""() => [...document.querySelectorAll('input, select, textarea, button')]
                .filter(el => !el.closest('[hidden], dialog:not([open])'))
                .filter(el => !(el.labels?.length || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')
                                || (el.tagName === 'BUTTON' && el.textContent.trim())))
                .map(el => el.outerHTML.slice(0, 120))""")
            assert unlabelled == []  # every control has a name for screen readers

            # The outline lists the cards; selecting a node highlights it in the visual editor.
            await tid("outline-card-2").click()
            await expect(tid("card-2")).to_have_class("card-editor selected")
            # The outline by keyboard: arrows move, Enter selects.
            await tid("outline-card-2").focus()
            await page.keyboard.press("ArrowUp")
            await expect(tid("outline-card-1-sg-0")).to_be_focused()
            await page.keyboard.press("Enter")
            await expect(tid("outline-card-1-sg-0")).to_have_attribute("aria-selected", "true")
            await expect(tid("card-1-sg-0")).to_have_class(re.compile(r"\bselected\b"))
            # Cards reorder by dragging their handle (and back with one undo).
            await page.set_viewport_size({"width": 1440, "height": 3000})  # both ends on screen
            await page.evaluate("document.querySelectorAll('.pane').forEach(p => p.scrollTo(0, 0))")
            handle = await tid(f"drag-{CAROUSEL}/2").bounding_box()
            target = await tid("card-0").locator("h3").bounding_box()
            await page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
            await page.mouse.down()
            await page.mouse.move(handle["x"], handle["y"] + 12, steps=4)
            await page.mouse.move(target["x"] + 10, target["y"] + 5, steps=8)
            await page.mouse.up()
            await expect(tid("card-0-title")).to_have_value("Our shop")
            await expect(phone.locator("h2").first).to_have_text("Our shop")
            await page.keyboard.press("Control+z")
            await expect(tid("card-0-title")).to_have_value("Mooncakes for {{ name }}")
            await page.set_viewport_size({"width": 1440, "height": 900})
            await tid("outline-card-2").click()
            await tid("view-json").click()
            json_text = await tid("json-text").input_value()
            assert '"Lotus seed paste"' in json_text and '"createCalendarEvent"' in json_text
            selected = await tid("json-text").evaluate("t => t.value.slice(t.selectionStart, t.selectionEnd)")
            assert selected.startswith("{") and "Our shop" in selected and "Lotus" not in selected
            await page.screenshot(path=str(screenshot_dir / "desktop-json.png"))

            # The caret in the JSON selects: the outline follows.
            caret = json_text.index('"Lotus seed paste"') + 3
            await tid("json-text").evaluate("(t, i) => { t.focus(); t.setSelectionRange(i, i); }", caret)
            await page.keyboard.press("ArrowRight")
            await expect(tid("outline-card-1-title")).to_have_attribute("aria-selected", "true")
            # An edit in the JSON shows in the preview; broken JSON says where it broke.
            await tid("json-text").fill(json_text.replace('"Our shop"', '"Our flagship shop"'))
            await expect(phone.get_by_text("Our flagship shop")).to_be_visible()
            broken = json_text.replace('"Our shop",', '"Our shop"')
            line = next(i for i, text in enumerate(broken.split("\n")) if '"Visit the flagship store"' in text)
            column = broken.split("\n")[line].index('"') + 1
            await tid("json-text").fill(broken)
            await expect(tid("json-error")).to_have_text(
                f"Line {line + 1}, column {column}: expected ',' or '}}', found '\"'"
            )
            await tid("json-text").fill(json_text)
            await expect(tid("json-error")).to_have_text("")
            await tid("view-visual").click()
            await expect(tid("card-2-title")).to_have_value("Our shop")

            # 4. Break a limit (26 characters on a button), see the error, click it, undo it.
            await tid("card-0-sg-0-text").fill("Shop the whole collection!")
            error = tid("errors").locator("button.issue.error")
            await expect(error).to_have_count(1)
            await expect(error).to_contain_text(f"{CAROUSEL}/0/suggestions/0/action/displayText")
            await expect(tid("submit-version")).to_be_disabled()
            await expect(tid("card-0-sg-0").get_by_test_id("field-error")).to_contain_text("25")
            await expect(tid("card-0-sg-0-text")).to_have_attribute("aria-invalid", "true")
            await tid("card-0-sg-0").scroll_into_view_if_needed()
            await page.screenshot(path=str(screenshot_dir / "desktop-error.png"))
            await tid("card-1-title").focus()
            await error.click()
            await expect(tid("card-0-sg-0-text")).to_be_focused()
            await expect(page.locator(".field.selected [data-testid=card-0-sg-0-text]")).to_have_count(1)
            await page.keyboard.press("Control+z")
            await expect(tid("card-0-sg-0-text")).to_have_value("Shop now")
            await expect(error).to_have_count(0)
            await expect(tid("validation-badge")).to_have_text("valid")
            await page.keyboard.press("Control+Shift+z")
            await expect(tid("card-0-sg-0-text")).to_have_value("Shop the whole collection!")
            await page.keyboard.press("Control+z")
            await expect(tid("card-0-sg-0-text")).to_have_value("Shop now")
            await page.keyboard.press("Control+y")
            await expect(tid("card-0-sg-0-text")).to_have_value("Shop the whole collection!")
            await page.keyboard.press("Control+z")
            await expect(tid("card-0-sg-0-text")).to_have_value("Shop now")

            # 5. Save, submit version 1, change, submit version 2, diff them.
            await tid("save").click()
            await expect(tid("save-state")).to_have_text("Saved ✓")
            await tid("submit-note").fill("first cut")
            await tid("submit-version").click()
            await expect(tid("version-1")).to_contain_text("approved")
            await tid("card-1-title").fill("Lotus seed paste, double yolk")
            await expect(tid("save-state")).to_have_text("Saved ✓")
            await tid("submit-note").fill("double yolk")
            await tid("submit-version").click()
            await expect(tid("version-2")).to_contain_text("double yolk")
            await tid("diff-from").select_option("1")
            await tid("diff-to").select_option("2")
            await tid("diff-run").click()
            change = tid("diff-view").locator(".change")
            await expect(change).to_have_count(1)  # the title; a version's note is no change…
            await expect(tid("diff-notes")).to_have_text("v1 · first cut → v2 · double yolk")  # …but shown
            await expect(tid("diff-view")).to_contain_text(f"/card{CAROUSEL}/1/title")
            await expect(tid("diff-view")).to_contain_text('"Lotus seed paste, double yolk"')
            await tid("versions-panel").screenshot(path=str(screenshot_dir / "desktop-versions-diff.png"))
            # A version can be brought back into the draft, and that is one undo step.
            await tid("restore-1").click()
            await expect(tid("card-1-title")).to_have_value("Lotus seed paste")
            await page.keyboard.press("Control+z")
            await expect(tid("card-1-title")).to_have_value("Lotus seed paste, double yolk")
            await page.screenshot(path=str(screenshot_dir / "desktop-editor.png"))

            # 6. Send a test to a sandbox number and find it on the virtual handset.
            await tid("send-to").fill("+8613800000001")
            await tid("send-test").click()
            await expect(tid("send-status")).to_have_text("Status: read (RCS)", timeout=20_000)
            handset_url = await tid("handset-link").get_attribute("href")
            assert "/handset/message/" in handset_url
            handset = await page.context.new_page()
            await handset.goto(handset_url)
            await expect(handset.locator("body")).to_contain_text("Mooncakes for Li Lei")
            await expect(handset.locator("body")).to_contain_text("Lotus seed paste, double yolk")
            await handset.close()

            # Export, import (a single undo step), duplicate.
            async with page.expect_download() as info:
                await tid("export").click()
            exported = json.loads(Path(await (await info.value).path()).read_text())
            assert exported["name"] == "Mid-autumn offer" and exported["sample"] == {"name": "Li Lei"}
            assert len(exported["card"]["message"]["generalPurposeCardCarousel"]["content"]) == 3
            await tid("import").click()
            await tid("import-text").fill(
                json.dumps(
                    {
                        "message": {
                            "generalPurposeCard": {
                                "layout": {"cardOrientation": "VERTICAL"},
                                "content": {"title": "Imported card"},
                            }
                        }
                    }
                )
            )
            await tid("import-apply").click()
            await expect(phone.locator("article.card")).to_have_count(1)
            await expect(phone.locator("h2")).to_have_text("Imported card")
            await expect(tid("kind-single")).to_have_attribute("aria-pressed", "true")
            await page.keyboard.press("Control+z")
            await expect(phone.locator("article.card")).to_have_count(3)
            await tid("duplicate").click()
            await tid("dup-name").fill("Mid-autumn offer B")
            await tid("dup-create").click()
            await expect(tid("template-name")).to_have_text("Mid-autumn offer B")
            await expect(tid("card-1-title")).to_have_value("Lotus seed paste, double yolk")
            await expect(tid("template-item")).to_have_count(2)
            await tid("template-filter").fill(" b")
            await expect(tid("template-item").locator("visible=true")).to_have_count(1)
            await tid("template-filter").fill("")

            # 7. Switch the language; the choice survives a reload.
            await tid("lang-switch").click()
            await expect(tid("save")).to_have_text("保存")
            await expect(tid("card-0")).to_contain_text("卡片 1")
            await page.reload()
            await expect(tid("tenant-name")).to_have_text("Moon Bakery")
            await expect(tid("signout")).to_have_text("退出")
            await expect(tid("template-name")).to_have_text("Mid-autumn offer B")  # the address keeps it open
            assert "/editor/t/" in page.url
            await tid("template-item").filter(has=page.get_by_text("Mid-autumn offer", exact=True)).click()
            await expect(tid("template-name")).to_have_text("Mid-autumn offer")
            await expect(phone.locator("h2").first).to_have_text("Mooncakes for Li Lei")
            await expect(tid("validation-badge")).to_have_text("通过")
            await page.screenshot(path=str(screenshot_dir / "desktop-zh.png"))

            # A tablet: the previews move below the editor.
            await page.set_viewport_size({"width": 1024, "height": 768})
            assert await page.evaluate("document.documentElement.scrollWidth") <= 1024
            await page.screenshot(path=str(screenshot_dir / "tablet.png"))

            # 8. Phone width: panes become tabs, nothing overflows sideways.
            await page.set_viewport_size({"width": 390, "height": 844})
            for pane in ("centre", "right", "left"):
                await tid(f"tab-{pane}").click()
                width = await page.evaluate("document.documentElement.scrollWidth")
                assert width <= 390, f"{pane} pane overflows: {width}px"
                await page.screenshot(path=str(screenshot_dir / f"phone-{pane}.png"), full_page=True)
            await tid("tab-right").click()
            await tid("h5-preview").scroll_into_view_if_needed()
            await expect(h5.get_by_text("Lotus seed paste, double yolk")).to_be_visible()
            await page.screenshot(path=str(screenshot_dir / "phone-right-h5.png"))

            # 9. Sign out: the session is gone.
            await tid("tab-centre").click()
            await tid("signout").click()
            await expect(tid("signin-form")).to_be_visible()
            await page.reload()
            await expect(tid("signin-form")).to_be_visible()
            assert [p for p in problems if "401" not in p] == [], "\n".join(sorted(set(problems)))
        finally:
            await browser.close()


async def test_library_start_and_leaving_with_unsaved_edits(chromium, sandbox_app, screenshot_dir):
    """A template from the library opens with its sample; leaving with unsaved edits warns."""
    from playwright.async_api import async_playwright, expect

    from cards.library import load_library

    server, key = sandbox_app
    bill = load_library()["monthly_bill"]
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            # A browser that prefers Chinese gets the Chinese UI.
            context = await browser.new_context(
                viewport={"width": 390, "height": 844},
                locale="zh-CN",
                is_mobile=True,
                has_touch=True,
                color_scheme="dark",
            )
            await context.route("**/*", loopback_only)
            page = await context.new_page()
            problems: list[str] = []
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            page.on(
                "console",
                lambda msg: (
                    problems.append(f"console {msg.type}: {msg.text}")
                    if msg.type == "error" and "401" not in msg.text
                    else None
                ),
            )
            tid = page.get_by_test_id
            await page.goto(str(server.make_url("/editor")))
            await expect(tid("signin-submit")).to_have_text("登录")
            await page.screenshot(path=str(screenshot_dir / "phone-signin.png"))
            await tid("signin-key").fill(key)
            await tid("signin-submit").click()
            await tid("empty-new").click()
            await tid("new-name").fill("账单")
            await tid("source-monthly_bill").check()
            await tid("new-create").click()
            await expect(tid("template-name")).to_have_text("账单")
            await expect(tid("save-state")).to_have_text("已保存 ✓")
            # Its sample fills the variables; the preview shows them.
            await expect(tid("var-name")).to_have_value(bill.sample["name"])
            await tid("tab-right").click()
            phone = page.frame_locator("[data-testid=phone-preview]")
            await expect(phone.locator("h2")).to_contain_text(bill.sample["month"])
            await expect(tid("validation-badge")).to_have_text("通过")
            await page.screenshot(path=str(screenshot_dir / "phone-dark-preview.png"))
            await tid("tab-centre").click()
            await page.screenshot(path=str(screenshot_dir / "phone-dark-edit.png"))
            await tid("card-0-title").fill("{{ month }}账单")
            await expect(tid("save-state")).to_have_text("未保存")
            warned = []

            async def on_dialog(dialog):
                warned.append(dialog.type)
                await dialog.dismiss()  # stay on the page

            page.on("dialog", on_dialog)
            await page.close(run_before_unload=True)
            await expect(tid("save-state")).to_have_text("已保存 ✓")
            assert warned == ["beforeunload"]
            # The library card's media is remote: drawn as a placeholder, never fetched.
            assert problems == [], problems
        finally:
            await browser.close()


STATIC = Path(__file__).resolve().parents[2] / "editor" / "static"
# Keys built at run time from a value: every value the editor can meet has a string.
DYNAMIC = {
    "kind": ["reply", "url", "dial", "location", "calendar", "compose", "location_push"],
    "msg": [
        "accepted",
        "scheduled",
        "queued",
        "rcs_sent",
        "rcs_delivered",
        "rcs_read",
        "fallback_pending",
        "sms_sent",
        "sms_delivered",
        "sms_failed",
        "rejected",
        "revoked",
        "expired",
        "failed",
    ],
    "status": ["approved", "in_review", "rejected"],
    "diff": ["add", "remove", "replace"],
    "save": ["saved", "unsaved", "saving", "failed"],
    "traffic": ["notification", "marketing", "otp"],
    "orientation": ["VERTICAL", "HORIZONTAL"],
    "alignment": ["LEFT", "RIGHT"],
    "width": ["SMALL_WIDTH", "MEDIUM_WIDTH"],
    "height": ["SHORT_HEIGHT", "MEDIUM_HEIGHT", "TALL_HEIGHT"],
    "style": ["bold", "italics", "underline", "bold.short", "italics.short", "underline.short"],
    "datum": ["gcj02", "wgs84"],
    "visual": ["move_up", "move_down", "remove", "card", "button"],
}


def test_every_string_is_translated():
    """Both locales hold the same keys, and every key the shell and the modules use exists."""
    en = json.loads((STATIC / "i18n" / "en.json").read_text())
    zh = json.loads((STATIC / "i18n" / "zh-CN.json").read_text())
    assert en.keys() == zh.keys()
    assert all(isinstance(v, str) and v for v in [*en.values(), *zh.values()])
    used = set(re.findall(r'data-i18n(?:-aria|-title|-placeholder)?="([\w.]+)"', (STATIC / "index.html").read_text()))
    for module in (STATIC / "js").glob("*.js"):
        used |= set(re.findall(r"\bt\('([\w.]+)'", module.read_text()))
    used |= {f"{prefix}.{name}" for prefix, names in DYNAMIC.items() for name in names}
    assert sorted(used - en.keys()) == []
    # The same placeholders on both sides: a translation never drops a value.
    for key in en:
        assert set(re.findall(r"\{(\w+)\}", en[key])) == set(re.findall(r"\{(\w+)\}", zh[key])), key
