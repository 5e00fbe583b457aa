"""Schema changes through alembic, never create_all at boot."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import create_async_engine

from store.db import BUSY_TIMEOUT_MS, is_sqlite

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


@cache
def script_heads() -> frozenset[str]:
    """Every head revision of the migration scripts (read once: loading them takes a while)."""
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


async def run_migrations(url: str, revision: str = "heads") -> None:
    """Upgrade the database at `url` to `revision` (all heads by default)."""
    if revision == "heads" and await schema_is_current(url):
        return  # nothing to do: spare loading every script (each embedded boot asks)
    connect_args = {"timeout": BUSY_TIMEOUT_MS / 1000} if is_sqlite(url) else {}
    engine = create_async_engine(url, connect_args=connect_args)
    cfg = alembic_config()
    try:
        async with engine.begin() as conn:
            if is_sqlite(url):
                await conn.exec_driver_sql("PRAGMA journal_mode=WAL")

            def upgrade(sync_conn):
                cfg.attributes["connection"] = sync_conn
                command.upgrade(cfg, revision)

            await conn.run_sync(upgrade)
    finally:
        await engine.dispose()


async def schema_is_current(url: str) -> bool:
    """True when the database is at every head revision alembic knows."""
    from alembic.runtime.migration import MigrationContext

    heads = script_heads()
    connect_args = {"timeout": BUSY_TIMEOUT_MS / 1000} if is_sqlite(url) else {}
    engine = create_async_engine(url, connect_args=connect_args)
    try:
        async with engine.connect() as conn:
            current = await conn.run_sync(lambda c: set(MigrationContext.configure(c).get_current_heads()))
    finally:
        await engine.dispose()
    return current == heads
