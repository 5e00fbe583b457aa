"""Segments: saved filters over a tenant's contacts, compiled to one SQL query.

A filter is a tree of JSON objects:

- `{"all": [f, …]}`, `{"any": [f, …]}`, `{"not": f}` — and, or, not (`{"all": []}` is everyone);
- `{"attribute": name, "op": "eq" | "ne" | "in" | "gt" | "gte" | "lt" | "lte" | "exists", "value": …}`
  — `eq`/`ne`/`in` compare strings, numbers and dates (`YYYY-MM-DD`); `gt`… compare numbers or
  dates; `exists` takes `true` (the default) or `false`; `ne` also matches contacts without it;
- `{"tags": "any" | "all" | "none", "values": [tag, …]}`;
- `{"behaviour": "sent" | "delivered" | "read" | "clicked" | "replied", "within_days": N,
  "batch_id": id}` — a message of the tenant to the contact's number (of that batch, and/or in
  the last N days) that reached that point (delivered: an RCS or SMS delivery report, or an RCS
  read; read: an RCS read report; clicked: a human visit to its short link; replied: a reply or
  tap recorded in `message_interactions`); at least one of the two is given;
- `{"behaviour": "not_read", "batch_id": id}` — sent a message of that batch and not read it.

Every leaf is an `IN (sub-query)` on an indexed side table (contact_attributes, contact_tags) or
on the messages tables by the number's blind index, so counting and paging run in the database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, not_, or_, select, true

from api.problems import FieldError, Problem, pointer
from audiences.contacts import attribute_hasher, open_attributes
from audiences.tables import contact_attributes, contact_tags, contacts, segments
from audiences.values import MAX_TAGS, is_date, name_error, tag_error, value_error
from fallback.shortlinks.tables import link_clicks
from messages.status import Status
from messages.tables import REPLY_KINDS, message_events, message_interactions, messages
from security.keyring import Keyring
from store import Database, GroupWriter
from store.clock import Clock, SystemClock, ms_to_rfc3339
from store.ids import new_id
from store.writer import WriteBatch

DAY_MS = 86_400_000
MAX_DEPTH = 6
MAX_NODES = 100
MAX_VALUES = 500
MAX_DAYS = 3650
MAX_NAME = 200
MAX_PAGE = 200

OPS = ("eq", "ne", "in", "gt", "gte", "lt", "lte", "exists")
BEHAVIOURS = ("sent", "delivered", "read", "clicked", "replied", "not_read")
EVENT_TYPES = {
    "delivered": (Status.RCS_DELIVERED, Status.SMS_DELIVERED, Status.RCS_READ),
    "read": (Status.RCS_READ,),
}
# Link visits that are a person's (not a HEAD, a bot, a link preview, nor the opt-out form).
_HUMAN = and_(
    link_clicks.c.head.is_(False),
    link_clicks.c.bot.is_(False),
    link_clicks.c.preview.is_(False),
    link_clicks.c.kind != "opt_out",
)


# -- validation -------------------------------------------------------------------------------
def check_filter(node: Any, path: str = "/filter") -> None:
    """422 listing what is wrong with a filter (every error, each a JSON Pointer into the body)."""
    errors: list[FieldError] = []
    count = [0]
    _check(node, path, 0, errors, count)
    if count[0] > MAX_NODES:
        errors.append(FieldError(path, f"at most {MAX_NODES} conditions"))
    if errors:
        raise Problem(422, "the segment filter is not valid", errors)


def _check(node: Any, path: str, depth: int, errors: list[FieldError], count: list[int]) -> None:
    count[0] += 1
    if depth > MAX_DEPTH:
        errors.append(FieldError(path, f"nested deeper than {MAX_DEPTH}"))
        return
    if not isinstance(node, dict):
        errors.append(FieldError(path, "expected a condition object"))
        return
    keys = set(node)
    if keys & {"all", "any"}:
        key = "all" if "all" in node else "any"
        if keys != {key}:
            errors.append(FieldError(path, f'`{key}` stands alone: {{"{key}": [conditions]}}'))
        elif not isinstance(node[key], list):
            errors.append(FieldError(pointer_in(path, key), "expected a list of conditions"))
        else:
            for i, child in enumerate(node[key]):
                _check(child, pointer_in(path, key, i), depth + 1, errors, count)
    elif "not" in node:
        if keys != {"not"}:
            errors.append(FieldError(path, '`not` stands alone: {"not": condition}'))
        else:
            _check(node["not"], pointer_in(path, "not"), depth + 1, errors, count)
    elif "attribute" in node:
        _check_attribute(node, path, errors)
    elif "tags" in node:
        _check_tags(node, path, errors)
    elif "behaviour" in node:
        _check_behaviour(node, path, errors)
    else:
        errors.append(FieldError(path, "expected all, any, not, attribute, tags or behaviour"))


def pointer_in(path: str, *parts: str | int) -> str:
    return path + pointer(*parts)


def _unknown(node: dict, allowed: set[str], path: str, errors: list[FieldError]) -> None:
    errors.extend(FieldError(pointer_in(path, k), "unknown field") for k in node if k not in allowed)


def _check_attribute(node: dict, path: str, errors: list[FieldError]) -> None:
    _unknown(node, {"attribute", "op", "value"}, path, errors)
    why = name_error(node["attribute"])
    if why:
        errors.append(FieldError(pointer_in(path, "attribute"), why))
    op = node.get("op")
    if op not in OPS:
        errors.append(FieldError(pointer_in(path, "op"), f"one of {', '.join(OPS)}"))
        return
    value, at = node.get("value"), pointer_in(path, "value")
    if op == "exists":
        if "value" in node and not isinstance(value, bool):
            errors.append(FieldError(at, "true or false"))
    elif op == "in":
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_VALUES:
            errors.append(FieldError(at, f"a list of 1 to {MAX_VALUES} values"))
        else:
            for i, item in enumerate(value):
                if value_error(item):
                    errors.append(FieldError(pointer_in(at, i), value_error(item) or ""))
    elif op in ("eq", "ne"):
        if value_error(value):
            errors.append(FieldError(at, value_error(value) or ""))
    elif not (_is_number(value) or (isinstance(value, str) and is_date(value))):
        errors.append(FieldError(at, f"`{op}` compares a number or a date (YYYY-MM-DD)"))
    elif value_error(value):
        errors.append(FieldError(at, value_error(value) or ""))


def _check_tags(node: dict, path: str, errors: list[FieldError]) -> None:
    _unknown(node, {"tags", "values"}, path, errors)
    if node["tags"] not in ("any", "all", "none"):
        errors.append(FieldError(pointer_in(path, "tags"), "one of any, all, none"))
    values = node.get("values")
    if not isinstance(values, list) or not 1 <= len(values) <= MAX_TAGS:
        errors.append(FieldError(pointer_in(path, "values"), f"a list of 1 to {MAX_TAGS} tags"))
        return
    for i, tag in enumerate(values):
        if tag_error(tag):
            errors.append(FieldError(pointer_in(path, "values", i), tag_error(tag) or ""))


def _check_behaviour(node: dict, path: str, errors: list[FieldError]) -> None:
    _unknown(node, {"behaviour", "within_days", "batch_id"}, path, errors)
    kind = node["behaviour"]
    if kind not in BEHAVIOURS:
        errors.append(FieldError(pointer_in(path, "behaviour"), f"one of {', '.join(BEHAVIOURS)}"))
        return
    days, batch = node.get("within_days"), node.get("batch_id")
    if "within_days" in node and (not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_DAYS):
        errors.append(FieldError(pointer_in(path, "within_days"), f"a whole number of days, 1 to {MAX_DAYS}"))
    if "batch_id" in node and (not isinstance(batch, str) or not 1 <= len(batch) <= 32):
        errors.append(FieldError(pointer_in(path, "batch_id"), "a batch id"))
    if kind == "not_read" and "batch_id" not in node:
        errors.append(FieldError(pointer_in(path, "batch_id"), "not_read names the batch"))
    elif "within_days" not in node and "batch_id" not in node:
        errors.append(FieldError(path, "give within_days, batch_id or both"))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# -- compilation ------------------------------------------------------------------------------
class Compiler:
    """Turns a checked filter into a WHERE clause over `contacts` for one tenant."""

    def __init__(self, tenant_id: str, now_ms: int, hasher: Callable[[str, str], str]):
        self.tenant_id = tenant_id
        self.now_ms = now_ms
        self.hasher = hasher  # a string value → its blind index, as contact_attributes keeps it

    def where(self, node: dict) -> ColumnElement[bool]:
        return and_(contacts.c.tenant_id == self.tenant_id, self.node(node))

    def node(self, node: dict) -> ColumnElement[bool]:
        if "all" in node:
            parts = [self.node(n) for n in node["all"]]
            return and_(true(), *parts) if parts else true()
        if "any" in node:
            parts = [self.node(n) for n in node["any"]]
            return or_(false(), *parts) if parts else false()
        if "not" in node:
            return not_(self.node(node["not"]))
        if "attribute" in node:
            return self.attribute(node)
        if "tags" in node:
            return self.tags(node)
        return self.behaviour(node)

    def _with_attribute(self, name: str, *conditions: ColumnElement[bool]) -> ColumnElement[bool]:
        a = contact_attributes.c
        return contacts.c.id.in_(select(a.contact_id).where(a.tenant_id == self.tenant_id, a.name == name, *conditions))

    def _text(self, name: str, value: str) -> tuple[str, str]:
        """(kind, kept text) of a string value: a date as itself, other text as its blind index."""
        return ("d", value) if is_date(value) else ("s", self.hasher(name, value))

    def _equals(self, name: str, value: Any) -> ColumnElement[bool]:
        a = contact_attributes.c
        if _is_number(value):
            return and_(a.kind == "n", a.num_value == float(value))
        kind, text = self._text(name, value)
        return and_(a.kind == kind, a.text_value == text)

    def attribute(self, node: dict) -> ColumnElement[bool]:
        name, op, value = node["attribute"], node["op"], node.get("value")
        assert op == "exists" or value is not None
        a = contact_attributes.c
        if op == "exists":
            found = self._with_attribute(name)
            return found if node.get("value", True) else not_(found)
        if op == "eq":
            return self._with_attribute(name, self._equals(name, value))
        if op == "ne":
            return not_(self._with_attribute(name, self._equals(name, value)))
        if op == "in":
            assert isinstance(value, list)
            numbers = sorted({float(v) for v in value if _is_number(v)})
            texts = sorted({self._text(name, v) for v in value if isinstance(v, str)})
            parts = []
            if numbers:
                parts.append(and_(a.kind == "n", a.num_value.in_(numbers)))
            for kind in ("s", "d"):
                kept = [text for k, text in texts if k == kind]
                if kept:
                    parts.append(and_(a.kind == kind, a.text_value.in_(kept)))
            return self._with_attribute(name, or_(*parts))
        compare = {
            "gt": lambda col, v: col > v,
            "gte": lambda col, v: col >= v,
            "lt": lambda col, v: col < v,
            "lte": lambda col, v: col <= v,
        }[op]
        if isinstance(value, int | float):
            return self._with_attribute(name, a.kind == "n", compare(a.num_value, float(value)))
        return self._with_attribute(name, a.kind == "d", compare(a.text_value, value))

    def tags(self, node: dict) -> ColumnElement[bool]:
        t = contact_tags.c
        values = list(dict.fromkeys(node["values"]))

        def having(tags: list[str]) -> ColumnElement[bool]:
            return contacts.c.id.in_(select(t.contact_id).where(t.tenant_id == self.tenant_id, t.tag.in_(tags)))

        if node["tags"] == "any":
            return having(values)
        if node["tags"] == "none":
            return not_(having(values))
        return and_(*(having([tag]) for tag in values))

    def behaviour(self, node: dict) -> ColumnElement[bool]:
        kind, days, batch = node["behaviour"], node.get("within_days"), node.get("batch_id")
        if kind == "not_read":
            sent = self.behaviour({"behaviour": "sent", "batch_id": batch})
            return and_(sent, not_(self.behaviour({"behaviour": "read", "batch_id": batch})))
        since = self.now_ms - days * DAY_MS if days is not None else None
        m = messages.c
        if kind == "sent":
            query = select(m.to_bidx).where(m.tenant_id == self.tenant_id)
            if since is not None:
                query = query.where(m.created_ms >= since)
        elif kind == "replied":
            r = message_interactions.c
            query = select(r.to_bidx).where(r.tenant_id == self.tenant_id, r.kind.in_(REPLY_KINDS))
            if since is not None:
                query = query.where(r.at_ms >= since)
            if batch is not None:
                query = query.where(r.batch_id == batch)
            return contacts.c.number_bidx.in_(query)
        elif kind == "clicked":
            k = link_clicks.c
            query = (
                select(m.to_bidx)
                .select_from(link_clicks.join(messages, messages.c.id == k.message_id))
                .where(k.tenant_id == self.tenant_id, m.tenant_id == self.tenant_id, _HUMAN)
            )
            if since is not None:
                query = query.where(k.at_ms >= since)
            if batch is not None:
                query = query.where(k.batch_id == batch)
            return contacts.c.number_bidx.in_(query)
        else:
            e = message_events.c
            query = (
                select(m.to_bidx)
                .select_from(message_events.join(messages, messages.c.id == e.message_id))
                .where(
                    e.tenant_id == self.tenant_id,
                    m.tenant_id == self.tenant_id,
                    e.type.in_([str(s) for s in EVENT_TYPES[kind]]),
                )
            )
            if since is not None:
                query = query.where(e.at_ms >= since)
        if batch is not None:
            query = query.where(m.batch_id == batch)
        return contacts.c.number_bidx.in_(query)


def members_query(
    tenant_id: str,
    segment_filter: dict,
    now_ms: int,
    hasher: Callable[[str, str], str],
    *,
    after: str | None,
    limit: int,
) -> Select:
    where = Compiler(tenant_id, now_ms, hasher).where(segment_filter)
    c = contacts.c
    query = select(c.id, c.number_bidx, c.number_enc, c.attributes_enc).where(where)
    if after is not None:
        query = query.where(contacts.c.id > after)
    return query.order_by(contacts.c.id).limit(limit)


def count_query(tenant_id: str, segment_filter: dict, now_ms: int, hasher: Callable[[str, str], str]) -> Select:
    where = Compiler(tenant_id, now_ms, hasher).where(segment_filter)
    return select(func.count()).select_from(contacts).where(where)


async def iter_segment_members(
    db: Database,
    tenant_id: str,
    segment_filter: dict,
    after: str | None = None,
    limit: int = 1000,
    *,
    keyring: Keyring,
    open_numbers: bool = False,
    now_ms: int | None = None,
) -> AsyncIterator[tuple[str, bytes, bytes | str, dict]]:
    """Every member of a filter after contact id `after`, in id order, read `limit` at a time
    (keyset pages: one short read transaction per page): (contact id, number blind index, the
    sealed number — or the number itself with `open_numbers` —, attributes). The keyring turns
    the filter's text values into the blind indexes kept, and opens the attributes."""
    check_filter(segment_filter)
    if now_ms is None:
        now_ms = int(SystemClock().now().timestamp() * 1000)
    hasher = attribute_hasher(keyring, tenant_id)
    while True:
        query = members_query(tenant_id, segment_filter, now_ms, hasher, after=after, limit=limit)
        async with db.read.connect() as conn:
            rows = (await conn.execute(query)).all()
        for r in rows:
            number: bytes | str = r.number_enc
            if open_numbers:
                number = keyring.open(tenant_id, "contacts", "number", r.id, r.number_enc).decode()
            yield r.id, r.number_bidx, number, open_attributes(keyring, tenant_id, r.number_bidx, r.attributes_enc)
        if len(rows) < limit:
            return
        after = rows[-1].id


