"""The per-brand marketing opt-out list: honoured at accept and again at send, readable,
importable and exportable through the API.

Looked up by the recipient's blind index; the number itself is kept sealed beside it (`to_enc`),
NULL only for opt-outs recorded before it was kept. Taking a number off the list (it subscribes
again) is chained in the consent log (compliance.consent) with who did it and why; so is
the withdrawal of the recipient's active marketing consents that every opt-out makes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import orjson
from sqlalchemy import Connection, and_, delete, select, update

import security
from api.pagination import decode_cursor, encode_cursor
from api.problems import FieldError, Problem
from compliance.consent import OPT_OUT_REMOVED, append_event, withdraw_for_opt_out, write_chained
from messages.tables import opt_outs
from security.numbers import normalise_number
from store import Database, GroupWriter, new_id
from store.books import RecordBook
from store.clock import rfc3339
from store.writer import WriteBatch

OPTED_OUT_REASON = "the recipient opted out of this brand's marketing"
MAX_BATCH = 1000
MAX_REASON = 500
EXPORT_COLUMNS = ("id", "to", "source", "created_at")
SOURCE_API, SOURCE_IMPORT = "api", "import"
_HEADERS = {"to", "number", "phone"}


async def opted_out(db: Database, tenant_id: str, bidxs: list[bytes]) -> set[bytes]:
    """Which of these recipients (blind indexes) are on the tenant's opt-out list."""
    found: set[bytes] = set()
    async with db.read.connect() as conn:
        for i in range(0, len(bidxs), 500):
            chunk = bidxs[i : i + 500]
            rows = await conn.execute(
                select(opt_outs.c.to_bidx).where(and_(opt_outs.c.tenant_id == tenant_id, opt_outs.c.to_bidx.in_(chunk)))
            )
            found.update(r.to_bidx for r in rows)
    return found


def _insert_once(
    conn: Connection,
    keyring: security.Keyring | None,
    tenant_id: str,
    to_bidx: bytes,
    to: str | None,
    source: str,
    now_ms: int,
) -> bool:
    """Add one number unless it is listed; a listed one without its sealed number gets it.
    True when it was added."""
    o = opt_outs.c
    if keyring is not None:
        withdraw_for_opt_out(conn, keyring, tenant_id, to_bidx, source, now_ms)
    row = conn.execute(select(o.id, o.to_enc).where(and_(o.tenant_id == tenant_id, o.to_bidx == to_bidx))).first()
    if row is not None:
        if row.to_enc is None and to is not None and keyring is not None:
            oid = row.id or new_id(now_ms)
            conn.execute(
                update(opt_outs)
                .where(o.tenant_id == tenant_id, o.to_bidx == to_bidx)
                .values(id=oid, to_enc=keyring.seal(tenant_id, "opt_outs", "to", oid, to.encode()))
            )
        return False
    oid = new_id(now_ms)
    sealed = (
        keyring.seal(tenant_id, "opt_outs", "to", oid, to.encode()) if to is not None and keyring is not None else None
    )
    conn.execute(
        opt_outs.insert().values(
            tenant_id=tenant_id, to_bidx=to_bidx, created_ms=now_ms, source=source, id=oid, to_enc=sealed
        )
    )
    return True


async def add_opt_out(
    writer: GroupWriter,
    tenant_id: str,
    to_bidx: bytes,
    *,
    source: str,
    now_ms: int,
    keyring: security.Keyring | None = None,
    to: str | None = None,
) -> None:
    """Put a recipient on the tenant's list, the number sealed when given (with `keyring`);
    a second opt-out changes nothing."""
    # Chained: the consents it withdraws are appended to the tenant's consent chain.
    await write_chained(
        writer, WriteBatch().run(lambda conn: _insert_once(conn, keyring, tenant_id, to_bidx, to, source, now_ms))
    )


def _at(ms: int) -> str:
    return rfc3339(datetime.fromtimestamp(ms / 1000, UTC))


