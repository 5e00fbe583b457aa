"""The embedded database's write-ahead log starts over under steady reads: past its size the
group writer asks for a RESTART checkpoint, and the journal size limit cuts the file back."""

from __future__ import annotations

import os
import sqlite3
import threading
import time

from sqlalchemy import text

import store.db
import store.writer
from store import GroupWriter, open_database
from store.db import sqlite_url
from store.writer import WriteBatch


def _rows(start: int, n: int = 200):
    def insert(conn):
        conn.exec_driver_sql(
            "INSERT INTO t (id, v) VALUES (?, ?)", [(i, os.urandom(512)) for i in range(start, start + n)]
        )

    return WriteBatch().run(insert)


def _overlapping_readers(path, stop: threading.Event) -> None:
    """Two connections taking turns so that one is always inside a short read transaction, as
    a busy server's readers are: SQLite alone never finds the log free to start over."""
    a, b = (sqlite3.connect(path, isolation_level=None) for _ in range(2))
    a.execute("BEGIN")
    a.execute("SELECT count(*) FROM t").fetchone()
    while not stop.is_set():
        for first, second in ((a, b), (b, a)):
            second.execute("BEGIN")
            second.execute("SELECT count(*) FROM t").fetchone()
            first.execute("COMMIT")
            time.sleep(0.002)
    for conn in (a, b):
        if conn.in_transaction:
            conn.execute("COMMIT")
        conn.close()


async def test_the_log_starts_over_under_steady_reads(tmp_path, monkeypatch):
    monkeypatch.setattr(store.writer, "WAL_RESTART_BYTES", 1 << 40)  # first, never
    monkeypatch.setattr(store.writer, "WAL_CHECK_S", 0.0)
    monkeypatch.setattr(store.db, "JOURNAL_SIZE_LIMIT", 64 * 1024)
    path = tmp_path / "w.db"
    db = open_database(sqlite_url(path))
    async with db.write.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)"))
    writer = GroupWriter(db.write)
    await writer.start()
    wal = f"{path}-wal"
    stop = threading.Event()
    readers = threading.Thread(target=_overlapping_readers, args=(path, stop))
    readers.start()
    try:
        for n in range(0, 6000, 200):
            await writer.write(_rows(n))
        grown = os.path.getsize(wal)
        assert grown > 2 * 1024 * 1024  # SQLite's own checkpoints copied it, never started it over

        monkeypatch.setattr(store.writer, "WAL_RESTART_BYTES", 256 * 1024)
        for n in range(6000, 6200, 2):
            await writer.write(_rows(n, 2))
            if writer.wal_restarts:
                break
        assert writer.wal_restarts >= 1
        await writer.write(_rows(7000, 1))  # the first write of the new log cuts the file back
        assert os.path.getsize(wal) <= 64 * 1024 + 8192 < grown
    finally:
        stop.set()
        readers.join()
        await writer.stop()
        await db.dispose()
