"""/v1/compliance: a tenant's categories, words and whitelist (add, import, export, remove), the
check endpoint, the policy; every change reaches the next send; lists are per tenant; the
`compliance` and `reviews` scopes guard them. SQLite and PostgreSQL, through HTTP."""

from __future__ import annotations

import csv
import io

import orjson
import pytest

from tests.conftest import card

PROBLEM = "application/problem+json"
TO = "+8613800138001"


async def send(api, title: str) -> int:
    return (await api.post("/v1/messages", {"to": TO, "card": card(title=title)})).status


async def test_a_tenant_category_and_its_words_reach_the_next_send(api):
    assert await send(api, "本店内部价特惠") == 202
    put = await api.client.put(
        "/v1/compliance/categories/competitors", json={"action": "block", "description": "竞品"}, headers=api.auth
    )
    assert put.status == 200, await put.text()
    added = await api.post("/v1/compliance/words", {"words": ["内部价", "友商"], "category": "competitors"})
    assert added.status == 201 and (await added.json()) == {"added": 2}
    assert await send(api, "本店内 部 价特惠") == 422
    # Another tenant's sends know nothing of this list.
    other = await api.new_tenant()
    assert await send(other, "本店内部价特惠") == 202

    cats = {c["name"]: c for c in (await (await api.get("/v1/compliance/categories")).json())["data"]}
    assert cats["competitors"] == {
        "name": "competitors",
        "action": "block",
        "description": "竞品",
        "scope": "tenant",
        "words": 2,
    }
    assert (
        cats["gambling"]["scope"] == "platform"
        and cats["gambling"]["action"] == "block"
        and cats["gambling"]["words"] > 0
    )
    assert "competitors" not in {
        c["name"] for c in (await (await other.get("/v1/compliance/categories")).json())["data"]
    }

    # Review instead of block: the send is held.
    await api.client.put("/v1/compliance/categories/competitors", json={"action": "review"}, headers=api.auth)
    resp = await api.post("/v1/messages", {"to": TO, "card": card(title="友商价格")})
    assert (await resp.json())["messages"][0]["status"] == "held"

    # Whitelisting a phrase of the tenant's own words lets it through; removing the word too.
    await api.post("/v1/compliance/words", {"allow": ["友商价格对比"]})
    assert (await (await api.post("/v1/messages", {"to": TO, "card": card(title="友商价格对比")})).json())["messages"][
        0
    ]["status"] == "accepted"
    removed = await api.post("/v1/compliance/words/remove", {"words": ["内部价"]})
    assert (await removed.json()) == {"removed": 1}
    assert await send(api, "本店内部价特惠") == 202

    deleted = await api.client.delete("/v1/compliance/categories/competitors", headers=api.auth)
    assert deleted.status == 204
    assert await send(api, "友商价格") == 202


BAD = [
    # (method, path, body, status, pointer)
    ("put", "/v1/compliance/categories/gambling", {"action": "review"}, 409, "/name"),  # a platform category
    ("put", "/v1/compliance/categories/x", {"action": "delete"}, 422, "/action"),
    ("put", "/v1/compliance/categories/x", {"action": "block", "colour": 1}, 422, "/colour"),
    ("post", "/v1/compliance/words", {"words": ["a"]}, 422, "/category"),
    ("post", "/v1/compliance/words", {"words": ["a"], "category": "nope"}, 422, "/words/0"),
    ("post", "/v1/compliance/words", {"words": ["！！"], "category": "gambling"}, 422, "/words/0"),
    ("post", "/v1/compliance/words", {"words": ["x" * 201], "category": "gambling"}, 422, "/words/0"),
    ("post", "/v1/compliance/words", {}, 422, "/words"),
    ("post", "/v1/compliance/words/remove", {"words": "a"}, 422, "/words"),
    ("post", "/v1/compliance/check", {"card": card(), "text": "x"}, 422, "/card"),
    ("put", "/v1/compliance/policy", {"template_review": "never"}, 422, "/template_review"),
]


