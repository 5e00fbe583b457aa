"""Database engines for the embedded SQLite (WAL) default and PostgreSQL.

SQLite allows one writer at a time, so writes go through one connection that opens
transactions with BEGIN IMMEDIATE (no lock-upgrade deadlocks), and reads use their own
pool in autocommit. PostgreSQL uses one ordinary pool for both.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from pathlib import Path

import orjson
from sqlalchemy import Engine, event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

BUSY_TIMEOUT_MS = 10_000
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@dataclass(frozen=True)
class SqliteMemory:
    """What SQLite may hold in memory, per connection (settings: HONGYAN_SQLITE_*).

    SQLite's own default page cache is 2 MB: once the indexes outgrow it, every insert at a random
    key (blind indexes are random) rereads its pages from the OS's file cache. The writers (the
    group writer and the write engine) touch those index pages on every commit and get a larger
    cache; the readers (up to READERS connections) a small one each. Memory-mapped reads (`mmap_bytes`)
    are off by default: every mapped page of the growing file the process has touched counts in
    its RSS, and reads through the file cache were as fast (docs/performance.md, "Soak")."""

    reader_cache_kib: int = 4 * 1024
    writer_cache_kib: int = 32 * 1024
    mmap_bytes: int = 0


DEFAULT_SQLITE_MEMORY = SqliteMemory()
# Reading connections of the embedded database's read engine.
READERS = 8
# What each open_database engine was given, for connections made from it later (the group
# writer's own synchronous engine).
_MEMORY: weakref.WeakKeyDictionary[AsyncEngine, SqliteMemory] = weakref.WeakKeyDictionary()


def sqlite_memory_of(engine: AsyncEngine) -> SqliteMemory:
    """The SQLite memory settings an engine of open_database was given (else the defaults)."""
    return _MEMORY.get(engine, DEFAULT_SQLITE_MEMORY)


def install_sqlite_events(engine: Engine, *, immediate: bool, memory: SqliteMemory = DEFAULT_SQLITE_MEMORY) -> None:
    """WAL, busy timeout, foreign keys, page cache and mmap sizes; BEGIN IMMEDIATE for the
    writer (and its larger cache), plain BEGIN for readers."""
    cache_kib = memory.writer_cache_kib if immediate else memory.reader_cache_kib

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Let SQLAlchemy's "begin" event decide how transactions start.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA cache_size=-{int(cache_kib)}")
        cur.execute(f"PRAGMA mmap_size={int(memory.mmap_bytes)}")
        # When the write-ahead log starts over, its file is cut back to this (store.writer).
        cur.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
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


def open_database(url: str, sqlite_memory: SqliteMemory = DEFAULT_SQLITE_MEMORY) -> Database:
    """Create the engines for a database URL (sqlite+aiosqlite:/// or postgresql+asyncpg://);
    `sqlite_memory` sizes the embedded database's page caches and memory map."""
    if is_sqlite(url):
        write = create_async_engine(url, poolclass=AsyncAdaptedQueuePool, pool_size=1, max_overflow=0, **JSON_CODEC)
        install_sqlite_events(write.sync_engine, immediate=True, memory=sqlite_memory)
        # Up to READERS connections, all kept once opened. An overflow connection was closed when
        # given back, and each new one costs a thread, the pragmas, reading the schema and
        # preparing its statements again: at 32 concurrent accepts, one every ~1,000 requests.
        read = create_async_engine(
            url, poolclass=AsyncAdaptedQueuePool, pool_size=READERS, max_overflow=0, **JSON_CODEC
        )
        install_sqlite_events(read.sync_engine, immediate=False, memory=sqlite_memory)
        _MEMORY[write] = _MEMORY[read] = sqlite_memory
        return Database(url, read, write)
    engine = create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=False, **JSON_CODEC)
    return Database(url, engine, engine)
