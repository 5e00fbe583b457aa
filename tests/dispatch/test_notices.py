"""The operator's notices and a brand's own chatbot on the default notify URL: spam reports
opt the recipient out and reach the integrator, profile audits show on the brand's channel,
and each chatbot's callbacks are checked with its own token."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import quote

from rcs.callbacks import signed_headers
from tests.conftest import card
from tests.dispatch.conftest import has_event, wait_for

GOLDEN = Path(__file__).resolve().parents[1] / "rcs" / "golden" / "inbound"
DEFAULT_TOKEN = "sandbox-callback-token"
BRAND_CHATBOT = "sip:12520000042@botplatform.sandbox.local"
BRAND_TOKEN = "brand-callback-token-42"


def _example(name: str) -> dict:
    return json.loads((GOLDEN / name).read_text())["request"]["body"]


async def _notify(api, chatbot_id: str, path: str, body: dict, token: str = DEFAULT_TOKEN):
    return await api.client.post(
        f"/rcs/notifyInfoNotification/{quote(chatbot_id, safe='')}/{path}",
        json=body,
        headers=signed_headers(token, time.time()),
    )


async def _brand_channel(api) -> dict:
    from server import SANDBOX

    maap = api.client.app[SANDBOX].maap
    resp = await api.post(
        "/v1/channels",
        {
            "operator": "sandbox",
            "server_root": f"http://{maap.host}:{maap.port}",
            "chatbot_id": BRAND_CHATBOT,
            "app_id": "brand-app",
            "app_key": "brand-key",
            "callback_token": BRAND_TOKEN,
        },
    )
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def test_a_spam_report_opts_the_recipient_out_of_that_brands_marketing(sandbox_api):
    sent = await sandbox_api.post("/v1/messages", {"to": "+8613800138001", "card": card(), "traffic_type": "marketing"})
    mid = (await sent.json())["messages"][0]["id"]
    await wait_for(sandbox_api, mid, has_event("rcs_delivered"))
    report = {**_example("10-2-rcsspam.json"), "messageId": [mid]}
    resp = await _notify(sandbox_api, "sip:hongyan@botplatform.sandbox.local", "notice/rcsspam", report)
    assert resp.status == 204, await resp.text()
    again = await sandbox_api.post(
        "/v1/messages", {"to": "+8613800138001", "card": card(), "traffic_type": "marketing"}
    )
    assert (await again.json())["messages"][0]["status"] == "rejected"
    notice = await sandbox_api.post("/v1/messages", {"to": "+8613800138001", "card": card()})
    assert (await notice.json())["messages"][0]["status"] == "accepted"  # notifications still go
    listed = (await (await sandbox_api.get("/v1/opt-outs")).json())["data"]
    assert [(e["to"], e["source"]) for e in listed] == [("+8613800138001", "spam_report")]  # the number kept


async def test_a_brands_own_chatbot_is_checked_with_its_own_token_and_shows_its_audit(sandbox_api):
    channel = await _brand_channel(sandbox_api)
    audit = {**_example("10-3-check-chatbot-information.json"), "remark": f"chatbotId: {BRAND_CHATBOT}"}
    refused = await _notify(sandbox_api, BRAND_CHATBOT, "check", audit, token=DEFAULT_TOKEN)
    assert refused.status == 401
    resp = await _notify(sandbox_api, BRAND_CHATBOT, "check", audit, token=BRAND_TOKEN)
    assert resp.status == 204, await resp.text()
    view = await (await sandbox_api.get(f"/v1/channels/{channel['id']}")).json()
    assert view["profile_audit"] == "rejected" and view["profile_audit_reason"] == "not match rules"
    passed = {**audit, "result": "pass"}
    assert (await _notify(sandbox_api, BRAND_CHATBOT, "check", passed, token=BRAND_TOKEN)).status == 204
    view = await (await sandbox_api.get(f"/v1/channels/{channel['id']}")).json()
    assert view["profile_audit"] == "approved"


async def test_two_brands_send_at_once_each_on_its_own_chatbot_and_token(sandbox_api):
    """One process serves many chatbots: each brand's messages go out on its chatbot with its
    own token, and their callbacks come back signed with its own callback token."""
    import asyncio

    from server import SANDBOX

    maap = sandbox_api.client.app[SANDBOX].maap
    brands = [sandbox_api, await sandbox_api.new_tenant("Brand B", signature="【品牌乙】")]
    chatbots = ["sip:12520000101@botplatform.sandbox.local", "sip:12520000102@botplatform.sandbox.local"]
    for i, (api, chatbot) in enumerate(zip(brands, chatbots)):
        body = {
            "operator": "sandbox",
            "server_root": f"http://{maap.host}:{maap.port}",
            "chatbot_id": chatbot,
            "app_id": f"app-{i}",
            "app_key": f"key-{i}",
            "callback_token": f"callback-{i}",
        }
        resp = await api.post("/v1/channels", body)
        assert resp.status == 201, await resp.text()
    await asyncio.sleep(0.05)  # provisioning on the simulator follows the commit

    async def send(api, n: int) -> list[str]:
        body = {"recipients": [{"to": f"+86138001{n}{i:04d}"} for i in range(1, 6)], "card": card()}
        resp = await api.post("/v1/messages", body)
        return [m["id"] for m in (await resp.json())["messages"]]

    sent = await asyncio.gather(send(brands[0], 1), send(brands[1], 2))
    for api, ids, chatbot in zip(brands, sent, chatbots):
        for mid in ids:
            await wait_for(api, mid, lambda v: v["status"] == "rcs_read")
            assert maap.messages[mid].chatbot_id == chatbot
    for chatbot in chatbots:
        assert maap.chatbots[chatbot].tokens_issued == 1
        assert maap.chatbots[chatbot].messages_accepted == 5
    assert maap.primary.messages_accepted == 0  # nothing went out on the platform's default chatbot