class OptOutList(RecordBook):
    """The opt-out list through the API: list, add, look up, remove, import, export."""

    def _view(self, row, to: str | None = None) -> dict:
        if to is None and row.to_enc is not None:
            to = self.keyring.open(row.tenant_id, "opt_outs", "to", row.id, row.to_enc).decode()
        return {"id": row.id, "to": to, "source": row.source, "created_at": _at(row.created_ms)}

    async def page(self, tenant_id: str, *, cursor: str | None, limit: int) -> tuple[list[dict], str | None]:
        """A page of the list, newest first (`to` is null for opt-outs recorded before the
        number was kept)."""
        o = opt_outs.c
        query = select(opt_outs).where(o.tenant_id == tenant_id)
        if cursor:
            query = query.where(o.id < decode_cursor(cursor))
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(query.order_by(o.id.desc()).limit(limit + 1))).all()
        more = len(rows) > limit
        rows = rows[:limit]
        return [self._view(r) for r in rows], encode_cursor(rows[-1].id) if more and rows else None

    async def add(self, tenant_id: str, body: dict) -> dict:
        """`{"to"}` or `{"numbers": [...]}`: every number valid or none added."""
        extra = [FieldError(f"/{k}", "unknown field") for k in body if k not in ("to", "numbers")]
        if ("to" in body) == ("numbers" in body):
            extra.append(FieldError("/to", "give exactly one of `to` or `numbers`"))
        if extra:
            raise Problem(422, f"{len(extra)} field(s) are invalid", extra)
        batch = "numbers" in body
        raw = body["numbers"] if batch else [body["to"]]
        if not isinstance(raw, list) or not 0 < len(raw) <= MAX_BATCH:
            raise Problem(422, "numbers is a list", [FieldError("/numbers", f"1 to {MAX_BATCH} phone numbers")])
        numbers, errors = [], []
        for i, value in enumerate(raw):
            to = normalise_number(value) if isinstance(value, str) else None
            if to is None:
                errors.append(FieldError(f"/numbers/{i}" if batch else "/to", "not a valid phone number"))
            numbers.append(to)
        if errors:
            raise Problem(422, f"{len(errors)} number(s) are invalid", errors)
        added = await self._add(tenant_id, [n for n in numbers if n], SOURCE_API)
        return {"added": added, "already_listed": len(numbers) - added}

    async def _add(self, tenant_id: str, numbers: list[str], source: str) -> int:
        now_ms = self.now_ms()
        pairs = [(self.keyring.blind_index(tenant_id, n), n) for n in numbers]
        added = 0

        def work(conn: Connection) -> None:
            nonlocal added
            added = 0  # a retried group runs this again
            for bidx, to in pairs:
                added += _insert_once(conn, self.keyring, tenant_id, bidx, to, source, now_ms)

        await write_chained(self.writer, WriteBatch().run(work))
        return added

    async def search(self, tenant_id: str, body: dict) -> dict:
        """Whether one number (in the body, not the URL) is on the list, and since when."""
        to = _number(body)
        bidx = self.keyring.blind_index(tenant_id, to)
        o = opt_outs.c
        async with self.db.read.connect() as conn:
            row = (await conn.execute(select(opt_outs).where(o.tenant_id == tenant_id, o.to_bidx == bidx))).first()
        return {"to": to, "opted_out": row is not None, "entry": self._view(row, to) if row else None}

    async def remove(
        self, tenant_id: str, *, opt_out_id: str | None = None, body: dict | None = None, actor: str | None = None
    ) -> dict:
        """Take a number off the list (it may be sent marketing again): by id or `{"to", "reason"}`;
        who did it and why are chained in the consent log."""
        body = body or {}
        extra = [FieldError(f"/{k}", "unknown field") for k in body if k not in ("to", "reason")]
        reason = body.get("reason")
        if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON):
            extra.append(FieldError("/reason", f"at most {MAX_REASON} characters"))
        if extra:
            raise Problem(422, f"{len(extra)} field(s) are invalid", extra)
        o = opt_outs.c
        where = [o.tenant_id == tenant_id]
        if opt_out_id is not None:
            where.append(o.id == opt_out_id)
        else:
            where.append(o.to_bidx == self.keyring.blind_index(tenant_id, _number(body)))
        async with self.db.read.connect() as conn:
            row = (await conn.execute(select(opt_outs).where(*where))).first()
        if row is None:
            raise Problem(404, "this number is not on the opt-out list")
        now_ms = self.now_ms()
        why = (reason or "").encode()
        facts = {
            "event": OPT_OUT_REMOVED,
            "opt_out_id": row.id,
            "recipient": row.to_bidx.hex(),
            "source": row.source,
            "at": _at(now_ms),
            "actor": actor,
            "reason_mac": self.keyring.content_commitment(tenant_id, why).hex(),
        }

        def work(conn: Connection) -> None:
            gone = conn.execute(delete(opt_outs).where(o.tenant_id == tenant_id, o.to_bidx == row.to_bidx)).rowcount
            if gone:
                append_event(conn, tenant_id, row.id or "", facts, now_ms)

        await write_chained(self.writer, WriteBatch().run(work))
        return {"removed": 1, "id": row.id}

    async def import_lines(self, tenant_id: str, lines: AsyncIterator[str], *, fmt: str) -> dict:
        """Numbers a line each (CSV: the first column, or the one a header line names to, number
        or phone; or JSON lines
        `{"to"}` or a bare string): valid ones added, each invalid line reported with its number,
        numbers listed already (or twice in the file) counted as duplicates."""
        errors: list[dict] = []
        pending: list[str] = []
        seen: set[str] = set()
        added = duplicates = number = column = 0
        async for raw in lines:
            number += 1
            line = raw.strip("\r\n")
            if not line.strip():
                continue
            value: object
            if fmt == "csv":
                try:
                    cells = [c.strip() for c in next(csv.reader([line]))]
                except csv.Error as exc:  # e.g. a bare CR inside the line
                    errors.append({"line": number, "message": f"not a CSV line: {exc}"})
                    continue
                names = [c.lower() for c in cells]
                if number == 1 and set(names) & _HEADERS:  # a header: the column named to/number/phone
                    column = next(i for i, n in enumerate(names) if n in _HEADERS)
                    continue
                value = cells[column] if len(cells) > column else ""
            else:
                try:
                    value = orjson.loads(line)
                except orjson.JSONDecodeError:
                    errors.append({"line": number, "message": "not JSON"})
                    continue
                if isinstance(value, dict):
                    value = value.get("to")
            to = normalise_number(value) if isinstance(value, str) else None
            if to is None:
                errors.append({"line": number, "message": "not a valid phone number"})
                continue
            if to in seen:
                duplicates += 1
                continue
            seen.add(to)
            pending.append(to)
            if len(pending) >= MAX_BATCH:
                n = await self._add(tenant_id, pending, SOURCE_IMPORT)
                added, duplicates, pending = added + n, duplicates + len(pending) - n, []
        if pending:
            n = await self._add(tenant_id, pending, SOURCE_IMPORT)
            added, duplicates = added + n, duplicates + len(pending) - n
        return {"added": added, "duplicates": duplicates, "lines": number, "errors": errors[:1000]}

    async def export(self, tenant_id: str) -> AsyncIterator[bytes]:
        """The list as CSV (header first), read and written a page at a time."""
        out = io.StringIO()
        csv.writer(out).writerow(EXPORT_COLUMNS)
        yield out.getvalue().encode()
        o = opt_outs.c
        after = None
        while True:
            query = select(opt_outs).where(o.tenant_id == tenant_id)
            if after is not None:
                query = query.where(o.id > after)
            async with self.db.read.connect() as conn:
                rows = (await conn.execute(query.order_by(o.id).limit(1000))).all()
            if not rows:
                return
            out = io.StringIO()
            w = csv.writer(out)
            for r in rows:
                v = self._view(r)
                w.writerow([v["id"], v["to"] or "", v["source"], v["created_at"]])
            yield out.getvalue().encode()
            after = rows[-1].id


def _number(body: dict) -> str:
    to = normalise_number(body.get("to")) if isinstance(body.get("to"), str) else None
    if to is None:
        raise Problem(422, "to is not a valid phone number", [FieldError("/to", "not a valid phone number")])
    return to
