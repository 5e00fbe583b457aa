"""Import jobs across processes: a job resumes where a dead process's last chunk ended (its
lease expired), a live process that lost its job changes nothing more, cancel, and the parts
of an upload that never became a job are dropped. The app's own pass is stopped: the test plays
the processes (ImportJobs with their own owner names and a clock it moves)."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from audiences.http import CONTACTS, IMPORTS
from audiences.imports import LEASE_MS, ORPHAN_MS, ImportJobs
from audiences.tables import contact_import_parts
from store.writer import WriteBatch
from tests.audiences.test_imports import CSV, upload
from tests.audiences.test_xlsx import XLSX, workbook
from tests.conftest import problem
from tests.editor.conftest import ManualClock

ROWS = 4500


def _bad(i: int) -> bool:
    return i % 997 == 5


def _csv() -> tuple[bytes, list[int]]:
    lines = ["phone,n"] + [f"{'nope' if _bad(i) else f'139{i:08d}'},{i}" for i in range(ROWS)]
    return ("\n".join(lines) + "\n").encode(), [i + 2 for i in range(ROWS) if _bad(i)]


def _xlsx() -> tuple[bytes, list[int]]:
    rows = [["phone", "n"]] + [["nope" if _bad(i) else 13900000000 + i, i] for i in range(ROWS)]
    return workbook(rows), [i + 2 for i in range(ROWS) if _bad(i)]


FILES = {"csv": (_csv, CSV), "xlsx": (_xlsx, {"Content-Type": XLSX})}


@pytest.fixture
async def jobs(api):
    """The tenant's client with the app's import pass stopped, and a factory of 'processes'."""
    await api.client.app[IMPORTS].stop()
    clock = ManualClock(datetime.now(UTC))

    def process(owner: str) -> ImportJobs:
        return ImportJobs(api.client.app[CONTACTS], owner=owner, clock=clock)

    return api, process, clock


async def _job(api, job_id: str) -> dict:
    return await (await api.get(f"/v1/contacts/imports/{job_id}")).json()


async def _parts(api, job_id: str) -> int:
    async with api.client.app[CONTACTS].db.read.connect() as conn:
        query = select(func.count()).select_from(contact_import_parts).where(contact_import_parts.c.job_id == job_id)
        return (await conn.execute(query)).scalar_one()


async def _contacts(api) -> int:
    resp = await api.post("/v1/segments/preview", {"filter": {"all": []}})
    return (await resp.json())["count"]


@pytest.mark.parametrize("kind", FILES)
async def test_a_job_resumes_where_a_dead_process_stopped(jobs, kind):
    api, process, clock = jobs
    make, headers = FILES[kind]
    data, bad_lines = make()
    job = await upload(api, data, headers)
    assert job["status"] == "queued" and job["rows_done"] == 0
    assert await _parts(api, job["id"]) >= 1

    a, b = process("a"), process("b")
    assert await a.claim() == job["id"]
    assert await a.process(job["id"], max_chunks=2) is False  # then process a dies, holding the lease
    seen = await _job(api, job["id"])
    assert seen["status"] == "running" and seen["rows_done"] + seen["rows_failed"] == 2000
    assert 0 < seen["progress"] < 1

    assert await b.claim() is None  # a's lease still holds
    clock.advance(milliseconds=LEASE_MS + 1)
    assert await b.claim() == job["id"]
    assert await b.process(job["id"]) is True
    done = await _job(api, job["id"])
    assert (done["status"], done["rows_done"], done["rows_failed"]) == (
        "finished",
        ROWS - len(bad_lines),
        len(bad_lines),
    )
    assert [e["line"] for e in done["errors"]] == bad_lines  # each once, in order
    assert {e["field"] for e in done["errors"]} == {"phone"}
    assert done["progress"] == 1.0 and await _parts(api, job["id"]) == 0
    assert await _contacts(api) == ROWS - len(bad_lines)

    # Process a was only slow: it wakes up, and its job is not its own any more.
    assert await a.process(job["id"]) is True
    assert await _job(api, job["id"]) == done


async def test_cancel(jobs):
    api, process, _ = jobs
    data, _ = _csv()
    queued = await upload(api, data)
    await problem(await api.post("/v1/contacts/imports/nosuchjob/cancel"), 404)
    resp = await api.post(f"/v1/contacts/imports/{queued['id']}/cancel")
    assert resp.status == 200 and (await resp.json())["status"] == "cancelled"
    assert await _parts(api, queued["id"]) == 0
    assert await process("a").claim() is None
    await problem(await api.post(f"/v1/contacts/imports/{queued['id']}/cancel"), 409)

    # Cancelled while it runs: the chunks committed stay, the process stops at its next chunk.
    running = await upload(api, data)
    a = process("a")
    assert await a.claim() == running["id"]
    assert await a.process(running["id"], max_chunks=1) is False
    resp = await api.post(f"/v1/contacts/imports/{running['id']}/cancel")
    cancelled = await resp.json()
    assert (cancelled["status"], cancelled["rows_done"] + cancelled["rows_failed"]) == ("cancelled", 1000)
    assert await a.process(running["id"]) is True
    assert await _job(api, running["id"]) == cancelled
    assert await _contacts(api) == cancelled["rows_done"]
    other = await api.new_tenant()
    await problem(await other.post(f"/v1/contacts/imports/{running['id']}/cancel"), 404)


async def test_the_parts_of_an_upload_that_never_became_a_job_go(jobs):
    api, process, clock = jobs
    app = api.client.app
    now_ms = int(clock.now().timestamp() * 1000)
    orphan = {"job_id": "orphan", "seq": 0, "data": io.BytesIO(b"phone\n").read(), "created_ms": now_ms}
    await app[CONTACTS].writer.write(WriteBatch().insert(contact_import_parts, orphan))
    job = await upload(api, b"phone\n13800138001\n")
    clock.advance(milliseconds=ORPHAN_MS + 1)
    a = process("a")
    assert await a.run_once() == 1
    assert await _parts(api, "orphan") == 0
    assert (await _job(api, job["id"]))["status"] == "finished"


async def test_the_migration_matches_the_declared_tables(tmp_path, database_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from store import metadata, open_database, run_migrations
    from store.db import sqlite_url

    url = database_url or sqlite_url(tmp_path / "m.db")
    await run_migrations(url)
    db = open_database(url)

    def diff(sync_conn):
        context = MigrationContext.configure(sync_conn)
        return [d for d in compare_metadata(context, metadata) if "contact_" in repr(d)]

    try:
        async with db.read.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await db.dispose()


async def test_a_job_queued_before_a_restart_is_imported_by_the_next_server(aiohttp_client, settings):
    from server import ACCOUNTS, create_app
    from tests.audiences.test_imports import ended
    from tests.conftest import ApiClient

    first = await aiohttp_client(create_app(settings))
    await first.app[IMPORTS].stop()  # the server stops before its pass ran
    tenant, key = await first.app[ACCOUNTS].create_tenant("Restart brand")
    data, bad_lines = _csv()
    job = await upload(ApiClient(first, tenant.id, key), data)
    await first.close()

    second = ApiClient(await aiohttp_client(create_app(settings)), tenant.id, key)
    done = await ended(second, job["id"])
    assert (done["status"], done["rows_done"], done["rows_failed"]) == (
        "finished",
        ROWS - len(bad_lines),
        len(bad_lines),
    )
    assert await _contacts(second) == ROWS - len(bad_lines)


async def test_a_stopping_server_lets_its_job_go_for_the_next_to_take_at_once(jobs):
    api, process, _ = jobs
    rows = 20_000
    data = ("phone\n" + "".join(f"139{i:08d}\n" for i in range(rows))).encode()
    job = await upload(api, data)
    a = process("a")
    await a.start()
    deadline = asyncio.get_running_loop().time() + 60
    while (seen := await _job(api, job["id"]))["rows_done"] < 1000:
        assert asyncio.get_running_loop().time() < deadline, seen
        await asyncio.sleep(0.02)
    await a.stop()
    stopped = await _job(api, job["id"])
    assert stopped["status"] == "running" and stopped["rows_done"] < rows
    b = process("b")  # the same instant: no lease to wait out
    assert await b.claim() == job["id"]
    assert await b.process(job["id"]) is True
    assert (await _job(api, job["id"]))["rows_done"] == rows
    assert await _contacts(api) == rows
