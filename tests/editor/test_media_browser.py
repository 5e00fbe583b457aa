"""Images and clips in the visual editor (issue 17, Deliver 2), in a real headless Chromium:
upload an image, crop it for a tall card with a focal point, give it alt text (Checks warns
until then), see the phone preview change; upload a short video and see its poster.

Skipped when /usr/bin/chromium is missing, except under CI=true (see tests/conftest.py)."""

from __future__ import annotations

import io
import re
from contextlib import asynccontextmanager

import pytest
from PIL import Image, ImageDraw

from tests.cards.clipkit import video
from tests.editor.test_browser import (  # noqa: F401
    chromium_browser,
    loopback_only,
    sandbox_app,
    screenshot_dir,
)

MEDIA = "/message/generalPurposeCard/content/media"


@pytest.fixture
def database_url():
    return None  # the browser's behaviour does not depend on the storage


def landscape(path) -> None:
    """1200×800: a red left half, a blue right half, and a yellow sun in the blue at (900, 300)."""
    im = Image.new("RGB", (1200, 800), (200, 40, 40))
    im.paste((40, 60, 200), (600, 0, 1200, 800))
    ImageDraw.Draw(im).ellipse((820, 220, 980, 380), fill=(250, 210, 40))
    im.save(path, "PNG")


@asynccontextmanager
async def editor_page(browser, server, key, *, width, height, locale, scheme):
    from playwright.async_api import expect

    mobile = width < 700
    context = await browser.new_context(
        viewport={"width": width, "height": height},
        locale=locale,
        color_scheme=scheme,
        is_mobile=mobile,
        has_touch=mobile,
    )
    await context.route("**/*", loopback_only)
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on(
        "console",
        lambda m: problems.append(m.text) if m.type == "error" and "401" not in m.text else None,
    )
    tid = page.get_by_test_id
    await page.goto(str(server.make_url("/editor")))
    await tid("signin-key").fill(key)
    await tid("signin-submit").click()
    await tid("empty-new").click()
    await tid("new-name").fill("Media")
    await tid("new-create").click()
    await expect(tid("save-state")).to_have_text("Saved ✓" if locale == "en-US" else "已保存 ✓")
    try:
        yield page, problems
    finally:
        await context.close()


async def upload_and_crop_tall(page, tmp_path, *, drag: bool):
    """Upload the landscape, make the media tall, crop (dragging the frame onto the sun when
    `drag`), set the focal point on the sun; answers the dialog's frame box before applying."""
    from playwright.async_api import expect

    tid = page.get_by_test_id
    picture = tmp_path / "landscape.png"
    landscape(picture)
    await tid("card-0-title").fill("Sunset")
    await tid("card-0-media-file").set_input_files(str(picture))
    await expect(tid("card-0-media-thumb")).to_be_visible()
    await page.locator(f"[data-field='{MEDIA}/height']").select_option("TALL_HEIGHT")
    await tid("card-0-crop").click()
    dialog = tid("crop-dialog")
    await expect(dialog).to_be_visible()
    frame = tid("crop-frame")
    await expect(frame).to_be_focused()
    stage = await tid("crop-stage").bounding_box()
    box = await frame.bounding_box()
    assert stage and box
    # The frame has the tall card's shape: 320 × 264 dp.
    assert abs(box["width"] / box["height"] - 320 / 264) < 0.03, box
    if drag:  # drag the frame to the right edge of the picture
        await page.mouse.move(box["x"] + 20, box["y"] + 20)
        await page.mouse.down()
        await page.mouse.move(box["x"] + stage["width"], box["y"] + 20, steps=6)
        await page.mouse.up()
    else:  # the keyboard does the same, after making the frame smaller
        for _ in range(3):
            await page.keyboard.press("-")
        await expect(page.get_by_test_id("crop-facts")).to_have_text("838×691 px")
        for _ in range(12):
            await page.keyboard.press("Shift+ArrowRight")
    box = await frame.bounding_box()
    stage = await tid("crop-stage").bounding_box()  # again: measured once the dialog has settled
    assert box and stage and abs(box["x"] + box["width"] - (stage["x"] + stage["width"])) < 2, (box, stage)
    if drag:  # the corner handle resizes, keeping the shape
        handle = await page.get_by_test_id("crop-handle").bounding_box()
        assert handle
        await page.mouse.move(handle["x"] + 5, handle["y"] + 5)
        await page.mouse.down()
        await page.mouse.move(handle["x"] - 40, handle["y"] - 40, steps=5)
        await page.mouse.up()
        smaller = await frame.bounding_box()
        assert smaller and smaller["width"] < box["width"] - 20
        assert abs(smaller["width"] / smaller["height"] - 320 / 264) < 0.03, smaller
    # A click on the sun (900, 300 of 1200×800) sets the focal point.
    scale = stage["width"] / 1200
    await page.mouse.click(stage["x"] + 900 * scale, stage["y"] + 300 * scale)
    return dialog


