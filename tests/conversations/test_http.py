"""The conversations API over HTTP: the inbox's list and threads, a person's reply (through the
message pipeline, in the user's RCS conversation or by SMS), assign / hand-off / close, the live
event stream, stats, and bad input answered as problem+json naming the field."""

from __future__ import annotations

import asyncio
import time

import orjson

from tests.conftest import problem
from tests.conversations.test_bot_table import RULES
from tests.dispatch.conftest import wait_for

PASSWORD = "correct horse battery"


async def _handed_off(conv_env, to: str, channel: str = "rcs") -> dict:
    """A conversation the user asked a person for."""
    await conv_env.api.put("/v1/conversations/rules", RULES)
    conv_env.first_message = await conv_env.brand_sends(to)
    await conv_env.says(channel, to, "人工")
    conv = await conv_env.settled(to, 1)
    assert conv["state"] == "queued" and conv["waiting_since"] is not None
    return conv


async def _agent(conv_env, aiohttp_client, login: str = "agnes"):
    """A person with the agent role, signed in: (client, csrf headers, user id)."""
    added = await conv_env.api.post("/v1/users", {"login": login, "role": "agent", "password": PASSWORD})
    assert added.status == 201, await added.text()
    client = await aiohttp_client(conv_env.api.client.server)
    session = await client.post("/editor/session", json={"login": login, "password": PASSWORD})
    assert session.status == 201, await session.text()
    body = await session.json()
    return client, {"X-CSRF-Token": body["csrf_token"]}, (await added.json())["id"]


async def test_an_agent_takes_a_conversation_and_the_reply_reaches_the_handset(conv_env, aiohttp_client):
    to = "+8613900005011"
    conv = await _handed_off(conv_env, to)
    client, csrf, user_id = await _agent(conv_env, aiohttp_client)
    taken = await client.post(f"/v1/conversations/{conv['id']}/assign", json={"assignee": "me"}, headers=csrf)
    assert taken.status == 200, await taken.text()
    assert (await taken.json())["state"] == "assigned" and (await taken.json())["assignee"] == user_id
    mine = await client.get("/v1/conversations?assignee=me&state=assigned")
    assert [c["id"] for c in (await mine.json())["conversations"]] == [conv["id"]]

    sent = await client.post(
        f"/v1/conversations/{conv['id']}/messages", json={"text": "您好，我是客服小王。"}, headers=csrf
    )
    assert sent.status == 202, await sent.text()
    message = (await sent.json())["message"]
    assert (message["direction"], message["author"], message["agent_id"], message["text"]) == (
        "out",
        "agent",
        user_id,
        "您好，我是客服小王。",
    )
    # Through the message pipeline: a message of /v1/messages, sent in the user's conversation.
    await wait_for(conv_env.api, message["message_id"], lambda v: v["status"] in ("rcs_delivered", "rcs_read"))
    maap = conv_env.maap
    # The brand's first message opened the operator's conversation; the user wrote in it.
    opened = maap.messages[conv_env.first_message].conversation_id
    assert maap.messages[message["message_id"]].conversation_id == opened
    got = await (await conv_env.api.get(f"/v1/conversations/{conv['id']}")).json()
    assert got["waiting_since"] is None and got["unanswered"] == 0
    assert got["messages"][-1]["id"] == message["id"] and got["messages"][-1]["status"] in ("rcs_delivered", "rcs_read")

    # The bot stays silent while the person holds it; the person's reply counts as a first response.
    await conv_env.says("rcs", to, "5G")
    held = await conv_env.settled(to, 2)
    assert [m["author"] for m in held["messages"]] == ["user", "bot", "agent", "user"]
    stats = await (await conv_env.api.get("/v1/conversations/stats")).json()
    assert stats["assigned"] == 1 and stats["queued"] == 0 and stats["first_response_s"]["count"] == 1
    assert stats["handled_by_bot_pct"] == 0.0

    closed = await client.post(f"/v1/conversations/{conv['id']}/close", headers=csrf)
    assert (await closed.json())["state"] == "closed"