@pytest.mark.parametrize("method,path,body,status,where", BAD)
async def test_bad_requests_name_the_field(api, method, path, body, status, where):
    resp = await getattr(api.client, method)(path, json=body, headers=api.auth)
    assert resp.status == status, await resp.text()
    problem = await resp.json(content_type=PROBLEM)
    assert where in [e["path"] for e in problem["errors"]]


async def test_import_in_every_format_and_export_round_trip(api):
    await api.client.put("/v1/compliance/categories/spam", json={"action": "review"}, headers=api.auth)
    files = [
        ("text/plain", "\ufeff垃圾词一\n\n垃圾词二\n", {"category": "spam"}),
        (
            "text/csv",
            'term,category,kind\n垃圾词三,spam,word\n"垃圾,词四",,\n垃圾词一号,,allow\n',
            {"category": "spam"},
        ),
        (
            "application/x-ndjson",
            '{"term": "垃圾词五"}\n{"term": "垃圾词六", "category": "gambling"}\n',
            {"category": "spam"},
        ),
        ("application/json", orjson.dumps([{"term": "垃圾词七", "category": "spam"}]).decode(), {}),
    ]
    for ctype, data, query in files:
        resp = await api.client.post(
            "/v1/compliance/words/import", data=data.encode(), params=query, headers={**api.auth, "Content-Type": ctype}
        )
        assert resp.status == 201, (ctype, await resp.text())
    exported = await (await api.get("/v1/compliance/words/export?format=csv")).text()
    header, *rest = csv.reader(io.StringIO(exported))
    assert header == ["term", "category", "kind"]
    rows = sorted(tuple(r) for r in rest)
    assert rows == sorted(
        [
            ("垃圾词一", "spam", "word"), ("垃圾词二", "spam", "word"), ("垃圾词三", "spam", "word"),
            ("垃圾,词四", "spam", "word"), ("垃圾词一号", "", "allow"), ("垃圾词五", "spam", "word"),
            ("垃圾词六", "gambling", "word"), ("垃圾词七", "spam", "word"),
        ]
    )  # fmt: skip
    for fmt in ("json", "ndjson", "text"):
        resp = await api.get(f"/v1/compliance/words/export?format={fmt}")
        body = await resp.read()
        terms = (
            [i["term"] for i in orjson.loads(body)]
            if fmt == "json"
            else [orjson.loads(line)["term"] for line in body.splitlines()]
            if fmt == "ndjson"
            else body.decode().splitlines()
        )
        assert sorted(terms) == sorted(r[0] for r in rows)
    # Exported, the list imports again as it was (into another tenant).
    other = await api.new_tenant()
    await other.client.put("/v1/compliance/categories/spam", json={"action": "review"}, headers=other.auth)
    resp = await other.client.post(
        "/v1/compliance/words/import", data=exported.encode(), headers={**other.auth, "Content-Type": "text/csv"}
    )
    assert (await resp.json()) == {"imported": 8}
    page = await (await other.get("/v1/compliance/words?kind=allow")).json()
    assert [w["term"] for w in page["data"]] == ["垃圾词一号"]


async def test_an_import_names_its_bad_lines(api):
    resp = await api.client.post(
        "/v1/compliance/words/import?category=gambling",
        data="好词\n{not json\n".encode(),
        headers={**api.auth, "Content-Type": "application/x-ndjson"},
    )
    problem = await resp.json(content_type=PROBLEM)
    assert resp.status == 422 and [e["path"] for e in problem["errors"]] == ["/lines/1", "/lines/2"]
    resp = await api.client.post(  # a bare CR inside a CSV line is that line's error, not a 500
        "/v1/compliance/words/import?category=gambling",
        data="好词\n坏\r词\n".encode(),
        headers={**api.auth, "Content-Type": "text/csv"},
    )
    problem = await resp.json(content_type=PROBLEM)
    assert resp.status == 422 and [e["path"] for e in problem["errors"]] == ["/lines/2"]


