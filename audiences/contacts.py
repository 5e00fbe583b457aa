"""A tenant's contacts: upsert by number, read, page, change, delete; export (imports: imports.py).

Every write goes through the group writer; an upsert of many rows (an import chunk) is one
statement list in one transaction: INSERT … ON CONFLICT (tenant, blind index) DO UPDATE of the
fields the source sets, then the attribute and tag rows of those contacts replaced. A field a
source does not set (no `tags` column, no `attributes` in the body) keeps its stored value.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson
from sqlalchemy import Connection, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from api.problems import FieldError, Problem, pointer
from audiences.csvrows import Row
from audiences.tables import contact_attributes, contact_tags, contacts
from audiences.values import (
    MAX_ATTRIBUTES,
    MAX_TAGS,
    index_row,
    name_error,
    number_text,
    tag_error,
    time_zone_error,
    value_error,
)
from compliance.consent import consented
from messages.rules import zones_of
from messages.tables import opt_outs
from security.keyring import Keyring
from security.numbers import normalise_number
from store import Database, GroupWriter
from store.bulk import executemany
from store.clock import Clock, SystemClock, ms_to_rfc3339
from store.ids import new_id
from store.writer import WriteBatch

MAX_PAGE = 200
EXPORT_PAGE = 1000
MAX_EXPORT_COLUMNS = 500
MAX_ATTRIBUTE_NAMES = 200  # the variables picker lists no more
FIELDS = ("phone", "attributes", "tags", "time_zone")


@dataclass
class Upserted:
    """What an upsert did to one number: the contact id, and whether it was new."""

    id: str
    created: bool


def parse_contact(body: Any, *, partial: bool) -> tuple[str | None, dict]:
    """(E.164 number or None, the other fields given) of a POST (partial=False) or PATCH body;
    422 listing every bad field."""
    if not isinstance(body, dict):
        raise Problem(422, "the body must be a JSON object", [FieldError("", "expected an object")])
    errors = [FieldError(pointer(k), "unknown field") for k in body if k not in FIELDS]
    number = None
    if partial:
        if "phone" in body:
            errors.append(FieldError("/phone", "a contact's number cannot change; create another contact"))
    else:
        raw = body.get("phone")
        number = normalise_number(raw) if isinstance(raw, str) else None
        if number is None:
            errors.append(FieldError("/phone", "expected a phone number, e.g. +86…"))
    fields: dict = {}
    if "attributes" in body:
        attributes = body["attributes"]
        if not isinstance(attributes, dict):
            errors.append(FieldError("/attributes", "expected an object of name → string, number or date"))
        else:
            if len(attributes) > MAX_ATTRIBUTES:
                errors.append(FieldError("/attributes", f"at most {MAX_ATTRIBUTES} attributes"))
            for name, value in attributes.items():
                why = name_error(name) or (None if (partial and value is None) else value_error(value))
                if why:
                    errors.append(FieldError(pointer("attributes", name), why))
            fields["attributes"] = attributes
    if "tags" in body:
        tags = body["tags"]
        if not isinstance(tags, list) or len(tags) > MAX_TAGS:
            errors.append(FieldError("/tags", f"expected a list of at most {MAX_TAGS} tags"))
        else:
            for i, tag in enumerate(tags):
                why = tag_error(tag)
                if why:
                    errors.append(FieldError(pointer("tags", i), why))
            fields["tags"] = list(dict.fromkeys(t for t in tags if isinstance(t, str)))
    if "time_zone" in body:
        zone = body["time_zone"]
        if zone is not None and time_zone_error(zone):
            errors.append(FieldError("/time_zone", time_zone_error(zone) or ""))
        fields["time_zone"] = zone
    if errors:
        raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
    return number, fields


@cache
def _upsert(dialect: str, fields: frozenset[str]):
    """INSERT … ON CONFLICT (tenant, blind index) DO UPDATE of `fields`: one object per shape,
    so the bulk writer's compiled plan is reused chunk after chunk."""
    statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(contacts)
    excluded = statement.excluded
    set_: dict = {"updated_ms": excluded.updated_ms}
    for name, column in (("attributes", "attributes_enc"), ("tags", "tags"), ("time_zone", "time_zone")):
        if name in fields:
            set_[column] = excluded[column]
    return statement.on_conflict_do_update(index_elements=["tenant_id", "number_bidx"], set_=set_)


