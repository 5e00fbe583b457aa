"""The embedded database's memory settings reach every connection: each reader's page cache,
the writers' larger one (the write engine and the group writer's own connection), the memory map."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from store import GroupWriter, SqliteMemory, open_database
from store.db import DEFAULT_SQLITE_MEMORY, sqlite_memory_of, sqlite_url


async def pragmas(engine) -> tuple[int, int]:
    async with engine.connect() as conn:
        cache = (await conn.execute(text("PRAGMA cache_size"))).scalar_one()
        mmap = (await conn.execute(text("PRAGMA mmap_size"))).scalar_one()
        await conn.rollback()
    return cache, mmap


def group_writer_pragmas(writer: GroupWriter) -> tuple[int, int]:
    assert writer._sync_engine is not None
    with writer._sync_engine.connect() as conn:
        cache = conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
        mmap = conn.exec_driver_sql("PRAGMA mmap_size").scalar_one()
        conn.rollback()
    return cache, mmap


CASES = [
    pytest.param(None, (-4096, 0), (-32768, 0), id="the defaults: small caches, no memory map"),
    pytest.param(SqliteMemory(1024, 8192, 0), (-1024, 0), (-8192, 0), id="smaller caches"),
    pytest.param(SqliteMemory(2048, 2048, 1 << 20), (-2048, 1 << 20), (-2048, 1 << 20), id="a memory map"),
]


@pytest.mark.parametrize(("memory", "reader", "writer"), CASES)
async def test_every_connection_gets_its_settings(tmp_path, memory, reader, writer):
    url = sqlite_url(tmp_path / "m.db")
    db = open_database(url) if memory is None else open_database(url, memory)
    group = GroupWriter(db.write)
    try:
        assert sqlite_memory_of(db.write) == (memory or DEFAULT_SQLITE_MEMORY)
        assert await pragmas(db.read) == reader
        assert await pragmas(db.write) == writer
        assert group_writer_pragmas(group) == writer
    finally:
        if group._sync_engine is not None:
            group._sync_engine.dispose()
        await db.dispose()


ENV_CASES = [
    pytest.param({}, SqliteMemory(4096, 32768, 0), id="nothing set: the defaults"),
    pytest.param(
        {
            "HONGYAN_SQLITE_READER_CACHE_KIB": "2048",
            "HONGYAN_SQLITE_WRITER_CACHE_KIB": "65536",
            "HONGYAN_SQLITE_MMAP_BYTES": "268435456",
        },
        SqliteMemory(2048, 65536, 268435456),
        id="all three",
    ),
    pytest.param({"HONGYAN_SQLITE_MMAP_BYTES": "1073741824"}, SqliteMemory(4096, 32768, 1 << 30), id="mmap only"),
]


@pytest.mark.parametrize(("env", "memory"), ENV_CASES)
def test_settings_from_the_environment(env, memory):
    from server import Settings

    assert Settings.from_env(env).sqlite_memory == memory


@pytest.mark.parametrize(
    ("env", "error"),
    [
        ({"HONGYAN_SQLITE_READER_CACHE_KIB": "4M"}, "HONGYAN_SQLITE_READER_CACHE_KIB must be a whole number"),
        ({"HONGYAN_SQLITE_MMAP_BYTES": "-1"}, "HONGYAN_SQLITE_MMAP_BYTES must not be negative"),
        ({"HONGYAN_CAPABILITY_CACHE_ENTRIES": "1e5"}, "HONGYAN_CAPABILITY_CACHE_ENTRIES must be a whole number"),
    ],
)
def test_settings_refuse_what_is_not_a_size(env, error):
    from server import Settings

    with pytest.raises(SystemExit, match=error):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("env", "capped"),
    [
        pytest.param({}, True, id="capped by default"),
        pytest.param({"MALLOC_ARENA_MAX": "8"}, False, id="glibc's own setting wins"),
    ],
)
def test_malloc_arenas_are_capped_unless_the_environment_says(monkeypatch, env, capped):
    import sys

    import server

    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    calls = []

    class Libc:
        def mallopt(self, param, value):
            calls.append((param, value))
            return 1

    monkeypatch.setattr(server.ctypes, "CDLL", lambda _name: Libc())
    monkeypatch.setattr(sys, "platform", "linux")
    assert server.limit_malloc_arenas() is capped
    assert calls == ([(server.M_ARENA_MAX, server.MALLOC_ARENAS)] if capped else [])


async def test_readers_are_kept_not_reopened_after_a_burst(tmp_path):
    """Bursts of concurrent reads share at most READERS connections, opened once: a connection
    given back is kept (each reopened one would read the schema and prepare its statements again)."""
    from sqlalchemy import event

    from store.db import READERS

    db = open_database(sqlite_url(tmp_path / "r.db"))
    opened: list[object] = []
    event.listen(db.read.sync_engine, "connect", lambda dbapi_conn, record: opened.append(dbapi_conn))
    in_use = 0
    most = 0

    async def read() -> None:
        nonlocal in_use, most
        async with db.read.connect() as conn:
            in_use += 1
            most = max(most, in_use)
            await conn.execute(text("SELECT 1"))
            in_use -= 1

    try:
        for _burst in range(3):
            await asyncio.gather(*(read() for _ in range(4 * READERS)))
        assert most == len(opened) == READERS
    finally:
        await db.dispose()
