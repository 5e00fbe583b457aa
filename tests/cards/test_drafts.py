"""Template drafts through HTTP: blank starts, saving invalid cards, submitting a draft as a version."""

from __future__ import annotations

import pytest

from tests.conftest import card

PROBLEM = "application/problem+json"
TITLE = "/card/message/generalPurposeCard/content/title"


async def put(api, tid: str, body: dict):
    return await api.client.put(f"/v1/templates/{tid}/draft", json=body, headers=api.auth)


async def delete(api, tid: str):
    return await api.client.delete(f"/v1/templates/{tid}/draft", headers=api.auth)


async def blank(api, name: str = "blank", **extra) -> dict:
    resp = await api.post("/v1/templates", {"name": name, "draft": True, "card": {}, **extra})
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def test_a_blank_template_has_only_an_invalid_draft(api):
    made = await blank(api)
    assert made["latest_version"] is None and made["version"] is None and made["has_draft"] is True
    assert made["versions"] == [] and made["updated_at"]
    draft = await (await api.get(f"/v1/templates/{made['id']}/draft")).json()
    assert draft["card"] == {} and draft["valid"] is False and draft["errors"]
    assert all(e["path"].startswith("/card") for e in draft["errors"])
    [item] = (await (await api.get("/v1/templates")).json())["data"]
    assert item == {
        "id": made["id"],
        "name": "blank",
        "latest_version": None,
        "has_draft": True,
        "traffic_type": "notification",
        "created_at": item["created_at"],
        "updated_at": item["updated_at"],
    }
    assert (await (await api.get(f"/v1/templates/{made['id']}")).json())["has_draft"] is True


async def test_an_invalid_draft_is_saved_but_never_submitted(api):
    tid = (await blank(api))["id"]
    resp = await put(api, tid, {"card": card(title="t" * 201), "sample": {"name": "张三"}})
    assert resp.status == 200, await resp.text()
    saved = await resp.json()
    assert saved["valid"] is False and TITLE in [e["path"] for e in saved["errors"]]
    assert (await (await api.get(f"/v1/templates/{tid}/draft")).json()) == saved
    refused = await api.post(f"/v1/templates/{tid}/versions", {"from_draft": True})
    assert refused.status == 422
    assert TITLE in [e["path"] for e in (await refused.json(content_type=PROBLEM))["errors"]]
    assert (await api.get(f"/v1/templates/{tid}/draft")).status == 200  # still there to fix


async def test_submitting_a_valid_draft_makes_the_next_version_and_clears_the_draft(api):
    tid = (await blank(api))["id"]
    saved = await (
        await put(
            api, tid, {"card": card(title="{{ name }}，您好"), "sample": {"name": "张三"}, "traffic_type": "marketing"}
        )
    ).json()
    assert saved["valid"] is True and saved["errors"] == []
    resp = await api.post(f"/v1/templates/{tid}/versions", {"from_draft": True, "note": "first"})
    assert resp.status == 201, await resp.text()
    v1 = await resp.json()
    assert (v1["version"], v1["status"], v1["note"], v1["traffic_type"]) == (1, "approved", "first", "marketing")
    assert v1["card"] == saved["card"] and v1["sample"] == {"name": "张三"}
    assert (await api.get(f"/v1/templates/{tid}/draft")).status == 404
    [item] = (await (await api.get("/v1/templates")).json())["data"]
    assert (item["latest_version"], item["has_draft"], item["traffic_type"]) == (1, False, "marketing")
    # A later draft starts from the latest version's sample and traffic type.
    again = await (await put(api, tid, {"card": card(title="{{ name }}，第二版")})).json()
    assert again["sample"] == {"name": "张三"} and again["traffic_type"] == "marketing" and again["valid"]
    v2 = await (await api.post(f"/v1/templates/{tid}/versions", {"from_draft": True})).json()
    assert (
        v2["version"] == 2 and v2["card"]["message"]["generalPurposeCard"]["content"]["title"] == "{{ name }}，第二版"
    )


async def test_saving_keeps_what_is_left_out_and_replaces_what_is_given(api):
    tid = (await blank(api, sample={"a": 1}, traffic_type="otp"))["id"]
    kept = await (await put(api, tid, {"card": card()})).json()
    assert (kept["sample"], kept["traffic_type"]) == ({"a": 1}, "otp")
    cleared = await (await put(api, tid, {"card": card(), "sample": None})).json()
    assert cleared["sample"] is None and cleared["traffic_type"] == "otp"


