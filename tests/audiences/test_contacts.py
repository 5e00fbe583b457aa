"""Contacts through the API: upsert by number, read, page, change, delete; field errors as
problem+json; consent state read from compliance; one tenant never sees another's; scopes."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from audiences.tables import contact_attributes, contact_tags, contacts
from server import DATABASE
from tests.conftest import problem

A, B = "+8613800138001", "+8613800138002"


async def _json(resp, status: int) -> dict:
    assert resp.status == status, await resp.text()
    return await resp.json()


async def test_upsert_by_number_then_read_change_delete(api):
    made = await _json(
        await api.post(
            "/v1/contacts",
            {
                "phone": "138 0013 8001",
                "attributes": {"city": "杭州", "level": 3, "renewal": "2027-01-31"},
                "tags": ["vip"],
            },
        ),
        201,
    )
    assert made["phone"] == A
    assert made["attributes"] == {"city": "杭州", "level": 3, "renewal": "2027-01-31"}
    assert made["tags"] == ["vip"]
    assert (made["time_zone"], made["time_zone_source"]) == ("Asia/Shanghai", "number")
    assert made["marketing_consent"] is False and made["opted_out"] is False
    # The same number again (another spelling) updates only the fields given.
    again = await _json(await api.post("/v1/contacts", {"phone": A, "tags": ["vip", "new"]}), 200)
    assert again["id"] == made["id"]
    assert again["attributes"] == made["attributes"] and again["tags"] == ["vip", "new"]

    patched = await _json(
        await api.client.patch(
            f"/v1/contacts/{made['id']}",
            json={"attributes": {"level": None, "plan": "5G-128"}, "time_zone": "Asia/Urumqi"},
            headers=api.auth,
        ),
        200,
    )
    assert patched["attributes"] == {"city": "杭州", "renewal": "2027-01-31", "plan": "5G-128"}
    assert (patched["time_zone"], patched["time_zone_source"]) == ("Asia/Urumqi", "set")
    assert await _json(await api.get(f"/v1/contacts/{made['id']}"), 200) == patched

    db = api.client.app[DATABASE]
    async with db.read.connect() as conn:
        names = set((await conn.execute(select(contact_attributes.c.name))).scalars())
        kinds = {r.name: r.kind for r in await conn.execute(select(contact_attributes))}
        tags = set((await conn.execute(select(contact_tags.c.tag))).scalars())
        texts = {r.name: r.text_value for r in await conn.execute(select(contact_attributes))}
        sealed = (await conn.execute(select(contacts.c.number_enc, contacts.c.attributes_enc))).one()
    assert names == {"city", "renewal", "plan"} and tags == {"vip", "new"}
    assert kinds == {"city": "s", "renewal": "d", "plan": "s"}
    # Text is kept only as a blind index (dates and numbers stay comparable), the rest sealed.
    assert texts["renewal"] == "2027-01-31" and texts["city"] != "杭州" and len(texts["city"]) == 64
    assert A.encode() not in sealed.number_enc and b"13800138001" not in sealed.number_enc
    assert "杭州".encode() not in sealed.attributes_enc and b"5G-128" not in sealed.attributes_enc

    resp = await api.client.delete(f"/v1/contacts/{made['id']}", headers=api.auth)
    assert resp.status == 204
    await problem(await api.get(f"/v1/contacts/{made['id']}"), 404)
    async with db.read.connect() as conn:
        assert (await conn.execute(select(contact_attributes))).first() is None


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({}, "/phone"),
        ({"phone": "not a number"}, "/phone"),
        ({"phone": A, "attributes": []}, "/attributes"),
        ({"phone": A, "attributes": {"ok": True}}, "/attributes/ok"),
        ({"phone": A, "attributes": {"ok": None}}, "/attributes/ok"),
        ({"phone": A, "attributes": {"long": "x" * 501}}, "/attributes/long"),
        ({"phone": A, "attributes": {"phone": "x"}}, "/attributes/phone"),
        ({"phone": A, "attributes": {"a/b": {"nested": 1}}}, "/attributes/a~1b"),
        ({"phone": A, "tags": "vip"}, "/tags"),
        ({"phone": A, "tags": ["ok", "semi;colon"]}, "/tags/1"),
        ({"phone": A, "time_zone": "Mars/Olympus"}, "/time_zone"),
        ({"phone": A, "colour": "red"}, "/colour"),
    ],
)
async def test_field_errors_are_problems_naming_the_field(api, body, path):
    found = await problem(await api.post("/v1/contacts", body), 422)
    assert path in [e["path"] for e in found["errors"]]
    assert (await _json(await api.get("/v1/contacts"), 200))["data"] == []


async def test_patch_cannot_change_the_number(api):
    made = await _json(await api.post("/v1/contacts", {"phone": A}), 201)
    resp = await api.client.patch(f"/v1/contacts/{made['id']}", json={"phone": B}, headers=api.auth)
    found = await problem(resp, 422)
    assert [e["path"] for e in found["errors"]] == ["/phone"]


async def test_pages_follow_the_cursor(api):
    numbers = [f"+86138001380{i:02d}" for i in range(7)]
    for n in numbers:
        await _json(await api.post("/v1/contacts", {"phone": n}), 201)
    seen, cursor = [], None
    while True:
        query = f"/v1/contacts?limit=3{f'&cursor={cursor}' if cursor else ''}"
        page = await _json(await api.get(query), 200)
        seen += [c["phone"] for c in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == numbers and len(seen) == 7
    await problem(await api.get("/v1/contacts?cursor=%%%"), 422)
    await problem(await api.get("/v1/contacts?limit=0"), 422)


async def test_consent_and_opt_out_come_from_compliance(api):
    made = await _json(await api.post("/v1/contacts", {"phone": A}), 201)
    other = await _json(await api.post("/v1/contacts", {"phone": B}), 201)
    assert (await api.post("/v1/consents", {"to": A, "scope": ["marketing"]})).status == 201
    assert (await api.post("/v1/opt-outs", {"to": B})).status == 201
    one = await _json(await api.get(f"/v1/contacts/{made['id']}"), 200)
    assert (one["marketing_consent"], one["opted_out"]) == (True, False)
    two = await _json(await api.get(f"/v1/contacts/{other['id']}"), 200)
    assert (two["marketing_consent"], two["opted_out"]) == (False, True)
    listed = await _json(await api.get("/v1/contacts?include=consent"), 200)
    assert {c["phone"]: (c["marketing_consent"], c["opted_out"]) for c in listed["data"]} == {
        A: (True, False),
        B: (False, True),
    }
    plain = await _json(await api.get("/v1/contacts"), 200)
    assert all("marketing_consent" not in c for c in plain["data"])


async def test_another_tenant_sees_none_of_them(api):
    made = await _json(await api.post("/v1/contacts", {"phone": A, "tags": ["vip"]}), 201)
    seg = await _json(
        await api.post("/v1/segments", {"name": "vip", "filter": {"tags": "any", "values": ["vip"]}}), 201
    )
    other = await api.new_tenant()
    await problem(await other.get(f"/v1/contacts/{made['id']}"), 404)
    resp = await other.client.patch(f"/v1/contacts/{made['id']}", json={"tags": []}, headers=other.auth)
    await problem(resp, 404)
    await problem(await other.client.delete(f"/v1/contacts/{made['id']}", headers=other.auth), 404)
    assert (await _json(await other.get("/v1/contacts"), 200))["data"] == []
    await problem(await other.get(f"/v1/segments/{seg['id']}/count"), 404)
    preview = await _json(await other.post("/v1/segments/preview", {"filter": {"tags": "any", "values": ["vip"]}}), 200)
    assert preview["count"] == 0
    # The same number is another contact of the other tenant, with its own id.
    theirs = await _json(await other.post("/v1/contacts", {"phone": A}), 201)
    assert theirs["id"] != made["id"] and theirs["tags"] == []
    assert (await _json(await api.get(f"/v1/contacts/{made['id']}"), 200))["tags"] == ["vip"]


async def test_a_key_without_the_audiences_scope_is_refused(api):
    made = await _json(await api.post("/v1/api-keys", {"scopes": ["messages"]}), 201)
    narrow = {"Authorization": f"Bearer {made['api_key']}"}
    for method, path in [("GET", "/v1/contacts"), ("POST", "/v1/segments/preview"), ("GET", "/v1/contacts/export")]:
        resp = await api.client.request(method, path, json={}, headers=narrow)
        body = await problem(resp, 403)
        assert "audiences" in body["detail"]


async def test_erasure_and_export_by_number_cover_the_contact(api):
    made = await _json(
        await api.post("/v1/contacts", {"phone": A, "attributes": {"city": "杭州"}, "tags": ["vip"]}), 201
    )
    kept = await _json(await api.post("/v1/contacts", {"phone": B}), 201)
    exported = await _json(await api.post("/v1/privacy/exports", {"to": A}), 200)
    assert [(c["id"], c["attributes"], c["tags"]) for c in exported["contacts"]] == [
        (made["id"], {"city": "杭州"}, ["vip"])
    ]
    receipt = await _json(await api.post("/v1/privacy/erasures", {"to": A}), 201)
    assert receipt["erased"]["contacts"] == 1
    await problem(await api.get(f"/v1/contacts/{made['id']}"), 404)
    assert [c["id"] for c in (await _json(await api.get("/v1/contacts"), 200))["data"]] == [kept["id"]]
    db = api.client.app[DATABASE]
    async with db.read.connect() as conn:
        assert (await conn.execute(select(contact_tags))).first() is None


async def test_a_patch_past_the_attribute_limit_changes_nothing(api):
    full = {f"a{i}": i for i in range(100)}
    made = await _json(await api.post("/v1/contacts", {"phone": A, "attributes": full}), 201)
    resp = await api.client.patch(f"/v1/contacts/{made['id']}", json={"attributes": {"one_more": 1}}, headers=api.auth)
    found = await problem(resp, 422)
    assert [e["path"] for e in found["errors"]] == ["/attributes"]
    assert (await _json(await api.get(f"/v1/contacts/{made['id']}"), 200))["attributes"] == full
    # The writer goes on: the next change commits.
    resp = await api.client.patch(f"/v1/contacts/{made['id']}", json={"attributes": {"a0": None}}, headers=api.auth)
    assert len((await _json(resp, 200))["attributes"]) == 99


async def test_key_rotation_reseals_numbers_and_attributes(api, settings):
    import security
    from accounts import Accounts
    from accounts.rotation import rotate_all
    from server import ACCOUNTS, master_key_provider, sealed_columns
    from store import SystemClock, open_database

    made = [
        await _json(
            await api.post("/v1/contacts", {"phone": f"+86139001390{i:02d}", "attributes": {"n": i, "city": "杭州"}}),
            201,
        )
        for i in range(5)
    ]
    job_db = open_database(settings.db_url)
    job = Accounts(job_db, security.Keyring(master_key_provider(settings)), SystemClock())
    await rotate_all(job_db, job, sealed_columns(), progress=lambda _: None, settle_seconds=0)
    await job_db.dispose()
    server = api.client.app[ACCOUNTS]
    await server.load_keys()
    active = server.keyring.active_key_id(api.tenant_id)
    async with api.client.app[DATABASE].read.connect() as conn:
        rows = (await conn.execute(select(contacts.c.number_enc, contacts.c.attributes_enc))).all()
    assert {security.sealed_key_id(b) for r in rows for b in r} == {active}
    for i, contact in enumerate(made):
        again = await _json(await api.get(f"/v1/contacts/{contact['id']}"), 200)
        assert (again["phone"], again["attributes"]) == (contact["phone"], {"n": i, "city": "杭州"})
    # Attribute text stays findable: blind indexes do not depend on the data key.
    both = {"all": [{"attribute": "n", "op": "lt", "value": 2}, {"attribute": "city", "op": "eq", "value": "杭州"}]}
    assert (await _json(await api.post("/v1/segments/preview", {"filter": both}), 200))["count"] == 2


async def test_the_attribute_names_in_use_are_listed_per_tenant(api):
    assert await _json(await api.get("/v1/contacts/attributes"), 200) == {"data": []}
    await _json(await api.post("/v1/contacts", {"phone": A, "attributes": {"city": "杭州", "plan": "5G"}}), 201)
    await _json(await api.post("/v1/contacts", {"phone": B, "attributes": {"city": "上海", "balance": 12.5}}), 201)
    assert await _json(await api.get("/v1/contacts/attributes"), 200) == {"data": ["balance", "city", "plan"]}
    other = await api.new_tenant()
    await _json(await other.post("/v1/contacts", {"phone": A, "attributes": {"nickname": "小张"}}), 201)
    assert await _json(await other.get("/v1/contacts/attributes"), 200) == {"data": ["nickname"]}
    assert await _json(await api.get("/v1/contacts/attributes"), 200) == {"data": ["balance", "city", "plan"]}
