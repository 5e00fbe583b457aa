"""Every send is screened: a `block` word refuses it (422 naming the rule, the category and the
field, never the word), a `review` word holds it for a reviewer (status `held`), a clean send
passes — for every kind of content and for each recipient's variables. SQLite and PostgreSQL,
through HTTP."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import card
from tests.dispatch.conftest import event_types, wait_for

PROBLEM = "application/problem+json"
CARD = "/card/message/generalPurposeCard/content"


def chips(display: str = "好的", data: str = "ok", url: str | None = None) -> list:
    if url:
        return [{"action": {"displayText": display, "postback": {"data": data}, "urlAction": {"openUrl": {"url": url, "application": "browser"}}}}]  # fmt: skip
    return [{"reply": {"displayText": display, "postback": {"data": data}}}]


TO = "+8613800138001"
# (name, request body, expected outcome, JSON Pointer named, category)
SENDS = [
    ("clean card", {"card": card()}, "accepted", None, None),
    ("gambling in a title", {"card": card(title="线上赌博平台")}, "block", f"{CARD}/title", "gambling"),
    ("spaced-out fraud in a description", {"card": card(description="代 开 发*票，量大从优")}, "block", f"{CARD}/description", "fraud"),
    ("absolute term in a description", {"card": card(description="全城最佳口味")}, "review", f"{CARD}/description", "absolute_terms"),
    ("full-width in a chip's postback", {"card": card(), "suggestions": chips(data="ｓｈｕａ 刷单")}, "block", "/suggestions/0/reply/postback/data", "fraud"),
    ("a chip's display text", {"text": "您好", "suggestions": chips(display="顶级好货")}, "review", "/suggestions/0/reply/displayText", "absolute_terms"),
    ("a chip's URL", {"text": "您好", "suggestions": chips(display="打开", url="https://x.example/赌场")}, "block", "/suggestions/0/action/urlAction/openUrl/url", "gambling"),
    ("plain text", {"text": "高利贷，秒到账"}, "block", "/text", "illegal_finance"),
    ("plain text, whitelisted warning", {"text": "谨防刷单诈骗"}, "accepted", None, None),
    ("location label", {"location": {"latitude": 31.2, "longitude": 121.4, "label": "澳门赌场"}}, "block", "/location/label", "gambling"),
    ("library template, clean", {"template": "verification_code", "variables": {"code": "123456", "purpose": "登录", "minutes": 5}}, "accepted", None, None),
    ("library template, a variable", {"template": "verification_code", "variables": {"code": "1", "purpose": "刷单返利", "minutes": 5}}, "block", "/variables/purpose", "fraud"),
    ("card variable", {"card": card(title="{{ t }}"), "variables": {"t": "国家级品质"}}, "review", "/variables/t", "absolute_terms"),
]  # fmt: skip


@pytest.mark.parametrize("name,body,outcome,path,category", SENDS, ids=[s[0] for s in SENDS])
async def test_each_rule_refuses_holds_or_passes(api, caplog, name, body, outcome, path, category):
    caplog.set_level(logging.DEBUG)
    resp = await api.post("/v1/messages", {"to": TO, **body})
    if outcome == "block":
        assert resp.status == 422, await resp.text()
        assert resp.content_type == PROBLEM
        problem = await resp.json(content_type=PROBLEM)
        assert problem["type"] == "/docs/problems#compliance"
        [error] = problem["errors"]
        assert error["path"] == path and f"`{category}`" in error["message"] and "compliance rule" in error["message"]
        violations = problem["violations"]
        assert {v["category"] for v in violations} == {category} and {v["path"] for v in violations} == {path}
        for violation in violations:
            assert violation["action"] == "block" and "term" not in violation and violation["rule"] in error["message"]
            matched = await _term(api, violation["rule"])
            assert matched not in await resp.text()  # the sender is told the rule, not the word
            assert matched not in _logged(caplog)  # nor is it logged
        return
    assert resp.status == 202, await resp.text()
    [msg] = (await resp.json())["messages"]
    view = await (await api.get(f"/v1/messages/{msg['id']}")).json()
    if outcome == "accepted":
        assert msg["status"] == "accepted" and event_types(view) == ["accepted"]
        return
    assert msg["status"] == "held" and view["status"] == "held" and event_types(view) == ["held"]
    assert view["events"][0]["detail"]["review_id"] == msg["review_id"]
    item = await (await api.get(f"/v1/reviews/{msg['review_id']}")).json()
    assert item["kind"] == "message" and item["state"] == "pending" and item["held"] == 1
    assert [(m["path"], m["category"], m["action"]) for m in item["matches"]] == [(path, category, "review")]


def _logged(caplog) -> str:
    """What the app logged (not the SQL driver's debug echo of its own queries)."""
    return "\n".join(
        r.getMessage() for r in caplog.records if not r.name.startswith(("aiosqlite", "asyncpg", "sqlalchemy"))
    )


async def _term(api, rule_id: str) -> str:
    """The listed word behind a rule id (the platform's list, read from the database)."""
    from sqlalchemy import select

    from compliance.tables import words
    from server import DATABASE

    async with api.client.app[DATABASE].read.connect() as conn:
        return (await conn.execute(select(words.c.term).where(words.c.id == rule_id))).scalar_one()


async def test_a_variable_holds_only_its_recipient_and_blocks_the_whole_request(api):
    recipients = [{"to": f"+86138001380{i:02d}", "variables": {"t": v}} for i, v in enumerate(["您好", "最佳", "好"])]
    resp = await api.post("/v1/messages", {"recipients": recipients, "card": card(title="{{ t }}")})
    assert resp.status == 202, await resp.text()
    assert [m["status"] for m in (await resp.json())["messages"]] == ["accepted", "held", "accepted"]

    recipients[2]["variables"]["t"] = "赌博"
    resp = await api.post("/v1/messages", {"recipients": recipients, "card": card(title="{{ t }}")})
    problem = await resp.json(content_type=PROBLEM)
    assert resp.status == 422 and [e["path"] for e in problem["errors"]] == ["/recipients/2/variables/t"]


async def test_approval_releases_held_messages_and_rejection_ends_them(api):
    hook = await api.post("/v1/webhooks", {"url": "http://127.0.0.1:9/hook", "events": ["message.status"]})
    assert hook.status == 201 or hook.status == 422  # loopback http allowed on the embedded default only
    sent = []
    for when in (None, "2099-01-01T00:00:00Z", None):
        body = {"recipients": [{"to": "+8613800138001"}, {"to": "+8613800138002"}], "card": card(title="最佳选择")}
        resp = await api.post("/v1/messages", {**body, **({"send_at": when} if when else {})})
        sent.append((await resp.json())["messages"])
    queue = await (await api.get("/v1/reviews?kind=message&state=pending")).json()
    assert len(queue["data"]) == 3
    now, later, refused = ({m["review_id"] for m in batch} for batch in sent)

    approved = await api.post(f"/v1/reviews/{now.pop()}/approve", {"reason": "活动文案已核实"})
    assert approved.status == 200, await approved.text()
    item = await approved.json()
    assert item["state"] == "approved" and item["reason"] == "活动文案已核实" and item["decided_at"]
    [decision] = item["decisions"]
    assert decision["facts"]["decision"] == "approved" and len(decision["hash"]) == 64
    for m in sent[0]:
        view = await (await api.get(f"/v1/messages/{m['id']}")).json()
        assert view["status"] == "accepted" and event_types(view) == ["held", "accepted"]
        assert view["events"][1]["source"] == "review"

    await api.post(f"/v1/reviews/{later.pop()}/approve")
    view = await (await api.get(f"/v1/messages/{sent[1][0]['id']}")).json()
    assert view["status"] == "scheduled" and view["events"][-1]["detail"]["send_at"].startswith("2099-01-01T00:00:00")

    no_reason = await api.post(f"/v1/reviews/{next(iter(refused))}/reject", {})
    assert no_reason.status == 422 and (await no_reason.json(content_type=PROBLEM))["errors"][0]["path"] == "/reason"
    rejected = await api.post(f"/v1/reviews/{refused.pop()}/reject", {"reason": "含绝对化用语"})
    assert (await rejected.json())["state"] == "rejected"
    view = await (await api.get(f"/v1/messages/{sent[2][0]['id']}")).json()
    assert view["status"] == "rejected" and view["events"][-1]["detail"]["reason"] == "rejected in review: 含绝对化用语"

    again = await api.post(f"/v1/reviews/{sent[2][0]['review_id']}/approve")
    assert again.status == 409
    assert (await (await api.get("/v1/reviews?state=pending")).json())["data"] == []


async def test_the_decision_chain_verifies_and_a_tampered_record_breaks_it(api, settings, capsys):
    from sqlalchemy import update

    from compliance.reviews import verify_chain
    from compliance.tables import review_events
    from server import DATABASE, _evidence_verify

    for title in ("最佳", "顶级", "极品"):
        resp = await api.post("/v1/messages", {"to": TO, "card": card(title=title)})
        rid = (await resp.json())["messages"][0]["review_id"]
        await api.post(f"/v1/reviews/{rid}/approve")
    db = api.client.app[DATABASE]
    assert await verify_chain(db, api.tenant_id) == (3, None)
    assert await _evidence_verify(settings) == 0  # `python server.py evidence verify`
    async with db.write.begin() as conn:
        await conn.execute(
            update(review_events).where(review_events.c.seq == 1).values(facts='{"decision":"approved"}')
        )
    assert await verify_chain(db, api.tenant_id) == (1, 1)
    capsys.readouterr()
    assert await _evidence_verify(settings) == 1
    assert capsys.readouterr().out == f"review decision chain BROKEN: tenant {api.tenant_id}, record seq 1\n"


async def test_a_held_message_can_be_cancelled(api):
    # Cancelling needs the dispatcher; without one the API says so rather than guess.
    resp = await api.post("/v1/messages", {"to": TO, "card": card(title="最佳")})
    mid = (await resp.json())["messages"][0]["id"]
    assert (await api.post(f"/v1/messages/{mid}/cancel")).status == 503


async def test_the_dispatcher_never_claims_a_held_message(sandbox_api):
    api = sandbox_api
    held = await api.post("/v1/messages", {"to": "+8613800138011", "card": card(title="最佳")})
    sent = await api.post("/v1/messages", {"to": "+8613800138012", "card": card()})
    held_id = (await held.json())["messages"][0]["id"]
    sent_id = (await sent.json())["messages"][0]["id"]
    # The clean message goes all the way while the held one waits untouched.
    await wait_for(api, sent_id, lambda v: v["status"] == "rcs_read")
    view = await (await api.get(f"/v1/messages/{held_id}")).json()
    assert view["status"] == "held" and event_types(view) == ["held"]

    cancel = await api.post(f"/v1/messages/{held_id}/cancel")
    assert cancel.status == 200 and (await cancel.json())["status"] == "revoked"
    review = (await (await api.get("/v1/reviews?kind=message")).json())["data"][0]
    approved = await api.post(f"/v1/reviews/{review['id']}/approve")
    assert approved.status == 200  # the decision is recorded; a revoked message stays revoked
    assert (await (await api.get(f"/v1/messages/{held_id}")).json())["status"] == "revoked"


async def test_approved_messages_are_sent(sandbox_api):
    api = sandbox_api
    resp = await api.post("/v1/messages", {"to": "+8613800138013", "card": card(title="最佳")})
    msg = (await resp.json())["messages"][0]
    await api.post(f"/v1/reviews/{msg['review_id']}/approve")
    view = await wait_for(api, msg["id"], lambda v: v["status"] == "rcs_read")
    assert event_types(view)[:3] == ["held", "accepted", "queued"]


async def test_a_message_approved_after_its_send_window_closed_waits_for_the_next(aiohttp_client, settings):
    """Held at 20:50 Shanghai time (inside the marketing window), approved at 21:30: it is not
    sent at once but scheduled for 08:00 the next morning; a notice approved late goes at once."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from server import ACCOUNTS, Wiring, create_app
    from tests.conftest import ApiClient
    from tests.messages.test_send_rules import MovableClock

    shanghai = ZoneInfo("Asia/Shanghai")
    clock = MovableClock(datetime(2026, 12, 2, 20, 50, tzinfo=shanghai).astimezone(UTC))
    client = await aiohttp_client(create_app(settings, Wiring(clock=clock)))
    tenant, key = await client.app[ACCOUNTS].create_tenant("Window brand")
    api = ApiClient(client, tenant.id, key)
    held = {}
    for traffic in ("marketing", "notification"):
        resp = await api.post("/v1/messages", {"to": TO, "card": card(title="最佳"), "traffic_type": traffic})
        held[traffic] = (await resp.json())["messages"][0]
        assert held[traffic]["status"] == "held"
    clock.at = datetime(2026, 12, 2, 21, 30, tzinfo=shanghai).astimezone(UTC)
    for msg in held.values():
        assert (await api.post(f"/v1/reviews/{msg['review_id']}/approve")).status == 200
    marketing = await (await api.get(f"/v1/messages/{held['marketing']['id']}")).json()
    assert marketing["status"] == "scheduled"
    send_at = datetime.fromisoformat(marketing["events"][-1]["detail"]["send_at"].replace("Z", "+00:00"))
    assert send_at.astimezone(shanghai) == datetime(2026, 12, 3, 8, 0, tzinfo=shanghai)
    notice = await (await api.get(f"/v1/messages/{held['notification']['id']}")).json()
    assert notice["status"] == "accepted"
