"""The routes migration creates exactly the tables fallback/ported.py and
fallback/route_health.py declare."""

from __future__ import annotations

from store import open_database, run_migrations
from store.db import sqlite_url


async def test_the_migration_matches_the_declared_tables(tmp_path, database_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    import fallback.ported  # noqa: F401  (declares its tables)
    import fallback.route_health  # noqa: F401
    from store import metadata

    url = database_url or sqlite_url(tmp_path / "m.db")
    await run_migrations(url)
    db = open_database(url)
    ours = ("platform_keys", "ported_numbers", "sms_route_health")

    def diff(sync_conn):
        context = MigrationContext.configure(sync_conn)
        return [d for d in compare_metadata(context, metadata) if any(t in repr(d) for t in ours)]

    try:
        async with db.read.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await db.dispose()
