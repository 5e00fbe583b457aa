"""/v1/templates through HTTP: create, list, read, immutable versions, sending with a version."""

from __future__ import annotations

import pytest

from tests.conftest import card

PROBLEM = "application/problem+json"


async def create(api, name="bill", title="{{ name }}，账单已出", **extra):
    body = {"name": name, "card": card(title=title), "sample": {"name": "张三"}, **extra}
    return await api.post("/v1/templates", body)


async def test_create_read_and_version(api):
    resp = await create(api)
    assert resp.status == 201, await resp.text()
    v1 = await resp.json()
    assert v1["version"] == 1 and v1["name"] == "bill"
    v2 = await (
        await api.post(
            f"/v1/templates/{v1['id']}/versions",
            {"card": card(title="{{ name }}，新账单"), "sample": {"name": "李四"}, "note": "new wording"},
        )
    ).json()
    assert v2["version"] == 2
    got = await (await api.get(f"/v1/templates/{v1['id']}")).json()
    assert got["version"] == 2 and [v["version"] for v in got["versions"]] == [1, 2]
    old = await (await api.get(f"/v1/templates/{v1['id']}/versions/1")).json()
    assert old["card"] == v1["card"]  # earlier versions never change
    page = await (await api.get("/v1/templates")).json()
    assert [t["name"] for t in page["data"]] == ["bill"] and page["next_cursor"] is None


async def test_send_pins_the_template_version(api):
    tid = (await (await create(api)).json())["id"]
    await api.post(f"/v1/templates/{tid}/versions", {"card": card(title="{{ name }}，第二版"), "sample": {"name": "x"}})
    ok = await api.post(
        "/v1/messages",
        {"to": "+8613800138001", "template": {"name": "bill", "version": 1}, "variables": {"name": "王五"}},
    )
    assert ok.status == 202, await ok.text()
    missing = await api.post("/v1/messages", {"to": "+8613800138001", "template": {"name": "bill", "version": 9}})
    assert missing.status == 422
    bad = await api.post("/v1/messages", {"to": "+8613800138001", "template": "bill"})
    assert bad.status == 422  # the latest version needs `name`
    assert "name" in (await bad.json(content_type=PROBLEM))["errors"][0]["message"]


INVALID = [
    ({"card": card()}, "/name"),
    ({"name": "", "card": card()}, "/name"),
    ({"name": "x"}, "/card"),
    ({"name": "x", "card": card(title="t" * 201)}, "/card/message/generalPurposeCard/content/title"),
    ({"name": "x", "card": card(title="{{ a }}"), "sample": {}}, "/sample"),
    ({"name": "x", "card": card(), "traffic_type": "spam"}, "/traffic_type"),
    ({"name": "x", "card": card(), "colour": 1}, "/colour"),
]


@pytest.mark.parametrize("body,path", INVALID)
async def test_invalid_templates_are_422(api, body, path):
    resp = await api.post("/v1/templates", body)
    assert resp.status == 422
    assert path in [e["path"] for e in (await resp.json(content_type=PROBLEM))["errors"]]


async def test_duplicate_name_is_409_and_tenants_are_isolated(api):
    tid = (await (await create(api)).json())["id"]
    assert (await create(api)).status == 409
    other = await api.new_tenant()
    assert (await other.get(f"/v1/templates/{tid}")).status == 404
    assert (await other.post(f"/v1/templates/{tid}/versions", {"card": card()})).status == 404
    assert (await (await other.get("/v1/templates")).json())["data"] == []
    assert (await create(other)).status == 201  # names are per tenant


async def test_library_lists_templates_with_samples(api):
    data = (await (await api.get("/v1/template-library")).json())["data"]
    assert len(data) >= 12 and all(t["sample"] is not None and t["card"] for t in data)


async def test_versions_carry_their_review_status(api):
    v1 = await (await create(api)).json()
    assert (v1["status"], v1["status_reason"]) == ("approved", None)  # no operator review: approved at once
    got = await (await api.get(f"/v1/templates/{v1['id']}")).json()
    assert got["versions"][0]["status"] == "approved" and got["latest_version"] == 1 and got["has_draft"] is False
    [item] = (await (await api.get("/v1/templates")).json())["data"]
    assert item == {
        "id": v1["id"],
        "name": "bill",
        "latest_version": 1,
        "has_draft": False,
        "traffic_type": "notification",
        "created_at": v1["created_at"],
        "updated_at": item["updated_at"],
    }


async def _in_review(tenant_id, version):
    return "in_review"