async def test_deleting_a_draft(api):
    tid = (await blank(api))["id"]
    assert (await delete(api, tid)).status == 204
    assert (await api.get(f"/v1/templates/{tid}/draft")).status == 404
    assert (await delete(api, tid)).status == 204  # nothing left: still done
    missing = await api.post(f"/v1/templates/{tid}/versions", {"from_draft": True})
    assert missing.status == 422
    assert (await missing.json(content_type=PROBLEM))["errors"][0]["path"] == "/from_draft"


BAD_DRAFTS = [
    ({}, "/card"),
    ({"card": [1, 2]}, "/card"),
    ({"card": "text"}, "/card"),
    ({"card": {}, "sample": [1]}, "/sample"),
    ({"card": {}, "traffic_type": "spam"}, "/traffic_type"),
    ({"card": {}, "colour": "red"}, "/colour"),
]


@pytest.mark.parametrize("body,path", BAD_DRAFTS)
async def test_a_malformed_draft_body_is_422(api, body, path):
    tid = (await blank(api))["id"]
    resp = await put(api, tid, body)
    assert resp.status == 422
    assert path in [e["path"] for e in (await resp.json(content_type=PROBLEM))["errors"]]


BAD_BLANKS = [
    ({"draft": True, "card": {}}, "/name"),
    ({"draft": True, "name": " ", "card": {}}, "/name"),
    ({"draft": True, "name": "x"}, "/card"),
    ({"draft": True, "name": "x", "card": {}, "note": "drafts have none"}, "/note"),
    ({"draft": "yes", "name": "x", "card": card()}, "/draft"),
]


@pytest.mark.parametrize("body,path", BAD_BLANKS)
async def test_a_malformed_blank_template_is_422(api, body, path):
    resp = await api.post("/v1/templates", body)
    assert resp.status == 422
    assert path in [e["path"] for e in (await resp.json(content_type=PROBLEM))["errors"]]


async def test_blank_names_are_unique_per_tenant(api):
    await blank(api, "promo")
    assert (await api.post("/v1/templates", {"name": "promo", "draft": True, "card": {}})).status == 409
    assert (await api.post("/v1/templates", {"name": "promo", "card": card()})).status == 409


async def test_other_tenants_never_see_a_draft(api):
    tid = (await blank(api))["id"]
    other = await api.new_tenant()
    assert (await other.get(f"/v1/templates/{tid}/draft")).status == 404
    assert (await put(other, tid, {"card": card()})).status == 404
    assert (await delete(other, tid)).status == 404
    assert (await other.post(f"/v1/templates/{tid}/versions", {"from_draft": True})).status == 404
    assert (await api.get(f"/v1/templates/{tid}/draft")).status == 200


async def test_a_template_with_only_a_draft_cannot_be_sent(api):
    await blank(api, "later")
    resp = await api.post("/v1/messages", {"to": "+8613800138001", "template": {"name": "later"}})
    assert resp.status == 422
    [error] = (await resp.json(content_type=PROBLEM))["errors"]
    assert error["path"] == "/template/name" and "only a draft" in error["message"]


async def test_the_migration_keeps_existing_versions_sendable(tmp_path, database_url):
    """Templates made before drafts existed: their versions become approved, updated_at is set."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from store import run_migrations
    from store.db import sqlite_url

    url = database_url or sqlite_url(tmp_path / "old.db")
    await run_migrations(url, "cards_0001")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO tenants (id, name, signature, created_ms) VALUES ('t1', 'T', 'S', 5)"))
            await conn.execute(
                text(
                    "INSERT INTO templates (id, tenant_id, name, created_ms, latest_version) "
                    "VALUES ('p1', 't1', 'old', 7, 1)"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO template_versions (template_id, version, card, traffic_type, "
                    "created_ms) VALUES ('p1', 1, '{}', 'notification', 7)"
                )
            )
        await run_migrations(url)
        async with engine.connect() as conn:
            status = (await conn.execute(text("SELECT status FROM template_versions"))).scalar_one()
            updated = (await conn.execute(text("SELECT updated_ms FROM templates"))).scalar_one()
            drafts = (await conn.execute(text("SELECT count(*) FROM template_drafts"))).scalar_one()
            media = (await conn.execute(text("SELECT count(*) FROM media"))).scalar_one()
    finally:
        await engine.dispose()
    assert (status, updated, drafts, media) == ("approved", 7, 0, 0)
