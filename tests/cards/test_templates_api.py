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
    v2 = await (await api.post(f"/v1/templates/{v1['id']}/versions",
                               {"card": card(title="{{ name }}，新账单"), "sample": {"name": "李四"},
                                "note": "new wording"})).json()
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
    ok = await api.post("/v1/messages", {"to": "+8613800138001", "template": {"name": "bill", "version": 1},
                                         "variables": {"name": "王五"}})
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