async def test_a_reply_in_an_sms_conversation_is_an_sms(conv_env):
    to = "+8613900005020"
    conv = await _handed_off(conv_env, to, "sms")
    sent = await conv_env.api.post(
        f"/v1/conversations/{conv['id']}/messages", json={"text": "您好，请问有什么可以帮您？"}
    )
    assert sent.status == 202, await sent.text()
    message = (await sent.json())["message"]
    assert message["author"] == "api" and message["channel"] == "sms"
    await wait_for(conv_env.api, message["message_id"], lambda v: v["status"] == "sms_delivered")
    view = await (await conv_env.api.get(f"/v1/messages/{message['message_id']}")).json()
    assert "rcs_sent" not in [e["type"] for e in view["events"]]  # straight to SMS


async def test_the_event_stream_shows_messages_and_conversations_as_they_change(conv_env):
    to = "+8613900005031"
    await conv_env.api.put("/v1/conversations/rules", RULES)
    await conv_env.brand_sends(to)
    stream = await conv_env.api.get("/v1/conversations/events")
    assert stream.status == 200 and stream.content_type == "text/event-stream"
    await conv_env.says("rcs", to, "5G")
    events: list[tuple[str, dict]] = []
    keep_alive = False
    while not (keep_alive and any(e == "message" and d["message"]["author"] == "bot" for e, d in events)):
        block = await asyncio.wait_for(stream.content.readuntil(b"\n\n"), 10)
        if block.startswith(b": keep-alive"):
            keep_alive = True
        fields = dict(
            line.split(": ", 1) for line in block.decode().strip().split("\n") if line.startswith(("event", "data"))
        )
        if "event" in fields:
            events.append((fields["event"], orjson.loads(fields["data"])))
    stream.close()
    kinds = [e for e, _ in events]
    assert "conversation" in kinds and "message" in kinds
    user = next(d for e, d in events if e == "message" and d["message"]["direction"] == "in")
    assert user["message"]["text"] == "5G"
    summary = next(d for e, d in events if e == "conversation")
    assert summary["contact"]["number_masked"].endswith("5031") and to not in orjson.dumps(events).decode()


async def test_a_slow_subscriber_loses_the_oldest_events_and_is_told_to_resync():
    from conversations.stream import Hub

    hub = Hub(queue_size=3, max_subscribers=1)
    sub = hub.subscribe("t1")
    assert sub is not None and hub.subscribe("t1") is None  # one stream too many
    for n in range(5):
        hub.publish("t1", "conversation", {"n": n})
    hub.publish("t2", "conversation", {"n": "another tenant's"})
    assert await sub.next(0.1) == ("resync", {})
    assert await sub.next(0.01) is None  # nothing after the resync but what comes next
    hub.publish("t1", "message", {"n": 5})
    assert await sub.next(0.1) == ("message", {"n": 5})
    hub.unsubscribe(sub)
    assert hub.subscribers == 0


