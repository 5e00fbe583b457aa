"""The contacts import page in a real headless Chromium against the real app: reached from the
editor's toolbar (same sign-in), it uploads a CSV (stored and queued), cancels a queued job,
follows a job's progress by itself until it has finished, and lists a bad row by its line; in
English and in Chinese. Skipped when /usr/bin/chromium is missing, except under CI=true."""

from __future__ import annotations

import pytest

from audiences.http import IMPORTS
from tests.editor.test_browser import chromium_browser, open_page, sandbox_app, screenshot_dir  # noqa: F401

ROWS = 3000


@pytest.fixture
def database_url():
    return None  # one run is enough for the browser: the imports have their own tests on both


def _csv() -> bytes:
    lines = ["phone,city,level"]
    for i in range(ROWS):
        lines.append(f"{'not-a-number' if i == 1 else f'139{i:08d}'},杭州,{i % 5}")
    return ("\n".join(lines) + "\n").encode()


async def test_upload_follow_and_cancel_imports(chromium, sandbox_app, screenshot_dir):  # noqa: F811
    from playwright.async_api import expect

    server, key = sandbox_app
    worker = server.app[IMPORTS]
    expect.set_options(timeout=15_000)
    async with chromium_browser(chromium) as browser:
        page, problems = await open_page(browser, 1100, 900)
        tid = page.get_by_test_id
        await page.goto(str(server.make_url("/editor")))
        await tid("signin-key").fill(key)
        await tid("signin-submit").click()
        await expect(tid("tenant-name")).to_have_text("Moon Bakery")
        problems.clear()  # the sign-in page asked for a session before there was one (a 401)
        await tid("to-contacts").click()
        await page.wait_for_url("**/editor/contacts")
        await expect(tid("tenant-name")).to_have_text("Moon Bakery")

        # A queued job (no import pass running yet), cancelled from the page.
        await worker.stop()
        file = {"name": "contacts.csv", "mimeType": "text/csv", "buffer": _csv()}
        await tid("upload-file").set_input_files(file)
        await tid("upload-submit").click()
        job = tid("job").first
        await expect(job.get_by_test_id("job-status")).to_have_text("queued")
        await job.get_by_test_id("job-cancel").click()
        await expect(job.get_by_test_id("job-status")).to_have_text("cancelled")
        await expect(job.get_by_test_id("job-cancel")).to_have_count(0)

        # The same file again, with the import pass running: the page follows it to the end.
        await worker.start()
        await tid("upload-file").set_input_files(file)
        await tid("upload-submit").click()
        await expect(tid("job")).to_have_count(2)
        job = tid("job").first
        await expect(job.get_by_test_id("job-status")).to_have_text("finished")
        await expect(job.get_by_test_id("job-progress")).to_have_attribute("aria-valuenow", "100")
        await expect(job.get_by_test_id("job-done")).to_have_text(f"{ROWS - 1:,} rows imported")
        await expect(job.get_by_test_id("job-failed")).to_have_text("1 failed")
        await expect(job.get_by_test_id("job-errors")).to_have_text("Line 3 · phone: not a phone number")
        await page.screenshot(path=str(screenshot_dir / "contacts-import.png"))

        await tid("lang-switch").click()
        await expect(job.get_by_test_id("job-status")).to_have_text("已完成")
        await expect(job.get_by_test_id("job-errors")).to_contain_text("第 3 行")
        await expect(tid("job").nth(1).get_by_test_id("job-status")).to_have_text("已取消")
        await page.screenshot(path=str(screenshot_dir / "contacts-import-zh.png"))
        assert problems == []