async def test_crop_alt_text_and_a_video_poster(chromium, sandbox_app, screenshot_dir, tmp_path):  # noqa: F811
    from playwright.async_api import expect

    expect.set_options(timeout=10_000)
    server, key = sandbox_app
    async with chromium_browser(chromium) as browser:
        async with editor_page(browser, server, key, width=1440, height=900, locale="en-US", scheme="light") as (
            page,
            problems,
        ):
            tid = page.get_by_test_id
            phone = page.frame_locator("[data-testid=phone-preview]")
            dialog = await upload_and_crop_tall(page, tmp_path, drag=True)
            focus = await tid("crop-focus").bounding_box()
            frame = await tid("crop-frame").bounding_box()
            assert focus and frame
            fx = (focus["x"] + focus["width"] / 2 - frame["x"]) / frame["width"]
            assert 0.3 < fx < 0.8  # the sun sits inside the frame, where it was clicked
            await page.screenshot(path=str(screenshot_dir / "media-crop-dialog-desktop-light-en.png"))

            # Checks warns: the image has no alt text.
            alt_warning = page.locator(f"[data-testid^=warning-][data-path='{MEDIA}/contentDescription']")
            await expect(alt_warning).to_contain_text("no alt text")

            before = await tid("card-0-media-url").input_value()
            await tid("crop-apply").click()
            await expect(dialog).to_have_count(0)
            await expect(tid("card-0-media-url")).not_to_have_value(before)
            await expect(tid("card-0-media-status")).to_contain_text("Cropped")
            after = await tid("card-0-media-url").input_value()

            # The library holds the crop beside the original; the crop is tall-card shaped,
            # shows the sun (blue and yellow, no red) and keeps the focal point chosen.
            media_id = after.rsplit("/", 1)[1]
            item = await (await page.request.get(str(server.make_url(f"/v1/media/{media_id}")))).json()
            assert abs(item["width"] / item["height"] - 320 / 264) < 0.02 and item["source_id"]
            assert 0.3 < item["focus"]["x"] < 0.8
            raw = await (await page.request.get(after)).body()
            cropped = Image.open(io.BytesIO(raw)).convert("RGB")
            assert cropped.getpixel((cropped.width - 2, 2))[2] > 150  # blue at the right edge
            at = (int(item["focus"]["x"] * cropped.width), int(item["focus"]["y"] * cropped.height))
            r, g, b = cropped.getpixel(at)
            assert r > 200 and g > 170 and b < 100, (at, (r, g, b))  # the focal point is on the sun

            # The phone preview draws the cropped image (its thumbnail), tall.
            shown = phone.locator("article.card .media img")
            await expect(shown).to_have_attribute("src", f"/media/{media_id}/thumbnail")
            natural = await shown.evaluate("i => i.complete && [i.naturalWidth, i.naturalHeight]")
            assert natural and abs(natural[0] / natural[1] - 320 / 264) < 0.03, natural
            await expect(phone.locator("article.card .media")).to_have_class("media h-tall_height")

            # Alt text: typed in the media panel, the warning goes and the preview's img carries it.
            await tid("card-0-media-alt").fill("Sun over the bay")
            await expect(alt_warning).to_have_count(0)
            await expect(shown).to_have_attribute("alt", "Sun over the bay")
            await expect(page.frame_locator("#h5-frame").locator("img").first).to_have_attribute(
                "alt", "Sun over the bay"
            )
            await page.screenshot(path=str(screenshot_dir / "media-cropped-desktop-light-en.png"))

            # A short video: the server makes a poster; the panel and the phone preview show it.
            clip = tmp_path / "clip.mp4"
            clip.write_bytes(video(seconds=2.0, size=(320, 180)))
            await tid("card-0-media-file").set_input_files(str(clip))
            await expect(tid("card-0-poster")).to_be_visible()
            await expect(tid("card-0-media-status")).to_contain_text("video, 2 s, poster made")
            poster = await tid("card-0-poster").get_attribute("src")
            assert poster and poster.endswith("/thumbnail")
            clip_id = poster.split("/media/")[1].split("/")[0]
            await expect(phone.locator("article.card video")).to_have_attribute("poster", f"/media/{clip_id}/thumbnail")
            await expect(tid("card-0-crop")).to_have_count(0)  # a video is not cropped here
            await page.screenshot(path=str(screenshot_dir / "media-video-poster-desktop-light-en.png"))
            assert not problems, problems