async def test_handoff_close_and_the_list(conv_env):
    await conv_env.api.put("/v1/conversations/rules", RULES)
    ids = []
    for to in ("+8613900005041", "+8613900005051"):
        await conv_env.brand_sends(to)
        await conv_env.says("rcs", to, "5G")
        ids.append((await conv_env.settled(to, 1))["id"])
    first = await conv_env.api.get("/v1/conversations?limit=1&state=bot")
    page = await first.json()
    assert [c["id"] for c in page["conversations"]] == [ids[1]]  # the most recently active first
    second = await (await conv_env.api.get(f"/v1/conversations?limit=1&state=bot&cursor={page['next_cursor']}")).json()
    assert [c["id"] for c in second["conversations"]] == [ids[0]] and second["next_cursor"] is None

    handed = await conv_env.api.post(f"/v1/conversations/{ids[0]}/handoff", json={})
    assert (await handed.json())["state"] == "queued"
    again = await conv_env.api.post(f"/v1/conversations/{ids[0]}/handoff")
    assert (await again.json())["state"] == "queued"  # already with people: unchanged
    back = await conv_env.api.post(f"/v1/conversations/{ids[0]}/assign", json={"assignee": None})
    assert (await back.json())["state"] == "queued"
    stats = await (await conv_env.api.get("/v1/conversations/stats?hours=1")).json()
    assert (stats["queued"], stats["open"], stats["handled_by_bot_pct"]) == (1, 2, 50.0)
    assert stats["oldest_waiting_s"] is not None
    closed = await conv_env.api.post(f"/v1/conversations/{ids[0]}/close")
    assert (await closed.json())["state"] == "closed"
    queued = await (await conv_env.api.get("/v1/conversations?state=queued")).json()
    assert queued["conversations"] == []

    other = await conv_env.api.new_tenant()
    await problem(await other.get(f"/v1/conversations/{ids[0]}"), 404)
    await problem(await other.post(f"/v1/conversations/{ids[0]}/messages", json={"text": "hi"}), 404)
    await problem(await other.post(f"/v1/conversations/{ids[0]}/close"), 404)


