"""Every create answers 201 with a `Location` that GETs what it made (table-driven over the
collections), and a batch of consents — many things — has none."""

from __future__ import annotations

import pytest

from tests.conftest import card

CASES = [
    # (collection, body)
    ("/v1/templates", {"name": "bill", "card": card()}),
    ("/v1/templates", {"name": "blank", "draft": True, "card": {}}),
    ("/v1/contacts", {"phone": "+8613800138001", "tags": ["vip"]}),
    ("/v1/segments", {"name": "vip", "filter": {"tags": "any", "values": ["vip"]}}),
    ("/v1/consents", {"to": "+8613800138001", "source": "web_form", "brand": "【鸿雁】"}),
    ("/v1/users", {"login": "agnes", "role": "agent", "password": "correct horse battery"}),
]


@pytest.mark.parametrize("collection, body", [c for c in CASES if c[1] is not None])
async def test_a_create_says_where_the_new_thing_is(api, collection, body):
    resp = await api.post(collection, body)
    assert resp.status == 201, await resp.text()
    made = await resp.json()
    location = resp.headers["Location"]
    assert location.startswith(collection + "/") and made["id"] in location
    got = await api.get(location)
    assert got.status == 200, (location, await got.text())
    assert (await got.json())["id"] == made["id"]


async def test_new_versions_and_copies_of_a_template_say_where_they_are(api):
    made = await (await api.post("/v1/templates", {"name": "bill", "card": card()})).json()
    second = await api.post(f"/v1/templates/{made['id']}/versions", {"card": card(title="第二版")})
    assert second.status == 201, await second.text()
    assert second.headers["Location"] == f"/v1/templates/{made['id']}/versions/2"
    assert (await (await api.get(second.headers["Location"])).json())["version"] == 2
    copy = await api.post(f"/v1/templates/{made['id']}/duplicate", {"name": "bill copy"})
    assert copy.status == 201
    copy_id = (await copy.json())["id"]
    assert copy.headers["Location"] == f"/v1/templates/{copy_id}"


async def test_a_batch_of_consents_has_no_one_location(api):
    resp = await api.post("/v1/consents", {"consents": [{"to": "+8613800138002"}, {"to": "+8613800138003"}]})
    assert resp.status == 201 and "Location" not in resp.headers


async def test_a_template_answers_with_an_etag_and_304_while_unchanged(api):
    made = await (await api.post("/v1/templates", {"name": "bill", "card": card()})).json()
    for path in (f"/v1/templates/{made['id']}", f"/v1/templates/{made['id']}/versions/1"):
        first = await api.get(path)
        assert first.status == 200
        etag = first.headers["ETag"]
        again = await api.get(path, headers={"If-None-Match": etag})
        assert again.status == 304 and again.headers["ETag"] == etag and await again.read() == b""
        assert (await api.get(path, headers={"If-None-Match": f'"other", W/{etag}'})).status == 304
        assert (await api.get(path, headers={"If-None-Match": '"other"'})).status == 200
    summary = f"/v1/templates/{made['id']}"
    etag = (await api.get(summary)).headers["ETag"]
    assert (await api.post(f"{summary}/versions", {"card": card(title="第二版")})).status == 201
    changed = await api.get(summary, headers={"If-None-Match": etag})
    assert changed.status == 200 and changed.headers["ETag"] != etag  # a new version: read again
