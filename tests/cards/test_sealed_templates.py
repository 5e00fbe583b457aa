"""Template contents (cards and sample values) are stored only sealed, on SQLite and PostgreSQL:
the raw database holds none of them, key rotation re-encrypts them, and a database from before
sealing is sealed by `migrate` (and at start) without losing a template."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

import security
from accounts import Accounts
from accounts.rotation import rotate_all
from cards.store.tables import SEALED_COLUMNS, template_drafts, template_versions
from server import ACCOUNTS, DATABASE, _migrate, create_app, master_key_provider
from store import SystemClock, open_database, run_migrations
from store.migrate import alembic_config
from tests.conftest import card

# Card text and sample values that must never be readable at rest (ASCII and CJK, since a JSON
# column would hold CJK as \u escapes).
SECRETS = ["order-VIP-7731", "张三丰", "13912345678"]


def _forms(secret: str) -> list[bytes]:
    return [secret.encode(), json.dumps(secret)[1:-1].encode(), secret.encode("utf-16-le")]


async def _make_templates(api) -> str:
    body = {
        "name": "账单提醒",
        "card": card(title="{{ name }} 您好", description=f"订单 {SECRETS[0]}"),
        "sample": {"name": SECRETS[1], "phone": SECRETS[2]},
    }
    made = await api.post("/v1/templates", body)
    assert made.status == 201, await made.text()
    tid = (await made.json())["id"]
    draft = {"card": card(title=f"{SECRETS[1]} {{{{ name }}}}"), "sample": {"name": SECRETS[2]}}
    resp = await api.client.put(f"/v1/templates/{tid}/draft", json=draft, headers=api.auth)
    assert resp.status == 200, await resp.text()
    return tid


async def test_raw_sqlite_files_hold_no_template_content(api, settings):
    if settings.database_url:
        pytest.skip("raw database files: SQLite (PostgreSQL's rows are checked in the next test)")
    tid = await _make_templates(api)
    listed = await (await api.get("/v1/templates")).json()
    assert [t["name"] for t in listed["data"]] == ["账单提醒"]  # names stay readable and listable
    got = await (await api.get(f"/v1/templates/{tid}")).json()
    assert got["sample"]["name"] == SECRETS[1] and SECRETS[0] in json.dumps(got["card"], ensure_ascii=False)
    await api.client.close()  # engines disposed, WAL written

    raw = b"".join(p.read_bytes() for p in sorted(settings.data_dir.glob("hongyan.db*")))
    assert len(raw) > 10_000
    for secret in SECRETS:
        for form in _forms(secret):
            assert form not in raw, secret


async def test_stored_rows_are_sealed_and_rotate(api, settings):
    tid = await _make_templates(api)
    db = api.client.app[DATABASE]
    async with db.read.connect() as conn:
        rows = [
            *(await conn.execute(select(template_versions))).all(),
            *(await conn.execute(select(template_drafts))).all(),
        ]
    assert len(rows) == 2
    for row in rows:
        assert row.card is None and row.sample is None and row.tenant_id == api.tenant_id
        assert not any(form in row.content_enc for s in SECRETS for form in _forms(s))

    job_db = open_database(settings.db_url)
    job = Accounts(job_db, security.Keyring(master_key_provider(settings)), SystemClock())
    moved = await rotate_all(job_db, job, SEALED_COLUMNS, progress=lambda _: None, settle_seconds=0)
    await job_db.dispose()
    assert moved == 2
    server = api.client.app[ACCOUNTS]
    await server.load_keys()
    active = server.keyring.active_key_id(api.tenant_id)
    async with db.read.connect() as conn:
        blobs = [r.content_enc for r in (await conn.execute(select(template_versions.c.content_enc))).all()]
        blobs += [r.content_enc for r in (await conn.execute(select(template_drafts.c.content_enc))).all()]
    assert {security.sealed_key_id(b) for b in blobs} == {active}
    got = await (await api.get(f"/v1/templates/{tid}/versions/1")).json()
    assert got["sample"] == {"name": SECRETS[1], "phone": SECRETS[2]}
    draft = await (await api.get(f"/v1/templates/{tid}/draft")).json()
    assert draft["sample"] == {"name": SECRETS[2]} and draft["valid"] is True


# -- a database from before sealing -------------------------------------------------------------
_OLD = sa.MetaData()
_old_templates = sa.Table(
    "templates",
    _OLD,
    sa.Column("id", sa.String(32)),
    sa.Column("tenant_id", sa.String(32)),
    sa.Column("name", sa.String(100)),
    sa.Column("created_ms", sa.BigInteger),
    sa.Column("latest_version", sa.Integer),
    sa.Column("updated_ms", sa.BigInteger),
)
_old_versions = sa.Table(
    "template_versions",
    _OLD,
    sa.Column("template_id", sa.String(32)),
    sa.Column("version", sa.Integer),
    sa.Column("card", sa.JSON),
    sa.Column("sample", sa.JSON),
    sa.Column("traffic_type", sa.String(16)),
    sa.Column("created_ms", sa.BigInteger),
    sa.Column("status", sa.String(16)),
)
_old_drafts = sa.Table(
    "template_drafts",
    _OLD,
    sa.Column("template_id", sa.String(32)),
    sa.Column("card", sa.JSON),
    sa.Column("sample", sa.JSON),
    sa.Column("traffic_type", sa.String(16)),
    sa.Column("updated_ms", sa.BigInteger),
)


async def _downgrade(url: str, revision: str) -> None:
    engine = create_async_engine(url)
    cfg = alembic_config()
    try:
        async with engine.begin() as conn:

            def down(sync_conn):
                cfg.attributes["connection"] = sync_conn
                command.downgrade(cfg, revision)

            await conn.run_sync(down)
    finally:
        await engine.dispose()


async def test_migrate_seals_templates_stored_in_plaintext(aiohttp_client, settings):
    url = settings.db_url
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await run_migrations(url)
    await _downgrade(url, "cards_0003")  # the schema before sealing
    db = open_database(url)
    accounts = Accounts(db, security.Keyring(master_key_provider(settings)), SystemClock())
    tenant, key = await accounts.create_tenant("Old brand")
    tid = "0" * 31 + "1"
    old_card = card(title="{{ name }}", description=SECRETS[0])
    async with db.write.begin() as conn:
        await conn.execute(
            _old_templates.insert().values(
                id=tid, tenant_id=tenant.id, name="旧模板", created_ms=1, latest_version=2, updated_ms=1
            )
        )
        for version in (1, 2):
            await conn.execute(
                _old_versions.insert().values(
                    template_id=tid,
                    version=version,
                    card=old_card,
                    sample={"name": SECRETS[1]},
                    traffic_type="notification",
                    created_ms=version,
                    status="approved",
                )
            )
        await conn.execute(
            _old_drafts.insert().values(
                template_id=tid, card=old_card, sample={"name": SECRETS[2]}, traffic_type="notification", updated_ms=2
            )
        )
    await db.dispose()

    await _migrate(settings)  # the schema, then the sealing a migration cannot do without keys

    db = open_database(url)
    try:
        async with db.read.connect() as conn:
            versions = (await conn.execute(select(template_versions).order_by(template_versions.c.version))).all()
            drafts = (await conn.execute(select(template_drafts))).all()
    finally:
        await db.dispose()
    assert [(v.id, v.tenant_id) for v in versions] == [(f"{tid}.1", tenant.id), (f"{tid}.2", tenant.id)]
    for row in [*versions, *drafts]:
        assert row.card is None and row.sample is None and row.content_enc is not None
        assert not any(form in row.content_enc for s in SECRETS for form in _forms(s))

    client = await aiohttp_client(create_app(settings))
    auth = {"Authorization": f"Bearer {key}"}
    got = await (await client.get(f"/v1/templates/{tid}/versions/1", headers=auth)).json()
    assert got["card"] == old_card and got["sample"] == {"name": SECRETS[1]}
    draft = await (await client.get(f"/v1/templates/{tid}/draft", headers=auth)).json()
    assert draft["card"] == old_card and draft["sample"] == {"name": SECRETS[2]}
    sent = await client.post(
        "/v1/messages", json={"to": "+8613800138001", "template": "旧模板", "variables": {"name": "x"}}, headers=auth
    )
    assert sent.status == 202, await sent.text()


async def test_the_server_seals_at_start_what_a_schema_only_migration_left(aiohttp_client, settings):
    url = settings.db_url
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await run_migrations(url)
    await _downgrade(url, "cards_0003")
    db = open_database(url)
    accounts = Accounts(db, security.Keyring(master_key_provider(settings)), SystemClock())
    tenant, key = await accounts.create_tenant("Old brand")
    tid = "0" * 31 + "2"
    async with db.write.begin() as conn:
        await conn.execute(
            _old_templates.insert().values(
                id=tid, tenant_id=tenant.id, name="旧", created_ms=1, latest_version=1, updated_ms=1
            )
        )
        await conn.execute(
            _old_versions.insert().values(
                template_id=tid,
                version=1,
                card=card(),
                sample={"name": SECRETS[1]},
                traffic_type="notification",
                created_ms=1,
                status="approved",
            )
        )
    await db.dispose()
    await run_migrations(url)  # the schema only (alembic by hand, or an old `migrate`)

    client = await aiohttp_client(create_app(settings))
    async with client.app[DATABASE].read.connect() as conn:
        row = (await conn.execute(select(template_versions))).one()
    assert row.card is None and row.content_enc is not None
    got = await (await client.get(f"/v1/templates/{tid}", headers={"Authorization": f"Bearer {key}"})).json()
    assert got["card"] == card() and got["sample"] == {"name": SECRETS[1]}


async def test_the_migration_makes_the_tables_the_model_declares(api):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from store import metadata

    def diff(sync_conn):
        context = MigrationContext.configure(sync_conn)
        return [d for d in compare_metadata(context, metadata) if "template" in repr(d)]

    async with api.client.app[DATABASE].read.connect() as conn:
        assert await conn.run_sync(diff) == []
