"""The campaigns page in a real headless Chromium against the sandbox app, the campaign runner
stepped by the test's clock while the messages really travel: contacts, templates and a segment
made through the API; an A/B campaign with a smart resend created through the page's form (its
field errors shown next to the fields first), launched, paused (the sent count stops), resumed
and finished; the page's results equal GET /v1/campaigns/{id}/results; the dashboard shows the
campaign's funnel and cost. Screenshots at each step.

Skipped when /usr/bin/chromium is missing, except under CI=true (tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.campaigns.conftest import campaign_env, dispatch_config, dispatch_settings  # noqa: F401
from tests.campaigns.helpers import AUDIENCE, billed, create_contacts, create_segment, sent_ids, settle
from tests.editor.test_browser import chromium_browser, open_page, screenshot_dir  # noqa: F401

STAGES = ("accepted", "delivered", "read", "clicked", "replied", "converted", "rejected", "failed")


@pytest.fixture
def database_url():
    return None  # one run is enough for the browser: the campaigns API has its own tests on both


async def _price_book(app, tenant_id: str) -> None:
    """The operator's prices for the tenant: a card over RCS, an SMS part."""
    from billing.http import BILLING
    from billing.service import parse_price_changes

    _, changes = parse_price_changes(
        {
            "prices": [
                {"channel": "rcs", "carrier": "*", "kind": "card", "price": "0.05"},
                {"channel": "sms", "carrier": "*", "kind": "part", "price": "0.04"},
            ]
        }
    )
    await app[BILLING].set_prices(tenant_id, changes)