def attribute_hasher(keyring: Keyring, tenant_id: str) -> Callable[[str, str], str]:
    """The blind index (hex) of a string attribute value, as `contact_attributes` keeps it."""

    def hasher(name: str, value: str) -> str:
        return keyring.blind_index(tenant_id, f"{name}\x00{value}", purpose="contact-attribute").hex()

    return hasher


def seal_attributes(keyring: Keyring, tenant_id: str, bidx: bytes, attributes: dict) -> bytes:
    return keyring.seal(tenant_id, "contacts", "attributes", bidx.hex(), orjson.dumps(attributes))


def open_attributes(keyring: Keyring, tenant_id: str, bidx: bytes, sealed: bytes) -> dict:
    return orjson.loads(keyring.open(tenant_id, "contacts", "attributes", bidx.hex(), sealed))


def _replace_facts(
    conn: Connection,
    tenant_id: str,
    facts: list[tuple[str, dict | None, list[str] | None]],
    hasher: Callable[[str, str], str],
) -> None:
    """Replace the attribute rows (where the attributes are given) and the tag rows (where the
    tags are) of these contacts: [(contact id, attributes or None, tags or None)]."""
    with_attributes = [cid for cid, attributes, _ in facts if attributes is not None]
    with_tags = [cid for cid, _, tags in facts if tags is not None]
    for i in range(0, len(with_attributes), 500):
        conn.execute(
            delete(contact_attributes).where(contact_attributes.c.contact_id.in_(with_attributes[i : i + 500]))
        )
    for i in range(0, len(with_tags), 500):
        conn.execute(delete(contact_tags).where(contact_tags.c.contact_id.in_(with_tags[i : i + 500])))
    attribute_rows = []
    tag_rows: list[dict] = []
    for cid, attributes, tags in facts:
        for name, value in (attributes or {}).items():
            kind, text, number = index_row(name, value, hasher)
            attribute_rows.append(
                {
                    "contact_id": cid,
                    "name": name,
                    "tenant_id": tenant_id,
                    "kind": kind,
                    "text_value": text,
                    "num_value": number,
                }
            )
        tag_rows.extend({"contact_id": cid, "tag": tag, "tenant_id": tenant_id} for tag in tags or ())
    executemany(conn, contact_attributes, attribute_rows)
    executemany(conn, contact_tags, tag_rows)


