"""CSV read incrementally: text arrives in pieces, records come out with their line numbers.

Bytes are split into physical lines at LF (no UTF-8 sequence holds that byte), each line is
decoded as UTF-8 (a BOM at the start dropped; a bad byte is reported on its own line), and lines
are joined into one record while a quoted field is open (an odd count of `"` so far), so a
quoted cell may hold line breaks; each complete record is parsed by the `csv` module. Only one record (at most `MAX_RECORD` characters) and one piece are ever held.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from api.problems import FieldError, Problem, pointer
from audiences.values import (
    MAX_ATTRIBUTES,
    MAX_TAGS,
    from_cell,
    name_error,
    number_text,
    tag_error,
    time_zone_error,
    value_error,
)
from security.numbers import normalise_number

MAX_RECORD = 64 * 1024
MAX_COLUMNS = MAX_ATTRIBUTES + 3


class CsvError(Exception):
    """The file cannot be read on (not UTF-8, an unclosed quote…), at `line`."""

    def __init__(self, line: int, message: str):
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


class CsvRecords:
    """Feed bytes, take records: `(first line number, fields)`. While a record is being taken,
    `position` is the byte offset just after it and `line` the physical lines up to there: a
    parser made with them, fed the bytes from that offset, reads on from the next record."""

    def __init__(self, *, position: int = 0, line: int = 0) -> None:
        self._tail = b""  # bytes after the last line break
        self._record = ""  # lines of a record whose quote is still open
        self._line = line  # physical lines consumed
        self._start = line + 1  # the first line of the record being gathered
        self.position = position  # bytes of the lines consumed

    @property
    def line(self) -> int:
        return self._line

    def feed(self, data: bytes) -> Iterator[tuple[int, list[str]]]:
        # Split on LF as bytes (no UTF-8 sequence holds 0x0A), then decode each line: a bad
        # byte is reported on its own line.
        lines = (self._tail + data).split(b"\n")
        self._tail = lines.pop()
        if len(self._tail) > MAX_RECORD * 4:
            raise CsvError(self._line + 1, f"a line is longer than {MAX_RECORD} characters")
        for line in lines:
            self.position += len(line) + 1
            yield from self._line_in(self._decode(line + b"\n"))

    def finish(self) -> Iterator[tuple[int, list[str]]]:
        tail, self._tail = self._tail, b""
        if tail:
            self.position += len(tail)
            yield from self._line_in(self._decode(tail))
        if self._record:
            raise CsvError(self._start, "a quoted field is never closed")

    def _decode(self, line: bytes) -> str:
        try:
            text = line.decode("utf-8-sig" if self._line == 0 else "utf-8")
        except UnicodeDecodeError:
            raise CsvError(self._line + 1, "the file is not UTF-8") from None
        return text

    def _line_in(self, line: str) -> Iterator[tuple[int, list[str]]]:
        self._line += 1
        if not self._record:
            self._start = self._line
        self._record += line
        if len(self._record) > MAX_RECORD:
            raise CsvError(self._start, f"a record is longer than {MAX_RECORD} characters")
        if self._record.count('"') % 2:
            return  # a quoted field goes on on the next line
        record, self._record = self._record, ""
        if not record.strip("\r\n"):
            return  # blank line
        try:
            fields = next(csv.reader([record], strict=True))
        except csv.Error as exc:
            raise CsvError(self._start, f"not valid CSV ({exc})") from None
        yield self._start, fields


Cell = str | int | float | bool


def _text(cell: Cell) -> str:
    """A typed cell read as text (a number as written canonically, e.g. a phone number)."""
    if isinstance(cell, str):
        return cell
    if isinstance(cell, bool):
        return str(cell).upper()
    return number_text(cell)


def _column_error(column: str, message: str) -> FieldError:
    return FieldError(pointer("columns", column), message)


@dataclass
class Row:
    """A contact from one record: its number and the fields the file has columns for."""

    line: int
    number: str
    attributes: dict | None
    tags: list[str] | None
    time_zone: str | None


@dataclass
class Header:
    """What the columns of a contacts file mean."""

    columns: list[str]
    phone: int
    tags: int | None
    time_zone: int | None
    attributes: list[tuple[int, str]] = field(default_factory=list)

    @classmethod
    def parse(cls, fields: list[str]) -> Header:
        """The header record; 422 naming the column at fault."""
        names = [f.strip() for f in fields]
        errors = []
        if len(names) > MAX_COLUMNS:
            raise Problem(422, f"at most {MAX_COLUMNS} columns", [_column_error("header", "too many columns")])
        seen: set[str] = set()
        for name in names:
            if name in seen:
                errors.append(_column_error(name, "the column appears twice"))
            seen.add(name)
        if "phone" not in names:
            errors.append(_column_error("phone", "the `phone` column is required"))
        attributes = []
        for i, name in enumerate(names):
            if name in ("phone", "tags", "time_zone"):
                continue
            why = name_error(name)
            if why:
                errors.append(_column_error(name or f"column {i + 1}", why))
            attributes.append((i, name))
        if errors:
            raise Problem(422, "the header row is not a contacts header", errors)
        return cls(
            columns=names,
            phone=names.index("phone"),
            tags=names.index("tags") if "tags" in names else None,
            time_zone=names.index("time_zone") if "time_zone" in names else None,
            attributes=attributes,
        )

    @property
    def fields(self) -> frozenset[str]:
        """Which contact fields a row of this file sets."""
        out = {"attributes"}
        if self.tags is not None:
            out.add("tags")
        if self.time_zone is not None:
            out.add("time_zone")
        return frozenset(out)

    def row(self, line: int, cells: Sequence[Cell]) -> Row | tuple[str, str]:
        """The contact a record holds, or (column, why) for the first thing wrong with it. A
        cell is text (CSV), or a number or a boolean (a spreadsheet's typed cell)."""
        if len(cells) != len(self.columns):
            return "", f"expected {len(self.columns)} fields, found {len(cells)}"
        number = normalise_number(_text(cells[self.phone]).strip())
        if number is None:
            return "phone", "not a phone number"
        tags = None
        if self.tags is not None:
            tags = []
            for tag in _text(cells[self.tags]).split(";"):
                tag = tag.strip()
                if not tag:
                    continue
                if tag_error(tag):
                    return "tags", tag_error(tag) or ""
                if tag not in tags:
                    tags.append(tag)
            if len(tags) > MAX_TAGS:
                return "tags", f"at most {MAX_TAGS} tags"
        zone = None
        if self.time_zone is not None and _text(cells[self.time_zone]).strip():
            zone = _text(cells[self.time_zone]).strip()
            if time_zone_error(zone):
                return "time_zone", time_zone_error(zone) or ""
        attributes: dict = {}
        for i, name in self.attributes:
            cell = cells[i]
            if isinstance(cell, str):
                cell = cell.strip()
                if not cell:
                    continue  # an empty cell: no such attribute
            value = from_cell(cell) if isinstance(cell, str) else cell
            why = value_error(value)
            if why:
                return name, why
            attributes[name] = value
        return Row(line, number, attributes, tags, zone)
