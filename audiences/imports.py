"""A contacts file streamed into an import job: records parsed as the bytes arrive, upserted a
chunk at a time (one transaction per chunk, recording the job's progress with it), so a file of
any length is never held in memory and `GET /v1/contacts/imports/{id}` shows it moving."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from api.problems import FieldError, Problem
from audiences.contacts import Contacts, ImportProgress
from audiences.csvrows import CsvError, CsvRecords, Header, Row

log = logging.getLogger(__name__)

CHUNK_ROWS = 1000


async def _records(chunks: AsyncIterator[bytes], parser: CsvRecords) -> AsyncIterator[tuple[int, list[str]]]:
    async for data in chunks:
        for record in parser.feed(data):
            yield record
    for record in parser.finish():
        yield record


async def run_import(
    contacts: Contacts, tenant_id: str, chunks: AsyncIterator[bytes], *, chunk_rows: int = CHUNK_ROWS
) -> dict:
    """Import a CSV file (header `phone`, optional `tags` (`;`-separated) and `time_zone`, any
    other column an attribute): the finished (or failed) job. 422 before any job exists when the
    file has no valid header."""
    parser = CsvRecords()
    records = _records(chunks, parser).__aiter__()
    try:
        _, first = await records.__anext__()
    except StopAsyncIteration:
        raise Problem(
            422, "the file is empty", [FieldError("/columns/phone", "the `phone` column is required")]
        ) from None
    except CsvError as exc:
        raise Problem(422, f"the header cannot be read: {exc}") from None
    header = Header.parse(first)
    fields = header.fields
    job = ImportProgress(await contacts.start_import(tenant_id))
    rows: list[Row] = []
    try:
        async for line, cells in records:
            result = header.row(line, cells)
            if isinstance(result, Row):
                rows.append(result)
            else:
                job.failed_row(line, result[0], result[1])
            if len(rows) >= chunk_rows:
                await contacts.import_chunk(tenant_id, job, rows, fields)
                rows = []
    except CsvError as exc:
        job.error = str(exc)
        job.failed_row(exc.line, "", exc.message)
        job.rows_failed -= 1  # the file stopped there: not a row of its own
        await contacts.import_chunk(tenant_id, job, rows, fields, final="failed")
    except (asyncio.CancelledError, Exception) as exc:
        job.error = "the upload stopped before the end of the file"
        log.info("contact import %s stopped: %s", job.id, type(exc).__name__)
        await asyncio.shield(contacts.import_chunk(tenant_id, job, [], fields, final="failed"))
        raise
    else:
        await contacts.import_chunk(tenant_id, job, rows, fields, final="finished")
    view = await contacts.get_import(tenant_id, job.id)
    assert view is not None
    return view
