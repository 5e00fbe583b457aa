"""Contact imports as background jobs that survive a restart.

An upload (CSV, or an XLSX workbook) is first stored in the database as parts of `PART_BYTES`
(`contact_import_parts`, written as it arrives: memory stays bounded, and every process of a
deployment — SQLite or PostgreSQL — can read it); its header is checked on the way (a header
that is not a contacts header is a 422 before any job exists), and only then is the job
`queued`. A background pass (`ImportJobs.run_once`, every `interval_s` while there are jobs, ever less
often up to `IDLE_S` while there are none, and at once after an upload) takes a queued job — or a `running` one whose lease has expired, its process gone — by
a conditional UPDATE that names this process as the lease owner, and imports it `chunk_rows`
records per transaction: the contacts upserted, and with them the job's counts, its first
errors and the position reached (CSV: byte offset and physical lines; XLSX: sheet row), with the
lease renewed. A transaction whose job is no longer this process's (cancelled, or taken over)
changes nothing, and the pass stops that job. So a job resumes from the last committed position
on any process, and no row is counted twice (rows are upserts by number, and counts commit
with them). Status: queued → running → finished | failed | cancelled; the parts go with the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import IO, Any

from sqlalchemy import Connection, and_, delete, or_, select, update

from api.problems import FieldError, Problem
from audiences.contacts import Contacts
from audiences.csvrows import Cell, CsvError, CsvRecords, Header, Row
from audiences.tables import contact_import_parts, contact_imports
from audiences.xlsxrows import XlsxRows, read_header
from store.background import Periodic
from store.clock import Clock, ms_to_rfc3339
from store.ids import new_id
from store.writer import WriteBatch

log = logging.getLogger(__name__)

IDLE_S = 30.0  # the longest wait between looks for a job while there is none
CHUNK_ROWS = 1000
PART_BYTES = 256 * 1024
MAX_UPLOAD_BYTES = 2**30
MAX_IMPORT_ERRORS = 100
LEASE_MS = 2 * 60 * 1000
# A job is imported this many chunks at a time, then handed back (its lease let go), so that
# the other queued jobs — other tenants' — get their turn (claims take the least recently moved).
SLICE_CHUNKS = 100
# Parts of an upload whose job was never queued (its process stopped mid-upload) go after this.
ORPHAN_MS = 60 * 60 * 1000
FORMATS = ("csv", "xlsx")
ENDED = ("finished", "failed", "cancelled")

J = contact_imports.c
P = contact_import_parts.c


class LeaseLost(Exception):
    """The job is no longer this process's to import (cancelled, or taken over)."""


@dataclass
class ImportProgress:
    """Where an import job is: counts, first errors and the position its rows end at."""

    id: str
    rows_done: int = 0
    rows_failed: int = 0
    errors: list[dict] = field(default_factory=list)
    position: int = 0
    line: int = 0
    error: str | None = None

    def failed_row(self, line: int, column: str, message: str) -> None:
        self.rows_failed += 1
        if len(self.errors) < MAX_IMPORT_ERRORS:
            self.errors.append({"line": line, "field": column, "message": message})


