"""SMS route health through the API, after real SMS went through the sandbox SMSC."""

from __future__ import annotations

from tests.conftest import card
from tests.dispatch.conftest import wait_for


async def test_route_health_is_visible(sandbox_api):
    resp = await sandbox_api.post("/v1/messages", {"to": "+8613800138010", "card": card()})
    [msg] = (await resp.json())["messages"]
    await wait_for(sandbox_api, msg["id"], lambda v: v["status"] == "sms_delivered")
    health = await (await sandbox_api.get("/v1/sms/routes")).json()
    [route] = health["data"]
    assert route["state"] == "in_rotation" and route["samples"] >= 1 and route["error_rate"] == 0
    assert (await sandbox_api.client.get("/v1/sms/routes")).status == 401
