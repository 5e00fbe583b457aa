"""XLSX contacts files (`POST /v1/contacts/imports` with the spreadsheet Content-Type): the
first sheet, typed cells (dates become YYYY-MM-DD attributes, numbers numbers), errors by sheet
row, and workbooks refused before any job: not a workbook, unpacking too big (a zip bomb)."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest
from openpyxl import Workbook

from audiences.xlsxrows import MAX_UNCOMPRESSED
from tests.audiences.test_imports import _import
from tests.conftest import problem

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADERS = {"Content-Type": XLSX}


def workbook(rows: list[list], *, second_sheet: list[list] | None = None) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    if second_sheet is not None:
        other = book.create_sheet("other")
        for row in second_sheet:
            other.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def _contacts(api) -> dict:
    page = await (await api.get("/v1/contacts")).json()
    return {c["phone"]: (c["tags"], c["attributes"], c["time_zone"]) for c in page["data"]}


async def test_typed_cells_and_errors_by_sheet_row(api):
    data = workbook(
        [
            ["phone", "tags", "joined", "score", "city", "time_zone"],  # 1
            [13800138001, "vip;new", dt.date(2026, 3, 1), 42, "杭州", "Asia/Urumqi"],  # 2
            ["+8613800138002", None, dt.datetime(2027, 1, 31, 9, 30), 2.5, None, None],  # 3
            ["not a number", None, None, 1, "x", None],  # 4
            [],  # 5: empty, skipped
            [13800138003, None, None, True, None, None],  # 6: a boolean is not a value
            [13800138004, None, "2026-05-05", 7.0, "001234", None, "beyond the header"],  # 7
        ],
        second_sheet=[["phone"], [13800138009]],  # only the first sheet is read
    )
    job = await _import(api, data, HEADERS)
    assert (job["status"], job["format"], job["rows_done"], job["rows_failed"]) == ("finished", "xlsx", 3, 2)
    assert [(e["line"], e["field"]) for e in job["errors"]] == [(4, "phone"), (6, "score")]
    assert "not a number" not in str(job["errors"])
    assert await _contacts(api) == {
        "+8613800138001": (["vip", "new"], {"joined": "2026-03-01", "score": 42, "city": "杭州"}, "Asia/Urumqi"),
        "+8613800138002": ([], {"joined": "2027-01-31", "score": 2.5}, "Asia/Shanghai"),
        "+8613800138004": ([], {"joined": "2026-05-05", "score": 7, "city": "001234"}, "Asia/Shanghai"),
    }
    resp = await api.post(
        "/v1/segments/preview", {"filter": {"attribute": "joined", "op": "gte", "value": "2026-04-01"}}
    )
    assert (await resp.json())["count"] == 2


def _bomb(size: int) -> bytes:
    """A zip of a small real workbook plus one entry of `size` zero bytes (a few KiB packed)."""
    out = io.BytesIO(workbook([["phone"], [13800138001]]))
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("xl/media/zeros.bin", "w", force_zip64=True) as entry:
            block = bytes(2**20)
            for _ in range(size // 2**20):
                entry.write(block)
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"phone\n13800138001\n", "not an XLSX workbook"),
        (workbook([]), "empty"),
        (workbook([["number", "city"], [13800138001, "x"]]), "not a contacts header"),
        (_bomb(MAX_UNCOMPRESSED + 2**20), "unpacks to more than"),
    ],
    ids=["csv", "empty", "header", "zip-bomb"],
)
async def test_workbooks_refused_before_any_job(api, data, says):
    if says == "unpacks to more than":
        assert len(data) < 2 * 2**20  # small on the wire
    found = await problem(await api.post("/v1/contacts/imports", data=data, headers=HEADERS), 422)
    assert says in found["detail"]
    assert (await (await api.get("/v1/contacts/imports")).json())["data"] == []