async def test_only_approved_versions_are_sent(api):
    from cards.store.http import TEMPLATES

    store = api.client.app[TEMPLATES]
    tid = (await (await create(api)).json())["id"]
    store.on_submit = _in_review  # an operator review plugged in
    v2 = await (
        await api.post(
            f"/v1/templates/{tid}/versions", {"card": card(title="{{ name }}，第二版"), "sample": {"name": "x"}}
        )
    ).json()
    assert v2["status"] == "in_review"

    async def send(**ref):
        return await api.post(
            "/v1/messages", {"to": "+8613800138001", "template": {"name": "bill", **ref}, "variables": {"name": "王五"}}
        )

    latest = await send()
    assert latest.status == 202, await latest.text()  # the latest approved: version 1
    pinned = await send(version=2)
    assert pinned.status == 422
    [error] = (await pinned.json(content_type=PROBLEM))["errors"]
    assert error["path"] == "/template/version" and "in review" in error["message"]
    await store.review(api.tenant_id, tid, 2, "approved")
    assert (await send(version=2)).status == 202

    v3 = await (await api.post(f"/v1/templates/{tid}/versions", {"card": card()})).json()
    rejected = await store.review(api.tenant_id, tid, v3["version"], "rejected", "签名与内容不符")
    assert (rejected.status, rejected.status_reason) == ("rejected", "签名与内容不符")
    shown = await (await api.get(f"/v1/templates/{tid}/versions/3")).json()
    assert (shown["status"], shown["status_reason"]) == ("rejected", "签名与内容不符")
    assert (await send(version=3)).status == 422
    assert (await send()).status == 202  # still version 2


REVIEW_ERRORS = [
    ("approved", None, 1, 409),  # already decided
    ("rejected", " ", 2, 422),  # a rejection needs a reason
    ("in_review", None, 2, 422),  # not a decision
    ("approved", None, 9, 404),
]


@pytest.mark.parametrize("status,reason,version,code", REVIEW_ERRORS)
async def test_review_decisions_are_checked(api, status, reason, version, code):
    from api.problems import Problem
    from cards.store.http import TEMPLATES

    store = api.client.app[TEMPLATES]
    tid = (await (await create(api)).json())["id"]
    store.on_submit = _in_review
    await api.post(f"/v1/templates/{tid}/versions", {"card": card()})
    with pytest.raises(Problem) as caught:
        await store.review(api.tenant_id, tid, version, status, reason)
    assert caught.value.status == code


async def test_a_template_whose_versions_all_wait_for_review_cannot_be_sent(api):
    from cards.store.http import TEMPLATES

    api.client.app[TEMPLATES].on_submit = _in_review
    await create(api)
    resp = await api.post(
        "/v1/messages", {"to": "+8613800138001", "template": {"name": "bill"}, "variables": {"name": "x"}}
    )
    assert resp.status == 422
    [error] = (await resp.json(content_type=PROBLEM))["errors"]
    assert error["path"] == "/template/name" and "no approved version" in error["message"]


async def test_duplicate_copies_the_latest_version(api):
    tid = (await (await create(api)).json())["id"]
    await api.post(f"/v1/templates/{tid}/versions", {"card": card(title="{{ name }}，新"), "sample": {"name": "李"}})
    resp = await api.post(f"/v1/templates/{tid}/duplicate", {"name": "bill copy"})
    assert resp.status == 201, await resp.text()
    copy = await resp.json()
    assert copy["id"] != tid and copy["name"] == "bill copy" and copy["version"] == 1
    assert copy["status"] == "approved" and copy["sample"] == {"name": "李"}
    assert copy["card"] == (await (await api.get(f"/v1/templates/{tid}/versions/2")).json())["card"]
    assert copy["has_draft"] is False
    assert (await api.post(f"/v1/templates/{tid}/duplicate", {"name": "bill copy"})).status == 409
    # Work in progress goes along with the copy.
    await api.client.put(f"/v1/templates/{tid}/draft", json={"card": card(title="草稿")}, headers=api.auth)
    with_draft = await (await api.post(f"/v1/templates/{tid}/duplicate", {"name": "bill 3"})).json()
    assert with_draft["version"] == 1 and with_draft["has_draft"] is True
    draft = await (await api.get(f"/v1/templates/{with_draft['id']}/draft")).json()
    assert draft["card"] == card(title="草稿") and draft["sample"] == {"name": "李"}
    other = await api.new_tenant()
    assert (await other.post(f"/v1/templates/{tid}/duplicate", {"name": "mine"})).status == 404