BAD_REQUESTS = [
    ("GET", "/v1/conversations?state=open", None, 422, "/state"),
    ("GET", "/v1/conversations?limit=0", None, 422, "/limit"),
    ("GET", "/v1/conversations?cursor=%%%", None, 422, "/cursor"),
    ("GET", "/v1/conversations?assignee=me", None, 422, "/assignee"),  # an API key is nobody
    ("GET", "/v1/conversations?sort=new", None, 422, "/sort"),
    ("GET", "/v1/conversations/stats?hours=0", None, 422, "/hours"),
    ("GET", "/v1/conversations/stats?hours=x", None, 422, "/hours"),
    ("GET", "/v1/conversations/nope", None, 404, None),
    ("POST", "/v1/conversations/{id}/messages", {}, 422, "/text"),
    ("POST", "/v1/conversations/{id}/messages", {"text": ""}, 422, "/text"),
    ("POST", "/v1/conversations/{id}/messages", {"text": "a", "card": {"message": {}}}, 422, "/text"),
    ("POST", "/v1/conversations/{id}/messages", {"text": "a", "colour": "red"}, 422, "/colour"),
    ("POST", "/v1/conversations/{id}/messages", {"card": {"title": "x"}}, 422, "/card"),
    ("POST", "/v1/conversations/{id}/messages", {"template_id": "t", "template_version": 0}, 422, "/template_version"),
    ("POST", "/v1/conversations/{id}/messages", {"template_id": "no-such-template"}, 422, "/template_id"),
    ("POST", "/v1/conversations/{id}/messages", {"text": "x" * 2001}, 422, "/text"),
    ("POST", "/v1/conversations/{id}/messages", [1], 422, ""),
    ("POST", "/v1/conversations/{id}/assign", {}, 422, "/assignee"),
    ("POST", "/v1/conversations/{id}/assign", {"assignee": "me"}, 422, "/assignee"),
    ("POST", "/v1/conversations/{id}/assign", {"assignee": 7}, 422, "/assignee"),
    ("POST", "/v1/conversations/{id}/assign", {"assignee": "01a23cc2a56770009bbf8842ba9a750f"}, 422, "/assignee"),
    ("POST", "/v1/conversations/{id}/handoff", {"now": True}, 422, "/now"),
    ("POST", "/v1/conversations/{id}/close", {"why": "done"}, 422, "/why"),
    ("POST", "/v1/conversations/rules/test", {"channel": "rcs"}, 422, "/text"),
    ("POST", "/v1/conversations/rules/test", {"text": "a", "channel": "fax"}, 422, "/channel"),
    ("POST", "/v1/conversations/rules/test", {"text": "a", "misses": 5}, 422, "/misses"),
    ("PUT", "/v1/conversations/rules", {"rules": "all"}, 422, "/rules"),
    ("PUT", "/v1/conversations/rules", {"rules": [], "threshold": 2}, 422, "/threshold"),
    ("PUT", "/v1/conversations/rules", {"rules": [], "on_miss": "cry"}, 422, "/on_miss"),
    (
        "PUT",
        "/v1/conversations/rules",
        {"rules": [{"id": "a b", "match": {"kind": "any"}, "action": {"kind": "handoff"}}]},
        422,
        "/rules/0/id",
    ),
    (
        "PUT",
        "/v1/conversations/rules",
        {"rules": [{"id": "a", "match": {"kind": "fuzzy"}, "action": {"kind": "handoff"}}]},
        422,
        "/rules/0/match/kind",
    ),
    (
        "PUT",
        "/v1/conversations/rules",
        {"rules": [{"id": "a", "match": {"kind": "regex", "value": "(unclosed"}, "action": {"kind": "handoff"}}]},
        422,
        "/rules/0/match/value",
    ),
    (
        "PUT",
        "/v1/conversations/rules",
        {"rules": [{"id": "a", "match": {"kind": "regex", "value": "a" * 201}, "action": {"kind": "handoff"}}]},
        422,
        "/rules/0/match/value",
    ),
    (
        "PUT",
        "/v1/conversations/rules",
        {"rules": [{"id": "a", "match": {"kind": "number", "value": "one"}, "action": {"kind": "handoff"}}]},
        422,
        "/rules/0/match/value",
    ),
    (
        "PUT",
        "/v1/conversations/rules",
        {
            "rules": [
                {
                    "id": "a",
                    "match": {"kind": "exact", "value": "x", "channels": ["fax"]},
                    "action": {"kind": "handoff"},
                }
            ]
        },
        422,
        "/rules/0/match/channels",
    ),
    (
        "PUT",
        "/v1/conversations/rules",
        {
            "rules": [
                {"id": "a", "match": {"kind": "number", "value": "1", "menu": "none"}, "action": {"kind": "handoff"}}
            ]
        },
        422,
        "/rules/0/match/menu",
    ),
    (
        "PUT",
        "/v1/conversations/rules",
        {"rules": [{"id": "a", "match": {"kind": "any"}, "action": {"kind": "text"}}]},
        422,
        "/rules/0/action/text",
    ),
    (
        "PUT",
        "/v1/conversations/rules",
        {"rules": [{"id": "a", "match": {"kind": "any"}, "action": {"kind": "menu", "text": "m", "options": []}}]},
        422,
        "/rules/0/action/options",
    ),
    (
        "PUT",
        "/v1/conversations/rules",
        {"rules": [{"id": "a", "match": {"kind": "any"}, "action": {"kind": "tag", "tag": ""}}]},
        422,
        "/rules/0/action/tag",
    ),
    (
        "PUT",
        "/v1/conversations/rules",
        {"rules": [{"id": "a", "match": {"kind": "any"}, "action": {"kind": "journey", "journey_id": "j-1"}}]},
        422,
        "/rules/0/action/journey_id",
    ),
    (
        "PUT",
        "/v1/conversations/rules",
        {"rules": [{"id": "a", "match": {"kind": "any"}, "action": {"kind": "handoff"}}] * 2},
        422,
        "/rules/1/id",
    ),
]


async def test_bad_input_is_a_problem_naming_the_field(conv_env):
    conv = await _handed_off(conv_env, "+8613900005061")
    for method, path, body, status, where in BAD_REQUESTS:
        path = path.replace("{id}", conv["id"])
        resp = await conv_env.api.client.request(method, path, json=body, headers=conv_env.api.auth)
        assert resp.status == status, (method, path, body, await resp.text())
        found = await problem(resp, status)
        if where is not None:
            assert where in [e["path"] for e in found["errors"]], (method, path, body, found)
    # Nothing of it changed the conversation.
    after = await (await conv_env.api.get(f"/v1/conversations/{conv['id']}")).json()
    assert after["state"] == "queued" and len(after["messages"]) == len(conv["messages"])


