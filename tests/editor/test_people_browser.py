"""People in a real headless Chromium against the real app: a designer signs in to the editor
with a login and password and finds no approve control on the review page (the API answers 403
naming the role); a reviewer signs in there, approves one held template and rejects another
(with a reason); the audit-log page, as an auditor, shows both decisions with who, when and
from where.

Skipped when /usr/bin/chromium is missing, except under CI=true (tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.conftest import card
from tests.editor.test_browser import chromium_browser, open_page

PASSWORD = "correct horse battery"


@pytest.fixture
def database_url():
    return None  # one run is enough for the browser: the storage paths have their own tests


@pytest.fixture
async def served(settings, aiohttp_server):
    from server import ACCOUNTS, USERS, create_app

    app = create_app(settings)
    server = await aiohttp_server(app)
    tenant, key = await app[ACCOUNTS].create_tenant("Moon Bakery")
    for login, role in (("rita", "reviewer"), ("dana", "designer"), ("otto", "auditor")):
        await app[USERS].create(tenant.id, login, role, password=PASSWORD)
    return server, key


async def sign_in(page, tid, login: str) -> None:
    await tid("signin-login").fill(login)
    await tid("signin-password").fill(PASSWORD)
    await tid("signin-submit").click()


async def test_reviewer_decides_designer_cannot_auditor_sees_both(chromium, served):
    from aiohttp import ClientSession
    from playwright.async_api import expect

    server, key = served
    auth = {"Authorization": f"Bearer {key}"}
    async with ClientSession(str(server.make_url(""))) as http:
        for name, title in (("promo-a", "全网最低价月饼"), ("promo-b", "顶级月饼礼盒")):
            made = await (
                await http.post("/v1/templates", json={"name": name, "card": card(title=title)}, headers=auth)
            ).json()
            assert made["status"] == "in_review"

    expect.set_options(timeout=10_000)
    async with chromium_browser(chromium) as browser:
        page, problems = await open_page(browser, 1280, 900)
        tid = page.get_by_test_id
        items = tid("review-item")

        # A designer signs in to the editor with login and password, then opens the review queue:
        # it shows the queue but no control to decide; the API refuses naming the role.
        await page.goto(str(server.make_url("/editor")))
        await sign_in(page, tid, "dana")
        await expect(tid("tenant-name")).to_have_text("Moon Bakery")
        await page.goto(str(server.make_url("/editor/reviews")))
        await expect(tid("who")).to_have_text("dana (designer)")
        await expect(items).to_have_count(2)
        await expect(tid("approve")).to_have_count(0)
        await expect(tid("reject")).to_have_count(0)
        item_id = await items.first.get_attribute("data-id")
        answer = await page.evaluate(
            """async (id) => {
                const s = await (await fetch('/editor/session')).json();
                const r = await fetch(`/v1/reviews/${id}/approve`, {method: 'POST',
                    headers: {'X-CSRF-Token': s.csrf_token, 'Content-Type': 'application/json'}, body: '{}'});
                return {status: r.status, type: r.headers.get('Content-Type'), body: await r.json()};
            }""",
            item_id,
        )
        assert answer["status"] == 403 and answer["type"].startswith("application/problem+json")
        assert "`designer`" in answer["body"]["detail"] and answer["body"]["role"] == "designer"
        await tid("signout").click()

        # The reviewer approves one and rejects the other with a reason.
        await sign_in(page, tid, "rita")
        await expect(tid("who")).to_have_text("rita (reviewer)")
        await expect(items).to_have_count(2)
        a = page.locator("[data-testid=review-item][data-kind=template]:has-text('promo-a')")
        await a.get_by_test_id("approve").click()
        await expect(items).to_have_count(1)
        b = page.locator("[data-testid=review-item][data-kind=template]:has-text('promo-b')")
        await b.get_by_test_id("reason").fill("Absolute terms")
        await b.get_by_test_id("reject").click()
        await expect(tid("status")).to_have_text("Nothing to review.")
        await tid("signout").click()

        # The auditor finds both decisions: who, when, from where.
        await sign_in(page, tid, "otto")
        await expect(tid("who")).to_have_text("otto (auditor)")
        await page.goto(str(server.make_url("/editor/audit")))
        await tid("filter-action").fill("reviews.")
        await tid("filter-apply").click()
        rows = tid("audit-row")
        await expect(rows).to_have_count(3)  # the designer's refused attempt too
        approve = page.locator("[data-testid=audit-row][data-action='reviews.approve']")
        reject = page.locator("[data-testid=audit-row][data-action='reviews.reject']")
        await expect(approve).to_have_count(2)
        await expect(reject).to_have_count(1)
        await expect(reject.get_by_test_id("audit-actor")).to_have_text("rita (user)")
        await expect(reject.get_by_test_id("audit-client")).to_have_text("127.0.0.1")
        await expect(reject.get_by_test_id("audit-status")).to_have_text("200")
        await expect(reject.get_by_test_id("audit-at")).to_contain_text("T")
        await expect(approve.get_by_test_id("audit-actor")).to_have_text(["rita (user)", "dana (user)"])
        await expect(approve.get_by_test_id("audit-status")).to_have_text(["200", "403"])
        # The only failed loads are the sign-in probe (401) and the designer's refused approval (403).
        assert [p for p in problems if "status of 401" not in p and "status of 403" not in p] == []