async def _results(api, cid: str) -> dict:
    resp = await api.get(f"/v1/campaigns/{cid}/results")
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_a_campaign_is_created_run_and_read_in_the_browser(chromium, campaign_env, screenshot_dir):  # noqa: F811
    from playwright.async_api import expect

    api, app = campaign_env.api, campaign_env.app
    await create_contacts(api)
    segment_id = await create_segment(api)
    await _price_book(app, api.tenant_id)
    url = lambda path: str(api.client.server.make_url(path))  # noqa: E731

    expect.set_options(timeout=15_000)
    async with chromium_browser(chromium) as browser:
        page, problems = await open_page(browser, 1360, 1000)
        tid = page.get_by_test_id
        shot = lambda name: page.screenshot(path=str(screenshot_dir / f"campaigns-{name}.png"), full_page=True)  # noqa: E731

        # 1. Sign in on the page (the editor's session).
        await page.goto(url("/editor/campaigns?refresh=0.3"))
        await tid("signin-key").fill(api.api_key)
        await tid("signin-submit").click()
        await expect(tid("tenant-name")).to_have_text("Test brand")
        await expect(tid("list-empty")).to_be_visible()
        problems.clear()  # the page asked for a session before there was one (a 401)

        # 2. The form: the tenant's templates and segments, the segment's live count.
        await tid("new-campaign").click()
        await expect(tid("c-template").locator("option")).to_have_count(3)  # choose, coupon, offer
        await tid("c-name").fill("5G 升级 Q4")
        await tid("c-template").select_option("offer")
        await tid("c-segment").select_option(label="VIP")
        await expect(tid("segment-count")).to_have_text(f"{AUDIENCE} contacts now")
        await tid("c-throttle").fill("0")
        await tid("c-ab-on").check()
        variants = tid("variant-row")
        await expect(variants).to_have_count(2)
        await variants.nth(1).get_by_test_id("v-share").fill("0.4")
        await variants.nth(1).get_by_test_id("v-template").select_option("coupon")
        await tid("c-resend-on").check()
        await tid("c-resend-hours").fill("0")
        await tid("c-create").click()
        # Each field error of the API's problem next to its field.
        await expect(page.locator("[data-error-for='/throttle']")).to_contain_text("messages a second")
        await expect(tid("c-throttle")).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("[data-error-for='/ab/variants']")).to_contain_text("add up to 1")
        await expect(page.locator("[data-error-for='/resend/after_hours']")).to_contain_text("hours")
        await expect(tid("form-error")).to_have_text("")
        await shot("1-form-errors")
        assert problems == [
            "console error: Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"
        ]
        problems.clear()  # the browser logs the refused POST
        listed = await (await api.get("/v1/campaigns")).json()
        assert listed["data"] == []  # nothing was created

        await tid("c-throttle").fill("3")
        await variants.nth(1).get_by_test_id("v-share").fill("0.5")
        await tid("c-resend-hours").fill("1")
        await tid("add-variable").click()
        await tid("var-name").fill("campaign")
        await tid("var-attribute").fill("code")
        await tid("c-create").click()
        await expect(tid("campaign-form")).to_be_hidden()
        detail = tid("detail")
        await expect(detail).to_have_attribute("data-status", "draft")
        cid = await detail.get_attribute("data-id")
        created = await (await api.get(f"/v1/campaigns/{cid}")).json()
        assert created["segment_id"] == segment_id and created["throttle"] == 3
        assert created["ab"]["variants"] == [
            {"name": "A", "share": 0.5},
            {"name": "B", "share": 0.5, "template": {"name": "coupon"}},
        ]
        assert created["resend"] == {"after_hours": 1, "unless": "read_or_clicked", "channel": "sms"}
        assert created["variables"] == {"campaign": "code"}
        row = page.locator(f"[data-testid=campaign-row][data-id='{cid}']")
        await expect(row.get_by_test_id("campaign-status")).to_have_text("Draft")
        await shot("2-draft")

        # 3. Launch: the snapshot, then pages at 3 a second; the progress follows by itself.
        await detail.get_by_test_id("action-launch").click()
        await expect(row.get_by_test_id("campaign-status")).to_have_text("Running")
        await campaign_env.step()  # the audience snapshot
        await expect(row.get_by_test_id("progress-audience")).to_have_text(str(AUDIENCE))
        await expect(row.get_by_test_id("campaign-phase")).to_have_text("Sending")
        await campaign_env.step()
        sent = len(await sent_ids(app, cid, "first"))
        assert 0 < sent < AUDIENCE - 1
        await expect(row.get_by_test_id("progress-sent")).to_have_text(str(sent))
        await shot("3-running")

        # 4. Pause: the page says so, and the sent count stops while time goes on.
        await row.get_by_test_id("action-pause").click()
        await expect(row.get_by_test_id("campaign-status")).to_have_text("Paused")
        await expect(row.get_by_test_id("action-resume")).to_be_visible()
        await campaign_env.step(seconds=60)
        assert len(await sent_ids(app, cid, "first")) == sent
        loaded = int(await page.locator("#app").get_attribute("data-loaded"))
        await expect(page.locator("#app")).not_to_have_attribute("data-loaded", str(loaded))  # refreshed since
        await expect(page.locator("#app")).not_to_have_attribute("data-loaded", str(loaded + 1))  # twice
        await expect(row.get_by_test_id("progress-sent")).to_have_text(str(sent))
        await shot("4-paused")

        # 5. Resume: the rest of the first sends, the resend an hour later, the end.
        await row.get_by_test_id("action-resume").click()
        await expect(row.get_by_test_id("campaign-status")).to_have_text("Running")
        for _ in range(5):
            await campaign_env.step()
        first = await sent_ids(app, cid, "first")
        assert len(first) == AUDIENCE - 1  # every contact but the one without a name
        await expect(row.get_by_test_id("progress-sent")).to_have_text(str(len(first)))
        await expect(row.get_by_test_id("progress-skipped")).to_have_text("1")
        first_views = await settle(api, first)
        await campaign_env.step(seconds=3700)  # an hour after the last first send
        for _ in range(10):  # the resends are decided at the throttle too: a few passes
            view = await (await api.get(f"/v1/campaigns/{cid}")).json()
            if view["status"] == "finished":
                break
            await campaign_env.step()
        assert view["status"] == "finished", view
        resent = await sent_ids(app, cid, "resend")
        assert resent  # the one delivered unread (…55) at least
        resent_views = await settle(api, resent)
        await expect(row.get_by_test_id("campaign-status")).to_have_text("Finished")
        await expect(row.get_by_test_id("progress-resent")).to_have_text(str(len(resent)))
        await expect(row.get_by_test_id("action-pause")).to_have_count(0)

        # 6. The results on the page are the API's (once every message is charged or refunded).
        costs = await billed(api, {**first_views, **resent_views})
        assert any(c["charged"] for c in costs.values())
        results = await _results(api, cid)
        assert results["status"] == "finished"
        for arm in results["variants"]:
            tr = page.locator(f"[data-testid=result-row][data-variant='{arm['variant']}']")
            await expect(tr.locator("[data-stage=contacts]")).to_have_text(str(arm["contacts"]))
            await expect(tr.locator("[data-stage=skipped]")).to_have_text(str(arm["skipped"]))
            for stage in STAGES:
                want = str(arm["funnel"][stage]) if arm["funnel"] else "0"
                await expect(tr.locator(f"[data-stage={stage}]")).to_have_text(want)
        assert sum(a["funnel"]["accepted"] for a in results["variants"] if a["funnel"]) == len(first)
        await expect(tid("result-row")).to_have_count(len(results["variants"]))
        await expect(tid("results-chart").locator(".bars-group")).to_have_count(len(results["variants"]))
        test = results["test"]
        assert test is not None and [a["variant"] for a in test["arms"]] == ["A", "B"]
        arm_b = test["arms"][1]
        b = page.locator("[data-testid=arm-row][data-variant=B]")
        await expect(b.get_by_test_id("arm-p")).to_have_text(f"{arm_b['p_value']:.4f}")
        await expect(b.get_by_test_id("arm-significant")).to_have_text("yes" if arm_b["significant"] else "no")
        await expect(tid("test-verdict")).to_contain_text(test["best"])
        resend_row = tid("resend-row")
        for stage in STAGES:
            await expect(resend_row.locator(f"[data-stage={stage}]")).to_have_text(str(results["resend"][stage]))
        assert results["resend"]["accepted"] == len(resent)
        assert "cmcc" in results["cost"]
        await expect(tid("cost-total")).to_have_text(results["cost"]["total"])
        for carrier, amount in results["cost"].items():
            if carrier != "total":
                await expect(tid(f"cost-{carrier}")).to_have_text(amount)
        await tid("csv-group").select_option("kind")
        href = await tid("funnel-csv").get_attribute("href")
        assert href == f"/v1/campaigns/{cid}/funnel?group_by=kind&format=csv"
        csv_resp = await page.request.get(url(href))  # the session's cookie, as a click would send it
        lines = (await csv_resp.text()).splitlines()
        assert lines[0].startswith("group,accepted,delivered") and {line.split(",")[0] for line in lines[1:]} == {
            "first",
            "resend",
        }
        await shot("5-finished")

        # 7. In Chinese.
        await tid("lang-switch").click()
        await expect(row.get_by_test_id("campaign-status")).to_have_text("已完成")
        await expect(page.locator("h1.doc-title")).to_have_text("营销活动")
        await shot("6-zh")
        await tid("lang-switch").click()
        await expect(row.get_by_test_id("campaign-status")).to_have_text("Finished")

        # 8. The dashboard: the campaign's funnel and its cost per carrier.
        await tid("to-dashboard").click()
        await page.wait_for_url("**/editor/dashboard")
        await page.goto(url("/editor/dashboard?refresh=1"))
        board = tid("campaigns-board")
        await expect(board).to_be_visible()
        funnel_row = page.locator(f"[data-testid=campaign-funnel-row][data-id='{cid}']")
        for stage in STAGES[:6]:
            total = sum(a["funnel"][stage] for a in results["variants"] if a["funnel"])
            await expect(funnel_row.get_by_test_id(f"cf-{stage}")).to_have_text(f"{total:,}")
        await expect(funnel_row.get_by_test_id("cf-resent")).to_have_text(str(len(resent)))
        await expect(funnel_row.get_by_test_id("cf-cost")).to_have_text(results["cost"]["total"])
        cost_row = page.locator(f"[data-testid=campaign-cost-row][data-id='{cid}']")
        await expect(cost_row.get_by_test_id("cost-total")).to_have_text(results["cost"]["total"])
        for carrier, amount in results["cost"].items():
            if carrier != "total":
                await expect(cost_row.get_by_test_id(f"cost-{carrier}")).to_have_text(amount)
        await expect(tid("campaign-funnels").locator(f".bars-group[data-group='{created['name']}']")).to_have_count(1)
        for chart in ("chart-days", "chart-hours", "chart-funnel"):
            await expect(tid(chart).locator("canvas")).to_have_count(1)
        await page.screenshot(path=str(screenshot_dir / "campaigns-7-dashboard.png"), full_page=True)
        assert problems == []
