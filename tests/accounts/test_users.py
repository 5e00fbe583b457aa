"""People, roles and the audit log through HTTP, on SQLite and PostgreSQL: sign-in with a
password and TOTP, disabling, role changes on the next request, the append-only audit log."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pyotp
import pytest
from sqlalchemy import text

from tests.conftest import ApiClient, problem

PASSWORD = "correct horse battery"


class Clock:
    def __init__(self):
        self.at = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def now(self):
        return self.at


@pytest.fixture
async def env(aiohttp_client, settings):
    from server import ACCOUNTS, Wiring, create_app

    clock = Clock()
    client = await aiohttp_client(create_app(settings, Wiring(clock=clock)))
    tenant, key = await client.app[ACCOUNTS].create_tenant("Test brand")
    return ApiClient(client, tenant.id, key), clock


async def add(api: ApiClient, login: str, role: str, password: str | None = PASSWORD) -> dict:
    body = {"login": login, "role": role, **({"password": password} if password else {})}
    resp = await api.post("/v1/users", body)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def person(aiohttp_client, api: ApiClient, login: str, password: str = PASSWORD, **extra):
    """A fresh client (its own cookie jar) signed in as `login`; (client, session body)."""
    client = await aiohttp_client(api.client.server)
    resp = await client.post("/editor/session", json={"login": login, "password": password, **extra})
    assert resp.status == 201, await resp.text()
    return client, await resp.json()


def csrf(session: dict) -> dict:
    return {"X-CSRF-Token": session["csrf_token"]}


@pytest.mark.parametrize(
    ("body", "status", "path"),
    [
        ({"login": "rita", "password": "wrong password!"}, 401, "/password"),
        ({"login": "nobody", "password": PASSWORD}, 401, "/password"),
        ({"login": "rita"}, 422, "/password"),
    ],
)
async def test_a_wrong_password_is_a_401_problem_and_audited(env, body, status, path):
    api, _ = env
    await add(api, "rita", "reviewer")
    data = await problem(await api.client.post("/editor/session", json=body), status)
    assert [e["path"] for e in data["errors"]] == [path]
    if status == 401:
        page = await (await api.get("/v1/audit?action=session.sign_in")).json()
        # Logged in the tenants of the login; an unknown login belongs to none
        assert [r["status"] for r in page["data"]] == ([401] if body["login"] == "rita" else [])
        assert all(r["detail"] == {"login": "rita", "failed": "/password"} for r in page["data"])


async def test_sign_in_and_totp(env, aiohttp_client):
    api, clock = env
    await add(api, "rita", "reviewer")
    client, session = await person(aiohttp_client, api, "rita")
    assert session["role"] == "reviewer" and session["can"]["reviews"] == "write"
    assert session["can"]["templates"] == "read"

    enrol = await client.post("/v1/users/me/totp", headers=csrf(session))
    assert enrol.status == 201, await enrol.text()
    secret = (await enrol.json())["secret"]
    assert (await enrol.json())["otpauth_uri"].startswith("otpauth://totp/Hongyan:rita")
    totp = pyotp.TOTP(secret)
    wrong = await client.post("/v1/users/me/totp/confirm", json={"code": "000000"}, headers=csrf(session))
    await problem(wrong, 401)
    ok = await client.post("/v1/users/me/totp/confirm", json={"code": totp.at(clock.now())}, headers=csrf(session))
    assert ok.status == 200, await ok.text()
    assert len((await ok.json())["recovery_codes"]) == 10

    # From now on, sign-in needs a code: none, a wrong one, a used one → 401
    data = await problem(await api.client.post("/editor/session", json={"login": "rita", "password": PASSWORD}), 401)
    assert data["errors"][0]["path"] == "/totp" and data["totp_required"] is True
    for code in ("123456" if totp.at(clock.now()) != "123456" else "654321", totp.at(clock.now())):
        data = await problem(
            await api.client.post("/editor/session", json={"login": "rita", "password": PASSWORD, "totp": code}), 401
        )
        assert data["errors"][0]["path"] == "/totp"
    clock.at += timedelta(seconds=30)
    await person(aiohttp_client, api, "rita", totp=totp.at(clock.now()))

    page = await (await api.get("/v1/audit?action=users.totp.")).json()
    assert [r["action"] for r in page["data"]] == ["users.totp.confirm", "users.totp.confirm", "users.totp.enrol"]
    assert [r["status"] for r in page["data"]] == [200, 401, 201]
    assert all(r["actor"] == {"type": "user", "id": session["user"]["id"], "display": "rita"} for r in page["data"])
    signins = (await (await api.get("/v1/audit?action=session.sign_in")).json())["data"]
    assert [r["status"] for r in signins] == [201, 401, 401, 401, 201]
    assert signins[1]["detail"]["failed"] == "/totp"


async def test_recovery_codes_sign_in_once_each_and_renew(env, aiohttp_client):
    """Turning TOTP on gives ten recovery codes: each signs in once in place of a TOTP code
    (any case, dashes optional), a used or made-up one is a 401 naming /totp; renewing with a
    current code replaces them all; turning TOTP off drops them."""
    api, clock = env
    await add(api, "rosa", "reviewer")
    client, session = await person(aiohttp_client, api, "rosa")
    secret = (await (await client.post("/v1/users/me/totp", headers=csrf(session))).json())["secret"]
    totp = pyotp.TOTP(secret)
    confirmed = await client.post(
        "/v1/users/me/totp/confirm", json={"code": totp.at(clock.now())}, headers=csrf(session)
    )
    codes = (await confirmed.json())["recovery_codes"]
    assert len(set(codes)) == 10 and all(re.fullmatch(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", c) for c in codes)
    assert len({c[:4] for c in codes}) == 10

    def sign_in(code: str):
        return api.client.post("/editor/session", json={"login": "rosa", "password": PASSWORD, "totp": code})

    first = await sign_in(codes[0].upper().replace("-", ""))
    assert first.status == 201, await first.text()
    for used_or_made_up in (codes[0], codes[1][:5] + "aaaa-aaaa"):
        data = await problem(await sign_in(used_or_made_up), 401)
        assert data["errors"][0]["path"] == "/totp"
    me = await (await client.get("/v1/users/me")).json()
    assert me["totp_enabled"] and me["recovery_codes_left"] == 9

    clock.at += timedelta(seconds=30)
    renewed = await client.post(
        "/v1/users/me/totp/recovery-codes", json={"code": totp.at(clock.now())}, headers=csrf(session)
    )
    assert renewed.status == 201, await renewed.text()
    fresh = (await renewed.json())["recovery_codes"]
    await problem(await sign_in(codes[1]), 401)  # the old ones stopped working
    assert (await sign_in(fresh[0])).status == 201

    clock.at += timedelta(seconds=30)
    off = await client.post("/v1/users/me/totp/disable", json={"code": totp.at(clock.now())}, headers=csrf(session))
    assert off.status == 204
    assert "recovery_codes_left" not in await (await client.get("/v1/users/me")).json()
    await problem(
        await client.post("/v1/users/me/totp/recovery-codes", json={"code": "123456"}, headers=csrf(session)), 409
    )


async def test_disabled_person_cannot_sign_in_and_sessions_end(env, aiohttp_client):
    api, _ = env
    made = await add(api, "sam", "sender")
    client, session = await person(aiohttp_client, api, "sam")
    assert (await client.get("/v1/messages")).status == 200
    resp = await api.client.patch(f"/v1/users/{made['id']}", json={"disabled": True}, headers=api.auth)
    assert resp.status == 200 and (await resp.json())["disabled"] is True
    await problem(await client.get("/v1/messages"), 401)
    await problem(await api.client.post("/editor/session", json={"login": "sam", "password": PASSWORD}), 401)
    records = (await (await api.get(f"/v1/audit?target=users/{made['id']}")).json())["data"]
    assert records[0]["action"] == "users.disable" and records[0]["detail"]["disabled"] is True


async def test_a_role_change_takes_effect_on_the_next_request(env, aiohttp_client):
    api, _ = env
    made = await add(api, "dana", "designer")
    client, session = await person(aiohttp_client, api, "dana")
    data = await problem(await client.post("/v1/reviews/x/approve", json={}, headers=csrf(session)), 403)
    assert "`designer`" in data["detail"] and data["role"] == "designer"
    resp = await api.client.patch(f"/v1/users/{made['id']}", json={"role": "reviewer"}, headers=api.auth)
    assert resp.status == 200
    # The same session: now a reviewer (no such review → 404, past the role check)
    await problem(await client.post("/v1/reviews/x/approve", json={}, headers=csrf(session)), 404)
    me = await (await client.get("/v1/users/me")).json()
    assert me["role"] == "reviewer" and me["tenants"] == [
        {"id": api.tenant_id, "name": "Test brand", "role": "reviewer"}
    ]


async def test_admins_cannot_make_or_touch_owners(env, aiohttp_client):
    api, _ = env
    owner = await add(api, "olga", "owner")
    await add(api, "adam", "admin")
    client, session = await person(aiohttp_client, api, "adam")
    data = await problem(
        await client.post("/v1/users", json={"login": "x2", "role": "owner"}, headers=csrf(session)), 403
    )
    assert data["errors"][0]["path"] == "/role"
    await problem(await client.patch(f"/v1/users/{owner['id']}", json={"disabled": True}, headers=csrf(session)), 403)
    invited = await client.post("/v1/users", json={"login": "ivy", "role": "auditor"}, headers=csrf(session))
    assert invited.status == 201
    link = (await invited.json())["password_set_url"]
    token = link.split("#", 1)[1]
    page = await api.client.get(urlsplit(link).path)
    assert page.status == 200 and "Choose a password" in await page.text()
    set_ = await api.client.post("/editor/password", json={"token": token, "password": PASSWORD})
    assert set_.status == 200 and (await set_.json())["login"] == "ivy"
    await problem(await api.client.post("/editor/password", json={"token": token, "password": PASSWORD}), 410)
    ivy, ivy_session = await person(aiohttp_client, api, "ivy")
    assert (await ivy.get("/v1/audit")).status == 200
    await problem(await ivy.post("/v1/users", json={"login": "x3", "role": "sender"}, headers=csrf(ivy_session)), 403)


async def test_audit_rows_cannot_be_updated_or_deleted(env):
    from server import DATABASE

    api, _ = env
    await add(api, "rita", "reviewer")
    db = api.client.app[DATABASE]
    for statement in ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(Exception, match="append-only"):
            async with db.write.begin() as conn:
                await conn.execute(text(statement))
    async with db.read.connect() as conn:
        assert (await conn.execute(text("SELECT action FROM audit_log"))).scalars().all() == ["users.create"]


async def test_audit_search_filters_and_pages(env):
    api, _ = env
    for i in range(5):
        await add(api, f"user{i}", "read-only")
    page = await (await api.get("/v1/audit?action=users.create&limit=2")).json()
    assert len(page["data"]) == 2 and page["next_cursor"]
    rest = await (await api.get(f"/v1/audit?action=users.create&limit=10&cursor={page['next_cursor']}")).json()
    assert len(rest["data"]) == 3 and rest["next_cursor"] is None
    ids = [r["id"] for r in page["data"] + rest["data"]]
    assert ids == sorted(ids, reverse=True)
    first = page["data"][0]
    assert first["actor"]["type"] == "key" and first["client"] == "127.0.0.1" and first["status"] == 201
    assert "password" not in str(first["detail"])
    none = await (await api.get("/v1/audit?since=2099-01-01T00:00:00Z")).json()
    assert none["data"] == []
    await problem(await api.get("/v1/audit?since=yesterday"), 422)


async def test_the_migration_matches_the_declared_tables(tmp_path, database_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from store import metadata, open_database, run_migrations
    from store.db import sqlite_url

    url = database_url or sqlite_url(tmp_path / "m.db")
    await run_migrations(url)
    db = open_database(url)
    ours = ("'users'", "memberships", "user_sessions", "audit_log")

    def diff(sync_conn):
        context = MigrationContext.configure(sync_conn)
        return [d for d in compare_metadata(context, metadata) if any(t in repr(d) for t in ours)]

    try:
        async with db.read.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await db.dispose()


async def test_keys_that_held_every_scope_gain_users(tmp_path, database_url):
    from store import open_database, run_migrations
    from store.db import sqlite_url

    url = database_url or sqlite_url(tmp_path / "k.db")
    for revision in ("accounts_0003", "compliance_0001", "rules_0001"):
        await run_migrations(url, revision)
    db = open_database(url)
    every = "cards channels compliance keys messages reviews templates webhooks"
    try:
        async with db.write.begin() as conn:
            await conn.execute(
                text("INSERT INTO tenants (id, name, signature, created_ms) VALUES ('t1', 'T', '【鸿雁测试】', 0)")
            )
            for key_id, scopes in (("k-all", every), ("k-some", "cards messages")):
                await conn.execute(
                    text(
                        "INSERT INTO api_keys (id, tenant_id, key_hash, scopes, created_ms) "
                        "VALUES (:id, 't1', :h, :s, 0)"
                    ),
                    {"id": key_id, "h": b"x", "s": scopes},
                )
        await run_migrations(url)
        async with db.read.connect() as conn:
            rows = dict((await conn.execute(text("SELECT id, scopes FROM api_keys ORDER BY id"))).all())
    finally:
        await db.dispose()
    assert set(rows["k-all"].split()) >= set(every.split()) | {"users"}  # (other branches may add theirs)
    assert rows["k-some"] == "cards messages"


@pytest.mark.parametrize(
    ("method", "route", "status", "action", "target"),
    [
        ("POST", "/v1/privacy/erasures/{id}/run", 202, "privacy.erasures.run", ["privacy.erasures", "e1"]),
        ("DELETE", "/v1/consents/{id}", 204, "consents.delete", ["consents", "e1"]),
        ("PUT", "/v1/consents/{id}", 422, "consents.put", ["consents", "e1"]),
    ],
)
async def test_a_route_added_later_is_audited_without_code(
    aiohttp_client, settings, method, route, status, action, target
):
    from aiohttp import web

    from api.problems import Problem
    from server import ACCOUNTS, create_app

    async def handler(request):
        if status == 422:
            raise Problem(422, "no")
        return web.Response(status=status)

    app = create_app(settings)
    app.router.add_route(method, route, handler)
    client = await aiohttp_client(app)
    _, key = await app[ACCOUNTS].create_tenant("Test brand")
    api = ApiClient(client, "", key)
    resp = await client.request(method, route.replace("{id}", "e1"), headers=api.auth)
    assert resp.status == status
    (found,) = (await (await api.get("/v1/audit")).json())["data"]
    assert [found["action"], [found["target"]["type"], found["target"]["id"]], found["status"]] == [
        action,
        target,
        status,
    ]
    assert found["detail"] == {"method": method, "route": route}