async def test_duplicate_of_a_draft_only_template_is_a_draft(api):
    made = await (await api.post("/v1/templates", {"name": "blank", "draft": True, "card": {"x": 1}})).json()
    copy = await (await api.post(f"/v1/templates/{made['id']}/duplicate", {"name": "blank 2"})).json()
    assert copy["latest_version"] is None and copy["has_draft"] is True
    assert (await (await api.get(f"/v1/templates/{copy['id']}/draft")).json())["card"] == {"x": 1}


@pytest.mark.parametrize("body,path", [({}, "/name"), ({"name": ""}, "/name"), ({"name": "a", "x": 1}, "/x")])
async def test_duplicate_needs_a_name(api, body, path):
    tid = (await (await create(api)).json())["id"]
    resp = await api.post(f"/v1/templates/{tid}/duplicate", body)
    assert resp.status == 422 and (await resp.json(content_type=PROBLEM))["errors"][0]["path"] == path


async def test_diff_between_versions_and_the_draft(api):
    tid = (await (await create(api, note="one")).json())["id"]
    two = card(title="{{ name }}，账单已出", description="本月话费 60.00 元")
    two["message"]["generalPurposeCard"]["content"]["suggestions"].append(
        {"action": {"displayText": "致电", "dialerAction": {"dialPhoneNumber": {"phoneNumber": "+8610086"}}}}
    )
    await api.post(
        f"/v1/templates/{tid}/versions", {"card": two, "sample": {"name": "张三"}, "traffic_type": "marketing"}
    )
    resp = await api.get(f"/v1/templates/{tid}/diff?from=1&to=2")
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    content = "/card/message/generalPurposeCard/content"
    assert body["from"] == 1 and body["to"] == 2
    assert body["changes"] == [
        {"op": "replace", "path": f"{content}/description", "old": "本月话费 58.00 元", "new": "本月话费 60.00 元"},
        {
            "op": "add",
            "path": f"{content}/suggestions/1",
            "new": two["message"]["generalPurposeCard"]["content"]["suggestions"][1],
        },
        {"op": "replace", "path": "/traffic_type", "old": "notification", "new": "marketing"},
    ]
    assert body["notes"] == {"from": "one", "to": None}  # a note describes a version: no change
    back = await (await api.get(f"/v1/templates/{tid}/diff?from=2&to=1")).json()
    assert [c["op"] for c in back["changes"]] == ["replace", "remove", "replace"]
    assert (await (await api.get(f"/v1/templates/{tid}/diff?from=2&to=2")).json())["changes"] == []
    await api.client.put(f"/v1/templates/{tid}/draft", json={"card": two, "sample": {"name": "李四"}}, headers=api.auth)
    draft = await (await api.get(f"/v1/templates/{tid}/diff?from=2&to=draft")).json()
    assert draft["to"] == "draft" and draft["changes"] == [
        {"op": "replace", "path": "/sample/name", "old": "张三", "new": "李四"}
    ]


@pytest.mark.parametrize(
    "query,status,path",
    [
        ("from=1", 422, "/to"),
        ("from=0&to=1", 422, "/from"),
        ("from=a&to=1", 422, "/from"),
        ("from=1&to=9", 404, None),
        ("from=1&to=draft", 404, None),
    ],
)
async def test_diff_errors(api, query, status, path):
    tid = (await (await create(api)).json())["id"]
    resp = await api.get(f"/v1/templates/{tid}/diff?{query}")
    assert resp.status == status
    problem = await resp.json(content_type=PROBLEM)
    assert path is None or problem["errors"][0]["path"] == path


async def test_diff_of_another_tenants_template_is_404(api):
    tid = (await (await create(api)).json())["id"]
    other = await api.new_tenant()
    assert (await other.get(f"/v1/templates/{tid}/diff?from=1&to=1")).status == 404


async def test_answers_match_the_openapi_schemas(api):
    import jsonschema

    doc = await (await api.client.get("/openapi.json")).json()

    def check(value, name):
        jsonschema.validate(value, {**doc["components"]["schemas"][name], "components": doc["components"]})

    v1 = await (await create(api)).json()
    check(v1, "TemplateVersion")
    check(await (await api.get(f"/v1/templates/{v1['id']}")).json(), "TemplateSummary")
    blank = await (await api.post("/v1/templates", {"name": "b", "draft": True, "card": {}})).json()
    check(blank, "TemplateSummary")
    draft = await (
        await api.client.put(f"/v1/templates/{v1['id']}/draft", json={"card": card(title="x")}, headers=api.auth)
    ).json()
    check(draft, "TemplateDraft")
    check(await (await api.get(f"/v1/templates/{v1['id']}/diff?from=1&to=draft")).json(), "TemplateDiff")
    check(await (await api.post(f"/v1/templates/{v1['id']}/duplicate", {"name": "c"})).json(), "TemplateSummary")
