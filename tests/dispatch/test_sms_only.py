"""A send with `"channel": "sms"` goes straight to the SMS the fallback would send, even to an
RCS-capable number; it cannot also refuse SMS."""

from __future__ import annotations

from tests.conftest import card, problem
from tests.dispatch.conftest import wait_for


async def test_an_sms_only_send_never_goes_over_rcs(sandbox_api):
    api = sandbox_api
    resp = await api.post("/v1/messages", {"to": "+8613800005101", "card": card(), "channel": "sms"})
    assert resp.status == 202, await resp.text()
    [message] = (await resp.json())["messages"]
    view = await wait_for(api, message["id"], lambda v: v["status"] == "sms_delivered")
    types = [e["type"] for e in view["events"]]
    assert "rcs_sent" not in types and "sms_sent" in types
    pending = next(e for e in view["events"] if e["type"] == "fallback_pending")
    assert pending["detail"]["reason"] == "sms_requested"


async def test_sms_only_cannot_refuse_sms(sandbox_api):
    body = {"to": "+8613800005101", "card": card(), "channel": "sms", "fallback": "none"}
    resp = await sandbox_api.post("/v1/messages", body)
    assert [e["path"] for e in (await problem(resp, 422))["errors"]] == ["/fallback"]
    resp = await sandbox_api.post("/v1/messages", {**body, "channel": "fax", "fallback": "sms"})
    assert [e["path"] for e in (await problem(resp, 422))["errors"]] == ["/channel"]
