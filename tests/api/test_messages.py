"""POST/GET /v1/messages through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import orjson
import pytest

from tests.conftest import card

PROBLEM = "application/problem+json"


async def problem(resp, status: int) -> dict:
    assert resp.status == status, await resp.text()
    assert resp.content_type == PROBLEM
    body = await resp.json(content_type=PROBLEM)
    assert body["status"] == status and body["title"] and body["detail"]
    return body


async def test_healthz_needs_no_key(api):
    resp = await api.client.get("/healthz")
    assert resp.status == 200 and (await resp.json()) == {"status": "ok"}


async def test_single_send_is_accepted_and_readable(api):
    resp = await api.post(
        "/v1/messages",
        {"to": "13800138001", "card": card(description="本月话费 {{ amount }} 元"), "variables": {"amount": "58.00"}},
    )
    assert resp.status == 202, await resp.text()
    body = await resp.json()
    [msg] = body["messages"]
    assert msg["to"] == "+8613800138001" and msg["status"] == "accepted"
    got = await (await api.get(f"/v1/messages/{msg['id']}")).json()
    assert got["id"] == msg["id"] and got["batch_id"] == body["batch_id"]
    assert got["to"] == "+8613800138001" and got["status"] == "accepted"
    assert [e["type"] for e in got["events"]] == ["accepted"]
    assert got["events"][0]["at"].endswith("Z")


async def test_batch_answers_in_recipient_order_and_pages(api):
    numbers = [f"+86138001380{i:02d}" for i in range(1, 26)]
    resp = await api.post(
        "/v1/messages",
        {
            "recipients": [{"to": n, "variables": {"amount": str(i)}} for i, n in enumerate(numbers)],
            "card": card(),
            "traffic_type": "marketing",
            "ttl": 600,
            "client_ref": "campaign-7",
        },
    )
    assert resp.status == 202, await resp.text()
    body = await resp.json()
    assert [m["to"] for m in body["messages"]] == numbers
    seen, cursor = [], None
    while True:
        q = f"/v1/messages?batch_id={body['batch_id']}&limit=10" + (f"&cursor={cursor}" if cursor else "")
        page = await (await api.get(q)).json()
        seen += [m["to"] for m in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == numbers


async def test_scheduled_send(api):
    resp = await api.post("/v1/messages", {"to": "+8613800138001", "card": card(), "send_at": "2099-01-01T00:00:00Z"})
    assert resp.status == 202
    [msg] = (await resp.json())["messages"]
    assert msg["status"] == "scheduled"
    got = await (await api.get(f"/v1/messages/{msg['id']}")).json()
    assert [e["type"] for e in got["events"]] == ["accepted", "scheduled"]


INVALID = [
    # (body, JSON Pointer that must be named)
    ({"card": card()}, "/to"),
    ({"to": "+8613800138001", "recipients": [{"to": "+8613800138002"}], "card": card()}, "/to"),
    ({"to": "12345", "card": card()}, "/to"),
    ({"to": "+8613800138001"}, "/card"),
    ({"to": "+8613800138001", "card": card(), "template": "bill"}, "/card"),
    ({"to": "+8613800138001", "card": "hello"}, "/card"),
    ({"to": "+8613800138001", "card": {"nomessage": {}}}, "/card/message"),
    ({"to": "+8613800138001", "card": card(), "traffic_type": "spam"}, "/traffic_type"),
    ({"to": "+8613800138001", "card": card(), "ttl": 0}, "/ttl"),
    ({"to": "+8613800138001", "card": card(), "ttl": 1_296_001}, "/ttl"),
    ({"to": "+8613800138001", "card": card(), "ttl": "60"}, "/ttl"),
    ({"to": "+8613800138001", "card": card(), "send_at": "tomorrow"}, "/send_at"),
    ({"to": "+8613800138001", "card": card(), "send_at": "2030-01-01T00:00:00"}, "/send_at"),
    ({"to": "+8613800138001", "card": card(), "client_ref": "x" * 201}, "/client_ref"),
    ({"to": "+8613800138001", "card": card(), "colour": "red"}, "/colour"),
    ({"to": "+8613800138001", "card": card(), "variables": [1]}, "/variables"),
    ({"recipients": [], "card": card()}, "/recipients"),
    ({"recipients": [{"to": "+8613800138001"}, {"to": "not-a-number"}], "card": card()}, "/recipients/1/to"),
    ({"recipients": [{"to": "+8613800138001", "variables": "x"}], "card": card()}, "/recipients/0/variables"),
    ({"recipients": ["+8613800138001"], "card": card()}, "/recipients/0"),
    ({"recipients": [{"to": "+8613800138001"}] * 10_001, "card": card()}, "/recipients"),
    ({"to": "+8613800138001", "template": {"name": "bill", "version": 0}}, "/template/version"),
]


@pytest.mark.parametrize("body,path", INVALID)
async def test_invalid_fields_are_422_naming_the_field(api, body, path):
    err = await problem(await api.post("/v1/messages", body), 422)
    assert path in [e["path"] for e in err["errors"]], err


async def test_invalid_request_stores_nothing(api):
    await api.post("/v1/messages", {"recipients": [{"to": "+8613800138001"}, {"to": "bad"}], "card": card()})
    page = await (await api.get("/v1/messages")).json()
    assert page["data"] == []


@pytest.mark.parametrize(
    "headers,status",
    [
        ({}, 401),
        ({"Authorization": "Bearer hy_nope"}, 401),
        ({"Authorization": "Basic abc"}, 401),
    ],
)
async def test_auth_errors(api, headers, status):
    resp = await api.client.post("/v1/messages", json={"to": "+8613800138001", "card": card()}, headers=headers)
    await problem(resp, status)
    assert "WWW-Authenticate" in resp.headers


async def test_malformed_json_is_400(api):
    resp = await api.post("/v1/messages", data=b'{"to": ', headers={"Content-Type": "application/json"})
    await problem(resp, 400)


async def test_wrong_content_type_is_415(api):
    resp = await api.post("/v1/messages", data=b"to=1", headers={"Content-Type": "application/x-www-form-urlencoded"})
    await problem(resp, 415)


async def test_too_large_is_413(api):
    big = b'{"to": "' + b"1" * (17 * 1024 * 1024) + b'"}'
    resp = await api.post("/v1/messages", data=big, headers={"Content-Type": "application/json"})
    await problem(resp, 413)


async def test_non_object_body_is_422(api):
    err = await problem(await api.post("/v1/messages", [1, 2]), 422)
    assert err["errors"][0]["path"] == ""


async def test_idempotency(api):
    body = {"to": "+8613800138001", "card": card()}
    key = {"Idempotency-Key": "order-42"}
    first = await api.post("/v1/messages", body, headers=key)
    again = await api.post("/v1/messages", body, headers=key)
    assert first.status == again.status == 202
    assert await first.json() == await again.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    other = await api.post("/v1/messages", {**body, "ttl": 60}, headers=key)
    await problem(other, 409)
    # Checked before validation: an invalid body under a used key is still a conflict.
    await problem(await api.post("/v1/messages", {"to": "bad"}, headers=key), 409)
    page = await (await api.get("/v1/messages")).json()
    assert len(page["data"]) == 1


async def test_idempotency_compares_the_json_not_its_bytes(api):
    """Issue 13 finding 11: the same JSON with other spacing or key order was a 409."""
    body = {"to": "+8613800138001", "card": card(title="账单"), "ttl": 600}
    key = {"Idempotency-Key": "order-43", "Content-Type": "application/json"}
    compact = orjson.dumps(body)
    first = await api.client.post("/v1/messages", data=compact, headers={**api.auth, **key})
    assert first.status == 202
    respelled = [
        json.dumps(body, indent=2).encode(),  # spacing, and \u escapes for the Chinese text
        json.dumps(dict(reversed(list(body.items()))), separators=(" , ", " : "), ensure_ascii=False).encode(),
        b"\n " + orjson.dumps(body, option=orjson.OPT_SORT_KEYS) + b" \n",
    ]
    for raw in respelled:
        again = await api.client.post("/v1/messages", data=raw, headers={**api.auth, **key})
        assert again.status == 202, await again.text()
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert await again.json() == await first.json()
    changed = await api.client.post(
        "/v1/messages", data=orjson.dumps({**body, "ttl": 601}), headers={**api.auth, **key}
    )
    await problem(changed, 409)
    assert len((await (await api.get("/v1/messages")).json())["data"]) == 1


async def test_a_key_stored_with_the_raw_body_still_replays(api):
    """Keys stored before bodies were compared canonically hold the HMAC of the raw bytes."""
    from messages.http import LEDGER
    from messages.ledger import _sm3
    from messages.tables import idempotency_keys
    from server import DATABASE

    ledger = api.client.app[LEDGER]
    raw = b'{ "to" : "+8613800138001", "card" : ' + orjson.dumps(card()) + b" }"
    first = await api.client.post(
        "/v1/messages", data=raw, headers={**api.auth, "Content-Type": "application/json", "Idempotency-Key": "old"}
    )
    assert first.status == 202
    legacy = ledger.keyring.blind_index(api.tenant_id, _sm3(raw).hex(), purpose="idempotency-body")
    async with api.client.app[DATABASE].write.begin() as conn:
        await conn.execute(idempotency_keys.update().values(body_hmac=legacy))
    again = await api.client.post(
        "/v1/messages", data=raw, headers={**api.auth, "Content-Type": "application/json", "Idempotency-Key": "old"}
    )
    assert again.status == 202 and again.headers.get("Idempotent-Replayed") == "true"
    await problem(
        await api.post("/v1/messages", {"to": "+8613800138002", "card": card()}, headers={"Idempotency-Key": "old"}),
        409,
    )


async def test_a_body_nested_deeper_than_orjson_writes_is_no_500(api):
    deep: object = "x"
    for _ in range(300):
        deep = [deep]
    body = {"to": "+8613800138001", "card": card(), "client_ref": deep}
    resp = await api.post("/v1/messages", body, headers={"Idempotency-Key": "deep"})
    await problem(resp, 422)


async def test_idempotency_keys_are_per_tenant(api):
    other = await api.new_tenant()
    body = {"to": "+8613800138001", "card": card()}
    a = await api.post("/v1/messages", body, headers={"Idempotency-Key": "k"})
    b = await other.post("/v1/messages", body, headers={"Idempotency-Key": "k"})
    assert a.status == b.status == 202
    assert (await a.json())["batch_id"] != (await b.json())["batch_id"]


async def test_tenant_isolation_is_404(api):
    other = await api.new_tenant()
    resp = await api.post("/v1/messages", {"to": "+8613800138001", "card": card()})
    [msg] = (await resp.json())["messages"]
    await problem(await other.get(f"/v1/messages/{msg['id']}"), 404)
    assert (await (await other.get("/v1/messages")).json())["data"] == []
    batch = (await resp.json())["batch_id"]
    assert (await (await other.get(f"/v1/messages?batch_id={batch}")).json())["data"] == []


async def test_unknown_message_is_404(api):
    await problem(await api.get("/v1/messages/0000"), 404)


@pytest.mark.parametrize("query,path", [("limit=0", "/limit"), ("limit=abc", "/limit"), ("cursor=%%%", "/cursor")])
async def test_bad_list_parameters(api, query, path):
    err = await problem(await api.get(f"/v1/messages?{query}"), 422)
    assert err["errors"][0]["path"] == path


async def test_rate_limit_is_429_with_the_ratelimit_fields(api):
    limited = await api.new_tenant("Limited", rate_limit=3)
    body = {"recipients": [{"to": "+8613800138001"}, {"to": "+8613800138002"}], "card": card()}
    first = await limited.post("/v1/messages", body)
    assert first.status == 202
    assert first.headers["RateLimit-Limit"] == "3" and first.headers["RateLimit-Remaining"] in ("1", "2")
    assert int(first.headers["RateLimit-Reset"]) >= 0
    resp = await limited.post("/v1/messages", body)
    await problem(resp, 429)
    assert int(resp.headers["Retry-After"]) >= 1
    assert resp.headers["RateLimit-Limit"] == "3" and resp.headers["RateLimit-Remaining"] in ("0", "1")
    unlimited = await api.post("/v1/messages", {"to": "+8613800138001", "card": card()})
    assert "RateLimit-Limit" not in unlimited.headers  # no limit set for this tenant


async def test_an_accepted_send_says_where_to_follow_it(api):
    one = await api.post("/v1/messages", {"to": "+8613800138001", "card": card()})
    assert one.status == 202
    message_id = (await one.json())["messages"][0]["id"]
    assert one.headers["Location"] == f"/v1/messages/{message_id}"
    assert (await api.get(one.headers["Location"])).status == 200
    many = await api.post("/v1/messages", {"recipients": [{"to": "+8613800138001"}], "card": card()})
    batch_id = (await many.json())["batch_id"]
    assert many.headers["Location"] == f"/v1/messages?batch_id={batch_id}"
    listed = await (await api.get(many.headers["Location"])).json()
    assert [m["batch_id"] for m in listed["data"]] == [batch_id]


CARD_422 = [
    # (body, path, words in the message)
    ({"to": "+8613800138001", "card": card(description="话费 {{ amount }} 元")}, "/variables", "amount"),
    (
        {
            "recipients": [{"to": "+8613800138001", "variables": {"amount": 1}}, {"to": "+8613800138002"}],
            "card": card(description="话费 {{ amount }} 元"),
        },
        "/recipients/1/variables",
        "amount",
    ),
    ({"to": "+8613800138001", "card": card(title="x" * 201)}, "/card/message/generalPurposeCard/content/title", "200"),
    ({"to": "+8613800138001", "card": card(title="{{ t }}"), "variables": {"t": "长" * 201}}, "/variables", "title"),
    ({"to": "+8613800138001", "template": "no-such-template"}, "/template/name", "no-such-template"),
    # A text message with a chip list: the errors point at `text` and at `suggestions`.
    ({"to": "+8613800138001", "text": "长" * 2001}, "/text", "2000"),
    (
        {"to": "+8613800138001", "text": "你好", "suggestions": [{"reply": {"displayText": "x" * 26}}]},
        "/suggestions/0/reply/displayText",
        "25",
    ),
    (
        {"to": "+8613800138001", "text": "你好", "suggestions": [{"reply": {"displayText": "好"}}] * 12},
        "/suggestions",
        "11",
    ),
    ({"to": "+8613800138001", "card": card(), "suggestions": "yes"}, "/suggestions", "chip list"),
    (
        {
            "to": "+8613800138001",
            "card": {**card(), "suggestions": [{"reply": {"displayText": "a"}}]},
            "suggestions": [{"reply": {"displayText": "b"}}],
        },
        "/suggestions",
        "already has a chip list",
    ),
    ({"to": "+8613800138001", "text": "{{ name }} 您好"}, "/variables", "name"),
    ({"to": "+8613800138001", "text": "你好", "card": card()}, "/card", "exactly one of"),
]


@pytest.mark.parametrize("body,path,words", CARD_422)
async def test_card_is_validated_and_composed_per_recipient(api, body, path, words):
    err = await problem(await api.post("/v1/messages", body), 422)
    hits = [e for e in err["errors"] if e["path"] == path]
    assert hits and words in hits[0]["message"], err


async def test_send_from_a_library_template(api):
    import cards

    name, template = sorted(cards.load_library().items())[0]
    resp = await api.post("/v1/messages", {"to": "+8613800138001", "template": name, "variables": template.sample})
    assert resp.status == 202, await resp.text()