class _Parts:
    """An upload written into `contact_import_parts`, `PART_BYTES` a part."""

    def __init__(self, jobs: ImportJobs, job_id: str):
        self.jobs, self.job_id = jobs, job_id
        self.buffer = bytearray()
        self.seq = 0
        self.size = 0

    async def add(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > MAX_UPLOAD_BYTES:
            raise Problem(413, f"an import file is at most {MAX_UPLOAD_BYTES // 2**20} MiB")
        self.buffer += data
        while len(self.buffer) >= PART_BYTES:
            await self._write(bytes(self.buffer[:PART_BYTES]))
            del self.buffer[:PART_BYTES]

    async def flush(self) -> None:
        if self.buffer or self.seq == 0:
            await self._write(bytes(self.buffer))
            self.buffer.clear()

    async def _write(self, data: bytes) -> None:
        row = {"job_id": self.job_id, "seq": self.seq, "data": data, "created_ms": self.jobs.now_ms()}
        await self.jobs.writer.write(WriteBatch().insert(contact_import_parts, row))
        self.seq += 1


class ImportJobs:
    """Uploads, the import jobs' background pass, views and cancel."""

    def __init__(
        self,
        contacts: Contacts,
        *,
        owner: str | None = None,
        interval_s: float = 1.0,
        chunk_rows: int = CHUNK_ROWS,
        lease_ms: int = LEASE_MS,
        slice_chunks: int = SLICE_CHUNKS,
        id_factory: Callable[[], str] = new_id,
        clock: Clock | None = None,
    ):
        self.contacts = contacts
        self.db, self.writer = contacts.db, contacts.writer
        self.clock = clock or contacts.clock
        self.slice_chunks = slice_chunks
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{new_id()[:8]}"
        self.chunk_rows, self.lease_ms = chunk_rows, lease_ms
        self.new_id = id_factory
        # No job to take: look ever less often, up to IDLE_S (an upload here wakes it at once;
        # one to another process is taken there).
        self.job = Periodic("contact-imports", self.run_once, interval_s, idle_s=max(interval_s, IDLE_S))
        self._next_sweep_ms = 0

    def now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    async def start(self) -> None:
        await self.job.start()

    async def stop(self) -> None:
        await self.job.stop()

    # -- upload ----------------------------------------------------------------------------
    async def upload(self, tenant_id: str, kind: str, chunks: AsyncIterator[bytes]) -> dict:
        """Store an upload and queue its job (the job's view); 422 when its header is not a
        contacts header (or it is not a workbook), 413 when it is too big."""
        assert kind in FORMATS
        job_id = self.new_id()
        parts = _Parts(self, job_id)
        try:
            if kind == "csv":
                columns, position, line = await self._csv_upload(chunks, parts)
                total: int | None = parts.size
            else:
                columns, position, total = await self._xlsx_upload(chunks, parts)
                line = position
            header = Header.parse(columns)
            await parts.flush()
            now_ms = self.now_ms()
            row = {
                "id": job_id,
                "tenant_id": tenant_id,
                "status": "queued",
                "rows_done": 0,
                "rows_failed": 0,
                "errors": [],
                "error": None,
                "created_ms": now_ms,
                "updated_ms": now_ms,
                "finished_ms": None,
                "format": kind,
                "size_bytes": parts.size,
                "header": header.columns,
                "position": position,
                "line": line,
                "total": total,
                "lease_owner": None,
                "lease_until_ms": None,
            }
            await self.writer.write(WriteBatch().insert(contact_imports, row))
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._drop_parts(job_id))
            raise
        await self.contacts.keys(tenant_id)
        self.job.wake()
        view = await self.get(tenant_id, job_id)
        assert view is not None
        return view

    async def _csv_upload(self, chunks: AsyncIterator[bytes], parts: _Parts) -> tuple[list[str], int, int]:
        """Store the body, reading its first record (the header) on the way: (header cells, the
        byte offset and line after it)."""
        parser = CsvRecords()
        first: list[str] | None = None
        try:
            async for data in chunks:
                await parts.add(data)
                if first is None:
                    first = next((cells for _, cells in parser.feed(data)), None)
            if first is None:
                first = next((cells for _, cells in parser.finish()), None)
        except CsvError as exc:
            raise Problem(422, f"the header cannot be read: {exc}") from None
        if first is None:
            raise Problem(422, "the file is empty", [FieldError("/columns/phone", "the `phone` column is required")])
        return first, parser.position, parser.line

    async def _xlsx_upload(self, chunks: AsyncIterator[bytes], parts: _Parts) -> tuple[list[str], int, int | None]:
        """Store the body (and a temporary copy to check): (header cells, its row, the sheet's
        row count when it says)."""
        with tempfile.TemporaryFile(prefix="hongyan-import-") as copy:
            async for data in chunks:
                await parts.add(data)
                copy.write(data)
            copy.seek(0)
            return await asyncio.get_running_loop().run_in_executor(None, read_header, copy)

    async def _drop_parts(self, job_id: str) -> None:
        await self.writer.write(
            WriteBatch().run(lambda conn: conn.execute(delete(contact_import_parts).where(P.job_id == job_id)))
        )

    # -- the background pass ---------------------------------------------------------------
    async def run_once(self) -> int:
        """Import every job there is to take, one after another: how many were taken."""
        await self._sweep()
        taken = 0
        while (job_id := await self.claim()) is not None:
            taken += 1
            try:
                if not await self.process(job_id, max_chunks=self.slice_chunks):
                    await self._release(job_id)  # its slice is over: the others' turn
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):  # stopping: let the next process take it now
                    await asyncio.shield(self._release(job_id))
                raise
        return taken

    def _takeable(self, now_ms: int):
        return or_(J.status == "queued", and_(J.status == "running", J.lease_until_ms < now_ms))

    async def claim(self) -> str | None:
        """Take the least recently moved job there is to take (queued, or running with its
        lease expired or let go),
        naming this process its lease owner; its id, or None."""
        now_ms = self.now_ms()
        async with self.db.read.connect() as conn:
            ids = (
                (await conn.execute(select(J.id).where(self._takeable(now_ms)).order_by(J.updated_ms, J.id).limit(10)))
                .scalars()
                .all()
            )
        for job_id in ids:
            values = {
                "status": "running",
                "lease_owner": self.owner,
                "lease_until_ms": now_ms + self.lease_ms,
                "updated_ms": now_ms,
            }
            stmt = update(contact_imports).where(J.id == job_id, self._takeable(now_ms)).values(values)
            if await self._rowcount(stmt):
                return job_id
        return None

    async def _rowcount(self, stmt: Any) -> int:
        out: list[int] = []
        await self.writer.write(WriteBatch().run(lambda conn: out.append(conn.execute(stmt).rowcount or 0)))
        return out[0] if out else 0

    async def _release(self, job_id: str) -> None:
        await self._rowcount(
            update(contact_imports)
            .where(J.id == job_id, J.status == "running", J.lease_owner == self.owner)
            .values(lease_until_ms=0, updated_ms=self.now_ms())
        )

    async def _sweep(self) -> None:
        """Drop the parts of uploads whose job was never queued (their process stopped)."""
        now_ms = self.now_ms()
        if now_ms < self._next_sweep_ms:
            return
        self._next_sweep_ms = now_ms + ORPHAN_MS // 4
        orphans = (
            delete(contact_import_parts)
            .where(P.created_ms < now_ms - ORPHAN_MS, P.job_id.not_in(select(J.id)))
            .execution_options(synchronize_session=False)
        )
        await self._rowcount(orphans)

    async def process(self, job_id: str, *, max_chunks: int | None = None) -> bool:
        """Import a job this process holds, from the position it reached to its end, until it
        is no longer this process's, or for `max_chunks` chunks (the lease kept): whether the
        job has ended (or is not this process's any more)."""
        async with self.db.read.connect() as conn:
            job = (await conn.execute(select(contact_imports).where(J.id == job_id))).first()
        if job is None:
            return True
        header = Header.parse(job.header)
        progress = ImportProgress(job.id, job.rows_done, job.rows_failed, list(job.errors), job.position, job.line)
        source: _Source = (
            _CsvSource(self, job.id, job.position, job.line)
            if job.format == "csv"
            else _XlsxSource(self, job.id, job.position, len(header.columns))
        )
        rows: list[Row] = []
        pending = chunks = 0
        try:
            try:
                async for line, cells in source.records():
                    result = header.row(line, cells)
                    if isinstance(result, Row):
                        rows.append(result)
                    else:
                        progress.failed_row(line, result[0], result[1])
                    pending += 1
                    if pending >= self.chunk_rows:
                        progress.position, progress.line = source.position, source.line
                        await self._commit(job.tenant_id, progress, rows, header.fields)
                        rows, pending, chunks = [], 0, chunks + 1
                        if max_chunks is not None and chunks >= max_chunks:
                            return False
            except CsvError as exc:
                progress.error = str(exc)
                progress.failed_row(exc.line, "", exc.message)
                progress.rows_failed -= 1  # the file stopped there: not a row of its own
                await self._commit(job.tenant_id, progress, rows, header.fields, final="failed")
            else:
                progress.position, progress.line = source.position, source.line
                await self._commit(job.tenant_id, progress, rows, header.fields, final="finished")
        except LeaseLost:
            log.info("contact import %s: no longer this process's (cancelled or taken over)", job_id)
        finally:
            source.close()
        return True

    async def _commit(
        self, tenant_id: str, job: ImportProgress, rows: list[Row], fields: frozenset[str], *, final: str | None = None
    ) -> None:
        """One transaction: the job's progress (only while this process holds it: else
        LeaseLost and nothing changes), the rows upserted, and at the end the parts dropped."""
        now_ms = self.now_ms()
        values: dict = {
            "rows_done": job.rows_done + len(rows),
            "rows_failed": job.rows_failed,
            "errors": list(job.errors),
            "position": job.position,
            "line": job.line,
            "updated_ms": now_ms,
            "lease_until_ms": now_ms + self.lease_ms,
        }
        if final is not None:
            values.update(status=final, finished_ms=now_ms, error=job.error, lease_owner=None, lease_until_ms=None)
        mine = update(contact_imports).where(J.id == job.id, J.status == "running", J.lease_owner == self.owner)

        def progress(conn: Connection) -> None:
            if not conn.execute(mine.values(values)).rowcount:
                raise LeaseLost(job.id)

        batch = WriteBatch().run(progress)
        if rows:
            batch.run(self.contacts.upsert_statement(tenant_id, rows, fields, now_ms, {}))
        if final is not None:
            batch.run(lambda conn: conn.execute(delete(contact_import_parts).where(P.job_id == job.id)))
        await self.writer.write(batch)
        job.rows_done += len(rows)

    async def part(self, job_id: str, seq: int) -> bytes | None:
        async with self.db.read.connect() as conn:
            return (await conn.execute(select(P.data).where(P.job_id == job_id, P.seq == seq))).scalar_one_or_none()

    # -- reads and cancel ------------------------------------------------------------------
    async def get(self, tenant_id: str, job_id: str) -> dict | None:
        async with self.db.read.connect() as conn:
            row = (await conn.execute(select(contact_imports).where(J.tenant_id == tenant_id, J.id == job_id))).first()
        return view(row) if row is not None else None

    async def page(self, tenant_id: str, *, after: str | None, limit: int) -> tuple[list[dict], str | None]:
        """Import jobs, newest first."""
        query = select(contact_imports).where(J.tenant_id == tenant_id)
        if after is not None:
            query = query.where(J.id < after)
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(query.order_by(J.id.desc()).limit(limit + 1))).all()
        more = len(rows) > limit
        rows = rows[:limit]
        return [view(r) for r in rows], (rows[-1].id if more else None)

    async def cancel(self, tenant_id: str, job_id: str) -> dict | None:
        """Cancel a queued or running job (the rows it committed stay imported); None when
        there is no such job, 409 when it has ended."""
        now_ms = self.now_ms()
        ended: list[bool] = []

        def run(conn: Connection) -> None:
            done = conn.execute(
                update(contact_imports)
                .where(J.tenant_id == tenant_id, J.id == job_id, J.status.in_(("queued", "running")))
                .values(
                    status="cancelled", finished_ms=now_ms, updated_ms=now_ms, lease_owner=None, lease_until_ms=None
                )
            ).rowcount
            if done:
                conn.execute(delete(contact_import_parts).where(P.job_id == job_id))
            ended.append(not done)

        await self.writer.write(WriteBatch().run(run))
        job = await self.get(tenant_id, job_id)
        if job is not None and ended[0]:
            raise Problem(409, f"the import has ended ({job['status']})")
        return job


