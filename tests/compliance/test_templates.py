"""Template versions through compliance: the consoles' rules and `block` words refuse a version
(422 naming the rule and the field); a `review` word (or the policy `always`) puts it in review;
only an approved version is sent. SQLite and PostgreSQL, through HTTP."""

from __future__ import annotations

import pytest

from tests.conftest import card

PROBLEM = "application/problem+json"
CARD = "/card/message/generalPurposeCard/content"


def text(t: str) -> dict:
    return {"message": {"text": t}}


def link_card(url: str) -> dict:
    doc = card(title="账单")
    doc["message"]["generalPurposeCard"]["content"]["suggestions"] = [
        {"action": {"displayText": "查看", "urlAction": {"openUrl": {"url": url, "application": "browser"}}}}
    ]
    return doc


# (name, version body, rule or category named, JSON Pointer; None: the version passes)
SUBMITS = [
    ("clean", {"card": card()}, None, None),
    ("link as a sample value", {"card": text("点击{{ link }}查看账单"), "sample": {"link": "https://x.example/a"}}, "no_link_in_variable", "/sample/link"),
    ("variable host", {"card": link_card("https://{{ host }}/bill"), "sample": {"host": "x"}}, "no_link_in_variable", f"{CARD}/suggestions/0/action/urlAction/openUrl/url"),
    ("variable path is fine", {"card": link_card("https://m.example/bill/{{ id }}"), "sample": {"id": "7"}}, None, None),
    ("all variables", {"card": text("{{ a }}，{{ b }}。"), "sample": {"a": "x", "b": "y"}}, "not_all_variables", "/card/message/text"),
    ("a chip of its own is text", {"card": card(title="{{ a }}", description="{{ b }}"), "sample": {"a": "x", "b": "y"}}, None, None),
    ("brackets", {"card": text("【鸿雁】您的账单已出")}, "no_brackets", "/card/message/text"),
    ("otp without code wording", {"card": text("您的登录数字：{{ n }}"), "sample": {"n": "1"}, "traffic_type": "otp"}, "verification_wording", "/card"),
    ("otp with code wording", {"card": text("您的验证码：{{ n }}"), "sample": {"n": "1"}, "traffic_type": "otp"}, None, None),
    ("blocked word", {"card": text("刷单日结")}, "fraud", "/card/message/text"),
    ("blocked sample", {"card": text("您好{{ n }}"), "sample": {"n": "赌博"}}, "gambling", "/sample/n"),
]  # fmt: skip


@pytest.mark.parametrize("name,body,rule,path", SUBMITS, ids=[s[0] for s in SUBMITS])
async def test_each_template_rule(api, name, body, rule, path):
    resp = await api.post("/v1/templates", {"name": name, **body})
    if rule is None:
        assert resp.status == 201, await resp.text()
        assert (await resp.json())["status"] == "approved"
        return
    assert resp.status == 422, await resp.text()
    problem = await resp.json(content_type=PROBLEM)
    named = [e for e in problem["errors"] if e["path"] == path]
    assert named and f"`{rule}`" in named[0]["message"], problem["errors"]
    # Refused means not stored.
    listed = await (await api.get("/v1/templates")).json()
    assert name not in [t["name"] for t in listed["data"]]


async def test_a_new_version_is_checked_too(api):
    made = await (await api.post("/v1/templates", {"name": "bill", "card": card()})).json()
    resp = await api.post(f"/v1/templates/{made['id']}/versions", {"card": text("【品牌】您好")})
    assert resp.status == 422
    summary = await (await api.get(f"/v1/templates/{made['id']}")).json()
    assert summary["latest_version"] == 1


async def test_a_review_word_holds_a_version_until_approved(api):
    made = await (await api.post("/v1/templates", {"name": "promo", "card": card(title="全网最低价")})).json()
    assert made["status"] == "in_review"
    send = {"to": "+8613800138001", "template": {"name": "promo", "version": 1}}
    refused = await api.post("/v1/messages", send)
    assert refused.status == 422 and "in review" in (await refused.json(content_type=PROBLEM))["errors"][0]["message"]

    [item] = (await (await api.get("/v1/reviews?kind=template&state=pending")).json())["data"]
    assert item["subject"] == f"{made['id']}/1"
    assert sorted((m["term"], m["category"], m["path"]) for m in item["matches"]) == [
        ("全网最低", "absolute_terms", f"{CARD}/title"),
        ("最低价", "absolute_terms", f"{CARD}/title"),
    ]
    shown = await (await api.get(f"/v1/reviews/{item['id']}")).json()
    assert (
        shown["subject_detail"]["card"] == card(title="全网最低价") and shown["subject_detail"]["status"] == "in_review"
    )

    assert (await api.post(f"/v1/reviews/{item['id']}/approve", {"reason": "有价格监测报告"})).status == 200
    version = await (await api.get(f"/v1/templates/{made['id']}/versions/1")).json()
    assert version["status"] == "approved"
    sent = await api.post("/v1/messages", send)
    assert sent.status == 202, await sent.text()
    # A version approved in review is not held again for its own text; its variables still are.
    assert (await sent.json())["messages"][0]["status"] == "accepted"


async def test_a_rejected_version_is_never_sent(api):
    made = await (await api.post("/v1/templates", {"name": "promo", "card": card(title="顶级货源")})).json()
    [item] = (await (await api.get("/v1/reviews?kind=template")).json())["data"]
    await api.post(f"/v1/reviews/{item['id']}/reject", {"reason": "绝对化用语"})
    version = await (await api.get(f"/v1/templates/{made['id']}/versions/1")).json()
    assert version["status"] == "rejected" and version["status_reason"] == "绝对化用语"
    resp = await api.post("/v1/messages", {"to": "+8613800138001", "template": "promo"})
    assert resp.status == 422


async def test_the_policy_always_reviews_every_version(api):
    await api.client.put("/v1/compliance/policy", json={"template_review": "always"}, headers=api.auth)
    made = await (await api.post("/v1/templates", {"name": "plain", "card": card()})).json()
    assert made["status"] == "in_review"
    [item] = (await (await api.get("/v1/reviews?kind=template")).json())["data"]
    assert item["matches"] == []
