"""Contacts files through HTTP: the upload stored and queued (202), imported in the
background (errors by line, 20,000 rows), header problems before any job exists, and an export
that imports back unchanged. Restart, lease and cancel: test_import_jobs.py; XLSX: test_xlsx.py."""

from __future__ import annotations

import asyncio
import csv
import io

import pytest

from tests.conftest import problem

CSV = {"Content-Type": "text/csv"}
ENDED = ("finished", "failed", "cancelled")


async def ended(api, job_id: str) -> dict:
    """The job once the app's background pass has ended it."""
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        job = await (await api.get(f"/v1/contacts/imports/{job_id}")).json()
        if job["status"] in ENDED or asyncio.get_running_loop().time() > deadline:
            return job
        await asyncio.sleep(0.02)


async def upload(api, data, headers=CSV) -> dict:
    resp = await api.post("/v1/contacts/imports", data=data, headers=headers)
    assert resp.status == 202, await resp.text()
    job = await resp.json()
    assert resp.headers["Location"] == f"/v1/contacts/imports/{job['id']}"
    assert job["status"] in ("queued", "running", "finished")  # the pass may be quick
    return job


async def _import(api, data, headers=CSV) -> dict:
    return await ended(api, (await upload(api, data, headers))["id"])


async def _count(api, segment_filter=None) -> int:
    resp = await api.post("/v1/segments/preview", {"filter": segment_filter or {"all": []}})
    assert resp.status == 200, await resp.text()
    return (await resp.json())["count"]


async def test_bad_lines_are_reported_by_line_and_field(api):
    text = (
        "phone,tags,city,level\r\n"  # 1
        "13800138001,vip;new,杭州,3\r\n"  # 2
        "notanumber,,x,1\r\n"  # 3
        f"13800138002,{'t' * 65},x,1\r\n"  # 4
        '13800138003,"a\nb",x,1\r\n'  # 5-6: a quoted tag holding a line break
        "13800138004,x\r\n"  # 7: too few fields
        "\r\n"  # 8: blank, skipped
        "+8613800138005,,上海,2.5\r\n"  # 9
        '13800138006,"quoted, comma",,\r\n'  # 10
    )
    job = await _import(api, text.encode())
    assert job["status"] == "finished"
    assert (job["rows_done"], job["rows_failed"]) == (3, 4)
    assert [(e["line"], e["field"]) for e in job["errors"]] == [(3, "phone"), (4, "tags"), (5, "tags"), (7, "")]
    assert "13800138" not in str(job["errors"])  # no cell value is repeated back
    page = await (await api.get("/v1/contacts")).json()
    got = {c["phone"]: (c["tags"], c["attributes"]) for c in page["data"]}
    assert got == {
        "+8613800138001": (["vip", "new"], {"city": "杭州", "level": 3}),
        "+8613800138005": ([], {"city": "上海", "level": 2.5}),
        "+8613800138006": (["quoted, comma"], {}),
    }
    assert await (await api.get(f"/v1/contacts/imports/{job['id']}")).json() == job
    assert job["progress"] == 1.0 and job["format"] == "csv" and job["size_bytes"] == len(text.encode())


@pytest.mark.parametrize(
    ("text", "path"),
    [
        (b"", "/columns/phone"),
        (b"number,city\r\n13800138001,x\r\n", "/columns/phone"),
        (b"phone,city,city\r\n", "/columns/city"),
        (b"phone,tags, \r\n", "/columns/column 3"),
    ],
)
async def test_a_file_without_a_contacts_header_is_refused_before_any_job(api, text, path):
    found = await problem(await api.post("/v1/contacts/imports", data=text, headers=CSV), 422)
    assert path in [e["path"] for e in found["errors"]]
    assert (await (await api.get("/v1/contacts/imports")).json())["data"] == []


async def test_wrong_content_type_and_a_broken_file(api):
    await problem(await api.post("/v1/contacts/imports", data=b"phone\n", headers={"Content-Type": "image/png"}), 415)
    job = await _import(api, b"phone,city\n13800138001,a\n13800138002,\xff\xfe\n13800138003,c\n")
    assert job["status"] == "failed" and job["rows_done"] == 1
    assert "not UTF-8" in job["error"] and job["errors"][0]["line"] == 3
    job = await _import(api, b'phone,city\n13800138001,"never closed\n13800138002,x\n')
    assert job["status"] == "failed" and "never closed" in job["error"]


async def test_twenty_thousand_rows(api):
    rows = 20_000

    async def body():
        yield b"phone,tags,score,joined\n"
        for start in range(0, rows, 500):
            yield "".join(
                f"139{i:08d},{'even' if i % 2 == 0 else 'odd'},{i},2026-{1 + i % 12:02d}-01\n"
                for i in range(start, start + 500)
            ).encode()

    job = await _import(api, body())
    assert (job["status"], job["rows_done"], job["rows_failed"]) == ("finished", rows, 0)
    assert await _count(api) == rows
    assert await _count(api, {"tags": "any", "values": ["even"]}) == rows // 2
    assert await _count(api, {"attribute": "score", "op": "lt", "value": 100}) == 100
    assert await _count(api, {"attribute": "joined", "op": "gte", "value": "2026-12-01"}) == rows // 12
    # Importing the same file again updates every contact and creates none.
    again = await _import(api, body())
    assert again["rows_done"] == rows and await _count(api) == rows


async def test_export_imports_back_unchanged(api):
    people = [
        {
            "phone": "+8613800138001",
            "attributes": {"city": "杭州", "level": 3, "renewal": "2027-01-31"},
            "tags": ["vip"],
        },
        {"phone": "+8613800138002", "attributes": {"score": 2.5, "zip": "001234"}, "tags": ["a", "b"]},
        {"phone": "+8613800138003", "attributes": {"note": 'say "hi",\nthen go'}, "time_zone": "Asia/Urumqi"},
        {"phone": "+14155550100"},
    ]
    for person in people:
        assert (await api.post("/v1/contacts", person)).status == 201
    resp = await api.get("/v1/contacts/export")
    assert resp.status == 200 and resp.content_type == "text/csv"
    exported = await resp.read()
    table = list(csv.reader(io.StringIO(exported.decode())))
    assert table[0] == ["phone", "tags", "time_zone", "city", "level", "note", "renewal", "score", "zip"]
    assert table[1][:3] == ["+8613800138001", "vip", ""]
    assert table[4][:3] == ["+14155550100", "", ""]

    other = await api.new_tenant()
    job = await _import(other, exported)
    assert (job["status"], job["rows_done"], job["rows_failed"]) == ("finished", 4, 0)
    assert await (await other.get("/v1/contacts/export")).read() == exported
    theirs = (await (await other.get("/v1/contacts")).json())["data"]
    mine = (await (await api.get("/v1/contacts")).json())["data"]
    keep = ("phone", "attributes", "tags", "time_zone", "time_zone_source")
    assert [{k: c[k] for k in keep} for c in theirs] == [{k: c[k] for k in keep} for c in mine]
    assert mine[3]["time_zone"] == "America/Los_Angeles"  # the number's own zone
