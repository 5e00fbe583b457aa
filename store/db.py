"""Database engines for the embedded SQLite (WAL) default and PostgreSQL.

SQLite allows one writer at a time, so writes go through one connection that opens
transactions with BEGIN IMMEDIATE (no lock-upgrade deadlocks), and reads use their own
pool in autocommit. PostgreSQL uses one ordinary pool for both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson
from sqlalchemy import Engine, event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

BUSY_TIMEOUT_MS = 10_000


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


SQLITE_CACHE_KIB = 64 * 1024
SQLITE_MMAP_BYTES = 1 << 30


def install_sqlite_events(engine: Engine, *, immediate: bool) -> None:
    """WAL, busy timeout, foreign keys; BEGIN IMMEDIATE for the writer, plain BEGIN for readers."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Let SQLAlchemy's "begin" event decide how transactions start.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        # SQLite's default page cache is 2 MB: once the indexes outgrow it, every insert at a
        # random key (blind indexes are random) rereads its pages from the OS. A larger cache
        # and memory-mapped reads keep a busy database's hot pages at hand.
        cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cur.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@dataclass
class Database:
    """A read engine and a write engine (the same object on PostgreSQL)."""

    url: str
    read: AsyncEngine
    write: AsyncEngine

    @property
    def sqlite(self) -> bool:
        return is_sqlite(self.url)

    async def dispose(self) -> None:
        await self.read.dispose()
        if self.write is not self.read:
            await self.write.dispose()


def _json_dumps(value) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


# JSON columns (event details, evidence facts…) are on hot paths: orjson, not the stdlib.
JSON_CODEC = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}


def open_database(url: str) -> Database:
    """Create the engines for a database URL (sqlite+aiosqlite:/// or postgresql+asyncpg://)."""
    if is_sqlite(url):
        write = create_async_engine(url, poolclass=AsyncAdaptedQueuePool, pool_size=1, max_overflow=0, **JSON_CODEC)
        install_sqlite_events(write.sync_engine, immediate=True)
        read = create_async_engine(url, poolclass=AsyncAdaptedQueuePool, pool_size=4, max_overflow=4, **JSON_CODEC)
        install_sqlite_events(read.sync_engine, immediate=False)
        return Database(url, read, write)
    engine = create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=False, **JSON_CODEC)
    return Database(url, engine, engine)