async def test_words_page_with_a_cursor(api):
    await api.post("/v1/compliance/words", {"words": [f"词{i:03d}" for i in range(25)], "category": "gambling"})
    seen, cursor = [], None
    while True:
        page = await (await api.get("/v1/compliance/words?limit=10" + (f"&cursor={cursor}" if cursor else ""))).json()
        seen += [w["term"] for w in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [f"词{i:03d}" for i in range(25)]


async def test_check_says_what_would_match_and_why(api):
    resp = await api.post(
        "/v1/compliance/check",
        {"card": card(title="最佳{{ x }}", description="谨防刷单"), "variables": {"x": "赌 博"}},
    )
    body = await resp.json()
    assert body["outcome"] == "block"
    assert [(m["path"], m["term"], m["category"], m["action"], m["scope"]) for m in body["matches"]] == [
        ("/card/message/generalPurposeCard/content/title", "最佳", "absolute_terms", "review", "platform"),
        ("/variables/x", "赌博", "gambling", "block", "platform"),
    ]
    clean = await (await api.post("/v1/compliance/check", {"text": "您的验证码是123456"})).json()
    assert clean == {"outcome": "pass", "matches": []}
    rules = await (
        await api.post("/v1/compliance/check", {"text": "【品牌】{{ code }}", "traffic_type": "otp", "template": True})
    ).json()
    assert rules["outcome"] == "block"
    assert {e["message"].split("`")[1] for e in rules["template_rules"]} == {"no_brackets", "verification_wording"}


async def test_the_scopes_guard_lists_and_reviews(api):
    made = await api.post("/v1/api-keys", {"scopes": ["messages"]})
    sender = {"Authorization": f"Bearer {(await made.json())['api_key']}"}
    for path in ("/v1/compliance/categories", "/v1/reviews"):
        resp = await api.client.get(path, headers=sender)
        assert resp.status == 403, path
    resp = await api.client.post("/v1/reviews/x/approve", json={}, headers=sender)
    assert resp.status == 403
    full = await (await api.get("/v1/api-keys")).json()
    assert {"compliance", "reviews"} <= set(full["data"][0]["scopes"])


async def test_the_policy(api):
    assert (await (await api.get("/v1/compliance/policy")).json())["template_review"] == "matched"
    resp = await api.client.put("/v1/compliance/policy", json={"template_review": "always"}, headers=api.auth)
    assert (await resp.json())["template_review"] == "always"


async def test_a_signature_change_waits_for_review(api):
    async def signature_in_use() -> str:
        resp = await api.post("/v1/sms/segments", {"text": "您好", "mode": "cn"})
        return "".join(p["text"] for p in (await resp.json())["parts"]).removesuffix("您好")

    before = await signature_in_use()
    assert before == "【鸿雁测试】"  # the sandbox signature a tenant starts with
    for body, status, where in (
        ({"signature": "鸿雁"}, 422, "/signature"),
        ({"signature": "【赌博之家】"}, 422, "/signature"),
        ({"signature": "【新鸿雁】", "x": 1}, 422, "/x"),
    ):
        resp = await api.post("/v1/compliance/signature", body)
        assert resp.status == status and where in [e["path"] for e in (await resp.json(content_type=PROBLEM))["errors"]]
    resp = await api.post("/v1/compliance/signature", {"signature": "【新鸿雁】"})
    assert resp.status == 202, await resp.text()
    item = await resp.json()
    assert item["kind"] == "signature" and item["state"] == "pending"
    assert item["subject_detail"] == {"signature": "【新鸿雁】", "previous": before}
    assert (await api.post("/v1/compliance/signature", {"signature": "【又一个】"})).status == 409
    assert await signature_in_use() == before  # nothing changes before the review

    assert (await api.post(f"/v1/reviews/{item['id']}/approve")).status == 200
    assert await signature_in_use() == "【新鸿雁】"
    rejected = await api.post("/v1/compliance/signature", {"signature": "【第三个】"})
    await api.post(f"/v1/reviews/{(await rejected.json())['id']}/reject", {"reason": "未在运营商报备"})
    assert await signature_in_use() == "【新鸿雁】"
