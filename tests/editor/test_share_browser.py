"""Review and hand-off in a real headless Chromium (issue 17): a designer shares a version for
approval, someone without an account opens the link in another browser context and approves it
with a comment, the designer sees the decision; the visual diff draws two versions side by side
with the changed element outlined; restoring the latest version leaves no draft behind.

Screenshots at desktop and 390×844, light and dark, zh and en (see tests/editor/test_browser.py
for where they are kept). Skipped when /usr/bin/chromium is missing, except under CI=true."""

from __future__ import annotations

import pytest

from tests.editor.test_browser import chromium_browser, loopback_only, open_page, sandbox_app, screenshot_dir  # noqa: F401
from tests.editor.test_defects_browser import signed_in_carousel, signed_in_new_template


@pytest.fixture
def database_url():
    return None  # the browser's behaviour does not depend on the storage


async def _submit(page, note: str, n: int) -> None:
    from playwright.async_api import expect

    tid = page.get_by_test_id
    await expect(tid("save-state")).to_have_text("Saved ✓")
    await tid("submit-note").fill(note)
    await tid("submit-version").click()
    await expect(tid(f"version-{n}")).to_contain_text(note)


async def test_share_for_approval_visual_diff_and_restoring_the_latest_version(chromium, sandbox_app, screenshot_dir):  # noqa: F811
    from playwright.async_api import expect

    expect.set_options(timeout=10_000)
    server, key = sandbox_app
    async with chromium_browser(chromium) as browser:
        page, problems = await signed_in_new_template(browser, server, key, "Moon bill")
        tid = page.get_by_test_id
        await tid("card-0-title").fill("Your March bill")
        await tid("card-0-description").fill("58.00 yuan, due 15 April")
        await _submit(page, "first cut", 1)
        await tid("card-0-title").fill("Your March bill is ready")
        await _submit(page, "clearer title", 2)

        # The visual diff: v1 and v2 side by side, the title outlined on both, nothing else.
        await tid("diff-from").select_option("1")
        await tid("diff-to").select_option("2")
        await tid("diff-run").click()
        await expect(tid("diff-view").locator(".change")).to_have_count(1)
        await tid("diff-visual").click()
        old = page.frame_locator("[data-testid=vdiff-old]")
        new = page.frame_locator("[data-testid=vdiff-new]")
        await expect(old.locator("h2")).to_have_text("Your March bill")
        await expect(new.locator("h2")).to_have_text("Your March bill is ready")
        title = "/message/generalPurposeCard/content/title"
        await expect(old.locator("[data-diff]")).to_have_count(1)
        await expect(old.locator("[data-diff]")).to_have_attribute("data-path", title)
        await expect(new.locator("[data-diff]")).to_have_attribute("data-path", title)
        await expect(new.locator("[data-path$='/description']")).not_to_have_attribute("data-diff", "")
        outline = await new.locator("h2").evaluate("e => getComputedStyle(e).outlineStyle")
        assert outline == "solid"
        await expect(tid("vdiff-new-marked")).to_have_text("1 element(s) outlined")
        await tid("vdiff-dialog").screenshot(path=str(screenshot_dir / "share-vdiff-desktop-light-en.png"))
        await tid("vdiff-close").click()

        # Defect: edit, then restore the latest version — that is version 2, not "version 2 · draft".
        await tid("card-0-title").fill("Something else")
        await expect(tid("save-state")).to_have_text("Saved ✓")
        await expect(tid("template-item")).to_contain_text("version 2 · draft")
        await tid("restore-2").click()
        await expect(tid("card-0-title")).to_have_value("Your March bill is ready")
        await expect(tid("save-state")).to_have_text("Saved ✓")
        await expect(tid("template-item")).to_have_text("Moon billversion 2")
        await page.reload()  # what the server holds: no draft
        await expect(tid("template-item")).to_have_text("Moon billversion 2")
        # Diffing against "draft" still works: what is on screen is version 2.
        await tid("diff-from").select_option("1")
        await tid("diff-to").select_option("draft")
        await tid("diff-run").click()
        await expect(tid("diff-view").locator(".change")).to_have_count(1)
        await expect(tid("diff-head")).to_have_text("v1 → v2: 1 change(s)")
        # Restoring an older version is a change: that is a draft.
        await tid("restore-1").click()
        await expect(tid("template-item")).to_contain_text("version 2 · draft")
        await page.keyboard.press("Control+z")
        await expect(tid("template-item")).to_have_text("Moon billversion 2")

        # Share version 2 for approval (7 days unless chosen otherwise).
        await tid("share-2").click()
        await expect(tid("share-days")).to_have_value("7")
        await tid("share-create").click()
        url = await tid("share-url-0").input_value()
        assert url.startswith(str(server.make_url("/share/")))
        await expect(tid("share-state-0")).to_contain_text("active")
        await tid("share-dialog").screenshot(path=str(screenshot_dir / "share-dialog-desktop-light-en.png"))
        await tid("share-close").click()

        # Someone without an account opens it: read-only previews, in their language (zh).
        anon = await browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
        await anon.route("**/*", loopback_only)
        viewer = await anon.new_page()
        # A style or frame the page's policy refused would be a console error.
        viewer_problems: list[str] = []
        viewer.on("pageerror", lambda exc: viewer_problems.append(f"page error: {exc}"))
        viewer.on("console", lambda m: viewer_problems.append(m.text) if m.type == "error" else None)
        await viewer.goto(url)
        vid = viewer.get_by_test_id
        await expect(vid("share-title")).to_have_text("Moon bill")
        await expect(vid("share-version")).to_have_text("版本 2")
        await expect(viewer.frame_locator("[data-testid=share-phone]").locator("h2")).to_have_text(
            "Your March bill is ready"
        )
        await expect(viewer.frame_locator("[data-testid=share-h5]").locator("h2")).to_have_text(
            "Your March bill is ready"
        )
        await expect(vid("share-sms")).to_contain_text("Your March bill is ready")
        assert await viewer.locator("input:not([name=name]), [contenteditable]").count() == 0  # nothing to edit
        await viewer.screenshot(path=str(screenshot_dir / "share-page-desktop-light-zh.png"), full_page=True)
        await viewer.emulate_media(color_scheme="dark")
        await viewer.screenshot(path=str(screenshot_dir / "share-page-desktop-dark-zh.png"), full_page=True)
        await viewer.set_viewport_size({"width": 390, "height": 844})
        await vid("share-lang").click()
        await expect(vid("share-version")).to_have_text("Version 2")
        assert await viewer.evaluate("document.documentElement.scrollWidth") <= 390
        await viewer.screenshot(path=str(screenshot_dir / "share-page-390-dark-en.png"), full_page=True)
        await viewer.emulate_media(color_scheme="light")
        await viewer.screenshot(path=str(screenshot_dir / "share-page-390-light-en.png"), full_page=True)

        assert viewer_problems == [], viewer_problems
        # Asking for changes needs a comment (the page answers 422); then approve with one.
        await vid("share-name").fill("Li Na")
        await vid("share-changes").click()
        await expect(viewer.locator("#comment-error")).to_have_text("Say what should change.")
        viewer_problems.clear()
        await vid("share-comment").fill("Looks right, send it")
        await vid("share-approve").click()
        await expect(vid("share-done")).to_contain_text("You approved this version")
        for frame in ("share-phone", "share-h5"):
            await expect(viewer.frame_locator(f"[data-testid={frame}]").locator("h2")).to_be_visible()
        await viewer.screenshot(path=str(screenshot_dir / "share-page-390-light-en-done.png"), full_page=True)

        # The designer sees the decision in the version list and in the share dialog.
        await tid("share-2").click()
        await expect(tid("share-decisions-0")).to_contain_text("Approved · Li Na")
        await expect(tid("share-decisions-0")).to_contain_text("Looks right, send it")
        await tid("share-close").click()
        await expect(tid("version-2-decision")).to_have_text("Approved · Li Na: Looks right, send it")
        await tid("versions-panel").screenshot(path=str(screenshot_dir / "share-versions-desktop-light-en.png"))

        # Revoked: the viewer's next visit is a clear "withdrawn" page (410); an altered link, 404.
        await tid("share-2").click()
        await tid("share-revoke-0").click()
        await expect(tid("share-state-0")).to_contain_text("revoked")
        assert viewer_problems == [], viewer_problems
        resp = await viewer.goto(url.split("?")[0] + "?lang=zh")
        assert resp is not None and resp.status == 410
        await expect(vid("share-heading")).to_have_text("链接已撤回")
        await viewer.screenshot(path=str(screenshot_dir / "share-revoked-390-light-zh.png"), full_page=True)
        resp = await viewer.goto(url[:-1] + ("A" if url[-1] != "A" else "B"))
        assert resp is not None and resp.status == 404
        await expect(vid("share-heading")).to_have_text("链接无效")  # the viewer's browser asks for Chinese
        await anon.close()

        # The editor in Chinese, dark, at phone width: the visual diff and the share dialog.
        await tid("share-close").click()
        await tid("lang-switch").click()
        await expect(tid("save")).to_have_text("保存")
        await expect(tid("version-2-decision")).to_have_text("已通过 · Li Na: Looks right, send it")
        await page.emulate_media(color_scheme="dark")
        await page.set_viewport_size({"width": 390, "height": 844})
        await tid("tab-left").click()
        await tid("diff-from").select_option("1")
        await tid("diff-to").select_option("2")
        await tid("diff-run").click()
        await tid("diff-visual").click()
        await expect(page.frame_locator("[data-testid=vdiff-new]").locator("[data-diff]")).to_have_count(1)
        await expect(tid("vdiff-head")).to_contain_text("1 处改动")
        await page.screenshot(path=str(screenshot_dir / "share-vdiff-390-dark-zh.png"))
        await tid("vdiff-close").click()
        await tid("share-2").click()
        await expect(tid("share-decisions-0")).to_contain_text("已通过 · Li Na")
        await page.screenshot(path=str(screenshot_dir / "share-dialog-390-dark-zh.png"))
        assert not problems, problems


