"""Defects a designer met in Chromium (issue 17), each reproduced in a real headless browser:
an error in Checks that did nothing when clicked, a dial button that took "call me", a carousel
that stretched the page past the window, a drag handle that did not drag, a drop zone and a
button counter that misinformed.

Skipped when /usr/bin/chromium is missing, except under CI=true (see tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.editor.test_browser import chromium_browser, open_page, sandbox_app, screenshot_dir  # noqa: F401

CARD0 = "/message/generalPurposeCardCarousel/content/0"


@pytest.fixture
def database_url():
    return None  # the browser's behaviour does not depend on the storage


async def signed_in_new_template(browser, server, key, name, width=1440, height=900):
    """A page signed in (its sign-in page asking for nothing missing) with a new blank template open."""
    from playwright.async_api import expect

    page, problems = await open_page(browser, width, height)
    tid = page.get_by_test_id
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    await page.goto(str(server.make_url("/editor")))
    await expect(tid("signin-key")).to_be_visible()
    assert missing == []  # the sign-in page asks for nothing that is not there
    await tid("signin-key").fill(key)
    await tid("signin-submit").click()
    await tid("empty-new").click()
    problems.clear()  # the page asked for a session before there was one (a 401)
    await tid("new-name").fill(name)
    await tid("new-create").click()
    await expect(tid("save-state")).to_have_text("Saved ✓")
    return page, problems


async def signed_in_carousel(browser, server, key):
    """A page signed in with a new three-card carousel template open."""
    from playwright.async_api import expect

    page, problems = await signed_in_new_template(browser, server, key, "Defects")
    tid = page.get_by_test_id
    await tid("kind-carousel").click()
    await tid("add-card").click()
    await expect(page.locator(".card-editor[data-path^='/message']")).to_have_count(3)
    for i, title in enumerate(["Alpha", "Bravo", "Charlie"]):
        await tid(f"card-{i}-title").fill(title)
    return page, problems


async def test_the_editor_defects_designers_met(chromium, sandbox_app, screenshot_dir):  # noqa: F811
    from playwright.async_api import expect

    expect.set_options(timeout=10_000)
    server, key = sandbox_app
    async with chromium_browser(chromium) as browser:
        page, problems = await signed_in_carousel(browser, server, key)
        tid = page.get_by_test_id
        phone = page.frame_locator("[data-testid=phone-preview]")
        await expect(phone.locator("article.card")).to_have_count(3)

        # Defect 3: a three-card carousel keeps the app inside the 900 px window; the panes scroll,
        # the page does not, and the top bar stays where it is when the centre pane scrolls.
        sizes = await page.evaluate("[document.scrollingElement.scrollHeight, window.innerHeight]")
        assert sizes[0] <= sizes[1], sizes
        await page.evaluate("document.querySelector('.pane-centre').scrollTo(0, 1e6)")
        await page.mouse.wheel(0, 3000)
        top = await page.locator(".topbar").bounding_box()
        assert top is not None and top["y"] == 0
        assert await page.evaluate("window.scrollY") == 0
        await page.screenshot(path=str(screenshot_dir / "defects-carousel-in-window.png"))

        # Defect 1: edit a field until it is wrong, then click its error in Checks — the field
        # (already the selection) is revealed and focused again, every time.
        await tid("card-0-title").fill("T" * 250)
        await expect(tid("validation-badge")).not_to_have_text("valid")
        error = page.locator(f"[data-testid^=error-][data-path='{CARD0}/title']")
        for _ in range(2):
            await error.click()
            await expect(tid("card-0-title")).to_be_focused()
            await page.evaluate("document.querySelector('.pane-centre').scrollTo(0, 1e6)")
            await error.click()
            await expect(tid("card-0-title")).to_be_in_viewport()
        await tid("card-0-title").fill("Alpha")

        # Defect 2: a dial button with words for a number is an error, not "电话：call me".
        await tid("card-1-add-button").click()
        await tid("card-1-sg-0-kind").select_option("dial")
        await tid("card-1-sg-0-text").fill("Call us")
        await tid("card-1-sg-0-phone").fill("call me")
        phone_path = "/message/generalPurposeCardCarousel/content/1/suggestions/0/action/dialerAction/dialPhoneNumber/phoneNumber"
        await expect(page.locator(f"[data-testid^=error-][data-path='{phone_path}']")).to_contain_text("phone number")
        await expect(tid("validation-badge")).not_to_have_text("valid")
        await tid("card-1-sg-0-phone").fill("400-820-8820")
        await expect(tid("validation-badge")).to_have_text("valid")

        # The drag handle moves a card: Bravo's handle dropped on Alpha (the mouse as a person moves it).
        card1 = "/message/generalPurposeCardCarousel/content/1"
        await page.evaluate("document.querySelector('[data-testid=card-1]').scrollIntoView({block: 'end'})")
        src = await tid(f"drag-{card1}").bounding_box()
        dst = await tid("card-0").bounding_box()
        assert src and dst and dst["y"] + dst["height"] > 80  # Alpha's lower part is on screen
        await page.mouse.move(src["x"] + src["width"] / 2, src["y"] + src["height"] / 2)
        await page.mouse.down()
        await page.mouse.move(src["x"], src["y"] - 20, steps=4)
        await page.mouse.move(dst["x"] + dst["width"] / 2, dst["y"] + dst["height"] - 30, steps=8)
        await page.mouse.up()
        await expect(phone.locator("article.card h2")).to_have_text(["Bravo", "Alpha", "Charlie"])
        await expect(tid("card-0-title")).to_have_value("Bravo")

        # An open diff survives a language switch (it is redrawn in the new language).
        await tid("save").click()
        await expect(tid("save-state")).to_have_text("Saved ✓")
        await tid("submit-note").fill("first cut")
        await tid("submit-version").click()
        await expect(tid("version-1")).to_contain_text("first cut")
        await tid("card-2-title").fill("Charlie's shop")
        await expect(tid("save-state")).to_have_text("Saved ✓")
        await tid("diff-from").select_option("1")
        await tid("diff-to").select_option("draft")
        await tid("diff-run").click()
        await expect(tid("diff-view").locator(".change")).to_have_count(1)
        await tid("lang-switch").click()
        await expect(tid("save")).to_have_text("保存")
        await expect(tid("diff-view").locator(".change")).to_have_count(1)
        await expect(tid("diff-head")).to_contain_text("草稿")
        # Defect 4: findings speak the chosen language (from the server's code and figures); the
        # JSON path is a detail after the words.
        await tid("card-0-title").fill("T" * 250)
        finding = page.locator(f"[data-testid^=error-][data-path='{CARD0}/title']")
        await expect(finding.locator(".issue-message")).to_have_text("250 个字符，上限为 200")
        await expect(tid("card-0").locator(".field-error").first).to_have_text("250 个字符，上限为 200")
        await tid("card-0-title").fill("Bravo")
        await tid("lang-switch").click()
        await expect(tid("save")).to_have_text("Save")

        # The drop zone tells the real upload limit.
        await expect(page.get_by_text("up to 10 MB", exact=False).first).to_be_visible()
        assert not problems, problems


async def test_a_card_over_its_button_limit_says_so_at_the_counter(chromium, sandbox_app):  # noqa: F811
    """Five buttons (pasted as JSON, the visual editor stops at four): the counter reads 5/4 in
    red and the limit's error stands under the buttons' heading."""
    from playwright.async_api import expect

    server, key = sandbox_app
    async with chromium_browser(chromium) as browser:
        page, problems = await signed_in_new_template(browser, server, key, "Five buttons")
        tid = page.get_by_test_id
        buttons = ",".join(f'{{"reply": {{"displayText": "B{i}", "postback": {{"data": "b{i}"}}}}}}' for i in range(5))
        card = (
            '{"message": {"generalPurposeCard": {"layout": {"cardOrientation": "VERTICAL"}, '
            f'"content": {{"title": "Five", "suggestions": [{buttons}]}}}}}}}}'
        )
        await tid("view-json").click()
        await tid("json-text").fill(card)
        await tid("view-visual").click()
        await expect(tid("card-0-buttons-count")).to_have_text("5/4")
        await expect(tid("card-0-buttons-count")).to_have_class("count over")
        await expect(tid("card-0-buttons").locator(".field-error").first).to_contain_text("the limit is 4")
        assert not problems, problems