# -- saved segments ---------------------------------------------------------------------------
def parse_segment(body: Any) -> tuple[str, dict]:
    if not isinstance(body, dict):
        raise Problem(422, "the body must be a JSON object", [FieldError("", "expected an object")])
    errors = [FieldError(pointer(k), "unknown field") for k in body if k not in ("name", "filter")]
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        errors.append(FieldError("/name", f"a name of 1 to {MAX_NAME} characters"))
    if "filter" not in body:
        errors.append(FieldError("/filter", "the filter is required"))
    if errors:
        raise Problem(422, f"{len(errors)} field(s) are invalid", errors)
    check_filter(body["filter"])
    assert isinstance(name, str)
    return name.strip(), body["filter"]


def parse_preview(body: Any) -> dict:
    if not isinstance(body, dict) or "filter" not in body:
        raise Problem(422, 'the body must be {"filter": …}', [FieldError("/filter", "the filter is required")])
    extra = [FieldError(pointer(k), "unknown field") for k in body if k != "filter"]
    if extra:
        raise Problem(422, "unknown field(s)", extra)
    check_filter(body["filter"])
    return body["filter"]


class Segments:
    """A tenant's saved segments, their live counts and members."""

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

    @staticmethod
    def view(row) -> dict:
        return {
            "id": row.id,
            "name": row.name,
            "filter": row.filter,
            "created_at": ms_to_rfc3339(row.created_ms),
            "updated_at": ms_to_rfc3339(row.updated_ms),
        }

    async def create(self, tenant_id: str, body: Any) -> dict:
        name, segment_filter = parse_segment(body)
        now_ms, segment_id = self.now_ms(), self.new_id()
        row = {
            "id": segment_id,
            "tenant_id": tenant_id,
            "name": name,
            "filter": segment_filter,
            "created_ms": now_ms,
            "updated_ms": now_ms,
        }
        await self.writer.write(WriteBatch().insert(segments, row))
        found = await self.get(tenant_id, segment_id)
        assert found is not None
        return found

    async def _row(self, tenant_id: str, segment_id: str):
        async with self.db.read.connect() as conn:
            return (
                await conn.execute(
                    select(segments).where(segments.c.tenant_id == tenant_id, segments.c.id == segment_id)
                )
            ).first()

    async def get(self, tenant_id: str, segment_id: str) -> dict | None:
        row = await self._row(tenant_id, segment_id)
        return self.view(row) if row is not None else None

    async def page(self, tenant_id: str, *, after: str | None, limit: int) -> tuple[list[dict], str | None]:
        query = select(segments).where(segments.c.tenant_id == tenant_id)
        if after is not None:
            query = query.where(segments.c.id > after)
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(query.order_by(segments.c.id).limit(limit + 1))).all()
        more = len(rows) > limit
        rows = rows[:limit]
        return [self.view(r) for r in rows], (rows[-1].id if more else None)

    async def replace(self, tenant_id: str, segment_id: str, body: Any) -> dict | None:
        name, segment_filter = parse_segment(body)
        found = [False]
        values = {"name": name, "filter": segment_filter, "updated_ms": self.now_ms()}

        def run(conn) -> None:
            result = conn.execute(
                segments.update().where(segments.c.tenant_id == tenant_id, segments.c.id == segment_id).values(values)
            )
            found[0] = result.rowcount > 0

        await self.writer.write(WriteBatch().run(run))
        return await self.get(tenant_id, segment_id) if found[0] else None

    async def delete(self, tenant_id: str, segment_id: str) -> bool:
        found = [False]

        def run(conn) -> None:
            result = conn.execute(
                segments.delete().where(segments.c.tenant_id == tenant_id, segments.c.id == segment_id)
            )
            found[0] = result.rowcount > 0

        await self.writer.write(WriteBatch().run(run))
        return found[0]

    async def count(self, tenant_id: str, segment_filter: dict) -> int:
        """How many contacts the filter holds now (one COUNT in the database)."""
        async with self.db.read.connect() as conn:
            query = count_query(tenant_id, segment_filter, self.now_ms(), attribute_hasher(self.keyring, tenant_id))
            return (await conn.execute(query)).scalar_one()

    async def members(
        self, tenant_id: str, segment_filter: dict, *, after: str | None, limit: int
    ) -> tuple[list[dict], str | None]:
        """One page of members (id order): [{id, phone, attributes}], the last id when there may be more."""
        if self.ensure_keys is not None:
            await self.ensure_keys(tenant_id)
        hasher = attribute_hasher(self.keyring, tenant_id)
        query = members_query(tenant_id, segment_filter, self.now_ms(), hasher, after=after, limit=limit + 1)
        async with self.db.read.connect() as conn:
            rows = (await conn.execute(query)).all()
        more = len(rows) > limit
        rows = rows[:limit]
        items = [
            {
                "id": r.id,
                "phone": self.keyring.open(tenant_id, "contacts", "number", r.id, r.number_enc).decode(),
                "attributes": open_attributes(self.keyring, tenant_id, r.number_bidx, r.attributes_enc),
            }
            for r in rows
        ]
        return items, (rows[-1].id if more else None)
