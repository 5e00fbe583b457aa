"""Share links of a template version: created with an expiry, opened without an account as a
read-only page, ended by the clock or by revoking, refused when altered; decisions made through
them are recorded (sealed, chained) and listed for the designer."""

from __future__ import annotations

import re

import pytest

from tests.conftest import card

TEMPLATE = {"name": "bill", "card": card("{{ name }}，账单已出"), "sample": {"name": "李雷"}}


async def _template(env) -> str:
    resp = await env.api.post("/v1/templates", TEMPLATE)
    assert resp.status == 201, await resp.text()
    return (await resp.json())["id"]


async def _share(env, tid: str, version: int = 1, **body) -> dict:
    resp = await env.api.post(f"/v1/templates/{tid}/versions/{version}/shares", body)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def test_a_share_link_opens_a_read_only_preview_without_an_account(editor_env):
    env = editor_env
    tid = await _template(env)
    share = await _share(env, tid)
    assert share["state"] == "active" and share["version"] == 1 and share["decisions"] == []
    assert share["expires_at"] == "2026-03-08T09:00:00.000Z"  # 7 days by default
    assert re.fullmatch(r"http://[^/]+/share/[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22}", share["url"])
    path = share["url"].split("/", 3)[3]

    page = await env.client.get(f"/{path}", headers={"Accept-Language": "en-US,en;q=0.9"})
    html = await page.text()
    assert page.status == 200
    assert "bill" in html and "Version 1" in html and "Approve" in html
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["X-Robots-Tag"] == "noindex" and page.headers["Cache-Control"] == "no-store"
    assert "<script" not in html and "<textarea" in html  # no editing, only the decision form

    phone = await env.client.get(f"/{path}/phone")
    assert phone.status == 200 and "李雷，账单已出" in await phone.text()
    assert "frame-ancestors 'self'" in phone.headers["Content-Security-Policy"]
    h5 = await env.client.get(f"/{path}/h5")
    assert h5.status == 200 and "李雷，账单已出" in await h5.text()
    zh = await env.client.get(f"/{path}", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "版本 1" in await zh.text() and "通过" in await zh.text()
    # The SMS a recipient without RCS gets is on the page.
    assert "李雷，账单已出" in html


@pytest.mark.parametrize("days", [1, 7, 30])
async def test_a_link_expires_after_the_days_chosen(editor_env, days):
    env = editor_env
    tid = await _template(env)
    share = await _share(env, tid, expires_in_days=days)
    path = "/" + share["url"].split("/", 3)[3]
    env.clock.advance(days=days, seconds=-1)
    assert (await env.client.get(path)).status == 200
    env.clock.advance(seconds=1)
    gone = await env.client.get(path, headers={"Accept-Language": "en"})
    assert gone.status == 410 and "expired" in await gone.text()
    assert (await env.client.get(path + "/phone")).status == 410
    listed = await (await env.api.get(f"/v1/templates/{tid}/versions/1/shares")).json()
    assert [s["state"] for s in listed["data"]] == ["expired"]


@pytest.mark.parametrize(
    "body", [{"expires_in_days": 2}, {"expires_in_days": True}, {"expires_in_days": 7.0}, {"ttl": 1}]
)
async def test_only_1_7_or_30_days(editor_env, body):
    tid = await _template(editor_env)
    resp = await editor_env.api.post(f"/v1/templates/{tid}/versions/1/shares", body)
    assert resp.status == 422
    problem = await resp.json()
    assert problem["errors"][0]["path"] in ("/expires_in_days", "/ttl")


async def test_revoked_links_answer_410_and_stay_listed(editor_env):
    env = editor_env
    tid = await _template(env)
    share = await _share(env, tid)
    path = "/" + share["url"].split("/", 3)[3]
    resp = await env.api.post(f"/v1/templates/{tid}/versions/1/shares/{share['id']}/revoke")
    assert resp.status == 200
    revoked = await resp.json()
    assert revoked["state"] == "revoked" and revoked["revoked_at"] == "2026-03-01T09:00:00.000Z"
    again = await env.api.post(f"/v1/templates/{tid}/versions/1/shares/{share['id']}/revoke")
    assert again.status == 200 and (await again.json())["revoked_at"] == revoked["revoked_at"]
    page = await env.client.get(path, headers={"Accept-Language": "zh-CN"})
    assert page.status == 410 and "撤回" in await page.text()
    decide = await env.client.post(path, data={"decision": "approved", "name": "王芳"})
    assert decide.status == 410


async def test_altered_or_unknown_links_are_404(editor_env):
    env = editor_env
    tid = await _template(env)
    share = await _share(env, tid)
    token = share["token"]
    share_id, mac = token.split(".")
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    for bad in (f"{share_id}.{flipped}", f"{share_id[:-1]}x.{mac}", share_id, "x" * 45, token + "x"):
        resp = await env.client.get(f"/share/{bad}", headers={"Accept-Language": "en"})
        assert resp.status == 404, bad
        assert "not valid" in await resp.text()
        assert (await env.client.post(f"/share/{bad}", data={"decision": "approved", "name": "x"})).status == 404
    # Another tenant cannot see or revoke the link.
    other = await env.api.new_tenant()
    assert (await other.get(f"/v1/templates/{tid}/versions/1/shares")).status == 404
    assert (await other.post(f"/v1/templates/{tid}/versions/1/shares/{share_id}/revoke")).status == 404
    # Share ids that cannot exist are simply not found.
    for odd in ("%00", "x" * 40, "a.b"):
        assert (await env.api.post(f"/v1/templates/{tid}/versions/1/shares/{odd}/revoke")).status == 404
    # Versions that do not exist cannot be shared.
    assert (await env.api.post(f"/v1/templates/{tid}/versions/2/shares", {})).status == 404


async def test_decisions_are_recorded_sealed_chained_and_shown_to_the_designer(editor_env):
    from editor.share_tables import share_decisions
    from editor.shares import verify_share_chain
    from server import DATABASE

    env = editor_env
    tid = await _template(env)
    share = await _share(env, tid, expires_in_days=1)
    path = "/" + share["url"].split("/", 3)[3]

    # A request for changes needs a comment; the page says so in the viewer's language.
    resp = await env.client.post(path + "?lang=en", data={"decision": "changes_requested", "name": "Wang Fang"})
    assert resp.status == 422 and "Say what should change." in await resp.text()
    resp = await env.client.post(path + "?lang=zh", data={"decision": "approved", "name": " "})
    assert resp.status == 422 and "请填写姓名" in await resp.text()
    # A form from another site is refused.
    resp = await env.client.post(
        path, data={"decision": "approved", "name": "x"}, headers={"Origin": "https://evil.example"}
    )
    assert resp.status == 403

    env.clock.advance(minutes=5)
    resp = await env.client.post(
        path + "?lang=en",
        data={"decision": "changes_requested", "name": "Wang Fang", "comment": "Bigger amount, please"},
        allow_redirects=False,
    )
    assert resp.status == 303 and resp.headers["Location"].endswith("?lang=en&done=changes_requested")
    thanks = await env.client.get(resp.headers["Location"])
    assert "request for changes is recorded" in await thanks.text()
    env.clock.advance(minutes=5)
    resp = await env.client.post(path, data={"decision": "approved", "name": "李总", "comment": "可以"})
    assert resp.status == 200  # followed the redirect to the page

    listed = await (await env.api.get(f"/v1/templates/{tid}/shares")).json()
    [seen] = listed["data"]
    assert [(d["decision"], d["name"], d["comment"], d["at"]) for d in seen["decisions"]] == [
        ("changes_requested", "Wang Fang", "Bigger amount, please", "2026-03-01T09:05:00.000Z"),
        ("approved", "李总", "可以", "2026-03-01T09:10:00.000Z"),
    ]
    db = env.client.app[DATABASE]
    async with db.read.connect() as conn:
        stored = (await conn.execute(share_decisions.select())).all()
    assert all(b"Wang" not in r.content_enc and "李总".encode() not in r.content_enc for r in stored)
    # Created, two decisions: three records, intact.
    assert await verify_share_chain(db, env.api.tenant_id) == (3, None)

    # The audit log names the decisions (never the reviewer's words).
    audit = await (await env.api.get("/v1/audit?action=templates.shares.decide")).json()
    assert len(audit["data"]) == 2 and all("Wang" not in str(e) for e in audit["data"])


async def test_share_answers_match_the_openapi_schemas(editor_env):
    from jsonschema import Draft202012Validator

    env = editor_env
    doc = await (await env.client.get("/openapi.json")).json()
    tid = await _template(env)
    share = await _share(env, tid)
    schema = {**doc["components"]["schemas"]["ShareLink"], "components": doc["components"]}
    Draft202012Validator(schema).validate(share)
    assert "/v1/templates/{id}/versions/{version}/shares" in doc["paths"]


async def test_the_migration_matches_the_tables(tmp_path, database_url):
    import editor.share_tables  # noqa: F401  (registers the tables on the metadata)
    from store.db import sqlite_url
    from tests.migrationkit import upgrade_with_keys

    url = database_url or sqlite_url(tmp_path / "m.db")
    got = await upgrade_with_keys(url, ("editor_0001", "cards_0004"), {"all": "templates"}, ("share_",))
    assert got.drift == []
    assert {"share_links", "share_decisions", "share_events"} <= got.tables
    assert got.scopes["all"] == "templates"


async def test_an_edited_share_record_breaks_the_chain(editor_env, settings, capsys):
    from sqlalchemy import update

    from editor.share_tables import share_events
    from editor.shares import verify_share_chain
    from server import DATABASE, _evidence_verify

    env = editor_env
    tid = await _template(env)
    share = await _share(env, tid)
    await env.api.post(f"/v1/templates/{tid}/versions/1/shares/{share['id']}/revoke")
    db = env.client.app[DATABASE]
    assert await verify_share_chain(db, env.api.tenant_id) == (2, None)
    assert await _evidence_verify(settings) == 0  # `python server.py evidence verify`
    async with db.write.begin() as conn:
        await conn.execute(update(share_events).where(share_events.c.seq == 1).values(facts='{"event":"created"}'))
    assert await verify_share_chain(db, env.api.tenant_id) == (1, 1)
    capsys.readouterr()
    assert await _evidence_verify(settings) == 1
    assert capsys.readouterr().out == f"share link chain BROKEN: tenant {env.api.tenant_id}, record seq 1\n"


@pytest.mark.parametrize(
    ("query", "header", "expected"),
    [
        ("", "en-US,en;q=0.9", "en"),
        ("", "en;q=0.5, zh-TW;q=0.9", "zh-CN"),
        ("", "fr-FR", "zh-CN"),
        ("", "", "zh-CN"),
        ("?lang=en", "zh-CN", "en"),
        ("?lang=zh", "en", "zh-CN"),
        ("?lang=de", "en", "en"),
    ],
)
def test_the_viewers_language(query, header, expected):
    from aiohttp.test_utils import make_mocked_request

    from editor.shares_http import viewer_language

    request = make_mocked_request("GET", f"/share/x{query}", headers={"Accept-Language": header} if header else {})
    assert viewer_language(request) == expected
