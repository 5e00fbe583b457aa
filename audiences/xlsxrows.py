"""Contacts spreadsheets (XLSX): the first sheet read row by row by openpyxl in read-only mode
(the sheet's XML is parsed as it is read; openpyxl parses with defusedxml when present).

An XLSX file is a zip archive, so a small upload can unpack to gigabytes: before openpyxl sees
it, the archive's declared sizes are checked (zipfile never inflates an entry past its declared
size) — at most `MAX_UNCOMPRESSED` in all and `MAX_SHARED_STRINGS` of shared strings (which
openpyxl holds in memory) —, and a sheet is read for at most `MAX_ROWS` rows (Excel's own
limit; openpyxl fills the gaps of a sparse sheet with empty rows, which count). Everything here
is synchronous (run it off the event loop).
"""

from __future__ import annotations

import datetime as dt
import zipfile
from typing import IO, Any

from openpyxl import load_workbook

from api.problems import FieldError, Problem
from audiences.csvrows import Cell, CsvError

MAX_UNCOMPRESSED = 512 * 2**20
MAX_SHARED_STRINGS = 64 * 2**20
MAX_ENTRIES = 1000
MAX_ROWS = 1_048_576
MAX_HEADER_COLUMNS = 16_384


def check_archive(file: IO[bytes]) -> None:
    """422 unless `file` is a zip archive of bounded unpacked size."""
    try:
        with zipfile.ZipFile(file) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise Problem(422, "the file is not an XLSX workbook (not a zip archive)") from None
    if len(entries) > MAX_ENTRIES:
        raise Problem(422, f"the workbook has more than {MAX_ENTRIES} parts")
    if sum(e.file_size for e in entries) > MAX_UNCOMPRESSED:
        raise Problem(422, f"the workbook unpacks to more than {MAX_UNCOMPRESSED // 2**20} MiB")
    if any(e.filename.lower().endswith("sharedstrings.xml") and e.file_size > MAX_SHARED_STRINGS for e in entries):
        raise Problem(422, f"the workbook's shared strings exceed {MAX_SHARED_STRINGS // 2**20} MiB")


def cell_value(value: Any) -> Cell:
    """A typed cell as the importer takes it: a date (or a date-time: its day) as
    `YYYY-MM-DD`, a whole float as an int, text as it is, nothing as ''."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 1e15 else value
    return str(value)  # a time or a duration


class XlsxRows:
    """The first sheet's rows after `after_row`, `width` cells each (columns right of the
    header's are not read)."""

    def __init__(self, file: IO[bytes], *, after_row: int = 0, width: int | None = None):
        try:
            self.book = load_workbook(file, read_only=True, data_only=True)
            sheet = self.book.worksheets[0]
        except Exception as exc:  # openpyxl raises many kinds for a broken workbook
            raise Problem(422, f"the workbook cannot be read ({type(exc).__name__})") from None
        self.total: int | None = sheet.max_row
        self.row = after_row
        self._rows = sheet.iter_rows(min_row=after_row + 1, max_col=width, values_only=True)

    def take(self, n: int) -> list[tuple[int, list[Cell]]]:
        """Up to `n` non-empty rows `(sheet row number, cells)`; [] at the end of the sheet."""
        out: list[tuple[int, list[Cell]]] = []
        while len(out) < n:
            if self.row >= MAX_ROWS:
                if out:
                    return out
                raise CsvError(self.row + 1, f"a sheet has at most {MAX_ROWS} rows")
            try:
                values = next(self._rows)
            except StopIteration:
                return out
            except Exception as exc:
                raise CsvError(self.row + 1, f"the sheet cannot be read on ({type(exc).__name__})") from None
            self.row += 1
            cells = [cell_value(v) for v in values]
            if any(c != "" for c in cells):
                out.append((self.row, cells))
        return out

    def close(self) -> None:
        self.book.close()


def read_header(file: IO[bytes]) -> tuple[list[str], int, int | None]:
    """(the header's columns, its row number, the sheet's row count when it says) of an
    uploaded workbook; 422 when it is not one, is too big unpacked or has no header row."""
    check_archive(file)
    file.seek(0)
    rows = XlsxRows(file)
    try:
        try:
            first = rows.take(1)
        except CsvError as exc:
            raise Problem(422, f"the header cannot be read: {exc}") from None
        if not first:
            raise Problem(422, "the sheet is empty", [FieldError("/columns/phone", "the `phone` column is required")])
        line, cells = first[0]
        if len(cells) > MAX_HEADER_COLUMNS:
            cells = cells[:MAX_HEADER_COLUMNS]
        while cells and cells[-1] == "":
            cells.pop()
        return [c if isinstance(c, str) else str(c) for c in cells], line, rows.total
    finally:
        rows.close()
