"""/v1/channels and the channel service: per-brand chatbots, stored with their credentials sealed,
on SQLite and PostgreSQL (the shared `database_url` fixture). The app here mounts the channel
routes behind the same middlewares as server.py, so these tests need nothing else of it."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest
from aiohttp import web
from sqlalchemy import select

import security
from accounts import Accounts
from accounts.channels import ChannelConfig, ChannelService
from accounts.channels_http import CHANNELS, routes
from accounts.rotation import rotate_all
from accounts.tables import SEALED_COLUMNS, channels
from api.middleware import AUTHENTICATE, auth_middleware, problem_middleware, required_scope
from store import GroupWriter, open_database, run_migrations
from store.db import sqlite_url
from tests.conftest import TEST_MASTER_KEY

ROOT = Path(__file__).resolve().parents[2]
PROBLEM = "application/problem+json"
BASE_URL = "https://hongyan.example.com/"
DEFAULT_CHATBOT = "sip:10690000@botplatform.rcs.chinaunicom.cn"  # the platform's own
APP_KEY = "ak-5f3c9e1d7b2a4c68"
CALLBACK_TOKEN = "cbt-0e8d7c6b5a493827"
VIEW_KEYS = {
    "id",
    "operator",
    "server_root",
    "scheme",
    "chatbot_id",
    "app_id",
    "app_key_set",
    "callback_token_set",
    "status",
    "profile_audit",
    "profile_audit_reason",
    "profile_audit_at",
    "notify_url",
    "created_at",
    "updated_at",
}


def channel(n: int = 1, **overrides) -> dict:
    body = {
        "operator": "cu",
        "server_root": "maap.example.cn/csp",
        "chatbot_id": f"sip:1252000{n}@botplatform.rcs.chinaunicom.cn",
        "app_id": f"app-{n}",
        "app_key": APP_KEY,
        "callback_token": CALLBACK_TOKEN,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


@dataclass
class Env:
    client: object
    service: ChannelService
    accounts: Accounts
    keyring: security.Keyring
    db: object
    writer: GroupWriter
    tenant_id: str
    key: str

    def headers(self, key: str | None = None) -> dict:
        return {"Authorization": f"Bearer {key or self.key}"}

    async def call(self, method: str, path: str, json=None, key: str | None = None):
        return await self.client.request(method, path, json=json, headers=self.headers(key))

    async def create(self, body: dict, key: str | None = None) -> dict:
        resp = await self.call("POST", "/v1/channels", body, key)
        assert resp.status == 201, await resp.text()
        return await resp.json()

    async def new_tenant(self, name: str = "Other brand") -> tuple[str, str]:
        tenant, key = await self.accounts.create_tenant(name)
        return tenant.id, key


@pytest.fixture
async def env(aiohttp_client, tmp_path, database_url):
    url = database_url or sqlite_url(tmp_path / "hongyan.db")
    await run_migrations(url)
    db = open_database(url)
    keyring = security.Keyring(security.EnvMasterKeyProvider(TEST_MASTER_KEY))
    accounts = Accounts(db, keyring)
    writer = GroupWriter(db.write)
    await writer.start()
    service = ChannelService(
        db,
        writer,
        keyring,
        public_base_url=BASE_URL,
        ensure_keys=accounts.ensure_keys,
        reserved_chatbot_ids=(DEFAULT_CHATBOT,),
    )
    app = web.Application(middlewares=[problem_middleware, auth_middleware])
    app[AUTHENTICATE] = accounts.authenticate
    app[CHANNELS] = service
    app.add_routes(routes)
    client = await aiohttp_client(app)
    tenant, key = await accounts.create_tenant("Channel brand")
    try:
        yield Env(client, service, accounts, keyring, db, writer, tenant.id, key)
    finally:
        await writer.stop()
        await db.dispose()


async def problem(resp, status: int) -> dict:
    assert resp.status == status, await resp.text()
    assert resp.content_type == PROBLEM
    return await resp.json(content_type=PROBLEM)


# -- the API -----------------------------------------------------------------------------
async def test_create_list_get_patch_delete(env):
    resp = await env.call("POST", "/v1/channels", channel())
    assert resp.status == 201, await resp.text()
    made = await resp.json()
    assert resp.headers["Location"] == f"/v1/channels/{made['id']}"
    assert set(made) == VIEW_KEYS
    assert made == {
        **made,
        "operator": "cu",
        "server_root": "maap.example.cn/csp",
        "scheme": "https",
        "chatbot_id": "sip:12520001@botplatform.rcs.chinaunicom.cn",
        "app_id": "app-1",
        "app_key_set": True,
        "callback_token_set": True,
        "status": "active",
        "profile_audit": "none",
        "profile_audit_reason": None,
        "profile_audit_at": None,
        "notify_url": "https://hongyan.example.com/rcs",
    }
    assert made["created_at"] == made["updated_at"] and made["created_at"].endswith("Z")

    listed = await (await env.call("GET", "/v1/channels")).json()
    assert listed == {"data": [made], "next_cursor": None}
    assert await (await env.call("GET", f"/v1/channels/{made['id']}")).json() == made

    resp = await env.call(
        "PATCH", f"/v1/channels/{made['id']}", {"app_id": "app-1b", "status": "disabled", "operator": "ct"}
    )
    assert resp.status == 200, await resp.text()
    patched = await resp.json()
    assert patched == {
        **made,
        "app_id": "app-1b",
        "status": "disabled",
        "operator": "ct",
        "updated_at": patched["updated_at"],
    }
    assert patched["updated_at"] >= made["updated_at"]
    assert await (await env.call("GET", f"/v1/channels/{made['id']}")).json() == patched

    resp = await env.call("DELETE", f"/v1/channels/{made['id']}")
    assert resp.status == 204
    await problem(await env.call("GET", f"/v1/channels/{made['id']}"), 404)
    await problem(await env.call("DELETE", f"/v1/channels/{made['id']}"), 404)
    await problem(await env.call("PATCH", f"/v1/channels/{made['id']}", {"app_id": "x"}), 404)
    assert (await (await env.call("GET", "/v1/channels")).json())["data"] == []


async def test_server_root_forms_and_the_sandbox(env):
    made = await env.create(channel(1, server_root="https://MAAP.Example.cn:8443/csp/v1/", status="disabled"))
    assert (made["server_root"], made["scheme"]) == ("maap.example.cn:8443/csp/v1", "https")
    made = await env.create(channel(2, operator="sandbox", server_root="http://sandbox-maap.example.com:9000"))
    assert (made["server_root"], made["scheme"]) == ("sandbox-maap.example.com:9000", "http")
    # Moving an http channel off the sandbox names the field that changed.
    body = await problem(await env.call("PATCH", f"/v1/channels/{made['id']}", {"operator": "ct"}), 422)
    assert [e["path"] for e in body["errors"]] == ["/operator"]
    ok = await env.call("PATCH", f"/v1/channels/{made['id']}", {"operator": "ct", "server_root": "maap.example.cn"})
    assert ok.status == 200 and (await ok.json())["scheme"] == "https"


async def test_needs_an_api_key(env):
    await problem(await env.client.get("/v1/channels"), 401)
    await problem(await env.client.post("/v1/channels", json=channel()), 401)


@pytest.mark.skipif(
    required_scope("/v1/channels") != "channels", reason="api/middleware.py does not map /v1/channels to its scope yet"
)
async def test_needs_the_channels_scope(env):
    only_messages = (await env.accounts.create_api_key(env.tenant_id, ["messages"]))["api_key"]
    only_channels = (await env.accounts.create_api_key(env.tenant_id, ["channels"]))["api_key"]
    await problem(await env.call("GET", "/v1/channels", key=only_messages), 403)
    await problem(await env.call("POST", "/v1/channels", channel(), key=only_messages), 403)
    assert (await env.call("GET", "/v1/channels", key=only_channels)).status == 200
    assert "channels" in security.SCOPES


async def test_another_tenants_channel_is_404(env):
    mine = await env.create(channel())
    other_id, other_key = await env.new_tenant()
    assert (await (await env.call("GET", "/v1/channels", key=other_key)).json())["data"] == []
    path = f"/v1/channels/{mine['id']}"
    await problem(await env.call("GET", path, key=other_key), 404)
    await problem(await env.call("PATCH", path, {"status": "disabled"}, key=other_key), 404)
    await problem(await env.call("DELETE", path, key=other_key), 404)
    assert await (await env.call("GET", path)).json() == mine
    assert await env.service.for_tenant(other_id) is None


INVALID = [
    ({"operator": "xx"}, "/operator", "must be one of ct, cu, cm, sandbox, rbm"),
    ({"operator": None}, "/operator", "required"),
    ({"server_root": "ftp://maap.example.cn"}, "/server_root", None),
    ({"server_root": "http://maap.example.cn"}, "/server_root", "https"),
    ({"server_root": "maap.example.cn:70000"}, "/server_root", "port"),
    ({"server_root": "user:pw@maap.example.cn"}, "/server_root", None),
    ({"server_root": "maap.example.cn/csp?x=1"}, "/server_root", None),
    ({"server_root": "maap.example.cn/../admin"}, "/server_root", None),
    ({"server_root": "10.0.0.7"}, "/server_root", "public"),
    ({"server_root": "127.0.0.1:8080"}, "/server_root", "public"),
    ({"server_root": "localhost"}, "/server_root", "public"),
    # Read the way the resolver reads them (issue 13 finding 12's parser).
    ({"server_root": "0x7f000001"}, "/server_root", "public"),
    ({"server_root": "https://2130706433:8443/csp"}, "/server_root", None),
    ({"server_root": "[64:ff9b::a9fe:a9fe]"}, "/server_root", "public"),
    ({"server_root": "[::ffff:10.0.0.1]:443"}, "/server_root", "public"),
    ({"server_root": "metadata.google.internal"}, "/server_root", "public"),
    ({"server_root": "metadata.tencentyun.com/latest"}, "/server_root", "public"),
    ({"server_root": ""}, "/server_root", None),
    ({"chatbot_id": "tel:+8612520001"}, "/chatbot_id", "SIP URI"),
    ({"chatbot_id": "sip:hongyan@botplatform.rcs.chinaunicom.cn"}, "/chatbot_id", "digits"),
    ({"chatbot_id": "sip:12520001@"}, "/chatbot_id", "domain"),
    ({"chatbot_id": 12520001}, "/chatbot_id", "must be a string"),
    ({"app_id": "has space"}, "/app_id", None),
    ({"app_id": ""}, "/app_id", None),
    ({"app_key": ""}, "/app_key", None),
    ({"app_key": "x" * 257}, "/app_key", None),
    ({"callback_token": " padded"}, "/callback_token", None),
    ({"callback_token": None}, "/callback_token", "required"),
    ({"status": "paused"}, "/status", "active, disabled"),
    ({"colour": "red"}, "/colour", "unknown field"),
]


@pytest.mark.parametrize(("change", "path", "words"), INVALID)
async def test_validation_errors_name_the_field(env, change, path, words):
    body = {**channel(), **change}
    body = {k: v for k, v in body.items() if v is not None}
    answer = await problem(await env.call("POST", "/v1/channels", body), 422)
    assert [e["path"] for e in answer["errors"]] == [path], answer
    if words:
        assert words in answer["errors"][0]["message"]
    for secret in (APP_KEY, CALLBACK_TOKEN, "x" * 257, " padded"):
        assert secret not in str(answer)
    assert (await (await env.call("GET", "/v1/channels")).json())["data"] == []


async def test_every_wrong_field_at_once_and_bad_bodies(env):
    body = {"operator": "xx", "server_root": "ftp://x", "chatbot_id": "sip:x@y", "status": 1, "extra": True}
    answer = await problem(await env.call("POST", "/v1/channels", body), 422)
    assert {e["path"] for e in answer["errors"]} == {
        "/operator",
        "/server_root",
        "/chatbot_id",
        "/app_id",
        "/app_key",
        "/callback_token",
        "/status",
        "/extra",
    }
    await problem(await env.client.post("/v1/channels", data=b"{", headers=env.headers()), 415)
    await problem(
        await env.client.post("/v1/channels", data=b"{", headers={**env.headers(), "Content-Type": "application/json"}),
        400,
    )
    await problem(await env.call("POST", "/v1/channels", [channel()]), 422)


async def test_patch_rules(env):
    made = await env.create(channel())
    path = f"/v1/channels/{made['id']}"
    # Nothing to change: the channel as it is, not touched.
    same = await env.call("PATCH", path, {})
    assert same.status == 200 and await same.json() == made
    for body, where in [
        ({"status": None}, "/status"),
        ({"app_key": None}, "/app_key"),
        ({"id": "x"}, "/id"),
        ({"notify_url": "https://evil.example.com"}, "/notify_url"),
        ({"profile_audit": "approved"}, "/profile_audit"),
        ({"chatbot_id": "sip:abc@x.cn"}, "/chatbot_id"),
    ]:
        answer = await problem(await env.call("PATCH", path, body), 422)
        assert [e["path"] for e in answer["errors"]] == [where]
    assert await (await env.call("GET", path)).json() == made
    # merge-patch+json is JSON too
    resp = await env.client.patch(
        path,
        data=b'{"app_id": "app-merged"}',
        headers={**env.headers(), "Content-Type": "application/merge-patch+json"},
    )
    assert resp.status == 200 and (await resp.json())["app_id"] == "app-merged"


async def test_duplicate_chatbot_id_is_409(env):
    first = await env.create(channel(1))
    # The same chatbot, written differently, by the same tenant or another: one channel per chatbot.
    shouted = channel(1, chatbot_id="SIP:12520001@BotPlatform.RCS.ChinaUnicom.cn", status="disabled")
    answer = await problem(await env.call("POST", "/v1/channels", shouted), 409)
    assert [e["path"] for e in answer["errors"]] == ["/chatbot_id"]
    _, other_key = await env.new_tenant()
    await problem(await env.call("POST", "/v1/channels", channel(1), key=other_key), 409)
    # Moving another channel onto it is refused too; the platform's own chatbot is never a tenant's.
    second = await env.create(channel(2, status="disabled"))
    answer = await problem(
        await env.call("PATCH", f"/v1/channels/{second['id']}", {"chatbot_id": first["chatbot_id"]}), 409
    )
    assert [e["path"] for e in answer["errors"]] == ["/chatbot_id"]
    await problem(await env.call("POST", "/v1/channels", channel(3, chatbot_id=DEFAULT_CHATBOT), key=other_key), 409)
    # Once deleted, the chatbot can be registered again (by whoever owns it now).
    assert (await env.call("DELETE", f"/v1/channels/{first['id']}")).status == 204
    assert (await env.call("POST", "/v1/channels", channel(1), key=other_key)).status == 201


async def test_racing_registrations_of_one_chatbot_end_in_one_channel(env):
    """The unique index decides when both requests pass the friendly check at once."""
    other_id, _ = await env.new_tenant()
    results = await asyncio.gather(
        *(env.service.create_channel(t, channel(7)) for t in (env.tenant_id, other_id) for _ in range(3)),
        return_exceptions=True,
    )
    made = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if not isinstance(r, dict)]
    assert len(made) == 1, results
    assert all(getattr(r, "status", None) == 409 for r in refused), refused
    assert all(r.errors[0].path in ("/chatbot_id", "/status") for r in refused)


async def test_racing_activations_leave_one_active_channel(env):
    results = await asyncio.gather(
        *(env.service.create_channel(env.tenant_id, channel(n)) for n in range(1, 5)), return_exceptions=True
    )
    made = [r for r in results if isinstance(r, dict)]
    assert len(made) == 1, results
    assert all(getattr(r, "status", None) == 409 and r.errors[0].path == "/status" for r in results if r not in made)
    assert (await env.service.for_tenant(env.tenant_id)).id == made[0]["id"]


async def test_one_active_channel_per_tenant(env):
    first = await env.create(channel(1))
    answer = await problem(await env.call("POST", "/v1/channels", channel(2)), 409)
    assert [e["path"] for e in answer["errors"]] == ["/status"] and first["id"] in answer["detail"]
    second = await env.create(channel(2, status="disabled"))
    await problem(await env.call("PATCH", f"/v1/channels/{second['id']}", {"status": "active"}), 409)
    assert (await env.service.for_tenant(env.tenant_id)).id == first["id"]
    # Switch: disable the first, activate the second.
    assert (await env.call("PATCH", f"/v1/channels/{first['id']}", {"status": "disabled"})).status == 200
    assert (await env.call("PATCH", f"/v1/channels/{second['id']}", {"status": "active"})).status == 200
    assert (await env.service.for_tenant(env.tenant_id)).id == second["id"]
    # Another tenant's active channel is no obstacle.
    _, other_key = await env.new_tenant()
    assert (await env.call("POST", "/v1/channels", channel(3), key=other_key)).status == 201


async def test_pages(env):
    made = [await env.create(channel(n, status="disabled")) for n in range(1, 6)]
    resp = await env.call("GET", "/v1/channels?limit=2")
    page = await resp.json()
    seen = [c["id"] for c in page["data"]]
    while page["next_cursor"]:
        page = await (await env.call("GET", f"/v1/channels?limit=2&cursor={page['next_cursor']}")).json()
        seen += [c["id"] for c in page["data"]]
    assert seen == [c["id"] for c in made]
    assert [e["path"] for e in (await problem(await env.call("GET", "/v1/channels?limit=0"), 422))["errors"]] == [
        "/limit"
    ]
    bad = await problem(await env.call("GET", "/v1/channels?cursor=%%%"), 422)
    assert [e["path"] for e in bad["errors"]] == ["/cursor"]


# -- secrets ---------------------------------------------------------------------------------
async def test_secrets_are_never_shown_or_logged_and_are_sealed_at_rest(env, caplog):
    caplog.set_level(logging.DEBUG)
    texts = []
    resp = await env.call("POST", "/v1/channels", channel())
    texts.append(await resp.text())
    made = await resp.json()
    path = f"/v1/channels/{made['id']}"
    texts.append(await (await env.call("GET", path)).text())
    texts.append(await (await env.call("GET", "/v1/channels")).text())
    resp = await env.call("PATCH", path, {"app_key": "ak-rotated-99", "callback_token": "cbt-rotated-77"})
    texts.append(await resp.text())
    texts.append(await (await env.call("POST", "/v1/channels", channel(1))).text())  # the 409
    secrets = (APP_KEY, CALLBACK_TOKEN, "ak-rotated-99", "cbt-rotated-77")
    for text in texts + [caplog.text]:
        for secret in secrets:
            assert secret not in text
    assert (await resp.json())["app_key_set"] is True

    async with env.db.read.connect() as conn:
        row = (await conn.execute(select(channels).where(channels.c.id == made["id"]))).one()
    raw = b"".join(v if isinstance(v, bytes) else str(v).encode() for v in row)
    for secret in secrets:
        assert secret.encode() not in raw
    # Sealed under the tenant's key, bound to this row and column.
    assert env.keyring.open(env.tenant_id, "channels", "app_key", made["id"], row.app_key_enc) == b"ak-rotated-99"
    with pytest.raises(security.SealError):
        env.keyring.open(env.tenant_id, "channels", "callback_token", made["id"], row.app_key_enc)

    config = await env.service.for_tenant(env.tenant_id)
    assert config.app_key.reveal() == "ak-rotated-99" and config.callback_token.reveal() == "cbt-rotated-77"
    for shown in (repr(config), str(config)):
        assert "ak-rotated-99" not in shown and "cbt-rotated-77" not in shown


async def test_the_sqlite_files_hold_no_secret(aiohttp_client, tmp_path):
    url = sqlite_url(tmp_path / "raw.db")
    await run_migrations(url)
    db = open_database(url)
    keyring = security.Keyring(security.EnvMasterKeyProvider(TEST_MASTER_KEY))
    accounts = Accounts(db, keyring)
    writer = GroupWriter(db.write)
    await writer.start()
    service = ChannelService(db, writer, keyring, public_base_url=BASE_URL)
    tenant, _ = await accounts.create_tenant("Brand")
    made = await service.create_channel(tenant.id, channel())
    await service.update_channel(tenant.id, made["id"], {"app_key": "ak-second-value"})
    await writer.stop()
    await db.dispose()
    raw = b"".join(p.read_bytes() for p in sorted(tmp_path.glob("raw.db*")))
    assert b"12520001" in raw  # the row is there
    for secret in (APP_KEY, CALLBACK_TOKEN, "ak-second-value"):
        assert secret.encode() not in raw
        assert secret.encode("utf-16-le") not in raw


async def test_key_rotation_covers_the_channel_secrets(env):
    made = await env.create(channel())
    before = await env.service.for_tenant(env.tenant_id)
    moved = await rotate_all(env.db, env.accounts, SEALED_COLUMNS, progress=lambda _: None, settle_seconds=0)
    assert moved == 2
    active = env.keyring.active_key_id(env.tenant_id)
    async with env.db.read.connect() as conn:
        row = (await conn.execute(select(channels).where(channels.c.id == made["id"]))).one()
    assert security.sealed_key_id(row.app_key_enc) == security.sealed_key_id(row.callback_token_enc) == active
    after = await env.service.for_tenant(env.tenant_id)
    assert (after.app_key, after.callback_token) == (before.app_key, before.callback_token)
    assert after.updated_ms == before.updated_ms  # the credentials did not change: nothing to rebuild


# -- what dispatch uses ------------------------------------------------------------------------
async def test_for_tenant_and_by_chatbot_id(env):
    assert await env.service.for_tenant(env.tenant_id) is None
    made = await env.create(channel(operator="ct"))
    config = await env.service.for_tenant(env.tenant_id)
    assert isinstance(config, ChannelConfig)
    assert (config.id, config.tenant_id, config.operator, config.interface, config.status) == (
        made["id"],
        env.tenant_id,
        "ct",
        "cn_csp",
        "active",
    )
    assert config.maap_config() == {
        "server_root": "maap.example.cn/csp",
        "scheme": "https",
        "chatbot_id": "sip:12520001@botplatform.rcs.chinaunicom.cn",
        "app_id": "app-1",
        "app_key": APP_KEY,
        "public_only": True,  # outside the sandbox the client connects to public addresses only
    }
    from rcs.operators import OPERATORS

    assert OPERATORS[config.interface].from_config(config.maap_config()).settings.public_only
    assert isinstance(config.app_key, security.secrets.Secret)
    # Callbacks name the chatbot however the operator spells it.
    for spelling in (made["chatbot_id"], "SIP:12520001@BOTPLATFORM.rcs.chinaunicom.cn"):
        assert await env.service.by_chatbot_id(spelling) == config
    for unknown in ("sip:99999999@botplatform.rcs.chinaunicom.cn", "garbage", ""):
        assert await env.service.by_chatbot_id(unknown) is None
    # Disabled: not sent on, but its callbacks (for messages already sent) still find it.
    await env.call("PATCH", f"/v1/channels/{made['id']}", {"status": "disabled"})
    assert await env.service.for_tenant(env.tenant_id) is None
    found = await env.service.by_chatbot_id(made["chatbot_id"])
    assert found.status == "disabled" and not found.active and found.callback_token.reveal() == CALLBACK_TOKEN


async def test_by_chatbot_id_in_a_process_that_has_not_seen_the_tenant(env):
    """A callback may be for a tenant whose keys this process never loaded."""
    made = await env.create(channel())
    fresh_keyring = security.Keyring(security.EnvMasterKeyProvider(TEST_MASTER_KEY))
    fresh = ChannelService(
        env.db,
        env.writer,
        fresh_keyring,
        public_base_url=BASE_URL,
        ensure_keys=Accounts(env.db, fresh_keyring).ensure_keys,
    )
    config = await fresh.by_chatbot_id(made["chatbot_id"])
    assert config.app_key.reveal() == APP_KEY


class FrozenClock:
    def now(self) -> datetime:
        return datetime(2025, 5, 1, 8, 0, tzinfo=UTC)


async def test_versions_grow_with_every_change_even_within_one_millisecond(env):
    frozen = ChannelService(env.db, env.writer, env.keyring, public_base_url=BASE_URL, clock=FrozenClock())
    heard: list[tuple[str, str]] = []
    frozen.add_listener(lambda tenant_id, channel_id: heard.append((tenant_id, channel_id)))
    assert await frozen.versions() == {}
    made = await frozen.create_channel(env.tenant_id, channel())
    cid = made["id"]
    seen = [(await frozen.versions())[cid]]
    await frozen.update_channel(env.tenant_id, cid, {"app_id": "app-2"})
    seen.append((await frozen.versions())[cid])
    await frozen.update_channel(env.tenant_id, cid, {"app_key": "ak-3"})
    seen.append((await frozen.versions())[cid])
    await frozen.set_profile_audit(made["chatbot_id"], "in_review")
    seen.append((await frozen.versions())[cid])
    await frozen.update_channel(env.tenant_id, cid, {})  # no change, no new version
    seen.append((await frozen.versions())[cid])
    assert seen[0] < seen[1] < seen[2] < seen[3] == seen[4]
    assert (await frozen.for_tenant(env.tenant_id)).updated_ms == seen[3]
    await frozen.delete_channel(env.tenant_id, cid)
    assert await frozen.versions() == {}
    assert heard == [(env.tenant_id, cid)] * 5


async def test_profile_audit_from_the_operators_callback(env):
    made = await env.create(channel())
    path = f"/v1/channels/{made['id']}"
    assert await env.service.set_profile_audit(made["chatbot_id"].upper().replace("SIP:", "sip:"), "in_review")
    view = await (await env.call("GET", path)).json()
    assert (view["profile_audit"], view["profile_audit_reason"]) == ("in_review", None)
    assert view["profile_audit_at"].endswith("Z")
    assert await env.service.set_profile_audit(made["chatbot_id"], "rejected", "logo is unclear")
    view = await (await env.call("GET", path)).json()
    assert (view["profile_audit"], view["profile_audit_reason"]) == ("rejected", "logo is unclear")
    assert await env.service.set_profile_audit(made["chatbot_id"], "approved", "ignored when approved")
    view = await (await env.call("GET", path)).json()
    assert (view["profile_audit"], view["profile_audit_reason"]) == ("approved", None)
    assert (await env.service.for_tenant(env.tenant_id)).profile_audit == "approved"
    assert not await env.service.set_profile_audit("sip:99999999@botplatform.rcs.chinaunicom.cn", "approved")
    with pytest.raises(ValueError):
        await env.service.set_profile_audit(made["chatbot_id"], "ok")
    # Another chatbot has not been audited.
    resp = await env.call("PATCH", path, {"chatbot_id": "sip:12520009@botplatform.rcs.chinaunicom.cn"})
    view = await resp.json()
    assert (view["profile_audit"], view["profile_audit_at"]) == ("none", None)


# -- schema, migration, description ---------------------------------------------------------
async def test_the_migration_makes_the_table_the_model_declares(env):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from store import metadata

    def diff(sync_conn):
        context = MigrationContext.configure(sync_conn)
        return [
            d
            for d in compare_metadata(context, metadata)
            if "channels" in repr(d) and "webhook" not in repr(d) and "dispatch" not in repr(d)
        ]

    async with env.db.read.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []


async def test_the_migration_applies_over_an_existing_database(tmp_path, database_url):
    url = database_url or sqlite_url(tmp_path / "old.db")
    await run_migrations(url, "0005")  # a database from before channels
    await run_migrations(url)
    db = open_database(url)
    try:
        async with db.read.connect() as conn:
            assert (await conn.execute(select(channels))).all() == []
    finally:
        await db.dispose()


async def test_the_api_description_matches_what_is_served(env):
    from openapi_spec_validator import validate

    from accounts.channels_http import FRAGMENT
    from api.examples import without_examples
    from api.openapi import PROBLEM, openapi_document

    # This module's part, whole (the full document depends on which domains this process imported).
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "channels", "version": "1"},
        "paths": FRAGMENT["paths"],
        "components": {"schemas": {"Problem": PROBLEM, **FRAGMENT["schemas"]}},
    }
    validate(doc)
    served = without_examples(openapi_document(BASE_URL)["paths"])
    assert without_examples(FRAGMENT["paths"]).items() <= served.items()  # as written, examples aside
    assert {"post", "get"} <= set(doc["paths"]["/v1/channels"])
    assert {"get", "patch", "delete"} <= set(doc["paths"]["/v1/channels/{id}"])

    def schema(name: str) -> dict:
        return {**doc["components"]["schemas"][name], "components": doc["components"]}

    jsonschema.validate(channel(), schema("ChannelCreate"))
    made = await env.create(channel())
    jsonschema.validate(made, schema("Channel"))
    page = await (await env.call("GET", "/v1/channels")).json()
    jsonschema.validate(page, schema("ChannelPage"))
    # Bodies the server refuses for reasons the schema can say break the schema too.
    for change, _path, _words in INVALID:
        if _path in ("/operator", "/status", "/colour", "/callback_token") or change in (
            {"chatbot_id": 12520001},
            {"chatbot_id": "sip:hongyan@botplatform.rcs.chinaunicom.cn"},
            {"app_id": ""},
            {"app_id": "has space"},
            {"app_key": ""},
            {"app_key": "x" * 257},
        ):
            if change == {"callback_token": " padded"}:
                continue  # leading whitespace: said in words only
            body = {k: v for k, v in {**channel(2), **change}.items() if v is not None}
            with pytest.raises(jsonschema.ValidationError):
                jsonschema.validate(body, schema("ChannelCreate"))
    jsonschema.validate({"status": "disabled"}, schema("ChannelUpdate"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"status": None}, schema("ChannelUpdate"))
    for secret in ("app_key", "callback_token"):
        assert doc["components"]["schemas"]["ChannelCreate"]["properties"][secret]["writeOnly"] is True
        assert secret not in doc["components"]["schemas"]["Channel"]["properties"]


def test_the_service_loads_without_the_web_stack():
    script = (
        "import sys, accounts.channels, accounts.tables\n"
        "print(sorted(m for m in sys.modules if m == 'aiohttp' or m.startswith('aiohttp.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_sealed_columns_are_declared():
    declared = {(c.table.name, c.column) for c in SEALED_COLUMNS}
    assert declared == {(channels.name, c.name) for c in channels.columns if c.name.endswith("_enc")}
