"""The purge job's lock row (one process at a time, taken over when its holder dies), its
resumption where a run stopped, and the migration (schema as declared, the `privacy` scope)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text

from accounts import Accounts
from privacy import Privacy, Registry, RetentionKind
from privacy.service import LEASE_MS, PURGE_JOB
from privacy.tables import privacy_jobs
from security import EnvMasterKeyProvider, Keyring
from server import prepare_storage
from store import GroupWriter, open_database, run_migrations
from store.db import sqlite_url
from tests.conftest import TEST_MASTER_KEY


class Clock:
    def __init__(self, at: datetime):
        self.at = at

    def now(self) -> datetime:
        return self.at


async def test_one_purge_at_a_time_taken_over_after_the_lease_and_resumed(settings):
    await prepare_storage(settings)
    db = open_database(settings.db_url)
    writer = GroupWriter(db.write)
    await writer.start()
    try:
        keyring = Keyring(EnvMasterKeyProvider(TEST_MASTER_KEY))
        accounts = Accounts(db, keyring, Clock(datetime.now(UTC)))
        tenant_ids = sorted([(await accounts.create_tenant(f"Brand {i}"))[0].id for i in range(3)])
        seen: list[str] = []
        registry = Registry()
        registry.add_retention(RetentionKind("probe", "records which tenants a run visits", 1, _probe(seen)))
        now = Clock(datetime.now(UTC))
        first = Privacy(db, writer, keyring, now, registry=registry)
        second = Privacy(db, writer, keyring, now, registry=registry)

        assert await first._lease()  # a run in another process holds the job
        assert await second.purge() is None and seen == []
        later = Privacy(db, writer, keyring, Clock(now.at + timedelta(milliseconds=LEASE_MS + 1)), registry=registry)
        # Its holder died half-way, after the first tenant: the next run takes over and resumes.
        await first._lease(cursor=tenant_ids[0], keep_cursor=False)
        report = await later.purge()
        assert report is not None and report["complete"]
        assert seen == tenant_ids[1:]

        seen.clear()
        assert (await second.purge()) is not None  # released, and the next run starts from the top
        assert seen == tenant_ids
        async with db.read.connect() as conn:
            job = (await conn.execute(select(privacy_jobs).where(privacy_jobs.c.name == PURGE_JOB))).one()
        assert job.owner is None and job.cursor is None and job.finished_ms is not None
    finally:
        await writer.stop()
        await db.dispose()


def _probe(seen: list[str]):
    def purge(conn, tenant_id: str, cutoff_ms: int, limit: int) -> int:
        seen.append(tenant_id)
        return 0

    return purge


async def test_the_migration_matches_the_tables_and_grants_the_scope(tmp_path, database_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from store import metadata

    url = database_url or sqlite_url(tmp_path / "m.db")
    await run_migrations(url, "compliance_0001")  # a database from before privacy, with two keys
    db = open_database(url)
    full = "cards channels compliance keys messages reviews templates webhooks"
    try:
        async with db.write.begin() as conn:
            await conn.execute(
                text("INSERT INTO tenants (id, name, signature, created_ms) VALUES ('t1', 'Brand', '【鸿雁】', 0)")
            )
            for key_id, scopes in (("all", full), ("narrow", "messages")):
                await conn.execute(
                    text(
                        "INSERT INTO api_keys (id, tenant_id, key_hash, scopes, created_ms) "
                        "VALUES (:id, 't1', :hash, :scopes, 0)"
                    ),
                    {"id": key_id, "hash": b"x", "scopes": scopes},
                )
    finally:
        await db.dispose()
    await run_migrations(url)
    db = open_database(url)

    def diff(sync_conn):
        context = MigrationContext.configure(sync_conn)
        return [d for d in compare_metadata(context, metadata) if "privacy_" in repr(d)]

    try:
        async with db.read.connect() as conn:
            assert await conn.run_sync(diff) == []
            scopes = dict((await conn.execute(text("SELECT id, scopes FROM api_keys"))).all())
    finally:
        await db.dispose()
    # Other branches' migrations may grant their own new scopes too; this one adds `privacy`.
    assert set(full.split()) | {"privacy"} <= set(scopes["all"].split())
    assert scopes["narrow"] == "messages"
