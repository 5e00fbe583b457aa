"""The campaigns migration: the schema it makes is the declared one, and keys that held every
scope gain `campaigns` (narrowed keys keep what they had)."""

from __future__ import annotations

from sqlalchemy import inspect, text

import campaigns.tables  # noqa: F401  (registers the tables on the metadata)
from store import metadata, open_database, run_migrations
from store.db import sqlite_url


async def test_the_migration_matches_the_tables_and_grants_the_scope(tmp_path, database_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    url = database_url or sqlite_url(tmp_path / "m.db")
    for head in ("0007", "audiences_0001", "billing_0001"):
        await run_migrations(url, head)  # a database from just before campaigns
    db = open_database(url)
    full = "audiences billing cards channels compliance keys messages privacy reviews templates users webhooks"
    try:
        async with db.write.begin() as conn:
            await conn.execute(
                text("INSERT INTO tenants (id, name, signature, created_ms) VALUES ('t1', 'T', '【鸿雁测试】', 0)")
            )
            for key_id, scopes in (("all", full), ("narrow", "messages audiences")):
                await conn.execute(
                    text(
                        "INSERT INTO api_keys (id, tenant_id, key_hash, scopes, created_ms) "
                        "VALUES (:id, 't1', :hash, :scopes, 0)"
                    ),
                    {"id": key_id, "hash": b"x", "scopes": scopes},
                )
        await run_migrations(url)
        ours = ("campaign", "journey")

        def diff(sync_conn):
            context = MigrationContext.configure(sync_conn)
            return [d for d in compare_metadata(context, metadata) if any(t in repr(d) for t in ours)]

        async with db.read.connect() as conn:
            assert await conn.run_sync(diff) == []
            scopes = dict((await conn.execute(text("SELECT id, scopes FROM api_keys"))).all())
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            batch_columns = await conn.run_sync(lambda c: {col["name"] for col in inspect(c).get_columns("batches")})
    finally:
        await db.dispose()
    assert "channel" in batch_columns  # 0007: an SMS-only send
    assert {"campaigns", "campaign_recipients", "campaign_messages", "journeys", "journey_sends"} <= tables
    assert scopes["all"].split() == sorted(full.split() + ["campaigns"])
    assert scopes["narrow"] == "messages audiences"