async def test_visual_diff_of_a_carousel(chromium, sandbox_app, screenshot_dir):  # noqa: F811
    """An added card is outlined whole on the right; a changed title on both sides."""
    from playwright.async_api import expect

    expect.set_options(timeout=10_000)
    server, key = sandbox_app
    async with chromium_browser(chromium) as browser:
        page, problems = await signed_in_carousel(browser, server, key)
        tid = page.get_by_test_id
        await _submit(page, "three cards", 1)
        await tid("card-1-title").fill("Bravo, now bigger")
        await tid("add-card").click()
        await tid("card-3-title").fill("Delta")
        await _submit(page, "four cards", 2)
        await tid("diff-from").select_option("1")
        await tid("diff-to").select_option("2")
        await tid("diff-run").click()
        await tid("diff-visual").click()
        old = page.frame_locator("[data-testid=vdiff-old]")
        new = page.frame_locator("[data-testid=vdiff-new]")
        cards = "/message/generalPurposeCardCarousel/content"
        await expect(old.locator("article.card")).to_have_count(3)
        await expect(new.locator("article.card")).to_have_count(4)
        # Left: the title as it was; right: the title as it is and the whole added card.
        await expect(old.locator("[data-diff]")).to_have_count(1)
        await expect(old.locator("[data-diff]")).to_have_attribute("data-path", f"{cards}/1/title")
        await expect(new.locator("[data-diff]")).to_have_count(2)
        marked = await new.locator("[data-diff]").evaluate_all("els => els.map((e) => e.dataset.path)")
        assert marked == [f"{cards}/1/title", f"{cards}/3"]
        await expect(tid("vdiff-new-marked")).to_have_text("2 element(s) outlined")
        await page.emulate_media(color_scheme="dark")
        await tid("vdiff-close").click()
        await tid("diff-visual").click()
        await expect(new.locator("[data-diff]")).to_have_count(2)
        await tid("vdiff-dialog").screenshot(path=str(screenshot_dir / "share-vdiff-carousel-desktop-dark-en.png"))
        assert not problems, problems
