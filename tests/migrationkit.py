"""What a migration test asks: from the database as it was before (some heads), with a tenant
and API keys, upgrade to the heads and compare the schema with the declared tables."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import inspect, text

from store import metadata, open_database, run_migrations


@dataclass
class Upgraded:
    drift: list  # alembic's differences between the schema and the tables, for the names asked
    scopes: dict[str, str]  # key id → its scopes after the upgrade
    tables: set[str]
    columns: dict[str, set[str]]  # table → column names


async def upgrade_with_keys(url: str, before: tuple[str, ...], keys: dict[str, str], ours: tuple[str, ...]) -> Upgraded:
    """Migrate `url` to the `before` revisions, add tenant `t1` with `keys` (id → scopes), migrate
    to the heads; the drift of whatever names one of `ours`."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    for head in before:
        await run_migrations(url, head)
    db = open_database(url)
    try:
        async with db.write.begin() as conn:
            await conn.execute(
                text("INSERT INTO tenants (id, name, signature, created_ms) VALUES ('t1', 'T', '【鸿雁测试】', 0)")
            )
            for key_id, scopes in keys.items():
                await conn.execute(
                    text(
                        "INSERT INTO api_keys (id, tenant_id, key_hash, scopes, created_ms) "
                        "VALUES (:id, 't1', :hash, :scopes, 0)"
                    ),
                    {"id": key_id, "hash": b"x", "scopes": scopes},
                )
        await run_migrations(url)

        def read(sync_conn) -> Upgraded:
            context = MigrationContext.configure(sync_conn)
            drift = [d for d in compare_metadata(context, metadata) if any(t in repr(d) for t in ours)]
            found = inspect(sync_conn)
            tables = set(found.get_table_names())
            columns = {t: {c["name"] for c in found.get_columns(t)} for t in tables}
            scopes = dict(sync_conn.execute(text("SELECT id, scopes FROM api_keys")).all())
            return Upgraded(drift, scopes, tables, columns)

        async with db.read.connect() as conn:
            return await conn.run_sync(read)
    finally:
        await db.dispose()
