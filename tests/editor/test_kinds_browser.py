"""The message kinds besides cards in a real headless Chromium, against the real app and its
sandbox: a designer creates a location message (coordinates, label, datum, checked as typed), a
file message (an image uploaded into the media library, another picked from it, the file named)
and a text message, each with a chip list; the visual view, the outline and the JSON stay in
sync; the phone, SMS and H5 previews follow; each is saved, submitted as a version and sent as a
test to the sandbox, where the virtual handset shows what arrived. Screenshots as in
test_browser.py.

Skipped like the other browser tests when Chromium is missing (a failure under CI=true)."""

from __future__ import annotations

import json
import re

import pytest

from tests.editor.test_browser import chromium_browser, open_page, sandbox_app, screenshot_dir  # noqa: F401  (fixtures)

LOCATION = "/message/location"


@pytest.fixture
def database_url():
    return None  # one run is enough for the browser: the storage paths have their own tests


async def new_template(page, name: str, source: str, *, opened: bool = False) -> None:
    from playwright.async_api import expect

    tid = page.get_by_test_id
    if not opened:
        await tid("new-template").click()
    await tid("new-name").fill(name)
    await tid(f"source-{source}").check()
    await tid("new-create").click()
    await expect(tid("template-name")).to_have_text(name)
    await expect(tid("save-state")).to_have_text("Saved ✓")


async def add_chip(page, text: str) -> None:
    tid = page.get_by_test_id
    n = await page.locator("[data-testid^=chip-][data-testid$=-kind]").count()
    await tid("add-chip").click()
    await tid(f"chip-{n}-text").fill(text)


async def submit_and_send(page, name: str, expect_on_handset: list[str]) -> None:
    """Save, submit version 1, send a test to a sandbox number and read it on the handset."""
    from playwright.async_api import expect

    tid = page.get_by_test_id
    await page.keyboard.press("Control+s")  # saved already, or now
    await expect(tid("save-state")).to_have_text("Saved ✓")
    await expect(tid("submit-version")).to_be_enabled()
    await tid("submit-version").click()
    await expect(tid("version-1")).to_contain_text("approved")
    await tid("send-to").fill("+8613800000002")
    await tid("send-test").click()
    await expect(tid("send-status")).to_have_text("Status: read (RCS)", timeout=20_000)
    handset = await page.context.new_page()
    await handset.goto(await tid("handset-link").get_attribute("href"))
    for text in expect_on_handset:
        await expect(handset.locator("body")).to_contain_text(text)
    await handset.close()
    await expect(tid("template-item").filter(has_text=name)).to_contain_text("version 1")