def view(row: Any) -> dict:
    done = row.status in ENDED
    progress = None
    if row.status == "finished":
        progress = 1.0
    elif row.total:
        progress = round(min(row.position / row.total, 1.0), 4)
    return {
        "id": row.id,
        "status": row.status,
        "format": row.format,
        "size_bytes": row.size_bytes,
        "rows_done": row.rows_done,
        "rows_failed": row.rows_failed,
        "progress": progress,
        "errors": row.errors,
        "error": row.error,
        "created_at": ms_to_rfc3339(row.created_ms),
        "updated_at": ms_to_rfc3339(row.updated_ms),
        "finished_at": ms_to_rfc3339(row.finished_ms) if done and row.finished_ms is not None else None,
    }


# -- sources: records from the stored upload, from a position on ------------------------------
class _Source:
    position: int
    line: int

    def records(self) -> AsyncIterator[tuple[int, list[Cell]]]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _CsvSource(_Source):
    def __init__(self, jobs: ImportJobs, job_id: str, position: int, line: int):
        self.jobs, self.job_id = jobs, job_id
        self.parser = CsvRecords(position=position, line=line)

    @property
    def position(self) -> int:  # type: ignore[override]
        return self.parser.position

    @property
    def line(self) -> int:  # type: ignore[override]
        return self.parser.line

    async def records(self) -> AsyncIterator[tuple[int, list[Cell]]]:
        seq, skip = divmod(self.parser.position, PART_BYTES)
        while (data := await self.jobs.part(self.job_id, seq)) is not None:
            for record in self.parser.feed(data[skip:] if skip else data):
                yield record  # type: ignore[misc]
            seq, skip = seq + 1, 0
        for record in self.parser.finish():
            yield record  # type: ignore[misc]


