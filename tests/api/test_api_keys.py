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
    "body", [{}, {"scopes": []}, {"scopes": ["root"]}, {"scopes": "cards"}, {"scopes": ["cards"], "name": 1}]
)
async def test_bad_key_requests(api, body):
    resp = await api.post("/v1/api-keys", body)
    assert resp.status == 422


async def test_other_tenants_keys_are_out_of_reach(api):
    other = await api.new_tenant()
    made = await (await other.post("/v1/api-keys", {"scopes": ["messages"]})).json()
    assert (await api.client.delete(f"/v1/api-keys/{made['id']}", headers=api.auth)).status == 404
    assert made["id"] not in str(await (await api.get("/v1/api-keys")).json())