async def test_location_file_and_text_messages(chromium, sandbox_app, screenshot_dir, tmp_path):  # noqa: F811
    from PIL import Image
    from playwright.async_api import expect

    photos = []
    for name, colour in (("menu.png", (214, 150, 60)), ("lantern.png", (200, 30, 40))):
        photos.append(tmp_path / name)
        Image.new("RGB", (640, 400), colour).save(photos[-1])

    server, key = sandbox_app
    expect.set_options(timeout=10_000)
    async with chromium_browser(chromium) as browser:
        page, problems = await open_page(browser, 1440, 1000)
        tid = page.get_by_test_id
        phone = page.frame_locator("[data-testid=phone-preview]")
        h5 = page.frame_locator("[data-testid=h5-preview]")
        await page.goto(str(server.make_url("/editor")))
        await tid("signin-key").fill(key)
        await tid("signin-submit").click()
        await expect(tid("tenant-name")).to_have_text("Moon Bakery")

        # 1. "New" lists the kinds: a location message starts on a place, in GCJ-02.
        await tid("empty-new").click()
        for source in ("", "text-message", "file-message", "location-message", "persistent-menu"):
            await expect(tid(f"source-{source}")).to_be_visible()
        await tid("new-dialog").screenshot(path=str(screenshot_dir / "new-dialog.png"))
        await new_template(page, "Flagship shop", "location-message", opened=True)
        await expect(tid("kind-location")).to_have_attribute("aria-pressed", "true")
        await expect(tid("location-datum")).to_have_value("gcj02")
        await expect(phone.locator("article.card.location h2")).to_have_text("Our shop")

        # Checked as typed: a latitude out of range and a label over 100 characters are
        # marked under their fields, and the message cannot be submitted.
        await tid("location-lat").fill("95")
        await tid("location-label").fill("月" * 101)
        lat_error = tid("location-message").locator(".field:has([data-testid=location-lat]) [data-testid=field-error]")
        await expect(lat_error).to_contain_text("outside -90…90")
        label_error = tid("location-message").locator(
            ".field:has([data-testid=location-label]) [data-testid=field-error]"
        )
        await expect(label_error).to_contain_text("the limit is 100")
        await expect(tid("location-lat")).to_have_attribute("aria-invalid", "true")
        await expect(tid("location-message").locator(".counter.over")).to_have_text("101/100")
        await expect(tid("validation-badge")).to_have_text("2 error(s)")
        await expect(tid("submit-version")).to_be_disabled()
        await tid("location-message").screenshot(path=str(screenshot_dir / "location-errors.png"))
        await tid("location-lat").fill("31.2304")
        await tid("location-lng").fill("121.4737")
        await tid("location-label").fill("Moon Bakery, People's Square")
        await tid("location-datum").select_option("wgs84")
        await expect(tid("validation-badge")).to_have_text("valid")
        await add_chip(page, "Opening hours")
        await add_chip(page, "Call the shop")
        await tid("chip-1-kind").select_option("dial")
        await tid("chip-1-phone").fill("+862150001234")

        # Every preview follows.
        await expect(phone.locator("article.card.location h2")).to_have_text("Moon Bakery, People's Square")
        await expect(phone.locator(".coordinates")).to_have_text("31.230400, 121.473700")
        await expect(phone.get_by_text("Opening hours", exact=True)).to_be_visible()
        await expect(tid("sms-text")).to_contain_text("Moon Bakery, People's Square")
        await expect(tid("sms-text")).to_contain_text("【月饼铺】")
        await expect(h5.locator("article.card.location h2")).to_have_text("Moon Bakery, People's Square")
        await expect(h5.get_by_text("Call the shop")).to_be_visible()
        await expect(h5.locator("article.card.location a")).to_have_text("Open the map")

        # The outline and the JSON follow too, and an edit in the JSON comes back.
        await expect(tid("outline-message")).to_contain_text("Location")
        await expect(tid("outline-location-datum")).to_contain_text("WGS-84")
        await tid("outline-location-label").click()
        await expect(page.locator(".field.selected [data-testid=location-label]")).to_have_count(1)
        await tid("view-json").click()
        doc = json.loads(await tid("json-text").input_value())
        assert doc["message"] == {
            "location": {
                "latitude": 31.2304,
                "longitude": 121.4737,
                "label": "Moon Bakery, People's Square",
                "crs": "wgs84",
            }
        }
        assert [s.get("reply", s.get("action"))["displayText"] for s in doc["suggestions"]] == [
            "Opening hours",
            "Call the shop",
        ]
        selected = await tid("json-text").evaluate("t => t.value.slice(t.selectionStart, t.selectionEnd)")
        assert selected == '"label": "Moon Bakery, People\'s Square"'
        doc["message"]["location"]["label"] = "Moon Bakery flagship"
        await tid("json-text").fill(json.dumps(doc, indent=2, ensure_ascii=False))
        await expect(phone.locator("article.card.location h2")).to_have_text("Moon Bakery flagship")
        await tid("view-visual").click()
        await expect(tid("location-label")).to_have_value("Moon Bakery flagship")
        await expect(tid("location-datum")).to_have_value("wgs84")
        await page.evaluate("document.querySelectorAll('.pane').forEach(p => p.scrollTo(0, 0))")
        await page.screenshot(path=str(screenshot_dir / "desktop-location.png"))
        await tid("h5-preview").scroll_into_view_if_needed()
        await page.screenshot(path=str(screenshot_dir / "desktop-location-h5.png"))
        await submit_and_send(page, "Flagship shop", ["📍 Moon Bakery flagship", "Opening hours", "Call the shop"])

        # 2. A file message: nothing chosen yet; an upload goes to the media library and
        # becomes the file, named after the uploaded file.
        await new_template(page, "Autumn menu", "file-message")
        await expect(tid("kind-file")).to_have_attribute("aria-pressed", "true")
        await expect(tid("file-none")).to_be_visible()
        await expect(tid("file-message").get_by_test_id("field-error")).to_have_text(
            "mediaUrl, mediaContentType, mediaFileSize: required"
        )
        await tid("file-library-toggle").click()
        await expect(tid("library-empty")).to_be_visible()
        await tid("file-upload-file").set_input_files(str(photos[0]))
        await expect(tid("file-upload-status")).to_contain_text("640×400")
        await expect(tid("file-name")).to_have_value("menu.png")
        await expect(tid("file-type")).to_have_text(re.compile(r"^image/"))
        await tid("file-upload-file").set_input_files(str(photos[1]))
        await expect(tid("file-name")).to_have_value("menu.png")  # a name given stays
        await tid("file-name").fill("autumn-menu.png")
        # Both uploads are in the library, still open; pick the first back (newest first:
        # it is the second).
        await expect(tid("library-item")).to_have_count(2)
        await expect(tid("library-item").nth(0)).to_have_attribute("aria-pressed", "true")
        await tid("file-message").screenshot(path=str(screenshot_dir / "file-library.png"))
        await tid("library-item").nth(1).click()
        await expect(tid("file-library")).to_have_count(0)  # the picker closes
        await expect(tid("file-name")).to_have_value("autumn-menu.png")
        await add_chip(page, "Order now")
        await expect(tid("validation-badge")).to_have_text("valid")
        await expect(phone.locator("article.card.file .file-name")).to_have_text("autumn-menu.png")
        await expect(phone.get_by_text("Order now", exact=True)).to_be_visible()
        drawn = await phone.locator("article.card.file img").evaluate(
            "img => (img.complete && img.naturalWidth > 0) || new Promise(done => img.onload = () => done(true))"
        )
        assert drawn  # the library's image, served from this origin to the sandboxed preview
        await expect(tid("sms-text")).to_contain_text("autumn-menu.png")
        await expect(h5.locator("article.card.file .file-name")).to_have_text("autumn-menu.png")
        await expect(h5.locator("article.card.file a[download]")).to_have_text("Download")
        await expect(tid("outline-file-name")).to_contain_text("autumn-menu.png")
        await tid("view-json").click()
        doc = json.loads(await tid("json-text").input_value())
        file = doc["message"]["file"]
        assert file["fileName"] == "autumn-menu.png"
        assert file["thumbnailUrl"] == file["mediaUrl"] + "/thumbnail"
        media = await page.evaluate("fetch('/v1/media').then(r => r.json())")
        assert file["mediaUrl"] == media["data"][1]["url"]  # the older upload: menu.png
        await tid("view-visual").click()
        await page.evaluate("document.querySelectorAll('.pane').forEach(p => p.scrollTo(0, 0))")
        await page.screenshot(path=str(screenshot_dir / "desktop-file.png"))
        await tid("phone-frame").screenshot(path=str(screenshot_dir / "phone-file.png"))
        await submit_and_send(page, "Autumn menu", ["autumn-menu.png", "Order now"])

        # 3. A text message with chips; turned into a location it keeps its words (one undo).
        await new_template(page, "Hello", "text-message")
        await tid("text-body").fill("Mooncakes are back, {{ name }}!")
        await tid("var-name").fill("Li Lei")
        await add_chip(page, "Show me")
        await expect(phone.locator("p.bubble")).to_have_text("Mooncakes are back, Li Lei!")
        await expect(phone.get_by_text("Show me", exact=True)).to_be_visible()
        await expect(tid("sms-text")).to_contain_text("Mooncakes are back, Li Lei!")
        await expect(tid("outline-message")).to_contain_text("Text: Mooncakes are back")
        await tid("kind-location").click()
        await expect(tid("location-label")).to_have_value("Mooncakes are back, {{ name }}!")
        await expect(tid("chip-0-text")).to_have_value("Show me")
        await page.keyboard.press("Control+z")
        await expect(tid("text-body")).to_have_value("Mooncakes are back, {{ name }}!")
        await submit_and_send(page, "Hello", ["Mooncakes are back, Li Lei!", "Show me"])

        # In Chinese, and at phone width nothing overflows.
        await tid("lang-switch").click()
        await tid("template-item").filter(has_text="Autumn menu").click()
        await expect(tid("file-message")).to_contain_text("文件消息")
        await expect(tid("file-library-toggle")).to_have_text("从媒体库选择")
        await page.set_viewport_size({"width": 390, "height": 844})
        await tid("tab-centre").click()
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390
        await page.screenshot(path=str(screenshot_dir / "phone-file-zh.png"), full_page=True)
        # (The 401 of the session check before signing in is logged by the browser.)
        assert [p for p in problems if "401" not in p] == [], "\n".join(sorted(set(problems)))