class Contacts:
    """One tenant's contacts, their imports and exports."""

    def __init__(
        self,
        db: Database,
        writer: GroupWriter,
        keyring: Keyring,
        clock: Clock | None = None,
        *,
        id_factory: Callable[[], str] = new_id,
        ensure_keys: Callable[[str], Awaitable[Any]] | None = None,
    ):
        self.db, self.writer, self.keyring = db, writer, keyring
        self.clock = clock or SystemClock()
        self.new_id = id_factory
        self.ensure_keys = ensure_keys

    def now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    async def keys(self, tenant_id: str) -> None:
        if self.ensure_keys is not None:
            await self.ensure_keys(tenant_id)

    def bidx(self, tenant_id: str, number: str) -> bytes:
        return self.keyring.blind_index(tenant_id, number)

    def open_number(self, tenant_id: str, contact_id: str, sealed: bytes) -> str:
        return self.keyring.open(tenant_id, "contacts", "number", contact_id, sealed).decode()

    # -- writes ------------------------------------------------------------------------------
    def upsert_statement(
        self, tenant_id: str, rows: list[Row], fields: frozenset[str], now_ms: int, out: dict[bytes, Upserted]
    ) -> Callable[[Connection], None]:
        """A statement upserting `rows` (a later row of a number wins) that sets the `fields`
        ("attributes", "tags", "time_zone") the rows carry; fills `out` (blind index → Upserted)."""
        by_bidx: dict[bytes, Row] = {}
        for row in rows:
            by_bidx[self.bidx(tenant_id, row.number)] = row
        values = []
        hasher = attribute_hasher(self.keyring, tenant_id)
        for bidx, row in by_bidx.items():
            cid = self.new_id()
            values.append(
                {
                    "id": cid,
                    "tenant_id": tenant_id,
                    "number_bidx": bidx,
                    "number_enc": self.keyring.seal(tenant_id, "contacts", "number", cid, row.number.encode()),
                    "attributes_enc": seal_attributes(
                        self.keyring,
                        tenant_id,
                        bidx,
                        row.attributes if "attributes" in fields and row.attributes is not None else {},
                    ),
                    "tags": row.tags if "tags" in fields and row.tags is not None else [],
                    "time_zone": row.time_zone if "time_zone" in fields else None,
                    "created_ms": now_ms,
                    "updated_ms": now_ms,
                }
            )

        def run(conn: Connection) -> None:
            if not values:
                return
            executemany(conn, _upsert(conn.dialect.name, fields), values)
            candidates = {v["number_bidx"]: v["id"] for v in values}
            found: dict[bytes, str] = {}
            bidxs = list(candidates)
            for i in range(0, len(bidxs), 500):
                query = select(contacts.c.id, contacts.c.number_bidx).where(
                    contacts.c.tenant_id == tenant_id, contacts.c.number_bidx.in_(bidxs[i : i + 500])
                )
                found.update((r.number_bidx, r.id) for r in conn.execute(query))
            out.clear()
            out.update({b: Upserted(cid, cid == candidates[b]) for b, cid in found.items()})
            _replace_facts(
                conn,
                tenant_id,
                [
                    (
                        found[b],
                        (by_bidx[b].attributes or {}) if "attributes" in fields else None,
                        (by_bidx[b].tags or []) if "tags" in fields else None,
                    )
                    for b in found
                ],
                hasher,
            )

        return run

    async def upsert(self, tenant_id: str, body: Any) -> tuple[dict, bool]:
        """Create the contact of `body["phone"]` or update the fields the body gives: (view, created)."""
        number, fields = parse_contact(body, partial=False)
        assert number is not None
        await self.keys(tenant_id)
        row = Row(0, number, fields.get("attributes"), fields.get("tags"), fields.get("time_zone"))
        out: dict[bytes, Upserted] = {}
        await self.writer.write(
            WriteBatch().run(self.upsert_statement(tenant_id, [row], frozenset(fields), self.now_ms(), out))
        )
        done = next(iter(out.values()))
        view = await self.get(tenant_id, done.id)
        assert view is not None
        return view, done.created

    async def patch(self, tenant_id: str, contact_id: str, body: Any) -> dict | None:
        """Change a contact: attributes merge (a null removes one), tags and time zone replace
        (a null time zone goes back to the number's); None when there is no such contact."""
        _, fields = parse_contact(body, partial=True)
        now_ms = self.now_ms()
        found = [False]

        def run(conn: Connection) -> None:
            query = select(contacts.c.attributes_enc, contacts.c.number_bidx).where(
                contacts.c.tenant_id == tenant_id, contacts.c.id == contact_id
            )
            if conn.dialect.name == "postgresql":
                query = query.with_for_update()
            current = conn.execute(query).first()
            if current is None:
                return
            found[0] = True
            values: dict = {"updated_ms": now_ms}
            attributes = None
            if "attributes" in fields:
                attributes = open_attributes(self.keyring, tenant_id, current.number_bidx, current.attributes_enc)
                for name, value in fields["attributes"].items():
                    if value is None:
                        attributes.pop(name, None)
                    else:
                        attributes[name] = value
                if len(attributes) > MAX_ATTRIBUTES:
                    raise Problem(
                        422,
                        f"a contact has at most {MAX_ATTRIBUTES} attributes",
                        [FieldError("/attributes", "too many attributes")],
                    )
                values["attributes_enc"] = seal_attributes(self.keyring, tenant_id, current.number_bidx, attributes)
            if "tags" in fields:
                values["tags"] = fields["tags"]
            if "time_zone" in fields:
                values["time_zone"] = fields["time_zone"]
            conn.execute(
                update(contacts).where(contacts.c.tenant_id == tenant_id, contacts.c.id == contact_id).values(values)
            )
            hasher = attribute_hasher(self.keyring, tenant_id)
            _replace_facts(conn, tenant_id, [(contact_id, attributes, fields.get("tags"))], hasher)

        await self.writer.write(WriteBatch().run(run))
        return await self.get(tenant_id, contact_id) if found[0] else None

    async def delete(self, tenant_id: str, contact_id: str) -> bool:
        found = [False]

        def run(conn: Connection) -> None:
            owned = conn.execute(
                select(contacts.c.id).where(contacts.c.tenant_id == tenant_id, contacts.c.id == contact_id)
            ).first()
            if owned is None:
                return
            found[0] = True
            conn.execute(delete(contact_attributes).where(contact_attributes.c.contact_id == contact_id))
            conn.execute(delete(contact_tags).where(contact_tags.c.contact_id == contact_id))
            conn.execute(delete(contacts).where(contacts.c.id == contact_id))

        await self.writer.write(WriteBatch().run(run))
        return found[0]

    # -- reads -------------------------------------------------------------------------------
    def view(self, tenant_id: str, row) -> dict:
        number = self.open_number(tenant_id, row.id, row.number_enc)
        return {
            "id": row.id,
            "phone": number,
            "attributes": open_attributes(self.keyring, tenant_id, row.number_bidx, row.attributes_enc),
            "tags": row.tags,
            "time_zone": row.time_zone or zones_of(number)[0],
            "time_zone_source": "set" if row.time_zone else "number",
            "created_at": ms_to_rfc3339(row.created_ms),
            "updated_at": ms_to_rfc3339(row.updated_ms),
        }

    async def get(self, tenant_id: str, contact_id: str) -> dict | None:
        """One contact, with whether it holds an active marketing consent (compliance) and is
        on the marketing opt-out list."""
        await self.keys(tenant_id)
        async with self.db.read.connect() as conn:
            row = (
                await conn.execute(
                    select(contacts).where(contacts.c.tenant_id == tenant_id, contacts.c.id == contact_id)
                )
            ).first()
        if row is None:
            return None
        view = self.view(tenant_id, row)
        view.update(await self.consent_states(tenant_id, [row.number_bidx]))
        return view

    async def consent_states(self, tenant_id: str, bidxs: list[bytes]) -> dict:
        states = await self.consent_by_bidx(tenant_id, bidxs)
        return states[bidxs[0]]

    async def consent_by_bidx(self, tenant_id: str, bidxs: list[bytes]) -> dict[bytes, dict]:
        """blind index → {"marketing_consent": bool, "opted_out": bool}, read from the
        compliance consents and the opt-out list (never copied here)."""
        with_consent = await consented(self.db, tenant_id, bidxs, "marketing")
        async with self.db.read.connect() as conn:
            out_rows = await conn.execute(
                select(opt_outs.c.to_bidx).where(opt_outs.c.tenant_id == tenant_id, opt_outs.c.to_bidx.in_(bidxs))
            )
            opted_out = {r.to_bidx for r in out_rows}
        return {b: {"marketing_consent": b in with_consent, "opted_out": b in opted_out} for b in bidxs}

    async def page(
        self, tenant_id: str, *, after: str | None, limit: int, consent: bool = False
    ) -> tuple[list[dict], str | None]:
        """Contacts in id order after `after`: (views, the last id when there may be more)."""
        await self.keys(tenant_id)
        query = select(contacts).where(contacts.c.tenant_id == tenant_id)
        if after is not None:
            query = query.where(contacts.c.id > after)
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(query.order_by(contacts.c.id).limit(limit + 1))).all()
        more = len(rows) > limit
        rows = rows[:limit]
        views = [self.view(tenant_id, r) for r in rows]
        if consent and rows:
            states = await self.consent_by_bidx(tenant_id, [r.number_bidx for r in rows])
            for view, row in zip(views, rows, strict=True):
                view.update(states[row.number_bidx])
        return views, (rows[-1].id if more else None)

    # -- export ------------------------------------------------------------------------------
    async def export_columns(self, tenant_id: str) -> list[str]:
        """The attribute names in use (the export's columns after phone, tags and time_zone);
        422 when there are more than an export takes."""
        async with self.db.read.connect() as conn:
            names = (
                (
                    await conn.execute(
                        select(contact_attributes.c.name)
                        .where(contact_attributes.c.tenant_id == tenant_id)
                        .group_by(contact_attributes.c.name)
                        .order_by(contact_attributes.c.name)
                        .limit(MAX_EXPORT_COLUMNS + 1)
                    )
                )
                .scalars()
                .all()
            )
        if len(names) > MAX_EXPORT_COLUMNS:
            raise Problem(422, f"the contacts use more than {MAX_EXPORT_COLUMNS} attribute names; export is refused")
        return list(names)

    async def attribute_names(self, tenant_id: str, limit: int = MAX_ATTRIBUTE_NAMES) -> list[str]:
        """The attribute names the tenant's contacts use, in order, at most `limit` (the card
        editor offers them as variables)."""
        async with self.db.read.connect() as conn:
            names = await conn.execute(
                select(contact_attributes.c.name)
                .where(contact_attributes.c.tenant_id == tenant_id)
                .group_by(contact_attributes.c.name)
                .order_by(contact_attributes.c.name)
                .limit(limit)
            )
            return list(names.scalars().all())

    async def export(self, tenant_id: str, names: list[str]) -> AsyncIterator[bytes]:
        """The tenant's contacts as CSV (phone, tags, time_zone, then the columns `names`, see
        `export_columns`), read a keyset page at a time."""
        await self.keys(tenant_id)
        yield _csv_line(["phone", "tags", "time_zone", *names])
        after = ""
        while True:
            async with self.db.read.connect() as conn:
                rows = (
                    await conn.execute(
                        select(
                            contacts.c.id,
                            contacts.c.number_enc,
                            contacts.c.number_bidx,
                            contacts.c.attributes_enc,
                            contacts.c.tags,
                            contacts.c.time_zone,
                        )
                        .where(contacts.c.tenant_id == tenant_id, contacts.c.id > after)
                        .order_by(contacts.c.id)
                        .limit(EXPORT_PAGE)
                    )
                ).all()
            if not rows:
                return
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\r\n")
            for r in rows:
                number = self.open_number(tenant_id, r.id, r.number_enc)
                attributes = open_attributes(self.keyring, tenant_id, r.number_bidx, r.attributes_enc)
                writer.writerow(
                    [
                        number,
                        ";".join(r.tags or ()),
                        r.time_zone or "",
                        *(_cell(attributes.get(n)) for n in names),
                    ]
                )
            yield out.getvalue().encode()
            after = rows[-1].id
            if len(rows) < EXPORT_PAGE:
                return


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return number_text(value)
    return str(value)


