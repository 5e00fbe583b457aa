"""/v1/api-keys: keys limited to scopes, listed without secrets, revoked at once."""

from __future__ import annotations

import pytest

from tests.conftest import ApiClient, card

PROBLEM = "application/problem+json"


async def test_scoped_key_and_revocation(api):
    resp = await api.post("/v1/api-keys", {"scopes": ["cards"]})
    assert resp.status == 201, await resp.text()
    made = await resp.json()
    limited = ApiClient(api.client, api.tenant_id, made["api_key"])
    ok = await limited.post("/v1/cards/validate", {"card": card()})
    assert ok.status == 200
    denied = await limited.post("/v1/messages", {"to": "+8613800138001", "card": card()})
    assert denied.status == 403 and "messages" in (await denied.json(content_type=PROBLEM))["detail"]
    assert (await limited.get("/v1/api-keys")).status == 403
    listed = (await (await api.get("/v1/api-keys")).json())["data"]
    assert len(listed) == 2 and all("api_key" not in k for k in listed)
    assert made["api_key"] not in str(listed)
    assert (await api.client.delete(f"/v1/api-keys/{made['id']}", headers=api.auth)).status == 204
    assert (await limited.post("/v1/cards/validate", {"card": card()})).status == 401
    assert (await api.client.delete(f"/v1/api-keys/{made['id']}", headers=api.auth)).status == 404


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"scopes": []},
        {"scopes": ["root"]},
        {"scopes": "cards"},
        {"scopes": ["cards"], "name": 1},
        {"scopes": ["cards"], "name": " "},
        {"scopes": ["cards"], "name": "x" * 101},
        {"scopes": ["cards"], "label": "x"},
    ],
)
async def test_bad_key_requests(api, body):
    resp = await api.post("/v1/api-keys", body)
    assert resp.status == 422


async def test_a_key_has_a_name_and_the_time_it_was_last_used(api):
    import asyncio
    import time

    made = await (await api.post("/v1/api-keys", {"name": "  计费系统 ", "scopes": ["cards"]})).json()
    assert made["name"] == "计费系统" and made["last_used_at"] is None

    async def listed() -> dict:
        keys = (await (await api.get("/v1/api-keys")).json())["data"]
        return next(k for k in keys if k["id"] == made["id"])

    assert (await listed())["last_used_at"] is None  # made, never used
    limited = ApiClient(api.client, api.tenant_id, made["api_key"])
    assert (await limited.post("/v1/cards/validate", {"card": card()})).status == 200
    deadline = time.monotonic() + 10
    while (used := (await listed())["last_used_at"]) is None:  # written off the request's path
        assert time.monotonic() < deadline, "the last-used time was never written"
        await asyncio.sleep(0.02)
    assert used >= made["created_at"] and (await listed())["name"] == "计费系统"


async def test_other_tenants_keys_are_out_of_reach(api):
    other = await api.new_tenant()
    made = await (await other.post("/v1/api-keys", {"scopes": ["messages"]})).json()
    assert (await api.client.delete(f"/v1/api-keys/{made['id']}", headers=api.auth)).status == 404
    assert made["id"] not in str(await (await api.get("/v1/api-keys")).json())


async def test_a_key_grants_only_the_scopes_it_holds(api):
    """Issue 13 finding 6: a key with only the `keys` scope made a key with every scope."""
    keys_only = ApiClient(
        api.client, api.tenant_id, (await (await api.post("/v1/api-keys", {"scopes": ["keys"]})).json())["api_key"]
    )
    for scopes in (
        ["messages"],
        ["keys", "channels"],
        ["cards", "templates", "webhooks", "keys", "messages", "channels"],
    ):
        resp = await keys_only.post("/v1/api-keys", {"scopes": scopes})
        assert resp.status == 403, scopes
        problem = await resp.json(content_type=PROBLEM)
        assert [e["path"] for e in problem["errors"]] == ["/scopes"]
        assert "keys" not in problem["errors"][0]["message"].split(": ", 1)[1].split(", ")
    assert (await keys_only.post("/v1/api-keys", {"scopes": ["keys"]})).status == 201
    listed = (await (await api.get("/v1/api-keys")).json())["data"]
    assert [k["scopes"] for k in listed[1:]] == [["keys"], ["keys"]]  # nothing more was minted

    two = await (await api.post("/v1/api-keys", {"scopes": ["cards", "keys"]})).json()
    narrower = ApiClient(api.client, api.tenant_id, two["api_key"])
    made = await narrower.post("/v1/api-keys", {"scopes": ["cards"]})
    assert made.status == 201 and (await made.json())["scopes"] == ["cards"]


async def test_a_key_revokes_only_keys_within_its_scopes(api):
    keys_only = await (await api.post("/v1/api-keys", {"scopes": ["keys"]})).json()
    weak = ApiClient(api.client, api.tenant_id, keys_only["api_key"])
    strong = await (await api.post("/v1/api-keys", {"scopes": ["keys", "messages"]})).json()
    resp = await weak.client.delete(f"/v1/api-keys/{strong['id']}", headers=weak.auth)
    assert resp.status == 403 and (await resp.json(content_type=PROBLEM))["errors"][0]["path"] == "/scopes"
    assert (await api.client.delete(f"/v1/api-keys/{strong['id']}", headers=api.auth)).status == 204
    peer = await (await api.post("/v1/api-keys", {"scopes": ["keys"]})).json()
    assert (await weak.client.delete(f"/v1/api-keys/{peer['id']}", headers=weak.auth)).status == 204