class _XlsxSource(_Source):
    """The stored workbook copied to a temporary file (zip needs to seek), read a chunk of rows
    at a time off the event loop."""

    def __init__(self, jobs: ImportJobs, job_id: str, after_row: int, width: int):
        self.jobs, self.job_id, self.width = jobs, job_id, width
        self.position = self.line = after_row
        self.file: IO[bytes] | None = None
        self.rows: XlsxRows | None = None

    async def records(self) -> AsyncIterator[tuple[int, list[Cell]]]:
        loop = asyncio.get_running_loop()
        self.file = tempfile.TemporaryFile(prefix="hongyan-import-")
        seq = 0
        while (data := await self.jobs.part(self.job_id, seq)) is not None:
            self.file.write(data)
            seq += 1
        self.file.seek(0)
        file = self.file
        try:
            self.rows = rows = await loop.run_in_executor(
                None, lambda: XlsxRows(file, after_row=self.position, width=self.width)
            )
        except Problem as exc:
            raise CsvError(self.position + 1, exc.detail) from None
        while batch := await loop.run_in_executor(None, rows.take, self.jobs.chunk_rows):
            for line, cells in batch:
                self.position = self.line = line
                yield line, cells

    def close(self) -> None:
        if self.rows is not None:
            self.rows.close()
        if self.file is not None:
            self.file.close()
