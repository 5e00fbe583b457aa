"""Group commit: one task commits many requests' rows in one transaction.

Handlers hand their rows to `GroupWriter.write()` and get their answer only after the
transaction holding them has committed, so an accepted message is durable before 202
while the database sees one transaction per batch of requests.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from store.bulk import executemany
from store.db import BUSY_TIMEOUT_MS
from store.tables import table_order

log = logging.getLogger(__name__)

# SQLSTATEs of a transaction PostgreSQL rolled back for running into another (deadlock,
# serialization failure): running it again is the remedy.
CONFLICTS = frozenset({"40P01", "40001"})
CONFLICT_ATTEMPTS = 3

# SQLite's own checkpoints copy the write-ahead log into the database but start the log over
# only when no reader is using it, which under steady load is never: the log file then grows
# without end (800 MB after 200,000 messages in a soak). Once it is past WAL_RESTART_BYTES the
# writer asks for a checkpoint that restarts it (waiting at most WAL_RESTART_WAIT_MS for the
# readers of the moment; else it tries again a second later), and the journal size limit
# (store.db) truncates the file back when the log starts over.
WAL_RESTART_BYTES = 64 * 1024 * 1024
WAL_RESTART_WAIT_MS = 100
WAL_CHECK_S = 1.0

# The most turns of the event loop a group waits for requests still on their way (GroupWriter._gather).
GATHER_TURNS = 8

# Statements run synchronously inside the group's transaction (on the writer's thread for
# SQLite, through run_sync on PostgreSQL), so one group costs one hop off the event loop.
Statement = Callable[[Connection], Any]
# A check shared by the batches of a group: it gets every item given with it in the group at
# once (set-based look-ups and counters instead of one round of statements per request) and
# answers one batch per item, committed with the group.
GroupCheck = Callable[[Connection, list[Any]], list["WriteBatch"]]


@dataclass
class WriteBatch:
    """Rows to insert (per table) and statements to run after them, committed together."""

    inserts: dict[Table, list[dict]] = field(default_factory=dict)
    statements: list[Statement] = field(default_factory=list)
    checks: list[tuple[GroupCheck, Any]] = field(default_factory=list)

    def insert(self, table: Table, rows: dict | list[dict]) -> WriteBatch:
        self.inserts.setdefault(table, []).extend(rows if isinstance(rows, list) else [rows])
        return self

    def run(self, statement: Statement) -> WriteBatch:
        self.statements.append(statement)
        return self

    def check(self, fn: GroupCheck, item: Any) -> WriteBatch:
        """Have `fn` decide `item` together with the group's other items given with the same
        `fn`, before the group's inserts; the batches it answers commit with the group. Runs
        again (with fewer items) when the group is retried, so it must reset what it records."""
        self.checks.append((fn, item))
        return self


@dataclass
class _Item:
    batch: WriteBatch
    done: asyncio.Future


class GroupWriter:
    """Serialises writes through one connection and commits them in groups."""

    def __init__(self, engine: AsyncEngine, *, max_group: int = 512):
        self._engine = engine
        self._max_group = max_group
        self._sqlite = engine.url.get_backend_name() == "sqlite"
        self._sync_engine: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        if self._sqlite:
            # aiosqlite pays a thread hop per statement; a plain sqlite3 connection on one
            # dedicated thread commits a whole group in a single hop.
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
            self._sync_engine = _sqlite_sync_engine(engine)
        self._queue: asyncio.Queue[_Item | None] = asyncio.Queue()
        self._task: asyncio.Task | None = None
        # Called after every group that committed (background jobs woken by new rows: the
        # evidence appender, billing); cheap and non-blocking, they must not raise.
        self.on_commit: list[Callable[[], None]] = []
        self._wal_checked = 0.0
        self.wal_restarts = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="group-writer")

    async def stop(self) -> None:
        if self._task is None:
            return
        await self._queue.put(None)
        await self._task
        self._task = None
        if self._thread is not None and self._sync_engine is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._sync_engine.dispose)
            self._thread.shutdown()

    async def write(self, batch: WriteBatch) -> None:
        """Commit `batch`; returns once it is durable, raises what the database raised."""
        if self._task is None:
            raise RuntimeError("GroupWriter is not running")
        done = asyncio.get_running_loop().create_future()
        await self._queue.put(_Item(batch, done))
        await done

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            item = await self._queue.get()
            if item is None:
                break
            group = [item]
            await self._gather()
            while len(group) < self._max_group and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if nxt is None:
                    stopping = True
                    break
                group.append(nxt)
            await self._commit_group(group)

    async def _gather(self) -> None:
        """Let the requests already on their way reach the queue before a group is cut: turns
        of the event loop while the queue keeps growing (one turn when it does not, none when a
        full group is already waiting). Each commit costs its BEGIN, its COMMIT and the index
        pages every row of it touches, once; a single core accepting from 32 connections cut
        groups of ~9 requests without this and ~14 with it, for ~5% less CPU a request
        (docs/performance.md)."""
        for _ in range(GATHER_TURNS):
            before = self._queue.qsize()
            if before >= self._max_group:
                return
            await asyncio.sleep(0)
            if self._queue.qsize() == before:
                return

    async def _commit_group(self, group: list[_Item]) -> None:
        try:
            await self._commit([it.batch for it in group])
        except Exception as exc:
            if len(group) == 1:
                _settle(group[0], exc)
                return
            # One bad item must not fail its neighbours: retry each alone.
            committed = False
            for it in group:
                try:
                    await self._commit([it.batch])
                except Exception as one_exc:
                    _settle(it, one_exc)
                else:
                    committed = True
                    _settle(it, None)
            if committed:
                self._committed()
            return
        for it in group:
            _settle(it, None)
        self._committed()

    def _committed(self) -> None:
        for callback in self.on_commit:
            try:
                callback()
            except Exception:
                log.exception("an on-commit callback failed")

    async def _commit(self, batches: list[WriteBatch]) -> None:
        if self._sqlite:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._commit_sqlite, batches)
            return
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                async with self._engine.begin() as conn:
                    await conn.run_sync(_apply, batches)
                return
            except DBAPIError as exc:
                # Several processes lock the same rows (PostgreSQL): one transaction of a
                # deadlock is rolled back whole, so the group is run again as it was.
                state = getattr(exc.orig, "sqlstate", None)
                if state not in CONFLICTS or attempt == CONFLICT_ATTEMPTS:
                    raise
                log.info("a write group met a %s; running it again", "deadlock" if state == "40P01" else "conflict")

    def _commit_sqlite(self, batches: list[WriteBatch]) -> None:
        assert self._sync_engine is not None
        with self._sync_engine.begin() as conn:
            _apply(conn, batches)
        now = time.monotonic()
        if now >= self._wal_checked + WAL_CHECK_S:
            self._wal_checked = now
            self._restart_wal_if_large()

    def _restart_wal_if_large(self) -> None:
        """A RESTART checkpoint when the log file is past WAL_RESTART_BYTES (writer thread)."""
        assert self._sync_engine is not None
        path = self._sync_engine.url.database
        try:
            size = os.path.getsize(f"{path}-wal") if path else 0
        except OSError:
            return
        if size < WAL_RESTART_BYTES:
            return
        pooled = self._sync_engine.raw_connection()
        try:
            driver = pooled.driver_connection
            assert driver is not None
            driver.execute(f"PRAGMA busy_timeout={WAL_RESTART_WAIT_MS}")
            busy, _frames, _copied = driver.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
            driver.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        finally:
            pooled.close()
        if busy:
            log.info("the write-ahead log (%d MB) could not start over yet: readers", size >> 20)
        else:
            self.wal_restarts += 1


def _apply(conn: Connection, batches: list[WriteBatch]) -> None:
    checked: dict[GroupCheck, list[Any]] = {}
    for b in batches:
        for fn, item in b.checks:
            checked.setdefault(fn, []).append(item)
    if checked:
        batches = batches + [out for fn, items in checked.items() for out in fn(conn, items)]
    merged: dict[Table, list[dict]] = {}
    for b in batches:
        for table, rows in b.inserts.items():
            merged.setdefault(table, []).extend(rows)
    # Parents before children, whatever order the requests came in.
    for table in table_order():
        found = merged.get(table)
        if found:
            executemany(conn, table, found)
    for b in batches:
        for statement in b.statements:
            statement(conn)


def _sqlite_sync_engine(engine: AsyncEngine) -> Engine:
    from store.db import JSON_CODEC, install_sqlite_events, sqlite_memory_of

    url = engine.url.set(drivername="sqlite")
    sync = create_engine(url, pool_size=1, max_overflow=0, connect_args={"check_same_thread": False}, **JSON_CODEC)
    install_sqlite_events(sync, immediate=True, memory=sqlite_memory_of(engine))
    return sync


def _settle(item: _Item, exc: BaseException | None) -> None:
    if item.done.done():
        return
    if exc is None:
        item.done.set_result(None)
    else:
        item.done.set_exception(exc)