async def test_a_body_that_is_not_json_is_a_415_problem(conv_env):
    resp = await conv_env.api.client.post(
        "/v1/conversations/rules/test", data="text=5G", headers={**conv_env.api.auth, "Content-Type": "text/plain"}
    )
    await problem(resp, 415)


async def test_a_key_without_the_scope_is_refused(conv_env):
    from server import ACCOUNTS

    made = await conv_env.app[ACCOUNTS].create_api_key(conv_env.api.tenant_id, {"messages"})
    resp = await conv_env.api.client.get("/v1/conversations", headers={"Authorization": f"Bearer {made['api_key']}"})
    found = await problem(resp, 403)
    assert "conversations" in found["detail"]


async def test_a_persons_conversations_are_exported_and_erased_by_number(conv_env):
    """PIPL by number: the export carries the person's threads opened; the erasure deletes them
    (sealed number and bodies) and the receipt counts them."""
    to = "+8613900005031"
    conv = await _handed_off(conv_env, to, "sms")
    final = {"rcs_read", "rcs_delivered", "sms_delivered", "sms_failed", "failed", "expired", "revoked"}
    await wait_for(conv_env.api, conv_env.first_message, lambda v: v["status"] in final)
    exported = await conv_env.api.post("/v1/privacy/exports", json={"to": to})
    assert exported.status == 200, await exported.text()
    (thread,) = (await exported.json())["conversations"]
    assert thread["id"] == conv["id"] and thread["channel"] == "sms"
    assert "人工" in [(m["body"] or {}).get("text") for m in thread["messages"] if m["direction"] == "in"]
    erased = await conv_env.api.post("/v1/privacy/erasures", json={"to": to})
    if erased.status == 409:  # the bot's hand-off answer is still on its way: let it end first
        for mid in (await erased.json())["message_ids"]:
            await wait_for(conv_env.api, mid, lambda v: v["status"] in final)
        erased = await conv_env.api.post("/v1/privacy/erasures", json={"to": to})
    assert erased.status == 201, await erased.text()
    receipt = (await erased.json())["erased"]
    assert receipt["conversations"] == 1 and receipt["conversation_messages"] >= 2
    assert (await conv_env.api.get(f"/v1/conversations/{conv['id']}")).status == 404
    again = await (await conv_env.api.post("/v1/privacy/exports", json={"to": to})).json()
    assert again["conversations"] == []


async def test_conversations_are_purged_after_the_tenants_retention(conv_env):
    """Thread messages older than the tenant's setting go, then the conversations left empty and
    idle since; nothing goes before its time."""
    from privacy.registry import DAY_MS
    from server import PRIVACY

    old, recent = "+8613900005041", "+8613900005042"
    await conv_env.says("sms", old, "你好")
    first = await conv_env.settled(old, 1)
    assert (await conv_env.api.put("/v1/privacy/retention", json={"conversations": 30})).status == 200
    got = await conv_env.api.get("/v1/privacy/retention")
    assert (await got.json())["conversations"] == 30
    app, tenant_id = conv_env.app, conv_env.api.tenant_id
    nothing = await app[PRIVACY].purge(tenant_id)
    assert nothing["purged"]["conversations"] == 0
    await conv_env.says("sms", recent, "你好")
    second = await conv_env.settled(recent, 1)
    # 31 days on: every message, then both conversations left empty; a second run finds none.
    now_ms = int(time.time() * 1000)
    report = await app[PRIVACY].purge(tenant_id, now_ms=now_ms + 31 * DAY_MS)
    assert report["purged"]["conversations"] >= len(first["messages"]) + len(second["messages"]) + 2
    for conv in (first, second):
        assert (await conv_env.api.get(f"/v1/conversations/{conv['id']}")).status == 404
    again = await app[PRIVACY].purge(tenant_id, now_ms=now_ms + 31 * DAY_MS)
    assert again["purged"]["conversations"] == 0
