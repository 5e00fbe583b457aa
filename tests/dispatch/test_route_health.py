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
    expected = {"kind": "smpp", "carriers": [{"carrier": "default", "role": "primary", "tier": 0}], "last_error": None}
    assert {k: route.get(k) for k in expected} == expected and health["source"] == "process"
    assert route["latency_p50"] <= route["latency_p95"] and route["changed_at"].endswith("Z")
    assert (await sandbox_api.client.get("/v1/sms/routes")).status == 401


async def test_route_health_matches_its_schema_after_throttling(sandbox_api):
    """Issue 13 finding 13: `throttled` came back as an integer where the schema says boolean."""
    import jsonschema

    from api.openapi import openapi_document

    resp = await sandbox_api.post("/v1/messages", {"to": "+8613800138000", "card": card()})  # …00: throttled twice
    [msg] = (await resp.json())["messages"]
    await wait_for(sandbox_api, msg["id"], lambda v: v["status"] == "sms_delivered")
    health = await (await sandbox_api.get("/v1/sms/routes")).json()
    op = openapi_document("http://x")["paths"]["/v1/sms/routes"]["get"]
    jsonschema.validate(health, op["responses"]["200"]["content"]["application/json"]["schema"])
    [route] = health["data"]
    assert route["throttles"] >= 2 and isinstance(route["throttled"], bool)
