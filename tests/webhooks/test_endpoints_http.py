"""Registering, listing and deleting endpoints through HTTP; validation errors."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

PROBLEM = "application/problem+json"


async def problem(resp, status: int) -> dict:
    assert resp.status == status, await resp.text()
    assert resp.content_type == PROBLEM
    return await resp.json(content_type=PROBLEM)


async def test_register_list_delete(make_hooks):
    hooks = await make_hooks()
    created = await hooks.register(["message.status"])
    assert set(created) == {"id", "secret", "url", "events", "created_at"}
    assert created["url"] == hooks.receiver.url and created["events"] == ["message.status"]
    assert re.fullmatch(r"whsec_[a-z2-7]{52}", created["secret"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", created["created_at"])

    second = await hooks.register(["message.user_event"], url="https://example.com/hooks?x=1")
    listed = await (await hooks.api.get("/v1/webhooks")).json()
    assert listed["data"] == [
        {k: v for k, v in created.items() if k != "secret"},
        {k: v for k, v in second.items() if k != "secret"},
    ]
    assert "secret" not in str(listed)

    resp = await hooks.api.client.delete(f"/v1/webhooks/{created['id']}", headers=hooks.api.auth)
    assert resp.status == 204
    listed = await (await hooks.api.get("/v1/webhooks")).json()
    assert [e["id"] for e in listed["data"]] == [second["id"]]
    # Deleting twice is a 404: it no longer exists.
    await problem(await hooks.api.client.delete(f"/v1/webhooks/{created['id']}", headers=hooks.api.auth), 404)


async def test_tenants_are_isolated(make_hooks):
    hooks = await make_hooks()
    mine = await hooks.register()
    other = await hooks.api.new_tenant()
    assert (await (await other.get("/v1/webhooks")).json())["data"] == []
    await problem(await other.client.delete(f"/v1/webhooks/{mine['id']}", headers=other.auth), 404)
    assert [e["id"] for e in (await (await hooks.api.get("/v1/webhooks")).json())["data"]] == [mine["id"]]


async def test_needs_an_api_key(make_hooks):
    hooks = await make_hooks()
    await problem(await hooks.api.client.get("/v1/webhooks"), 401)
    await problem(await hooks.api.client.post("/v1/webhooks", json={"url": hooks.receiver.url}), 401)


INVALID = [
    ({"events": ["message.status"]}, "/url"),
    ({"url": "ftp://example.com/x", "events": ["message.status"]}, "/url"),
    ({"url": "example.com/x", "events": ["message.status"]}, "/url"),
    ({"url": 42, "events": ["message.status"]}, "/url"),
    ({"url": "https:///nohost", "events": ["message.status"]}, "/url"),
    ({"url": "https://user:pw@example.com/", "events": ["message.status"]}, "/url"),
    ({"url": "https://example.com:99999/", "events": ["message.status"]}, "/url"),
    ({"url": "https://example.com/" + "a" * 2048, "events": ["message.status"]}, "/url"),
    ({"url": "https://example.com/"}, "/events"),
    ({"url": "https://example.com/", "events": []}, "/events"),
    ({"url": "https://example.com/", "events": "message.status"}, "/events"),
    ({"url": "https://example.com/", "events": ["message.status", "rcs_read"]}, "/events/1"),
    ({"url": "https://example.com/", "events": ["message.status", "message.status"]}, "/events/1"),
    ({"url": "https://example.com/", "events": [{"a": 1}]}, "/events/0"),
    ({"url": "https://example.com/", "events": ["message.status"], "secret": "mine"}, "/secret"),
]


@pytest.mark.parametrize("body,path", INVALID)
async def test_invalid_registration_is_422_naming_the_field(make_hooks, body, path):
    hooks = await make_hooks()
    err = await problem(await hooks.api.post("/v1/webhooks", body), 422)
    assert path in [e["path"] for e in err["errors"]], err
    assert (await (await hooks.api.get("/v1/webhooks")).json())["data"] == []


async def test_production_requires_https(make_hooks):
    hooks = await make_hooks(allow_http=False)
    err = await problem(
        await hooks.api.post("/v1/webhooks", {"url": "http://127.0.0.1:9/x", "events": ["message.status"]}), 422
    )
    assert err["errors"] == [{"path": "/url", "message": "must be an https:// URL"}]
    resp = await hooks.api.post("/v1/webhooks", {"url": "https://hooks.example.com/x", "events": ["message.status"]})
    assert resp.status == 201


async def test_malformed_json_and_wrong_type(make_hooks):
    hooks = await make_hooks()
    await problem(await hooks.api.post("/v1/webhooks", data=b"{", headers={"Content-Type": "application/json"}), 400)
    await problem(await hooks.api.post("/v1/webhooks", data=b"url=x", headers={"Content-Type": "text/plain"}), 415)
    await problem(await hooks.api.post("/v1/webhooks", ["x"]), 422)


async def test_endpoint_count_is_bounded(make_hooks):
    from webhooks.service import MAX_ENDPOINTS

    hooks = await make_hooks()
    for _ in range(MAX_ENDPOINTS):
        await hooks.register()
    err = await problem(
        await hooks.api.post("/v1/webhooks", {"url": hooks.receiver.url, "events": ["message.status"]}), 422
    )
    assert err["errors"][0]["path"] == "/url"


async def test_openapi_describes_webhooks(make_hooks):
    hooks = await make_hooks()
    doc = await (await hooks.api.client.get("/openapi.json")).json()
    assert {"post", "get"} <= set(doc["paths"]["/v1/webhooks"])
    assert "delete" in doc["paths"]["/v1/webhooks/{id}"]
    assert "get" in doc["paths"]["/v1/webhook-deliveries"]
    assert "WebhookDelivery" in doc["components"]["schemas"]


@pytest.mark.parametrize(
    "query,path", [("limit=0", "/limit"), ("limit=x", "/limit"), ("status=sent", "/status"), ("cursor=!!!", "/cursor")]
)
async def test_delivery_list_query_errors(make_hooks, query, path):
    hooks = await make_hooks()
    err = await problem(await hooks.api.get(f"/v1/webhook-deliveries?{query}"), 422)
    assert [e["path"] for e in err["errors"]] == [path]


async def test_rotating_the_secret_signs_with_both_through_the_grace_then_the_new_one(make_hooks):
    import security
    from tests.editor.conftest import ManualClock
    from tests.webhooks.conftest import status_event

    clock = ManualClock(datetime.now(UTC))
    hooks = await make_hooks(clock)
    endpoint = await hooks.register()
    old = endpoint["secret"]

    def verify(secret: str, hit) -> None:
        security.verify_webhook(secret, hit.raw, hit.headers[security.SIGNATURE_HEADER], int(hooks.now_ms() / 1000))

    await hooks.emit(status_event(hooks, "m1", "rcs_delivered", "evt-1"))
    first = await hooks.receiver.next()
    verify(old, first)
    assert first.headers[security.SIGNATURE_HEADER].count("v1=") == 1

    answer = await hooks.api.post(f"/v1/webhooks/{endpoint['id']}/secret", {"grace_seconds": 3600})
    assert answer.status == 200, await answer.text()
    rotated = await answer.json()
    assert rotated["id"] == endpoint["id"] and rotated["secret"] != old
    assert rotated["previous_secret_valid_until"] > rotated["rotated_at"]
    # Within the grace both sign: a receiver still on the old secret and one on the new accept it.
    await hooks.emit(status_event(hooks, "m2", "rcs_delivered", "evt-2"))
    second = await hooks.receiver.next()
    assert second.headers[security.SIGNATURE_HEADER].count("v1=") == 2
    verify(old, second)
    verify(rotated["secret"], second)
    # After it, only the new one.
    clock.advance(seconds=3601)
    hooks.receiver.secrets[:] = [rotated["secret"]]
    await hooks.emit(status_event(hooks, "m3", "rcs_delivered", "evt-3"))
    third = await hooks.receiver.next()
    assert third.verified and third.headers[security.SIGNATURE_HEADER].count("v1=") == 1
    with pytest.raises(ValueError):  # WebhookSignatureError
        verify(old, third)
    # No grace: the old secret stops at once; a bad grace is refused naming the field.
    again = await (await hooks.api.post(f"/v1/webhooks/{endpoint['id']}/secret", {"grace_seconds": 0})).json()
    assert again["previous_secret_valid_until"] is None
    hooks.receiver.secrets[:] = [again["secret"]]
    await hooks.emit(status_event(hooks, "m4", "rcs_delivered", "evt-4"))
    fourth = await hooks.receiver.next()
    assert fourth.verified and fourth.headers[security.SIGNATURE_HEADER].count("v1=") == 1
    for bad in ({"grace_seconds": -1}, {"grace_seconds": 8 * 86400}, {"grace_seconds": "1h"}, {"grace": 1}):
        refused = await hooks.api.post(f"/v1/webhooks/{endpoint['id']}/secret", bad)
        assert refused.status == 422, bad

    other = await hooks.api.new_tenant()
    assert (await other.post(f"/v1/webhooks/{endpoint['id']}/secret")).status == 404
    assert (await hooks.api.post("/v1/webhooks/nope/secret")).status == 404