@pytest.mark.parametrize(
    ("width", "height", "locale", "scheme"),
    [(390, 844, "zh-CN", "dark"), (1440, 900, "zh-CN", "dark"), (390, 844, "en-US", "light")],
    ids=["phone-dark-zh", "desktop-dark-zh", "phone-light-en"],
)
async def test_the_crop_dialog_in_each_size_theme_and_language(
    chromium,
    sandbox_app,  # noqa: F811
    screenshot_dir,  # noqa: F811
    tmp_path,
    width,
    height,
    locale,
    scheme,
):
    from playwright.async_api import expect

    expect.set_options(timeout=10_000)
    server, key = sandbox_app
    name = f"{'phone' if width < 700 else 'desktop'}-{scheme}-{locale[:2]}"
    async with chromium_browser(chromium) as browser:
        async with editor_page(browser, server, key, width=width, height=height, locale=locale, scheme=scheme) as (
            page,
            problems,
        ):
            tid = page.get_by_test_id
            dialog = await upload_and_crop_tall(page, tmp_path, drag=False)
            await expect(dialog.locator("h2")).to_have_text(
                "裁剪（媒体高度：高）" if locale == "zh-CN" else "Crop for Tall media"
            )
            await page.screenshot(path=str(screenshot_dir / f"media-crop-dialog-{name}.png"))
            await tid("crop-apply").click()
            await expect(dialog).to_have_count(0)
            await expect(tid("card-0-media-status")).to_contain_text("已裁剪" if locale == "zh-CN" else "Cropped")
            await tid("card-0-media-alt").scroll_into_view_if_needed()
            await page.screenshot(path=str(screenshot_dir / f"media-cropped-{name}.png"))
            if width < 700:
                await tid("tab-right").click()
            phone = page.frame_locator("[data-testid=phone-preview]")
            await expect(phone.locator("article.card .media img")).to_have_attribute("src", re.compile(r"/thumbnail$"))
            await page.screenshot(path=str(screenshot_dir / f"media-preview-{name}.png"))
            # A short video: its poster in the panel and on the phone.
            if width < 700:
                await tid("tab-centre").click()
            clip = tmp_path / "clip.mp4"
            clip.write_bytes(video(seconds=2.0, size=(320, 180)))
            await tid("card-0-media-file").set_input_files(str(clip))
            await expect(tid("card-0-poster")).to_be_visible()
            await expect(tid("card-0-media-status")).to_contain_text("视频" if locale == "zh-CN" else "video")
            await tid("card-0-poster").scroll_into_view_if_needed()
            await page.screenshot(path=str(screenshot_dir / f"media-video-poster-{name}.png"))
            if width < 700:
                await tid("tab-right").click()
            await expect(phone.locator("article.card video")).to_have_attribute("poster", re.compile(r"/thumbnail$"))
            assert not problems, problems