def _csv_line(cells: Iterable[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(list(cells))
    return out.getvalue().encode()


# -- one person's data (registered with privacy.kinds: erasure and export by number) -------------
def erase_contact(conn: Connection, tenant_id: str, bidx: bytes) -> int:
    """Delete the tenant's contact of this number with its attribute and tag rows: rows deleted."""
    ids = list(
        conn.execute(
            select(contacts.c.id).where(contacts.c.tenant_id == tenant_id, contacts.c.number_bidx == bidx)
        ).scalars()
    )
    if not ids:
        return 0
    conn.execute(delete(contact_attributes).where(contact_attributes.c.contact_id.in_(ids)))
    conn.execute(delete(contact_tags).where(contact_tags.c.contact_id.in_(ids)))
    return int(conn.execute(delete(contacts).where(contacts.c.id.in_(ids))).rowcount or 0)


async def export_contact(db: Database, keyring: Keyring, tenant_id: str, bidx: bytes) -> list[dict]:
    """The tenant's contact of this number (attributes, tags, time zone, times), if any."""
    async with db.read.connect() as conn:
        rows = (
            await conn.execute(
                select(contacts).where(contacts.c.tenant_id == tenant_id, contacts.c.number_bidx == bidx)
            )
        ).all()
    return [
        {
            "id": r.id,
            "attributes": open_attributes(keyring, tenant_id, bidx, r.attributes_enc),
            "tags": r.tags,
            "time_zone": r.time_zone,
            "created_at": ms_to_rfc3339(r.created_ms),
            "updated_at": ms_to_rfc3339(r.updated_ms),
        }
        for r in rows
    ]
