"""cards_0005 adds the crop and clip columns to media: the migration matches the table."""

from __future__ import annotations

from store import open_database, run_migrations
from store.db import sqlite_url


async def test_the_media_migration_matches_the_declared_table(tmp_path, database_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from store import metadata

    url = database_url or sqlite_url(tmp_path / "m.db")
    await run_migrations(url, "cards_0004")  # a database from before crops and clips
    await run_migrations(url)
    db = open_database(url)

    def diff(sync_conn):
        context = MigrationContext.configure(sync_conn)
        return [d for d in compare_metadata(context, metadata) if "'media'" in repr(d) or "media." in repr(d)]

    try:
        async with db.read.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await db.dispose()
